//! Query builder pieces diesel lacks, each closing a measured performance gap.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

use crate::Page;

/// `query LIMIT n`, with `n` written into the SQL text instead of bound.
///
/// SQLite 3.50 and later re-plan a statement whose `LIMIT` is a bound parameter each
/// time it runs, and diesel always binds it, so every keyset page paid for a fresh
/// prepare. Written as a literal, the limit is part of the SQL, and diesel's statement
/// cache (keyed by the SQL for this node) keeps one prepared statement per page size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LimitLiteral<Q> {
    query: Q,
    limit: Option<u32>,
}

/// `query` limited to `page.limit` rows (no `LIMIT` at all for an unlimited page).
pub(crate) fn limit<Q>(query: Q, page: Page) -> LimitLiteral<Q> {
    LimitLiteral {
        query,
        limit: page.limit,
    }
}

impl<Q: Query> Query for LimitLiteral<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> QueryId for LimitLiteral<Q> {
    type QueryId = ();
    // The SQL depends on the limit's value, so statements are cached by their SQL.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, DB> QueryFragment<DB> for LimitLiteral<Q>
where
    Q: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        if let Some(limit) = self.limit {
            out.push_sql(" LIMIT ");
            out.push_sql(&limit.to_string());
        }
        Ok(())
    }
}

impl<Q, Conn> RunQueryDsl<Conn> for LimitLiteral<Q> {}

/// A statement whose SQL never varies, identified by the marker type `Id`, so that
/// diesel caches its prepared statement.
///
/// diesel never caches an `UPDATE`, because a changeset with optional fields changes its
/// SQL from call to call; each rename paid for a fresh prepare of the statement, with
/// every CHECK and index it touches. An `UPDATE` that always sets the same columns has
/// one SQL text and is safe to cache. Use a distinct `Id` for each such statement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedSql<Q, Id> {
    query: Q,
    id: PhantomData<fn() -> Id>,
}

/// Marks `query` as a statement of fixed SQL, cached under `Id`.
pub(crate) fn fixed<Id, Q>(query: Q) -> FixedSql<Q, Id> {
    FixedSql {
        query,
        id: PhantomData,
    }
}

impl<Q: Query, Id> Query for FixedSql<Q, Id> {
    type SqlType = Q::SqlType;
}

impl<Q, Id: 'static> QueryId for FixedSql<Q, Id> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q, Id, DB> QueryFragment<DB> for FixedSql<Q, Id>
where
    Q: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, Id, Conn> RunQueryDsl<Conn> for FixedSql<Q, Id> {}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    use super::*;
    use crate::schema::books;

    #[test]
    fn the_limit_is_literal_and_the_rest_is_bound() {
        let query = limit(
            books::table.filter(books::id.gt(7_i64)).order(books::id),
            Page::after(7, 100),
        );
        let sql = diesel::debug_query::<Sqlite, _>(&query).to_string();
        assert!(
            sql.ends_with("ORDER BY `books`.`id` LIMIT 100 -- binds: [7]"),
            "{sql}"
        );
        let unlimited = limit(books::table.order(books::id), Page::all());
        let sql = diesel::debug_query::<Sqlite, _>(&unlimited).to_string();
        assert!(!sql.contains("LIMIT"), "{sql}");
    }
}
