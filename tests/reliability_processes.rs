//! Reliability across processes: four processes opening one new database at once (an
//! SQLite file, and a database on each configured server), a writer killed with SIGKILL at random moments, and a process killed while it applies
//! migrations. The test binary re-runs itself as the child process: the parent starts
//! `current_exe() --exact child_process_entry`, and that test does the child's work when
//! `BOOKSHELF_CHILD_MODE` is set (and returns at once in a normal run).

#[path = "reliability_processes/checks.rs"]
mod checks;
#[path = "reliability_processes/child.rs"]
mod child;
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use bookshelf::{Config, NewAuthor, NewBook, Page, Repository};
use checks::{assert_sound, fingerprint, first_schema, full_schema, once, raw, schema};
use checks::{versions, write_locked};
use child::{say, ChildProcess, SplitMix};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use common::Backend;
use common::TestResult;

const CHILD_TEST: &str = "child_process_entry";
const MODE_VAR: &str = "BOOKSHELF_CHILD_MODE";
const DB_VAR: &str = "BOOKSHELF_CHILD_DB";
const SIGNAL_VAR: &str = "BOOKSHELF_CHILD_SIGNAL";
const FIRST: &str = "20261124000001";
const SECOND: &str = "20261124000002";
const THIRD: &str = "20261202000003";
const WAIT: Duration = Duration::from_secs(60);

/// The child process's work, chosen by `BOOKSHELF_CHILD_MODE`.
#[test]
fn child_process_entry() -> TestResult {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return Ok(());
    };
    let db = std::env::var(DB_VAR)?;
    match mode.as_str() {
        "open" => {
            let signal = std::env::var(SIGNAL_VAR)?;
            say("ready")?;
            let deadline = Instant::now() + WAIT;
            while !Path::new(&signal).exists() && Instant::now() < deadline {
                thread::sleep(Duration::from_micros(200));
            }
            Repository::open(&db)?;
            say("opened")
        }
        "write" | "write-exclusive" => {
            let repo = Config::new(&db)
                .process_exclusive(mode == "write-exclusive")
                .open()?;
            let mut batch = repo.count_authors()? + 1;
            // Bounded, in case the parent is gone and nobody kills this process.
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                repo.transaction(|tx| -> bookshelf::Result<_> {
                    let author = tx.create_author(&NewAuthor::new(format!("Batch {batch:06}")))?;
                    for k in 1..=BOOKS_PER_BATCH {
                        let title = format!("Batch {batch:06} book {k:02}");
                        tx.create_book(&NewBook::new(author.id, title))?;
                    }
                    Ok(())
                })?;
                say(&format!("committed {batch}"))?;
                batch += 1;
            }
            Ok(())
        }
        "migrate" => {
            say("opening")?;
            Repository::open(&db)?;
            say("opened")
        }
        "count" => {
            // Reports what another process gets when it opens the database and reads.
            let counted = Config::new(&db)
                .busy_timeout(Duration::from_millis(200))
                .open()
                .and_then(|repo| repo.count_authors());
            match counted {
                Ok(count) => say(&format!("counted {count}")),
                Err(error) => say(&format!("refused {} {error}", error.is_busy())),
            }
        }
        other => Err(format!("unknown child mode {other:?}").into()),
    }
}

const OPEN_ROUNDS: usize = 20;

#[test]
fn four_processes_open_one_new_database_at_once() -> TestResult {
    for round in 0..OPEN_ROUNDS {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("bookshelf.db");
        four_processes_open(&db, &dir.path().join("go"), round)?;
        assert_eq!(
            versions(&db)?,
            once(&[FIRST, SECOND, THIRD]),
            "round {round}"
        );
        assert_eq!(schema(&db)?, full_schema(), "round {round}");
        assert_sound(&db)?;
    }
    Ok(())
}

/// Rounds of [`processes_open_one_new_server_database_at_once`]: each starts four
/// processes and makes a database on the server.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const SERVER_OPEN_ROUNDS: usize = 10;

/// The same race on a PostgreSQL server: the migration lock is a transaction-scoped
/// advisory lock, and the whole migration one transaction.
#[cfg(feature = "postgres")]
#[test]
fn four_processes_open_one_new_postgres_database_at_once() -> TestResult {
    if common::postgres::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: the PostgreSQL run of four_processes_open_one_new_postgres_database_at_once is skipped",
            common::POSTGRES_URL_VAR
        ));
        return Ok(());
    }
    processes_open_one_new_server_database_at_once(Backend::Postgres)
}

