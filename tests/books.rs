//! Books: create, read, update, delete, count and list; lookups; conflicts; ISBN and
//! year validation; bulk creation.

mod common;

use bookshelf::{AuthorId, Book, BookChanges, BookId, Entity, Error, NewAuthor, NewBook, Page};
use bookshelf::{Missing, MIN_YEAR};
use common::{backend_tests, book_title, expect_err, seed, Backend, TestDb, TestResult};

/// A repository on `backend` with one author, for tests that need a single author.
fn with_author(backend: Backend, name: &str) -> Result<(TestDb, AuthorId), common::BoxError> {
    let db = TestDb::open(backend)?;
    let author = db.repo.create_author(&NewAuthor::new(name))?;
    Ok((db, author.id))
}

fn titles(books: &[Book]) -> Vec<&str> {
    books.iter().map(|book| book.title.as_str()).collect()
}

/// Fails unless `result` is a validation error on `field`.
fn invalid<T: std::fmt::Debug>(result: bookshelf::Result<T>, field: &str) -> TestResult {
    expect_err!(result, Error::Validation { field: got, .. } if got == field);
    Ok(())
}

/// Fails unless `result` is a book conflict on `field`.
fn conflict<T: std::fmt::Debug>(result: bookshelf::Result<T>, field: &str) -> TestResult {
    expect_err!(result, Error::Conflict { entity: Entity::Book, field: got, .. } if got == field);
    Ok(())
}

backend_tests! {
    fn create_then_read_back(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        let book = repo.create_book(
            &NewBook::new(author, "  Dune \t")
                .isbn("978-0-441-17271-9")
                .published_year(1965),
        )?;
        assert_eq!(book.title, "Dune");
        assert_eq!(book.author_id, author);
        assert_eq!(book.isbn.as_deref(), Some("9780441172719"));
        assert_eq!(book.published_year, Some(1965));
        assert_eq!(repo.book(book.id)?, Some(book.clone()));

        let bare = repo.create_book(&NewBook::new(author, "Dune Messiah"))?;
        assert_eq!((bare.isbn, bare.published_year), (None, None));
        assert!(bare.id > book.id);
        assert_eq!(repo.count_books()?, 2);
        Ok(())
    }
}

backend_tests! {
    fn update_sets_each_field(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        let book = repo.create_book(&NewBook::new(author, "Dune"))?;
        let changes = BookChanges::new()
            .title(" Dune Messiah ")
            .isbn("0-441-17269-5")
            .published_year(1969);
        let updated = repo.update_book(book.id, &changes)?;
        assert_eq!(updated.id, book.id);
        assert_eq!(updated.author_id, author);
        assert_eq!(updated.title, "Dune Messiah");
        assert_eq!(updated.isbn.as_deref(), Some("9780441172696"));
        assert_eq!(updated.published_year, Some(1969));
        assert_eq!(repo.book(book.id)?, Some(updated.clone()));

        // One field at a time leaves the others alone.
        let retitled = repo.update_book(book.id, &BookChanges::new().title("Children"))?;
        assert_eq!(retitled.title, "Children");
        assert_eq!(retitled.isbn, updated.isbn);
        assert_eq!(retitled.published_year, updated.published_year);
        Ok(())
    }
}

backend_tests! {
    fn update_clears_nullable_fields(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        let book = repo.create_book(
            &NewBook::new(author, "Dune")
                .isbn("0-441-17271-7")
                .published_year(1965),
        )?;

        let no_isbn = repo.update_book(book.id, &BookChanges::new().clear_isbn())?;
        assert_eq!(no_isbn.isbn, None);
        assert_eq!(no_isbn.published_year, Some(1965));
        assert_eq!(no_isbn.title, "Dune");

        let no_year = repo.update_book(book.id, &BookChanges::new().clear_published_year())?;
        assert_eq!((no_year.isbn.clone(), no_year.published_year), (None, None));
        assert_eq!(repo.book(book.id)?, Some(no_year));

        // A cleared ISBN is free for another book.
        let other = repo.create_book(&NewBook::new(author, "Other").isbn("0441172717"))?;
        assert_eq!(other.isbn.as_deref(), Some("9780441172719"));
        Ok(())
    }
}

backend_tests! {
    fn empty_changes_return_the_book_unchanged(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        let book = repo.create_book(&NewBook::new(author, "Dune").published_year(1965))?;
        assert!(BookChanges::new().is_empty());
        let before = repo.stats().statements;
        assert_eq!(repo.update_book(book.id, &BookChanges::new())?, book);
        // Nothing is written: the one statement is the read of the book.
        assert_eq!(repo.stats().statements - before, 1);
        assert_eq!(repo.book(book.id)?, Some(book));
        Ok(())
    }
}

