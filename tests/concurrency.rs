//! Sharing a `Repository` between threads (on every backend), and in-memory databases
//! (SQLite's own).

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::mpsc;
use std::thread;

use bookshelf::{Config, NewAuthor, NewBook, Page, Repository};
use common::{backend_tests, Backend, TestDb, TestResult};

/// A pool of two connections, for the tests that make one call at a time: a small pool
/// keeps the PostgreSQL server's connection count (and the time to open one) low.
fn small_pool(config: Config) -> Config {
    config.max_size(2)
}

/// A database of its own on `backend`, with a pool of one connection per thread.
fn shared_db(backend: Backend) -> Result<TestDb, common::BoxError> {
    TestDb::open_with(backend, |config| config.max_size(THREADS as u32))
}

#[test]
fn repository_is_clone_send_sync_and_debug() {
    fn assert_traits<T: Clone + Send + Sync + Debug + 'static>() {}
    assert_traits::<Repository>();
}

backend_tests! {
    fn debug_names_the_backend(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, small_pool)?;
        let (name, other) = match backend {
            Backend::Sqlite => ("\"sqlite\"", "\"postgres\""),
            Backend::Postgres => ("\"postgres\"", "\"sqlite\""),
            Backend::Mysql => ("\"mysql\"", "\"sqlite\""),
        };
        let debug = format!("{:?}", db.repo);
        assert!(
            debug.contains("Repository") && debug.contains(name) && !debug.contains(other),
            "{debug}"
        );
        if backend == Backend::Sqlite {
            let debug = format!("{:?}", Repository::in_memory()?);
            assert!(
                debug.contains("Repository") && debug.contains(name),
                "{debug}"
            );
        }
        Ok(())
    }
}

#[test]
fn in_memory_repositories_are_isolated() -> TestResult {
    let first = Repository::in_memory()?;
    let second = Repository::in_memory()?;
    let third = Repository::open(":memory:")?;
    let author = first.create_author(&NewAuthor::new("Only in the first"))?;
    first.create_book(&NewBook::new(author.id, "Title"))?;
    second.create_author(&NewAuthor::new("Only in the second"))?;
    second.create_author(&NewAuthor::new("Also in the second"))?;

    assert_eq!(first.count_authors()?, 1);
    assert_eq!(second.count_authors()?, 2);
    assert_eq!(third.count_authors()?, 0);
    assert_eq!(second.count_books()?, 0);
    assert!(second.authors_by_name("Only in the first")?.is_empty());
    assert!(first.authors_by_name("Only in the second")?.is_empty());
    // A clone shares the database; a new repository does not.
    assert_eq!(first.clone().count_books()?, 1);
    assert_eq!(Repository::in_memory()?.count_books()?, 0);
    Ok(())
}

#[test]
fn an_in_memory_database_outlives_its_first_handle_while_a_clone_lives() -> TestResult {
    let repo = Repository::in_memory()?;
    let clone = repo.clone();
    repo.create_author(&NewAuthor::new("Kept"))?;
    drop(repo);
    assert_eq!(clone.count_authors()?, 1);
    Ok(())
}

/// An in-memory database has no WAL: while one connection holds a write transaction,
/// a read on another connection waits for it (within the busy timeout) and then sees
/// what it committed — the two connections share one database.
fn memory_connections_share_the_database(repo: &Repository) -> TestResult {
    repo.create_author(&NewAuthor::new("Committed"))?;
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let holder = {
        let repo = repo.clone();
        thread::spawn(move || -> bookshelf::Result<()> {
            repo.transaction(|tx| {
                tx.create_author(&NewAuthor::new("Written by the holder"))?;
                let _ = inside_tx.send(());
                thread::sleep(std::time::Duration::from_millis(100));
                Ok(())
            })
        })
    };
    inside_rx.recv()?;
    // Runs on another pooled connection while the holder's transaction is open.
    let names: Vec<String> = repo
        .list_authors(Page::all())?
        .into_iter()
        .map(|author| author.name)
        .collect();
    holder.join().map_err(|_| "holder thread panicked")??;
    assert_eq!(names, ["Committed", "Written by the holder"]);
    assert!(repo.stats().pool_connections >= 2);
    Ok(())
}