/// The same race on a MySQL/MariaDB server, whose DDL commits itself, so that no
/// transaction can make the migration atomic: the processes take turns by the
/// session-scoped named lock (`GET_LOCK`), and each after the first finds nothing pending.
#[cfg(feature = "mysql")]
#[test]
fn four_processes_open_one_new_mysql_database_at_once() -> TestResult {
    if common::mysql::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: the MySQL run of four_processes_open_one_new_mysql_database_at_once is skipped",
            common::MYSQL_URL_VAR
        ));
        return Ok(());
    }
    processes_open_one_new_server_database_at_once(Backend::Mysql)
}

/// Four processes, released at once, open one new, empty database on `backend`'s
/// server, [`SERVER_OPEN_ROUNDS`] times: every process opens it, every migration is
/// applied once, and a repository opened afterwards finds nothing pending.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn processes_open_one_new_server_database_at_once(backend: Backend) -> TestResult {
    for round in 0..SERVER_OPEN_ROUNDS {
        // A database of its own, dropped at the end of the round; nothing is migrated
        // (the one repository held on it opens without running migrations).
        let db =
            common::TestDb::open_with(backend, |config| config.run_migrations(false).max_size(1))?;
        assert_eq!(db.repo.pending_migrations()?.len(), 3, "round {round}");
        let signal_dir = tempfile::tempdir()?;
        four_processes_open(Path::new(db.url()), &signal_dir.path().join("go"), round)?;
        assert_eq!(
            db.query_i64("SELECT count(*) AS n FROM __diesel_schema_migrations")?,
            3,
            "round {round}: each migration recorded once"
        );
        let repo = db.config().run_migrations(false).open()?;
        assert_eq!(repo.applied_migrations()?, [FIRST, SECOND, THIRD]);
        assert!(repo.pending_migrations()?.is_empty(), "round {round}");
        let author = repo.create_author(&NewAuthor::new("After the race"))?;
        repo.create_book(&NewBook::new(author.id, "A book"))?;
        assert_eq!(repo.count_books()?, 1, "round {round}: the schema works");
    }
    Ok(())
}

/// Starts four processes that open `db` (a file or a server URL) once `go` exists,
/// releases them together, and fails unless every one opened it.
fn four_processes_open(db: &Path, go: &Path, round: usize) -> TestResult {
    let mut children = (0..4)
        .map(|_| ChildProcess::spawn("open", db, Some(go)))
        .collect::<Result<Vec<_>, _>>()?;
    for child in &mut children {
        child.wait_for("ready")?;
    }
    std::fs::write(go, b"go")?;
    for child in &mut children {
        let (status, messages) = child.finish()?;
        assert!(
            status.success() && messages.iter().any(|m| m == "opened"),
            "round {round}: a child failed to open: {status}\n{}",
            child.stderr()
        );
    }
    Ok(())
}

const KILLS: usize = 20;
const BOOKS_PER_BATCH: usize = 10;

#[test]
fn a_writer_killed_at_random_moments_loses_no_committed_batch() -> TestResult {
    kill_a_writer_repeatedly("write")
}

/// The same with the writer holding the file `process_exclusive`: its WAL index lived
/// in its memory and dies with it; the next open rebuilds it from the WAL file.
#[test]
fn a_process_exclusive_writer_killed_at_random_moments_loses_no_committed_batch() -> TestResult {
    kill_a_writer_repeatedly("write-exclusive")
}

/// Kills a child running `mode` (a writer of batches) at random moments, [`KILLS`]
/// times, and checks after each kill that every reported batch is stored, whole.
fn kill_a_writer_repeatedly(mode: &str) -> TestResult {
    let mut rng = SplitMix::from_env();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bookshelf.db");
    let url = db.to_str().ok_or("path is not UTF-8")?;
    drop(Repository::open(url)?);
    let mut reported = BTreeSet::new();
    for kill in 1..=KILLS {
        let mut child = ChildProcess::spawn(mode, &db, None)?;
        child.wait_for("committed")?;
        thread::sleep(rng.millis_up_to(150));
        child.assert_running()?;
        for message in child.kill()? {
            if let Some(batch) = message.strip_prefix("committed ") {
                reported.insert(batch.parse::<i64>()?);
            }
        }

        let repo = Repository::open(url)?;
        assert_sound(&db)?;
        let shelf = repo.authors_with_books(Page::all())?;
        for (position, entry) in (1..).zip(&shelf) {
            let name = format!("Batch {position:06}");
            assert_eq!(
                entry.author.name, name,
                "kill {kill}: batches are contiguous"
            );
            let titles: Vec<String> = entry.books.iter().map(|b| b.title.clone()).collect();
            let expected: Vec<String> = (1..=BOOKS_PER_BATCH)
                .map(|k| format!("{name} book {k:02}"))
                .collect();
            assert_eq!(titles, expected, "kill {kill}: {name} is whole");
        }
        let stored = i64::try_from(shelf.len())?;
        assert_eq!(repo.count_books()?, stored * BOOKS_PER_BATCH as i64);
        let newest_reported = reported.last().copied().unwrap_or(0);
        assert!(
            newest_reported <= stored,
            "kill {kill}: batch {newest_reported} was reported committed, only {stored} stored"
        );
    }
    println!(
        "{mode}: {KILLS} kills survived, {} batches reported committed, all present",
        reported.len()
    );
    Ok(())
}

