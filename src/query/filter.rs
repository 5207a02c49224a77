//! The book filter, and the one query it builds.

use diesel::dsl;
use diesel::prelude::*;

use chrono::{DateTime, Datelike, TimeDelta, Utc};

use crate::backend::Backend;
use crate::models::{Book, DbTime};
use crate::schema::books;
use crate::validate;

/// What [`BookFilter`] orders by. Ties are broken by id, so the order is total.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BookOrder {
    /// By id, that is, by insertion order.
    #[default]
    Id,
    /// By title.
    Title,
    /// By year of publication; books without a year come last in either direction.
    PublishedYear,
    /// By the time of the last update: with [`BookFilter::updated_since`], what a sync
    /// client asks for ("what changed since I last looked, oldest first").
    UpdatedAt,
}

/// Sort direction.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Ascending,
    /// Largest first.
    Descending,
}

/// Criteria for [`Repository::search_books`](crate::Repository::search_books). Every
/// criterion is optional; the empty filter matches every book.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{BookFilter, BookOrder, Direction, NewAuthor, NewBook, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.create_author(&NewAuthor::new("Frank Herbert"))?;
/// repo.create_book(&NewBook::new(author.id, "Dune").published_year(1965))?;
/// repo.create_book(&NewBook::new(author.id, "Dune Messiah").published_year(1969))?;
/// repo.create_book(&NewBook::new(author.id, "The Dosadi Experiment").published_year(1977))?;
///
/// let filter = BookFilter::new()
///     .title_contains("dune")
///     .year_from(1960)
///     .order_by(BookOrder::PublishedYear, Direction::Descending);
/// let titles: Vec<_> = repo.search_books(&filter)?.into_iter().map(|b| b.title).collect();
/// assert_eq!(titles, ["Dune Messiah", "Dune"]);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BookFilter {
    /// Titles containing this text, ignoring case; `%`, `_` and `\` match literally.
    pub title_contains: Option<String>,
    /// Books of this author.
    pub author_id: Option<crate::models::AuthorId>,
    /// Published in this year or later.
    pub year_from: Option<i32>,
    /// Published in this year or earlier.
    pub year_to: Option<i32>,
    /// Updated (or created) at this time or later. Times before the year 1 match every
    /// book, times after the year 9999 none.
    pub updated_since: Option<DateTime<Utc>>,
    /// Sort key.
    pub order: BookOrder,
    /// Sort direction.
    pub direction: Direction,
    /// At most this many books.
    pub limit: Option<u32>,
    /// Skip this many books first.
    pub offset: Option<u32>,
}

impl BookFilter {
    /// Matches every book, ordered by id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only titles containing `text`, ignoring ASCII case. The text is matched literally:
    /// `%` finds only titles with a `%` in them.
    pub fn title_contains(mut self, text: impl Into<String>) -> Self {
        self.title_contains = Some(text.into());
        self
    }

    /// Only books by `author_id`.
    pub fn author(mut self, author_id: crate::models::AuthorId) -> Self {
        self.author_id = Some(author_id);
        self
    }

    /// Only books published in `year` or later (books without a year never match).
    pub fn year_from(mut self, year: i32) -> Self {
        self.year_from = Some(year);
        self
    }

    /// Only books published in `year` or earlier (books without a year never match).
    pub fn year_to(mut self, year: i32) -> Self {
        self.year_to = Some(year);
        self
    }

    /// Only books updated (or created) at `time` or later, by the database's clock: a
    /// sync client passes the `updated_at` of the newest book it has seen. The
    /// `(updated_at)` index serves it, with [`BookOrder::UpdatedAt`].
    ///
    /// Times are those of each row's last write as the database stamps it (the
    /// statement's time), not of its commit: a transaction that commits after a sync
    /// read can hold rows stamped before it. A sync client that must see every change
    /// reads again from a little before its last `updated_at` (the longest transaction's
    /// length) and drops what it has already seen.
    pub fn updated_since(mut self, time: DateTime<Utc>) -> Self {
        self.updated_since = Some(time);
        self
    }

