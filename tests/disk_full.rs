//! A full disk inside a transaction. SQLite rolls the whole transaction back by itself
//! when `SQLITE_FULL` hits a statement that has no statement journal of its own (a
//! one-row write to a table without triggers or AUTOINCREMENT: here a filler table the
//! tests write through the escape hatch) or the pager while it writes; a statement with
//! a journal (every write of the crate's own: its tables have triggers and
//! AUTOINCREMENT) is undone alone. Either way nothing
//! of the transaction may be committed, the closure's later operations must not run
//! in autocommit, and the transaction returns the disk-full error. `PRAGMA
//! max_page_count` makes the full disk deterministic, without root; a small `tmpfs`
//! mount makes it real where the machine allows mounting.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use bookshelf::{Author, Config, Error, NewAuthor, NewBook, RawConnection, Repository, Tx};
use common::{BoxError, TestDb, TestResult};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;

/// Authors committed before each test's transaction; every test checks that exactly
/// these are there afterwards, unchanged.
const BEFORE: usize = 200;

/// A name long enough that renaming a few authors to it needs a new page.
fn long_name() -> String {
    "y".repeat(490)
}

/// A database of `BEFORE` authors on a pool of one connection, so that the page cap
/// set on "the" connection is on the one every call uses.
fn seeded() -> Result<(TestDb, Vec<Author>), BoxError> {
    let db = TestDb::open_with(common::Backend::Sqlite, |config| config.max_size(1))?;
    let names: Vec<NewAuthor> = (0..BEFORE)
        .map(|i| NewAuthor::new(common::author_name(i + 1)))
        .collect();
    let authors = db.repo.create_authors(&names)?;
    db.repo.with_connection(|conn| match conn {
        RawConnection::Sqlite(conn) => conn.batch_execute("CREATE TABLE filler (text TEXT)"),
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    })?;
    Ok((db, authors))
}

/// Caps the database file at its current size plus `spare` pages, on the connection
/// `tx` runs on (`max_page_count` is a setting of the connection, not of the file).
fn cap_pages(tx: &mut Tx<'_>, spare: i64) -> bookshelf::Result<()> {
    tx.with_connection(|conn| match conn {
        RawConnection::Sqlite(conn) => {
            #[derive(diesel::QueryableByName)]
            struct Pages {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                page_count: i64,
            }
            let pages: Pages = diesel::sql_query("PRAGMA page_count").get_result(conn)?;
            conn.batch_execute(&format!(
                "PRAGMA max_page_count = {}",
                pages.page_count + spare
            ))
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    })
}

/// Lifts the cap on the one pooled connection of `repo`: the disk has room again.
fn uncap(repo: &Repository) -> bookshelf::Result<()> {
    repo.with_connection(|conn| match conn {
        RawConnection::Sqlite(conn) => conn.batch_execute("PRAGMA max_page_count = 4294967294"),
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    })
}

/// Writes long rows one by one into the filler table until the disk is full, and
/// returns that error: each a one-row insert without a statement journal, so that
/// SQLite ends the whole transaction.
fn fill(tx: &mut Tx<'_>) -> Result<Error, BoxError> {
    for _ in 0..BEFORE {
        let written = tx.with_connection(|conn| match conn {
            RawConnection::Sqlite(conn) => {
                conn.batch_execute("INSERT INTO filler (text) VALUES (printf('%.490c', 'y'))")
            }
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        });
        if let Err(error) = written {
            return Ok(error);
        }
    }
    Err("the capped database never filled".into())
}

/// The database holds exactly the seeded authors, unchanged and nothing else, passes
/// `integrity_check`, and takes a write again once there is room.
fn check_only_before(db: &TestDb, authors: &[Author]) -> TestResult {
    uncap(&db.repo)?;
    let stored = db.repo.list_authors(bookshelf::Page::all())?;
    assert_eq!(stored, authors, "exactly the rows committed before");
    assert_eq!(db.repo.count_books()?, 0);
    let integrity: String = db.repo.with_connection(|conn| match conn {
        RawConnection::Sqlite(conn) => {
            #[derive(diesel::QueryableByName)]
            struct Check {
                #[diesel(sql_type = diesel::sql_types::Text)]
                integrity_check: String,
            }
            let check: Check = diesel::sql_query("PRAGMA integrity_check").get_result(conn)?;
            Ok(check.integrity_check)
        }
        #[allow(unreachable_patterns)]
        _ => Ok("ok".to_owned()),
    })?;
    assert_eq!(integrity, "ok");
    db.repo.create_author(&NewAuthor::new("After"))?;
    assert_eq!(db.repo.count_authors()?, BEFORE as i64 + 1);
    Ok(())
}

#[test]
fn a_closure_that_goes_on_and_returns_err_gets_the_disk_full_error() -> TestResult {
    let (db, authors) = seeded()?;
    let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
        tx.create_author(&NewAuthor::new("Inside"))?;
        cap_pages(tx, 0)?;
        let full = fill(tx).map_err(|_| Error::TransactionAborted)?;
        assert!(full.is_disk_full(), "{full:?}");
        // SQLite rolled the transaction back: this must not run in autocommit.
        let later = tx.create_author(&NewAuthor::new("Later"));
        assert!(matches!(later, Err(Error::TransactionAborted)), "{later:?}");
        later.map(|_| ())
    });
    assert!(
        result.as_ref().is_err_and(Error::is_disk_full),
        "{result:?}"
    );
    check_only_before(&db, &authors)
}

