//! The pool every backend's connections live in: r2d2, behind a gate that closes every
//! connection on the thread that closes the pool.
//!
//! r2d2 opens connections on worker threads of its own, and a job holds the pool's
//! shared state while it runs. When the last handle on a pool is dropped while a job is
//! finishing (the last of the connections opened as the pool was built, say), the shared
//! state, with every idle connection in it, is dropped on the worker some milliseconds
//! later: a backup or `sqlite3` run at once still met the file open and locked, its
//! `-wal` and `-shm` files still there.
//!
//! So a [`GatedPool`] closes its connections itself. Its manager counts the connections
//! that are open; closing the gate makes the manager refuse new ones and report each one
//! given back as broken, which r2d2 answers by dropping it at once, on the thread that
//! gave it back. [`GatedPool::close`] then checks out the idle connections one by one
//! and gives them back, until none is open.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use diesel::r2d2::{Error as R2d2Error, ManageConnection, PooledConnection};
use diesel::ConnectionError;

use crate::error::{Error, Result};

/// The crate's error as r2d2 takes it from a connection manager or customizer.
pub(crate) fn into_r2d2(error: Error) -> diesel::r2d2::Error {
    match error {
        Error::Connection(error) => diesel::r2d2::Error::ConnectionError(error),
        Error::Database(error) => diesel::r2d2::Error::QueryError(error),
        other => {
            diesel::r2d2::Error::QueryError(diesel::result::Error::QueryBuilderError(other.into()))
        }
    }
}

/// Pool settings taken from [`Config`](crate::config::Config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    pub(crate) max_size: u32,
    pub(crate) min_idle: Option<u32>,
    pub(crate) connection_timeout: Duration,
}

/// How long a checkout waits for a free connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The pool's connection timeout.
    #[default]
    Configured,
    /// Until this instant: the rest of a call's connection timeout, part of which it
    /// spent waiting elsewhere (the async face's queue); at or after it, one look at
    /// the pool.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // only the async face waits less
    Until(Instant),
}

impl Wait {
    /// At most `limit`, and no later than this wait ends.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // replicas wait less
    pub(crate) fn at_most(self, limit: Duration) -> Duration {
        match self {
            Wait::Configured => limit,
            Wait::Until(deadline) => limit.min(deadline.saturating_duration_since(Instant::now())),
        }
    }
}

/// The message of the error a closed pool's manager answers a request for a new
/// connection with (r2d2 asks on its own; no caller sees it).
const CLOSED: &str = "the repository is closed";

/// How long one round of [`GatedPool::close`] waits for a connection being opened
/// elsewhere at that moment to arrive in the pool.
const ROUND: Duration = Duration::from_millis(2);

/// Whether a pool is closed, and how many of its connections are open.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    /// Signalled whenever a connection closes.
    closed_one: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    closed: bool,
    open: usize,
}

impl Gate {
    /// The state; a panic elsewhere while it was locked leaves it consistent (each
    /// change is one assignment), so a poisoned lock is used as it is.
    fn state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_closed(&self) -> bool {
        self.state().closed
    }

    fn open(&self) -> usize {
        self.state().open
    }

    fn close(&self) {
        self.state().closed = true;
    }

    /// Waits until no connection is open, or `deadline` passes; true when none is.
    fn wait_until_none_open(&self, deadline: Option<Instant>) -> bool {
        let mut state = self.state();
        while state.open > 0 {
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(wait) if !wait.is_zero() => wait,
                    _ => return false,
                },
                None => Duration::from_secs(1),
            };
            state = self
                .closed_one
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// Counts one open connection of a [`Gate`] from its opening to its drop.
#[derive(Debug)]
struct Open(Arc<Gate>);

impl Open {
    /// Counts a connection about to be opened, unless the gate is closed.
    fn enter(gate: &Arc<Gate>) -> Option<Self> {
        let mut state = gate.state();
        if state.closed {
            return None;
        }
        state.open += 1;
        Some(Open(Arc::clone(gate)))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.state().open -= 1;
        self.0.closed_one.notify_all();
    }
}

/// A pooled connection, counted as open until it is dropped.
#[derive(Debug)]
pub(crate) struct Counted<C> {
    // Declared first, so dropped first: the count falls once the connection is closed.
    connection: C,
    _open: Open,
}

impl<C> std::ops::Deref for Counted<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.connection
    }
}

impl<C> std::ops::DerefMut for Counted<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.connection
    }
}

/// A connection manager behind a [`Gate`].
#[derive(Debug)]
pub(crate) struct Gated<M> {
    manager: M,
    gate: Arc<Gate>,
}

