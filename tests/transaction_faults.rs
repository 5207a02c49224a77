//! Errors that end a transaction behind the closure's back. On PostgreSQL any failed
//! statement outside a savepoint aborts the transaction (a statement or lock timeout, a
//! lost connection, a query of the application's own), and a `COMMIT` of an aborted
//! transaction is a silent `ROLLBACK`: the crate must notice, refuse the closure's later
//! operations, and return the error that aborted it — never `Ok` for a transaction
//! that committed nothing. On SQLite most failed statements undo only themselves, and
//! the transaction goes on (tests/disk_full.rs has the ones that do not).

mod common;

use bookshelf::{Error, NewAuthor, RawConnection, Repository};
use common::{backend_tests, Backend, BoxError, TestDb};
use diesel::connection::SimpleConnection;

/// Runs `sql` through the escape hatch on the connection of `tx`.
fn run_sql(tx: &mut bookshelf::Tx<'_>, sql: &str) -> bookshelf::Result<()> {
    tx.with_connection(|conn| match conn {
        RawConnection::Sqlite(conn) => conn.batch_execute(sql),
        #[cfg(feature = "postgres")]
        RawConnection::Postgres(conn) => conn.batch_execute(sql),
        #[cfg(feature = "mysql")]
        RawConnection::Mysql(conn) => conn.batch_execute(sql),
        // A backend this helper does not know runs nothing: an error, so that no test
        // passes on SQL that never ran.
        #[allow(unreachable_patterns)]
        other => Err(diesel::result::Error::QueryBuilderError(
            format!("run_sql has no arm for {other:?}").into(),
        )),
    })
}

/// The names of every author, in id order.
fn names(repo: &Repository) -> Result<Vec<String>, BoxError> {
    Ok(repo
        .list_authors(bookshelf::Page::all())?
        .into_iter()
        .map(|author| author.name)
        .collect())
}

backend_tests! {
    /// A query of the application's own fails inside the transaction, and the closure
    /// goes on and returns `Ok`. SQLite undoes just the statement and commits the rest;
    /// PostgreSQL aborted the transaction, so nothing is committed and the transaction
    /// returns the query's error. Either way `Ok` means committed.
    fn the_outcome_of_a_transaction_is_what_was_committed(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        db.repo.create_author(&NewAuthor::new("Before"))?;
        let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Inside"))?;
            let failed = run_sql(tx, "SELECT * FROM no_such_table");
            assert!(matches!(failed, Err(Error::Database(_))), "{failed:?}");
            let later = tx.create_author(&NewAuthor::new("Later"));
            match backend {
                // MySQL, like SQLite, undoes the failed statement alone.
                Backend::Sqlite | Backend::Mysql => assert!(later.is_ok(), "{later:?}"),
                Backend::Postgres => {
                    assert!(matches!(later, Err(Error::TransactionAborted)), "{later:?}")
                }
            }
            Ok(())
        });
        match backend {
            Backend::Sqlite | Backend::Mysql => {
                assert!(result.is_ok(), "{result:?}");
                assert_eq!(names(&db.repo)?, ["Before", "Inside", "Later"]);
            }
            Backend::Postgres => {
                let error = result.err().ok_or("an aborted transaction reported Ok")?;
                assert!(error.to_string().contains("no_such_table"), "{error}");
                assert_eq!(names(&db.repo)?, ["Before"]);
            }
        }
        // The connection is clean for the next caller.
        db.repo.create_author(&NewAuthor::new("After"))?;
        Ok(())
    }
}