    /// Sort by `order` in `direction`.
    pub fn order_by(mut self, order: BookOrder, direction: Direction) -> Self {
        self.order = order;
        self.direction = direction;
        self
    }

    /// At most `limit` books.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip the first `offset` books.
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = Some(offset);
        self
    }
}

/// The books a [`BookFilter`] selects, as one query on the diesel backend `DB`.
pub(crate) type FilteredBooks<DB> = books::BoxedQuery<'static, DB, dsl::AsSelect<Book, DB>>;

/// [`BookFilter`] as a query for the connection type `C`: written once, in
/// `filter_query!`, and compiled for each backend (only the title match differs,
/// [`Backend::title_like`]).
pub(crate) trait FilterQuery<C: Backend> {
    /// The filter's query; `None` when no stored book can match.
    fn query(&self) -> Option<FilteredBooks<C::Backend>>;
}

macro_rules! filter_query {
    ($conn:ty) => {
        impl FilterQuery<$conn> for BookFilter {
            fn query(&self) -> Option<FilteredBooks<<$conn as Connection>::Backend>> {
                if self
                    .title_contains
                    .as_deref()
                    .is_some_and(|text| !validate::could_be_in_text(text))
                {
                    // No stored title can contain it; and SQLite's LIKE would stop at a NUL or
                    // refuse a pattern over 50,000 bytes, PostgreSQL refuse the NUL.
                    return None;
                }
                let since = match self.updated_since.map(DbTime::from) {
                    // Past what the columns hold (SQLite writes the year in four digits).
                    Some(since) if since.0.year() > 9999 => return None,
                    Some(since) if since.0.year() < 1 => None,
                    // Rounded up to what the column can hold, so that `>=` is exact.
                    since => since.map(|since| {
                        since.ceil_to(TimeDelta::microseconds(
                            <$conn as Backend>::TIME_RESOLUTION_MICROS,
                        ))
                    }),
                };
                let mut query = books::table.select(Book::as_select()).into_boxed();
                if let Some(text) = &self.title_contains {
                    // LIKE on SQLite, ILIKE on PostgreSQL: either way ASCII case is ignored.
                    query = query.filter(<$conn as Backend>::title_like(contains_pattern(text)));
                }
                if let Some(author_id) = self.author_id {
                    query = query.filter(books::author_id.eq(author_id));
                }
                if let Some(year) = self.year_from {
                    query = query.filter(books::published_year.ge(year));
                }
                if let Some(year) = self.year_to {
                    query = query.filter(books::published_year.le(year));
                }
                if let Some(since) = since {
                    query = query.filter(books::updated_at.ge(since));
                }
                query = match (self.order, self.direction) {
                    (BookOrder::Id, Direction::Ascending) => query.order(books::id.asc()),
                    (BookOrder::Id, Direction::Descending) => query.order(books::id.desc()),
                    (BookOrder::Title, Direction::Ascending) => {
                        query.order((books::title.asc(), books::id.asc()))
                    }
                    (BookOrder::Title, Direction::Descending) => {
                        query.order((books::title.desc(), books::id.desc()))
                    }
                    // `IS NULL` first puts books without a year last on every backend (SQLite and
                    // PostgreSQL disagree on where NULLs sort by default).
                    (BookOrder::PublishedYear, Direction::Ascending) => query.order((
                        books::published_year.is_null(),
                        books::published_year.asc(),
                        books::id.asc(),
                    )),
                    (BookOrder::PublishedYear, Direction::Descending) => query.order((
                        books::published_year.is_null(),
                        books::published_year.desc(),
                        books::id.desc(),
                    )),
                    (BookOrder::UpdatedAt, Direction::Ascending) => {
                        query.order((books::updated_at.asc(), books::id.asc()))
                    }
                    (BookOrder::UpdatedAt, Direction::Descending) => {
                        query.order((books::updated_at.desc(), books::id.desc()))
                    }
                };
                if let Some(limit) = self.limit {
                    query = query.limit(i64::from(limit));
                }
                if let Some(offset) = self.offset {
                    query = query.offset(i64::from(offset));
                }
                Some(query)
            }
        }
    };
}
crate::backend::for_each_backend!(filter_query);

