//! Closing means closed: once the last clone of a repository is dropped, or `close`
//! returns, every connection is closed, so SQLite has removed the `-wal` and `-shm`
//! files and another connection can lock the file at once. And the WAL is bounded: once
//! a long reader has let it grow, it shrinks back to `journal_size_limit`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bookshelf::{Config, NewAuthor, Repository};
use common::{BoxError, TestResult};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// How many opens and closes the race test repeats: the connections used to close on
/// r2d2's threads some milliseconds after the drop, so one try in a few dozen showed it.
const ROUNDS: usize = 200;

/// The journal size limit the crate sets (see the crate docs' "SQLite settings").
const JOURNAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn url(path: &Path) -> Result<&str, BoxError> {
    Ok(path.to_str().ok_or("temporary path is not UTF-8")?)
}

/// Checks that nothing holds the file: no `-wal` or `-shm` left, and a new connection
/// takes an exclusive lock without waiting (busy timeout 0).
fn nothing_holds(path: &Path, round: usize) -> TestResult {
    for suffix in ["-wal", "-shm"] {
        if side_file(path, suffix).exists() {
            return Err(format!("round {round}: {suffix} still there after closing").into());
        }
    }
    let mut conn = diesel::SqliteConnection::establish(url(path)?)?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT",
    )
    .map_err(|error| format!("round {round}: the file is still locked: {error}"))?;
    Ok(())
}

#[test]
fn after_the_last_drop_or_close_every_connection_is_closed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    for round in 0..ROUNDS {
        let repo = Repository::open(url(&path)?)?;
        repo.create_author(&NewAuthor::new(format!("Author {round:06}")))?;
        if round % 2 == 0 {
            drop(repo);
        } else {
            repo.close().map_err(|_| "a clone is alive")?;
        }
        nothing_holds(&path, round)?;
    }
    assert_eq!(
        Repository::open(url(&path)?)?.count_authors()?,
        ROUNDS as i64
    );
    Ok(())
}

#[test]
fn the_last_clone_closes_wherever_it_is_dropped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    for round in 0..100 {
        let repo = Repository::open(url(&path)?)?;
        let (done, finished) = mpsc::channel();
        let workers: Vec<_> = (0..3)
            .map(|n| {
                let (repo, done) = (repo.clone(), done.clone());
                thread::spawn(move || {
                    let created =
                        repo.create_author(&NewAuthor::new(format!("Worker {round}-{n}")));
                    let _ = done.send(created.map(drop));
                })
            })
            .collect();
        drop(repo);
        for _ in 0..3 {
            finished.recv_timeout(Duration::from_secs(20))??;
        }
        for worker in workers {
            worker.join().map_err(|_| "a worker panicked")?;
        }
        nothing_holds(&path, round)?;
    }
    Ok(())
}

#[test]
fn close_with_a_clone_alive_closes_nothing_and_gives_the_handle_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let repo = Repository::open(url(&path)?)?;
    repo.create_author(&NewAuthor::new("Author 000001"))?;
    let clone = repo.clone();
    let repo = match repo.close() {
        Err(repo) => repo,
        Ok(()) => return Err("closed while a clone was alive".into()),
    };
    assert!(
        side_file(&path, "-wal").exists(),
        "the connections are still open"
    );
    assert_eq!(repo.count_authors()?, 1, "the handle still works");
    drop(clone);
    repo.close().map_err(|_| "a clone is still alive")?;
    nothing_holds(&path, 0)
}

/// A reader holds a snapshot while the writer commits more than the limit, so no
/// checkpoint can reach the WAL's end and it grows past the limit. Once the reader has
/// ended, a checkpoint empties the WAL and the next commit starts it again from the
/// beginning: it is then cut back to the limit, where it used to keep its largest size.
#[test]
fn the_wal_shrinks_back_to_the_journal_size_limit_after_a_long_reader() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let repo = Config::new(url(&path)?).max_size(2).open()?;
    repo.create_author(&NewAuthor::new("Author 000000"))?;

    let mut reader = diesel::SqliteConnection::establish(url(&path)?)?;
    reader.batch_execute("BEGIN; SELECT count(*) FROM authors;")?;
    let name = "x".repeat(480);
    let batch: Vec<NewAuthor> = (0..4_096)
        .map(|i| NewAuthor::new(format!("{name} {i:06}")))
        .collect();
    let wal = side_file(&path, "-wal");
    while std::fs::metadata(&wal)?.len() <= JOURNAL_SIZE_LIMIT + 8 * 1024 * 1024 {
        repo.create_authors(&batch)?;
    }
    let grown = std::fs::metadata(&wal)?.len();
    reader.batch_execute("COMMIT")?;
    drop(reader);

    // The first commit's automatic checkpoint copies the whole WAL into the database;
    // the second restarts the WAL, and truncates it.
    repo.create_author(&NewAuthor::new("Author 000001"))?;
    repo.create_author(&NewAuthor::new("Author 000002"))?;
    let after = std::fs::metadata(&wal)?.len();
    println!("WAL: {grown} bytes with the reader, {after} bytes after the checkpoint");
    assert!(
        grown > JOURNAL_SIZE_LIMIT,
        "the WAL did grow ({grown} bytes)"
    );
    assert!(
        after <= JOURNAL_SIZE_LIMIT,
        "the WAL kept {after} bytes, over the limit of {JOURNAL_SIZE_LIMIT}"
    );
    Ok(())
}
