//! `Repository::retry_transaction`: a transaction runs again after an error a new run
//! may not meet (a lock held elsewhere, a connection lost before the commit), and never
//! after one whose run may have committed.

mod common;

use std::cell::Cell;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use bookshelf::{Error, NewAuthor, Retry, Retryable};
use common::{TestDb, TestResult};

/// Holds the SQLite write lock of `db` for `hold` in a thread of its own, and returns
/// once it is held.
fn hold_write_lock(db: &TestDb, hold: Duration) -> thread::JoinHandle<bookshelf::Result<()>> {
    let holder = db.repo.clone();
    let held = Arc::new(Barrier::new(2));
    let signal = Arc::clone(&held);
    let handle = thread::spawn(move || {
        holder.transaction(|tx| -> bookshelf::Result<()> {
            tx.create_author(&NewAuthor::new("Holder"))?;
            signal.wait();
            thread::sleep(hold);
            Ok(())
        })
    });
    held.wait();
    handle
}

#[test]
fn a_busy_database_is_retried_until_the_lock_is_free() -> TestResult {
    let db = TestDb::new()?;
    let impatient = db.config().busy_timeout(Duration::from_millis(5)).open()?;

    // The control: without retries, the lock held elsewhere fails the transaction.
    let holder = hold_write_lock(&db, Duration::from_millis(200));
    let once = impatient.transaction(|tx| tx.create_author(&NewAuthor::new("Once")));
    assert!(matches!(&once, Err(error) if error.is_busy() && error.is_retryable()));
    holder.join().map_err(|_| "holder panicked")??;

    // With them, the same transaction waits its turn. (SQLite refuses the `BEGIN
    // IMMEDIATE` itself, so the closure runs once, when the lock is free.)
    let holder = hold_write_lock(&db, Duration::from_millis(200));
    let retry = Retry::default()
        .attempts(100)
        .first_pause(Duration::from_millis(20))
        .longest_pause(Duration::from_millis(20));
    let before = impatient.stats();
    let author =
        impatient.retry_transaction(retry, |tx| tx.create_author(&NewAuthor::new("Retried")))?;
    holder.join().map_err(|_| "holder panicked")??;
    let begun = impatient.stats().transaction_statements - before.transaction_statements;
    assert!(begun > 2, "BEGINs refused before one ran: {begun}");
    assert_eq!(db.repo.author(author.id)?, Some(author));
    assert_eq!(
        db.repo.authors_by_name("Retried")?.len(),
        1,
        "committed once"
    );
    Ok(())
}

#[test]
fn an_error_that_is_not_retryable_runs_once() -> TestResult {
    let db = TestDb::new()?;
    let runs = Cell::new(0);
    let result = db.repo.retry_transaction(Retry::default(), |tx| {
        runs.set(runs.get() + 1);
        tx.create_author(&NewAuthor::new("   "))
    });
    assert!(matches!(result, Err(Error::Validation { .. })));
    assert_eq!(runs.get(), 1);
    Ok(())
}

#[test]
fn the_attempts_are_a_bound() -> TestResult {
    let db = TestDb::new()?;
    let impatient = db.config().busy_timeout(Duration::from_millis(1)).open()?;
    let holder = hold_write_lock(&db, Duration::from_millis(500));
    let retry = Retry::default()
        .attempts(3)
        .first_pause(Duration::from_millis(1));
    let before = impatient.stats();
    let result =
        impatient.retry_transaction(retry, |tx| tx.create_author(&NewAuthor::new("Never")));
    let begun = impatient.stats().transaction_statements - before.transaction_statements;
    holder.join().map_err(|_| "holder panicked")??;
    assert!(
        matches!(&result, Err(error) if error.is_busy()),
        "{result:?}"
    );
    assert_eq!(begun, 3, "three BEGINs, each refused");
    Ok(())
}

/// An application's error type, retried by asking the crate's error it wraps.
#[derive(Debug)]
enum AppError {
    Store(Error),
    #[allow(dead_code)]
    Rejected,
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        AppError::Store(error)
    }
}

impl Retryable for AppError {
    fn is_retryable(&self) -> bool {
        matches!(self, AppError::Store(error) if error.is_retryable())
    }
}

