//! Full-text search of titles (`BookFilter::matching`): words found whatever their case
//! and accents, ranked, combined with the other criteria, kept in step with rows other
//! tools write, and never a syntax error whatever the text.

mod common;

use bookshelf::{BookFilter, BookOrder, Direction, NewAuthor, NewBook, Repository};
use common::{backend_tests, Backend, TestDb};

/// Titles of what `filter` finds, in order.
fn titles(repo: &Repository, filter: &BookFilter) -> bookshelf::Result<Vec<String>> {
    Ok(repo
        .search_books(filter)?
        .into_iter()
        .map(|book| book.title)
        .collect())
}

fn matching(text: &str) -> BookFilter {
    BookFilter::new().matching(text)
}

/// A small catalog: two authors, titles with accents, case and punctuation.
fn catalog(db: &TestDb) -> Result<(bookshelf::Author, bookshelf::Author), common::BoxError> {
    let molière = db.repo.create_author(&NewAuthor::new("Molière"))?;
    let herbert = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
    db.repo.create_books(&[
        NewBook::new(molière.id, "L'École des femmes").published_year(1662),
        NewBook::new(molière.id, "L'École des maris").published_year(1661),
        NewBook::new(molière.id, "Le Misanthrope").published_year(1666),
        NewBook::new(herbert.id, "Dune Messiah").published_year(1969),
        NewBook::new(herbert.id, "Dune: Dune Again").published_year(1984),
        NewBook::new(herbert.id, "Die Straße").published_year(2001),
    ])?;
    Ok((molière, herbert))
}

backend_tests! {
    fn words_are_found_whatever_their_case_and_accents(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        catalog(&db)?;
        let repo = &db.repo;
        assert_eq!(titles(repo, &matching("ecole femmes"))?, ["L'École des femmes"]);
        assert_eq!(titles(repo, &matching("ÉCOLE"))?.len(), 2);
        assert_eq!(titles(repo, &matching("misanthrope"))?, ["Le Misanthrope"]);
        assert_eq!(titles(repo, &matching("straße"))?, ["Die Straße"]);
        // Every word must be there; a word is a whole word, not a prefix.
        assert!(titles(repo, &matching("ecole misanthrope"))?.is_empty());
        assert!(titles(repo, &matching("dun"))?.is_empty());
        // "ß" is "ss" for PostgreSQL's unaccent; SQLite's unicode61 keeps it apart.
        let strasse = titles(repo, &matching("STRASSE"))?;
        match backend {
            Backend::Postgres => assert_eq!(strasse, ["Die Straße"]),
            Backend::Sqlite => assert!(strasse.is_empty(), "{strasse:?}"),
            // utf8mb4_unicode_520_ci compares "ß" equal to "ss", as unaccent folds it.
            Backend::Mysql => assert_eq!(strasse, ["Die Straße"]),
        }
        Ok(())
    }
}

backend_tests! {
    fn results_are_ranked_and_combine_with_every_criterion(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let (molière, herbert) = catalog(&db)?;
        let repo = &db.repo;
        // The title with the word twice is the better match; ties go by id.
        assert_eq!(titles(repo, &matching("DUNE"))?, ["Dune: Dune Again", "Dune Messiah"]);
        let worst_first = matching("dune").order_by(BookOrder::Relevance, Direction::Descending);
        assert_eq!(titles(repo, &worst_first)?, ["Dune Messiah", "Dune: Dune Again"]);
        assert_eq!(titles(repo, &matching("ecole"))?, ["L'École des femmes", "L'École des maris"]);
        // Another order replaces the rank.
        let by_year = matching("ecole").order_by(BookOrder::PublishedYear, Direction::Ascending);
        assert_eq!(titles(repo, &by_year)?, ["L'École des maris", "L'École des femmes"]);
        // The other criteria, limit and offset.
        assert!(titles(repo, &matching("dune").author(molière.id))?.is_empty());
        assert_eq!(titles(repo, &matching("dune").author(herbert.id).year_to(1970))?, ["Dune Messiah"]);
        assert_eq!(titles(repo, &matching("dune").limit(1))?, ["Dune: Dune Again"]);
        assert_eq!(titles(repo, &matching("dune").limit(1).offset(1))?, ["Dune Messiah"]);
        assert_eq!(titles(repo, &matching("dune").title_contains("messiah"))?, ["Dune Messiah"]);
        // title_contains stays the substring filter: a prefix, ASCII case only.
        assert_eq!(titles(repo, &BookFilter::new().title_contains("DUN"))?.len(), 2);
        assert!(titles(repo, &BookFilter::new().title_contains("ecole"))?.is_empty());
        Ok(())
    }
}

