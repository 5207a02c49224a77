//! Reliability at the edges of resources and files: an exhausted pool, files that cannot
//! be opened (or only read), a database from a newer build, and a failed transaction.
//! Each failure is a typed error whose message chain names the cause. The pool, the
//! newer build and the failed transaction run on every backend; the files are SQLite's.

mod common;

use std::error::Error as StdError;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bookshelf::{AuthorId, BookChanges, BookId, Config, Error, MigrationError, NewAuthor, NewBook};
use bookshelf::{Missing, Repository, Tx};
use common::{backend_tests, Backend, BoxError, TestDb, TestResult};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;

/// A pool of two connections, for the tests that make one call at a time: a small pool
/// keeps the PostgreSQL server's connection count (and the time to open one) low.
fn small_pool(config: Config) -> Config {
    config.max_size(2)
}

/// How long to wait before declaring a hang.
const HANG: Duration = Duration::from_secs(20);

/// The error and its sources, joined with ": ".
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn url(path: &Path) -> Result<&str, BoxError> {
    Ok(path.to_str().ok_or("temporary path is not UTF-8")?)
}

/// A plain connection on the file, without the repository's set-up.
/// A plain connection to `path` that waits for locks: a dropped repository's pool may
/// still be closing its connections (r2d2 finishes that on a background thread), and the
/// last one to close checkpoints the WAL under an exclusive lock.
fn raw(path: &Path) -> Result<SqliteConnection, BoxError> {
    let mut conn = SqliteConnection::establish(url(path)?)?;
    conn.batch_execute("PRAGMA busy_timeout = 5000")?;
    Ok(conn)
}

/// Runs `statement`, retrying while it fails with `database is locked`: changing the
/// journal mode does not wait through the busy handler.
fn execute_when_unlocked(conn: &mut SqliteConnection, statement: &str) -> TestResult {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match conn.batch_execute(statement) {
            Err(error)
                if error.to_string().contains("locked") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return Ok(result?),
        }
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Every row of both tables and of diesel's migration table, and the schema, as text.
fn dump(db: &TestDb) -> Result<Vec<String>, BoxError> {
    let rows: Vec<Line> = match db.backend {
        Backend::Sqlite => diesel::sql_query(
            "SELECT printf('author %d %s', id, name) AS line FROM authors \
             UNION ALL SELECT printf('book %d %d %s %s %s', id, author_id, title, \
                 ifnull(isbn, '-'), ifnull(published_year, '-')) FROM books \
             UNION ALL SELECT printf('migration %s', version) FROM __diesel_schema_migrations \
             UNION ALL SELECT printf('schema %s %s', name, sql) FROM sqlite_master",
        )
        .load(&mut raw(&db.path())?)?,
        // The schema part: the columns, indexes and constraints of the test's schema.
        #[cfg(feature = "postgres")]
        Backend::Postgres => diesel::sql_query(
            "SELECT format('author %s %s', id, name) AS line FROM authors \
             UNION ALL SELECT format('book %s %s %s %s %s', id, author_id, title, \
                 coalesce(isbn, '-'), coalesce(published_year::text, '-')) FROM books \
             UNION ALL SELECT format('migration %s', version) FROM __diesel_schema_migrations \
             UNION ALL SELECT format('column %s.%s %s %s %s %s', table_name, column_name, \
                 data_type, is_nullable, coalesce(column_default, '-'), is_identity) \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
             UNION ALL SELECT format('index %s', indexdef) FROM pg_indexes \
                 WHERE schemaname = current_schema() \
             UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) \
                 FROM pg_constraint WHERE connamespace = current_schema()::regnamespace \
             ORDER BY 1",
        )
        .load(&mut common::postgres::connect(db.url())?)?,
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => return Err("PostgreSQL tests need the `postgres` feature".into()),
        // Every part converted to one character set and collation, so that the union's
        // parts compare.
        #[cfg(feature = "mysql")]
        Backend::Mysql => diesel::sql_query(
            "SELECT CONVERT(CONCAT('author ', id, ' ', name) USING utf8mb4) AS line FROM authors \
             UNION ALL SELECT CONVERT(CONCAT('book ', id, ' ', author_id, ' ', title, ' ', \
                 IFNULL(isbn, '-'), ' ', IFNULL(published_year, '-')) USING utf8mb4) FROM books \
             UNION ALL SELECT CONVERT(CONCAT('migration ', version) USING utf8mb4) \
                 FROM __diesel_schema_migrations \
             UNION ALL SELECT CONVERT(CONCAT('column ', table_name, '.', column_name, ' ', \
                 column_type, ' ', is_nullable, ' ', IFNULL(column_default, '-')) USING utf8mb4) \
                 FROM information_schema.columns WHERE table_schema = DATABASE() \
             UNION ALL SELECT CONVERT(CONCAT('index ', table_name, '.', index_name, ' ', \
                 column_name, ' ', seq_in_index) USING utf8mb4) \
                 FROM information_schema.statistics WHERE table_schema = DATABASE() \
             ORDER BY 1",
        )
        .load(&mut common::mysql::connect(db.url())?)?,
        #[cfg(not(feature = "mysql"))]
        Backend::Mysql => return Err("MySQL tests need the `mysql` feature".into()),
    };
    Ok(rows.into_iter().map(|row| row.line).collect())
}

