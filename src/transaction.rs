//! Transaction control, written once for every backend: begin, commit or roll back, and
//! what happens when an error ends a transaction behind the crate's back.
//!
//! A failed statement does not always leave its transaction usable. SQLite rolls the
//! whole transaction back by itself on a full disk and on some I/O, memory and
//! interrupt errors, and then runs every later statement in autocommit; PostgreSQL
//! refuses every later statement of a transaction after an error, and turns its
//! `COMMIT` into a silent `ROLLBACK`. So after any error inside a transaction the
//! transaction handle asks the database whether its transaction is still there
//! ([`Backend::transaction_survived`](crate::backend::Backend::transaction_survived)). When it is not, the handle remembers the error
//! (a [`Faults`] shared by every handle of one connection checkout): every later
//! operation on it fails with [`Error::TransactionAborted`] without running, and the
//! transaction returns that first error, with nothing of it committed.

use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};

use diesel::connection::{AnsiTransactionManager, TransactionManager};

pub(crate) use crate::backend::Access;
use crate::backend::Backend;
use crate::error::{Error, Result};

/// How a transaction of a [`Tx`](crate::tx::Tx) closure ends when the closure returns
/// `Ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Commit,
    /// A test transaction: always rolled back.
    RollBack,
}

/// The transaction depth diesel counts on `conn`: `None` outside a transaction, or when
/// the transaction manager is broken (then no statement should run either).
pub(crate) fn depth<C: Backend>(conn: &mut C) -> Option<NonZeroU32> {
    AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
}

/// True when `conn` has a transaction open.
pub(crate) fn in_transaction<C: Backend>(conn: &mut C) -> bool {
    // A transaction manager in an error state counts as "in a transaction": diesel then
    // refuses to begin a new top-level transaction, and a savepoint reports the problem.
    !matches!(
        AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(None)
    )
}

/// Begins a transaction for `access`, or a savepoint inside an open one, and returns
/// its depth.
pub(crate) fn begin<C: Backend>(conn: &mut C, access: Access) -> Result<NonZeroU32> {
    if in_transaction(conn) {
        AnsiTransactionManager::begin_transaction(conn)?;
    } else {
        let begin = conn.begin_sql(access);
        AnsiTransactionManager::begin_transaction_sql(conn, &begin)?;
    }
    depth(conn).ok_or(Error::TransactionAborted)
}

/// Commits the transaction, or releases the savepoint, of the innermost level.
pub(crate) fn commit<C: Backend>(conn: &mut C) -> Result<()> {
    Ok(AnsiTransactionManager::commit_transaction(conn)?)
}

/// Rolls back the transaction, or the savepoint, of the innermost level.
pub(crate) fn roll_back<C: Backend>(conn: &mut C) -> Result<()> {
    Ok(AnsiTransactionManager::rollback_transaction(conn)?)
}

/// Rolls back the transaction or savepoint at `level` after an error, if it is still
/// there. A rollback that fails (the connection is gone, say) is logged and otherwise
/// ignored: the caller reports the error that made it roll back, and diesel marks a
/// connection whose transaction state it lost as broken, so the pool discards it.
pub(crate) fn roll_back_after_error<C: Backend>(conn: &mut C, level: NonZeroU32) {
    if depth(conn) < Some(level) {
        return;
    }
    if let Err(error) = AnsiTransactionManager::rollback_transaction(conn) {
        tracing::warn!(target: "bookshelf", %error, "rollback after an error failed");
    }
}

/// Runs `f` in a transaction for `access` (a savepoint when one is open): it commits
/// when `f` returns `Ok` and rolls back when it returns `Err`, and then returns `f`'s
/// error, never the rollback's. A read inside an open transaction already sees one
/// snapshot, and runs as it is.
pub(crate) fn run<C: Backend, T>(
    conn: &mut C,
    access: Access,
    f: impl FnOnce(&mut C) -> Result<T>,
) -> Result<T> {
    if access == Access::Read && in_transaction(conn) {
        return f(conn);
    }
    let level = begin(conn, access)?;
    match f(conn) {
        Ok(value) => {
            commit(conn)?;
            Ok(value)
        }
        Err(error) => {
            roll_back_after_error(conn, level);
            Err(error)
        }
    }
}

