//! PostgreSQL connections: the session settings each one gets, and a pool that checks a
//! connection's health only when that can pay: always without a round trip, and with
//! one only after it has been idle long enough or another connection was found lost.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;

use super::health::{Health, LossEpoch};
use super::session::PgSession;
use super::settings::{server_millis, with_connect_timeout};
use crate::error::Result;
use crate::observe::{Counters, EchoSettings, FailureWatch, Observer};
use crate::pool::{into_r2d2, GatedPool, PoolSettings};

/// The pool type of a PostgreSQL repository.
pub(crate) type PgPool = GatedPool<PgManager>;

/// Settings applied to each PostgreSQL connection when it is opened.
#[derive(Debug, Clone)]
pub(crate) struct PgSetup {
    /// How long opening a connection may take (libpq's `connect_timeout`, unless the
    /// URL sets its own).
    pub(crate) connect_timeout: Duration,
    /// `lock_timeout`: how long a statement waits for a row or table lock, the
    /// counterpart of SQLite's busy timeout.
    pub(crate) lock_timeout: Duration,
    /// `statement_timeout` of pooled connections (not of the one that migrates).
    pub(crate) statement_timeout: Option<Duration>,
    /// Whether connections keep their prepared statements (off behind a pooler that
    /// moves sessions between server connections).
    pub(crate) statement_cache: bool,
    /// The server is reached through a pooler in transaction mode
    /// ([`Config::transaction_pooler`](crate::Config::transaction_pooler)): no
    /// prepared statement by name, no session `SET`, the timeouts with every `BEGIN`.
    pub(crate) transaction_pooler: bool,
    pub(crate) echo: EchoSettings,
    pub(crate) counters: Arc<Counters>,
}

impl PgSetup {
    /// Opens a connection with the lock timeout set (and no statement timeout: this is
    /// the connection that runs migrations, which may take long on a large table).
    pub(crate) fn connect(&self, url: &str) -> Result<PgConnection> {
        self.open(url, None, None)
    }

    /// Opens a connection with the lock timeout and `statement_timeout` set, its
    /// statements observed by `observer`.
    fn open(
        &self,
        url: &str,
        statement_timeout: Option<Duration>,
        observer: Option<Observer>,
    ) -> Result<PgConnection> {
        let mut conn = PgConnection::establish(&with_connect_timeout(url, self.connect_timeout))?;
        if !self.statement_cache || self.transaction_pooler {
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        }
        let local_settings = if self.transaction_pooler {
            // A session `SET` would land on one server connection of the pooler, and
            // hold there for whichever client gets it next.
            Some(self.timeouts("SET LOCAL", statement_timeout))
        } else {
            self.session(&mut conn, statement_timeout)?;
            None
        };
        // After the session's `SET`, which the observer does not count as a statement.
        conn.set_instrumentation(PgSession::new(observer, local_settings));
        Ok(conn)
    }

    /// The timeouts as `set` statements (`SET`, or `SET LOCAL`), in one text.
    fn timeouts(&self, set: &str, statement_timeout: Option<Duration>) -> String {
        format!(
            "{set} lock_timeout = {}; {set} statement_timeout = {}",
            server_millis(self.lock_timeout),
            // 0 is the server's "no limit".
            statement_timeout.map_or(0, server_millis),
        )
    }

    /// One round trip: `SET` runs outside any transaction and lasts for the session.
    fn session(&self, conn: &mut PgConnection, statement_timeout: Option<Duration>) -> Result<()> {
        conn.batch_execute(&self.timeouts("SET", statement_timeout))?;
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
    /// Shared with the connection's observer, which reports it lost.
    health: Arc<Health>,
}

/// Opens pooled connections, and decides which are still good.
///
/// r2d2 can test every connection on checkout, at a round trip each time; on a busy
/// pool that is a `SELECT 1` before every operation, checking connections that were in
/// use a millisecond ago. Instead, every checkout reads what the server sent the idle
/// connection, which costs no round trip and finds a connection the server closed (a
/// restart, `pg_terminate_backend`, `idle_session_timeout`). A round trip is spent only
/// where a connection may have died without a word: one idle for at least
/// `health_check_after` (a firewall or proxy dropping quiet connections), and one last
/// known good before another connection of the pool was found lost. A connection that
/// failed with a closed-connection error while in use is discarded when it comes back,
/// whatever its age, so the pool never hands it out again.
#[derive(Debug)]
pub(crate) struct PgManager {
    url: String,
    setup: PgSetup,
    health_check_after: Duration,
    epoch: Arc<LossEpoch>,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgPooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<PgPooled, Self::Error> {
        let health = Arc::new(Health::new(Arc::clone(&self.epoch)));
        let observer = Observer::new(Arc::clone(&self.setup.counters), self.setup.echo)
            .watching(Arc::clone(&health) as Arc<dyn FailureWatch>);
        let conn = self
            .setup
            .open(&self.url, self.setup.statement_timeout, Some(observer))
            .map_err(into_r2d2)?;
        self.setup
            .counters
            .connections
            .fetch_add(1, Ordering::Relaxed);
        Ok(PgPooled {
            conn,
            returned: Instant::now(),
            health,
        })
    }

    fn is_valid(&self, pooled: &mut PgPooled) -> std::result::Result<(), Self::Error> {
        if let Err(error) = still_open(&mut pooled.conn) {
            pooled.health.report_lost();
            return Err(diesel::r2d2::Error::QueryError(error));
        }
        let idle = pooled.returned.elapsed() >= self.health_check_after;
        if !idle && !pooled.health.is_suspect() {
            return Ok(());
        }
        pooled
            .health
            .test(|| pooled.conn.ping())
            .map_err(diesel::r2d2::Error::QueryError)?;
        self.setup
            .counters
            .setup_statements
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn has_broken(&self, pooled: &mut PgPooled) -> bool {
        pooled.returned = Instant::now();
        std::thread::panicking() || pooled.health.is_lost() || pooled.conn.is_broken()
    }
}

/// Reads, without waiting and without a round trip, whatever the server sent an idle
/// connection, and fails when the server has closed it. A server ending a session sends
/// a last message and then closes the socket: the first read takes the message (one read
/// alone missed every closed connection), the second meets the end. Nothing else
/// arrives on an idle connection of this crate, which never `LISTEN`s.
fn still_open(conn: &mut PgConnection) -> QueryResult<()> {
    let mut input = conn.notifications_iter();
    for _ in 0..2 {
        if let Some(Err(error)) = input.next() {
            return Err(error);
        }
    }
    Ok(())
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
        epoch: Arc::new(LossEpoch::default()),
    };
    // Cheap: `is_valid` spends a round trip only on connections that may be dead.
    PgPool::build(settings, manager, |builder| builder.test_on_check_out(true))
}
