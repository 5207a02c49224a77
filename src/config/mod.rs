//! [`Config`], the builder that opens a [`Repository`](crate::Repository).

mod location;
mod sqlite;

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use self::location::redacted;
pub(crate) use self::location::{Location, ServerUrl};
pub(crate) use self::sqlite::page_cache_kib;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::observe::EchoSettings;
use crate::pool::PoolSettings;
use crate::target::Target;

/// The most connections a pool may hold. r2d2 reserves room for `max_size` connections
/// up front, and opens that many when `min_idle` is `None`; past a thousand, a pool of
/// SQLite connections (one writer at a time) or of server connections (PostgreSQL
/// allows 100 by default) only exhausts file descriptors.
const MAX_POOL_SIZE: u32 = 1024;

/// The longest [`Config::connection_timeout`]: a call that has waited a day for a
/// connection is hung, not patient. The bound also keeps every deadline computed from
/// it (`now + timeout`) far from where `Instant` overflows.
const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest [`Config::busy_timeout`] and [`Config::statement_timeout`], in
/// milliseconds: SQLite's `busy_timeout` and PostgreSQL's `lock_timeout` and
/// `statement_timeout` hold an `i32` of milliseconds (about 24.8 days).
const MAX_TIMEOUT_MILLIS: u128 = i32::MAX as u128;

const DEFAULT_HEALTH_CHECK_AFTER: Duration = Duration::from_secs(30);

const DEFAULT_REPLICA_MAX_LAG: Duration = Duration::from_secs(5);

const DEFAULT_REPLICA_WAIT: Duration = Duration::from_millis(100);

/// The longest [`Config::replica_wait`]: a read that would wait longer for a replica
/// should go to the primary.
const MAX_REPLICA_WAIT: Duration = Duration::from_secs(60);

/// How to open a [`Repository`](crate::Repository): the database URL, the pool, the SQL echo and
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
    /// The database: a URL as [`Config::new`] reads it, or a path.
    pub(crate) location: Location,
    pub(crate) max_size: u32,
    pub(crate) min_idle: Option<u32>,
    pub(crate) connection_timeout: Duration,
    pub(crate) busy_timeout: Duration,
    pub(crate) log_queries: bool,
    pub(crate) log_bind_values: bool,
    pub(crate) slow_query_threshold: Duration,
    pub(crate) run_migrations: bool,
    pub(crate) process_exclusive: bool,
    pub(crate) page_cache_size: u64,
    pub(crate) mmap_size: u64,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) statement_timeout: Option<Duration>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) health_check_after: Duration,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) read_replicas: Vec<ServerUrl>,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) replica_max_lag: Duration,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) replica_wait: Duration,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) statement_cache: bool,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) transaction_pooler: bool,
}

impl Config {
    /// Settings for the database at `url`:
    ///
    /// - a path (`data/app.db`, taken as it is: no escapes, no parameters);
    /// - a `file:` URI (`file:data/app.db?mode=ro`, `file:///srv/app.db`), read as SQLite
    ///   reads it: `%HH` escapes, and the parameters SQLite knows (`mode` `ro`, `rw` or
    ///   `rwc`, `cache`, `immutable`, `nolock`, `psow`, `vfs`, `modeof`). Any other
    ///   parameter is refused, since SQLite would ignore a misspelled one, unless the URI
    ///   names a `vfs`, which may read its own;
    /// - `sqlite://…` or `sqlite:…`: the `file:` URI with the same text after the
    ///   scheme, as diesel and sqlx read them (`sqlite:///srv/app.db` is `/srv/app.db`);
    /// - `:memory:`, `sqlite::memory:`, `sqlite://:memory:` or `file::memory:` (with
    ///   `cache=` or a writable `mode=`, which change nothing) for a private in-memory
    ///   database, shared by every pooled connection;
    /// - with the `postgres` feature, a `postgres://` or `postgresql://` URL (any libpq
    ///   connection URI).
    ///
    /// A URL that would give each pooled connection a database of its own is refused
    /// when the repository is opened: one naming no file (`sqlite://`, `file:`, an empty
    /// string: SQLite's temporary databases), and `mode=memory` or `vfs=memdb` on a
    /// name (use `:memory:`).
    pub fn new(url: impl Into<String>) -> Self {
        Self::at(Location::Url(url.into()))
    }

