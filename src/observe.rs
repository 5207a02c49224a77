//! Statement counting and the SQL echo, installed on every pooled connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// The `tracing` target of the SQL echo.
pub const SQL_TARGET: &str = "bookshelf::sql";

/// Counters shared by every connection of one repository.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) statements: AtomicU64,
    pub(crate) transaction_statements: AtomicU64,
    pub(crate) setup_statements: AtomicU64,
    pub(crate) connections: AtomicU64,
}

/// What the echo logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EchoSettings {
    pub(crate) log_queries: bool,
    pub(crate) log_bind_values: bool,
    pub(crate) slow_query_threshold: Duration,
}

/// What an [`Observer`] tells of each statement that fails.
pub(crate) trait FailureWatch: Send + Sync {
    /// A statement failed with `error`.
    fn failed(&self, error: &diesel::result::Error);
}

/// Diesel instrumentation: counts each statement as data or transaction control, and
/// emits the echo events.
pub(crate) struct Observer {
    counters: Arc<Counters>,
    echo: EchoSettings,
    /// Diesel announces BEGIN, COMMIT, ROLLBACK and savepoints with an event of their own
    /// just before it runs their SQL; the next statement is then transaction control.
    next_is_control: bool,
    started: Option<Instant>,
    /// Told of every statement that fails (a backend's pool watches for connections the
    /// server closed).
    watch: Option<Arc<dyn FailureWatch>>,
}

impl Observer {
    pub(crate) fn new(counters: Arc<Counters>, echo: EchoSettings) -> Self {
        Self {
            counters,
            echo,
            next_is_control: false,
            started: None,
            watch: None,
        }
    }

    /// Also tells `watch` of every statement that fails.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))] // only servers drop connections
    pub(crate) fn watching(mut self, watch: Arc<dyn FailureWatch>) -> Self {
        self.watch = Some(watch);
        self
    }
}

impl Instrumentation for Observer {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::BeginTransaction { .. }
            | InstrumentationEvent::CommitTransaction { .. }
            | InstrumentationEvent::RollbackTransaction { .. } => self.next_is_control = true,
            InstrumentationEvent::StartQuery { .. } => {
                let counter = if std::mem::take(&mut self.next_is_control) {
                    &self.counters.transaction_statements
                } else {
                    &self.counters.statements
                };
                counter.fetch_add(1, Ordering::Relaxed);
                // Reading the clock twice a statement is measurable on point lookups
                // (about 40 ns), so only the echo pays for it.
                if self.echo.log_queries {
                    self.started = Some(Instant::now());
                }
            }
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                if let (Some(watch), Some(error)) = (&self.watch, error) {
                    watch.failed(error);
                }
                let Some(started) = self.started.take() else {
                    return;
                };
                let elapsed = started.elapsed();
                let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                let slow = elapsed >= self.echo.slow_query_threshold;
                let error = error.map(ToString::to_string);
                // `Sql` formats only if the event is enabled.
                let sql = Sql {
                    query,
                    with_binds: self.echo.log_bind_values,
                };
                if slow {
                    tracing::warn!(target: SQL_TARGET, elapsed_us, error, %sql, "slow statement");
                } else {
                    tracing::debug!(target: SQL_TARGET, elapsed_us, error, %sql, "statement");
                }
            }
            _ => {}
        }
    }
}

/// Displays a statement's SQL, with or without its bound values. Diesel's display of a
/// query always appends ` -- binds: [..]`; that part is cut unless asked for.
struct Sql<'a> {
    query: &'a dyn diesel::connection::DebugQuery,
    with_binds: bool,
}

impl std::fmt::Display for Sql<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.query.to_string();
        let sql = match text.find(" -- binds: ") {
            Some(end) if !self.with_binds => &text[..end],
            _ => &text,
        };
        f.write_str(sql)
    }
}

/// Statement and connection counts of a repository, from [`Repository::stats`](crate::Repository::stats).
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{Page, Repository};
///
/// let repo = Repository::in_memory()?;
/// let before = repo.stats();
/// repo.authors_with_books(Page::all())?;
/// assert!(repo.stats().statements - before.statements <= 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Data statements run (SELECT, INSERT, UPDATE, DELETE, and DDL outside migrations).
    pub statements: u64,
    /// Transaction control statements run (BEGIN, COMMIT, ROLLBACK, savepoints).
    pub transaction_statements: u64,
    /// Per-connection setup statements (SQLite's PRAGMAs, PostgreSQL's `SET`s) and
    /// PostgreSQL's health checks of idle connections.
    pub setup_statements: u64,
    /// Connections the pool has opened so far.
    pub connections_opened: u64,
    /// Connections the pool holds now, idle or in use.
    pub pool_connections: u32,
    /// Connections idle in the pool now.
    pub pool_idle_connections: u32,
    /// With read replicas ([`Config::read_replica`](crate::Config::read_replica)): the
    /// reads each server served, the primary first. Empty without replicas.
    pub endpoints: Vec<EndpointStats>,
}

/// The reads one server of a repository served: see [`Stats::endpoints`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EndpointStats {
    /// The server's URL, without its password.
    pub endpoint: String,
    /// The primary, or a read replica.
    pub role: Role,
    /// Reads it served (operations outside a transaction that only read; transactions
    /// and writes are not counted).
    pub reads: u64,
    /// For a replica: reads that tried it and went elsewhere because it was down,
    /// lagging past the budget, or behind the position the read had to see.
    pub fallbacks: u64,
    /// For a replica: false while reads skip it after a failure or a lag past the
    /// budget.
    pub available: bool,
}

/// What a server of a repository is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The primary: every write, transaction and migration, and the reads no replica
    /// could serve.
    Primary,
    /// A read replica.
    Replica,
}

impl Counters {
    pub(crate) fn snapshot(&self, state: r2d2::State, endpoints: Vec<EndpointStats>) -> Stats {
        Stats {
            statements: self.statements.load(Ordering::Relaxed),
            transaction_statements: self.transaction_statements.load(Ordering::Relaxed),
            setup_statements: self.setup_statements.load(Ordering::Relaxed),
            connections_opened: self.connections.load(Ordering::Relaxed),
            pool_connections: state.connections,
            pool_idle_connections: state.idle_connections,
            endpoints,
        }
    }
}
