//! The operations on authors, and the eager load of their books.

#[allow(unused_imports)] // for doc links
use crate::error::Error;
use crate::error::Result;
use crate::models::{Author, AuthorId, AuthorWithBooks, NewAuthor, Version};
use crate::query::Page;
use crate::tx::{trace, Tx};

impl Tx<'_> {
    /// Creates an author. See [`Repository::create_author`](crate::Repository::create_author).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name; [`Error::Database`] if the insert fails.
    pub fn create_author(&mut self, new: &NewAuthor) -> Result<Author> {
        self.operation(trace::span!("create_author"), |tx| {
            tx.conn.create_author(new)
        })
    }

    /// Creates several authors, all or none. See
    /// [`Repository::create_authors`](crate::Repository::create_authors).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRow`] naming the first bad row; [`Error::Database`] if the insert
    /// fails.
    pub fn create_authors(&mut self, new: &[NewAuthor]) -> Result<Vec<Author>> {
        self.batch_operation(trace::span!("create_authors"), new.is_empty(), |tx| {
            tx.conn.create_authors(new)
        })
    }

    /// The author with `id`, if there is one. See
    /// [`Repository::author`](crate::Repository::author).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn author(&mut self, id: AuthorId) -> Result<Option<Author>> {
        self.read_operation(trace::span!("author"), |tx| tx.conn.author(id))
    }

    /// Authors named exactly `name` (after trimming it), by id. See
    /// [`Repository::authors_by_name`](crate::Repository::authors_by_name).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn authors_by_name(&mut self, name: &str) -> Result<Vec<Author>> {
        self.read_operation(trace::span!("authors_by_name"), |tx| {
            tx.conn.authors_by_name(name)
        })
    }

    /// A keyset page of authors, by id. See
    /// [`Repository::list_authors`](crate::Repository::list_authors).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn list_authors(&mut self, page: Page<AuthorId>) -> Result<Vec<Author>> {
        self.read_operation(trace::span!("list_authors"), |tx| {
            tx.conn.list_authors(page)
        })
    }

    /// Renames an author. See
    /// [`Repository::rename_author`](crate::Repository::rename_author).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name, [`Error::NotFound`] for a missing author.
    pub fn rename_author(&mut self, id: AuthorId, name: &str) -> Result<Author> {
        self.operation(trace::span!("rename_author"), |tx| {
            tx.conn.rename_author(id, name)
        })
    }

    /// Renames an author if it is still at version `expected`. See
    /// [`Repository::rename_author_if`](crate::Repository::rename_author_if).
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the author is at another version, [`Error::Validation`],
    /// [`Error::NotFound`].
    pub fn rename_author_if(
        &mut self,
        id: AuthorId,
        expected: Version,
        name: &str,
    ) -> Result<Author> {
        self.operation(trace::span!("rename_author_if"), |tx| {
            tx.conn.rename_author_if(id, expected, name)
        })
    }

    /// Deletes an author and their books if it is still at version `expected`. See
    /// [`Repository::delete_author_if`](crate::Repository::delete_author_if).
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the author is at another version, [`Error::NotFound`].
    pub fn delete_author_if(&mut self, id: AuthorId, expected: Version) -> Result<()> {
        self.operation(trace::span!("delete_author_if"), |tx| {
            tx.conn.delete_author_if(id, expected)
        })
    }

    /// Deletes an author and their books. See
    /// [`Repository::delete_author`](crate::Repository::delete_author).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing author.
    pub fn delete_author(&mut self, id: AuthorId) -> Result<()> {
        self.operation(trace::span!("delete_author"), |tx| {
            tx.conn.delete_author(id)
        })
    }

    /// The number of authors. See
    /// [`Repository::count_authors`](crate::Repository::count_authors).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn count_authors(&mut self) -> Result<i64> {
        self.read_operation(trace::span!("count_authors"), |tx| tx.conn.count_authors())
    }

    /// A page of authors, each with all of their books: two queries whatever the page
    /// size. See [`Repository::authors_with_books`](crate::Repository::authors_with_books).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a query fails.
    pub fn authors_with_books(&mut self, page: Page<AuthorId>) -> Result<Vec<AuthorWithBooks>> {
        self.read_operation(trace::span!("authors_with_books"), |tx| {
            tx.conn.authors_with_books(page)
        })
    }
}
