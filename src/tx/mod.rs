//! [`Tx`], the connection-scoped handle that every operation is written on.

mod authors;
mod books;

use crate::connection::{self, with_conn, AnyConn};
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
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.conn {
            AnyConn::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            AnyConn::Postgres(_) => "postgres",
        };
        f.debug_struct("Tx").field("backend", &backend).finish()
    }
}

impl<'c> Tx<'c> {
    pub(crate) fn new(conn: AnyConn<'c>) -> Self {
        Self { conn }
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
        with_conn!(self, |conn| connection::transaction(conn, f))
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
