//! The backends, and the pool of whichever one a repository runs on.
//!
//! Each backend is one module here: [`sqlite`] (the embedded default), `postgres`
//! (the `postgres` feature) and `mysql` (the `mysql` feature, MySQL and MariaDB). A backend's module holds everything of it: connection
//! set-up (pragmas, session settings), its pool, the SQL only it uses, its embedded
//! migrations, and its implementation of [`Backend`], the one trait that says how
//! backends differ. Every operation is written once in [`ops`](crate::ops) and compiled
//! for each backend's connection.
//!
//! The URL of [`Repository::open`](crate::Repository::open) is read once, in
//! [`target`](crate::target), into a [`Target`]; [`AnyPool::open`] hands it to the
//! backend it names, and nothing reads the URL's text again.
//!
//! Adding a backend means: a module beside these, with its [`Backend`] implementation
//! and its `open`; its connection type in
//! [`for_each_backend!`](crate::backend::for_each_backend); an arm of [`AnyPool`] and of
//! each `match` below; a variant of [`RawConnection`](crate::RawConnection) (the escape
//! hatch hands out the concrete connection); a variant of [`Target`] with its URL
//! scheme; and its migrations under `migrations/`.

#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::sync::Arc;

#[allow(unused_imports)] // for doc links
use crate::backend::Backend;
use crate::config::Config;
use crate::consistency::{Consistency, Token};
use crate::error::{Error, Result};
use crate::observe::{Counters, EndpointStats};
use crate::ops::Session;
use crate::pool::Wait;
use crate::target::Target;

/// The pool of a repository, of whichever backend its URL named.
pub(crate) enum AnyPool {
    Sqlite(sqlite::Pool),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgCluster),
    #[cfg(feature = "mysql")]
    Mysql(mysql::MysqlPool),
}

impl AnyPool {
    /// Opens the database `target` names with the settings of `config`, migrating it
    /// unless `config` says not to.
    pub(crate) fn open(target: &Target, config: &Config, counters: &Arc<Counters>) -> Result<Self> {
        Ok(match target {
            Target::SqliteFile(file) => AnyPool::Sqlite(sqlite::open_file(file, config, counters)?),
            Target::SqliteMemory => AnyPool::Sqlite(sqlite::open_memory(config, counters)?),
            #[cfg(feature = "postgres")]
            Target::Postgres(server) => {
                AnyPool::Postgres(postgres::open(server, config, counters)?)
            }
            #[cfg(feature = "mysql")]
            Target::Mysql(server) => AnyPool::Mysql(mysql::open(server, config, counters)?),
        })
    }

    /// Checks out a connection (to the primary, on a server with replicas), waiting as
    /// `wait` says, and runs `f` on it. With replicas, the repository's later reads then see what `f` wrote.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`](crate::Error::Pool) when no connection is free within the
    /// connection timeout; whatever `f` returns.
    pub(crate) fn with_session<T, E: From<Error>>(
        &self,
        wait: Wait,
        f: impl FnOnce(&mut dyn Session) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            AnyPool::Sqlite(pool) => f(&mut **pool.pool.checkout(wait).map_err(Error::from)?),
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(cluster) => cluster.write(wait, f),
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(pool) => f(&mut pool.checkout(wait).map_err(Error::from)?.conn),
        }
    }

    /// Runs the read `f` outside any transaction, on a read replica when the
    /// repository has one that may serve it by `consistency`, else as
    /// [`with_session`](AnyPool::with_session) does. `f` may run twice: on a replica
    /// that fails, then on the primary.
    ///
    /// # Errors
    ///
    /// As [`with_session`](AnyPool::with_session).
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    pub(crate) fn read<T>(
        &self,
        consistency: Consistency,
        wait: Wait,
        f: &dyn Fn(&mut dyn Session) -> Result<T>,
    ) -> Result<T> {
        match self {
            AnyPool::Sqlite(pool) => f(&mut **pool.pool.checkout(wait).map_err(Error::from)?),
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(cluster) => cluster.read(consistency, wait, f),
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(pool) => f(&mut pool.checkout(wait).map_err(Error::from)?.conn),
        }
    }

    /// The log position after the repository's latest write, on a server with replicas.
    pub(crate) fn write_token(&self) -> Option<Token> {
        match self {
            AnyPool::Sqlite(_) => None,
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(cluster) => cluster.write_token(),
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(_) => None,
        }
    }

    /// The reads each server served, with replicas.
    pub(crate) fn endpoints(&self) -> Vec<EndpointStats> {
        match self {
            AnyPool::Sqlite(_) => Vec::new(),
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(cluster) => cluster.endpoints(),
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(_) => Vec::new(),
        }
    }

    /// The pool's connection counts.
    pub(crate) fn state(&self) -> r2d2::State {
        match self {
            AnyPool::Sqlite(pool) => pool.pool.state(),
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(pool) => pool.state(),
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(pool) => pool.state(),
        }
    }

    /// The backend's name.
    pub(crate) fn backend(&self) -> &'static str {
        use crate::backend::Backend;
        match self {
            AnyPool::Sqlite(_) => diesel::SqliteConnection::NAME,
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(_) => diesel::PgConnection::NAME,
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(_) => diesel::MysqlConnection::NAME,
        }
    }

    /// True for an in-memory database.
    pub(crate) fn in_memory(&self) -> bool {
        match self {
            AnyPool::Sqlite(pool) => pool.in_memory(),
            #[cfg(feature = "postgres")]
            AnyPool::Postgres(_) => false,
            #[cfg(feature = "mysql")]
            AnyPool::Mysql(_) => false,
        }
    }
}
