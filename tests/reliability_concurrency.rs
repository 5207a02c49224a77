//! Reliability under concurrency, on an SQLite file and on PostgreSQL: many writers at
//! once, readers and writers mixed for a bounded time, and read-then-write transactions
//! under contention. Every call must return `Ok` (no `database is locked` or lock timeout
//! may surface), and what readers see must always be whole transactions.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bookshelf::{AuthorId, BookFilter, Error, NewAuthor, NewBook, Page, Repository};
use common::{backend_tests, Backend, BoxError, TestDb, TestResult};

/// A repository with a pool of `max_size` connections on a new database of `backend`.
fn shared_db(backend: Backend, max_size: u32) -> Result<TestDb, BoxError> {
    TestDb::open_with(backend, |config| config.max_size(max_size))
}

/// Joins every thread, turning a panic into an error.
fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Result<Vec<T>, BoxError> {
    handles
        .into_iter()
        .map(|handle| handle.join().map_err(|_| "a worker thread panicked".into()))
        .collect()
}

/// SplitMix64: a small seeded generator, so that readers probe ids in a reproducible way.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `1..=max` (`max` at least 1).
    fn up_to(&mut self, max: i64) -> i64 {
        let max = u64::try_from(max.max(1)).unwrap_or(1);
        i64::try_from(self.next() % max + 1).unwrap_or(1)
    }
}

const WRITERS: usize = 8;
/// Books per writer thread: 2,000 on SQLite; 300 on PostgreSQL, where every commit is a
/// few round trips and a WAL flush on the server (16,000 took 6 s there, four times
/// SQLite's time), so that the test takes about as long on either.
fn books_per_writer(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 2_000,
        Backend::Postgres | Backend::Mysql => 300,
    }
}

backend_tests! {
    /// 8 threads × 2,000 books (× 300 on PostgreSQL), each book its own transaction: the
    /// even threads commit an explicit `repo.transaction` (`BEGIN IMMEDIATE` on SQLite),
    /// the odd ones a plain `create_book` in autocommit, so both write paths are under
    /// contention at once.
    fn eight_threads_insert_thousands_of_books_one_per_transaction(
        backend: Backend
    ) -> TestResult {
        let db = shared_db(backend, 8)?;
        let repo = &db.repo;
        let books_per_writer = books_per_writer(backend);
        let author = repo.create_author(&NewAuthor::new("Author 000001"))?;
        let start = Arc::new(Barrier::new(WRITERS));
        let handles: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (repo, start) = (repo.clone(), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let mut failures = Vec::new();
                    for n in 0..books_per_writer {
                        let book = NewBook::new(author.id, format!("Title {writer}-{n:04}"));
                        let result = if writer % 2 == 0 {
                            repo.transaction(|tx| tx.create_book(&book))
                        } else {
                            repo.create_book(&book)
                        };
                        if let Err(error) = result {
                            failures.push(format!("{}: {error:?}", book.title));
                        }
                    }
                    failures
                })
            })
            .collect();
        let failures: Vec<String> = join_all(handles)?.into_iter().flatten().collect();
        let locked = (failures.iter())
            .filter(|f| f.contains("locked") || f.contains("lock timeout"))
            .count();
        assert!(
            failures.is_empty(),
            "{} calls failed ({locked} with `database is locked` or a lock timeout), first: {:?}",
            failures.len(),
            failures.first()
        );

        let total = WRITERS * books_per_writer;
        println!("{backend:?}: {WRITERS} threads committed {total} books, one per transaction");
        assert_eq!(usize::try_from(repo.count_books()?)?, total);
        let stored: BTreeSet<String> = repo
            .books_by_author(author.id)?
            .into_iter()
            .map(|book| book.title)
            .collect();
        let expected: BTreeSet<String> = (0..WRITERS)
            .flat_map(|w| (0..books_per_writer).map(move |n| format!("Title {w}-{n:04}")))
            .collect();
        assert_eq!(stored, expected, "every book exactly once");
        Ok(())
    }
}

const MIXED_LOAD: Duration = Duration::from_secs(5);
const BOOKS_PER_AUTHOR: usize = 5;

/// What a writer did, to check the final counts against.
#[derive(Debug, Default)]
struct WriterReport {
    created: usize,
    deleted: usize,
    live: Vec<AuthorId>,
}