/// The main file's bytes after moving everything out of the WAL, so that they are the
/// whole database.
fn checkpointed_bytes(path: &Path) -> Result<Vec<u8>, BoxError> {
    execute_when_unlocked(&mut raw(path)?, "PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(std::fs::read(path)?)
}

backend_tests! {
    fn an_exhausted_pool_fails_after_the_timeout_and_recovers(backend: Backend) -> TestResult {
        let timeout = Duration::from_millis(300);
        let db = TestDb::open_with(backend, |config| {
            config.max_size(2).connection_timeout(timeout)
        })?;
        let repo = &db.repo;
        // Two writers take both connections: the first sits in its transaction until
        // released; the second waits for the write lock (busy timeout 5 s) on the other
        // on SQLite, and sits in its own transaction on PostgreSQL.
        let (entered, entries) = mpsc::channel();
        let mut releases = Vec::new();
        let mut holders = Vec::new();
        for n in 0..2 {
            let (release, released) = mpsc::channel::<()>();
            releases.push(release);
            let (repo, entered) = (repo.clone(), entered.clone());
            holders.push(thread::spawn(move || {
                repo.transaction(|tx| -> bookshelf::Result<_> {
                    tx.create_author(&NewAuthor::new(format!("Holder {n}")))?;
                    let _ = entered.send(n);
                    let _ = released.recv_timeout(HANG);
                    Ok(())
                })
            }));
        }
        entries.recv_timeout(HANG)?;
        let deadline = Instant::now() + HANG;
        while repo.stats().pool_idle_connections > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            repo.stats().pool_idle_connections,
            0,
            "both connections held"
        );

        let (sender, result) = mpsc::channel();
        let caller = repo.clone();
        let started = Instant::now();
        thread::spawn(move || sender.send(caller.count_authors()));
        let error = result
            .recv_timeout(HANG)
            .map_err(|_| "the call hung on an exhausted pool")?
            .err()
            .ok_or("a connection was handed out beyond max_size")?;
        println!(
            "{backend:?}: Error::Pool after {:?} (timeout {timeout:?})",
            started.elapsed()
        );
        assert!(matches!(error, Error::Pool(_)), "{error:?}");
        assert!(chain(&error).contains("timed out"), "{}", chain(&error));

        for release in releases {
            let _ = release.send(());
        }
        for holder in holders {
            holder.join().map_err(|_| "a holder panicked")??;
        }
        entries.recv_timeout(HANG)?;
        assert_eq!(repo.count_authors()?, 2, "the pool works again");
        Ok(())
    }
}