#[test]
fn a_closure_that_returns_ok_after_the_error_commits_nothing() -> TestResult {
    let (db, authors) = seeded()?;
    let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
        tx.create_author(&NewAuthor::new("Inside"))?;
        cap_pages(tx, 0)?;
        let _ = fill(tx);
        let _ = tx.create_author(&NewAuthor::new("Later"));
        let _ = tx.create_books(&[NewBook::new(authors[0].id, "Later book")]);
        Ok(())
    });
    assert!(
        result.as_ref().is_err_and(Error::is_disk_full),
        "{result:?}"
    );
    check_only_before(&db, &authors)
}

#[test]
fn a_closure_that_passes_the_error_on_returns_it() -> TestResult {
    let (db, authors) = seeded()?;
    let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
        tx.create_author(&NewAuthor::new("Inside"))?;
        cap_pages(tx, 0)?;
        for author in &authors {
            tx.rename_author(author.id, &long_name())?;
        }
        Ok(())
    });
    assert!(
        result.as_ref().is_err_and(Error::is_disk_full),
        "{result:?}"
    );
    check_only_before(&db, &authors)
}

#[test]
fn a_full_disk_in_a_savepoint_ends_the_outer_transaction_too() -> TestResult {
    let (db, authors) = seeded()?;
    let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
        tx.create_author(&NewAuthor::new("Inside"))?;
        let inner: bookshelf::Result<()> = tx.transaction(|inner| {
            cap_pages(inner, 0)?;
            fill(inner)
                .map_err(|_| Error::TransactionAborted)
                .and_then(Err)
        });
        assert!(inner.as_ref().is_err_and(Error::is_disk_full), "{inner:?}");
        // The savepoint went with the whole transaction: the outer handle is done too.
        let later = tx.create_author(&NewAuthor::new("Later"));
        assert!(matches!(later, Err(Error::TransactionAborted)), "{later:?}");
        Ok(())
    });
    assert!(
        result.as_ref().is_err_and(Error::is_disk_full),
        "{result:?}"
    );
    check_only_before(&db, &authors)
}

#[test]
fn bulk_inserts_after_the_full_disk_ended_the_transaction_do_not_run() -> TestResult {
    let (db, authors) = seeded()?;
    let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
        tx.create_books(&[NewBook::new(authors[0].id, "Inside")])?;
        cap_pages(tx, 0)?;
        let full = fill(tx).map_err(|_| Error::TransactionAborted)?;
        assert!(full.is_disk_full(), "{full:?}");
        let later = tx.create_books(&[NewBook::new(authors[0].id, "Later")]);
        assert!(matches!(later, Err(Error::TransactionAborted)), "{later:?}");
        Ok(())
    });
    assert!(
        result.as_ref().is_err_and(Error::is_disk_full),
        "{result:?}"
    );
    check_only_before(&db, &authors)
}

#[test]
fn a_full_disk_inside_a_bulk_insert_is_its_error() -> TestResult {
    let (db, authors) = seeded()?;
    let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
        tx.create_author(&NewAuthor::new("Inside"))?;
        cap_pages(tx, 0)?;
        // One book a call, each a bulk insert of one row: the one that needs a new page
        // fails (SQLite undoes that statement, whose triggers gave it a journal), and
        // the closure passes the error on.
        for (i, author) in authors.iter().enumerate() {
            let book = NewBook::new(author.id, format!("{i:03} {}", long_name()));
            tx.create_books(&[book])?;
        }
        Ok(())
    });
    assert!(
        result.as_ref().is_err_and(Error::is_disk_full),
        "{result:?}"
    );
    check_only_before(&db, &authors)
}