backend_tests! {
    /// A savepoint whose statement failed is rolled back, and on both backends the
    /// transaction around it goes on and commits.
    fn a_failed_savepoint_leaves_the_outer_transaction_usable(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        db.repo.transaction(|tx| -> bookshelf::Result<_> {
            tx.create_author(&NewAuthor::new("Outer"))?;
            let inner: bookshelf::Result<()> = tx.transaction(|inner| -> bookshelf::Result<_> {
                inner.create_author(&NewAuthor::new("Undone"))?;
                run_sql(inner, "SELECT * FROM no_such_table")?;
                Ok(())
            });
            assert!(matches!(inner, Err(Error::Database(_))), "{inner:?}");
            // On PostgreSQL the savepoint's rollback cleared the abort.
            tx.create_author(&NewAuthor::new("After the savepoint"))?;
            Ok(())
        })?;
        assert_eq!(names(&db.repo)?, ["Outer", "After the savepoint"]);
        Ok(())
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use common::TestResult;
    use std::time::Duration;

    /// A migrated schema of its own, or `None` (and a notice) without a server.
    fn server_db(
        configure: impl FnOnce(bookshelf::Config) -> bookshelf::Config,
    ) -> Result<Option<TestDb>, BoxError> {
        if common::postgres::server_url()?.is_none() {
            common::say_skipped(format_args!(
                "{} not set: the PostgreSQL transaction fault test is skipped",
                common::POSTGRES_URL_VAR
            ));
            return Ok(None);
        }
        Ok(Some(TestDb::open_with(Backend::Postgres, configure)?))
    }

    #[test]
    fn a_statement_timeout_aborts_the_transaction_and_is_returned() -> TestResult {
        let Some(db) =
            server_db(|config| config.statement_timeout(Some(Duration::from_millis(100))))?
        else {
            return Ok(());
        };
        db.repo.create_author(&NewAuthor::new("Before"))?;
        let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Inside"))?;
            let slow = run_sql(tx, "SELECT pg_sleep(5)");
            assert!(slow.is_err(), "{slow:?}");
            let later = tx.create_author(&NewAuthor::new("Later"));
            assert!(matches!(later, Err(Error::TransactionAborted)), "{later:?}");
            Ok(())
        });
        let error = result.err().ok_or("an aborted transaction reported Ok")?;
        assert!(error.to_string().contains("statement timeout"), "{error}");
        assert_eq!(names(&db.repo)?, ["Before"]);
        Ok(())
    }

    #[test]
    fn a_lock_timeout_aborts_the_transaction_and_is_returned_as_busy() -> TestResult {
        let Some(db) = server_db(|config| config.busy_timeout(Duration::from_millis(100)))? else {
            return Ok(());
        };
        let locked = db.repo.create_author(&NewAuthor::new("Locked"))?;
        let mut holder = common::postgres::connect(db.url())?;
        holder.batch_execute(&format!(
            "BEGIN; UPDATE authors SET name = 'Held' WHERE id = {}",
            locked.id.0
        ))?;
        let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Inside"))?;
            let blocked = tx.rename_author(locked.id, "Renamed");
            assert!(blocked.as_ref().is_err_and(Error::is_busy), "{blocked:?}");
            let later = tx.create_author(&NewAuthor::new("Later"));
            assert!(matches!(later, Err(Error::TransactionAborted)), "{later:?}");
            Ok(())
        });
        holder.batch_execute("ROLLBACK")?;
        let error = result.err().ok_or("an aborted transaction reported Ok")?;
        assert!(error.is_busy(), "{error:?}");
        assert_eq!(names(&db.repo)?, ["Locked"]);
        Ok(())
    }

    #[test]
    fn a_connection_lost_mid_transaction_writes_nothing_and_is_returned() -> TestResult {
        let Some(db) = server_db(|config| config.max_size(1))? else {
            return Ok(());
        };
        db.repo.create_author(&NewAuthor::new("Before"))?;
        let result: bookshelf::Result<()> = db.repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Inside"))?;
            let lost = run_sql(tx, "SELECT pg_terminate_backend(pg_backend_pid())");
            assert!(lost.is_err(), "{lost:?}");
            let later = tx.create_author(&NewAuthor::new("Later"));
            assert!(later.is_err(), "{later:?}");
            Ok(())
        });
        let error = result
            .err()
            .ok_or("a transaction on a lost connection reported Ok")?;
        assert!(!matches!(error, Error::TransactionAborted), "{error:?}");
        // The pool replaced the lost connection.
        assert_eq!(names(&db.repo)?, ["Before"]);
        db.repo.create_author(&NewAuthor::new("After"))?;
        Ok(())
    }
}
