//! [`Repository`]: the pool, how it is opened, transactions and migrations.

mod operations;

use std::sync::Arc;

use crate::backends::AnyPool;
use crate::config::Config;
use crate::consistency::{Consistency, Token};
use crate::error::{Error, Result};
use crate::observe::{Counters, Stats};
use crate::pool::Wait;
use crate::retry::{Retry, Retryable};
use crate::transaction::{Faults, Finish, OpenHere};
use crate::tx::{self, Tx};

/// The data layer: a pool of connections to one database, with every operation on
/// authors and books.
///
/// Cloning is cheap and every clone shares the pool, so a `Repository` is meant to be
/// created once and handed to every thread or request handler. Each method checks out
/// a connection, runs in autocommit (operations that write several rows wrap them in a
/// transaction of their own), and returns the connection. To run several operations
/// atomically, use [`transaction`](Repository::transaction).
///
/// When the last clone is dropped (or [`close`](Repository::close)d), every connection
/// is closed before the drop returns: the database file is free at once for a backup,
/// a copy or the `sqlite3` shell, and SQLite has removed its `-wal` and `-shm` files.
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
    /// What this handle's reads must see.
    reads: Consistency,
    /// How long this handle's checkouts wait for a connection.
    wait: Wait,
}

struct Inner {
    pool: AnyPool,
    counters: Arc<Counters>,
    /// The async face's queue in front of the pool, shared by every handle.
    #[cfg(feature = "tokio")]
    queue: crate::queue::Queue,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("backend", &self.inner.pool.backend())
            .field("in_memory", &self.inner.pool.in_memory())
            .field("pool", &self.inner.pool.state())
            .field("reads", &self.reads)
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

    /// Opens (creating it if needed) the SQLite database file at `path` with the default
    /// [`Config`], and applies pending migrations: [`Config::for_path`], which takes the
    /// path as a file name, never as a URL.
    ///
    /// # Errors
    ///
    /// As [`Config::open`].
    pub fn open_path(path: impl AsRef<std::path::Path>) -> Result<Repository> {
        Config::for_path(path).open()
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
    fn run_transaction<T, E: From<Error>>(
        &self,
        finish: Finish,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.check_checkout()?;
        let _open = OpenHere::enter(Arc::as_ptr(&self.inner) as usize);
        let faults = Faults::default();
        self.inner
            .pool
            .with_session(self.wait, |conn| tx::run(conn, &faults, finish, f))
    }

    /// Closes the repository, if this is its last handle: every connection is closed
    /// when it returns, as when the last clone is dropped, but a forgotten clone does
    /// not pass unnoticed. When other clones are alive nothing is closed and this handle
    /// comes back as the error; the connections close when the last of them goes.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = std::env::temp_dir().join(format!("bookshelf-close-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// # let path = dir.join("app.db");
    /// let repo = bookshelf::Repository::open(&path.to_string_lossy())?;
    /// let handler = repo.clone();
    /// let repo = repo.close().expect_err("a clone is alive");
    /// drop(handler);
    /// repo.close().map_err(|_| "still shared")?;
    /// // The file is closed: SQLite has removed its WAL, and it may be copied now.
    /// assert!(!dir.join("app.db-wal").exists());
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// This handle, unchanged, while another clone of it is alive.
    pub fn close(self) -> std::result::Result<(), Repository> {
        match Arc::try_unwrap(self.inner) {
            // Dropping the pool closes its connections before the drop returns.
            Ok(inner) => {
                drop(inner);
                Ok(())
            }
            Err(inner) => Err(Repository { inner, ..self }),
        }
    }

    /// Checks out a connection and runs `f` on it, in autocommit.
    pub(crate) fn with_tx<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.check_checkout()?;
        let faults = Faults::default();
        self.inner
            .pool
            .with_session(self.wait, |conn| f(&mut Tx::autocommit(conn, &faults)))
    }