#[test]
fn open_memory_shares_one_database_between_pooled_connections() -> TestResult {
    memory_connections_share_the_database(&Repository::open(":memory:")?)
}

#[test]
fn in_memory_shares_one_database_between_pooled_connections() -> TestResult {
    memory_connections_share_the_database(&Repository::in_memory()?)
}

const THREADS: usize = 4;
const CREATES: usize = 200;

/// `THREADS` threads each create `CREATES` authors with a book each, on clones of one
/// repository; every call succeeds and nothing is lost or doubled.
fn threads_share_one_repository(repo: &Repository) -> TestResult {
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let repo = repo.clone();
            thread::spawn(move || -> bookshelf::Result<Vec<i64>> {
                let mut ids = Vec::with_capacity(CREATES);
                for n in 0..CREATES {
                    let author =
                        repo.create_author(&NewAuthor::new(format!("Author {thread}-{n:04}")))?;
                    repo.create_book(&NewBook::new(author.id, format!("Title {thread}-{n:04}")))?;
                    ids.push(author.id.0);
                }
                Ok(ids)
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for thread in threads {
        let created = thread.join().map_err(|_| "worker thread panicked")??;
        assert_eq!(created.len(), CREATES);
        ids.extend(created);
    }
    let total = THREADS * CREATES;
    assert_eq!(ids.len(), total, "every id is distinct");
    assert_eq!(usize::try_from(repo.count_authors()?)?, total);
    assert_eq!(usize::try_from(repo.count_books()?)?, total);
    let shelf = repo.authors_with_books(Page::all())?;
    assert_eq!(shelf.len(), total);
    for entry in &shelf {
        assert_eq!(entry.books.len(), 1, "{}", entry.author.name);
        let suffix = entry.author.name.trim_start_matches("Author ");
        assert_eq!(entry.books[0].title, format!("Title {suffix}"));
    }
    let names: BTreeSet<&str> = shelf.iter().map(|e| e.author.name.as_str()).collect();
    assert_eq!(names.len(), total);
    Ok(())
}

backend_tests! {
    fn threads_share_a_repository(backend: Backend) -> TestResult {
        threads_share_one_repository(&shared_db(backend)?.repo)
    }
}

#[test]
fn threads_share_an_in_memory_repository() -> TestResult {
    threads_share_one_repository(&Repository::in_memory()?)
}

backend_tests! {
    fn threads_run_transactions(backend: Backend) -> TestResult {
        let db = shared_db(backend)?;
        let repo = &db.repo;
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let repo = repo.clone();
                thread::spawn(move || -> bookshelf::Result<()> {
                    for n in 0..25 {
                        repo.transaction(|tx| -> bookshelf::Result<_> {
                            let before = tx.count_authors()?;
                            let author = tx
                                .create_author(&NewAuthor::new(format!("Author {thread}-{n}")))?;
                            tx.create_book(&NewBook::new(author.id, "Title"))?;
                            let after = tx.count_authors()?;
                            match backend {
                                // Read, then write: `BEGIN IMMEDIATE` holds the write lock,
                                // so the count must not move under this transaction.
                                Backend::Sqlite => assert_eq!(after, before + 1),
                                // READ COMMITTED: each statement sees what other threads
                                // committed meanwhile (nothing is deleted here), and always
                                // its own transaction's insert.
                                // REPEATABLE READ on MySQL: a plain read sees the
                                // transaction's snapshot (taken at its first read) and
                                // its own insert, so the count moves by exactly one.
                                Backend::Mysql => assert_eq!(after, before + 1),
                                Backend::Postgres => assert!(
                                    after > before && after <= (THREADS * 25) as i64,
                                    "before {before}, after {after}"
                                ),
                            }
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        for thread in threads {
            thread.join().map_err(|_| "worker thread panicked")??;
        }
        assert_eq!(repo.count_authors()?, 100);
        assert_eq!(repo.count_books()?, 100);
        Ok(())
    }
}

/// Batches each thread creates in [`concurrent_bulk_inserts_keep_each_batch_its_ids`].
const BULK_BATCHES: usize = 12;
/// Authors per batch (each with two books, created in bulk too).
const BULK_ROWS: usize = 250;

backend_tests! {
    /// Bulk inserts from several threads at once on one database: each batch's returned
    /// rows are exactly what is stored under their ids, name for name in input order,
    /// although (on PostgreSQL) concurrent batches draw their ids from one sequence and
    /// may interleave. Read back and compared row for row.
    fn concurrent_bulk_inserts_keep_each_batch_its_ids(backend: Backend) -> TestResult {
        let db = shared_db(backend)?;
        let repo = &db.repo;
        let start = std::sync::Barrier::new(THREADS);
        let (authors, books) = thread::scope(|scope| {
            let threads: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let start = &start;
                    scope.spawn(move || -> bookshelf::Result<_> {
                        let mut authors = Vec::new();
                        let mut books = Vec::new();
                        start.wait();
                        for batch in 0..BULK_BATCHES {
                            // Not in any sorted order, so a mapping by sorting cannot pass.
                            let input: Vec<NewAuthor> = (0..BULK_ROWS)
                                .map(|n| (n * 7919) % BULK_ROWS)
                                .map(|n| NewAuthor::new(format!("Author {thread}-{batch}-{n:04}")))
                                .collect();
                            let created = repo.create_authors(&input)?;
                            let names: Vec<&str> = created.iter().map(|a| a.name.as_str()).collect();
                            let expected: Vec<&str> = input.iter().map(|a| a.name.as_str()).collect();
                            assert_eq!(names, expected, "thread {thread} batch {batch}");
                            assert!(created.windows(2).all(|pair| pair[0].id < pair[1].id));
                            let new_books: Vec<NewBook> = created
                                .iter()
                                .rev()
                                .flat_map(|author| {
                                    let suffix = author.name.trim_start_matches("Author ");
                                    [1, 2].map(|j| NewBook::new(author.id, format!("Title {suffix}-{j}")))
                                })
                                .collect();
                            let stored = repo.create_books(&new_books)?;
                            assert_eq!(stored.len(), new_books.len());
                            for (new, book) in new_books.iter().zip(&stored) {
                                assert_eq!((book.author_id, &book.title), (new.author_id, &new.title));
                            }
                            assert!(stored.windows(2).all(|pair| pair[0].id < pair[1].id));
                            authors.extend(created);
                            books.extend(stored);
                        }
                        Ok((authors, books))
                    })
                })
                .collect();
            let mut authors = Vec::new();
            let mut books = Vec::new();
            for thread in threads {
                let (a, b) = thread.join().map_err(|_| "worker thread panicked")??;
                authors.extend(a);
                books.extend(b);
            }
            Ok::<_, common::BoxError>((authors, books))
        })?;
        let mut authors = authors;
        let mut books = books;
        authors.sort_by_key(|author| author.id);
        books.sort_by_key(|book| book.id);
        assert_eq!(authors.len(), THREADS * BULK_BATCHES * BULK_ROWS);
        // Every returned row, id, name and times, is the stored row of that id.
        same_rows("authors", &repo.list_authors(Page::all())?, &authors)?;
        same_rows("books", &repo.list_books(Page::all())?, &books)?;
        Ok(())
    }
}

/// MySQL/MariaDB: a bulk insert's ids follow the session's `auto_increment_increment`
/// and `auto_increment_offset` (multi-primary set-ups such as Galera give each server
/// its own step): every returned id steps by 3, and every returned row, id for id, is
/// the stored one.
#[cfg(feature = "mysql")]
#[test]
fn bulk_insert_ids_follow_the_sessions_auto_increment_step_on_mysql() -> TestResult {
    use diesel::connection::SimpleConnection;
    if common::mysql::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: bulk_insert_ids_follow_the_sessions_auto_increment_step_on_mysql is skipped",
            common::MYSQL_URL_VAR
        ));
        return Ok(());
    }
    // One pooled connection: the session setting below is the one every call meets.
    let db = TestDb::open_with(Backend::Mysql, |config| config.max_size(1))?;
    db.repo.with_connection(|raw| match raw {
        bookshelf::RawConnection::Mysql(conn) => conn
            .batch_execute("SET SESSION auto_increment_increment = 3, auto_increment_offset = 2"),
        _ => Err(diesel::result::Error::NotFound),
    })?;
    let input: Vec<NewAuthor> = (0..40)
        .map(|n| NewAuthor::new(format!("Stepped {n:02}")))
        .collect();
    let authors = db.repo.create_authors(&input)?;
    let new_books: Vec<NewBook> = authors
        .iter()
        .map(|author| NewBook::new(author.id, format!("Book of {}", author.name)))
        .collect();
    let books = db.repo.create_books(&new_books)?;
    assert!(
        authors
            .windows(2)
            .all(|pair| pair[1].id.0 - pair[0].id.0 == 3),
        "{:?}",
        authors.iter().map(|a| a.id.0).collect::<Vec<_>>()
    );
    assert!(books
        .windows(2)
        .all(|pair| pair[1].id.0 - pair[0].id.0 == 3));
    same_rows("authors", &db.repo.list_authors(Page::all())?, &authors)?;
    same_rows("books", &db.repo.list_books(Page::all())?, &books)?;
    Ok(())
}

/// MySQL/MariaDB: how a bulk insert learns its ids follows the server's
/// `innodb_autoinc_lock_mode`. In modes 0 and 1 a multi-row `INSERT` gets consecutive
/// ids, so 30 rows take as many statements as 10; in mode 2 (interleaved, MySQL 8's
/// default) nothing is promised, so each row is a statement of its own (its `INSERT`
/// and its `LAST_INSERT_ID()`). CI runs this on a server of each kind.
#[cfg(feature = "mysql")]
#[test]
fn bulk_inserts_follow_the_servers_auto_increment_lock_mode_on_mysql() -> TestResult {
    if common::mysql::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: bulk_inserts_follow_the_servers_auto_increment_lock_mode_on_mysql is skipped",
            common::MYSQL_URL_VAR
        ));
        return Ok(());
    }
    let db = TestDb::open(Backend::Mysql)?;
    let mode = db.query_i64("SELECT CAST(@@innodb_autoinc_lock_mode AS SIGNED) AS n")?;
    let statements_for = |rows: usize| -> Result<(u64, u64), common::BoxError> {
        let input: Vec<NewAuthor> = (0..rows)
            .map(|n| NewAuthor::new(format!("Mode {rows}-{n:02}")))
            .collect();
        let before = db.repo.stats().statements;
        let authors = db.repo.create_authors(&input)?;
        let after_authors = db.repo.stats().statements;
        let new_books: Vec<NewBook> = authors
            .iter()
            .map(|author| NewBook::new(author.id, format!("Book of {}", author.name)))
            .collect();
        db.repo.create_books(&new_books)?;
        Ok((
            after_authors - before,
            db.repo.stats().statements - after_authors,
        ))
    };
    let (authors_10, books_10) = statements_for(10)?;
    let (authors_30, books_30) = statements_for(30)?;
    println!("innodb_autoinc_lock_mode = {mode}: 10 rows {authors_10}/{books_10} statements, 30 rows {authors_30}/{books_30}");
    if mode == 2 {
        assert_eq!(
            authors_30 - authors_10,
            2 * 20,
            "authors: two statements a row"
        );
        assert_eq!(books_30 - books_10, 2 * 20, "books: two statements a row");
    } else {
        assert_eq!(authors_30, authors_10, "authors: one multi-row statement");
        assert_eq!(books_30, books_10, "books: one multi-row statement");
    }
    assert_eq!((db.repo.count_authors()?, db.repo.count_books()?), (40, 40));
    Ok(())
}

/// Fails naming the first row where `stored` and `returned` differ (not printing
/// thousands of rows).
fn same_rows<T: PartialEq + Debug>(what: &str, stored: &[T], returned: &[T]) -> TestResult {
    if let Some(at) = (0..stored.len().min(returned.len())).find(|&i| stored[i] != returned[i]) {
        return Err(format!(
            "{what}: stored row {at} is {:?}, the bulk insert returned {:?}",
            stored[at], returned[at]
        )
        .into());
    }
    if stored.len() != returned.len() {
        return Err(format!(
            "{what}: {} stored, {} returned",
            stored.len(),
            returned.len()
        )
        .into());
    }
    Ok(())
}