impl<M> ManageConnection for Gated<M>
where
    M: ManageConnection<Error = R2d2Error>,
{
    type Connection = Counted<M::Connection>;
    type Error = R2d2Error;

    fn connect(&self) -> std::result::Result<Self::Connection, R2d2Error> {
        let open = Open::enter(&self.gate).ok_or_else(|| {
            R2d2Error::ConnectionError(ConnectionError::BadConnection(CLOSED.to_owned()))
        })?;
        Ok(Counted {
            connection: self.manager.connect()?,
            _open: open,
        })
    }

    fn is_valid(&self, conn: &mut Self::Connection) -> std::result::Result<(), R2d2Error> {
        self.manager.is_valid(&mut conn.connection)
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        self.gate.is_closed() || self.manager.has_broken(&mut conn.connection)
    }
}

/// r2d2's error log, without the refusals of a closed pool (r2d2 keeps asking for the
/// connections it lost, and is told no).
#[derive(Debug)]
struct QuietWhenClosed;

impl r2d2::HandleError<R2d2Error> for QuietWhenClosed {
    fn handle_error(&self, error: R2d2Error) {
        if !matches!(&error, R2d2Error::ConnectionError(ConnectionError::BadConnection(m)) if m == CLOSED)
        {
            r2d2::LoggingErrorHandler.handle_error(error);
        }
    }
}

/// An r2d2 pool whose connections are all closed when it is dropped, before the drop
/// returns.
pub(crate) struct GatedPool<M>
where
    M: ManageConnection<Error = R2d2Error>,
{
    pool: r2d2::Pool<Gated<M>>,
    gate: Arc<Gate>,
    /// How long closing waits for a connection being opened at that moment.
    patience: Duration,
}

impl<M> GatedPool<M>
where
    M: ManageConnection<Error = R2d2Error>,
{
    /// Builds the pool of `manager` with `settings`, and what `configure` adds to them,
    /// waiting (as r2d2 does) for its first connections up to the connection timeout,
    /// which is also how long closing waits for a connection being opened.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`](crate::Error::Pool) when the first connections cannot be opened in
    /// time; every connection opened meanwhile is closed before it returns.
    pub(crate) fn build(
        settings: PoolSettings,
        manager: M,
        configure: impl FnOnce(r2d2::Builder<Gated<M>>) -> r2d2::Builder<Gated<M>>,
    ) -> Result<Self> {
        let gate = Arc::new(Gate::default());
        let manager = Gated {
            manager,
            gate: Arc::clone(&gate),
        };
        let builder = r2d2::Pool::builder()
            .max_size(settings.max_size)
            .min_idle(settings.min_idle)
            .connection_timeout(settings.connection_timeout)
            .error_handler(Box::new(QuietWhenClosed));
        let patience = settings.connection_timeout;
        match configure(builder).build(manager) {
            Ok(pool) => Ok(Self {
                pool,
                gate,
                patience,
            }),
            Err(error) => {
                // r2d2 has dropped its pool; the connections it opened close as its
                // workers let go of it.
                gate.close();
                gate.wait_until_none_open(Instant::now().checked_add(patience));
                Err(error.into())
            }
        }
    }

    /// A connection, waiting as `wait` says for one to be free.
    pub(crate) fn checkout(
        &self,
        wait: Wait,
    ) -> std::result::Result<PooledConnection<Gated<M>>, r2d2::Error> {
        match wait {
            Wait::Configured => self.pool.get(),
            Wait::Until(deadline) => self
                .pool
                .get_timeout(deadline.saturating_duration_since(Instant::now())),
        }
    }

    /// A connection, waiting up to `timeout` for one to be free.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // replicas wait less
    pub(crate) fn get_timeout(
        &self,
        timeout: Duration,
    ) -> std::result::Result<PooledConnection<Gated<M>>, r2d2::Error> {
        self.pool.get_timeout(timeout)
    }

    pub(crate) fn state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// Closes every connection: idle ones here, one being opened at that moment as soon
    /// as it arrives (waiting up to the connection timeout for it). Only idle
    /// connections are left when the last repository handle goes, so this finds none
    /// checked out.
    fn close(&self) {
        self.gate.close();
        let deadline = Instant::now().checked_add(self.patience);
        while self.gate.open() > 0 {
            match self.pool.get_timeout(ROUND) {
                // Broken now that the gate is closed: r2d2 drops it here, at once.
                Ok(connection) => drop(connection),
                Err(_) if deadline.is_some_and(|deadline| Instant::now() >= deadline) => break,
                Err(_) => {}
            }
        }
    }
}

impl<M> Drop for GatedPool<M>
where
    M: ManageConnection<Error = R2d2Error>,
{
    fn drop(&mut self) {
        self.close();
    }
}