    /// Checks out a connection for a read and runs `f` on it, in autocommit: on a read
    /// replica when this handle's [`Consistency`] lets one serve it, else on the
    /// primary. `f` may run twice (a replica that fails, then the primary).
    pub(crate) fn read_tx<T>(&self, f: impl Fn(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.check_checkout()?;
        self.inner.pool.read(self.reads, self.wait, &|conn| {
            let faults = Faults::default();
            f(&mut Tx::autocommit(conn, &faults))
        })
    }

    /// This repository, with its reads made as `consistency` says; the handle it is
    /// called on keeps its own. Clones of the result keep the new one. It matters on
    /// PostgreSQL with read replicas ([`Config::read_replica`]), where a read outside a
    /// transaction may be served by a replica:
    ///
    /// - [`Consistency::Session`], the default: the read sees every write of this
    ///   repository (any clone) that finished before it;
    /// - [`Consistency::AtLeast`]: and also everything before a [`Token`], such as one
    ///   another request or process took with
    ///   [`write_token`](Repository::write_token) after its write;
    /// - [`Consistency::Any`]: any replica within
    ///   [`replica_max_lag`](Config::replica_max_lag) will do;
    /// - [`Consistency::Primary`]: the primary, always.
    ///
    /// Writes, transactions (reads inside them too), migrations,
    /// [`for_each_book`](Repository::for_each_book) and
    /// [`with_connection`](Repository::with_connection) always run on the primary.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{Consistency, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// let dashboard = repo.reading(Consistency::Any); // a few seconds stale is fine
    /// assert_eq!(dashboard.count_books()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn reading(&self, consistency: Consistency) -> Repository {
        Repository {
            inner: Arc::clone(&self.inner),
            reads: consistency,
            wait: self.wait,
        }
    }

    /// This repository, with its checkouts giving up at `deadline` instead of after the
    /// connection timeout.
    #[cfg(feature = "tokio")]
    pub(crate) fn waiting_until(&self, deadline: std::time::Instant) -> Repository {
        Repository {
            inner: Arc::clone(&self.inner),
            reads: self.reads,
            wait: Wait::Until(deadline),
        }
    }

    /// The async face's queue in front of this repository's pool.
    #[cfg(feature = "tokio")]
    pub(crate) fn queue(&self) -> &crate::queue::Queue {
        &self.inner.queue
    }

    /// What this handle's reads must see: see [`reading`](Repository::reading).
    pub fn consistency(&self) -> Consistency {
        self.reads
    }

    /// The primary's log position after this repository's latest write (any clone's),
    /// as a [`Token`] another request can read at
    /// ([`Consistency::AtLeast`]). `None` until the repository has written, and always
    /// without read replicas: there every read sees every committed write.
    pub fn write_token(&self) -> Option<Token> {
        self.inner.pool.write_token()
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
    /// The closure may return the application's own error type `E`, as long as a
    /// [`bookshelf::Error`](Error) converts into it (`E: From<bookshelf::Error>`): an
    /// application error rolls the transaction back and comes out as it went in, and
    /// the crate's errors (the operations', the pool's, the commit's) arrive through
    /// `From`. When nothing else fixes the closure's error type (the closure only uses
    /// `?` and `Ok`), name it: `|tx| -> bookshelf::Result<_> { .. }`.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use bookshelf::{NewAuthor, Repository};
    ///
    /// #[derive(Debug)]
    /// enum AppError {
    ///     Store(bookshelf::Error),
    ///     OverBudget { authors: i64 },
    /// }
    ///
    /// impl From<bookshelf::Error> for AppError {
    ///     fn from(error: bookshelf::Error) -> Self {
    ///         AppError::Store(error)
    ///     }
    /// }
    ///
    /// let repo = Repository::in_memory()?;
    /// let result = repo.transaction(|tx| {
    ///     tx.create_author(&NewAuthor::new("Ann Leckie"))?; // a bookshelf::Error would convert
    ///     let authors = tx.count_authors()?;
    ///     if authors > 0 {
    ///         return Err(AppError::OverBudget { authors }); // rolls back
    ///     }
    ///     Ok(())
    /// });
    /// assert!(matches!(result, Err(AppError::OverBudget { authors: 1 })));
    /// assert_eq!(repo.count_authors()?, 0);
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
    pub fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.run_transaction(Finish::Commit, f)
    }

