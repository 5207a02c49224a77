//! The error type (messages, sources, helpers, auto traits), the repository's auto
//! traits, and SQL-looking input stored as plain data.

mod common;

use std::error::Error as StdError;
use std::time::Duration;

use bookshelf::Repository;
use bookshelf::{AuthorId, BookFilter, BookId, Entity, Error, Missing, NewAuthor, NewBook, Page};
use common::{backend_tests, Backend, TestDb, TestResult};

/// Checks the house rules on every error of a chain: the message starts in lowercase,
/// has no trailing period, and does not print its source's message again.
fn assert_well_formed(error: &(dyn StdError + 'static)) {
    let mut current = Some(error);
    while let Some(error) = current {
        let message = error.to_string();
        let first = message.chars().next();
        assert!(
            first.is_some_and(|c| !c.is_uppercase()),
            "{message:?} does not start in lowercase"
        );
        assert!(!message.ends_with('.'), "{message:?} ends with a period");
        if let Some(source) = error.source() {
            let inner = source.to_string();
            assert!(
                !message.contains(&inner),
                "{message:?} repeats its source {inner:?}"
            );
        }
        current = error.source();
    }
}

backend_tests! {
    fn not_found_message(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let error = repo
            .delete_author(AuthorId(42))
            .err()
            .ok_or("delete succeeded")?;
        assert_eq!(error.to_string(), "author 42 not found");
        assert!(error.source().is_none());
        assert_well_formed(&error);

        let error = repo
            .delete_book(bookshelf::BookId(-7))
            .err()
            .ok_or("delete succeeded")?;
        assert_eq!(error.to_string(), "book -7 not found");
        Ok(())
    }
}

backend_tests! {
    fn validation_message(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let error = repo
            .create_author(&NewAuthor::new("  "))
            .err()
            .ok_or("created")?;
        assert_eq!(error.to_string(), "invalid name: must not be empty");
        assert!(error.source().is_none());
        assert_well_formed(&error);

        let author = repo.create_author(&NewAuthor::new("Someone"))?;
        let bad_isbn = NewBook::new(author.id, "Book").isbn("0-441-17271-8");
        let error = repo.create_book(&bad_isbn).err().ok_or("created")?;
        assert!(error.to_string().starts_with("invalid isbn: "), "{error}");
        assert_well_formed(&error);
        Ok(())
    }
}

backend_tests! {
    fn conflict_message(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Someone"))?;
        repo.create_book(&NewBook::new(author.id, "Book").isbn("0-441-17271-7"))?;

        let same_isbn = NewBook::new(author.id, "Other").isbn("9780441172719");
        let error = repo.create_book(&same_isbn).err().ok_or("created")?;
        assert_eq!(error.to_string(), "book with this isbn already exists");
        // The database's own report is kept as the source (its text is the database's,
        // not held to the crate's message rules).
        let source = error.source().ok_or("a conflict without its source")?;
        assert!(source.to_string().contains("isbn"), "{source}");
        assert!(!error.to_string().contains(&source.to_string()));

        let same_title = NewBook::new(author.id, "Book");
        let error = repo.create_book(&same_title).err().ok_or("created")?;
        assert_eq!(error.to_string(), "book with this title already exists");
        Ok(())
    }
}

backend_tests! {
    fn invalid_row_message_names_the_row_and_why(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Someone"))?;

        let books = [NewBook::new(author.id, "Fine"), NewBook::new(author.id, "")];
        let error = repo.create_books(&books).err().ok_or("created")?;
        assert_eq!(error.to_string(), "row 1: invalid title: must not be empty");
        assert_well_formed(&error);

        let books = [
            NewBook::new(author.id, "One"),
            NewBook::new(author.id, "Two"),
            NewBook::new(AuthorId(999), "Three"),
        ];
        let error = repo.create_books(&books).err().ok_or("created")?;
        assert_eq!(error.to_string(), "row 2: author 999 not found");
        assert_well_formed(&error);
        assert_eq!(repo.count_books()?, 0);
        Ok(())
    }
}

backend_tests! {
    /// The cause of a rejected row is a field of the variant, matched like any other.
    fn invalid_row_carries_the_cause_as_a_crate_error(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Someone"))?;
        let books = [NewBook::new(author.id, "Fine"), NewBook::new(author.id, "")];
        let error = repo.create_books(&books).err().ok_or("created")?;
        match &error {
            Error::InvalidRow { index: 1, error } => {
                assert!(matches!(**error, Error::Validation { field: "title", .. }));
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
        assert!(error.is_validation() && !error.is_not_found() && !error.is_conflict());
        Ok(())
    }
}

backend_tests! {
    fn pool_and_url_errors_are_well_formed(backend: Backend) -> TestResult {
        let error = Repository::open("mongodb://localhost/books")
            .err()
            .ok_or("opened")?;
        assert!(matches!(error, Error::UnsupportedUrl(_)), "{error:?}");
        assert_well_formed(&error);

        // One connection, held by a transaction on another thread, so this call cannot
        // get one.
        let db = TestDb::open_with(backend, |config| {
            config
                .max_size(1)
                .connection_timeout(Duration::from_millis(200))
        })?;
        let repo = &db.repo;
        let (held, wait_for_held) = std::sync::mpsc::channel();
        let (release, wait_for_release) = std::sync::mpsc::channel::<()>();
        let error = std::thread::scope(|scope| -> Result<Error, common::BoxError> {
            let holder = scope.spawn(move || {
                repo.transaction(|_tx| -> bookshelf::Result<_> {
                    let _ = held.send(());
                    let _ = wait_for_release.recv();
                    Ok(())
                })
            });
            wait_for_held.recv()?;
            let outcome = repo.count_authors();
            release.send(())?;
            holder.join().map_err(|_| "the holder panicked")??;
            outcome.err().ok_or_else(|| "a second connection was handed out".into())
        })?;
        assert!(matches!(error, Error::Pool(_)), "{error:?}");
        assert_eq!(error.to_string(), "no database connection available");
        assert!(error.source().is_some());
        assert_well_formed(&error);
        Ok(())
    }
}

#[test]
fn error_is_send_sync_static() -> TestResult {
    fn assert_traits<T: Send + Sync + 'static + StdError>() {}
    assert_traits::<Error>();
    assert_traits::<bookshelf::MigrationError>();

    // So it converts into the usual boxed error, and crosses threads.
    let error = std::thread::spawn(|| Error::NotFound(Missing::Book(BookId(1))))
        .join()
        .map_err(|_| "thread panicked")?;
    let boxed: Box<dyn StdError + Send + Sync> = error.into();
    assert_eq!(boxed.to_string(), "book 1 not found");
    Ok(())
}

backend_tests! {
    fn repository_is_clone_send_sync_debug(backend: Backend) -> TestResult {
        fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
        assert_traits::<Repository>();

        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let debug = format!("{repo:?}");
        assert!(debug.starts_with("Repository"), "{debug}");
        let name = match backend {
            Backend::Sqlite => "backend: \"sqlite\"",
            Backend::Postgres => "backend: \"postgres\"",
            Backend::Mysql => "backend: \"mysql\"",
        };
        assert!(debug.contains(name), "{debug}");

        // Clones share one database, from any thread.
        let clone = repo.clone();
        let created = std::thread::spawn(move || clone.create_author(&NewAuthor::new("Threaded")))
            .join()
            .map_err(|_| "thread panicked")??;
        assert_eq!(repo.author(created.id)?, Some(created));
        Ok(())
    }
}

backend_tests! {
    fn helper_methods_classify_errors(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Someone"))?;
        repo.create_book(&NewBook::new(author.id, "Taken"))?;

        let not_found = repo
            .rename_author(AuthorId(0), "x")
            .err()
            .ok_or("renamed")?;
        let validation = repo
            .create_author(&NewAuthor::new(""))
            .err()
            .ok_or("created")?;
        let conflict = repo
            .create_book(&NewBook::new(author.id, "Taken"))
            .err()
            .ok_or("created")?;
        let bad_row = repo
            .create_authors(&[NewAuthor::new("ok"), NewAuthor::new("\0")])
            .err()
            .ok_or("created")?;

        let flags = |e: &Error| (e.is_not_found(), e.is_validation(), e.is_conflict());
        assert_eq!(flags(&not_found), (true, false, false));
        assert_eq!(flags(&validation), (false, true, false));
        assert_eq!(flags(&conflict), (false, false, true));
        assert!(matches!(bad_row, Error::InvalidRow { index: 1, .. }));
        assert_eq!(flags(&bad_row), (false, true, false));

        let conflicting_row = Error::InvalidRow {
            index: 0,
            error: Box::new(Error::Conflict {
                entity: Entity::Book,
                field: "isbn",
                source: None,
            }),
        };
        assert_eq!(flags(&conflicting_row), (false, false, true));

        let missing_author_row = Error::InvalidRow {
            index: 0,
            error: Box::new(Error::NotFound(Missing::Author(AuthorId(7)))),
        };
        assert_eq!(flags(&missing_author_row), (true, false, false));
        Ok(())
    }
}

const HOSTILE: [&str; 6] = [
    "'); DROP TABLE books; --",
    "\" OR 1=1 --",
    "Robert'); DROP TABLE authors;--",
    "x' OR 'x'='x",
    "1; DELETE FROM authors WHERE 1=1",
    "`books`.`title` /* ? */ ?1 $1 :name",
];

backend_tests! {
    fn sql_looking_text_is_stored_as_data(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let mut author_ids = Vec::new();
        let mut book_ids = Vec::new();
        for text in HOSTILE {
            let author = repo.create_author(&NewAuthor::new(text))?;
            assert_eq!(author.name.as_bytes(), text.as_bytes());
            assert_eq!(
                repo.author(author.id)?.map(|a| a.name).as_deref(),
                Some(text)
            );
            assert_eq!(repo.authors_by_name(text)?, vec![author.clone()]);

            let book = repo.create_book(&NewBook::new(author.id, text))?;
            assert_eq!(book.title.as_bytes(), text.as_bytes());
            assert_eq!(repo.books_by_title(text)?, vec![book.clone()]);
            let found = repo.search_books(&BookFilter::new().title_contains(text))?;
            assert_eq!(found, vec![book.clone()], "search for {text:?}");
            author_ids.push(author.id);
            book_ids.push(book.id);
        }
        let renamed = repo.rename_author(author_ids[0], HOSTILE[1])?;
        assert_eq!(renamed.name, HOSTILE[1]);

        // Both tables are still there, with every row.
        assert_eq!(repo.count_authors()?, HOSTILE.len() as i64);
        assert_eq!(repo.count_books()?, HOSTILE.len() as i64);
        let titles: Vec<String> = repo
            .list_books(Page::all())?
            .into_iter()
            .map(|book| book.title)
            .collect();
        assert_eq!(titles, HOSTILE);
        for id in book_ids {
            assert!(repo.book(id)?.is_some());
        }
        Ok(())
    }
}

backend_tests! {
    fn sql_looking_lookups_match_nothing(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        common::seed(repo, 3, 2)?;
        for text in HOSTILE {
            assert!(repo.authors_by_name(text)?.is_empty());
            assert!(repo.books_by_title(text)?.is_empty());
            assert!(repo
                .search_books(&BookFilter::new().title_contains(text))?
                .is_empty());
        }
        assert_eq!(repo.count_authors()?, 3);
        assert_eq!(repo.count_books()?, 6);
        Ok(())
    }
}

/// Without the `postgres` feature, a PostgreSQL URL is refused with a message that names
/// the feature to enable.
#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_url_names_the_feature_it_needs() -> TestResult {
    for url in ["postgres://127.0.0.1/test", "postgresql://app@db/library"] {
        let error = Repository::open(url).err().ok_or("opened")?;
        match &error {
            Error::UnsupportedUrl(message) if message.contains("`postgres` cargo feature") => {}
            other => return Err(format!("{url}: unexpected {other:?}").into()),
        }
        assert_well_formed(&error);
    }
    Ok(())
}

/// With it, a server that cannot be reached is a connection error, raised by `open`.
#[cfg(feature = "postgres")]
#[test]
fn an_unreachable_postgres_server_is_a_connection_error() -> TestResult {
    // Port 1 on the loopback: nothing listens there, so the connection is refused.
    let error = Repository::open("postgres://127.0.0.1:1/test")
        .err()
        .ok_or("opened")?;
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert_well_formed(&error);
    Ok(())
}

/// Ids that have run out are the crate's own error, naming the table's rows.
#[test]
fn ids_that_run_out_are_ids_exhausted() -> TestResult {
    let db = TestDb::open(Backend::Sqlite)?;
    db.execute_raw(&format!(
        "INSERT INTO authors (id, name) VALUES ({}, 'Last')",
        i64::MAX
    ))?;
    let result = db.repo.create_authors(&[NewAuthor::new("One more")]);
    assert!(
        matches!(result, Err(Error::IdsExhausted(Entity::Author))),
        "{result:?}"
    );
    assert_eq!(db.repo.count_authors()?, 1);
    Ok(())
}
