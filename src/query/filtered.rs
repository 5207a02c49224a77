//! The queries a [`BookFilter`] builds. Its criteria are checked once
//! ([`Criteria::check`]); without a full-text search they become one query on `books`
//! ([`FilterQuery`]); with one, each backend builds the ranked query on its full-text
//! index ([`RankedSearch`]) and adds the same criteria with the same macros,
//! written once here.

use chrono::{Datelike, TimeDelta};
use diesel::dsl;
use diesel::prelude::*;

use super::search::Search;
use super::BookFilter;
use crate::backend::Backend;
use crate::models::{Book, DbTime};
use crate::schema::books;
use crate::validate;

/// A [`BookFilter`] checked against what a stored book can be, for the connection `C`.
#[derive(Debug)]
pub(crate) struct Criteria<'f> {
    /// The filter.
    pub(crate) filter: &'f BookFilter,
    /// Its `updated_since`, rounded up to what the backend's columns hold (so that `>=`
    /// is exact whatever digits each side has); `None` for no condition.
    pub(crate) since: Option<DbTime>,
    /// The words of its full-text search.
    pub(crate) search: Option<Search>,
}

impl<'f> Criteria<'f> {
    /// The criteria of `filter` on the connection type `C`; `None` when no stored book
    /// can match them.
    pub(crate) fn check<C: Backend>(filter: &'f BookFilter) -> Option<Self> {
        if filter
            .title_contains
            .as_deref()
            .is_some_and(|text| !validate::could_be_in_text(text))
        {
            // No stored title can contain it; and SQLite's LIKE would stop at a NUL or
            // refuse a pattern over 50,000 bytes, PostgreSQL refuse the NUL.
            return None;
        }
        let since = match filter.updated_since.map(DbTime::from) {
            // Past what the columns hold (SQLite writes the year in four digits).
            Some(since) if since.0.year() > 9999 => return None,
            // Before every time a column holds.
            Some(since) if since.0.year() < 1 => None,
            since => {
                since.map(|since| since.ceil_to(TimeDelta::microseconds(C::TIME_RESOLUTION_MICROS)))
            }
        };
        let search = match filter.matching.as_deref() {
            Some(text) => Some(Search::parse(text)?),
            None => None,
        };
        Some(Self {
            filter,
            since,
            search,
        })
    }
}

/// Adds the conditions of [`Criteria`] `$criteria` on book columns to the boxed query
/// in `$query` (any query whose FROM holds `books`), with `$title_like` (a function
/// from a `LIKE` pattern to the backend's condition on `books.title`) for
/// `title_contains`.
macro_rules! book_conditions {
    ($query:ident, $criteria:expr, $title_like:expr) => {{
        let criteria: &$crate::query::filtered::Criteria<'_> = $criteria;
        let filter = criteria.filter;
        if let Some(text) = &filter.title_contains {
            // LIKE on SQLite, ILIKE on PostgreSQL: either way ASCII case is ignored.
            $query = $query.filter($title_like($crate::query::filtered::contains_pattern(text)));
        }
        if let Some(author_id) = filter.author_id {
            $query = $query.filter($crate::schema::books::author_id.eq(author_id));
        }
        if let Some(year) = filter.year_from {
            $query = $query.filter($crate::schema::books::published_year.ge(year));
        }
        if let Some(year) = filter.year_to {
            $query = $query.filter($crate::schema::books::published_year.le(year));
        }
        if let Some(since) = criteria.since {
            $query = $query.filter($crate::schema::books::updated_at.ge(since));
        }
        if let Some(limit) = filter.limit {
            $query = $query.limit(i64::from(limit));
        }
        if let Some(offset) = filter.offset {
            $query = $query.offset(i64::from(offset));
        }
    }};
}
pub(crate) use book_conditions;

