//! [`Repository`]: the pool, how it is opened, and the operations it delegates to [`Tx`].

use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;

use crate::connection::{self, Backend};
use crate::models::{Author, AuthorId, AuthorWithBooks, Book, BookChanges, BookId};
use crate::models::{NewAuthor, NewBook};
use crate::observe::{Counters, EchoSettings, Stats};
use crate::pool::{self, PoolSettings, SqlitePool, SqliteSetup, Target};
use crate::{migrations, BookFilter, Config, Error, Page, Result, Tx};

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
    pool: SqlitePool,
    counters: Arc<Counters>,
    in_memory: bool,
    /// Keeps an in-memory database alive while the pool opens and closes connections.
    _keepalive: Option<Mutex<SqliteConnection>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("backend", &"sqlite")
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
        let setup = SqliteSetup {
            busy_timeout: config.busy_timeout,
            echo: EchoSettings {
                log_queries: config.log_queries,
                log_bind_values: config.log_bind_values,
                slow_query_threshold: Some(config.slow_query_threshold),
            },
            counters: Arc::clone(&counters),
        };
        let (url, in_memory) = match Target::parse(&config.url)? {
            Target::SqliteFile(url) => (url, false),
            Target::SqliteMemory => (pool::memory_url(), true),
        };
        let mut conn = setup.connect(&url)?;
        for version in migrations::prepare(&mut conn, config.run_migrations)? {
            tracing::info!(target: "bookshelf", %version, "applied migration");
        }
        if !in_memory {
            // Persistent in the file, and ignored inside a transaction: set once, here.
            conn.batch_execute("PRAGMA journal_mode = WAL")?;
        }
        let pool = pool::sqlite_pool(
            &url,
            setup,
            PoolSettings {
                max_size: config.max_size,
                min_idle: config.min_idle,
                connection_timeout: config.connection_timeout,
            },
        )?;
        Ok(Repository {
            inner: Arc::new(Inner {
                pool,
                counters,
                in_memory,
                _keepalive: in_memory.then(|| Mutex::new(conn)),
            }),
        })
    }

    /// Checks out a connection and runs `f` on it, in autocommit.
    fn with_tx<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.inner.pool.get()?;
        f(&mut conn.handle())
    }

    /// Checks out a connection for the migration functions.
    fn with_sqlite<T>(&self, f: impl FnOnce(&mut SqliteConnection) -> Result<T>) -> Result<T> {
        let mut conn = self.inner.pool.get()?;
        f(&mut conn)
    }

    /// Runs `f` in one transaction: it commits when `f` returns `Ok`, and rolls back
    /// when `f` returns `Err` or panics (the panic then continues). On SQLite it begins
    /// with `BEGIN IMMEDIATE`, taking the write lock up front, so that a transaction
    /// that reads and then writes never fails half-way with `database is locked`.
    /// Inside, [`Tx::transaction`] nests a savepoint.
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
    /// Whatever `f` returns; [`Error::Pool`] when no connection is free;
    /// [`Error::Database`] when the transaction cannot begin or commit.
    pub fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T>,
    {
        let mut conn = self.inner.pool.get()?;
        connection::transaction(&mut *conn, f)
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
        let mut outcome = None;
        let rolled_back = self.transaction(|tx| {
            outcome = Some(f(tx));
            Err::<(), _>(Error::Database(diesel::result::Error::RollbackTransaction))
        });
        match (outcome, rolled_back) {
            (Some(outcome), Err(Error::Database(diesel::result::Error::RollbackTransaction))) => {
                outcome
            }
            (_, Err(error)) => Err(error),
            (Some(outcome), Ok(())) => outcome,
            (None, Ok(())) => Err(Error::Database(diesel::result::Error::RollbackTransaction)),
        }
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
        self.with_sqlite(migrations::applied)
    }

    /// The versions of the migrations this build has and the database has not applied,
    /// oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`], or [`Error::Migration`] when the migration table cannot be read.
    pub fn pending_migrations(&self) -> Result<Vec<String>> {
        self.with_sqlite(migrations::pending)
    }

    /// Applies the pending migrations and returns their versions (for a repository
    /// opened with [`Config::run_migrations(false)`](Config::run_migrations)).
    ///
    /// # Errors
    ///
    /// [`Error::Migration`] when the database holds an unknown migration or one fails
    /// (then nothing is applied).
    pub fn run_pending_migrations(&self) -> Result<Vec<String>> {
        self.with_sqlite(|conn| migrations::prepare(conn, true))
    }

    /// Reverts the newest applied migration by running its `down.sql`, and returns its
    /// version: the downgrade step of the upgrade/downgrade workflow.
    ///
    /// # Errors
    ///
    /// [`Error::Migration`] when no migration is applied or the revert fails (then
    /// nothing is changed).
    pub fn revert_last_migration(&self) -> Result<String> {
        self.with_sqlite(migrations::revert_last)
    }
}

