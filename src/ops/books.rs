//! The operations on books.

use std::collections::{BTreeSet, HashSet};
use std::ops::ControlFlow;

use diesel::prelude::*;

use super::validate_all;
use crate::backend::{clock, Backend, IdTable, CHUNK_ROWS};
use crate::error::{Entity, Error, Missing, Result};
use crate::models::{AuthorId, Book, BookChanges, BookId, BookRow, NewBook, Version};
use crate::query::filtered::{Criteria, FilterQuery, RankedSearch};
use crate::query::{self, BookFilter, Page};
use crate::schema::{authors, books};
use crate::transaction;
use crate::validate;

/// The operations on books, compiled once per backend; documented on
/// [`Tx`](crate::Tx), whose methods of the same names call them.
pub(crate) trait BookOps {
    fn create_book(&mut self, new: &NewBook) -> Result<Book>;
    fn create_books(&mut self, new: &[NewBook]) -> Result<Vec<Book>>;
    fn book(&mut self, id: BookId) -> Result<Option<Book>>;
    fn books_by_author(&mut self, author_id: AuthorId) -> Result<Vec<Book>>;
    fn books_by_title(&mut self, title: &str) -> Result<Vec<Book>>;
    fn search_books(&mut self, filter: &BookFilter) -> Result<Vec<Book>>;
    fn list_books(&mut self, page: Page<BookId>) -> Result<Vec<Book>>;
    fn for_each_book(&mut self, f: &mut dyn FnMut(Book) -> ControlFlow<()>) -> Result<u64>;
    fn update_book(&mut self, id: BookId, changes: &BookChanges) -> Result<Book>;
    fn update_book_if(
        &mut self,
        id: BookId,
        expected: Version,
        changes: &BookChanges,
    ) -> Result<Book>;
    fn delete_book(&mut self, id: BookId) -> Result<()>;
    fn delete_book_if(&mut self, id: BookId, expected: Version) -> Result<()>;

    /// After a write conditioned on `expected` changed nothing: why, as an error.
    fn book_not_at(&mut self, id: BookId, expected: Version) -> Result<Error>;
    fn count_books(&mut self) -> Result<i64>;

    /// After a bulk insert failed on its foreign key: the first row whose author does
    /// not exist, as an [`Error::InvalidRow`]. Runs only on that error path.
    fn name_missing_author(&mut self, new: &[NewBook]) -> Result<Option<Error>>;

    /// After a bulk insert failed on a unique constraint: the first row whose ISBN, or
    /// title for its author, is already taken — by a stored book or an earlier row of
    /// the batch — as an [`Error::InvalidRow`].
    fn name_conflicting_row(&mut self, rows: &[BookRow]) -> Result<Option<Error>>;
}