#[test]
fn opening_in_a_missing_directory_names_the_directory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing").join("deeper");
    let path = missing.join("bookshelf.db");
    for target in [url(&path)?.to_owned(), format!("sqlite://{}", url(&path)?)] {
        let error = Repository::open(&target).err().ok_or("opened")?;
        assert!(matches!(error, Error::Connection(_)), "{error:?}");
        let text = chain(&error);
        assert!(
            text.contains("does not exist") && text.contains("deeper"),
            "{text}"
        );
    }
    // A `file:` URI goes to SQLite as it is, which cannot say more than that.
    let error = Repository::open(&format!("file:{}", url(&path)?)).err();
    assert!(matches!(error, Some(Error::Connection(_))), "{error:?}");
    assert!(!missing.exists(), "nothing was created");
    Ok(())
}

#[test]
fn opening_a_directory_says_so() -> TestResult {
    let dir = tempfile::tempdir()?;
    let error = Repository::open(url(dir.path())?).err().ok_or("opened")?;
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert!(
        chain(&error).contains("is a directory"),
        "{}",
        chain(&error)
    );
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "nothing created");
    Ok(())
}

#[test]
fn opening_a_file_that_is_not_a_database_leaves_it_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("notes.txt");
    let text = "These are notes, not an SQLite database.\n".repeat(200);
    std::fs::write(&path, &text)?;
    let error = Repository::open(url(&path)?).err().ok_or("opened")?;
    // SQLite opens any file lazily and finds out at the first read, while the connection
    // is set up: the database cannot be opened.
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert!(
        chain(&error).contains("not a database"),
        "{}",
        chain(&error)
    );
    assert_eq!(
        std::fs::read_to_string(&path)?,
        text,
        "the file is unchanged"
    );
    Ok(())
}

/// Opens `file:PATH?mode=ro` (tests run as root, so file permissions would not stop a
/// write): reads work, every write fails with SQLite's "readonly" error, nothing changes.
fn read_only_database_reads_and_refuses_writes(path: &Path) -> TestResult {
    let before = checkpointed_bytes(path)?;
    let repo = Repository::open(&format!("file:{}?mode=ro", url(path)?))?;
    assert_eq!(repo.count_authors()?, 1);
    let author = repo.authors_by_name("Author 000001")?.remove(0);
    assert_eq!(repo.books_by_author(author.id)?.len(), 2);
    let writes = [
        repo.create_author(&NewAuthor::new("Writer")).map(drop),
        repo.rename_author(author.id, "Renamed").map(drop),
        repo.delete_author(author.id),
        repo.create_book(&NewBook::new(author.id, "New")).map(drop),
        repo.transaction(|tx| tx.create_author(&NewAuthor::new("Writer")).map(drop)),
    ];
    for write in writes {
        let error = write
            .err()
            .ok_or("a write succeeded on a read-only database")?;
        assert!(matches!(error, Error::Database(_)), "{error:?}");
        assert!(chain(&error).contains("readonly"), "{}", chain(&error));
    }
    drop(repo);
    assert_eq!(std::fs::read(path)?, before, "the file is unchanged");
    Ok(())
}

/// A database file with one author and two books, and no connection left open on it.
fn seeded_file() -> Result<(tempfile::TempDir, std::path::PathBuf), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    common::seed(&Repository::open(url(&path)?)?, 1, 2)?;
    Ok((dir, path))
}

#[test]
fn a_read_only_database_opens_reads_and_refuses_writes() -> TestResult {
    let (_dir, path) = seeded_file()?;
    read_only_database_reads_and_refuses_writes(&path)
}

/// The same for a database another tool created, still in SQLite's default rollback
/// journal: a read-only open cannot switch it to WAL, and must not need to.
#[test]
fn a_read_only_rollback_journal_database_opens_reads_and_refuses_writes() -> TestResult {
    let (_dir, path) = seeded_file()?;
    execute_when_unlocked(&mut raw(&path)?, "PRAGMA journal_mode = DELETE")?;
    read_only_database_reads_and_refuses_writes(&path)
}