    /// Runs `f` in a transaction as [`transaction`](Repository::transaction) does, and
    /// runs it again, in a new transaction, when it fails with a
    /// [retryable](Error::is_retryable) error: a lock timeout, a deadlock or a
    /// serialization failure, a connection lost before the commit, a write that met a
    /// primary demoted by a failover, no connection free in time. `retry` says how
    /// often and after what pauses. The closure must be safe to run more than once:
    /// whatever it did outside the database in a failed run stays done.
    ///
    /// It is the loop that PostgreSQL's `SERIALIZABLE` transactions, and distributed
    /// engines speaking its protocol (CockroachDB, YugabyteDB), ask of every client.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{NewAuthor, Repository, Retry};
    ///
    /// let repo = Repository::in_memory()?;
    /// let author = repo.retry_transaction(Retry::default(), |tx| {
    ///     tx.create_author(&NewAuthor::new("Iain M. Banks"))
    /// })?;
    /// assert_eq!(repo.author(author.id)?, Some(author));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The last run's error, when it is not retryable or the attempts are used up;
    /// [`Error::CommitUnknown`] when the connection was lost during the commit (not
    /// retried: the transaction may have committed).
    pub fn retry_transaction<T, E, F>(&self, retry: Retry, mut f: F) -> Result<T, E>
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, E>,
        E: From<Error> + Retryable,
    {
        let mut run = 1;
        loop {
            let result = self.transaction(&mut f);
            match result.as_ref().err().and_then(|e| retry.next_pause(run, e)) {
                Some(pause) => std::thread::sleep(pause),
                None => return result,
            }
            run += 1;
        }
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
    pub fn test_transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<Error>,
    {
        self.run_transaction(Finish::RollBack, f)
    }

    /// Statement counts (data statements apart from transaction control and setup) and
    /// the pool's state. Counting costs one atomic increment per statement.
    pub fn stats(&self) -> Stats {
        self.inner
            .counters
            .snapshot(self.inner.pool.state(), self.inner.pool.endpoints())
    }

    /// The versions of the applied migrations, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`], or [`Error::Migration`] when the migration table cannot be read.
    pub fn applied_migrations(&self) -> Result<Vec<String>> {
        self.check_checkout()?;
        self.inner
            .pool
            .with_session(self.wait, |conn| conn.applied())
    }

    /// The versions of the migrations this build has and the database has not applied,
    /// oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`], or [`Error::Migration`] when the migration table cannot be read.
    pub fn pending_migrations(&self) -> Result<Vec<String>> {
        self.check_checkout()?;
        self.inner
            .pool
            .with_session(self.wait, |conn| conn.pending())
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
        self.inner
            .pool
            .with_session(self.wait, |conn| conn.run_pending())
    }

    /// Reverts the newest applied migration by running its `down.sql`, and returns its
    /// version: the downgrade step of the upgrade/downgrade workflow.
    ///
    /// **A revert destroys the data of what it removes**, and applying the migration
    /// again does not bring it back: reverting `20261202000003`
    /// (`versions_timestamps_search`) drops every row's version and times, the search
    /// index, and on SQLite the record of the largest id given (a deleted newest id may
    /// then be given again); reverting `20261124000002`
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
        self.inner
            .pool
            .with_session(self.wait, |conn| conn.revert_last())
    }
}

impl Config {
    /// Opens the repository. The settings and the URL are checked first, before anything
    /// touches the disk or the network; every check that can refuse a database runs
    /// before anything is written to it, and migrations run in one transaction, so a
    /// refused open leaves the database as it was (and creates no file).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for a setting out of its range or one that
    /// cannot apply to the database (each setter says which values it takes),
    /// [`Error::UnsupportedUrl`](crate::Error::UnsupportedUrl) for a URL of another
    /// database or one that would not name exactly one database,
    /// [`Error::Connection`](crate::Error::Connection) when the database cannot be opened
    /// (the message names the cause: a directory, a missing directory, a file that is not
    /// a database), [`Error::Migration`](crate::Error::Migration) when the database holds
    /// a migration this build does not know or tables of another application, or a
    /// migration fails, [`Error::Pool`](crate::Error::Pool) when the pool cannot open its
    /// connections.
    pub fn open(self) -> Result<Repository> {
        // Every setting and the URL are checked before anything is opened.
        let target = self.target()?;
        let counters = Arc::new(Counters::default());
        let pool = AnyPool::open(&target, &self, &counters)?;
        Ok(Repository {
            inner: Arc::new(Inner {
                pool,
                counters,
                #[cfg(feature = "tokio")]
                queue: crate::queue::Queue::new(&self),
            }),
            reads: Consistency::default(),
            wait: Wait::Configured,
        })
    }
}
