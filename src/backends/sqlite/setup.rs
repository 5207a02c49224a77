//! SQLite connection set-up: the pragmas every connection gets, the WAL switch, the
//! in-memory database's name, and the pool around them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel::sqlite::SqliteConnection;

use crate::error::{Error, Result};
use crate::observe::{Counters, EchoSettings, Observer};
use crate::pool::{into_r2d2, Counted, GatedPool, PoolSettings};

/// The pool type of an SQLite repository.
pub(crate) type SqlitePool = GatedPool<ConnectionManager<SqliteConnection>>;

/// The most the WAL file keeps of its size once a checkpoint has emptied it, in bytes.
/// A reader that holds a snapshot for long stops checkpoints from reaching the WAL's
/// end, so the WAL grows with every write meanwhile; without a limit SQLite reuses the
/// file at that size for ever. 64 MiB keeps sixteen times what the automatic checkpoint
/// lets the WAL reach in steady use (1,000 pages of 4 KiB), so ordinary bursts do not
/// make SQLite shrink and regrow the file.
pub(crate) const JOURNAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// A name for a new in-memory database, unique in this process. SQLite's `memdb` VFS
/// shares a database among every connection of the process that opens the same name
/// starting with `/`, and frees it when the last one closes. Unlike a plain `:memory:`
/// (one database per connection) every pooled connection then sees the same data, and
/// unlike `cache=shared` (table locks that fail at once, or dirty reads) a connection
/// that meets a lock waits through the busy timeout. There is no WAL: while a write
/// transaction is open, readers on other connections wait for it to end.
pub(crate) fn memory_url() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("file:/bookshelf-{}-{n}?vfs=memdb", std::process::id())
}

/// Switches a file database to the WAL journal (persistent in the file; set once, on
/// open, outside any transaction, where SQLite would ignore it).
///
/// The switch needs the write lock, and SQLite does not wait for it through the busy
/// handler: another connection holding the lock (a second process opening the same new
/// file, say) makes it fail at once with `database is locked`. So it is retried until the
/// busy timeout runs out. A read-only database keeps the journal it has.
pub(crate) fn enable_wal(conn: &mut SqliteConnection, busy_timeout: Duration) -> Result<()> {
    // A deadline too far to represent is one never reached.
    let deadline = Instant::now().checked_add(busy_timeout);
    loop {
        let mode: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "journal_mode FROM pragma_journal_mode",
        ))
        .get_result(conn)?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        let error = match conn.batch_execute("PRAGMA journal_mode = WAL") {
            Ok(()) => return Ok(()),
            Err(error) => Error::from(error),
        };
        if error.is_read_only() {
            return Ok(());
        }
        if !error.is_busy() || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(error);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Settings applied to each SQLite connection when it is opened.
#[derive(Debug, Clone)]
pub(crate) struct SqliteSetup {
    pub(crate) busy_timeout: Duration,
    /// [`Config::page_cache_size`](crate::Config::page_cache_size), in bytes.
    pub(crate) page_cache_size: u64,
    /// [`Config::mmap_size`](crate::Config::mmap_size), in bytes.
    pub(crate) mmap_size: u64,
    pub(crate) echo: EchoSettings,
    pub(crate) counters: Arc<Counters>,
}

impl SqliteSetup {
    /// Opens a connection and applies the pragmas (not the echo: see [`Self::observe`]).
    pub(crate) fn connect(&self, url: &str) -> Result<SqliteConnection> {
        let mut conn = SqliteConnection::establish(url)?;
        // SQLite opens files lazily: a file that is not a database shows up here. A lock
        // held by another process (one holding it `process_exclusive`) stays a busy
        // error: waiting and retrying may help, unlike a bad file.
        self.pragmas(&mut conn).map_err(|error| match error {
            Error::Database(database) if !error.is_busy() => {
                Error::Connection(diesel::ConnectionError::BadConnection(database.to_string()))
            }
            other => other,
        })?;
        Ok(conn)
    }

    /// Each pragma runs in its own statement, busy timeout first so that the others wait
    /// for a lock rather than fail. `foreign_keys` is a no-op inside a transaction, so
    /// it is read back rather than trusted. None of them writes to the database.
    pub(crate) fn pragmas(&self, conn: &mut SqliteConnection) -> Result<()> {
        for pragma in [
            format!(
                "PRAGMA busy_timeout = {}",
                busy_timeout_millis(self.busy_timeout)
            ),
            "PRAGMA foreign_keys = ON".to_owned(),
            // With WAL, NORMAL is durable against application crashes and keeps the
            // database consistent through power loss; only the last commits may be lost.
            "PRAGMA synchronous = NORMAL".to_owned(),
            format!("PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}"),
            // Negative: a size in KiB, whatever the page size (positive would count pages).
            format!(
                "PRAGMA cache_size = -{}",
                crate::config::page_cache_kib(self.page_cache_size)
            ),
            format!("PRAGMA mmap_size = {}", self.mmap_size),
        ] {
            conn.batch_execute(&pragma)?;
            self.counters
                .setup_statements
                .fetch_add(1, Ordering::Relaxed);
        }
        let foreign_keys: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
            "foreign_keys FROM pragma_foreign_keys",
        ))
        .get_result(conn)?;
        self.counters
            .setup_statements
            .fetch_add(1, Ordering::Relaxed);
        if foreign_keys != 1 {
            return Err(Error::Database(diesel::result::Error::QueryBuilderError(
                "the connection refused PRAGMA foreign_keys = ON".into(),
            )));
        }
        Ok(())
    }

    /// Installs the statement counter and the SQL echo.
    pub(crate) fn observe(&self, conn: &mut SqliteConnection) {
        conn.set_instrumentation(Observer::new(Arc::clone(&self.counters), self.echo));
    }
}

/// SQLite's `busy_timeout` for `timeout`: whole milliseconds, rounded up so that a
/// fraction of one still waits (zero stays zero: do not wait), at most `i32::MAX`.
pub(crate) fn busy_timeout_millis(timeout: Duration) -> i32 {
    i32::try_from(crate::config::millis_rounded_up(timeout)).unwrap_or(i32::MAX)
}

impl CustomizeConnection<Counted<SqliteConnection>, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(&self, conn: &mut Counted<SqliteConnection>) -> Result<(), diesel::r2d2::Error> {
        self.pragmas(conn).map_err(into_r2d2)?;
        self.observe(conn);
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A pool of SQLite connections to `uri`, each set up by `setup`.
pub(crate) fn sqlite_pool(
    uri: &str,
    setup: SqliteSetup,
    settings: PoolSettings,
) -> Result<SqlitePool> {
    GatedPool::build(settings, ConnectionManager::new(uri), |builder| {
        builder
            // An SQLite connection is a handle on a local file; it does not go stale the
            // way a network connection does, so the `SELECT 1` r2d2 would send on every
            // checkout buys nothing.
            .test_on_check_out(false)
            .connection_customizer(Box::new(setup))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_timeouts_round_up_to_whole_milliseconds() {
        for (timeout, millis) in [
            (Duration::ZERO, 0),
            (Duration::from_nanos(1), 1),
            (Duration::from_micros(1500), 2),
            (Duration::from_millis(5000), 5000),
            (Duration::from_millis(i32::MAX as u64), i32::MAX),
            (Duration::MAX, i32::MAX),
        ] {
            assert_eq!(busy_timeout_millis(timeout), millis, "{timeout:?}");
        }
    }

    #[test]
    fn memory_urls_are_unique() {
        assert_ne!(memory_url(), memory_url());
    }
}
