//! MySQL connections: the session settings each one gets, its pool, and how a
//! repository on MySQL opens.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;

use crate::config::Config;
use crate::error::Result;
use crate::migrations;
use crate::observe::{Counters, EchoSettings, Observer};
use crate::pool::{into_r2d2, GatedPool, PoolSettings};
use crate::target::MysqlTarget;

/// The pool type of a MySQL repository.
pub(crate) type MysqlPool = GatedPool<MysqlManager>;

/// The SQL mode of every connection: strict for every table (a value that does not
/// fit is an error, never a silent truncation), no zero dates, division by zero an
/// error, and no silent change of storage engine.
const SQL_MODE: &str = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,\
                        ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/// Settings applied to each MySQL connection when it is opened.
#[derive(Debug, Clone)]
pub(crate) struct MysqlSetup {
    /// `innodb_lock_wait_timeout` (and `lock_wait_timeout`, for table metadata): how
    /// long a statement waits for a lock, the counterpart of SQLite's busy timeout.
    pub(crate) lock_timeout: Duration,
    /// MariaDB's `max_statement_time` of pooled connections (not of the one that
    /// migrates).
    pub(crate) statement_timeout: Option<Duration>,
    /// Whether connections keep their prepared statements.
    pub(crate) statement_cache: bool,
    pub(crate) echo: EchoSettings,
    pub(crate) counters: Arc<Counters>,
}

/// `timeout` in whole seconds, rounded up and at least 1: InnoDB's lock timeouts are
/// whole seconds, and 0 would mean "do not wait at all".
fn whole_seconds(timeout: Duration) -> u64 {
    timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0))
        .clamp(1, 1_073_741_824)
}

impl MysqlSetup {
    /// Opens a connection with the session settings and no statement timeout (this is
    /// the connection that runs migrations).
    pub(crate) fn connect(&self, url: &str) -> Result<MysqlConnection> {
        self.open(url, None, None)
    }

    fn open(
        &self,
        url: &str,
        statement_timeout: Option<Duration>,
        observer: Option<Observer>,
    ) -> Result<MysqlConnection> {
        let mut conn = MysqlConnection::establish(url)?;
        if !self.statement_cache {
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        }
        // One round trip: the client sends the statements as one text.
        conn.batch_execute(&self.session_sql(statement_timeout))?;
        self.counters
            .setup_statements
            .fetch_add(1, Ordering::Relaxed);
        // After the set-up, which the observer does not count as a statement.
        if let Some(observer) = observer {
            conn.set_instrumentation(observer);
        }
        Ok(conn)
    }

    /// The session's settings: text in utf8mb4 (the tables' character set), times in
    /// UTC (`UTC_TIMESTAMP` needs no zone, but `NOW()` in another writer's SQL does),
    /// the strict SQL mode, REPEATABLE READ (InnoDB's default, which the eager load's
    /// consistent snapshot relies on, set in case the server's is another), and the
    /// lock timeouts.
    fn session_sql(&self, statement_timeout: Option<Duration>) -> String {
        let lock = whole_seconds(self.lock_timeout);
        let mut sql = format!(
            "SET NAMES utf8mb4; \
             SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
             SET SESSION time_zone = '+00:00', sql_mode = '{SQL_MODE}', \
             innodb_lock_wait_timeout = {lock}, lock_wait_timeout = {lock}"
        );
        if let Some(timeout) = statement_timeout {
            // MariaDB's, in seconds with microseconds (MySQL has no such setting: a
            // statement timeout there fails the connection, and so the opening).
            let micros = timeout.as_micros().max(1);
            sql.push_str(&format!(
                ", max_statement_time = {}.{:06}",
                micros / 1_000_000,
                micros % 1_000_000
            ));
        }
        sql
    }
}

/// A pooled MySQL connection, and when it last went back to the pool.
pub(crate) struct MysqlPooled {
    pub(crate) conn: MysqlConnection,
    returned: Instant,
}

/// Opens pooled connections, and tests those that have been idle long enough (a
/// proxy, a firewall or the server's `wait_timeout` may have closed them) with a round
/// trip before handing them out.
#[derive(Debug)]
pub(crate) struct MysqlManager {
    url: String,
    setup: MysqlSetup,
    health_check_after: Duration,
}

impl r2d2::ManageConnection for MysqlManager {
    type Connection = MysqlPooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<MysqlPooled, Self::Error> {
        let observer = Observer::new(Arc::clone(&self.setup.counters), self.setup.echo);
        let conn = self
            .setup
            .open(&self.url, self.setup.statement_timeout, Some(observer))
            .map_err(into_r2d2)?;
        self.setup
            .counters
            .connections
            .fetch_add(1, Ordering::Relaxed);
        Ok(MysqlPooled {
            conn,
            returned: Instant::now(),
        })
    }

    fn is_valid(&self, pooled: &mut MysqlPooled) -> std::result::Result<(), Self::Error> {
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

    fn has_broken(&self, pooled: &mut MysqlPooled) -> bool {
        pooled.returned = Instant::now();
        std::thread::panicking() || pooled.conn.is_broken()
    }
}

/// Opens a MySQL database: one connection (without a statement timeout) checks the
/// migrations, the pool opens its connections, and only then does that connection apply
/// the migrations, under the migration lock.
///
/// diesel's MySQL connection takes no connect timeout: a server that accepts the
/// connection and never answers holds the opening until the operating system gives
/// up on it. [`Config::connection_timeout`] bounds the pool's checkouts as on the
/// other backends.
pub(crate) fn open(
    target: &MysqlTarget,
    config: &Config,
    counters: &Arc<Counters>,
) -> Result<MysqlPool> {
    let setup = MysqlSetup {
        lock_timeout: config.busy_timeout,
        statement_timeout: config.statement_timeout,
        statement_cache: config.statement_cache,
        echo: config.echo(),
        counters: Arc::clone(counters),
    };
    let url = target.url.as_str();
    let mut conn = setup.connect(url)?;
    let pending = migrations::pending_on_open(&mut conn)?;
    let pool = mysql_pool(
        url,
        setup,
        config.pool_settings(),
        config.health_check_after,
    )?;
    migrations::apply_on_open(&mut conn, config.run_migrations, &pending)?;
    Ok(pool)
}

/// A pool of MySQL connections to `url`.
fn mysql_pool(
    url: &str,
    setup: MysqlSetup,
    settings: PoolSettings,
    health_check_after: Duration,
) -> Result<MysqlPool> {
    let manager = MysqlManager {
        url: url.to_owned(),
        setup,
        health_check_after,
    };
    MysqlPool::build(settings, manager, |builder| builder.test_on_check_out(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts_are_whole_seconds_rounded_up_and_never_zero() {
        let cases = [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1_001), 2),
            (Duration::from_secs(30), 30),
            (Duration::MAX, 1_073_741_824),
        ];
        for (timeout, secs) in cases {
            assert_eq!(whole_seconds(timeout), secs, "{timeout:?}");
        }
    }
}
