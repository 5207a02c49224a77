//! Rows imported with ids of their own (`Author` and `Book` are `Insertable`, id
//! included): the creates after them work on every backend. PostgreSQL's identity
//! sequence knows nothing of explicit ids, so the first create after an import meets a
//! taken id; the crate moves the sequence past the ids in use and retries once.

mod common;

use bookshelf::schema::{authors, books};
use bookshelf::{
    Author, AuthorId, Book, BookId, Error, NewAuthor, NewBook, RawConnection, Version,
};
use common::{backend_tests, TestDb};
use diesel::RunQueryDsl;

/// Inserts `authors` and `books` with their own ids, through the escape hatch.
fn import(db: &TestDb, authors: &[Author], books: &[Book]) -> bookshelf::Result<()> {
    // Owned rows: the timestamp columns are written through a conversion.
    let (authors, books) = (authors.to_vec(), books.to_vec());
    db.repo.transaction(|tx| {
        tx.with_connection(|conn| match conn {
            RawConnection::Sqlite(conn) => {
                diesel::insert_into(authors::table)
                    .values(authors)
                    .execute(conn)?;
                diesel::insert_into(books::table)
                    .values(books)
                    .execute(conn)
            }
            #[cfg(feature = "postgres")]
            RawConnection::Postgres(conn) => {
                diesel::insert_into(authors::table)
                    .values(authors)
                    .execute(conn)?;
                diesel::insert_into(books::table)
                    .values(books)
                    .execute(conn)
            }
            #[cfg(feature = "mysql")]
            RawConnection::Mysql(conn) => {
                diesel::insert_into(authors::table)
                    .values(authors)
                    .execute(conn)?;
                diesel::insert_into(books::table)
                    .values(books)
                    .execute(conn)
            }
            // A backend this helper does not know imports nothing: an error, so that no
            // test passes on an empty import.
            #[allow(unreachable_patterns)]
            other => Err(diesel::result::Error::QueryBuilderError(
                format!("no import for {other:?}").into(),
            )),
        })
    })?;
    Ok(())
}

fn imported() -> (Vec<Author>, Vec<Book>) {
    let authors: Vec<Author> = (1..=3)
        .map(|i| Author {
            id: AuthorId(i),
            name: common::author_name(i as usize),
            version: Version(1),
            created_at: common::a_time(),
            updated_at: common::a_time(),
        })
        .collect();
    let books = (1..=3)
        .map(|i| Book {
            id: BookId(i),
            author_id: AuthorId(1),
            title: common::book_title(1, i as usize),
            isbn: None,
            published_year: None,
            version: Version(1),
            created_at: common::a_time(),
            updated_at: common::a_time(),
        })
        .collect();
    (authors, books)
}

backend_tests! {
    fn single_creates_after_an_import_get_fresh_ids(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let (authors, books) = imported();
        import(&db, &authors, &books)?;
        let author = db.repo.create_author(&NewAuthor::new("After the import"))?;
        assert!(author.id > AuthorId(3), "{author:?}");
        let book = db.repo.create_book(&NewBook::new(author.id, "A new book"))?;
        assert!(book.id > BookId(3), "{book:?}");
        // And the next ones follow on from there, without another clash.
        let next = db.repo.create_author(&NewAuthor::new("Next"))?;
        assert!(next.id > author.id);
        assert_eq!(db.repo.count_authors()?, 5);
        Ok(())
    }
}

backend_tests! {
    fn bulk_creates_after_an_import_get_fresh_ids(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let (authors, books) = imported();
        import(&db, &authors, &books)?;
        let created = db.repo.create_authors(&[NewAuthor::new("One"), NewAuthor::new("Two")])?;
        assert!(created.iter().all(|author| author.id > AuthorId(3)), "{created:?}");
        let books = db.repo.create_books(&[
            NewBook::new(created[0].id, "First"),
            NewBook::new(created[1].id, "Second"),
        ])?;
        assert!(books.iter().all(|book| book.id > BookId(3)), "{books:?}");
        for book in &books {
            assert_eq!(db.repo.book(book.id)?.as_ref(), Some(book));
        }
        Ok(())
    }
}

backend_tests! {
    fn a_create_after_an_import_works_inside_a_transaction(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let (authors, books) = imported();
        import(&db, &authors, &books)?;
        let (author, book) = db.repo.transaction(|tx| -> bookshelf::Result<_> {
            let author = tx.create_author(&NewAuthor::new("In a transaction"))?;
            let book = tx.create_book(&NewBook::new(author.id, "Its book"))?;
            Ok((author, book))
        })?;
        assert_eq!(db.repo.author(author.id)?, Some(author));
        assert_eq!(db.repo.book(book.id)?, Some(book));
        Ok(())
    }
}

backend_tests! {
    /// The bulk creates' retry inside a transaction: the failed insert (on PostgreSQL,
    /// in a savepoint of its own) leaves the transaction usable for the retry and for
    /// what follows.
    fn a_bulk_create_after_an_import_works_inside_a_transaction(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let (authors, books) = imported();
        import(&db, &authors, &books)?;
        let (created, books) = db.repo.transaction(|tx| -> bookshelf::Result<_> {
            let created = tx.create_authors(&[NewAuthor::new("One"), NewAuthor::new("Two")])?;
            let books = tx.create_books(&[
                NewBook::new(created[1].id, "Second"),
                NewBook::new(created[0].id, "First"),
            ])?;
            Ok((created, books))
        })?;
        assert_eq!(
            created.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["One", "Two"]
        );
        assert!(created.iter().all(|author| author.id > AuthorId(3)), "{created:?}");
        assert!(books.iter().all(|book| book.id > BookId(3)), "{books:?}");
        for author in &created {
            assert_eq!(db.repo.author(author.id)?.as_ref(), Some(author));
        }
        for book in &books {
            assert_eq!(db.repo.book(book.id)?.as_ref(), Some(book));
        }
        Ok(())
    }
}

backend_tests! {
    /// A clash on an id the application chose itself is a conflict on `id`, not on
    /// a field called "row".
    fn an_explicit_id_that_is_taken_is_a_conflict_on_id(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let (authors, books) = imported();
        import(&db, &authors, &books)?;
        let again = import(&db, &authors[..1], &[]);
        match again {
            Err(Error::Conflict { field: "id", .. }) => {}
            other => return Err(format!("expected a conflict on id, got {other:?}").into()),
        }
        Ok(())
    }
}
