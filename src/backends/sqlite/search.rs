//! Full-text search on SQLite: migration 3's FTS5 index of titles, `books_fts`, an
//! external-content table over `books` that triggers keep in step with it.

use diesel::dsl;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel::sqlite::Sqlite;

use crate::models::Book;
use crate::query::filtered::{book_conditions, book_order, Criteria, RankedSearch};
use crate::query::search::Search;
use crate::query::BookOrder;
use crate::query::Direction;
use crate::schema::books;

diesel::table! {
    /// The FTS5 table: a row's `rowid` is its book's id, and `rank` its bm25 score for
    /// the query at hand (smaller is better).
    books_fts (rowid) {
        rowid -> BigInt,
        rank -> Double,
    }
}

diesel::allow_tables_to_appear_in_same_query!(books, books_fts);

/// The ranked search query on SQLite.
pub(crate) type RankedBooks = dsl::IntoBoxed<
    'static,
    dsl::Select<
        dsl::InnerJoinOn<books::table, books_fts::table, dsl::Eq<books_fts::rowid, books::id>>,
        dsl::AsSelect<Book, Sqlite>,
    >,
    Sqlite,
>;

/// The books whose titles hold every word of `search`, with the rest of `criteria`:
/// the FTS5 index finds them (`books_fts MATCH`), joined to `books` by id, best first
/// by FTS5's `rank` (bm25).
pub(crate) fn ranked(criteria: &Criteria<'_>, search: &Search) -> RankedBooks {
    let mut query = books::table
        .inner_join(books_fts::table.on(books_fts::rowid.eq(books::id)))
        .select(Book::as_select())
        .into_boxed()
        .filter(crate::sql::bound_text::<Bool>(
            "(`books_fts` MATCH ",
            search.fts5(),
            ")",
        ));
    book_conditions!(query, criteria, |pattern: String| books::title
        .like(pattern)
        .escape('\\'));
    match (criteria.filter.order, criteria.filter.direction) {
        (BookOrder::Relevance, Direction::Ascending) => {
            query.order((books_fts::rank.asc(), books::id.asc()))
        }
        (BookOrder::Relevance, Direction::Descending) => {
            query.order((books_fts::rank.desc(), books::id.desc()))
        }
        _ => {
            book_order!(query, criteria.filter);
            query
        }
    }
}

impl RankedSearch for diesel::SqliteConnection {
    fn ranked_books(
        &mut self,
        criteria: &Criteria<'_>,
        search: &Search,
    ) -> crate::error::Result<Vec<Book>> {
        Ok(ranked(criteria, search).load(self)?)
    }
}

#[cfg(test)]
mod tests {
    use diesel::SqliteConnection;

    use super::*;
    use crate::models::AuthorId;
    use crate::query::BookFilter;

    fn sql(filter: &BookFilter) -> Option<String> {
        let criteria = Criteria::check::<SqliteConnection>(filter)?;
        let search = criteria.search.as_ref()?;
        Some(diesel::debug_query::<Sqlite, _>(&ranked(&criteria, search)).to_string())
    }

    #[test]
    fn a_search_is_one_match_on_the_index_joined_by_id_best_first() {
        let filter = BookFilter::new()
            .matching("école \"des\" femmes*")
            .author(AuthorId(7))
            .limit(10);
        let sql = sql(&filter).unwrap_or_default();
        assert!(
            sql.contains(
                "FROM (`books` INNER JOIN `books_fts` ON (`books_fts`.`rowid` = `books`.`id`)) \
                 WHERE ((`books_fts` MATCH ?) AND (`books`.`author_id` = ?)) \
                 ORDER BY `books_fts`.`rank` ASC, `books`.`id` ASC LIMIT ? \
                 -- binds: [\"\\\"école\\\" \\\"\\\"\\\"des\\\"\\\"\\\" \\\"femmes*\\\"\", AuthorId(7), 10]"
            ),
            "{sql}"
        );
    }

    #[test]
    fn the_plan_searches_the_full_text_index_and_reads_books_by_id(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let repo = crate::Repository::in_memory()?;
        let filter = BookFilter::new().matching("ecole femmes").year_from(1600);
        let criteria = Criteria::check::<SqliteConnection>(&filter).ok_or("no criteria")?;
        let search = criteria.search.clone().ok_or("no search")?;
        let plan = repo.with_connection(|conn| match conn {
            crate::RawConnection::Sqlite(conn) => {
                crate::sql::tests::sqlite_plan(conn, ranked(&criteria, &search))
            }
            #[allow(unreachable_patterns)]
            _ => Ok(Vec::new()),
        })?;
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SCAN books_fts VIRTUAL TABLE INDEX")),
            "{plan:?}"
        );
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH books USING INTEGER PRIMARY KEY")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN books ")),
            "{plan:?}"
        );
        Ok(())
    }

    #[test]
    fn a_search_is_prepared_once_for_any_words() -> Result<(), Box<dyn std::error::Error>> {
        use crate::backend::Backend;
        use diesel_migrations::MigrationHarness;
        let mut conn = SqliteConnection::establish(":memory:")?;
        conn.run_pending_migrations(<SqliteConnection as Backend>::MIGRATIONS)
            .map_err(|error| error.to_string())?;
        let cached = crate::sql::tests::CacheCount::default();
        let count = std::sync::Arc::clone(&cached.0);
        conn.set_instrumentation(cached);
        for words in ["dune", "ecole femmes", "x y"] {
            let filter = BookFilter::new().matching(words).limit(10);
            let criteria = Criteria::check::<SqliteConnection>(&filter).ok_or("no criteria")?;
            let search = criteria.search.clone().ok_or("no search")?;
            conn.ranked_books(&criteria, &search)?;
        }
        assert_eq!(count.load(std::sync::atomic::Ordering::Relaxed), 1);
        Ok(())
    }

    #[test]
    fn another_order_replaces_the_rank() {
        let filter = BookFilter::new()
            .matching("dune")
            .order_by(BookOrder::Title, Direction::Descending);
        let sql = sql(&filter).unwrap_or_default();
        assert!(
            sql.contains("ORDER BY `books`.`title` DESC, `books`.`id` DESC"),
            "{sql}"
        );
    }
}
