//! The operations of [`Repository`], each a one-line delegation to the [`Tx`] method of
//! the same name on a pooled connection in autocommit.

use crate::error::Result;
use crate::models::{Author, AuthorId, AuthorWithBooks, Book, BookChanges, BookId, Version};
use crate::models::{NewAuthor, NewBook};
use crate::query::{BookFilter, Page};
use crate::raw::RawConnection;
use crate::repository::Repository;
#[allow(unused_imports)] // for doc links
use crate::{error::Error, tx::Tx};

/// The operations, each delegating to the [`Tx`] method of the same name on a pooled
/// connection in autocommit.
impl Repository {
    /// Creates an author. The name is trimmed; it must then hold at least one visible
    /// character (not only white space, control characters or invisible format
    /// characters such as U+200B), at most 500 characters and no NUL.
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
        self.read_tx(|tx| tx.author(id))
    }

    /// The authors named exactly `name`, by id. `name` is normalised as
    /// [`create_author`](Repository::create_author) stores a name (trimmed), so the
    /// string a create accepted finds its author; a name no create would accept finds
    /// nothing. There is no index on
    /// names (it would double the pages every author insert and rename writes), so this
    /// reads the whole authors table: fine for occasional lookups, not for a hot path.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn authors_by_name(&self, name: &str) -> Result<Vec<Author>> {
        self.read_tx(|tx| tx.authors_by_name(name))
    }

    /// A keyset [`Page`] of authors, by id.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn list_authors(&self, page: Page<AuthorId>) -> Result<Vec<Author>> {
        self.read_tx(|tx| tx.list_authors(page))
    }

    /// Renames an author and returns it as stored, at its next version.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name; [`Error::NotFound`] for a missing author;
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn rename_author(&self, id: AuthorId, name: &str) -> Result<Author> {
        self.with_tx(|tx| tx.rename_author(id, name))
    }

    /// Renames an author only if it is still at version `expected` (the version you
    /// read): optimistic concurrency, as
    /// [`update_book_if`](Repository::update_book_if) does for books.
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the author is at another version (nothing is written);
    /// [`Error::Validation`]; [`Error::NotFound`]; [`Error::Pool`]; [`Error::Database`].
    pub fn rename_author_if(&self, id: AuthorId, expected: Version, name: &str) -> Result<Author> {
        self.with_tx(|tx| tx.rename_author_if(id, expected, name))
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

    /// Deletes an author and their books only if the author is still at version
    /// `expected`.
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the author is at another version (nothing is deleted);
    /// [`Error::NotFound`]; [`Error::Pool`]; [`Error::Database`].
    pub fn delete_author_if(&self, id: AuthorId, expected: Version) -> Result<()> {
        self.with_tx(|tx| tx.delete_author_if(id, expected))
    }

    /// The number of authors.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn count_authors(&self) -> Result<i64> {
        self.read_tx(|tx| tx.count_authors())
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
        self.read_tx(|tx| tx.book(id))
    }

    /// Lazy loading: the books of an author, by title (empty for an unknown author), in
    /// one query when they are needed. Uses the `(author_id, title)` index. Calling it
    /// for each of `n` authors is the N+1 pattern; prefer
    /// [`authors_with_books`](Repository::authors_with_books) for many authors.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn books_by_author(&self, author_id: AuthorId) -> Result<Vec<Book>> {
        self.read_tx(|tx| tx.books_by_author(author_id))
    }

    /// The books titled exactly `title`, by id, normalised as
    /// [`create_book`](Repository::create_book) stores a title (trimmed). Uses the title
    /// index.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn books_by_title(&self, title: &str) -> Result<Vec<Book>> {
        self.read_tx(|tx| tx.books_by_title(title))
    }

    /// The books matching a [`BookFilter`]. Every value reaches the database as a bound
    /// parameter, never as SQL text.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn search_books(&self, filter: &BookFilter) -> Result<Vec<Book>> {
        self.read_tx(|tx| tx.search_books(filter))
    }

    /// A keyset [`Page`] of books, by id.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn list_books(&self, page: Page<BookId>) -> Result<Vec<Book>> {
        self.read_tx(|tx| tx.list_books(page))
    }

    /// Streams every book, by id, to `f`, and returns how many there were. The books
    /// are read by one statement (one consistent snapshot) and decoded one at a time, so
    /// memory stays constant however many there are: the way to export or scan a whole
    /// catalog. The connection is busy until `f` has seen the last book.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{NewAuthor, NewBook, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// let author = repo.create_author(&NewAuthor::new("Jorge Luis Borges"))?;
    /// repo.create_books(&[
    ///     NewBook::new(author.id, "Ficciones"),
    ///     NewBook::new(author.id, "El Aleph"),
    /// ])?;
    /// let mut title_chars = 0;
    /// let visited = repo.for_each_book(|book| title_chars += book.title.chars().count())?;
    /// assert_eq!((visited, title_chars), (2, 17));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`].
    pub fn for_each_book<F>(&self, f: F) -> Result<u64>
    where
        F: FnMut(Book),
    {
        self.with_tx(|tx| tx.for_each_book(f))
    }

    /// Calls `f` with every book, by id, until it says to stop, as
    /// [`for_each_book`](Repository::for_each_book) does.
    #[cfg(feature = "tokio")]
    pub(crate) fn visit_books(
        &self,
        f: impl FnMut(Book) -> std::ops::ControlFlow<()>,
    ) -> Result<u64> {
        self.with_tx(|tx| tx.visit_books(f))
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

    /// Applies [`BookChanges`] to a book only if it is still at version `expected`, the
    /// version you read: if anybody updated it since (another handle, another process,
    /// any writer: the database raises the version for all of them), nothing is written
    /// and the error says which version the book is at. Empty changes write nothing and
    /// check the version all the same.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{BookChanges, Error, Missing, NewAuthor, NewBook, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// let author = repo.create_author(&NewAuthor::new("Frank Herbert"))?;
    /// let read = repo.create_book(&NewBook::new(author.id, "Dune"))?;
    ///
    /// // Somebody else updates the book after we read it.
    /// repo.update_book(read.id, &BookChanges::new().published_year(1965))?;
    ///
    /// // Our update, made against what we read, is refused.
    /// let ours = BookChanges::new().title("Dune (1965)");
    /// match repo.update_book_if(read.id, read.version, &ours) {
    ///     Err(Error::Stale { expected, actual, .. }) => {
    ///         assert_eq!((expected.0, actual.0), (1, 2));
    ///     }
    ///     other => panic!("expected a stale version, got {other:?}"),
    /// }
    /// // Read again, and decide.
    /// let fresh = repo.book(read.id)?.ok_or(Error::NotFound(Missing::Book(read.id)))?;
    /// let updated = repo.update_book_if(fresh.id, fresh.version, &ours)?;
    /// assert_eq!((updated.title.as_str(), updated.version.0), ("Dune (1965)", 3));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the book is at another version; [`Error::Validation`];
    /// [`Error::NotFound`] for a missing book; [`Error::Conflict`]; [`Error::Pool`];
    /// [`Error::Database`].
    pub fn update_book_if(
        &self,
        id: BookId,
        expected: Version,
        changes: &BookChanges,
    ) -> Result<Book> {
        self.with_tx(|tx| tx.update_book_if(id, expected, changes))
    }

    /// Deletes a book only if it is still at version `expected`.
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the book is at another version (nothing is deleted);
    /// [`Error::NotFound`]; [`Error::Pool`]; [`Error::Database`].
    pub fn delete_book_if(&self, id: BookId, expected: Version) -> Result<()> {
        self.with_tx(|tx| tx.delete_book_if(id, expected))
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
        self.read_tx(|tx| tx.count_books())
    }

    /// Eager loading: a keyset [`Page`] of authors, each with all of their books by
    /// title, in exactly two SELECTs whatever the page size (one for the authors, one
    /// for the books in their id range), read in one transaction so both see the same
    /// snapshot. Loading `n` authors lazily with
    /// [`books_by_author`](Repository::books_by_author)
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
    pub fn authors_with_books(&self, page: Page<AuthorId>) -> Result<Vec<AuthorWithBooks>> {
        self.read_tx(|tx| tx.authors_with_books(page))
    }

    /// Runs `f` on a pooled diesel connection, in autocommit: see
    /// [`Tx::with_connection`], which runs it inside a transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`]; [`Error::Database`] with `f`'s error.
    pub fn with_connection<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(RawConnection<'_>) -> diesel::QueryResult<T>,
    {
        self.with_tx(|tx| tx.with_connection(f))
    }
}