#[test]
fn closures_returning_an_application_error_are_retried_through_it() -> TestResult {
    let db = TestDb::new()?;
    let impatient = db.config().busy_timeout(Duration::from_millis(5)).open()?;
    let holder = hold_write_lock(&db, Duration::from_millis(100));
    let retry = Retry::default()
        .attempts(100)
        .first_pause(Duration::from_millis(20));
    let result = impatient.retry_transaction(retry, |tx| -> Result<_, AppError> {
        Ok(tx.create_author(&NewAuthor::new("App"))?)
    });
    holder.join().map_err(|_| "holder panicked")??;
    assert!(result.is_ok(), "{result:?}");
    // The control: the same closure in one transaction meets the lock.
    let holder = hold_write_lock(&db, Duration::from_millis(100));
    let once = impatient
        .transaction(|tx| -> Result<_, AppError> { Ok(tx.create_author(&NewAuthor::new("App"))?) });
    holder.join().map_err(|_| "holder panicked")??;
    assert!(once.is_err_and(|error| error.is_retryable()));
    Ok(())
}

/// PostgreSQL: a connection that the server ends in the middle of a transaction.
#[cfg(feature = "postgres")]
mod server {
    use super::*;
    use bookshelf::RawConnection;
    use diesel::prelude::*;

    fn server_db() -> Result<Option<TestDb>, common::BoxError> {
        if common::postgres::server_url()?.is_none() {
            common::say_skipped(format_args!(
                "{} not set: the PostgreSQL retry tests are skipped",
                common::POSTGRES_URL_VAR
            ));
            return Ok(None);
        }
        Ok(Some(TestDb::open(common::Backend::Postgres)?))
    }

    fn backend_pid(raw: RawConnection<'_>) -> QueryResult<i32> {
        match raw {
            RawConnection::Postgres(conn) => diesel::select(diesel::dsl::sql::<
                diesel::sql_types::Integer,
            >("pg_backend_pid()"))
            .get_result(conn),
            _ => Err(diesel::result::Error::NotFound),
        }
    }

    #[test]
    fn a_connection_lost_before_the_commit_is_retried_on_a_new_one() -> TestResult {
        let Some(db) = server_db()? else {
            return Ok(());
        };
        let runs = Cell::new(0);
        let author = db.repo.retry_transaction(Retry::default(), |tx| {
            runs.set(runs.get() + 1);
            if runs.get() == 1 {
                let pid = tx.with_connection(backend_pid)?;
                db.query_i64(&format!(
                    "SELECT pg_terminate_backend({pid})::int::int8 AS n"
                ))
                .map_err(|error| Error::Validation {
                    field: "test",
                    message: error.to_string(),
                })?;
            }
            tx.create_author(&NewAuthor::new("Survivor"))
        })?;
        assert_eq!(runs.get(), 2);
        assert_eq!(db.repo.authors_by_name("Survivor")?, vec![author]);
        Ok(())
    }

    #[test]
    fn a_connection_lost_during_the_commit_is_commit_unknown_and_not_retried() -> TestResult {
        let Some(db) = server_db()? else {
            return Ok(());
        };
        // A deferred constraint trigger runs at COMMIT: this one ends its own session
        // there, as a server crash or a network cut at that moment would.
        db.execute_raw(
            "CREATE TABLE commit_probe (id int); \
             CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON commit_probe \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION end_session();",
        )?;
        let runs = Cell::new(0);
        let result = db.repo.retry_transaction(Retry::default(), |tx| {
            runs.set(runs.get() + 1);
            tx.create_author(&NewAuthor::new("Maybe"))?;
            tx.with_connection(|raw| match raw {
                RawConnection::Postgres(conn) => {
                    diesel::sql_query("INSERT INTO commit_probe VALUES (1)").execute(conn)
                }
                _ => Err(diesel::result::Error::NotFound),
            })
        });
        assert!(
            matches!(&result, Err(Error::CommitUnknown(_))),
            "{result:?}"
        );
        assert!(!result.as_ref().err().is_some_and(Error::is_retryable));
        assert_eq!(
            runs.get(),
            1,
            "a commit of unknown outcome is not run again"
        );
        // The pool replaced the lost connection: the repository goes on.
        assert!(db.repo.authors_by_name("Maybe")?.is_empty());
        Ok(())
    }
}
