//! [`Config`], the builder that opens a [`Repository`](crate::Repository).

use std::time::Duration;

use crate::observe::EchoSettings;
use crate::pool::PoolSettings;
use crate::{Repository, Result};

/// How to open a [`Repository`]: the database URL, the pool, the SQL echo and
/// migrations. Every setting has a default suited to an embedded SQLite database, so
/// `Config::new(url).open()` is the same as [`Repository::open`](crate::Repository::open).
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use std::time::Duration;
/// use bookshelf::Config;
///
/// let repo = Config::new(":memory:")
///     .max_size(4)
///     .connection_timeout(Duration::from_secs(5))
///     .log_queries(true)
///     .open()?;
/// assert_eq!(repo.count_authors()?, 0);
/// # Ok(())
/// # }
/// ```
///
/// # Coming from SQLAlchemy
///
/// SQLAlchemy's `create_engine(url, pool_size=10, max_overflow=20)` keeps 10 connections
/// and opens up to 20 more under load. An r2d2 pool has one cap and a floor instead:
/// `Config::new(url).max_size(30).min_idle(Some(10))` allows 30 connections at once and
/// keeps at least 10 open; connections above the floor are closed after r2d2's idle
/// timeout (10 minutes). `pool_timeout` is [`connection_timeout`](Config::connection_timeout),
/// `echo=True` is [`log_queries`](Config::log_queries).
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) url: String,
    pub(crate) max_size: u32,
    pub(crate) min_idle: Option<u32>,
    pub(crate) connection_timeout: Duration,
    pub(crate) busy_timeout: Duration,
    pub(crate) log_queries: bool,
    pub(crate) log_bind_values: bool,
    pub(crate) slow_query_threshold: Duration,
    pub(crate) run_migrations: bool,
    pub(crate) process_exclusive: bool,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) statement_timeout: Option<Duration>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) health_check_after: Duration,
}