backend_tests! {
    fn changes_to_a_missing_book_are_not_found(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        let deleted = repo.create_book(&NewBook::new(author, "Gone"))?;
        repo.delete_book(deleted.id)?;
        let changes = [BookChanges::new().title("New"), BookChanges::new()];
        for id in [BookId(0), BookId(-5), BookId(i64::MAX), deleted.id] {
            for change in &changes {
                expect_err!(
                    repo.update_book(id, change),
                    Error::NotFound(Missing::Book(got)) if got == id
                );
            }
            expect_err!(
                repo.delete_book(id),
                Error::NotFound(Missing::Book(got)) if got == id
            );
            assert_eq!(repo.book(id)?, None);
        }
        assert_eq!(repo.count_books()?, 0);
        Ok(())
    }
}

backend_tests! {
    fn delete_removes_only_that_book(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let authors = seed(repo, 1, 3)?;
        let books = repo.books_by_author(authors[0].id)?;
        repo.delete_book(books[1].id)?;
        assert_eq!(repo.book(books[1].id)?, None);
        assert_eq!(repo.count_books()?, 2);
        assert_eq!(
            repo.books_by_author(authors[0].id)?,
            vec![books[0].clone(), books[2].clone()]
        );
        assert_eq!(repo.count_authors()?, 1, "the author stays");
        Ok(())
    }
}

backend_tests! {
    fn books_by_author_are_ordered_by_title(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        let other = repo.create_author(&NewAuthor::new("Someone Else"))?;
        for title in ["Dune Messiah", "Children of Dune", "Dune", "Whipping Star"] {
            repo.create_book(&NewBook::new(author, title))?;
        }
        repo.create_book(&NewBook::new(other.id, "Another Book"))?;
        let books = repo.books_by_author(author)?;
        assert_eq!(
            titles(&books),
            ["Children of Dune", "Dune", "Dune Messiah", "Whipping Star"]
        );
        assert!(books.iter().all(|book| book.author_id == author));
        Ok(())
    }
}