/// Writes until `stop`: each round creates an author and its books in one transaction,
/// renames the author, and deletes every third author it created.
fn writer(
    repo: &Repository,
    w: usize,
    stop: &AtomicBool,
    top: &AtomicI64,
) -> bookshelf::Result<WriterReport> {
    let mut report = WriterReport::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let name = format!("Author w{w}-{n:05}");
        let author = repo.transaction(|tx| -> bookshelf::Result<_> {
            let author = tx.create_author(&NewAuthor::new(name.as_str()))?;
            let books: Vec<NewBook> = (1..=BOOKS_PER_AUTHOR)
                .map(|k| NewBook::new(author.id, format!("Title w{w}-{n:05}-{k:02}")))
                .collect();
            tx.create_books(&books)?;
            Ok(author)
        })?;
        report.created += 1;
        top.fetch_max(author.id.0, Ordering::Relaxed);
        repo.rename_author(author.id, &format!("{name} renamed"))?;
        if n % 3 == 0 {
            repo.delete_author(author.id)?;
            report.deleted += 1;
        } else {
            report.live.push(author.id);
        }
    }
    Ok(report)
}

/// Reads until `stop`, probing ids up to a little past the newest committed one (so
/// that ids being written right now are probed too). Returns (checks, violations).
fn reader(
    repo: &Repository,
    seed: u64,
    stop: &AtomicBool,
    top: &AtomicI64,
) -> bookshelf::Result<(u64, Vec<String>)> {
    let mut rng = SplitMix(seed);
    let (mut checks, mut violations) = (0, Vec::new());
    let whole = |n: usize| n == 0 || n == BOOKS_PER_AUTHOR;
    while !stop.load(Ordering::Relaxed) {
        let id = AuthorId(rng.up_to(top.load(Ordering::Relaxed) + 4));
        if let Some(author) = repo.author(id)? {
            // The writer's number, without the rename suffix.
            let tag = author.name.trim_start_matches("Author ");
            let tag = tag.trim_end_matches(" renamed");
            let titled = repo.search_books(&BookFilter::new().title_contains(format!("{tag}-")))?;
            if !whole(titled.len()) {
                violations.push(format!("search {tag}: {} books", titled.len()));
            }
        }
        let books = repo.books_by_author(id)?.len();
        if !whole(books) {
            violations.push(format!("books_by_author({id}): {books} books"));
        }
        let by_filter = repo.search_books(&BookFilter::new().author(id))?.len();
        if !whole(by_filter) {
            violations.push(format!("search author {id}: {by_filter} books"));
        }
        let page = repo.authors_with_books(Page::after(AuthorId(id.0 - 1), 20))?;
        for entry in page.iter().filter(|e| e.books.len() != BOOKS_PER_AUTHOR) {
            let (name, books) = (&entry.author.name, entry.books.len());
            violations.push(format!("authors_with_books: {name} with {books} books"));
        }
        checks += 4;
    }
    Ok((checks, violations))
}

backend_tests! {
    /// 4 writers and 4 readers for five seconds on one repository.
    fn mixed_readers_and_writers_see_only_whole_transactions(backend: Backend) -> TestResult {
        let db = shared_db(backend, 10)?;
        mixed_load(&db.repo, &format!("{backend:?}"), MIXED_LOAD)
    }
}

/// The mixed load on a file held with `Config::process_exclusive`, where the WAL index
/// lives in the process's memory instead of the `-shm` file: readers still see only
/// whole transactions.
#[test]
fn mixed_load_on_a_process_exclusive_file() -> TestResult {
    let db = TestDb::open_with(Backend::Sqlite, |config| {
        config.max_size(10).process_exclusive(true)
    })?;
    mixed_load(
        &db.repo,
        "Sqlite (process_exclusive)",
        Duration::from_secs(2),
    )
}

