//! The operations on books.

use std::ops::ControlFlow;

#[allow(unused_imports)] // for doc links
use crate::error::Error;
use crate::error::Result;
use crate::models::{AuthorId, Book, BookChanges, BookId, NewBook, Version};
use crate::query::{BookFilter, Page};
use crate::tx::{trace, Tx};

impl Tx<'_> {
    /// Creates a book. See [`Repository::create_book`](crate::Repository::create_book).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for bad input, [`Error::NotFound`] for a missing author,
    /// [`Error::Conflict`] for a duplicate ISBN or a title the author already has.
    pub fn create_book(&mut self, new: &NewBook) -> Result<Book> {
        self.operation(trace::span!("create_book"), |tx| tx.conn.create_book(new))
    }

    /// Creates several books, all or none. See
    /// [`Repository::create_books`](crate::Repository::create_books).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRow`] naming the first bad row (invalid, or by a missing author),
    /// [`Error::Conflict`] for a duplicate ISBN or title.
    pub fn create_books(&mut self, new: &[NewBook]) -> Result<Vec<Book>> {
        self.batch_operation(trace::span!("create_books"), new.is_empty(), |tx| {
            tx.conn.create_books(new)
        })
    }

    /// The book with `id`, if there is one. See [`Repository::book`](crate::Repository::book).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn book(&mut self, id: BookId) -> Result<Option<Book>> {
        self.read_operation(trace::span!("book"), |tx| tx.conn.book(id))
    }

    /// The books of an author, by title. See
    /// [`Repository::books_by_author`](crate::Repository::books_by_author).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn books_by_author(&mut self, author_id: AuthorId) -> Result<Vec<Book>> {
        self.read_operation(trace::span!("books_by_author"), |tx| {
            tx.conn.books_by_author(author_id)
        })
    }

    /// Books titled exactly `title` (after trimming it), by id. See
    /// [`Repository::books_by_title`](crate::Repository::books_by_title).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn books_by_title(&mut self, title: &str) -> Result<Vec<Book>> {
        self.read_operation(trace::span!("books_by_title"), |tx| {
            tx.conn.books_by_title(title)
        })
    }

    /// Books matching `filter`. See
    /// [`Repository::search_books`](crate::Repository::search_books).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn search_books(&mut self, filter: &BookFilter) -> Result<Vec<Book>> {
        self.read_operation(trace::span!("search_books"), |tx| {
            tx.conn.search_books(filter)
        })
    }

    /// A keyset page of books, by id. See
    /// [`Repository::list_books`](crate::Repository::list_books).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn list_books(&mut self, page: Page<BookId>) -> Result<Vec<Book>> {
        self.read_operation(trace::span!("list_books"), |tx| tx.conn.list_books(page))
    }

    /// Calls `f` with every book, by id, in constant memory. See
    /// [`Repository::for_each_book`](crate::Repository::for_each_book).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails; the books visited so far stay visited.
    pub fn for_each_book<F>(&mut self, mut f: F) -> Result<u64>
    where
        F: FnMut(Book),
    {
        self.visit_books(|book| {
            f(book);
            ControlFlow::Continue(())
        })
    }

    /// Calls `f` with every book, by id, until it says to stop; the count is of the
    /// books `f` saw.
    pub(crate) fn visit_books(
        &mut self,
        mut f: impl FnMut(Book) -> ControlFlow<()>,
    ) -> Result<u64> {
        self.read_operation(trace::span!("for_each_book"), |tx| {
            tx.conn.for_each_book(&mut f)
        })
    }

    /// Applies `changes` to a book. See
    /// [`Repository::update_book`](crate::Repository::update_book).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for bad input, [`Error::NotFound`] for a missing book,
    /// [`Error::Conflict`] for a duplicate ISBN or title.
    pub fn update_book(&mut self, id: BookId, changes: &BookChanges) -> Result<Book> {
        self.operation(trace::span!("update_book"), |tx| {
            tx.conn.update_book(id, changes)
        })
    }

    /// Applies `changes` to a book if it is still at version `expected`. See
    /// [`Repository::update_book_if`](crate::Repository::update_book_if).
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the book is at another version, [`Error::Validation`],
    /// [`Error::NotFound`], [`Error::Conflict`].
    pub fn update_book_if(
        &mut self,
        id: BookId,
        expected: Version,
        changes: &BookChanges,
    ) -> Result<Book> {
        self.operation(trace::span!("update_book_if"), |tx| {
            tx.conn.update_book_if(id, expected, changes)
        })
    }

    /// Deletes a book if it is still at version `expected`. See
    /// [`Repository::delete_book_if`](crate::Repository::delete_book_if).
    ///
    /// # Errors
    ///
    /// [`Error::Stale`] when the book is at another version, [`Error::NotFound`].
    pub fn delete_book_if(&mut self, id: BookId, expected: Version) -> Result<()> {
        self.operation(trace::span!("delete_book_if"), |tx| {
            tx.conn.delete_book_if(id, expected)
        })
    }

    /// Deletes a book. See [`Repository::delete_book`](crate::Repository::delete_book).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing book.
    pub fn delete_book(&mut self, id: BookId) -> Result<()> {
        self.operation(trace::span!("delete_book"), |tx| tx.conn.delete_book(id))
    }

    /// The number of books. See [`Repository::count_books`](crate::Repository::count_books).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn count_books(&mut self) -> Result<i64> {
        self.read_operation(trace::span!("count_books"), |tx| tx.conn.count_books())
    }
}
