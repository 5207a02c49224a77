//! Read replicas: which one serves a read, if any, and what the repository knows of
//! each (how far it has replayed the primary's log, how far behind it lags, whether it
//! is up).
//!
//! A read names the log position it must see (the repository's latest write, a
//! [`Token`](crate::Token), or nothing). A replica serves it once it has replayed that
//! far; what the repository last learnt of a replica's replay position and lag is
//! kept, so a read that needs nothing new costs no extra round trip, and a replica is
//! asked again (`pg_last_wal_replay_lsn()`, in one statement with its lag) only when a
//! read needs a later position or the last lag measurement is too old to vouch for
//! the lag budget. A replica that fails is skipped for [`RETRY_AFTER`]; one that lags
//! past the budget for [`LAG_RECHECK_AFTER`]. A read no replica can serve goes to the
//! primary, and the caller never sees a replica's error.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel::sql_types::{BigInt, Bool, Double};

use super::pool::PgPool;
use crate::error::{Error, Result};
use crate::observe::{EndpointStats, Role};
use crate::ops::Session;
use crate::pool::Wait;

/// How long a replica that failed (down, refusing connections, not a standby) is
/// skipped before a read tries it again.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long a replica found lagging past the budget is skipped before its lag is
/// measured again.
const LAG_RECHECK_AFTER: Duration = Duration::from_millis(100);

/// The longest pause between two looks at a replica catching up with a position.
const LONGEST_POLL: Duration = Duration::from_millis(16);

/// The settings every replica of a repository shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplicaSettings {
    /// Replicas lagging more than this are skipped.
    pub(crate) max_lag: Duration,
    /// How long a read waits for a replica before it goes to the primary.
    pub(crate) wait: Duration,
}

/// One replica: its pool, and what the repository knows of it.
pub(crate) struct Replica {
    /// The URL without its password, for [`EndpointStats`].
    endpoint: String,
    pool: PgPool,
    /// The furthest replay position seen on it.
    replayed: AtomicU64,
    state: Mutex<State>,
    reads: AtomicU64,
    fallbacks: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// The lag last measured, and when.
    measured: Option<(Instant, Duration)>,
    /// Reads skip the replica until then.
    skipped_until: Option<Instant>,
}

impl Replica {
    /// A replica reached through `pool`; `down` when opening could not reach it.
    pub(crate) fn new(endpoint: String, pool: PgPool, down: bool) -> Self {
        let state = State {
            measured: None,
            skipped_until: down.then(|| Instant::now() + RETRY_AFTER),
        };
        Self {
            endpoint,
            pool,
            replayed: AtomicU64::new(0),
            state: Mutex::new(state),
            reads: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// A consistent view of the state: each change is one assignment, so a lock
    /// poisoned by a panic elsewhere is used as it is.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn skip_for(&self, pause: Duration) {
        self.state().skipped_until = Some(Instant::now() + pause);
    }

    /// Runs `f` here if this replica can serve a read that must see `need` within
    /// `settings.wait` (and `wait`): `None` when it cannot, or when it failed and the read should
    /// go to the primary.
    fn serve<T>(
        &self,
        need: u64,
        settings: ReplicaSettings,
        wait: Wait,
        f: &dyn Fn(&mut dyn Session) -> Result<T>,
    ) -> Option<Result<T>> {
        let start = Instant::now();
        let trusted = {
            let state = self.state();
            if state.skipped_until.is_some_and(|until| start < until) {
                return None;
            }
            state.measured.is_some_and(|(at, lag)| {
                lag.saturating_add(start.saturating_duration_since(at)) <= settings.max_lag
            })
        };
        let mut pooled = match self.pool.get_timeout(wait.at_most(settings.wait)) {
            Ok(pooled) => pooled,
            // Every connection it has is in use: busy, not down.
            Err(_) if self.pool.state().connections > 0 => return None,
            Err(error) => {
                self.failed(&Error::Pool(error));
                return None;
            }
        };
        let conn = &mut pooled.conn;
        let behind = need > self.replayed.load(Ordering::Acquire);
        if (!trusted || behind) && !self.catch_up(conn, need, settings, start + settings.wait) {
            return None;
        }
        match f(conn) {
            Err(error) if falls_back(&error) => {
                self.failed(&error);
                None
            }
            result => Some(result),
        }
    }

    /// Asks the replica how far it has replayed and how far it lags, until it has
    /// replayed `need` or `deadline` passes: true when it may serve the read.
    fn catch_up(
        &self,
        conn: &mut PgConnection,
        need: u64,
        settings: ReplicaSettings,
        deadline: Instant,
    ) -> bool {
        let mut pause = Duration::from_millis(1);
        loop {
            let status = match probe(conn) {
                Ok(status) => status,
                Err(error) => {
                    self.failed(&error);
                    return false;
                }
            };
            let now = Instant::now();
            if !status.in_recovery {
                tracing::warn!(
                    target: "bookshelf",
                    replica = %self.endpoint,
                    "the read replica is not in recovery (promoted?): skipped"
                );
                self.skip_for(RETRY_AFTER);
                return false;
            }
            let replayed = u64::try_from(status.replayed).unwrap_or(0);
            self.replayed.fetch_max(replayed, Ordering::AcqRel);
            let lag = Duration::try_from_secs_f64(status.lag_seconds).unwrap_or(Duration::MAX);
            self.state().measured = Some((now, lag));
            if lag > settings.max_lag {
                self.skip_for(LAG_RECHECK_AFTER);
                return false;
            }
            if replayed >= need {
                return true;
            }
            let Some(left) = deadline
                .checked_duration_since(now)
                .filter(|left| !left.is_zero())
            else {
                return false;
            };
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(LONGEST_POLL);
        }
    }

    /// Records a failure that sends the read to the primary; a failure of the
    /// replica itself (its pool, its connection) skips it for a while.
    fn failed(&self, error: &Error) {
        if is_down(error) {
            tracing::warn!(
                target: "bookshelf",
                replica = %self.endpoint,
                %error,
                "read replica failed: reads go to the primary for now"
            );
            self.skip_for(RETRY_AFTER);
        } else {
            tracing::debug!(
                target: "bookshelf",
                replica = %self.endpoint,
                %error,
                "read failed on a replica: running it on the primary"
            );
        }
    }

    fn stats(&self) -> EndpointStats {
        let available = self
            .state()
            .skipped_until
            .is_none_or(|until| Instant::now() >= until);
        EndpointStats {
            endpoint: self.endpoint.clone(),
            role: Role::Replica,
            reads: self.reads.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            available,
        }
    }
}

/// An error a read met on a replica that the primary may not meet: the replica's own
/// failure, or a database error (a query cancelled by a conflict with recovery, a
/// schema the replica has not replayed yet). Errors of the crate's own checks
/// ([`Error::Validation`], say) would be the same on the primary, and are returned.
fn falls_back(error: &Error) -> bool {
    matches!(
        error,
        Error::Database(_) | Error::Pool(_) | Error::Connection(_) | Error::TransactionAborted
    )
}

/// True for the errors of a replica that is down or unreachable.
fn is_down(error: &Error) -> bool {
    matches!(
        error,
        Error::Pool(_)
            | Error::Connection(_)
            | Error::Database(diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _
            ))
    )
}