backend_tests! {
    /// The index follows `books` whoever writes: rows inserted, retitled and deleted by
    /// another tool, and books deleted with their author.
    fn rows_other_tools_write_are_found(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let (molière, herbert) = catalog(&db)?;
        let repo = &db.repo;
        db.execute_raw(&format!(
            "INSERT INTO books (title, author_id) VALUES ('Le Médecin malgré lui', {})",
            molière.id
        ))?;
        assert_eq!(titles(repo, &matching("medecin"))?, ["Le Médecin malgré lui"]);
        db.execute_raw("UPDATE books SET title = 'Le Bourgeois gentilhomme' WHERE title = 'Le Médecin malgré lui'")?;
        assert!(titles(repo, &matching("medecin"))?.is_empty());
        assert_eq!(titles(repo, &matching("bourgeois"))?, ["Le Bourgeois gentilhomme"]);
        db.execute_raw("DELETE FROM books WHERE title = 'Le Bourgeois gentilhomme'")?;
        assert!(titles(repo, &matching("bourgeois"))?.is_empty());
        // Through the crate too, and by the cascade of an author's delete.
        let dune = repo.search_books(&matching("messiah"))?;
        repo.update_book(dune[0].id, &bookshelf::BookChanges::new().title("Children of Dune"))?;
        assert_eq!(titles(repo, &matching("children"))?, ["Children of Dune"]);
        repo.delete_author(herbert.id)?;
        assert!(titles(repo, &matching("dune"))?.is_empty());
        assert_eq!(titles(repo, &matching("ecole"))?.len(), 2);
        Ok(())
    }
}

backend_tests! {
    /// Query syntax of either engine, in the user's text, is words: no error, and no
    /// change of meaning.
    fn query_syntax_in_the_text_is_words(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        catalog(&db)?;
        let repo = &db.repo;
        let hostile = [
            "\"", "\"\"", "'", "*", "dune*", "^dune", "dune NEAR messiah", "NEAR(dune messiah)",
            "dune AND", "OR", "NOT dune", "-dune", "dune -messiah", "title:dune", "dune:",
            "(dune", "dune)", "{dune}", "dune & messiah", "!dune", "dune | x", "<->", "\0",
            "dune\0messiah", "\\", "%", "_", "\u{200B}", "😀", "AND OR NOT NEAR",
        ];
        for text in hostile {
            if let Err(error) = repo.search_books(&matching(text)) {
                return Err(format!("{text:?}: {error}").into());
            }
        }
        // Syntax characters around a word leave the word; operators are words too.
        assert_eq!(titles(repo, &matching("\"messiah\""))?, ["Dune Messiah"]);
        assert_eq!(titles(repo, &matching("(messiah)"))?, ["Dune Messiah"]);
        assert_eq!(titles(repo, &matching("dune\0messiah"))?, ["Dune Messiah"]);
        assert!(titles(repo, &matching("dune OR ecole"))?.is_empty());
        assert!(titles(repo, &matching("NOT dune"))?.is_empty());
        assert!(titles(repo, &matching("\""))?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn any_text_searches_without_an_error(backend: Backend) -> TestResult {
        use proptest::test_runner::{Config, TestRunner};
        let db = TestDb::open(backend)?;
        catalog(&db)?;
        let mut runner = TestRunner::new(Config { cases: 256, ..Config::default() });
        let texts = proptest::prop_oneof![
            proptest::string::string_regex(".{0,40}")?,
            proptest::string::string_regex("[\"*^():\\-&|!<> a-zA-Z\u{0}\u{e9}\u{df}]{0,24}")?,
        ];
        runner
            .run(&texts, |text| {
                let found = db.repo.search_books(&matching(&text));
                proptest::prop_assert!(found.is_ok(), "{text:?}: {found:?}");
                Ok(())
            })
            .map_err(|error| error.to_string())?;
        Ok(())
    }
}