    /// Settings for the SQLite database file at `path`, taken as a file name: never
    /// read as a URL, so any name the file system allows opens that file (one that is
    /// not UTF-8, or one that looks like a URL, such as `:memory:`). The file is created
    /// if it does not exist, in a directory that does.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("bookshelf-for-path-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let path: std::path::PathBuf = dir.join("library.db");
    /// let repo = bookshelf::Config::for_path(&path).max_size(4).open()?;
    /// assert_eq!(repo.count_authors()?, 0);
    /// # drop(repo);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn for_path(path: impl AsRef<std::path::Path>) -> Self {
        Self::at(Location::Path(path.as_ref().to_path_buf()))
    }

    fn at(location: Location) -> Self {
        Self {
            location,
            max_size: 10,
            min_idle: None,
            connection_timeout: Duration::from_secs(30),
            busy_timeout: Duration::from_secs(5),
            log_queries: false,
            log_bind_values: false,
            slow_query_threshold: Duration::from_secs(1),
            run_migrations: true,
            process_exclusive: false,
            page_cache_size: sqlite::DEFAULT_PAGE_CACHE_SIZE,
            mmap_size: sqlite::DEFAULT_MMAP_SIZE,
            statement_timeout: None,
            health_check_after: DEFAULT_HEALTH_CHECK_AFTER,
            read_replicas: Vec::new(),
            replica_max_lag: DEFAULT_REPLICA_MAX_LAG,
            replica_wait: DEFAULT_REPLICA_WAIT,
            statement_cache: true,
            transaction_pooler: false,
        }
    }

    /// The most connections the pool holds at once; a caller beyond that waits up to
    /// [`connection_timeout`](Config::connection_timeout). Must be between 1 and 1,024.
    /// Defaults to 10.
    pub fn max_size(mut self, max_size: u32) -> Self {
        self.max_size = max_size;
        self
    }

    /// The fewest idle connections the pool keeps open; `None` keeps `max_size`, and
    /// `Some(0)` opens connections only when calls need them. Must be at most
    /// [`max_size`](Config::max_size). Defaults to `None`.
    pub fn min_idle(mut self, min_idle: Option<u32>) -> Self {
        self.min_idle = min_idle;
        self
    }

    /// How long a call waits for a free connection before it fails with
    /// [`Error::Pool`](crate::Error::Pool); opening waits as long for the pool's first
    /// connections. Must be more than zero and at most one day. Defaults to 30 seconds.
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
    /// millisecond counts as one). `Duration::ZERO` means "do not wait": SQLite fails at
    /// once, and PostgreSQL waits at most 1 ms, its shortest limit, since it reads a
    /// `lock_timeout` of 0 as no limit. Must be at most `i32::MAX` milliseconds (about
    /// 24.8 days), the most either database holds. Defaults to 5 seconds.
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
    /// `false`. `true` is refused on what it cannot apply to: an in-memory database,
    /// PostgreSQL, a `file:` URI that names a `vfs` of its own, or a platform other than
    /// Unix.
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
    /// one). `None`, the default, sets no limit. `Some` must be more than zero and at
    /// most `i32::MAX` milliseconds. SQLite has no such setting and ignores it (with a
    /// DEBUG event), so that an application choosing its backend by URL alone keeps one
    /// configuration.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// PostgreSQL only: a connection that has been idle in the pool at least this long
    /// is tested with a round trip before it is handed out, and replaced if it is dead
    /// (a proxy or firewall may drop quiet connections without a word). Connections in
    /// steady use are not tested that way, which would add a round trip to every
    /// operation. `Duration::ZERO` tests on every checkout. Defaults to 30 seconds.
    /// SQLite connections never go stale and are never tested; SQLite ignores it, as it
    /// does [`statement_timeout`](Config::statement_timeout).
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

    /// PostgreSQL only: a streaming replica (a hot standby of the primary the URL
    /// names) to serve reads from; call it once per replica. Reads outside a
    /// transaction go to a replica that is up, within
    /// [`replica_max_lag`](Config::replica_max_lag), and far enough along for the read's
    /// [`Consistency`](crate::Consistency) (by default, past this repository's own
    /// writes); every other read, every write, every transaction and the migrations
    /// go to the primary. A replica that fails or is down is skipped for a second at a
    /// time, its reads served by the primary: no caller sees its errors.
    /// [`Repository::stats`](crate::Repository::stats) counts the reads each served.
    ///
    /// Opening checks a replica it can reach: it must be in recovery (a standby), and
    /// hold no migration this build does not know; a replica that cannot be reached
    /// is opened as down, and tried again later. Each replica has a pool of its own,
    /// with this config's pool settings.
    ///
    /// ```no_run
    /// # fn main() -> bookshelf::Result<()> {
    /// use std::time::Duration;
    ///
    /// let repo = bookshelf::Config::new("postgres://db-primary/app")
    ///     .read_replica("postgres://db-replica-1/app")
    ///     .read_replica("postgres://db-replica-2/app")
    ///     .replica_max_lag(Duration::from_secs(2))
    ///     .open()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_replica(mut self, url: impl Into<String>) -> Self {
        self.read_replicas.push(ServerUrl(url.into()));
        self
    }

    /// PostgreSQL with replicas: a replica whose replay lag is above this is skipped
    /// until it catches up. The lag is the age of the oldest write the replica has
    /// received and not replayed (zero when it has replayed all it received, as long
    /// as it streams from the primary; without a stream, the age of its last replayed
    /// transaction). It is measured on the replica at most once per `max_lag`, and a
    /// measurement is trusted only while it plus its age stays under `max_lag`, so no
    /// read lands on a replica further behind than this. Reads with
    /// [`Consistency::Session`](crate::Consistency::Session) or
    /// [`Consistency::AtLeast`](crate::Consistency::AtLeast) wait for the positions
    /// they need anyway; the budget bounds what
    /// [`Consistency::Any`](crate::Consistency::Any) reads miss. Defaults to 5 s; must
    /// be more than zero.
    pub fn replica_max_lag(mut self, max_lag: Duration) -> Self {
        self.replica_max_lag = max_lag;
        self
    }

    /// PostgreSQL with replicas: how long a read waits for a replica, for a
    /// connection of its pool or for it to replay the position the read must see,
    /// before it goes to the primary instead. Defaults to 100 ms; at most a minute.
    /// `Duration::ZERO` never waits: a replica not already there is skipped.
    pub fn replica_wait(mut self, wait: Duration) -> Self {
        self.replica_wait = wait;
        self
    }

    /// PostgreSQL only: whether each connection keeps its prepared statements for
    /// reuse (diesel's statement cache; on by default). **Turn it off behind PgBouncer
    /// older than 1.21 in transaction pool mode** (and behind any pooler that hands a
    /// session's statements to another server connection): there a statement prepared
    /// on one server connection is missing, or another's, on the next, and statements
    /// fail with `prepared statement "__diesel_stmt_0" does not exist`. Off, each
    /// statement is prepared unnamed and parsed every time it runs (the figures are in
    /// the repository's `docs/scaling.md`). SQLite's connections are in-process and
    /// always keep it.
    pub fn statement_cache(mut self, keep: bool) -> Self {
        self.statement_cache = keep;
        self
    }

    /// PostgreSQL only: the URL reaches the server through a pooler in transaction
    /// mode, which hands each transaction whichever server connection is free: needed
    /// behind PgBouncer in transaction pool mode; with PgBouncer < 1.21 prepared
    /// statements cannot cross transactions. The URL parameter `pooler=transaction`
    /// (which the crate removes before libpq reads the URL) turns it on too, so that a
    /// deployment can say it in the URL alone.
    ///
    /// In this mode the statement cache is off (as with
    /// [`statement_cache(false)`](Config::statement_cache)), no setting is `SET` for
    /// the session (it would land on one server connection and stay there for its next
    /// client), and every transaction the crate begins sets the lock timeout
    /// ([`busy_timeout`](Config::busy_timeout)) and
    /// [`statement_timeout`](Config::statement_timeout) with `SET LOCAL`, in the round
    /// trip of its `BEGIN`. So that the timeouts hold for every statement, an operation
    /// outside a [`transaction`](crate::Repository::transaction) runs in a transaction
    /// of its own: two more round trips for a single-statement call. Read replicas'
    /// connections and the connection that migrates get the same mode. Defaults to
    /// `false`; never detected.
    pub fn transaction_pooler(mut self, on: bool) -> Self {
        self.transaction_pooler = on;
        self
    }
}

