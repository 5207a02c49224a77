//! Eager loading (`authors_with_books`) against lazy loading (`books_by_author`): statement
//! counts and correctness.

mod common;

use std::collections::BTreeMap;

use bookshelf::{Author, AuthorId, AuthorWithBooks, Book, NewAuthor, NewBook, Page, Repository};
use common::{backend_tests, Backend, BoxError, TestDb};

/// How many books author number `n` (1-based) gets: 0 to 3, so some have none.
fn books_for(n: usize) -> usize {
    n % 4
}

/// Creates `count` authors (`Author 000001`, ...) and their books, the books inserted
/// author by author from the last to the first and titles in descending order, so that
/// neither book ids nor insertion order match the order the loads must return. Returns
/// what the eager load of every author must give.
fn seed(repo: &Repository, count: usize) -> Result<Vec<AuthorWithBooks>, BoxError> {
    let new_authors: Vec<NewAuthor> = (1..=count)
        .map(|n| NewAuthor::new(format!("Author {n:06}")))
        .collect();
    let authors = repo.create_authors(&new_authors)?;
    let mut new_books = Vec::new();
    for (index, author) in authors.iter().enumerate().rev() {
        for book in (1..=books_for(index + 1)).rev() {
            new_books.push(NewBook::new(
                author.id,
                format!("Title {:06}-{book:02}", index + 1),
            ));
        }
    }
    let books = repo.create_books(&new_books)?;
    Ok(expected(authors, books))
}

/// Groups books under their authors, authors by id and books by title.
fn expected(authors: Vec<Author>, books: Vec<Book>) -> Vec<AuthorWithBooks> {
    let mut by_author: BTreeMap<AuthorId, Vec<Book>> = BTreeMap::new();
    for book in books {
        by_author.entry(book.author_id).or_default().push(book);
    }
    let mut shelf: Vec<AuthorWithBooks> = authors
        .into_iter()
        .map(|author| {
            let mut books = by_author.remove(&author.id).unwrap_or_default();
            books.sort_by(|a, b| a.title.cmp(&b.title));
            AuthorWithBooks { author, books }
        })
        .collect();
    shelf.sort_by_key(|entry| entry.author.id);
    shelf
}

/// Runs `f` and returns its result with the number of data statements it ran.
fn counted<T>(
    repo: &Repository,
    f: impl FnOnce() -> bookshelf::Result<T>,
) -> bookshelf::Result<(T, u64)> {
    let before = repo.stats().statements;
    let value = f()?;
    Ok((value, repo.stats().statements - before))
}

backend_tests! {
    fn eager_load_is_two_statements_at_any_size(backend: Backend) -> TestResult {
        for count in [1, 10, 500] {
            let db = TestDb::open(backend)?;
            let repo = &db.repo;
            let want = seed(repo, count)?;
            let (shelf, statements) = counted(repo, || repo.authors_with_books(Page::all()))?;
            assert_eq!(statements, 2, "{count} authors");
            assert_eq!(shelf.len(), count);
            assert_eq!(shelf, want, "{count} authors");
        }
        Ok(())
    }
}

backend_tests! {
    fn eager_load_attributes_every_book_to_its_author(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        seed(repo, 60)?;
        let shelf = repo.authors_with_books(Page::all())?;
        let ids: Vec<AuthorId> = shelf.iter().map(|entry| entry.author.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "authors by id");
        let mut without_books = 0;
        for (index, entry) in shelf.iter().enumerate() {
            let n = index + 1;
            assert_eq!(entry.author.name, format!("Author {n:06}"));
            assert_eq!(entry.books.len(), books_for(n), "{}", entry.author.name);
            let titles: Vec<String> = entry.books.iter().map(|b| b.title.clone()).collect();
            let want: Vec<String> = (1..=books_for(n))
                .map(|book| format!("Title {n:06}-{book:02}"))
                .collect();
            assert_eq!(titles, want, "books by title");
            assert!(entry.books.iter().all(|b| b.author_id == entry.author.id));
            if entry.books.is_empty() {
                without_books += 1;
            }
        }
        assert_eq!(without_books, 15, "authors without books are included");
        let total: usize = shelf.iter().map(|entry| entry.books.len()).sum();
        assert_eq!(i64::try_from(total)?, repo.count_books()?);
        Ok(())
    }
}

