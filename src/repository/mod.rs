//! [`Repository`]: the pool, how it is opened, transactions and migrations.

mod operations;

use std::sync::{Arc, Mutex};

use diesel::sqlite::SqliteConnection;

use crate::connection::Backend;
use crate::observe::{Counters, Stats};
use crate::pool::{self, with_pooled, AnyPool, SqliteSetup, Target};
use crate::transaction::{self, Faults, Finish, OpenHere};
use crate::{migrations, Config, Error, Result, Tx};

/// The data layer: a pool of connections to one database, with every operation on
/// authors and books.
///
/// Cloning is cheap and every clone shares the pool, so a `Repository` is meant to be
/// created once and handed to every thread or request handler. Each method checks out
/// a connection, runs in autocommit (operations that write several rows wrap them in a
/// transaction of their own), and returns the connection. To run several operations
/// atomically, use [`transaction`](Repository::transaction).
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{NewAuthor, NewBook, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.create_author(&NewAuthor::new("Frank Herbert"))?;
/// repo.create_book(&NewBook::new(author.id, "Dune").published_year(1965))?;
/// assert_eq!(repo.books_by_author(author.id)?[0].title, "Dune");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Repository {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    counters: Arc<Counters>,
    in_memory: bool,
    /// Keeps an in-memory database alive while the pool opens and closes connections.
    _keepalive: Option<Mutex<SqliteConnection>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("backend", &self.inner.pool.backend())
            .field("in_memory", &self.inner.in_memory)
            .field("pool", &self.inner.pool.state())
            .finish()
    }
}

impl Repository {
    /// Opens (creating it if needed) the database at `url` with the default [`Config`],
    /// and applies pending migrations.
    ///
    /// `url` is a path, `sqlite://path`, a `file:` URI, or `:memory:` (the same as
    /// [`in_memory`](Repository::in_memory)). Every SQLite connection gets
    /// `foreign_keys=ON` and a busy timeout; a file database is switched to the WAL
    /// journal with `synchronous=NORMAL`, so readers never block the writer.
    ///
    /// With the `postgres` feature, `url` may be a `postgres://` or `postgresql://`
    /// URL: the repository then runs on that server, with the same API and behaviour.
    ///
    /// # Errors
    ///
    /// As [`Config::open`].
    pub fn open(url: &str) -> Result<Repository> {
        Config::new(url).open()
    }

    /// Opens a new private in-memory database, migrated. Every pooled connection sees
    /// the same data; two in-memory repositories never see each other's. The database
    /// lives as long as the repository (or a clone of it).
    ///
    /// It is made for tests and scratch work. It has no WAL journal, so unlike a file
    /// database, an open write transaction holds off readers on other connections until
    /// it ends (they wait up to the busy timeout).
    ///
    /// # Errors
    ///
    /// As [`Config::open`].
    pub fn in_memory() -> Result<Repository> {
        Config::new(":memory:").open()
    }

    pub(crate) fn from_config(config: Config) -> Result<Repository> {
        let counters = Arc::new(Counters::default());
        let (pool, in_memory, keepalive) = match Target::parse(&config.url)? {
            Target::SqliteFile(url) => {
                pool::check_path(&url)?;
                let url = if config.process_exclusive {
                    pool::process_exclusive(&url)?
                } else {
                    url
                };
                let (pool, _) = open_sqlite(&url, false, &config, &counters)?;
                (pool, false, None)
            }
            Target::SqliteMemory => {
                let (pool, conn) = open_sqlite(&pool::memory_url(), true, &config, &counters)?;
                (pool, true, Some(Mutex::new(conn)))
            }
            #[cfg(feature = "postgres")]
            Target::Postgres(url) => (open_postgres(&url, &config, &counters)?, false, None),
        };
        Ok(Repository {
            inner: Arc::new(Inner {
                pool,
                counters,
                in_memory,
                _keepalive: keepalive,
            }),
        })
    }

    /// Refuses a checkout that could only wait: every connection is in use, and this
    /// thread holds one of them in a transaction closure of this repository, so no
    /// connection can come back before the wait for one runs out.
    fn check_checkout(&self) -> Result<()> {
        let id = Arc::as_ptr(&self.inner) as usize;
        if OpenHere::holds(id) && self.inner.pool.state().idle_connections == 0 {
            return Err(Error::NestedCall);
        }
        Ok(())
    }