/// Runs `f` in a transaction that takes the write lock up front (`BEGIN IMMEDIATE`
/// on SQLite: a deferred transaction that later writes can fail at once with
/// `database is locked`, whatever the busy timeout), or in a savepoint when a
/// transaction is already open.
pub(crate) fn write<C: Backend, T>(conn: &mut C, f: impl FnOnce(&mut C) -> Result<T>) -> Result<T> {
    run(conn, Access::Write, f)
}

/// Runs `f` so that all its reads see one snapshot. Inside an open transaction that is
/// already so, and `f` runs as it is.
pub(crate) fn read<C: Backend, T>(conn: &mut C, f: impl FnOnce(&mut C) -> Result<T>) -> Result<T> {
    run(conn, Access::Read, f)
}

/// Runs `f`, a write that may fail on a constraint, so that its failure leaves an open
/// transaction usable. SQLite undoes just the failed statement; PostgreSQL would refuse
/// every later statement of the transaction, so there `f` runs in a savepoint when a
/// transaction is open (and as it is in autocommit).
pub(crate) fn recoverable<C: Backend, T>(
    conn: &mut C,
    f: impl FnOnce(&mut C) -> Result<T>,
) -> Result<T> {
    if C::CONSTRAINT_ERRORS_ABORT && in_transaction(conn) {
        run(conn, Access::Write, f)
    } else {
        f(conn)
    }
}

/// The error that ended the transaction of a connection checkout, shared by the
/// handles of every level of it.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    ended: Mutex<Option<Fault>>,
}

#[derive(Debug)]
struct Fault {
    /// The outermost level that is gone: the whole transaction (1) when SQLite rolled it
    /// back, the savepoint the error happened in on PostgreSQL.
    level: NonZeroU32,
    error: Error,
}

impl Faults {
    /// Records that `error` ended every level from `level` inwards.
    pub(crate) fn record(&self, level: NonZeroU32, error: Error) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        match &*ended {
            Some(fault) if fault.level <= level => {}
            _ => *ended = Some(Fault { level, error }),
        }
    }

    /// True when the transaction level `level` was ended by an error.
    pub(crate) fn has_ended(&self, level: NonZeroU32) -> bool {
        let ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        ended.as_ref().is_some_and(|fault| fault.level <= level)
    }

    /// The error that ended `level`, if one did: taken when it ended exactly this level
    /// (the levels outside go on), copied when it ended the levels outside too, whose
    /// own end reports it again.
    pub(crate) fn ended(&self, level: NonZeroU32) -> Option<Error> {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        match ended.take() {
            Some(fault) if fault.level == level => Some(fault.error),
            Some(fault) if fault.level < level => {
                let copy = fault.error.replicate();
                *ended = Some(fault);
                Some(copy)
            }
            other => {
                *ended = other;
                None
            }
        }
    }
}

thread_local! {
    /// The repositories (by the address of their shared state) with a transaction
    /// closure running on this thread, innermost last.
    static OPEN_HERE: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Marks the repository `id` as having a transaction closure running on this thread,
/// until the mark is dropped (a panic included).
pub(crate) struct OpenHere(usize);

impl OpenHere {
    pub(crate) fn enter(id: usize) -> Self {
        OPEN_HERE.with(|open| open.borrow_mut().push(id));
        OpenHere(id)
    }

    /// True when this thread runs a transaction closure of the repository `id`.
    pub(crate) fn holds(id: usize) -> bool {
        OPEN_HERE.with(|open| open.borrow().contains(&id))
    }
}

impl Drop for OpenHere {
    fn drop(&mut self) {
        OPEN_HERE.with(|open| {
            let mut open = open.borrow_mut();
            if let Some(at) = open.iter().rposition(|id| *id == self.0) {
                open.remove(at);
            }
        });
    }
}
