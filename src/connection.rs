//! The one place that knows which connection types exist.
//!
//! Every operation is written once, as a method on [`Tx`](crate::Tx); its body runs
//! against a concrete connection through [`with_conn!`], which matches on [`AnyConn`] and
//! hands the body the connection of whichever backend the repository was opened on. The
//! body is compiled once per backend, with static dispatch and diesel's full type checks,
//! so a backend is added by adding a variant here, not by rewriting the operations.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use crate::{Error, Result, Tx};

/// A borrowed connection of any supported backend.
pub(crate) enum AnyConn<'c> {
    Sqlite(&'c mut SqliteConnection),
}

/// Runs `$body` with `$conn` bound to the concrete connection inside `$tx`.
macro_rules! with_conn {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::connection::AnyConn::Sqlite(connection) => {
                let $conn: &mut ::diesel::sqlite::SqliteConnection = connection;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// What differs between backends, for the few places where SQL semantics do.
pub(crate) trait Backend: Connection<TransactionManager = AnsiTransactionManager> {
    /// Wraps `conn` in the crate's transaction handle.
    fn handle(&mut self) -> Tx<'_>;

    /// Runs `f` in a transaction that takes the write lock up front (`BEGIN IMMEDIATE`
    /// on SQLite: a deferred transaction that later writes can fail at once with
    /// `database is locked`, whatever the busy timeout), or in a savepoint when a
    /// transaction is already open.
    fn write_transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T>;

    /// Runs `f` so that all its reads see one snapshot. Inside an open transaction that
    /// is already so, and `f` runs as it is.
    fn read_transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T>;
}

impl Backend for SqliteConnection {
    fn handle(&mut self) -> Tx<'_> {
        Tx::new(AnyConn::Sqlite(self))
    }

    fn write_transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if in_transaction(self) {
            self.transaction(f)
        } else {
            self.immediate_transaction(f)
        }
    }

    fn read_transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if in_transaction(self) {
            f(self)
        } else {
            self.transaction(f)
        }
    }
}

/// True when `conn` has a transaction open.
pub(crate) fn in_transaction<C>(conn: &mut C) -> bool
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
{
    // A transaction manager in an error state counts as "in a transaction": diesel then
    // refuses to begin a new top-level transaction, and a savepoint reports the problem.
    !matches!(
        AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(None)
    )
}

/// Runs `f` on a transaction handle inside [`Backend::write_transaction`]: commits on
/// `Ok`, rolls back on `Err` and on panic (the panic then continues).
pub(crate) fn transaction<C, T, F>(conn: &mut C, f: F) -> Result<T>
where
    C: Backend,
    F: FnOnce(&mut Tx<'_>) -> Result<T>,
{
    let mut panic = None;
    let result = conn.write_transaction(|conn| {
        let mut tx = conn.handle();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut tx))) {
            Ok(result) => result,
            Err(payload) => {
                panic = Some(payload);
                Err(Error::Database(diesel::result::Error::RollbackTransaction))
            }
        }
    });
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
    result
}