const MIGRATION_KILLS: usize = 4;
const MIGRATION_ATTEMPTS: usize = 12;

#[test]
fn a_process_killed_while_migrating_leaves_a_database_the_next_open_finishes() -> TestResult {
    let mut rng = SplitMix::from_env();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bookshelf.db");
    let url = db.to_str().ok_or("path is not UTF-8")?;
    let repo = Repository::open(url)?;
    repo.revert_last_migration()?;
    repo.revert_last_migration()?;
    drop(repo);
    // Enough rows that migrations 2 and 3 (their ALTERs, table copies and CREATE
    // INDEXes, applied in one transaction) take a while.
    let filling = Instant::now();
    diesel::connection::SimpleConnection::batch_execute(
        &mut raw(&db)?,
        "BEGIN; \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
         INSERT INTO authors (id, name) SELECT i, printf('Author %06d', i) FROM n; \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) \
         INSERT INTO books (title, author_id) \
         SELECT printf('Title %06d', i), 1 + i % 3000 FROM n; \
         COMMIT;",
    )?;
    // Migration 2 takes about as long as the fill: kill within the first three quarters.
    let max_delay = u64::try_from(filling.elapsed().as_millis() * 3 / 4)?.clamp(50, 3_000);
    let rows = fingerprint(&db)?;

    let (mut interrupted, mut attempts) = (0, 0);
    while interrupted < MIGRATION_KILLS && attempts < MIGRATION_ATTEMPTS {
        attempts += 1;
        let mut probe = raw(&db)?;
        let mut child = ChildProcess::spawn("migrate", &db, None)?;
        child.wait_for("opening")?;
        thread::sleep(rng.millis_up_to(max_delay));
        let migrating = write_locked(&mut probe)?;
        child.kill()?;
        drop(probe);

        assert_sound(&db)?;
        assert_eq!(
            fingerprint(&db)?,
            rows,
            "attempt {attempts}: rows unchanged"
        );
        if versions(&db)? == once(&[FIRST]) {
            assert_eq!(
                schema(&db)?,
                first_schema(),
                "attempt {attempts}: half applied"
            );
            interrupted += usize::from(migrating);
        } else {
            // The child got through before the kill: check, then go back and try again.
            assert_eq!(versions(&db)?, once(&[FIRST, SECOND, THIRD]));
            assert_eq!(schema(&db)?, full_schema());
            let repo = bookshelf::Config::new(url).run_migrations(false).open()?;
            repo.revert_last_migration()?;
            repo.revert_last_migration()?;
        }
    }
    println!("{interrupted} kills during migrations 2 and 3 in {attempts} attempts");
    assert_eq!(
        interrupted, MIGRATION_KILLS,
        "too few kills hit the migration"
    );

    let repo = Repository::open(url)?;
    assert_eq!(repo.applied_migrations()?, [FIRST, SECOND, THIRD]);
    assert_eq!(versions(&db)?, once(&[FIRST, SECOND, THIRD]));
    assert_eq!(schema(&db)?, full_schema());
    assert_sound(&db)?;
    assert_eq!(fingerprint(&db)?, rows);
    assert_eq!(repo.count_books()?, 300_000);
    Ok(())
}

/// `Config::process_exclusive`: while this process holds the database, another process
/// can neither open nor read it (it waits out its busy timeout and gets a busy error);
/// once the repository is dropped, the other process reads everything that was written.
#[test]
fn a_process_exclusive_database_is_closed_to_other_processes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("exclusive.db");
    let path = db.to_str().ok_or("temporary path is not UTF-8")?;
    let repo = Config::new(path).process_exclusive(true).open()?;
    repo.create_authors(&[NewAuthor::new("Kept"), NewAuthor::new("Also kept")])?;
    // Connections of this process share it as usual.
    let clone = repo.clone();
    let counted = thread::spawn(move || clone.count_authors())
        .join()
        .map_err(|_| "reader thread panicked")??;
    assert_eq!(counted, 2);

    let mut child = ChildProcess::spawn("count", &db, None)?;
    let (status, lines) = child.finish()?;
    assert!(status.success(), "{lines:?}");
    assert!(
        lines.iter().any(|line| line.starts_with("refused true")),
        "another process got in: {lines:?}"
    );

    drop(repo);
    let mut child = ChildProcess::spawn("count", &db, None)?;
    let (status, lines) = child.finish()?;
    assert!(status.success(), "{lines:?}");
    assert_eq!(lines, ["counted 2"]);
    Ok(())
}
