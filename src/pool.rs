//! Connection set-up: which database a URL names, the pragmas every SQLite connection
//! gets, and the pool around them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel::sqlite::SqliteConnection;

use crate::observe::{Counters, EchoSettings, Observer};
use crate::{Error, Result};

/// The pool type of an SQLite repository.
pub(crate) type SqlitePool = r2d2::Pool<ConnectionManager<SqliteConnection>>;

/// The pool of a repository, of whichever backend its URL named.
pub(crate) enum AnyPool {
    Sqlite(SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::PgPool),
}

impl AnyPool {
    pub(crate) fn state(&self) -> r2d2::State {
        match self {
            AnyPool::Sqlite(pool) => pool.state(),
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(pool) => pool.state(),
        }
    }

    pub(crate) fn backend(&self) -> &'static str {
        use crate::connection::Backend;
        match self {
            AnyPool::Sqlite(_) => SqliteConnection::NAME,
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(_) => diesel::pg::PgConnection::NAME,
        }
    }
}

/// Checks out a connection from `$pool` (an [`AnyPool`]) and runs `$body` with `$conn`
/// bound to it as the concrete connection type.
macro_rules! with_pooled {
    ($pool:expr, |$conn:ident| $body:expr) => {
        match $pool {
            $crate::pool::AnyPool::Sqlite(pool) => {
                let mut pooled = pool.get()?;
                let $conn: &mut ::diesel::sqlite::SqliteConnection = &mut pooled;
                $body
            }
            #[cfg(feature = "postgres")]
            $crate::pool::AnyPool::Postgres(pool) => {
                let mut pooled = pool.get()?;
                let $conn: &mut ::diesel::pg::PgConnection = &mut pooled.conn;
                $body
            }
        }
    };
}
pub(crate) use with_pooled;

/// The database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A file (a path, `sqlite://path` or a `file:` URI), given as SQLite will open it.
    SqliteFile(String),
    /// A private in-memory database.
    SqliteMemory,
    /// A PostgreSQL server (a `postgres://` or `postgresql://` URL, as libpq takes it).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        if matches!(url, ":memory:" | "sqlite::memory:" | "sqlite://:memory:") {
            return Ok(Target::SqliteMemory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Ok(Target::Postgres(url.to_owned()));
            #[cfg(not(feature = "postgres"))]
            return Err(Error::UnsupportedUrl(
                "a PostgreSQL URL needs bookshelf's `postgres` cargo feature \
                 (bookshelf = { features = [\"postgres\"] })"
                    .to_owned(),
            ));
        }
        if url.is_empty() {
            return Err(Error::UnsupportedUrl("the url is empty".to_owned()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            if scheme != "sqlite" {
                return Err(Error::UnsupportedUrl(format!("unknown scheme {scheme:?}")));
            }
        }
        Ok(Target::SqliteFile(url.to_owned()))
    }
}

/// For a plain path (or `sqlite://path`), names what SQLite would only report as
/// "unable to open database file": a directory, or a parent directory that is missing.
pub(crate) fn check_path(url: &str) -> Result<()> {
    if url.starts_with("file:") {
        return Ok(());
    }
    let path = std::path::Path::new(url.strip_prefix("sqlite://").unwrap_or(url));
    let problem = if path.is_dir() {
        Some(format!(
            "{} is a directory, not a database file",
            path.display()
        ))
    } else {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() && !parent.is_dir() => {
                Some(format!("directory {} does not exist", parent.display()))
            }
            _ => None,
        }
    };
    match problem {
        Some(problem) => Err(Error::Connection(diesel::ConnectionError::BadConnection(
            problem,
        ))),
        None => Ok(()),
    }
}

