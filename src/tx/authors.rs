//! Operations on authors, and the eager and lazy loads of their books.

use diesel::prelude::*;

use super::{insert_chunked, validate_all};
use crate::connection::{with_conn, Backend};
use crate::models::{Author, AuthorId, AuthorWithBooks, Book, NewAuthor};
use crate::schema::{authors, books};
use crate::{sql, validate, Error, Page, Result, Tx};

impl Tx<'_> {
    /// Creates an author. See [`Repository::create_author`](crate::Repository::create_author).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name; [`Error::Database`] if the insert fails.
    pub fn create_author(&mut self, new: &NewAuthor) -> Result<Author> {
        let row = validate::author(new)?;
        with_conn!(self, |conn| Ok(diesel::insert_into(authors::table)
            .values(&row)
            .returning(Author::as_returning())
            .get_result(conn)?))
    }

    /// Creates several authors, all or none. See
    /// [`Repository::create_authors`](crate::Repository::create_authors).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRow`] naming the first bad row; [`Error::Database`] if the insert
    /// fails.
    pub fn create_authors(&mut self, new: &[NewAuthor]) -> Result<Vec<Author>> {
        let rows = validate_all(new, validate::author)?;
        with_conn!(self, |conn| conn.write_transaction(|conn| Ok(
            insert_chunked!(conn, authors::table, &rows, Author::as_returning())
        )))
    }

    /// The author with `id`, if there is one. See
    /// [`Repository::author`](crate::Repository::author).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn author(&mut self, id: AuthorId) -> Result<Option<Author>> {
        with_conn!(self, |conn| Ok(authors::table
            .find(id)
            .select(Author::as_select())
            .get_result(conn)
            .optional()?))
    }

    /// Authors named exactly `name` (after trimming it), by id. See
    /// [`Repository::authors_by_name`](crate::Repository::authors_by_name).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn authors_by_name(&mut self, name: &str) -> Result<Vec<Author>> {
        with_conn!(self, |conn| Ok(Author::by_name(name.trim())
            .select(Author::as_select())
            .load(conn)?))
    }

    /// A keyset page of authors, by id. See
    /// [`Repository::list_authors`](crate::Repository::list_authors).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn list_authors(&mut self, page: Page) -> Result<Vec<Author>> {
        with_conn!(self, |conn| Ok(sql::limit(
            authors::table
                .filter(authors::id.gt(page.after_id()))
                .order(authors::id)
                .select(Author::as_select()),
            page
        )
        .load(conn)?))
    }

    /// Renames an author. See
    /// [`Repository::rename_author`](crate::Repository::rename_author).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name, [`Error::NotFound`] for a missing author.
    pub fn rename_author(&mut self, id: AuthorId, name: &str) -> Result<Author> {
        let name = validate::text("name", name)?;
        with_conn!(self, |conn| diesel::update(authors::table.find(id))
            .set(authors::name.eq(name))
            .returning(Author::as_returning())
            .get_result(conn)
            .optional()?
            .ok_or(Error::NotFound {
                entity: "author",
                id: id.0,
            }))
    }

    /// Deletes an author and their books. See
    /// [`Repository::delete_author`](crate::Repository::delete_author).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing author.
    pub fn delete_author(&mut self, id: AuthorId) -> Result<()> {
        let deleted = with_conn!(self, |conn| diesel::delete(authors::table.find(id))
            .execute(conn)?);
        if deleted == 0 {
            return Err(Error::NotFound {
                entity: "author",
                id: id.0,
            });
        }
        Ok(())
    }

    /// The number of authors. See
    /// [`Repository::count_authors`](crate::Repository::count_authors).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn count_authors(&mut self) -> Result<i64> {
        with_conn!(self, |conn| Ok(authors::table.count().get_result(conn)?))
    }

    /// A page of authors, each with all of their books: two queries whatever the page
    /// size. See [`Repository::authors_with_books`](crate::Repository::authors_with_books).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a query fails.
    pub fn authors_with_books(&mut self, page: Page) -> Result<Vec<AuthorWithBooks>> {
        with_conn!(self, |conn| conn.read_transaction(|conn| {
            let authors: Vec<Author> = sql::limit(
                authors::table
                    .filter(authors::id.gt(page.after_id()))
                    .order(authors::id)
                    .select(Author::as_select()),
                page,
            )
            .load(conn)?;
            let (Some(first), Some(last)) = (authors.first(), authors.last()) else {
                return Ok(Vec::new());
            };
            // A keyset page holds every author whose id lies between its first and its
            // last, so an id range selects exactly their books. Unlike `belonging_to`,
            // which binds one value per author, this binds two at any page size.
            let books: Vec<Book> = books::table
                .filter(books::author_id.between(first.id, last.id))
                .order((books::author_id, books::title))
                .select(Book::as_select())
                .load(conn)?;
            Ok(group_books(authors, books))
        }))
    }

    /// The books of `author`, loaded on demand (one query per call), by title. See
    /// [`Repository::books_of`](crate::Repository::books_of).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn books_of(&mut self, author: &Author) -> Result<Vec<Book>> {
        with_conn!(self, |conn| Ok(Book::belonging_to(author)
            .order(books::title)
            .select(Book::as_select())
            .load(conn)?))
    }
}

/// Pairs authors (ordered by id) with books (ordered by author id): one merge pass.
fn group_books(authors: Vec<Author>, books: Vec<Book>) -> Vec<AuthorWithBooks> {
    let mut books = books.into_iter().peekable();
    authors
        .into_iter()
        .map(|author| {
            // Books of authors outside the page cannot occur (the range is exact); the
            // loop skips any that would, rather than misattribute them.
            while books.next_if(|book| book.author_id < author.id).is_some() {}
            let mut own = Vec::new();
            while let Some(book) = books.next_if(|book| book.author_id == author.id) {
                own.push(book);
            }
            AuthorWithBooks { author, books: own }
        })
        .collect()
}