backend_tests! {
    fn books_by_title_is_exact(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let authors = seed(repo, 3, 0)?;
        let first = repo.create_book(&NewBook::new(authors[0].id, "Dune"))?;
        repo.create_book(&NewBook::new(authors[1].id, "Dune Messiah"))?;
        repo.create_book(&NewBook::new(authors[1].id, "dune"))?;
        let second = repo.create_book(&NewBook::new(authors[2].id, "Dune"))?;

        assert_eq!(repo.books_by_title("Dune")?, vec![first, second]);
        assert_eq!(repo.books_by_title("  Dune\n")?.len(), 2);
        assert_eq!(titles(&repo.books_by_title("dune")?), ["dune"]);
        assert!(repo.books_by_title("Dun")?.is_empty());
        assert!(repo.books_by_title("Dune%")?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn list_books_returns_every_book_by_id(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        assert!(repo.list_books(Page::all())?.is_empty());
        seed(repo, 4, 3)?;
        let books = repo.list_books(Page::all())?;
        assert_eq!(books.len(), 12);
        assert_eq!(repo.count_books()?, 12);
        assert!(books.windows(2).all(|pair| pair[0].id < pair[1].id));
        assert_eq!(books[0].title, book_title(1, 1));
        assert_eq!(books[11].title, book_title(4, 3));
        Ok(())
    }
}

backend_tests! {
    fn a_book_by_a_missing_author_is_not_written(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Real")?;
        let repo = &db.repo;
        repo.delete_author(author)?;
        for missing in [AuthorId(0), AuthorId(-1), AuthorId(i64::MAX), author] {
            expect_err!(
                repo.create_book(&NewBook::new(missing, "Orphan")),
                Error::NotFound(Missing::Author(id)) if id == missing
            );
        }
        assert_eq!(repo.count_books()?, 0);
        Ok(())
    }
}

backend_tests! {
    fn titles_are_unique_per_author(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        let other = repo.create_author(&NewAuthor::new("Other"))?;
        let dune = repo.create_book(&NewBook::new(author, "Dune"))?;
        conflict(repo.create_book(&NewBook::new(author, " Dune ")), "title")?;
        repo.create_book(&NewBook::new(other.id, "Dune"))?;

        let messiah = repo.create_book(&NewBook::new(author, "Dune Messiah"))?;
        let retitle = BookChanges::new().title("Dune");
        conflict(repo.update_book(messiah.id, &retitle), "title")?;
        assert_eq!(repo.book(messiah.id)?, Some(messiah));
        assert_eq!(repo.book(dune.id)?, Some(dune));
        assert_eq!(repo.count_books()?, 3);
        Ok(())
    }
}

backend_tests! {
    fn isbns_are_unique_whatever_their_form(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Frank Herbert")?;
        let repo = &db.repo;
        repo.create_book(&NewBook::new(author, "Dune").isbn("0-441-17271-7"))?;
        // The same ISBN as ISBN-13, with spaces.
        let duplicate = NewBook::new(author, "Dune (again)").isbn("978 0 441 17271 9");
        conflict(repo.create_book(&duplicate), "isbn")?;

        let other = repo.create_book(&NewBook::new(author, "Other").isbn("0-441-17269-5"))?;
        let changes = BookChanges::new().isbn("9780441172719");
        conflict(repo.update_book(other.id, &changes), "isbn")?;
        assert_eq!(repo.book(other.id)?, Some(other));
        assert_eq!(repo.count_books()?, 2);
        Ok(())
    }
}

backend_tests! {
    fn isbns_are_normalized_to_isbn_13(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Normalizer")?;
        let repo = &db.repo;
        let cases = [
            ("0-8044-2957-X", "9780804429573"),
            ("080442957x", "9780804429573"),
            ("0 441 17271 7", "9780441172719"),
            ("978-0-441-47812-5", "9780441478125"),
            ("979-10-90636-07-1", "9791090636071"),
        ];
        for (n, (input, stored)) in cases.into_iter().enumerate() {
            let book = repo.create_book(&NewBook::new(author, format!("Book {n}")).isbn(input))?;
            assert_eq!(book.isbn.as_deref(), Some(stored), "{input}");
            let read_back = repo.book(book.id)?.and_then(|book| book.isbn);
            assert_eq!(read_back.as_deref(), Some(stored));
            repo.delete_book(book.id)?;
        }
        Ok(())
    }
}

backend_tests! {
    fn bad_isbns_are_rejected(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Careless")?;
        let repo = &db.repo;
        let book = repo.create_book(&NewBook::new(author, "Kept").isbn("0-441-17271-7"))?;
        for bad in [
            "0-441-17271-8",
            "978-0-441-17271-0",
            "12345",
            "X123456789",
            "977-0-441-17271-9",
            "",
        ] {
            invalid(
                repo.create_book(&NewBook::new(author, "New").isbn(bad)),
                "isbn",
            )?;
            let changes = BookChanges::new().isbn(bad);
            invalid(repo.update_book(book.id, &changes), "isbn")?;
        }
        assert_eq!(repo.count_books()?, 1);
        assert_eq!(repo.book(book.id)?, Some(book));
        Ok(())
    }
}

backend_tests! {
    fn published_year_is_bounded(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Ancient")?;
        let repo = &db.repo;
        let oldest = repo.create_book(&NewBook::new(author, "Oldest").published_year(MIN_YEAR))?;
        assert_eq!(oldest.published_year, Some(MIN_YEAR));
        for bad in [MIN_YEAR - 1, i32::MIN, 9_999, i32::MAX] {
            let new = NewBook::new(author, "Out of range").published_year(bad);
            invalid(repo.create_book(&new), "published_year")?;
            let changes = BookChanges::new().published_year(bad);
            invalid(repo.update_book(oldest.id, &changes), "published_year")?;
        }
        assert_eq!(repo.count_books()?, 1);
        assert_eq!(repo.book(oldest.id)?, Some(oldest));
        Ok(())
    }
}

backend_tests! {
    fn create_books_keeps_input_order_across_chunks(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let authors = seed(repo, 10, 0)?;
        // 10,000 rows: ten insert chunks of 1024. Interleaved authors and descending
        // numbers, so neither title nor author order could pass for input order.
        let input: Vec<NewBook> = (1..=1000)
            .rev()
            .flat_map(|j| {
                authors
                    .iter()
                    .enumerate()
                    .map(move |(i, author)| NewBook::new(author.id, book_title(i + 1, j)))
            })
            .collect();
        let created = repo.create_books(&input)?;
        assert_eq!(created.len(), 10_000);
        for (new, book) in input.iter().zip(&created) {
            assert_eq!(
                (book.author_id, book.title.as_str()),
                (new.author_id, new.title.as_str())
            );
        }
        assert!(created.windows(2).all(|pair| pair[0].id < pair[1].id));
        assert_eq!(repo.count_books()?, 10_000);
        assert_eq!(repo.list_books(Page::all())?, created);
        Ok(())
    }
}

backend_tests! {
    fn create_books_with_a_missing_author_writes_nothing(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Real"))?.id;
        let missing = AuthorId(author.0 + 1000);
        // The bad row sits in the second chunk, after a chunk that inserted cleanly.
        let mut input: Vec<NewBook> = (1..=1500)
            .map(|j| NewBook::new(author, book_title(1, j)))
            .collect();
        input[1200].author_id = missing;
        input[1300].author_id = missing;
        let result = repo.create_books(&input).map(|books| books.len());
        expect_err!(
            result,
            Error::InvalidRow { index: 1200, error }
                if matches!(*error, Error::NotFound(Missing::Author(id)) if id == missing)
        );
        assert_eq!(repo.count_books()?, 0);

        let small = [
            NewBook::new(author, "One"),
            NewBook::new(missing, "Two"),
            NewBook::new(author, "Three"),
        ];
        expect_err!(
            repo.create_books(&small),
            Error::InvalidRow { index: 1, error } if error.is_not_found()
        );
        assert_eq!(repo.count_books()?, 0);
        Ok(())
    }
}

backend_tests! {
    fn create_books_rejects_invalid_rows_and_conflicts_atomically(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Batch"))?.id;
        let invalid = [
            NewBook::new(author, "Fine"),
            NewBook::new(author, "Bad ISBN").isbn("0-441-17271-8"),
            NewBook::new(author, "  "),
        ];
        expect_err!(
            repo.create_books(&invalid),
            Error::InvalidRow { index: 1, error }
                if matches!(*error, Error::Validation { field: "isbn", .. })
        );
        let duplicate = [
            NewBook::new(author, "Same"),
            NewBook::new(author, "Different"),
            NewBook::new(author, "Same"),
        ];
        assert!(repo
            .create_books(&duplicate)
            .is_err_and(|error| error.is_conflict()));
        assert_eq!(repo.count_books()?, 0);
        assert!(repo.create_books(&[])?.is_empty());
        Ok(())
    }
}

/// A valid ISBN-13 (prefix 978) for `n` below 10^9.
fn isbn_13(n: u64) -> String {
    let digits = format!("978{n:09}");
    let sum: u32 = digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d } else { 3 * d })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

backend_tests! {
    fn create_books_keeps_each_rows_optional_fields_in_place(backend: Backend) -> TestResult {
        let (db, author) = with_author(backend, "Optional")?;
        let repo = &db.repo;
        // ISBNs and years set in a few rows only, NULL runs at the start, the middle and
        // the end (PostgreSQL binds each such column without its trailing NULLs), and
        // titles of several bytes a character.
        let rows = 600;
        let input: Vec<NewBook> = (0..rows)
            .map(|i| {
                let mut book = NewBook::new(author, format!("Titre n° {i} — ünïcødé"));
                if [3, 4, 299, 450].contains(&i) {
                    book = book.isbn(isbn_13(i as u64));
                }
                if i % 7 == 5 && i < 500 {
                    book = book.published_year(1900 + i as i32 / 7);
                }
                book
            })
            .collect();
        let created = repo.create_books(&input)?;
        assert_eq!(created.len(), rows);
        for (new, book) in input.iter().zip(&created) {
            assert_eq!(book.title, new.title);
            assert_eq!(book.isbn, new.isbn, "{}", book.title);
            assert_eq!(book.published_year, new.published_year, "{}", book.title);
        }
        assert_eq!(repo.list_books(Page::all())?, created);

        // Every row without an ISBN or a year, and every row with both.
        let none: Vec<NewBook> = (0..300)
            .map(|i| NewBook::new(author, format!("Bare {i}")))
            .collect();
        let all: Vec<NewBook> = (0..300)
            .map(|i| {
                NewBook::new(author, format!("Full {i}"))
                    .isbn(isbn_13(1_000 + i))
                    .published_year(2000)
            })
            .collect();
        for batch in [none, all] {
            let created = repo.create_books(&batch)?;
            for (new, book) in batch.iter().zip(&created) {
                let stored = repo.book(book.id)?;
                assert_eq!(stored.as_ref(), Some(book));
                assert_eq!((&book.isbn, book.published_year), (&new.isbn, new.published_year));
            }
        }
        assert_eq!(repo.count_books()?, 1_200);
        Ok(())
    }
}