impl Config {
    /// Settings for the database at `url`: a path, `sqlite://path`, a `file:` URI, or
    /// `:memory:` for a private in-memory database; with the `postgres` feature, a
    /// `postgres://` or `postgresql://` URL (any libpq connection URI).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_size: 10,
            min_idle: None,
            connection_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            log_queries: false,
            log_bind_values: false,
            slow_query_threshold: Duration::from_secs(1),
            run_migrations: true,
            process_exclusive: false,
            statement_timeout: None,
            health_check_after: Duration::from_secs(30),
        }
    }

    /// The most connections the pool holds at once; a caller beyond that waits up to
    /// [`connection_timeout`](Config::connection_timeout). Defaults to 10.
    pub fn max_size(mut self, max_size: u32) -> Self {
        self.max_size = max_size;
        self
    }

    /// The fewest idle connections the pool keeps open; `None` keeps `max_size`.
    /// Defaults to `None`.
    pub fn min_idle(mut self, min_idle: Option<u32>) -> Self {
        self.min_idle = min_idle;
        self
    }

    /// How long a call waits for a free connection before it fails with
    /// [`Error::Pool`](crate::Error::Pool). Defaults to 30 seconds.
    ///
    /// On PostgreSQL it also bounds opening a connection: libpq's `connect_timeout` is
    /// this time rounded up to whole seconds, and at least 2 (libpq's own floor), unless
    /// the URL sets a `connect_timeout` of its own. Against a server that accepts the
    /// connection and never answers (a hung server, a black-hole proxy),
    /// [`open`](Config::open) then fails with [`Error::Connection`](crate::Error::Connection)
    /// instead of waiting without end, and the pool gives up a connection it cannot open
    /// and tries again, so such a server never holds a pool slot for good.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long a statement waits for another connection's lock before it fails (then
    /// [`Error::is_busy`](crate::Error::is_busy) is true): SQLite's `busy_timeout`, and
    /// PostgreSQL's `lock_timeout`, in whole milliseconds rounded up (a fraction of a
    /// millisecond counts as one), at most `i32::MAX` ms (about 24.8 days).
    /// `Duration::ZERO` means "do not wait": SQLite fails at once, and PostgreSQL waits
    /// at most 1 ms, its shortest limit, since it reads a `lock_timeout` of 0 as no
    /// limit. Defaults to 5 seconds.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Emits every statement as a `tracing` event at DEBUG level, with target
    /// `bookshelf::sql`, its SQL and its duration. Defaults to `false`.
    pub fn log_queries(mut self, log: bool) -> Self {
        self.log_queries = log;
        self
    }

    /// Adds the bound values to logged statements. They may hold personal data, so
    /// defaults to `false`.
    pub fn log_bind_values(mut self, log: bool) -> Self {
        self.log_bind_values = log;
        self
    }

    /// With [`log_queries`](Config::log_queries) on, statements that take at least this
    /// long are logged at WARN level instead of DEBUG, so that a subscriber filtering at
    /// WARN still sees them. Defaults to 1 second.
    pub fn slow_query_threshold(mut self, threshold: Duration) -> Self {
        self.slow_query_threshold = threshold;
        self
    }

    /// Applies pending migrations on open. With `false` the database is opened as it is
    /// (a database with migrations newer than this build is still refused), and
    /// [`Repository::run_pending_migrations`](crate::Repository::run_pending_migrations)
    /// applies them later. Defaults to `true`.
    pub fn run_migrations(mut self, run: bool) -> Self {
        self.run_migrations = run;
        self
    }

    /// SQLite file databases on Unix: this process holds the database alone, through
    /// SQLite's `unix-excl` VFS. Other processes cannot open the file while the
    /// repository is open (they wait out their busy timeout, then fail with `database is
    /// locked`), not even to read it: no `sqlite3` shell beside a running application,
    /// no second instance, no migration run from another process. In exchange the WAL
    /// index lives in this process's memory, so reads stop taking a file lock on the
    /// `-shm` file twice each: one-row lookups ran 2.7× faster on one thread and
    /// 2–4× faster on two here (see docs/benchmarks.md). Everything else — WAL, durability,
    /// crash recovery, any number of connections in this process — is unchanged.
    /// Within the process, open the file only through repositories with this setting:
    /// a connection opened another way would keep a WAL index of its own. Defaults to
    /// `false`. In-memory databases and PostgreSQL ignore it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("bookshelf-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("app.db");
    /// let repo = bookshelf::Config::new(path.to_string_lossy())
    ///     .process_exclusive(true)
    ///     .open()?;
    /// assert_eq!(repo.count_authors()?, 0);
    /// # drop(repo);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn process_exclusive(mut self, exclusive: bool) -> Self {
        self.process_exclusive = exclusive;
        self
    }

    /// PostgreSQL only: the server cancels any statement of a pooled connection that
    /// runs longer than this (`statement_timeout`), so a runaway query cannot hold a
    /// connection and its locks indefinitely. Migrations run without it. It bounds the
    /// whole of a [`for_each_book`](crate::Repository::for_each_book) scan too. The
    /// limit is whole milliseconds rounded up (a fraction of a millisecond counts as
    /// one, so `Some` of any duration, even zero, is a limit of at least 1 ms), at most
    /// `i32::MAX` ms (about 24.8 days). `None`, the default, sets no limit. SQLite has
    /// no such setting and ignores it.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// PostgreSQL only: a connection that has been idle in the pool at least this long
    /// is tested with a round trip before it is handed out, and replaced if it is dead
    /// (a proxy or firewall may drop quiet connections without a word). Connections in
    /// steady use are not tested that way, which would add a round trip to every
    /// operation. `Duration::ZERO` tests on every checkout. Defaults to 30 seconds.
    /// SQLite connections never go stale and are never tested.
    ///
    /// Whatever this setting, every checkout first reads what the server sent the idle
    /// connection, without a round trip, and replaces a connection the server closed (a
    /// server restart, `pg_terminate_backend`, `idle_session_timeout`): after a restart
    /// no call fails. A connection that dies without a word fails the one call that
    /// meets it, and is discarded; every other connection opened before is then tested
    /// on its next checkout, since whatever ended one (a proxy or server gone) presumably
    /// ended them all, so that call is the only one to fail.
    pub fn health_check_after(mut self, idle: Duration) -> Self {
        self.health_check_after = idle;
        self
    }

    /// Opens the repository.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`](crate::Error::UnsupportedUrl) for a URL of another
    /// database, [`Error::Connection`](crate::Error::Connection) when the database cannot
    /// be opened, [`Error::Migration`](crate::Error::Migration) when it holds a migration
    /// this build does not know or a migration fails, [`Error::Pool`](crate::Error::Pool)
    /// when the pool cannot open its connections.
    pub fn open(self) -> Result<Repository> {
        Repository::from_config(self)
    }
}

impl Config {
    /// What the SQL echo logs.
    pub(crate) fn echo(&self) -> EchoSettings {
        EchoSettings {
            log_queries: self.log_queries,
            log_bind_values: self.log_bind_values,
            slow_query_threshold: self.slow_query_threshold,
        }
    }

    /// The r2d2 settings every backend's pool takes.
    pub(crate) fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_size: self.max_size,
            min_idle: self.min_idle,
            connection_timeout: self.connection_timeout,
        }
    }
}