backend_tests! {
    fn keyset_pages_are_two_statements_and_cover_everyone_once(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let all = seed(repo, 100)?;
        // Gaps in the ids: delete a few authors (and, by cascade, their books).
        for n in [2usize, 3, 50, 99] {
            repo.delete_author(all[n - 1].author.id)?;
        }
        let want: Vec<AuthorWithBooks> = all
            .into_iter()
            .enumerate()
            .filter(|(index, _)| ![2usize, 3, 50, 99].contains(&(index + 1)))
            .map(|(_, entry)| entry)
            .collect();

        for limit in [1u32, 7, 32, 96, 200] {
            let mut seen = Vec::new();
            let mut page = Page::first(limit);
            loop {
                let (entries, statements) = counted(repo, || repo.authors_with_books(page))?;
                let Some(last) = entries.last() else {
                    assert_eq!(statements, 1, "an empty page runs only the authors query");
                    break;
                };
                assert_eq!(statements, 2, "page of {limit}");
                assert!(entries.len() <= usize::try_from(limit)?);
                page = Page::after(last.author.id, limit);
                seen.extend(entries);
            }
            assert_eq!(seen, want, "pages of {limit}");
        }
        Ok(())
    }
}

backend_tests! {
    fn an_empty_database_or_page_is_one_statement(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let (shelf, statements) = counted(repo, || repo.authors_with_books(Page::all()))?;
        assert!(shelf.is_empty());
        assert_eq!(statements, 1);

        let all = seed(repo, 5)?;
        let last = all
            .last()
            .map(|entry| entry.author.id)
            .ok_or("no authors")?;
        let (shelf, statements) = counted(repo, || repo.authors_with_books(Page::after(last, 10)))?;
        assert!(shelf.is_empty());
        assert_eq!(statements, 1);
        Ok(())
    }
}

backend_tests! {
    fn lazy_loading_is_one_statement_per_author_and_agrees(backend: Backend) -> TestResult {
        for count in [1, 10, 100] {
            let db = TestDb::open(backend)?;
            let repo = &db.repo;
            let want = seed(repo, count)?;
            let authors = repo.list_authors(Page::all())?;
            let (lazy, statements) = counted(repo, || {
                authors
                    .iter()
                    .map(|author| {
                        Ok(AuthorWithBooks {
                            author: author.clone(),
                            books: repo.books_by_author(author.id)?,
                        })
                    })
                    .collect::<bookshelf::Result<Vec<_>>>()
            })?;
            assert_eq!(statements, u64::try_from(count)?, "N authors, N statements");
            assert_eq!(lazy, want);
            assert_eq!(lazy, repo.authors_with_books(Page::all())?);
        }
        Ok(())
    }
}

backend_tests! {
    fn eager_load_beyond_the_bound_parameter_limit(backend: Backend) -> TestResult {
        // More authors than the backend's bound parameters a statement (SQLite's 32,766,
        // PostgreSQL's 65,535): a load binding one value per author could not run in one
        // statement.
        let authors_count: usize = match backend {
            Backend::Sqlite => 40_000,
            // MySQL: 65,535 placeholders a statement too.
            Backend::Postgres | Backend::Mysql => 70_000,
        };
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let new_authors: Vec<NewAuthor> = (1..=authors_count)
            .map(|n| NewAuthor::new(format!("Author {n:06}")))
            .collect();
        let authors = repo.create_authors(&new_authors)?;
        // Books in reverse author order, so book ids run against author ids.
        let new_books: Vec<NewBook> = authors
            .iter()
            .rev()
            .map(|author| NewBook::new(author.id, format!("Book of {}", author.name)))
            .collect();
        repo.create_books(&new_books)?;

        let (shelf, statements) = counted(repo, || repo.authors_with_books(Page::all()))?;
        assert_eq!(statements, 2);
        assert_eq!(shelf.len(), authors_count);
        for (entry, author) in shelf.iter().zip(&authors) {
            assert_eq!(&entry.author, author);
            assert_eq!(entry.books.len(), 1, "{}", author.name);
            assert_eq!(entry.books[0].author_id, author.id);
            assert_eq!(entry.books[0].title, format!("Book of {}", author.name));
        }
        Ok(())
    }
}