    /// Runs `f` on a pooled connection in a transaction closure marked as this thread's.
    fn run_transaction<T>(
        &self,
        finish: Finish,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.check_checkout()?;
        let _open = OpenHere::enter(Arc::as_ptr(&self.inner) as usize);
        let faults = Faults::default();
        with_pooled!(&self.inner.pool, |conn| transaction::run_handle(
            conn, &faults, finish, f
        ))
    }

    /// Checks out a connection and runs `f` on it, in autocommit.
    pub(crate) fn with_tx<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.check_checkout()?;
        let faults = Faults::default();
        with_pooled!(&self.inner.pool, |conn| f(&mut conn.handle(None, &faults)))
    }

    /// Runs `f` in one transaction: it commits when `f` returns `Ok`, and rolls back
    /// when `f` returns `Err` or panics (the panic then continues). On SQLite it begins
    /// with `BEGIN IMMEDIATE`, taking the write lock up front, so that a transaction
    /// that reads and then writes never fails half-way with `database is locked`. On
    /// PostgreSQL it is a `READ COMMITTED` transaction: writers run side by side on row
    /// locks, and one that meets a deadlock fails with an error whose
    /// [`is_busy`](Error::is_busy) is true (retry the whole transaction).
    /// Inside, [`Tx::transaction`] nests a savepoint.
    ///
    /// Inside the closure, run every operation on its [`Tx`]. A call on the repository
    /// itself checks out another connection and runs outside the transaction: it does
    /// not see the transaction's writes, and on SQLite a write waits for the
    /// transaction's write lock until the busy timeout. When no other connection is
    /// free, such a call fails at once with [`Error::NestedCall`] rather than waiting
    /// the whole connection timeout for a connection that only this thread can give
    /// back.
    ///
    /// If an error inside the closure ended the transaction (SQLite rolls a transaction
    /// back by itself on a full disk; PostgreSQL aborts it on any error outside a
    /// savepoint), every later operation on the `Tx` fails with
    /// [`Error::TransactionAborted`] without running, nothing of the closure is
    /// committed, and `transaction` returns the error that ended it, whatever the
    /// closure returns. An error that did not end it (a constraint error, a
    /// [`Error::Validation`]) leaves the transaction usable.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{Error, NewAuthor, NewBook, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// let result: bookshelf::Result<()> = repo.transaction(|tx| {
    ///     let author = tx.create_author(&NewAuthor::new("Mary Shelley"))?;
    ///     tx.create_book(&NewBook::new(author.id, "Frankenstein"))?;
    ///     tx.create_book(&NewBook::new(author.id, "Frankenstein"))?; // a conflict
    ///     Ok(())
    /// });
    /// assert!(matches!(result, Err(Error::Conflict { .. })));
    /// assert_eq!(repo.count_authors()?, 0); // all of it rolled back
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, or the error that ended the transaction; [`Error::Pool`]
    /// when no connection is free; [`Error::NestedCall`] when called from inside a
    /// transaction closure of this repository with no connection free;
    /// [`Error::Database`] when the transaction cannot begin or commit.
    pub fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T>,
    {
        self.run_transaction(Finish::Commit, f)
    }

    /// Runs `f` in a transaction that is always rolled back, and returns what `f`
    /// returned: the database is left as it was. This is the test fixture of the
    /// session-and-rollback pattern, and a dry run for anything else.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{NewAuthor, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// let seen = repo.test_transaction(|tx| {
    ///     tx.create_author(&NewAuthor::new("Temporary"))?;
    ///     tx.count_authors()
    /// })?;
    /// assert_eq!(seen, 1);
    /// assert_eq!(repo.count_authors()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `f` returns; [`Error::Pool`] when no connection is free;
    /// [`Error::Database`] when the transaction cannot begin or roll back.
    pub fn test_transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T>,
    {
        self.run_transaction(Finish::RollBack, f)
    }

    /// Statement counts (data statements apart from transaction control and setup) and
    /// the pool's state. Counting costs one atomic increment per statement.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot(self.inner.pool.state())
    }

    /// The versions of the applied migrations, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`], or [`Error::Migration`] when the migration table cannot be read.
    pub fn applied_migrations(&self) -> Result<Vec<String>> {
        self.check_checkout()?;
        with_pooled!(&self.inner.pool, |conn| migrations::applied(conn))
    }

    /// The versions of the migrations this build has and the database has not applied,
    /// oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`], or [`Error::Migration`] when the migration table cannot be read.
    pub fn pending_migrations(&self) -> Result<Vec<String>> {
        self.check_checkout()?;
        with_pooled!(&self.inner.pool, |conn| migrations::pending(conn))
    }

    /// Applies the pending migrations and returns their versions (for a repository
    /// opened with [`Config::run_migrations(false)`](Config::run_migrations)).
    ///
    /// # Errors
    ///
    /// [`Error::Migration`] when the database holds an unknown migration or one fails
    /// (then nothing is applied).
    pub fn run_pending_migrations(&self) -> Result<Vec<String>> {
        self.check_checkout()?;
        with_pooled!(&self.inner.pool, |conn| migrations::run_pending(conn))
    }

    /// Reverts the newest applied migration by running its `down.sql`, and returns its
    /// version: the downgrade step of the upgrade/downgrade workflow.
    ///
    /// **A revert destroys the data of what it removes**, and applying the migration
    /// again does not bring it back: reverting `20261124000002`
    /// (`add_isbn_year_and_indexes`) drops every book's ISBN and publication year;
    /// reverting `20261124000001` (`create_authors_and_books`) drops both tables
    /// with every author and book. Back the database up first.
    ///
    /// # Errors
    ///
    /// [`Error::Migration`] when no migration is applied or the revert fails (then
    /// nothing is changed).
    pub fn revert_last_migration(&self) -> Result<String> {
        self.check_checkout()?;
        with_pooled!(&self.inner.pool, |conn| migrations::revert_last(conn))
    }
}

