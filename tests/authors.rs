//! Authors: create, read, rename, delete, count and list; bulk creation; lookups by
//! name; missing ids; the cascade to books.

mod common;

use bookshelf::{AuthorId, Error, Missing, NewAuthor, NewBook, Page, Repository, MAX_TEXT_CHARS};
use common::{author_name, backend_tests, book_title, expect_err, seed, TestDb, TestResult};

fn names(authors: &[bookshelf::Author]) -> Vec<&str> {
    authors.iter().map(|author| author.name.as_str()).collect()
}

backend_tests! {
    fn create_then_read_back(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let created = db
            .repo
            .create_author(&NewAuthor::new("  Ursula K. Le Guin \n"))?;
        assert_eq!(created.name, "Ursula K. Le Guin");
        assert_eq!(db.repo.author(created.id)?, Some(created.clone()));
        assert_eq!(db.repo.count_authors()?, 1);

        let second = db
            .repo
            .create_author(&NewAuthor::new("Octavia E. Butler"))?;
        assert!(second.id > created.id);
        assert_eq!(db.repo.count_authors()?, 2);
        Ok(())
    }
}

backend_tests! {
    /// A second repository opened on the same database (the same file, reopened by its
    /// path, on SQLite; the same schema on PostgreSQL) sees what the first one wrote.
    fn data_survives_reopening_the_database(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Persistent"))?;
        let reopened = Repository::open(db.url())?;
        assert_eq!(reopened.author(author.id)?, Some(author));
        Ok(())
    }
}

backend_tests! {
    fn bad_names_are_rejected_before_writing(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let too_long = "é".repeat(MAX_TEXT_CHARS + 1);
        for bad in ["", "   \t\n", "a\0b", too_long.as_str()] {
            let result = db.repo.create_author(&NewAuthor::new(bad));
            expect_err!(result, Error::Validation { field: "name", .. });
        }
        assert_eq!(db.repo.count_authors()?, 0);

        // The limit is in characters, not bytes.
        let longest = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(
            db.repo
                .create_author(&NewAuthor::new(longest.clone()))?
                .name,
            longest
        );
        Ok(())
    }
}

backend_tests! {
    fn rename_changes_only_the_name(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Old Name"))?;
        let other = db.repo.create_author(&NewAuthor::new("Other"))?;

        let renamed = db.repo.rename_author(author.id, "  New Name ")?;
        assert_eq!(renamed.id, author.id);
        assert_eq!(renamed.name, "New Name");
        assert_eq!(db.repo.author(author.id)?, Some(renamed));
        assert_eq!(db.repo.author(other.id)?, Some(other));

        let result = db.repo.rename_author(author.id, "   ");
        expect_err!(result, Error::Validation { field: "name", .. });
        assert_eq!(
            db.repo.author(author.id)?.map(|a| a.name),
            Some("New Name".to_owned())
        );
        Ok(())
    }
}

backend_tests! {
    fn delete_removes_only_that_author(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let authors = seed(&db.repo, 3, 0)?;
        db.repo.delete_author(authors[1].id)?;
        assert_eq!(db.repo.author(authors[1].id)?, None);
        assert_eq!(db.repo.count_authors()?, 2);
        let left = db.repo.list_authors(Page::all())?;
        assert_eq!(left, vec![authors[0].clone(), authors[2].clone()]);
        Ok(())
    }
}

backend_tests! {
    fn list_and_count_follow_id_order(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        assert_eq!(db.repo.count_authors()?, 0);
        assert!(db.repo.list_authors(Page::all())?.is_empty());

        let authors = seed(&db.repo, 5, 0)?;
        assert_eq!(db.repo.count_authors()?, 5);
        let listed = db.repo.list_authors(Page::all())?;
        assert_eq!(listed, authors);
        let expected: Vec<String> = (1..=5).map(author_name).collect();
        assert_eq!(names(&listed), expected);
        assert!(listed.windows(2).all(|pair| pair[0].id < pair[1].id));
        Ok(())
    }
}

