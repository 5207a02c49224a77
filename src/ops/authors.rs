//! The operations on authors, and the eager load of their books.

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;

use super::validate_all;
use crate::backend::{clock, Backend, IdTable};
use crate::error::{Entity, Error, Missing, Result};
use crate::models::{Author, AuthorId, AuthorWithBooks, Book, NewAuthor, Version};
use crate::query::{self, Page};
use crate::schema::authors;
use crate::sql;
use crate::transaction;
use crate::validate;

/// The operations on authors, compiled once per backend; documented on
/// [`Tx`](crate::Tx), whose methods of the same names call them.
pub(crate) trait AuthorOps {
    fn create_author(&mut self, new: &NewAuthor) -> Result<Author>;
    fn create_authors(&mut self, new: &[NewAuthor]) -> Result<Vec<Author>>;
    fn author(&mut self, id: AuthorId) -> Result<Option<Author>>;
    fn authors_by_name(&mut self, name: &str) -> Result<Vec<Author>>;
    fn list_authors(&mut self, page: Page<AuthorId>) -> Result<Vec<Author>>;
    fn rename_author(&mut self, id: AuthorId, name: &str) -> Result<Author>;
    fn rename_author_if(&mut self, id: AuthorId, expected: Version, name: &str) -> Result<Author>;
    fn delete_author(&mut self, id: AuthorId) -> Result<()>;
    fn delete_author_if(&mut self, id: AuthorId, expected: Version) -> Result<()>;

    /// After a write conditioned on `expected` changed nothing: why, as an error.
    fn author_not_at(&mut self, id: AuthorId, expected: Version) -> Result<Error>;
    fn count_authors(&mut self) -> Result<i64>;
    fn authors_with_books(&mut self, page: Page<AuthorId>) -> Result<Vec<AuthorWithBooks>>;
}

/// Implements [`AuthorOps`] for the connection type `$conn`: the bodies are written
/// once, and compiled with the concrete connection, so every query is checked by diesel
/// against that backend.
macro_rules! author_ops {
    ($conn:ty) => {
        impl AuthorOps for $conn {
            fn create_author(&mut self, new: &NewAuthor) -> Result<Author> {
                let row = validate::author(new)?;
                self.with_fresh_ids(IdTable::Authors, |conn| {
                    conn.insert_author(&row)?.ok_or(Error::Conflict {
                        entity: Entity::Author,
                        field: "id",
                        source: None,
                    })
                })
            }

            fn create_authors(&mut self, new: &[NewAuthor]) -> Result<Vec<Author>> {
                let rows = validate_all(new, validate::author)?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let inserted =
                    self.with_fresh_ids(IdTable::Authors, |conn| conn.insert_new_authors(&rows))?;
                Ok(rows
                    .into_iter()
                    .zip(inserted.ids)
                    .map(|(row, id)| row.stored(AuthorId(id), inserted.now))
                    .collect())
            }

            fn author(&mut self, id: AuthorId) -> Result<Option<Author>> {
                Ok(authors::table
                    .find(id)
                    .select(Author::as_select())
                    .get_result(self)
                    .optional()?)
            }

            fn authors_by_name(&mut self, name: &str) -> Result<Vec<Author>> {
                // Normalised exactly as a write stores it; a name no write would accept matches
                // nothing (and PostgreSQL would refuse one holding a NUL).
                let Some(name) = validate::stored_text(name) else {
                    return Ok(Vec::new());
                };
                Ok(Author::by_name(name)
                    .select(Author::as_select())
                    .load(self)?)
            }

            fn list_authors(&mut self, page: Page<AuthorId>) -> Result<Vec<Author>> {
                Ok(query::page::authors(page).load(self)?)
            }

            fn rename_author(&mut self, id: AuthorId, name: &str) -> Result<Author> {
                /// The cache key of the rename statement.
                struct Rename;
                let name = validate::text("name", name)?;
                let update = sql::update::<Rename, _, _, _>(
                    authors::table,
                    (
                        authors::name.eq(name),
                        authors::version.eq(authors::version + 1),
                        authors::updated_at.eq(clock::<Self>()),
                    ),
                    authors::id.eq(id),
                );
                self.update_returning(update, |conn| {
                    authors::table
                        .find(id)
                        .select(Author::as_select())
                        .get_result(conn)
                        .optional()
                })?
                .ok_or(Error::NotFound(Missing::Author(id)))
            }

            fn rename_author_if(
                &mut self,
                id: AuthorId,
                expected: Version,
                name: &str,
            ) -> Result<Author> {
                /// The cache key of the conditional rename statement.
                struct RenameIf;
                let name = validate::text("name", name)?;
                let update = sql::update::<RenameIf, _, _, _>(
                    authors::table,
                    (
                        authors::name.eq(name),
                        authors::version.eq(authors::version + 1),
                        authors::updated_at.eq(clock::<Self>()),
                    ),
                    authors::id.eq(id).and(authors::version.eq(expected)),
                );
                match self.update_returning(update, |conn| {
                    authors::table
                        .find(id)
                        .select(Author::as_select())
                        .get_result(conn)
                        .optional()
                })? {
                    Some(author) => Ok(author),
                    None => Err(self.author_not_at(id, expected)?),
                }
            }

            fn delete_author(&mut self, id: AuthorId) -> Result<()> {
                let deleted = diesel::delete(authors::table.find(id)).execute(self)?;
                Error::unless_found(deleted, Missing::Author(id))
            }

            fn delete_author_if(&mut self, id: AuthorId, expected: Version) -> Result<()> {
                let deleted = diesel::delete(
                    authors::table
                        .filter(authors::id.eq(id))
                        .filter(authors::version.eq(expected)),
                )
                .execute(self)?;
                if deleted == 0 {
                    return Err(self.author_not_at(id, expected)?);
                }
                Ok(())
            }

            fn author_not_at(&mut self, id: AuthorId, expected: Version) -> Result<Error> {
                let actual: Option<Version> = authors::table
                    .find(id)
                    .select(authors::version)
                    .get_result(self)
                    .optional()?;
                Ok(Error::not_at_version(Missing::Author(id), expected, actual))
            }

            fn count_authors(&mut self) -> Result<i64> {
                Ok(authors::table.count().get_result(self)?)
            }

            fn authors_with_books(&mut self, page: Page<AuthorId>) -> Result<Vec<AuthorWithBooks>> {
                transaction::read(self, |conn| {
                    let authors: Vec<Author> = query::page::authors(page).load(conn)?;
                    let (Some(first), Some(last)) = (authors.first(), authors.last()) else {
                        return Ok(Vec::new());
                    };
                    // Rows are grouped as they are decoded, never gathered in a list of their own.
                    let books = if page.is_all() {
                        query::eager::all_books().load_iter::<Book, DefaultLoadingMode>(conn)?
                    } else {
                        query::eager::books_between(first.id, last.id)
                            .load_iter::<Book, DefaultLoadingMode>(conn)?
                    };
                    group_books(authors, books)
                })
            }
        }
    };
}
crate::backend::for_each_backend!(author_ops);

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
