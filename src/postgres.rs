//! PostgreSQL connections: the session settings each one gets, and a pool that checks a
//! connection's health only when it has been idle long enough for that to pay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;

use crate::observe::{Counters, EchoSettings, Observer};
use crate::pool::{into_r2d2, PoolSettings};
use crate::Result;

/// The pool type of a PostgreSQL repository.
pub(crate) type PgPool = crate::closing::GatedPool<PgManager>;

/// Settings applied to each PostgreSQL connection when it is opened.
#[derive(Debug, Clone)]
pub(crate) struct PgSetup {
    /// `lock_timeout`: how long a statement waits for a row or table lock, the
    /// counterpart of SQLite's busy timeout.
    pub(crate) lock_timeout: Duration,
    /// `statement_timeout` of pooled connections (not of the one that migrates).
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) echo: EchoSettings,
    pub(crate) counters: Arc<Counters>,
}

impl PgSetup {
    /// Opens a connection with the lock timeout set (and no statement timeout: this is
    /// the connection that runs migrations, which may take long on a large table).
    pub(crate) fn connect(&self, url: &str) -> Result<PgConnection> {
        self.open(url, None)
    }

    /// Opens a connection with the lock timeout and `statement_timeout` set.
    fn open(&self, url: &str, statement_timeout: Option<Duration>) -> Result<PgConnection> {
        let mut conn = PgConnection::establish(url)?;
        self.session(&mut conn, statement_timeout)?;
        Ok(conn)
    }

    /// One round trip: `SET` runs outside any transaction and lasts for the session.
    fn session(&self, conn: &mut PgConnection, statement_timeout: Option<Duration>) -> Result<()> {
        let millis = |timeout: Duration| timeout.as_millis().min(i32::MAX as u128);
        conn.batch_execute(&format!(
            "SET lock_timeout = {}; SET statement_timeout = {}",
            millis(self.lock_timeout),
            statement_timeout.map_or(0, millis),
        ))?;
        self.counters
            .setup_statements
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A pooled PostgreSQL connection with what the pool needs to know about it.
pub(crate) struct PgPooled {
    pub(crate) conn: PgConnection,
    /// When the connection last went back to the pool.
    returned: Instant,
    /// Raised by the connection's observer when a statement found it closed.
    lost: Arc<AtomicBool>,
}

/// Opens pooled connections, and decides which are still good.
///
/// r2d2 can test every connection on checkout, at a round trip each time; on a busy
/// pool that is a `SELECT 1` before every operation, checking connections that were in
/// use a millisecond ago. Connections go bad when they sit idle (a server restart, a
/// firewall or proxy dropping quiet connections, `idle_session_timeout`), so only a
/// connection idle for at least `health_check_after` is tested. A connection that
/// failed with a closed-connection error while in use is discarded when it comes back,
/// whatever its age, so the pool never hands it out again.
#[derive(Debug)]
pub(crate) struct PgManager {
    url: String,
    setup: PgSetup,
    health_check_after: Duration,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgPooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<PgPooled, Self::Error> {
        let mut conn = self
            .setup
            .open(&self.url, self.setup.statement_timeout)
            .map_err(into_r2d2)?;
        let lost = Arc::new(AtomicBool::new(false));
        conn.set_instrumentation(
            Observer::new(Arc::clone(&self.setup.counters), self.setup.echo)
                .watching_for_loss(Arc::clone(&lost)),
        );
        self.setup
            .counters
            .connections
            .fetch_add(1, Ordering::Relaxed);
        Ok(PgPooled {
            conn,
            returned: Instant::now(),
            lost,
        })
    }

    fn is_valid(&self, pooled: &mut PgPooled) -> std::result::Result<(), Self::Error> {
        if pooled.returned.elapsed() < self.health_check_after {
            return Ok(());
        }
        pooled
            .conn
            .ping()
            .map_err(diesel::r2d2::Error::QueryError)?;
        self.setup
            .counters
            .setup_statements
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn has_broken(&self, pooled: &mut PgPooled) -> bool {
        pooled.returned = Instant::now();
        std::thread::panicking() || pooled.lost.load(Ordering::Relaxed) || pooled.conn.is_broken()
    }
}

/// A pool of PostgreSQL connections to `url`.
pub(crate) fn pg_pool(
    url: &str,
    setup: PgSetup,
    settings: PoolSettings,
    health_check_after: Duration,
) -> Result<PgPool> {
    let manager = PgManager {
        url: url.to_owned(),
        setup,
        health_check_after,
    };
    // Cheap: `is_valid` tests only connections that were idle a while.
    PgPool::build(settings, manager, |builder| builder.test_on_check_out(true))
}