backend_tests! {
    fn create_authors_returns_rows_in_input_order(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let before = db.repo.stats();
        assert!(db.repo.create_authors(&[])?.is_empty());
        let after = db.repo.stats();
        assert_eq!(
            (after.statements, after.transaction_statements),
            (before.statements, before.transaction_statements),
            "an empty batch sends nothing"
        );

        // More than two insert statements (SQLite sends 4,096 names a statement, as one
        // JSON array), in an order that is not alphabetical, with names that JSON must
        // escape.
        let input: Vec<NewAuthor> = (1..=9000)
            .rev()
            .map(|i| match i % 3 {
                0 => NewAuthor::new(author_name(i)),
                1 => NewAuthor::new(format!("\"Q\" \\ back\tslash\n{i}")),
                _ => NewAuthor::new(format!("Ünïcödé 😀 \u{1}{i}")),
            })
            .collect();
        let created = db.repo.create_authors(&input)?;
        assert_eq!(created.len(), input.len());
        for (new, author) in input.iter().zip(&created) {
            assert_eq!(author.name, new.name);
        }
        assert!(created.windows(2).all(|pair| pair[0].id < pair[1].id));
        assert_eq!(db.repo.list_authors(Page::all())?, created);
        Ok(())
    }
}

backend_tests! {
    fn create_authors_is_all_or_nothing(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let too_long = "x".repeat(MAX_TEXT_CHARS + 1);
        let batch = [
            NewAuthor::new("Good One"),
            NewAuthor::new("Good Two"),
            NewAuthor::new(" \t "),
            NewAuthor::new(too_long),
            NewAuthor::new("Good Three"),
        ];
        // The first bad row is named.
        expect_err!(
            db.repo.create_authors(&batch),
            Error::InvalidRow { index: 2, error }
                if matches!(*error, Error::Validation { field: "name", .. })
        );
        assert_eq!(db.repo.count_authors()?, 0);
        assert!(db.repo.authors_by_name("Good One")?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn authors_by_name_is_exact_and_trims_its_argument(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let ann = db.repo.create_author(&NewAuthor::new("Ann"))?;
        db.repo.create_author(&NewAuthor::new("Anne"))?;
        let lower = db.repo.create_author(&NewAuthor::new("ann"))?;
        let ann_again = db.repo.create_author(&NewAuthor::new("  Ann  "))?;

        let found = db.repo.authors_by_name("Ann")?;
        assert_eq!(found, vec![ann.clone(), ann_again.clone()]);
        assert_eq!(db.repo.authors_by_name("\t Ann \n")?, found);
        assert_eq!(db.repo.authors_by_name("ann")?, vec![lower]);
        assert!(db.repo.authors_by_name("An")?.is_empty());
        assert!(db.repo.authors_by_name("Ann%")?.is_empty());
        assert!(db.repo.authors_by_name("Nobody")?.is_empty());
        assert!(db.repo.authors_by_name("")?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn seeded_names_are_found_by_name(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let authors = seed(&db.repo, 12, 1)?;
        assert_eq!(
            db.repo.authors_by_name(&author_name(7))?,
            vec![authors[6].clone()]
        );
        let books = db.repo.books_by_author(authors[6].id)?;
        assert_eq!(books.len(), 1);
        assert_eq!(books[0].title, book_title(7, 1));
        Ok(())
    }
}

/// Ids that name no author: never used, out of range, and deleted.
fn missing_ids(repo: &Repository) -> bookshelf::Result<Vec<AuthorId>> {
    let deleted = repo.create_author(&NewAuthor::new("Deleted"))?;
    repo.delete_author(deleted.id)?;
    Ok(vec![
        AuthorId(0),
        AuthorId(-1),
        AuthorId(i64::MIN),
        AuthorId(i64::MAX),
        deleted.id,
    ])
}

backend_tests! {
    fn commands_on_missing_ids_are_not_found(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let kept = db.repo.create_author(&NewAuthor::new("Kept"))?;
        for id in missing_ids(&db.repo)? {
            expect_err!(
                db.repo.rename_author(id, "Renamed"),
                Error::NotFound(Missing::Author(got)) if got == id
            );
            expect_err!(
                db.repo.delete_author(id),
                Error::NotFound(Missing::Author(got)) if got == id
            );
        }
        assert_eq!(db.repo.list_authors(Page::all())?, vec![kept]);
        assert!(db.repo.authors_by_name("Renamed")?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn lookups_on_missing_ids_are_none(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        seed(&db.repo, 2, 2)?;
        for id in missing_ids(&db.repo)? {
            assert_eq!(db.repo.author(id)?, None, "author {id}");
            assert!(db.repo.books_by_author(id)?.is_empty(), "books of {id}");
        }
        Ok(())
    }
}

backend_tests! {
    fn deleting_an_author_deletes_their_books(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let authors = seed(&db.repo, 2, 3)?;
        let doomed: Vec<_> = db.repo.books_by_author(authors[0].id)?;
        let kept = db.repo.books_by_author(authors[1].id)?;
        assert_eq!((doomed.len(), kept.len()), (3, 3));

        db.repo.delete_author(authors[0].id)?;
        assert_eq!(db.repo.count_books()?, 3);
        assert!(db.repo.books_by_author(authors[0].id)?.is_empty());
        for book in &doomed {
            assert_eq!(db.repo.book(book.id)?, None);
        }
        assert_eq!(db.repo.books_by_author(authors[1].id)?, kept);

        // A new author never inherits the deleted author's books.
        let newcomer = db.repo.create_author(&NewAuthor::new(author_name(1)))?;
        assert!(db.repo.books_by_author(newcomer.id)?.is_empty());
        db.repo
            .create_book(&NewBook::new(newcomer.id, book_title(1, 1)))?;
        assert_eq!(db.repo.count_books()?, 4);
        Ok(())
    }
}

#[test]
fn the_fixture_removes_its_database_on_drop() -> TestResult {
    let db = TestDb::new()?;
    db.repo.create_author(&NewAuthor::new("Temporary"))?;
    let path = db.path();
    let dir = path.parent().ok_or("no parent directory")?.to_owned();
    assert!(path.exists());
    drop(db);
    assert!(!dir.exists());
    Ok(())
}

backend_tests! {
    /// Bulk inserts report the ids the rows were stored under, also when the newest rows
    /// were deleted first (SQLite then hands out their ids again; PostgreSQL's sequence
    /// never does) and around single inserts.
    fn bulk_ids_are_the_stored_ids_after_deletions(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let authors = seed(&db.repo, 5, 2)?;
        db.repo.delete_author(authors[4].id)?;
        db.repo.delete_author(authors[3].id)?;
        let books = db.repo.list_books(Page::all())?;
        db.repo.delete_book(books[books.len() - 1].id)?;

        let batch: Vec<NewAuthor> = (0..300)
            .map(|i| NewAuthor::new(format!("Bulk {i}")))
            .collect();
        let created = db.repo.create_authors(&batch)?;
        let single = db.repo.create_author(&NewAuthor::new("Single"))?;
        let again = db.repo.create_authors(&batch[..3])?;
        for author in created.iter().chain([&single]).chain(&again) {
            assert_eq!(db.repo.author(author.id)?.as_ref(), Some(author));
        }
        let ids: Vec<AuthorId> = created
            .iter()
            .chain([&single])
            .chain(&again)
            .map(|author| author.id)
            .collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
        assert!(ids[0] > authors[2].id);
        assert_eq!(db.repo.count_authors()?, 3 + 300 + 1 + 3);

        let new_books: Vec<NewBook> = (0..300)
            .map(|i| NewBook::new(created[i % 7].id, format!("Bulk title {i}")))
            .collect();
        let stored = db.repo.create_books(&new_books)?;
        for book in &stored {
            assert_eq!(db.repo.book(book.id)?.as_ref(), Some(book));
        }
        assert!(stored.windows(2).all(|pair| pair[0].id < pair[1].id));
        Ok(())
    }
}