impl Config {
    /// Checks every setting, reads the URL, and checks the settings that depend on the
    /// database it names: the one place where a `Config` is validated, run before
    /// anything is opened.
    pub(crate) fn target(&self) -> Result<Target> {
        self.check_ranges()?;
        let target = match &self.location {
            Location::Url(url) => Target::parse(url)?,
            Location::Path(path) => Target::file(path)?,
        };
        self.check_against(&target)?;
        Ok(target)
    }

    fn check_ranges(&self) -> Result<()> {
        if !(1..=MAX_POOL_SIZE).contains(&self.max_size) {
            return Err(invalid(
                "max_size",
                format!(
                    "must be between 1 and {MAX_POOL_SIZE}, got {}",
                    self.max_size
                ),
            ));
        }
        if let Some(min_idle) = self.min_idle.filter(|&min_idle| min_idle > self.max_size) {
            return Err(invalid(
                "min_idle",
                format!(
                    "must be at most max_size ({}), got {min_idle}",
                    self.max_size
                ),
            ));
        }
        if self.connection_timeout.is_zero() || self.connection_timeout > MAX_CONNECTION_TIMEOUT {
            return Err(invalid(
                "connection_timeout",
                format!(
                    "must be more than zero and at most one day, got {:?}",
                    self.connection_timeout
                ),
            ));
        }
        if millis_rounded_up(self.busy_timeout) > MAX_TIMEOUT_MILLIS {
            return Err(invalid(
                "busy_timeout",
                format!(
                    "must be at most {MAX_TIMEOUT_MILLIS} ms, got {:?}",
                    self.busy_timeout
                ),
            ));
        }
        self.check_sqlite_ranges()?;
        if self.replica_max_lag.is_zero() {
            return Err(invalid(
                "replica_max_lag",
                "must be more than zero".to_owned(),
            ));
        }
        if self.replica_wait > MAX_REPLICA_WAIT {
            return Err(invalid(
                "replica_wait",
                format!("must be at most a minute, got {:?}", self.replica_wait),
            ));
        }
        if let Some(timeout) = self.statement_timeout {
            if timeout.is_zero() || millis_rounded_up(timeout) > MAX_TIMEOUT_MILLIS {
                return Err(invalid(
                    "statement_timeout",
                    format!(
                        "must be more than zero and at most {MAX_TIMEOUT_MILLIS} ms \
                         (None sets no limit), got {timeout:?}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a setting given explicitly that cannot apply to `target`; settings left
    /// at their defaults never refuse.
    fn check_against(&self, target: &Target) -> Result<()> {
        if self.process_exclusive {
            let refusal = match target {
                _ if !cfg!(unix) => Some("needs SQLite's unix-excl VFS (Unix only)"),
                Target::SqliteFile(file) if file.param("vfs").is_some() => {
                    Some("chooses the VFS, but the URI names one")
                }
                Target::SqliteFile(_) => None,
                Target::SqliteMemory => Some("applies to database files, not to :memory:"),
                #[cfg(feature = "postgres")]
                Target::Postgres(_) => Some("applies to SQLite files, not to PostgreSQL"),
                #[cfg(feature = "mysql")]
                Target::Mysql(_) => Some("applies to SQLite files, not to MySQL"),
            };
            if let Some(refusal) = refusal {
                return Err(invalid("process_exclusive", refusal.to_owned()));
            }
        }
        self.check_replicas(target)?;
        #[cfg(feature = "mysql")]
        if self.transaction_pooler && matches!(target, Target::Mysql(_)) {
            return Err(invalid(
                "transaction_pooler",
                "applies to PostgreSQL behind PgBouncer, not to MySQL".to_owned(),
            ));
        }
        self.note_sqlite_settings(target);
        let server_only = [
            ("statement_timeout", self.statement_timeout.is_some()),
            ("statement_cache", !self.statement_cache),
            ("transaction_pooler", self.transaction_pooler),
            (
                "replica_max_lag",
                self.replica_max_lag != DEFAULT_REPLICA_MAX_LAG,
            ),
            ("replica_wait", self.replica_wait != DEFAULT_REPLICA_WAIT),
            (
                "health_check_after",
                self.health_check_after != DEFAULT_HEALTH_CHECK_AFTER,
            ),
        ];
        if matches!(target, Target::SqliteFile(_) | Target::SqliteMemory) {
            for (setting, _) in server_only.iter().filter(|(_, set)| *set) {
                tracing::debug!(
                    target: "bookshelf",
                    setting,
                    "a PostgreSQL setting; SQLite has none like it and ignores it"
                );
            }
        }
        Ok(())
    }

    /// Replicas serve a PostgreSQL primary, and are PostgreSQL servers themselves.
    // Built without PostgreSQL, every URL is refused: the loop ends at its first one.
    #[cfg_attr(not(feature = "postgres"), allow(clippy::never_loop))]
    fn check_replicas(&self, target: &Target) -> Result<()> {
        if self.read_replicas.is_empty() {
            return Ok(());
        }
        if matches!(target, Target::SqliteFile(_) | Target::SqliteMemory) {
            return Err(invalid(
                "read_replica",
                "applies to PostgreSQL; SQLite reads its own file".to_owned(),
            ));
        }
        #[cfg(feature = "mysql")]
        if matches!(target, Target::Mysql(_)) {
            return Err(invalid(
                "read_replica",
                "applies to PostgreSQL; bookshelf reads MySQL from its primary only".to_owned(),
            ));
        }
        for ServerUrl(url) in &self.read_replicas {
            match Target::parse(url) {
                #[cfg(feature = "postgres")]
                Ok(Target::Postgres(_)) => {}
                Ok(_) => {
                    return Err(invalid(
                        "read_replica",
                        "must be a PostgreSQL URL (postgres:// or postgresql://)".to_owned(),
                    ))
                }
                Err(error @ Error::Config { .. }) => return Err(error),
                Err(error) => {
                    return Err(invalid(
                        "read_replica",
                        format!("is not a PostgreSQL URL: {error}"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// What the SQL echo logs.
    pub(crate) fn echo(&self) -> EchoSettings {
        EchoSettings {
            log_queries: self.log_queries,
            log_bind_values: self.log_bind_values,
            slow_query_threshold: self.slow_query_threshold,
        }
    }

    /// The r2d2 settings every backend's pool takes (checked by [`Config::target`]).
    pub(crate) fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_size: self.max_size,
            min_idle: self.min_idle,
            connection_timeout: self.connection_timeout,
        }
    }
}

/// `duration` in whole milliseconds, a fraction counting as one.
pub(crate) fn millis_rounded_up(duration: Duration) -> u128 {
    duration.as_nanos().div_ceil(1_000_000)
}

fn invalid(setting: &'static str, message: String) -> Error {
    Error::Config { setting, message }
}