/// Orders the boxed query in `$query` by the order of the [`BookFilter`] `$filter`
/// (ties by id, so the order is total); [`BookOrder::Relevance`] is by id here, where
/// nothing is ranked.
macro_rules! book_order {
    ($query:ident, $filter:expr) => {{
        use $crate::query::{BookOrder, Direction};
        use $crate::schema::books;
        let filter: &$crate::query::BookFilter = $filter;
        $query = match (filter.order, filter.direction) {
            (BookOrder::Id | BookOrder::Relevance, Direction::Ascending) => {
                $query.order(books::id.asc())
            }
            (BookOrder::Id | BookOrder::Relevance, Direction::Descending) => {
                $query.order(books::id.desc())
            }
            (BookOrder::Title, Direction::Ascending) => {
                $query.order((books::title.asc(), books::id.asc()))
            }
            (BookOrder::Title, Direction::Descending) => {
                $query.order((books::title.desc(), books::id.desc()))
            }
            // `IS NULL` first puts books without a year last on every backend (SQLite and
            // PostgreSQL disagree on where NULLs sort by default).
            (BookOrder::PublishedYear, Direction::Ascending) => $query.order((
                books::published_year.is_null(),
                books::published_year.asc(),
                books::id.asc(),
            )),
            (BookOrder::PublishedYear, Direction::Descending) => $query.order((
                books::published_year.is_null(),
                books::published_year.desc(),
                books::id.desc(),
            )),
            (BookOrder::UpdatedAt, Direction::Ascending) => {
                $query.order((books::updated_at.asc(), books::id.asc()))
            }
            (BookOrder::UpdatedAt, Direction::Descending) => {
                $query.order((books::updated_at.desc(), books::id.desc()))
            }
        };
    }};
}
pub(crate) use book_order;

/// The full-text search of a backend's connection: each backend builds it on its own
/// full-text index (in its `search` module).
pub(crate) trait RankedSearch {
    /// The books a full-text search finds with the rest of `criteria`, ranked best
    /// first (bm25 on SQLite, `ts_rank` on PostgreSQL; ties by id) unless the filter
    /// orders them otherwise: one query on the backend's full-text index.
    fn ranked_books(
        &mut self,
        criteria: &Criteria<'_>,
        search: &Search,
    ) -> crate::error::Result<Vec<Book>>;
}

/// The books a [`BookFilter`] without a full-text search selects, as one query on the
/// diesel backend `DB`.
pub(crate) type FilteredBooks<DB> = books::BoxedQuery<'static, DB, dsl::AsSelect<Book, DB>>;

/// The query of [`Criteria`] without a full-text search, for the connection type `C`:
/// written once, in `filter_query!`, and compiled for each backend (only the title
/// match differs, [`Backend::title_like`]).
pub(crate) trait FilterQuery<C: Backend> {
    /// The query.
    fn query(&self) -> FilteredBooks<C::Backend>;
}

macro_rules! filter_query {
    ($conn:ty) => {
        impl FilterQuery<$conn> for Criteria<'_> {
            fn query(&self) -> FilteredBooks<<$conn as Connection>::Backend> {
                let mut query = books::table.select(Book::as_select()).into_boxed();
                book_conditions!(query, self, <$conn as Backend>::title_like);
                book_order!(query, self.filter);
                query
            }
        }
    };
}
crate::backend::for_each_backend!(filter_query);

/// Escapes `text` for a `LIKE ... ESCAPE '\'` pattern and wraps it in `%`, so that it
/// matches as a literal substring.
pub(crate) fn contains_pattern(text: &str) -> String {
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
    use crate::query::{BookOrder, Direction};

    const BOOK_COLUMNS: &str = "`books`.`id`, `books`.`title`, `books`.`author_id`, \
                                `books`.`isbn`, `books`.`published_year`, `books`.`version`, \
                                `books`.`created_at`, `books`.`updated_at`";

    fn sqlite_sql(filter: &BookFilter) -> Option<String> {
        let criteria = Criteria::check::<SqliteConnection>(filter)?;
        let query = FilterQuery::<SqliteConnection>::query(&criteria);
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
        let sql = Criteria::check::<PgConnection>(&filter)
            .map(|criteria| {
                let query = FilterQuery::<PgConnection>::query(&criteria);
                diesel::debug_query::<Pg, _>(&query).to_string()
            })
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

    #[test]
    fn updated_since_is_served_by_its_index_in_its_order() -> Result<(), Box<dyn std::error::Error>>
    {
        let repo = crate::Repository::in_memory()?;
        let filter = BookFilter::new()
            .updated_since(chrono::DateTime::UNIX_EPOCH)
            .order_by(BookOrder::UpdatedAt, Direction::Ascending)
            .limit(100);
        let criteria = Criteria::check::<SqliteConnection>(&filter).ok_or("no criteria")?;
        let plan = repo.with_connection(|conn| match conn {
            crate::RawConnection::Sqlite(conn) => crate::sql::tests::sqlite_plan(
                conn,
                FilterQuery::<SqliteConnection>::query(&criteria),
            ),
            #[allow(unreachable_patterns)]
            _ => Ok(Vec::new()),
        })?;
        assert_eq!(
            plan,
            ["SEARCH books USING INDEX books_updated_at_idx (updated_at>?)"],
            "no scan, no sort"
        );
        Ok(())
    }
}
