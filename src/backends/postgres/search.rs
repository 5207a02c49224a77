//! Full-text search on PostgreSQL: migration 3's generated column `books.title_search`
//! (`to_tsvector('bookshelf_search', title)`, a configuration of the `simple` parser with
//! `unaccent`) and its GIN index.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Float};

use crate::sql::bound_text;

use crate::backend::Backend;
use crate::models::Book;
use crate::query::filtered::{book_conditions, book_order, Criteria, FilteredBooks, RankedSearch};
use crate::query::search::Search;
use crate::query::{BookOrder, Direction};
use crate::schema::books;

/// The search condition around its bound words: the indexed vector (a title's words, as
/// the search configuration reads them) against the words.
const MATCHES: (&str, &str) = (
    "(\"books\".\"title_search\" @@ plainto_tsquery('bookshelf_search', ",
    "))",
);

/// The rank around its bound words, from the stored vector.
const RANK: (&str, &str) = (
    "ts_rank(\"books\".\"title_search\", plainto_tsquery('bookshelf_search', ",
    "))",
);

/// The books whose titles hold every word of `search`, with the rest of `criteria`:
/// `@@` against `plainto_tsquery` (plain text, no operators) on the GIN index, best
/// first by `ts_rank`.
pub(crate) fn ranked(criteria: &Criteria<'_>, search: &Search) -> FilteredBooks<Pg> {
    let words = search.plain();
    let mut query = books::table
        .select(Book::as_select())
        .into_boxed()
        .filter(bound_text::<Bool>(MATCHES.0, words.clone(), MATCHES.1));
    book_conditions!(
        query,
        criteria,
        <diesel::PgConnection as Backend>::title_like
    );
    let rank = || bound_text::<Float>(RANK.0, words.clone(), RANK.1);
    match (criteria.filter.order, criteria.filter.direction) {
        // ts_rank is larger for a better match.
        (BookOrder::Relevance, Direction::Ascending) => {
            query.order((rank().desc(), books::id.asc()))
        }
        (BookOrder::Relevance, Direction::Descending) => {
            query.order((rank().asc(), books::id.desc()))
        }
        _ => {
            book_order!(query, criteria.filter);
            query
        }
    }
}

impl RankedSearch for diesel::PgConnection {
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
    use diesel::sql_types::Text;
    use diesel::PgConnection;

    use super::*;
    use crate::models::AuthorId;
    use crate::query::BookFilter;

    #[test]
    fn a_search_is_the_indexed_vector_against_plain_words_best_first() {
        let filter = BookFilter::new()
            .matching("école & !femmes")
            .author(AuthorId(7));
        let sql = Criteria::check::<PgConnection>(&filter)
            .and_then(|criteria| {
                let search = criteria.search.clone()?;
                Some(diesel::debug_query::<Pg, _>(&ranked(&criteria, &search)).to_string())
            })
            .unwrap_or_default();
        assert!(
            sql.ends_with(concat!(
                r#"FROM "books" WHERE (("books"."title_search" "#,
                r#"@@ plainto_tsquery('bookshelf_search', $1)) AND ("books"."author_id" = $2)) "#,
                r#"ORDER BY ts_rank("books"."title_search", "#,
                r#"plainto_tsquery('bookshelf_search', $3)) DESC, "books"."id" ASC "#,
                r#"-- binds: ["école !femmes", AuthorId(7), "école !femmes"]"#
            )),
            "{sql}"
        );
    }

    /// Runs `f` on a freshly migrated repository in a database of its own on the server
    /// that `BOOKSHELF_TEST_POSTGRES_URL` names (and drops the database after); without
    /// the variable, says that the test is skipped. A database, not a schema named by
    /// `options=-csearch_path=..`, so that it also runs through a pooler in transaction
    /// mode (see `tests/common`).
    fn on_server(
        test: &str,
        f: impl FnOnce(&crate::Repository) -> crate::Result<()>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        use diesel::connection::SimpleConnection;
        use std::io::Write;
        let Ok(server) = std::env::var("BOOKSHELF_TEST_POSTGRES_URL") else {
            // Straight to stderr, so that a plain `cargo test` shows it.
            writeln!(
                std::io::stderr(),
                "BOOKSHELF_TEST_POSTGRES_URL not set: {test} (PostgreSQL) is skipped"
            )?;
            return Ok(());
        };
        let database = format!("bookshelf_unit_{}_{test}", std::process::id());
        let (base, query) = match server.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (server.as_str(), String::new()),
        };
        let authority_at = base.find("://").ok_or("not a postgres:// URL")? + 3;
        let authority = base[authority_at..]
            .find('/')
            .map_or(base, |slash| &base[..authority_at + slash]);
        let url = format!("{authority}/{database}{query}");
        let libpq_server = crate::target::ServerTarget::parse(&server)?.url;
        let mut admin = PgConnection::establish(&libpq_server)?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {database} TEMPLATE template0"))?;
        let result = crate::Repository::open(&url).and_then(|repo| f(&repo));
        admin.batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))?;
        Ok(result?)
    }

    /// The plan PostgreSQL makes for `query` with sequential scans priced out, so that
    /// it shows whether an index can serve the query at all (on a table of a few rows
    /// the planner would rightly scan it).
    fn plan<Q>(repo: &crate::Repository, query: Q) -> crate::Result<String>
    where
        Q: diesel::query_builder::QueryFragment<Pg>,
    {
        use diesel::connection::SimpleConnection;
        repo.transaction(|tx| {
            tx.with_connection(|conn| match conn {
                crate::RawConnection::Postgres(conn) => {
                    conn.batch_execute("SET LOCAL enable_seqscan = off")?;
                    let explain = crate::sql::tests::Explain::<Q, Text> {
                        prefix: "EXPLAIN ",
                        query,
                        rows: std::marker::PhantomData,
                    };
                    Ok(explain.load::<String>(conn)?.join("\n"))
                }
                #[allow(unreachable_patterns)]
                _ => Ok(String::new()),
            })
        })
    }

    #[test]
    fn the_plans_use_the_search_and_updated_at_indexes() -> Result<(), Box<dyn std::error::Error>> {
        on_server("search_plan", |repo| {
            let filter = BookFilter::new().matching("ecole femmes").year_from(1600);
            let criteria =
                Criteria::check::<PgConnection>(&filter).ok_or(crate::Error::TransactionAborted)?;
            let search = criteria
                .search
                .clone()
                .ok_or(crate::Error::TransactionAborted)?;
            let searched = plan(repo, ranked(&criteria, &search))?;
            assert!(
                searched.contains("Bitmap Index Scan on books_title_search_idx"),
                "{searched}"
            );

            let since = BookFilter::new()
                .updated_since(chrono::DateTime::UNIX_EPOCH)
                .order_by(BookOrder::UpdatedAt, Direction::Ascending);
            let criteria =
                Criteria::check::<PgConnection>(&since).ok_or(crate::Error::TransactionAborted)?;
            let query = crate::query::filtered::FilterQuery::<PgConnection>::query(&criteria);
            let synced = plan(repo, query)?;
            assert!(
                synced.contains("Index Scan on books_updated_at_idx")
                    || synced.contains("Index Scan using books_updated_at_idx"),
                "{synced}"
            );
            Ok(())
        })
    }
}