backend_tests! {
    /// Opening fails with `MigrationError::Unknown` naming the version, with or without
    /// `run_migrations`, and nothing changes: on SQLite the file keeps its bytes; on
    /// PostgreSQL every row (the migration table's too) and the schema stay as they were.
    fn a_database_from_a_newer_build_is_refused_and_left_unchanged(
        backend: Backend
    ) -> TestResult {
        const NEWER: &str = "99991231000000";
        let db = TestDb::open_with(backend, small_pool)?;
        common::seed(&db.repo, 2, 2)?;
        db.execute_raw(&format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('{NEWER}')"
        ))?;
        // SQLite: the main file's bytes, with everything checkpointed into it first.
        let before = match backend {
            Backend::Sqlite => vec![format!("{:?}", checkpointed_bytes(&db.path())?)],
            Backend::Postgres | Backend::Mysql => dump(&db)?,
        };
        if backend != Backend::Sqlite {
            assert!(before.iter().any(|line| line.contains(NEWER)), "{before:?}");
        }
        for config in [db.config(), db.config().run_migrations(false)] {
            let error = config.open().err().ok_or("opened")?;
            assert!(chain(&error).contains(NEWER), "{}", chain(&error));
            match error {
                Error::Migration(MigrationError::Unknown { version }) => {
                    assert_eq!(version, NEWER)
                }
                other => {
                    return Err(format!("expected an unknown migration, got {other:?}").into())
                }
            }
            let after = match backend {
                // The bytes as they are now, without a checkpoint.
                Backend::Sqlite => vec![format!("{:?}", std::fs::read(db.path())?)],
                Backend::Postgres | Backend::Mysql => dump(&db)?,
            };
            assert_eq!(after, before, "the database is unchanged");
        }
        Ok(())
    }
}

backend_tests! {
    /// An error of each kind, after writes of each kind, in one transaction: the database
    /// is left exactly as it was, and the repository works on.
    fn a_failed_transaction_leaves_the_database_exactly_as_before(
        backend: Backend
    ) -> TestResult {
        let db = TestDb::open_with(backend, small_pool)?;
        let repo = &db.repo;
        let authors = common::seed(repo, 3, 2)?;
        let before = dump(&db)?;
        let (first, second) = (authors[0].id, authors[1].id);
        type Failure = fn(&mut Tx<'_>) -> bookshelf::Result<()>;
        type Expected = fn(&Error) -> bool;
        let failures: [(&str, Failure, Expected); 5] = [
            (
                "conflict",
                |tx| {
                    tx.create_book(&NewBook::new(AuthorId(1), "Title 000001-02"))
                        .map(drop)
                },
                |e| matches!(e, Error::Conflict { field: "title", .. }),
            ),
            (
                "validation",
                |tx| tx.create_author(&NewAuthor::new(" ")).map(drop),
                |e| matches!(e, Error::Validation { field: "name", .. }),
            ),
            (
                "not found",
                |tx| tx.delete_book(BookId(999_999)),
                |e| matches!(e, Error::NotFound(Missing::Book(BookId(999_999)))),
            ),
            (
                "bad row",
                |tx| tx.create_books(&[NewBook::new(AuthorId(1), "")]).map(drop),
                |e| matches!(e, Error::InvalidRow { index: 0, .. }),
            ),
            (
                "the closure's own",
                |_| {
                    Err(Error::NotFound(Missing::Book(BookId(0))))
                },
                |e| matches!(e, Error::NotFound(Missing::Book(BookId(0)))),
            ),
        ];
        for (kind, fail, expected) in failures {
            let result = repo.transaction(|tx| {
                let author = tx.create_author(&NewAuthor::new("Written, then undone"))?;
                tx.create_books(&[
                    NewBook::new(author.id, "Undone 1"),
                    NewBook::new(author.id, "Undone 2"),
                ])?;
                tx.rename_author(first, "Renamed, then undone")?;
                let book = tx.books_by_author(first)?.remove(0);
                tx.update_book(
                    book.id,
                    &BookChanges::new()
                        .isbn("0-441-17271-7")
                        .published_year(1965),
                )?;
                tx.delete_book(book.id)?;
                tx.delete_author(second)?; // and its books, by cascade
                fail(tx)
            });
            let error = result.err().ok_or(format!("the {kind} error was lost"))?;
            assert!(expected(&error), "{kind}: {error:?}");
            assert_eq!(dump(&db)?, before, "after a {kind} error");
            assert_eq!(repo.count_books()?, 6, "the repository works on");
        }
        Ok(())
    }
}