/// 4 writers and 4 readers on `repo` for `duration`; then every reader's view and the
/// final state are checked against what the writers report.
fn mixed_load(repo: &Repository, label: &str, duration: Duration) -> TestResult {
    let stop = Arc::new(AtomicBool::new(false));
    let top = Arc::new(AtomicI64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (repo, stop, top) = (repo.clone(), Arc::clone(&stop), Arc::clone(&top));
            thread::spawn(move || writer(&repo, w, &stop, &top))
        })
        .collect();
    let readers: Vec<_> = (0..4u64)
        .map(|r| {
            let (repo, stop, top) = (repo.clone(), Arc::clone(&stop), Arc::clone(&top));
            thread::spawn(move || reader(&repo, 0x5EED + r, &stop, &top))
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < duration {
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let reports = join_all(writers)?
        .into_iter()
        .collect::<bookshelf::Result<Vec<WriterReport>>>()?;
    let mut checks = 0;
    for result in join_all(readers)? {
        let (done, violations) = result?;
        assert!(violations.is_empty(), "a reader saw: {violations:?}");
        assert!(done > 0, "a reader never ran");
        checks += done;
    }
    let created: usize = reports.iter().map(|r| r.created).sum();
    let deleted: usize = reports.iter().map(|r| r.deleted).sum();
    println!(
        "{label} mixed load: {created} authors created, {deleted} deleted, \
         {checks} reader checks"
    );
    assert!(created > 0 && deleted > 0);

    let live: BTreeSet<AuthorId> = reports.iter().flat_map(|r| r.live.clone()).collect();
    assert_eq!(usize::try_from(repo.count_authors()?)?, created - deleted);
    assert_eq!(
        usize::try_from(repo.count_books()?)?,
        (created - deleted) * BOOKS_PER_AUTHOR
    );
    let shelf = repo.authors_with_books(Page::all())?;
    let stored: BTreeSet<AuthorId> = shelf.iter().map(|e| e.author.id).collect();
    assert_eq!(stored, live);
    for entry in &shelf {
        assert_eq!(entry.books.len(), BOOKS_PER_AUTHOR, "{}", entry.author.name);
        assert!(
            entry.author.name.ends_with(" renamed"),
            "{}",
            entry.author.name
        );
    }
    Ok(())
}

const CONTENDERS: usize = 6;

/// Transactions per contender: 150 on SQLite; 50 on PostgreSQL, where two in three
/// attempts meet a conflict and are retried after waiting for the other's commit (150
/// rounds took 2 s there, fifteen times SQLite's time).
fn rounds(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 150,
        Backend::Postgres | Backend::Mysql => 50,
    }
}

backend_tests! {
    /// Each transaction counts the books, then inserts a book titled with that count.
    /// Titles are unique per author, so two transactions that read the same count (a lost
    /// update) would collide. On SQLite, `BEGIN IMMEDIATE` makes them take turns: every
    /// one must succeed at the first attempt. On PostgreSQL writes run at READ COMMITTED,
    /// side by side (as documented), and on MySQL at REPEATABLE READ, whose reads take
    /// no locks either, so two of them may read the same count: the unique
    /// index must then refuse the second with `Conflict { field: "title" }` (never commit
    /// a duplicate or leave a gap), and retrying it must succeed. Either way every
    /// transaction commits in the end, and the titles are exactly 0..total.
    fn read_then_write_transactions_succeed_under_contention(backend: Backend) -> TestResult {
        let db = shared_db(backend, CONTENDERS as u32)?;
        let repo = &db.repo;
        let rounds = rounds(backend);
        let author = repo.create_author(&NewAuthor::new("Author 000001"))?;
        let start = Arc::new(Barrier::new(CONTENDERS));
        let handles: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                let (repo, start) = (repo.clone(), Arc::clone(&start));
                thread::spawn(move || -> bookshelf::Result<usize> {
                    start.wait();
                    let mut retries = 0;
                    for _ in 0..rounds {
                        loop {
                            let result = repo.transaction(|tx| {
                                let count = tx.count_books()?;
                                // Widens the window between the read and the write.
                                thread::yield_now();
                                tx.create_book(&NewBook::new(
                                    author.id,
                                    format!("Book {count:05}"),
                                ))?;
                                Ok(())
                            });
                            match result {
                                Ok(()) => break,
                                Err(Error::Conflict { field: "title", .. })
                                    if backend != Backend::Sqlite =>
                                {
                                    retries += 1;
                                }
                                Err(error) => return Err(error),
                            }
                        }
                    }
                    Ok(retries)
                })
            })
            .collect();
        let mut retries = 0;
        for result in join_all(handles)? {
            retries += result?;
        }
        let total = CONTENDERS * rounds;
        println!(
            "{backend:?} read-then-write: {total} transactions, \
             {retries} retried after a conflict"
        );
        let titles: Vec<String> = repo
            .books_by_author(author.id)?
            .into_iter()
            .map(|book| book.title)
            .collect();
        let expected: Vec<String> = (0..total).map(|n| format!("Book {n:05}")).collect();
        assert_eq!(titles, expected);
        Ok(())
    }
}

/// A database another tool created keeps SQLite's default rollback journal until a
/// repository opens it and switches it to WAL; so is a new file while the first of
/// several processes is migrating it. Another connection holding the write lock at that
/// moment must make `open` wait (within the busy timeout), not fail.
#[test]
fn open_waits_for_another_writer_before_switching_to_wal() -> TestResult {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let url = path
        .to_str()
        .ok_or("temporary path is not UTF-8")?
        .to_owned();
    drop(Repository::open(&url)?);
    let mut other = SqliteConnection::establish(&url)?;
    // The dropped repository's pool may still be closing its connections on an r2d2
    // thread, and a journal mode change does not wait through the busy handler: retry.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while let Err(error) = other.batch_execute("PRAGMA journal_mode = DELETE") {
        if !error.to_string().contains("locked") || std::time::Instant::now() >= deadline {
            return Err(error.into());
        }
        thread::sleep(Duration::from_millis(5));
    }
    other.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE;")?;
    let holder = thread::spawn(move || -> diesel::QueryResult<()> {
        thread::sleep(Duration::from_millis(300));
        other.batch_execute("COMMIT")
    });
    let opened = Repository::open(&url);
    holder.join().map_err(|_| "the lock holder panicked")??;
    let repo = opened?;
    assert_eq!(repo.count_authors()?, 0);
    Ok(())
}