/// Opens an SQLite database: one connection refuses a database from a newer build
/// before anything is written, switches a file to WAL and migrates; then the pool.
/// Returns the pool and that first connection (which keeps an in-memory database alive).
fn open_sqlite(
    url: &str,
    in_memory: bool,
    config: &Config,
    counters: &Arc<Counters>,
) -> Result<(AnyPool, SqliteConnection)> {
    let setup = SqliteSetup {
        busy_timeout: config.busy_timeout,
        echo: config.echo(),
        counters: Arc::clone(counters),
    };
    let mut conn = setup.connect(url)?;
    let pending = migrations::pending_on_open(&mut conn)?;
    if !in_memory {
        pool::enable_wal(&mut conn, config.busy_timeout)?;
    }
    apply(&mut conn, config, &pending)?;
    let pool = pool::sqlite_pool(url, setup, config.pool_settings())?;
    Ok((AnyPool::Sqlite(pool), conn))
}

/// Opens a PostgreSQL database: one connection (without a statement timeout) checks and
/// applies the migrations; then the pool.
#[cfg(feature = "postgres")]
fn open_postgres(url: &str, config: &Config, counters: &Arc<Counters>) -> Result<AnyPool> {
    let setup = crate::postgres::PgSetup {
        connect_timeout: config.connection_timeout,
        lock_timeout: config.busy_timeout,
        statement_timeout: config.statement_timeout,
        echo: config.echo(),
        counters: Arc::clone(counters),
    };
    let mut conn = setup.connect(url)?;
    let pending = migrations::pending_on_open(&mut conn)?;
    apply(&mut conn, config, &pending)?;
    let pool = crate::postgres::pg_pool(
        url,
        setup,
        config.pool_settings(),
        config.health_check_after,
    )?;
    Ok(AnyPool::Postgres(pool))
}

/// Applies the migrations found `pending` on open, unless `config` says not to.
fn apply<C>(conn: &mut C, config: &Config, pending: &[String]) -> Result<()>
where
    C: Backend,
    for<'a> migrations::applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    if config.run_migrations && !pending.is_empty() {
        for version in migrations::run_pending(conn)? {
            tracing::info!(target: "bookshelf", %version, backend = C::NAME, "applied migration");
        }
    }
    Ok(())
}