/// Every replica of a repository, tried in turn.
pub(crate) struct Replicas {
    replicas: Vec<Replica>,
    /// Where the next read starts looking, so reads spread over the replicas.
    next: AtomicUsize,
    settings: ReplicaSettings,
    /// The primary's position when the repository opened, after its migrations: no
    /// replica serves a read before replaying it, so none shows an older schema.
    floor: u64,
}

impl Replicas {
    pub(crate) fn new(replicas: Vec<Replica>, settings: ReplicaSettings, floor: u64) -> Self {
        Self {
            replicas,
            next: AtomicUsize::new(0),
            settings,
            floor,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// Runs `f` on the first replica, in turn, that can serve a read that must see
    /// `need`; `None` sends it to the primary.
    pub(crate) fn read<T>(
        &self,
        need: u64,
        wait: Wait,
        f: &dyn Fn(&mut dyn Session) -> Result<T>,
    ) -> Option<Result<T>> {
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let need = need.max(self.floor);
        for offset in 0..count {
            let replica = &self.replicas[start.wrapping_add(offset) % count];
            if let Some(result) = replica.serve(need, self.settings, wait, f) {
                replica.reads.fetch_add(1, Ordering::Relaxed);
                return Some(result);
            }
            replica.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    pub(crate) fn stats(&self) -> impl Iterator<Item = EndpointStats> + '_ {
        self.replicas.iter().map(Replica::stats)
    }
}

/// What a replica says of itself, in one statement.
#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Bool)]
    in_recovery: bool,
    /// `pg_last_wal_replay_lsn()` as a byte offset (0 when there is none).
    #[diesel(sql_type = BigInt)]
    replayed: i64,
    /// Zero when the replica streams from the primary and has replayed all it
    /// received; else the age of its last replayed transaction (a day when it has
    /// replayed none). (A role without `pg_read_all_stats` sees the WAL receiver's
    /// process but not its status, which then counts as streaming.)
    #[diesel(sql_type = Double)]
    lag_seconds: f64,
}

fn probe(conn: &mut PgConnection) -> Result<Status> {
    Ok(diesel::sql_query(
        "SELECT pg_is_in_recovery() AS in_recovery, \
         COALESCE((pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint, 0) AS replayed, \
         CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() \
              AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver \
                          WHERE status = 'streaming' OR status IS NULL) \
              THEN 0 \
              ELSE COALESCE(extract(epoch FROM clock_timestamp() \
                            - pg_last_xact_replay_timestamp()), 86400) \
         END::float8 AS lag_seconds",
    )
    .get_result(conn)?)
}

/// The primary's log position after everything committed so far:
/// `pg_current_wal_insert_lsn()`, as a byte offset.
pub(crate) fn write_position(conn: &mut PgConnection) -> Result<u64> {
    #[derive(QueryableByName)]
    struct Position {
        #[diesel(sql_type = BigInt)]
        position: i64,
    }
    let row: Position = diesel::sql_query(
        "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS position",
    )
    .get_result(conn)?;
    Ok(u64::try_from(row.position).unwrap_or(0))
}