/// The operations, each delegating to the [`Tx`] method of the same name on a pooled
/// connection in autocommit.
impl Repository {
    /// Creates an author. The name is trimmed; it must then be 1 to 500 characters
    /// without NUL.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name; [`Error::Pool`]; [`Error::Database`].
    pub fn create_author(&self, new: &NewAuthor) -> Result<Author> {
        self.with_tx(|tx| tx.create_author(new))
    }

    /// Creates several authors in one transaction, all or none, with multi-row inserts.
    /// The result is in input order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRow`] naming the first bad row (nothing is written);
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn create_authors(&self, new: &[NewAuthor]) -> Result<Vec<Author>> {
        self.with_tx(|tx| tx.create_authors(new))
    }

    /// The author with `id`, or `None`.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn author(&self, id: AuthorId) -> Result<Option<Author>> {
        self.with_tx(|tx| tx.author(id))
    }

    /// The authors named exactly `name` (trimmed first), by id. Uses the name index.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn authors_by_name(&self, name: &str) -> Result<Vec<Author>> {
        self.with_tx(|tx| tx.authors_by_name(name))
    }

    /// A keyset [`Page`] of authors, by id.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn list_authors(&self, page: Page) -> Result<Vec<Author>> {
        self.with_tx(|tx| tx.list_authors(page))
    }

    /// Renames an author and returns it as stored.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name; [`Error::NotFound`] for a missing author;
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn rename_author(&self, id: AuthorId, name: &str) -> Result<Author> {
        self.with_tx(|tx| tx.rename_author(id, name))
    }

    /// Deletes an author; the database deletes their books with them (`ON DELETE
    /// CASCADE`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing author; [`Error::Pool`]; [`Error::Database`].
    pub fn delete_author(&self, id: AuthorId) -> Result<()> {
        self.with_tx(|tx| tx.delete_author(id))
    }

    /// The number of authors.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn count_authors(&self) -> Result<i64> {
        self.with_tx(|tx| tx.count_authors())
    }

    /// Creates a book. The title is trimmed like a name; the ISBN may be ISBN-10 or
    /// ISBN-13 with hyphens or spaces and is stored as 13 digits; the year must be
    /// between -3000 and next year.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for bad input; [`Error::NotFound`] (`entity: "author"`)
    /// for a missing author; [`Error::Conflict`] for an ISBN already taken or a title
    /// the author already has; [`Error::Pool`]; [`Error::Database`].
    pub fn create_book(&self, new: &NewBook) -> Result<Book> {
        self.with_tx(|tx| tx.create_book(new))
    }

    /// Creates several books in one transaction, all or none, with multi-row inserts
    /// chunked under SQLite's bound-parameter limit. The result is in input order.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{Error, NewAuthor, NewBook, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// let author = repo.create_author(&NewAuthor::new("Iain M. Banks"))?;
    /// let books = [
    ///     NewBook::new(author.id, "Consider Phlebas"),
    ///     NewBook::new(author.id, ""),
    /// ];
    /// match repo.create_books(&books) {
    ///     Err(Error::InvalidRow { index, .. }) => assert_eq!(index, 1),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// assert_eq!(repo.count_books()?, 0);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRow`] naming the first bad row or the first row by a missing
    /// author; [`Error::Conflict`]; [`Error::Pool`]; [`Error::Database`]. Nothing is
    /// written on error.
    pub fn create_books(&self, new: &[NewBook]) -> Result<Vec<Book>> {
        self.with_tx(|tx| tx.create_books(new))
    }

    /// The book with `id`, or `None`.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn book(&self, id: BookId) -> Result<Option<Book>> {
        self.with_tx(|tx| tx.book(id))
    }

    /// The books of an author, by title (empty for an unknown author). Uses the
    /// `(author_id, title)` index.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn books_by_author(&self, author_id: AuthorId) -> Result<Vec<Book>> {
        self.with_tx(|tx| tx.books_by_author(author_id))
    }

    /// The books titled exactly `title` (trimmed first), by id. Uses the title index.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn books_by_title(&self, title: &str) -> Result<Vec<Book>> {
        self.with_tx(|tx| tx.books_by_title(title))
    }

    /// The books matching a [`BookFilter`]. Every value reaches the database as a bound
    /// parameter, never as SQL text.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn search_books(&self, filter: &BookFilter) -> Result<Vec<Book>> {
        self.with_tx(|tx| tx.search_books(filter))
    }

    /// A keyset [`Page`] of books, by id.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn list_books(&self, page: Page) -> Result<Vec<Book>> {
        self.with_tx(|tx| tx.list_books(page))
    }

    /// Applies [`BookChanges`] to a book and returns it as stored. Empty changes write
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for bad input; [`Error::NotFound`] for a missing book;
    /// [`Error::Conflict`]; [`Error::Pool`]; [`Error::Database`].
    pub fn update_book(&self, id: BookId, changes: &BookChanges) -> Result<Book> {
        self.with_tx(|tx| tx.update_book(id, changes))
    }

    /// Deletes a book.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing book; [`Error::Pool`]; [`Error::Database`].
    pub fn delete_book(&self, id: BookId) -> Result<()> {
        self.with_tx(|tx| tx.delete_book(id))
    }

    /// The number of books.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn count_books(&self) -> Result<i64> {
        self.with_tx(|tx| tx.count_books())
    }

    /// Eager loading: a keyset [`Page`] of authors, each with all of their books by
    /// title, in exactly two SELECTs whatever the page size (one for the authors, one
    /// for the books in their id range), read in one transaction so both see the same
    /// snapshot. Loading `n` authors lazily with [`books_of`](Repository::books_of)
    /// takes `n + 1` queries instead.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{NewAuthor, NewBook, Page, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// for name in ["Le Guin", "Butler", "Banks"] {
    ///     let author = repo.create_author(&NewAuthor::new(name))?;
    ///     repo.create_book(&NewBook::new(author.id, format!("A book by {name}")))?;
    /// }
    /// let before = repo.stats().statements;
    /// let shelf = repo.authors_with_books(Page::all())?;
    /// assert_eq!(repo.stats().statements - before, 2);
    /// assert!(shelf.iter().all(|entry| entry.books.len() == 1));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn authors_with_books(&self, page: Page) -> Result<Vec<AuthorWithBooks>> {
        self.with_tx(|tx| tx.authors_with_books(page))
    }

    /// Lazy loading: the books of `author`, by title, in one query per call. Calling it
    /// for each of `n` authors is the N+1 pattern; prefer
    /// [`authors_with_books`](Repository::authors_with_books) for many authors.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn books_of(&self, author: &Author) -> Result<Vec<Book>> {
        self.with_tx(|tx| tx.books_of(author))
    }
}
