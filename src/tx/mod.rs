//! [`Tx`], the connection-scoped handle every operation runs on, and the transactions of
//! its closures.

mod authors;
mod books;
mod trace;

use std::num::NonZeroU32;

use crate::error::{Error, Result};
use crate::ops::Session;
use crate::raw::RawConnection;
use crate::transaction::{Access, Faults, Finish};

/// A connection handed to the closure of
/// [`Repository::transaction`](crate::Repository::transaction).
///
/// It has every operation [`Repository`](crate::Repository) has, with the same
/// signatures; here they all run in the one transaction, which commits when the closure
/// returns `Ok` and rolls back when it returns `Err` or panics.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{NewAuthor, NewBook, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.transaction(|tx| -> bookshelf::Result<_> {
///     let author = tx.create_author(&NewAuthor::new("Octavia E. Butler"))?;
///     tx.create_book(&NewBook::new(author.id, "Kindred"))?;
///     Ok(author)
/// })?;
/// assert_eq!(repo.books_by_author(author.id)?.len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct Tx<'c> {
    conn: &'c mut dyn Session,
    /// The transaction depth this handle runs at; `None` in autocommit.
    level: Option<NonZeroU32>,
    /// What ended the transaction of this checkout, shared by the handles of every level.
    faults: &'c Faults,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("backend", &self.conn.backend_name())
            .field("level", &self.level)
            .finish()
    }
}

impl<'c> Tx<'c> {
    /// A handle in autocommit on `conn`.
    pub(crate) fn autocommit(conn: &'c mut dyn Session, faults: &'c Faults) -> Self {
        Self {
            conn,
            level: None,
            faults,
        }
    }

    /// Runs `f` in a savepoint inside this transaction: if `f` returns `Err` or panics,
    /// only what `f` did is undone, and the outer transaction goes on.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{NewAuthor, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// repo.transaction(|tx| -> bookshelf::Result<_> {
    ///     tx.create_author(&NewAuthor::new("Kept"))?;
    ///     let inner: bookshelf::Result<()> = tx.transaction(|tx| {
    ///         tx.create_author(&NewAuthor::new("Undone"))?;
    ///         Err(bookshelf::Error::Validation { field: "name", message: "undo".into() })
    ///     });
    ///     assert!(inner.is_err());
    ///     Ok(())
    /// })?;
    /// assert_eq!(repo.count_authors()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, or [`Error::Database`](crate::Error::Database) if the
    /// savepoint cannot be created or released.
    pub fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        let Some(level) = self.level else {
            // An autocommit handle: this is a transaction of its own.
            return run(self.conn, self.faults, Finish::Commit, f);
        };
        if self.faults.has_ended(level) || self.conn.depth() < Some(level) {
            return Err(Error::TransactionAborted.into());
        }
        let result = run(self.conn, self.faults, Finish::Commit, f);
        // The operations inside recorded what ended a transaction; this records that the
        // savepoint's own end (its release or rollback) failed, if nothing else did.
        if result.is_err() && !self.conn.survived() {
            let ended = self.level_ended(level);
            self.faults.record(ended, Error::TransactionAborted);
        }
        result
    }

    /// Runs `f` on the diesel connection of this handle: inside the transaction, when
    /// this handle is one, else in autocommit. It is the way to run a query the crate
    /// does not offer with the models and [`schema`](crate::schema) of this crate. `f`
    /// must not begin, commit or roll back a transaction of its own (use
    /// [`Tx::transaction`] for a savepoint), nor replace the connection's
    /// instrumentation (`set_instrumentation`): the crate keeps its statement counts and
    /// echo there, and on PostgreSQL how the connection's transactions begin (behind a
    /// transaction pooler, with the session's settings). An error of `f` counts as an
    /// error of the transaction like any other: if it ended the transaction, the
    /// transaction returns it.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::schema::authors;
    /// use bookshelf::{NewAuthor, RawConnection, Repository};
    /// use diesel::prelude::*;
    ///
    /// let repo = Repository::in_memory()?;
    /// let longest = repo.transaction(|tx| {
    ///     tx.create_author(&NewAuthor::new("Ursula K. Le Guin"))?;
    ///     tx.create_author(&NewAuthor::new("Ann Leckie"))?;
    ///     // The longest name: a query the crate has no operation for.
    ///     tx.with_connection(|conn| {
    ///         let query = authors::table
    ///             .select(authors::name)
    ///             .order(diesel::dsl::sql::<diesel::sql_types::Integer>("length(name)").desc())
    ///             .limit(1);
    ///         match conn {
    ///             RawConnection::Sqlite(conn) => query.first::<String>(conn),
    ///             #[allow(unreachable_patterns)]
    ///             _ => unreachable!("an in-memory repository is SQLite"),
    ///         }
    ///     })
    /// })?;
    /// assert_eq!(longest, "Ursula K. Le Guin");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Database`](crate::Error::Database) with `f`'s error;
    /// [`Error::TransactionAborted`](crate::Error::TransactionAborted) when an earlier
    /// error ended the transaction.
    pub fn with_connection<T, F>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce(RawConnection<'_>) -> diesel::QueryResult<T>,
    {
        self.traced(
            trace::span!("with_connection"),
            None,
            Some(Access::Write),
            |tx| Ok(f(tx.conn.as_raw())?),
        )
    }

    /// Runs `op`, an operation outside a transaction, in a transaction of its own for
    /// `access`: behind a pooler in transaction mode only a transaction carries the
    /// connection's settings (its `BEGIN` sets them with `SET LOCAL`). Inside, `op`
    /// runs as in any transaction (its writes that may fail in savepoints).
    fn in_own_transaction<T>(
        &mut self,
        access: Access,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let level = self.conn.begin(access)?;
        match op(self) {
            Ok(value) => {
                // A read's lost `COMMIT` wrote nothing; a write's may have committed.
                self.conn.commit().map_err(|error| match access {
                    Access::Write => error.at_commit(),
                    Access::Read => error,
                })?;
                Ok(value)
            }
            Err(error) => {
                self.conn.roll_back_after_error(level);
                Err(error)
            }
        }
    }

    /// Runs the operation `op` on this handle. Inside a transaction that an earlier
    /// error ended, `op` does not run (it would run in autocommit on SQLite). After an
    /// error, the handle checks that its transaction survived it, and remembers the
    /// error when it did not. Outside a transaction, on a connection whose settings
    /// hold only in one, `op` runs in a transaction of its own for `access` (`None`:
    /// `op` sends nothing).
    fn guarded<T>(
        &mut self,
        access: Option<Access>,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let Some(level) = self.level else {
            return match access {
                Some(access) if self.conn.operations_need_a_transaction() => {
                    self.in_own_transaction(access, op)
                }
                _ => op(self),
            };
        };
        if self.faults.has_ended(level) || self.conn.depth() < Some(level) {
            return Err(Error::TransactionAborted);
        }
        let result = op(self);
        match result {
            Err(error) if !error.is_validation() && !self.conn.survived() => {
                let copy = error.replicate();
                self.faults.record(self.level_ended(level), error);
                Err(copy)
            }
            other => other,
        }
    }

    /// The outermost level an error ended, once [`Session::survived`] said `level` did
    /// not survive it: every level when the connection has no transaction any more
    /// (SQLite rolled it back), else `level` itself (PostgreSQL, where rolling back the
    /// savepoint makes the levels outside usable again).
    fn level_ended(&mut self, level: NonZeroU32) -> NonZeroU32 {
        match self.conn.depth() {
            None => NonZeroU32::MIN,
            Some(_) => level,
        }
    }
}