/// Implements [`BookOps`] for the connection type `$conn`: the bodies are written
/// once, and compiled with the concrete connection, so every query is checked by diesel
/// against that backend.
macro_rules! book_ops {
    ($conn:ty) => {
        impl BookOps for $conn {
            fn create_book(&mut self, new: &NewBook) -> Result<Book> {
                let row = validate::book(new)?;
                let created = self.with_fresh_ids(IdTable::Books, |conn| {
                    transaction::recoverable(conn, |conn| conn.insert_book(&row))
                });
                match created {
                    Ok(created) => created.ok_or(Error::NotWritten(Entity::Book)),
                    Err(error) => Err(missing_author(error, new.author_id)),
                }
            }

            fn create_books(&mut self, new: &[NewBook]) -> Result<Vec<Book>> {
                let rows = validate_all(new, validate::book)?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let created = self
                    .with_fresh_ids(IdTable::Books, |conn| conn.insert_new_books(&rows))
                    .map(|inserted| {
                        rows.into_iter()
                            .zip(inserted.ids)
                            .map(|(row, id)| row.stored(BookId(id), inserted.now))
                            .collect::<Vec<Book>>()
                    });
                // The database does not say which row failed; on these error paths only, find
                // it, so that the caller learns the index.
                match created {
                    Err(error) if error.is_foreign_key_violation() => {
                        Err(self.name_missing_author(new)?.unwrap_or(error))
                    }
                    Err(error @ Error::Conflict { .. }) => {
                        let rows = validate_all(new, validate::book)?;
                        Err(self.name_conflicting_row(&rows)?.unwrap_or(error))
                    }
                    other => other,
                }
            }

            fn book(&mut self, id: BookId) -> Result<Option<Book>> {
                Ok(books::table
                    .find(id)
                    .select(Book::as_select())
                    .get_result(self)
                    .optional()?)
            }

            fn books_by_author(&mut self, author_id: AuthorId) -> Result<Vec<Book>> {
                Ok(Book::by_author(author_id)
                    .select(Book::as_select())
                    .load(self)?)
            }

            fn books_by_title(&mut self, title: &str) -> Result<Vec<Book>> {
                // Normalised exactly as a write stores it; a title no write would accept matches
                // nothing (and PostgreSQL would refuse one holding a NUL).
                let Some(title) = validate::stored_text(title) else {
                    return Ok(Vec::new());
                };
                Ok(Book::by_title(title).select(Book::as_select()).load(self)?)
            }

            fn search_books(&mut self, filter: &BookFilter) -> Result<Vec<Book>> {
                let Some(criteria) = Criteria::check::<Self>(filter) else {
                    return Ok(Vec::new());
                };
                match &criteria.search {
                    None => Ok(FilterQuery::<Self>::query(&criteria).load(self)?),
                    Some(search) => self.ranked_books(&criteria, search),
                }
            }

            fn list_books(&mut self, page: Page<BookId>) -> Result<Vec<Book>> {
                Ok(query::page::books(page).load(self)?)
            }

            fn for_each_book(&mut self, f: &mut dyn FnMut(Book) -> ControlFlow<()>) -> Result<u64> {
                // One statement is one snapshot; rows are decoded one at a time as the database
                // hands them over, so memory stays flat at any table size.
                let rows = books::table
                    .order(books::id)
                    .select(Book::as_select())
                    .load_iter::<Book, <Self as Backend>::RowByRow>(self)?;
                let mut visited = 0;
                for book in rows {
                    visited += 1;
                    if f(book?).is_break() {
                        // Dropping the rows resets the statement: the read ends here.
                        break;
                    }
                }
                Ok(visited)
            }

            fn update_book(&mut self, id: BookId, changes: &BookChanges) -> Result<Book> {
                let changeset = validate::changes(changes)?;
                let not_found = Error::NotFound(Missing::Book(id));
                if changes.is_empty() {
                    return self.book(id)?.ok_or(not_found);
                }
                transaction::recoverable(self, |conn| {
                    let update = diesel::update(books::table.find(id)).set((
                        &changeset,
                        books::version.eq(books::version + 1),
                        books::updated_at.eq(clock::<Self>()),
                    ));
                    conn.update_returning(update, |conn| {
                        books::table
                            .find(id)
                            .select(Book::as_select())
                            .get_result(conn)
                            .optional()
                    })
                })
                .and_then(|updated| updated.ok_or(not_found))
            }

            fn update_book_if(
                &mut self,
                id: BookId,
                expected: Version,
                changes: &BookChanges,
            ) -> Result<Book> {
                let changeset = validate::changes(changes)?;
                if changes.is_empty() {
                    // Nothing to write: the version is checked all the same.
                    return match self.book(id)? {
                        Some(book) if book.version == expected => Ok(book),
                        found => Err(Error::not_at_version(
                            Missing::Book(id),
                            expected,
                            found.map(|book| book.version),
                        )),
                    };
                }
                let updated = transaction::recoverable(self, |conn| {
                    let update = diesel::update(
                        books::table
                            .filter(books::id.eq(id))
                            .filter(books::version.eq(expected)),
                    )
                    .set((
                        &changeset,
                        books::version.eq(books::version + 1),
                        books::updated_at.eq(clock::<Self>()),
                    ));
                    conn.update_returning(update, |conn| {
                        books::table
                            .find(id)
                            .select(Book::as_select())
                            .get_result(conn)
                            .optional()
                    })
                })?;
                match updated {
                    Some(book) => Ok(book),
                    None => Err(self.book_not_at(id, expected)?),
                }
            }

            fn delete_book(&mut self, id: BookId) -> Result<()> {
                let deleted = diesel::delete(books::table.find(id)).execute(self)?;
                Error::unless_found(deleted, Missing::Book(id))
            }

            fn delete_book_if(&mut self, id: BookId, expected: Version) -> Result<()> {
                let deleted = diesel::delete(
                    books::table
                        .filter(books::id.eq(id))
                        .filter(books::version.eq(expected)),
                )
                .execute(self)?;
                if deleted == 0 {
                    return Err(self.book_not_at(id, expected)?);
                }
                Ok(())
            }

            fn book_not_at(&mut self, id: BookId, expected: Version) -> Result<Error> {
                let actual: Option<Version> = books::table
                    .find(id)
                    .select(books::version)
                    .get_result(self)
                    .optional()?;
                Ok(Error::not_at_version(Missing::Book(id), expected, actual))
            }

            fn count_books(&mut self) -> Result<i64> {
                Ok(books::table.count().get_result(self)?)
            }

            fn name_missing_author(&mut self, new: &[NewBook]) -> Result<Option<Error>> {
                let wanted: BTreeSet<AuthorId> = new.iter().map(|book| book.author_id).collect();
                let mut existing = BTreeSet::new();
                let wanted: Vec<AuthorId> = wanted.into_iter().collect();
                // Chunked to stay under the bound-parameter limit.
                for chunk in wanted.chunks(CHUNK_ROWS) {
                    let found: Vec<AuthorId> = authors::table
                        .filter(authors::id.eq_any(chunk))
                        .select(authors::id)
                        .load(self)?;
                    existing.extend(found);
                }
                let missing = new
                    .iter()
                    .enumerate()
                    .find(|(_, book)| !existing.contains(&book.author_id));
                // None when every author exists by now (one was deleted and re-created meanwhile):
                // the caller then reports the database's own error.
                Ok(missing.map(|(index, book)| Error::InvalidRow {
                    index,
                    error: Box::new(Error::NotFound(Missing::Author(book.author_id))),
                }))
            }

            fn name_conflicting_row(&mut self, rows: &[BookRow]) -> Result<Option<Error>> {
                let isbns: Vec<&str> = rows.iter().filter_map(|row| row.isbn.as_deref()).collect();
                let titles: Vec<&str> = rows.iter().map(|row| row.title.as_str()).collect();
                let mut stored_isbns: Vec<Option<String>> = Vec::new();
                let mut stored_titles: Vec<(AuthorId, String)> = Vec::new();
                for chunk in isbns.chunks(CHUNK_ROWS) {
                    stored_isbns.extend(
                        books::table
                            .filter(books::isbn.eq_any(chunk))
                            .select(books::isbn)
                            .load::<Option<String>>(self)?,
                    );
                }
                for chunk in titles.chunks(CHUNK_ROWS) {
                    stored_titles.extend(
                        books::table
                            .filter(books::title.eq_any(chunk))
                            .select((books::author_id, books::title))
                            .load::<(AuthorId, String)>(self)?,
                    );
                }
                let mut isbns: HashSet<&str> =
                    stored_isbns.iter().flatten().map(String::as_str).collect();
                let mut titles: HashSet<(AuthorId, &str)> = stored_titles
                    .iter()
                    .map(|(author_id, title)| (*author_id, title.as_str()))
                    .collect();
                for (index, row) in rows.iter().enumerate() {
                    let field = match row.isbn.as_deref() {
                        Some(isbn) if !isbns.insert(isbn) => "isbn",
                        _ if !titles.insert((row.author_id, &row.title)) => "title",
                        _ => continue,
                    };
                    return Ok(Some(Error::InvalidRow {
                        index,
                        error: Box::new(Error::Conflict {
                            entity: Entity::Book,
                            field,
                            source: None,
                        }),
                    }));
                }
                Ok(None)
            }
        }
    };
}
crate::backend::for_each_backend!(book_ops);

/// A foreign key error on inserting a book means its author does not exist.
fn missing_author(error: Error, author_id: AuthorId) -> Error {
    if error.is_foreign_key_violation() {
        Error::NotFound(Missing::Author(author_id))
    } else {
        error
    }
}
