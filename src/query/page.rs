//! Keyset pages, and the one query that reads a page of any table.

use diesel::backend::Backend;
use diesel::dsl;
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::query_dsl::methods::{FilterDsl, OrderDsl};

use crate::models::{Author, AuthorId, Book, BookId};
use crate::schema::{authors, books};
use crate::sql::{self, LimitLiteral};

/// A keyset page over rows ordered by id: the rows whose id is greater than `after`,
/// at most `limit` of them. `Id` is the id type of the rows paged
/// ([`AuthorId`] or [`BookId`]), so an author's id cannot page books.
///
/// Keyset pages stay fast at any depth (the database seeks to `after` through the
/// primary key instead of counting past an offset) and never skip or repeat a row when
/// others are inserted meanwhile.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{NewAuthor, Page, Repository};
///
/// let repo = Repository::in_memory()?;
/// for name in ["Ann", "Bo", "Cy"] {
///     repo.create_author(&NewAuthor::new(name))?;
/// }
/// let first = repo.list_authors(Page::first(2))?;
/// let rest = repo.list_authors(Page::after(first[1].id, 2))?;
/// assert_eq!(rest.len(), 1);
/// assert_eq!(rest[0].name, "Cy");
/// # Ok(())
/// # }
/// ```
///
/// The id type is checked: a page of authors does not page books.
///
/// ```compile_fail
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{NewAuthor, Page, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.create_author(&NewAuthor::new("Ann"))?;
/// repo.list_books(Page::after(author.id, 10))?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page<Id> {
    /// Only rows with an id greater than this; `None` starts at the beginning.
    pub after: Option<Id>,
    /// At most this many rows; `None` means no limit.
    pub limit: Option<u32>,
}

impl<Id> Page<Id> {
    /// The first `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self {
            after: None,
            limit: Some(limit),
        }
    }

    /// The `limit` rows after the row with id `after`.
    pub fn after(after: Id, limit: u32) -> Self {
        Self {
            after: Some(after),
            limit: Some(limit),
        }
    }

    /// Every row.
    pub fn all() -> Self {
        Self {
            after: None,
            limit: None,
        }
    }

    /// True for [`Page::all`]: no lower bound, no limit.
    pub(crate) fn is_all(&self) -> bool {
        self.after.is_none() && self.limit.is_none()
    }
}

impl<Id> Default for Page<Id> {
    /// [`Page::all`].
    fn default() -> Self {
        Self::all()
    }
}

/// The query of a keyset page: `query WHERE id > after ORDER BY id LIMIT n`.
pub(crate) type Keyset<Q, C> = LimitLiteral<dsl::Order<dsl::Filter<Q, dsl::Gt<C, i64>>, C>>;

/// `query` narrowed to `page` of its rows ordered by the id column `id`, the one
/// keyset query of every table. The limit is written into the SQL (see
/// [`sql::limit`]); a page without `after` starts below every id.
pub(crate) fn keyset<Q, C, Id>(query: Q, id: C, page: Page<Id>) -> Keyset<Q, C>
where
    Id: Into<i64>,
    C: ExpressionMethods + Copy,
    C::SqlType: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType,
    i64: AsExpression<C::SqlType>,
    Q: FilterDsl<dsl::Gt<C, i64>>,
    dsl::Filter<Q, dsl::Gt<C, i64>>: OrderDsl<C>,
{
    let after = page.after.map_or(i64::MIN, Into::into);
    let narrowed = FilterDsl::filter(query, id.gt(after));
    sql::limit(OrderDsl::order(narrowed, id), page.limit)
}

/// A keyset page of authors.
pub(crate) fn authors<DB>(
    page: Page<AuthorId>,
) -> Keyset<dsl::Select<authors::table, dsl::AsSelect<Author, DB>>, authors::id>
where
    DB: Backend,
{
    keyset(
        authors::table.select(Author::as_select()),
        authors::id,
        page,
    )
}

/// A keyset page of books.
pub(crate) fn books<DB>(
    page: Page<BookId>,
) -> Keyset<dsl::Select<books::table, dsl::AsSelect<Book, DB>>, books::id>
where
    DB: Backend,
{
    keyset(books::table.select(Book::as_select()), books::id, page)
}

#[cfg(test)]
mod tests {
    use diesel::sqlite::Sqlite;

    use super::*;

    #[test]
    fn a_page_of_authors_seeks_past_after_by_the_primary_key() {
        let sql =
            diesel::debug_query::<Sqlite, _>(&authors(Page::after(AuthorId(7), 100))).to_string();
        assert_eq!(
            sql,
            "SELECT `authors`.`id`, `authors`.`name`, `authors`.`version`, \
             `authors`.`created_at`, `authors`.`updated_at` FROM `authors` \
             WHERE (`authors`.`id` > ?) ORDER BY `authors`.`id` LIMIT 100 -- binds: [7]"
        );
    }

    #[test]
    fn a_first_page_starts_below_every_id_and_an_unlimited_one_has_no_limit() {
        let first = diesel::debug_query::<Sqlite, _>(&books(Page::first(5))).to_string();
        assert!(
            first.ends_with("ORDER BY `books`.`id` LIMIT 5 -- binds: [-9223372036854775808]"),
            "{first}"
        );
        let all = diesel::debug_query::<Sqlite, _>(&books(Page::all())).to_string();
        assert!(!all.contains("LIMIT"), "{all}");
        assert!(Page::<BookId>::all().is_all());
        assert!(!Page::<BookId>::first(5).is_all());
        assert!(!Page {
            after: Some(BookId(1)),
            limit: None
        }
        .is_all());
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn the_same_pages_on_postgres() {
        use diesel::pg::Pg;
        let sql = diesel::debug_query::<Pg, _>(&authors(Page::after(AuthorId(7), 100))).to_string();
        assert_eq!(
            sql,
            "SELECT \"authors\".\"id\", \"authors\".\"name\", \"authors\".\"version\", \
             \"authors\".\"created_at\", \"authors\".\"updated_at\" FROM \"authors\" \
             WHERE (\"authors\".\"id\" > $1) ORDER BY \"authors\".\"id\" LIMIT 100 -- binds: [7]"
        );
        let all = diesel::debug_query::<Pg, _>(&books(Page::all())).to_string();
        assert!(
            all.ends_with("WHERE (\"books\".\"id\" > $1) ORDER BY \"books\".\"id\" -- binds: [-9223372036854775808]"),
            "{all}"
        );
    }
}
