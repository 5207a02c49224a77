//! A PostgreSQL repository's servers: the primary's pool, the read replicas', and the
//! log position of the repository's latest write, which its next reads must see.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::pool::{pg_pool, PgPool, PgSetup};
use super::replicas::{write_position, Replica, ReplicaSettings, Replicas};
use crate::config::{redacted, Config, ServerUrl};
use crate::consistency::{Consistency, Token};
use crate::error::{Error, MigrationError, Result};
use crate::migrations;
use crate::observe::{Counters, EndpointStats, Role};
use crate::ops::Session;
use crate::pool::{PoolSettings, Wait};
use crate::target::ServerTarget;

/// The servers of a PostgreSQL repository.
pub(crate) struct PgCluster {
    primary: PgPool,
    endpoint: String,
    replicas: Replicas,
    /// Reads the primary served.
    primary_reads: AtomicU64,
    written: Written,
}

/// The position after the repository's latest write (with replicas only: without them
/// nothing needs it).
#[derive(Debug, Default)]
struct Written {
    position: AtomicU64,
    /// Raised when a write committed but its position could not be read: reads that
    /// must see the repository's writes go to the primary until a later write's
    /// position (which is past it) is known.
    unknown: AtomicBool,
}

/// Opens a PostgreSQL database: one connection (without a statement timeout) checks the
/// migrations, the pool opens its connections, and only then does that connection apply
/// the migrations, in one transaction. Then each replica's pool, checked as
/// [`Config::read_replica`] says.
pub(crate) fn open(
    target: &ServerTarget,
    config: &Config,
    counters: &Arc<Counters>,
) -> Result<PgCluster> {
    let replica_targets = config
        .read_replicas
        .iter()
        .map(|ServerUrl(url)| ServerTarget::parse(url))
        .collect::<Result<Vec<_>>>()?;
    let url = target.url.as_str();
    let setup = PgSetup {
        connect_timeout: config.connection_timeout,
        lock_timeout: config.busy_timeout,
        statement_timeout: config.statement_timeout,
        statement_cache: config.statement_cache,
        // One mode for every server of the repository, whichever URL (or the Config)
        // says it.
        transaction_pooler: config.transaction_pooler
            || target.transaction_pooler
            || replica_targets
                .iter()
                .any(|replica| replica.transaction_pooler),
        echo: config.echo(),
        counters: Arc::clone(counters),
    };
    let mut conn = setup.connect(url)?;
    let pending = migrations::pending_on_open(&mut conn)?;
    let primary = pg_pool(
        url,
        setup.clone(),
        config.pool_settings(),
        config.health_check_after,
    )?;
    migrations::apply_on_open(&mut conn, config.run_migrations, &pending)?;
    let replicas = if config.read_replicas.is_empty() {
        Replicas::new(Vec::new(), replica_settings(config), 0)
    } else {
        let floor = write_position(&mut conn)?;
        let replicas = replica_targets
            .iter()
            .map(|replica| open_replica(&replica.url, &setup, config))
            .collect::<Result<Vec<_>>>()?;
        Replicas::new(replicas, replica_settings(config), floor)
    };
    Ok(PgCluster {
        primary,
        endpoint: redacted(url),
        replicas,
        primary_reads: AtomicU64::new(0),
        written: Written::default(),
    })
}

fn replica_settings(config: &Config) -> ReplicaSettings {
    ReplicaSettings {
        max_lag: config.replica_max_lag,
        wait: config.replica_wait,
    }
}

/// A replica's pool, which opens connections as reads need them (so a replica that is
/// down does not hold up the opening), after checking the replica if it can be
/// reached: it must be a standby, with no migration this build does not know.
fn open_replica(url: &str, setup: &PgSetup, config: &Config) -> Result<Replica> {
    let endpoint = redacted(url);
    let down = match setup.connect(url) {
        Ok(mut conn) => {
            check_replica(&mut conn, &endpoint)?;
            false
        }
        Err(error) => {
            tracing::warn!(
                target: "bookshelf",
                replica = %endpoint,
                %error,
                "read replica unreachable: opened as down, tried again later"
            );
            true
        }
    };
    let settings = PoolSettings {
        min_idle: Some(0),
        ..config.pool_settings()
    };
    let pool = pg_pool(url, setup.clone(), settings, config.health_check_after)?;
    Ok(Replica::new(endpoint, pool, down))
}

