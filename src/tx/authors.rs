//! Operations on authors, and the eager and lazy loads of their books.

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;

use super::validate_all;
use crate::connection::{with_conn, Backend, IdTable};
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
        self.guarded(|tx| {
            let row = validate::author(new)?;
            // `get_results` steps the statement to its end, which is where SQLite runs its
            // automatic WAL checkpoint; `get_result` would stop at the row and leave the
            // checkpoint to whichever statement next runs to completion.
            // `ON CONFLICT (id) DO NOTHING`: an id the generator handed out that a row
            // already holds (after an import) inserts nothing instead of failing, so
            // the retry needs no savepoint around the insert.
            with_conn!(tx, |conn| conn.with_fresh_ids(IdTable::Authors, |conn| {
                diesel::insert_into(authors::table)
                    .values(&row)
                    .on_conflict(authors::id)
                    .do_nothing()
                    .returning(Author::as_returning())
                    .get_results(conn)?
                    .pop()
                    .ok_or(Error::Conflict {
                        entity: "author",
                        field: "id",
                    })
            }))
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
        self.guarded(|tx| {
            let rows = validate_all(new, validate::author)?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let ids = with_conn!(tx, |conn| conn.with_fresh_ids(IdTable::Authors, |conn| {
                conn.write_transaction(|conn| {
                    let ids = conn.reserve_ids(IdTable::Authors, rows.len())?;
                    conn.insert_authors(&ids, &rows)?;
                    Ok(ids)
                })
            }))?;
            Ok(rows
                .into_iter()
                .zip(ids)
                .map(|(row, id)| row.stored(AuthorId(id)))
                .collect())
        })
    }

    /// The author with `id`, if there is one. See
    /// [`Repository::author`](crate::Repository::author).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn author(&mut self, id: AuthorId) -> Result<Option<Author>> {
        self.guarded(|tx| {
            with_conn!(tx, |conn| Ok(authors::table
                .find(id)
                .select(Author::as_select())
                .get_result(conn)
                .optional()?))
        })
    }

    /// Authors named exactly `name` (after trimming it), by id. See
    /// [`Repository::authors_by_name`](crate::Repository::authors_by_name).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn authors_by_name(&mut self, name: &str) -> Result<Vec<Author>> {
        self.guarded(|tx| {
            // Normalised exactly as a write stores it; a name no write would accept
            // matches nothing (and PostgreSQL would refuse one holding a NUL).
            let Some(name) = validate::stored_text(name) else {
                return Ok(Vec::new());
            };
            with_conn!(tx, |conn| Ok(Author::by_name(name)
                .select(Author::as_select())
                .load(conn)?))
        })
    }

    /// A keyset page of authors, by id. See
    /// [`Repository::list_authors`](crate::Repository::list_authors).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn list_authors(&mut self, page: Page) -> Result<Vec<Author>> {
        self.guarded(|tx| {
            with_conn!(tx, |conn| Ok(sql::limit(
                authors::table
                    .filter(authors::id.gt(page.after_id()))
                    .order(authors::id)
                    .select(Author::as_select()),
                page
            )
            .load(conn)?))
        })
    }

    /// Renames an author. See
    /// [`Repository::rename_author`](crate::Repository::rename_author).
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for a bad name, [`Error::NotFound`] for a missing author.
    pub fn rename_author(&mut self, id: AuthorId, name: &str) -> Result<Author> {
        self.guarded(|tx| {
            /// The cache key of the rename statement.
            struct Rename;
            let name = validate::text("name", name)?;
            let renamed = with_conn!(tx, |conn| sql::update::<Rename, _, _, _>(
                authors::table,
                authors::name.eq(name),
                authors::id.eq(id)
            )
            .execute(conn)?);
            Error::unless_found(renamed, "author", id.0)?;
            // The row now holds exactly these values; reading them back would cost a
            // RETURNING clause for nothing.
            Ok(Author {
                id,
                name: name.to_owned(),
            })
        })
    }

    /// Deletes an author and their books. See
    /// [`Repository::delete_author`](crate::Repository::delete_author).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a missing author.
    pub fn delete_author(&mut self, id: AuthorId) -> Result<()> {
        self.guarded(|tx| {
            let deleted = with_conn!(tx, |conn| diesel::delete(authors::table.find(id))
                .execute(conn)?);
            Error::unless_found(deleted, "author", id.0)
        })
    }

    /// The number of authors. See
    /// [`Repository::count_authors`](crate::Repository::count_authors).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn count_authors(&mut self) -> Result<i64> {
        self.guarded(|tx| with_conn!(tx, |conn| Ok(authors::table.count().get_result(conn)?)))
    }

    /// A page of authors, each with all of their books: two queries whatever the page
    /// size. See [`Repository::authors_with_books`](crate::Repository::authors_with_books).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if a query fails.
    pub fn authors_with_books(&mut self, page: Page) -> Result<Vec<AuthorWithBooks>> {
        self.guarded(|tx| {
            with_conn!(tx, |conn| conn.read_transaction(|conn| {
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
                // Rows are grouped as they are decoded, never gathered in a list of their own.
                let books = if page == Page::all() {
                    // Every book: one pass over the table in storage order, the cheapest
                    // read there is.
                    books::table
                        .select(Book::as_select())
                        .load_iter::<Book, DefaultLoadingMode>(conn)?
                } else {
                    // A keyset page holds every author whose id lies between its first and
                    // its last, so an id range selects exactly their books. Unlike
                    // `belonging_to`, which binds one value per author (and fails beyond
                    // SQLite's 32,766), this binds two at any page size.
                    books::table
                        .filter(books::author_id.between(first.id, last.id))
                        .select(Book::as_select())
                        .load_iter::<Book, DefaultLoadingMode>(conn)?
                };
                group_books(authors, books)
            }))
        })
    }

    /// The books of `author`, loaded on demand (one query per call), by title. See
    /// [`Repository::books_of`](crate::Repository::books_of).
    ///
    /// # Errors
    ///
    /// [`Error::Database`] if the query fails.
    pub fn books_of(&mut self, author: &Author) -> Result<Vec<Book>> {
        self.guarded(|tx| {
            with_conn!(tx, |conn| Ok(Book::belonging_to(author)
                .order(books::title)
                .select(Book::as_select())
                .load(conn)?))
        })
    }
}

/// Gives each author (ordered by id) their books, ordered by title.
fn group_books(
    authors: Vec<Author>,
    books: impl Iterator<Item = QueryResult<Book>>,
) -> Result<Vec<AuthorWithBooks>> {
    let mut shelf: Vec<AuthorWithBooks> = authors
        .into_iter()
        .map(|author| AuthorWithBooks {
            author,
            books: Vec::new(),
        })
        .collect();
    // Books mostly arrive author by author, so the previous book's author is checked
    // before searching.
    let mut slot = 0;
    for book in books {
        let book = book?;
        if shelf.get(slot).map(|entry| entry.author.id) != Some(book.author_id) {
            // Every book belongs to an author of the page (the queries make it so); a
            // book that did not would be dropped rather than misattributed.
            match shelf.binary_search_by_key(&book.author_id, |entry| entry.author.id) {
                Ok(found) => slot = found,
                Err(_) => continue,
            }
        }
        if let Some(entry) = shelf.get_mut(slot) {
            entry.books.push(book);
        }
    }
    for entry in &mut shelf {
        // Usually sorted already (books tend to be stored by author in title order),
        // which makes this a single pass.
        entry.books.sort_by(|a, b| a.title.cmp(&b.title));
    }
    Ok(shelf)
}