#[test]
fn a_bulk_insert_in_autocommit_reports_the_full_disk() -> TestResult {
    let (db, authors) = seeded()?;
    db.repo.transaction(|tx| cap_pages(tx, 0))?;
    let mut failed = None;
    for (i, author) in authors.iter().enumerate() {
        let book = NewBook::new(author.id, format!("{i:03} {}", long_name()));
        if let Err(error) = db.repo.create_books(&[book]) {
            failed = Some(error);
            break;
        }
    }
    // Not "cannot rollback - no transaction is active": the error that rolled it back.
    let error = failed.ok_or("the capped database never filled")?;
    assert!(error.is_disk_full(), "{error:?}");
    let written = db.repo.count_books()?;
    uncap(&db.repo)?;
    assert_eq!(db.repo.count_books()?, written);
    db.repo.create_author(&NewAuthor::new("After"))?;
    Ok(())
}

/// A `tmpfs` of `size` mounted on a temporary directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (and a notice) where the machine does not let this process mount.
    fn mount(size: &str) -> Result<Option<Self>, BoxError> {
        let dir = tempfile::tempdir()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Ok(Some(Self { dir })),
            Ok(output) => {
                eprintln!(
                    "no tmpfs could be mounted ({}): the real full-disk test is skipped",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                Ok(None)
            }
            Err(error) => {
                common::say_skipped(format_args!(
                    "mount could not run ({error}): the real full-disk test is skipped"
                ));
                Ok(None)
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the file system at `dir` with a file of its own, leaving about `spare` bytes.
fn fill_disk(dir: &Path, spare: u64) -> Result<PathBuf, BoxError> {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path)?;
    let chunk = vec![0u8; 4096];
    loop {
        let available = fs_available(dir)?;
        if available <= spare {
            break;
        }
        let take = usize::try_from((available - spare).min(chunk.len() as u64))?;
        if file.write_all(&chunk[..take]).is_err() {
            break;
        }
        file.sync_all()?;
    }
    Ok(path)
}

/// Free bytes on the file system at `dir`, as `df` reports them.
fn fs_available(dir: &Path) -> Result<u64, BoxError> {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()?;
    let text = String::from_utf8(output.stdout)?;
    let value = text.lines().nth(1).ok_or("df printed no value")?.trim();
    Ok(value.parse()?)
}

#[test]
fn a_real_full_file_system_loses_nothing_committed() -> TestResult {
    let Some(disk) = SmallDisk::mount("2m")? else {
        return Ok(());
    };
    let path = disk.path().join("catalog.db");
    let repo = Config::new(path.to_str().ok_or("path is not UTF-8")?)
        .max_size(1)
        .open()?;
    // A page cache of a few pages spills to the WAL while a transaction writes, so the
    // full disk is met in the middle of a transaction, where SQLite must roll it back.
    repo.with_connection(|conn| match conn {
        RawConnection::Sqlite(conn) => conn.batch_execute("PRAGMA cache_size = 8"),
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    })?;
    let names: Vec<NewAuthor> = (0..50)
        .map(|i| NewAuthor::new(common::author_name(i + 1)))
        .collect();
    let before = repo.create_authors(&names)?;
    let filler = fill_disk(disk.path(), 64 * 1024)?;

    // Each round writes a batch and a single author, going on after an error, and
    // returns `Ok`: a round the transaction reports committed has exactly what its
    // closure saw succeed, a round it reports failed has nothing.
    let mut expected: Vec<String> = before.iter().map(|author| author.name.clone()).collect();
    let mut disk_full = None;
    for round in 0..40 {
        let mut succeeded = Vec::new();
        let result: bookshelf::Result<()> = repo.transaction(|tx| {
            succeeded.clear();
            let batch: Vec<NewAuthor> = (0..100)
                .map(|i| NewAuthor::new(format!("Round {round:02} {i:03} {}", "z".repeat(400))))
                .collect();
            if let Ok(created) = tx.create_authors(&batch) {
                succeeded.extend(created.into_iter().map(|author| author.name));
            }
            if let Ok(author) =
                tx.create_author(&NewAuthor::new(format!("Round {round:02} single")))
            {
                succeeded.push(author.name);
            }
            Ok(())
        });
        match result {
            Ok(()) => expected.append(&mut succeeded),
            Err(error) => {
                disk_full = Some(error);
                break;
            }
        }
    }
    let error = disk_full.ok_or("the small disk never filled")?;
    assert!(error.is_disk_full(), "{error:?}");

    std::fs::remove_file(filler)?;
    let mut stored: Vec<String> = repo
        .list_authors(bookshelf::Page::all())?
        .into_iter()
        .map(|author| author.name)
        .collect();
    stored.sort();
    expected.sort();
    assert_eq!(stored, expected);
    repo.create_author(&NewAuthor::new("After"))?;
    drop(repo);
    let integrity = common::integrity_check(path.to_str().ok_or("path is not UTF-8")?)?;
    assert_eq!(integrity, "ok");
    Ok(())
}
