//! The eager load's second query. The first is a keyset page of authors
//! ([`page::authors`](super::page::authors)); this one reads the
//! books of exactly those authors, in one query whatever the page's size.

use diesel::backend::Backend;
use diesel::dsl;
use diesel::prelude::*;

use crate::models::{AuthorId, Book};
use crate::schema::books;

/// The query of [`books_between`].
pub(crate) type BooksBetween<DB> = dsl::Select<
    dsl::Filter<books::table, dsl::Between<books::author_id, AuthorId, AuthorId>>,
    dsl::AsSelect<Book, DB>,
>;

/// The second query, for a page holding the authors with ids `first` to `last`.
///
/// A keyset page holds every author whose id lies between its first and its last, so
/// an id range selects exactly their books. Unlike `belonging_to`, which binds one
/// value per author (and fails beyond SQLite's 32,766), this binds two at any page size.
pub(crate) fn books_between<DB>(first: AuthorId, last: AuthorId) -> BooksBetween<DB>
where
    DB: Backend,
{
    books::table
        .filter(books::author_id.between(first, last))
        .select(Book::as_select())
}

/// The second query when the page is every author: every book, in one pass over the
/// table in storage order, the cheapest read there is.
pub(crate) fn all_books<DB>() -> dsl::Select<books::table, dsl::AsSelect<Book, DB>>
where
    DB: Backend,
{
    books::table.select(Book::as_select())
}

#[cfg(test)]
mod tests {
    use diesel::sqlite::Sqlite;

    use super::*;

    const BOOK_COLUMNS: &str = "`books`.`id`, `books`.`title`, `books`.`author_id`, \
                                `books`.`isbn`, `books`.`published_year`, `books`.`version`, \
                                `books`.`created_at`, `books`.`updated_at`";

    #[test]
    fn the_books_of_a_page_are_one_range_of_two_binds() {
        let sql = diesel::debug_query::<Sqlite, _>(&books_between::<Sqlite>(
            AuthorId(3),
            AuthorId(9_000),
        ))
        .to_string();
        assert_eq!(
            sql,
            format!(
                "SELECT {BOOK_COLUMNS} FROM `books` \
                 WHERE (`books`.`author_id` BETWEEN ? AND ?) -- binds: [AuthorId(3), AuthorId(9000)]"
            )
        );
    }

    #[test]
    fn every_book_is_one_plain_scan() {
        let sql = diesel::debug_query::<Sqlite, _>(&all_books::<Sqlite>()).to_string();
        assert_eq!(
            sql,
            format!("SELECT {BOOK_COLUMNS} FROM `books` -- binds: []")
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn the_same_queries_on_postgres() {
        use diesel::pg::Pg;
        let sql = diesel::debug_query::<Pg, _>(&books_between::<Pg>(AuthorId(3), AuthorId(9)))
            .to_string();
        assert!(
            sql.ends_with(
                "FROM \"books\" WHERE (\"books\".\"author_id\" BETWEEN $1 AND $2) \
                 -- binds: [AuthorId(3), AuthorId(9)]"
            ),
            "{sql}"
        );
        let sql = diesel::debug_query::<Pg, _>(&all_books::<Pg>()).to_string();
        assert!(sql.ends_with("FROM \"books\" -- binds: []"), "{sql}");
    }
}