/// Runs `f` on a transaction handle in a write transaction on `conn` (a savepoint when
/// one is open): it commits when `f` returns `Ok` (unless `finish` says to roll back),
/// rolls back when it returns `Err` or panics (the panic then continues). When an error
/// ended the transaction while `f` ran, it rolls back what is left and returns that
/// error, whatever `f` returned. It runs in a span named `transaction`, the parent of
/// the spans of the operations inside.
pub(crate) fn run<T, E: From<Error>>(
    conn: &mut dyn Session,
    faults: &Faults,
    finish: Finish,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let span = trace::span!("transaction");
    if !span.is_disabled() {
        span.record("db.system", conn.db_system());
    }
    let result = span.in_scope(|| run_in_span(conn, faults, finish, f));
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

/// [`run`], inside its span.
fn run_in_span<T, E: From<Error>>(
    conn: &mut dyn Session,
    faults: &Faults,
    finish: Finish,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let level = conn.begin(Access::Write)?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        f(&mut Tx {
            conn: &mut *conn,
            level: Some(level),
            faults,
        })
    }));
    let ended_by = faults.ended(level);
    match (outcome, ended_by) {
        (Err(panic), _) => {
            conn.roll_back_after_error(level);
            std::panic::resume_unwind(panic)
        }
        (Ok(_), Some(error)) => {
            conn.roll_back_after_error(level);
            Err(error.into())
        }
        (Ok(Err(error)), None) => {
            conn.roll_back_after_error(level);
            Err(error)
        }
        (Ok(Ok(value)), None) => {
            match finish {
                Finish::Commit => conn.commit().map_err(Error::at_commit)?,
                Finish::RollBack => conn.roll_back()?,
            }
            Ok(value)
        }
    }
}