/// `url` (a path, `sqlite://path` or a `file:` URI) as a URI that opens the file
/// through SQLite's `unix-excl` VFS: the first connection takes an exclusive lock on the
/// file for this process, other connections of the process share the database as usual,
/// and the WAL index lives in this process's memory instead of the `-shm` file, so a
/// read transaction no longer takes a file lock on it. Other processes cannot open the
/// database meanwhile.
///
/// # Errors
///
/// [`Error::UnsupportedUrl`] for a URI that names a VFS of its own, or on a platform
/// without SQLite's unix VFS.
pub(crate) fn process_exclusive(url: &str) -> Result<String> {
    if !cfg!(unix) {
        return Err(Error::UnsupportedUrl(
            "process_exclusive needs SQLite's unix-excl VFS (Unix only)".to_owned(),
        ));
    }
    if let Some(uri) = url.strip_prefix("file:") {
        if uri.contains("vfs=") {
            return Err(Error::UnsupportedUrl(
                "process_exclusive chooses the VFS, but the URI names one".to_owned(),
            ));
        }
        let joiner = if uri.contains('?') { '&' } else { '?' };
        return Ok(format!("{url}{joiner}vfs=unix-excl"));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    // The characters a URI path cannot hold as they are.
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '?' => escaped.push_str("%3f"),
            '#' => escaped.push_str("%23"),
            c => escaped.push(c),
        }
    }
    Ok(format!("file:{escaped}?vfs=unix-excl"))
}

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
    let deadline = Instant::now() + busy_timeout;
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
        if !error.is_busy() || Instant::now() >= deadline {
            return Err(error);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Settings applied to each SQLite connection when it is opened.
#[derive(Debug, Clone)]
pub(crate) struct SqliteSetup {
    pub(crate) busy_timeout: Duration,
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
    /// it is read back rather than trusted.
    pub(crate) fn pragmas(&self, conn: &mut SqliteConnection) -> Result<()> {
        let millis = self.busy_timeout.as_millis().min(i32::MAX as u128);
        for pragma in [
            format!("PRAGMA busy_timeout = {millis}"),
            "PRAGMA foreign_keys = ON".to_owned(),
            // With WAL, NORMAL is durable against application crashes and keeps the
            // database consistent through power loss; only the last commits may be lost.
            "PRAGMA synchronous = NORMAL".to_owned(),
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

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.pragmas(conn).map_err(into_r2d2)?;
        self.observe(conn);
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

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

/// Pool settings taken from [`Config`](crate::Config).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    pub(crate) max_size: u32,
    pub(crate) min_idle: Option<u32>,
    pub(crate) connection_timeout: Duration,
}

pub(crate) fn sqlite_pool(
    url: &str,
    setup: SqliteSetup,
    settings: PoolSettings,
) -> Result<SqlitePool> {
    Ok(r2d2::Pool::builder()
        .max_size(settings.max_size)
        .min_idle(settings.min_idle)
        .connection_timeout(settings.connection_timeout)
        // An SQLite connection is a handle on a local file; it does not go stale the way
        // a network connection does, so the `SELECT 1` r2d2 would send on every checkout
        // buys nothing.
        .test_on_check_out(false)
        .connection_customizer(Box::new(setup))
        .build(ConnectionManager::new(url))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_database() {
        assert_eq!(Target::parse(":memory:").ok(), Some(Target::SqliteMemory));
        assert_eq!(
            Target::parse("sqlite://data/x.db").ok(),
            Some(Target::SqliteFile("sqlite://data/x.db".into()))
        );
        assert_eq!(
            Target::parse("file:x.db?mode=rwc").ok(),
            Some(Target::SqliteFile("file:x.db?mode=rwc".into()))
        );
        #[cfg(not(feature = "postgres"))]
        assert!(matches!(
            Target::parse("postgres://localhost/db"),
            Err(Error::UnsupportedUrl(message)) if message.contains("`postgres` cargo feature")
        ));
        #[cfg(feature = "postgres")]
        assert_eq!(
            Target::parse("postgresql://localhost/db").ok(),
            Some(Target::Postgres("postgresql://localhost/db".into()))
        );
        assert!(matches!(
            Target::parse("mysql://localhost/db"),
            Err(Error::UnsupportedUrl(_))
        ));
        assert!(matches!(Target::parse(""), Err(Error::UnsupportedUrl(_))));
    }

    #[test]
    fn process_exclusive_urls_name_the_unix_excl_vfs() -> Result<()> {
        assert_eq!(
            process_exclusive("data/x.db")?,
            "file:data/x.db?vfs=unix-excl"
        );
        assert_eq!(
            process_exclusive("sqlite:///tmp/a?b#c%d.db")?,
            "file:/tmp/a%3fb%23c%25d.db?vfs=unix-excl"
        );
        assert_eq!(
            process_exclusive("file:x.db?mode=rwc")?,
            "file:x.db?mode=rwc&vfs=unix-excl"
        );
        assert!(matches!(
            process_exclusive("file:x.db?vfs=unix-dotfile"),
            Err(Error::UnsupportedUrl(_))
        ));
        Ok(())
    }

    #[test]
    fn memory_urls_are_unique() {
        assert_ne!(memory_url(), memory_url());
    }
}
