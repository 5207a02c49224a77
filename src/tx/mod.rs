//! [`Tx`], the connection-scoped handle that every operation is written on.

mod authors;
mod books;
mod raw;

pub use raw::RawConnection;

use std::num::NonZeroU32;

use crate::connection::{with_conn, AnyConn, Backend};
use crate::transaction::{self, Faults, Finish};
use crate::Result;

/// Bulk inserts on SQLite are split into statements of this many rows (and lookups by
/// many keys into queries of this many keys). At five bound values a row this stays far
/// below SQLite's limit of 32,766 bound values a statement, and is large enough that
/// per-statement overhead is noise.
pub(crate) const INSERT_CHUNK_ROWS: usize = 256;

/// A connection handed to the closure of
/// [`Repository::transaction`](crate::Repository::transaction).
///
/// It has every operation [`Repository`](crate::Repository) has, with the same
/// signatures; here they all run in the one transaction, which commits when the closure
/// returns `Ok` and rolls back when it returns `Err` or panics.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{NewAuthor, NewBook, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.transaction(|tx| {
///     let author = tx.create_author(&NewAuthor::new("Octavia E. Butler"))?;
///     tx.create_book(&NewBook::new(author.id, "Kindred"))?;
///     Ok(author)
/// })?;
/// assert_eq!(repo.books_by_author(author.id)?.len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct Tx<'c> {
    pub(crate) conn: AnyConn<'c>,
    /// The transaction depth this handle runs at; `None` in autocommit.
    pub(crate) level: Option<NonZeroU32>,
    /// What ended the transaction of this checkout, shared by the handles of every level.
    pub(crate) faults: &'c Faults,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.conn {
            AnyConn::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            AnyConn::Postgres(_) => "postgres",
        };
        f.debug_struct("Tx")
            .field("backend", &backend)
            .field("level", &self.level)
            .finish()
    }
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: AnyConn<'c>, level: Option<NonZeroU32>, faults: &'c Faults) -> Self {
        Self {
            conn,
            level,
            faults,
        }
    }

    /// The transaction depth diesel counts on the connection.
    pub(crate) fn depth(&mut self) -> Option<NonZeroU32> {
        with_conn!(self, |conn| transaction::depth(conn))
    }

    /// See [`Backend::transaction_survived`].
    pub(crate) fn survived(&mut self) -> bool {
        with_conn!(self, |conn| conn.transaction_survived())
    }

    /// Runs `f` in a savepoint inside this transaction: if `f` returns `Err` or panics,
    /// only what `f` did is undone, and the outer transaction goes on.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{NewAuthor, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// repo.transaction(|tx| {
    ///     tx.create_author(&NewAuthor::new("Kept"))?;
    ///     let inner: bookshelf::Result<()> = tx.transaction(|tx| {
    ///         tx.create_author(&NewAuthor::new("Undone"))?;
    ///         Err(bookshelf::Error::NotFound { entity: "book", id: 1 })
    ///     });
    ///     assert!(inner.is_err());
    ///     Ok(())
    /// })?;
    /// assert_eq!(repo.count_authors()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, or [`Error::Database`](crate::Error::Database) if the
    /// savepoint cannot be created or released.
    pub fn transaction<T, F>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T>,
    {
        self.guarded(|tx| {
            let faults = tx.faults;
            with_conn!(tx, |conn| transaction::run_handle(
                conn,
                faults,
                Finish::Commit,
                f
            ))
        })
    }
}

/// Validates every input, naming the first bad one by its index.
fn validate_all<'a, T, R>(
    inputs: &'a [T],
    validate: impl Fn(&'a T) -> Result<R>,
) -> Result<Vec<R>> {
    inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            validate(input).map_err(|error| crate::Error::InvalidRow {
                index,
                error: Box::new(error),
            })
        })
        .collect()
}