/// Escapes `text` for a `LIKE ... ESCAPE '\'` pattern and wraps it in `%`, so that it
/// matches as a literal substring.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use diesel::sqlite::{Sqlite, SqliteConnection};

    use super::*;
    use crate::models::AuthorId;

    const BOOK_COLUMNS: &str = "`books`.`id`, `books`.`title`, `books`.`author_id`, \
                                `books`.`isbn`, `books`.`published_year`, `books`.`version`, \
                                `books`.`created_at`, `books`.`updated_at`";

    fn sqlite_sql(filter: &BookFilter) -> Option<String> {
        let query = FilterQuery::<SqliteConnection>::query(filter)?;
        Some(diesel::debug_query::<Sqlite, _>(&query).to_string())
    }

    #[test]
    fn the_empty_filter_is_every_book_by_id() {
        assert_eq!(
            sqlite_sql(&BookFilter::new()).as_deref(),
            Some(
                format!(
                    "SELECT {BOOK_COLUMNS} FROM `books` ORDER BY `books`.`id` ASC -- binds: []"
                )
                .as_str()
            )
        );
    }

    #[test]
    fn every_criterion_is_one_bound_condition() {
        let filter = BookFilter::new()
            .title_contains("50%")
            .author(AuthorId(7))
            .year_from(1960)
            .year_to(1970)
            .order_by(BookOrder::Title, Direction::Descending)
            .limit(10)
            .offset(20);
        assert_eq!(
            sqlite_sql(&filter).as_deref(),
            Some(
                format!(
                    "SELECT {BOOK_COLUMNS} FROM `books` WHERE ((((`books`.`title` LIKE ? ESCAPE ?) \
                     AND (`books`.`author_id` = ?)) AND (`books`.`published_year` >= ?)) \
                     AND (`books`.`published_year` <= ?)) \
                     ORDER BY `books`.`title` DESC, `books`.`id` DESC LIMIT ? OFFSET ? \
                     -- binds: {}",
                    r#"["%50\\%%", "\\", AuthorId(7), 1960, 1970, 10, 20]"#
                )
                .as_str()
            )
        );
    }

    #[test]
    fn books_without_a_year_sort_last_both_ways() {
        for direction in [Direction::Ascending, Direction::Descending] {
            let filter = BookFilter::new().order_by(BookOrder::PublishedYear, direction);
            let sql = sqlite_sql(&filter).unwrap_or_default();
            assert!(
                sql.contains(
                    "ORDER BY (`books`.`published_year` IS NULL), `books`.`published_year`"
                ),
                "{sql}"
            );
        }
    }

    #[test]
    fn a_text_no_title_can_hold_builds_no_query() {
        assert_eq!(sqlite_sql(&BookFilter::new().title_contains("a\0b")), None);
        assert_eq!(
            sqlite_sql(&BookFilter::new().title_contains("x".repeat(100_000))),
            None
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn on_postgres_the_title_match_is_ilike() {
        use diesel::pg::{Pg, PgConnection};
        let filter = BookFilter::new()
            .title_contains("dune")
            .author(AuthorId(7))
            .limit(10);
        let query = FilterQuery::<PgConnection>::query(&filter);
        let sql = query
            .map(|query| diesel::debug_query::<Pg, _>(&query).to_string())
            .unwrap_or_default();
        assert!(
            sql.ends_with(concat!(
                r#"FROM "books" WHERE (("books"."title" ILIKE $1 ESCAPE $2) "#,
                r#"AND ("books"."author_id" = $3)) ORDER BY "books"."id" ASC "#,
                r#"LIMIT $4 -- binds: ["%dune%", "\\", AuthorId(7), 10]"#
            )),
            "{sql}"
        );
    }

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(contains_pattern("50%_a\\b"), r"%50\%\_a\\b%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