fn check_replica(conn: &mut diesel::PgConnection, endpoint: &str) -> Result<()> {
    use diesel::prelude::*;
    let in_recovery: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "pg_is_in_recovery()",
    ))
    .get_result(conn)?;
    if !in_recovery {
        return Err(Error::Config {
            setting: "read_replica",
            message: format!("{endpoint} is not a standby (pg_is_in_recovery() is false)"),
        });
    }
    let known = migrations::known_versions::<diesel::PgConnection>()?;
    let applied = migrations::applied(conn)?;
    if let Some(version) = applied.into_iter().find(|version| !known.contains(version)) {
        return Err(MigrationError::Unknown { version }.into());
    }
    Ok(())
}

impl PgCluster {
    /// Runs `f` on a connection to the primary, and, with replicas, records the
    /// position after it, which the repository's next reads must see.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`] when no connection is free in time; whatever `f` returns.
    pub(crate) fn write<T, E: From<Error>>(
        &self,
        wait: Wait,
        f: impl FnOnce(&mut dyn Session) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut pooled = self.primary.checkout(wait).map_err(Error::from)?;
        let result = f(&mut pooled.conn);
        if !self.replicas.is_empty() {
            self.record_position(&mut pooled.conn);
        }
        result
    }

    /// Records the primary's position, after a write (or a failed one: a write may have
    /// committed before the error, an application error inside a transaction closure
    /// is not the crate's to judge).
    fn record_position(&self, conn: &mut diesel::PgConnection) {
        match write_position(conn) {
            Ok(position) => {
                self.written.position.fetch_max(position, Ordering::AcqRel);
                self.written.unknown.store(false, Ordering::Release);
            }
            Err(error) => {
                tracing::warn!(
                    target: "bookshelf",
                    %error,
                    "could not read the primary's log position after a write: \
                     reads go to the primary until the next write"
                );
                self.written.unknown.store(true, Ordering::Release);
            }
        }
    }

    /// Runs the read `f` where `consistency` allows: a replica that has replayed what
    /// the read must see, or the primary.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`] when no connection to the primary is free in time; whatever `f`
    /// returns on the server that served it (a replica's failures send the read to the
    /// primary instead).
    pub(crate) fn read<T>(
        &self,
        consistency: Consistency,
        wait: Wait,
        f: &dyn Fn(&mut dyn Session) -> Result<T>,
    ) -> Result<T> {
        if let Some(need) = self.needs(consistency) {
            if let Some(result) = self.replicas.read(need, wait, f) {
                return result;
            }
        }
        self.primary_reads.fetch_add(1, Ordering::Relaxed);
        f(&mut self.primary.checkout(wait).map_err(Error::from)?.conn)
    }

    /// The position a read must see, or `None` when only the primary will do.
    fn needs(&self, consistency: Consistency) -> Option<u64> {
        if self.replicas.is_empty() {
            return None;
        }
        let own = || {
            let unknown = self.written.unknown.load(Ordering::Acquire);
            (!unknown).then(|| self.written.position.load(Ordering::Acquire))
        };
        match consistency {
            Consistency::Primary => None,
            Consistency::Any => Some(0),
            Consistency::Session => own(),
            Consistency::AtLeast(Token(position)) => own().map(|own| own.max(position)),
        }
    }

    /// The position after the repository's latest write, if it has replicas and has
    /// written since it was opened.
    pub(crate) fn write_token(&self) -> Option<Token> {
        let position = self.written.position.load(Ordering::Acquire);
        (position > 0).then_some(Token(position))
    }

    /// The primary pool's connection counts.
    pub(crate) fn state(&self) -> r2d2::State {
        self.primary.state()
    }

    /// Reads served per server, the primary first; empty without replicas.
    pub(crate) fn endpoints(&self) -> Vec<EndpointStats> {
        if self.replicas.is_empty() {
            return Vec::new();
        }
        let primary = EndpointStats {
            endpoint: self.endpoint.clone(),
            role: Role::Primary,
            reads: self.primary_reads.load(Ordering::Relaxed),
            fallbacks: 0,
            available: true,
        };
        std::iter::once(primary)
            .chain(self.replicas.stats())
            .collect()
    }
}
