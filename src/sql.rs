//! Query builder pieces diesel lacks, each closing a measured performance gap.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::query_builder::AsChangeset;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

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

/// `query` limited to `limit` rows (no `LIMIT` at all for `None`).
pub(crate) fn limit<Q>(query: Q, limit: Option<u32>) -> LimitLiteral<Q> {
    LimitLiteral { query, limit }
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

/// The database's current time, as the fixed SQL expression `sql` of diesel's
/// `Timestamp` type ([`Backend::CLOCK_SQL`](crate::backend::Backend::CLOCK_SQL)).
///
/// diesel's `sql()` literal would do, but it marks every statement holding it as
/// unsafe to cache, and a rename (a [`CachedUpdate`] that stamps `updated_at`) would be
/// prepared anew on every call. A fixed text is safe to cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DatabaseTime {
    sql: &'static str,
}

impl DatabaseTime {
    /// The time as the backend's SQL `sql` reads it.
    pub(crate) const fn new(sql: &'static str) -> Self {
        Self { sql }
    }
}

impl diesel::Expression for DatabaseTime {
    type SqlType = diesel::sql_types::Timestamp;
}

impl<DB: Backend> QueryFragment<DB> for DatabaseTime {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(self.sql);
        Ok(())
    }
}

impl QueryId for DatabaseTime {
    type QueryId = DatabaseTime;
    // One backend's connections always write the same text.
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<QS> diesel::AppearsOnTable<QS> for DatabaseTime {}

impl<QS> diesel::SelectableExpression<QS> for DatabaseTime {}

impl<GB> diesel::expression::ValidGrouping<GB> for DatabaseTime {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// `before ? after`, an SQL expression of type `ST` with one bound text: the full-text
/// conditions and ranks, whose SQL is the backend's own.
///
/// diesel's `sql()` literal with `.bind()` would do, but a statement holding it is never
/// cached, so every search was prepared anew (a search is a boxed query, which diesel
/// caches by its SQL text when every part allows it; this part does).
#[derive(Debug, Clone)]
pub(crate) struct BoundText<ST> {
    before: &'static str,
    text: String,
    after: &'static str,
    sql_type: PhantomData<fn() -> ST>,
}

/// `before ? after` with `text` bound, of SQL type `ST`.
pub(crate) fn bound_text<ST>(
    before: &'static str,
    text: String,
    after: &'static str,
) -> BoundText<ST> {
    BoundText {
        before,
        text,
        after,
        sql_type: PhantomData,
    }
}

impl<ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType> diesel::Expression
    for BoundText<ST>
{
    type SqlType = ST;
}

impl<ST, DB> QueryFragment<DB> for BoundText<ST>
where
    DB: Backend + diesel::sql_types::HasSqlType<diesel::sql_types::Text>,
    String: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(self.before);
        out.push_bind_param::<diesel::sql_types::Text, String>(&self.text)?;
        out.push_sql(self.after);
        Ok(())
    }
}

impl<ST> QueryId for BoundText<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, QS> diesel::AppearsOnTable<QS> for BoundText<ST> where Self: diesel::Expression {}

impl<ST, QS> diesel::SelectableExpression<QS> for BoundText<ST> where Self: diesel::Expression {}

impl<ST, GB> diesel::expression::ValidGrouping<GB> for BoundText<ST> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// `query` itself, given the static query id `Id`, for a query diesel gives none
/// although its SQL never changes: an `INSERT .. ON CONFLICT .. DO NOTHING RETURNING ..`
/// of one row (diesel marks every `ON CONFLICT` clause as having no static id), or a
/// query node of the crate's own with a fixed text (PostgreSQL's bulk inserts).
///
/// Without a static id, diesel writes the statement's SQL again on every call to look
/// it up in the connection's statement cache: 6,300 of the 63,000 instructions of a
/// single author insert on SQLite (callgrind). With one, the lookup is by type. Use a
/// distinct `Id` for each statement, and only for a query whose SQL is the same for
/// every value of its type (no optional fields, no variable-length lists).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cached<Q, Id> {
    query: Q,
    id: PhantomData<fn() -> Id>,
}

/// `query`, cached under the marker type `Id`.
pub(crate) fn cached<Id, Q>(query: Q) -> Cached<Q, Id> {
    Cached {
        query,
        id: PhantomData,
    }
}

impl<Q: Query, Id> Query for Cached<Q, Id> {
    type SqlType = Q::SqlType;
}

impl<Q, Id: 'static> QueryId for Cached<Q, Id> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Q, Id, DB> QueryFragment<DB> for Cached<Q, Id>
where
    Q: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out)
    }
}

impl<Q, Id, Conn> RunQueryDsl<Conn> for Cached<Q, Id> {}

/// `UPDATE table SET set WHERE filter`, cached under the marker type `Id`.
///
/// diesel never caches an `UPDATE` statement, because a changeset with optional fields
/// changes its SQL from call to call; every rename paid for a fresh prepare of the
/// statement, with every CHECK and index it touches (half the instructions of a rename,
/// measured with callgrind). An update whose changeset and filter have a fixed shape has
/// one SQL text, so this node walks the same typed pieces diesel's `UPDATE` does,
/// without marking itself uncacheable. Use a distinct `Id` for each such statement.
///
/// With [`returning`] it is a query whose rows are the updated rows' `RETURNING`
/// columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachedUpdate<Tab, Set, Filter, Id> {
    table: Tab,
    set: Set,
    filter: Filter,
    id: PhantomData<fn() -> Id>,
}

/// An update of `table` that assigns `set` where `filter` holds, cached under `Id`.
pub(crate) fn update<Id, Tab, Set, Filter>(
    table: Tab,
    set: Set,
    filter: Filter,
) -> CachedUpdate<Tab, Set::Changeset, Filter, Id>
where
    Set: AsChangeset<Target = Tab>,
{
    CachedUpdate {
        table,
        set: set.as_changeset(),
        filter,
        id: PhantomData,
    }
}

/// `statement RETURNING selection`: a write whose rows are `selection` of every row it
/// wrote ([`Backend::update_returning`](crate::backend::Backend::update_returning)).
/// Written for any diesel backend; only those with `RETURNING` run it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WithReturning<Q, Sel> {
    statement: Q,
    selection: Sel,
}

/// `statement` returning `selection` of the rows it writes.
pub(crate) fn returning<Q, Sel>(statement: Q, selection: Sel) -> WithReturning<Q, Sel> {
    WithReturning {
        statement,
        selection,
    }
}

impl<Q, Sel> Query for WithReturning<Q, Sel>
where
    Sel: diesel::Expression,
{
    type SqlType = Sel::SqlType;
}

impl<Q: QueryId, Sel: QueryId> QueryId for WithReturning<Q, Sel> {
    type QueryId = WithReturning<Q::QueryId, Sel::QueryId>;
    // Cached exactly when the statement is (a `CachedUpdate` is, diesel's `UPDATE` not).
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID && Sel::HAS_STATIC_QUERY_ID;
}

impl<Q, Sel, DB> QueryFragment<DB> for WithReturning<Q, Sel>
where
    Q: QueryFragment<DB>,
    Sel: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.statement.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING ");
        self.selection.walk_ast(out.reborrow())
    }
}

impl<Q, Sel, Conn> RunQueryDsl<Conn> for WithReturning<Q, Sel> {}

impl<Tab, Set, Filter, Id: 'static> QueryId for CachedUpdate<Tab, Set, Filter, Id> {
    type QueryId = Id;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Tab, Set, Filter, Id, DB> QueryFragment<DB> for CachedUpdate<Tab, Set, Filter, Id>
where
    Tab: QueryFragment<DB>,
    Set: QueryFragment<DB>,
    Filter: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.set.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<Tab, Set, Filter, Id, Conn> RunQueryDsl<Conn> for CachedUpdate<Tab, Set, Filter, Id> {}

#[cfg(test)]
pub(crate) mod tests {
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    use super::*;
    use crate::schema::books;

    #[test]
    fn the_limit_is_literal_and_the_rest_is_bound() {
        let query = limit(
            books::table.filter(books::id.gt(7_i64)).order(books::id),
            Some(100),
        );
        let sql = diesel::debug_query::<Sqlite, _>(&query).to_string();
        assert!(
            sql.ends_with("ORDER BY `books`.`id` LIMIT 100 -- binds: [7]"),
            "{sql}"
        );
        let unlimited = limit(books::table.order(books::id), None);
        let sql = diesel::debug_query::<Sqlite, _>(&unlimited).to_string();
        assert!(!sql.contains("LIMIT"), "{sql}");
    }

    #[test]
    fn a_cached_query_is_diesels_own_with_a_static_id() {
        use crate::schema::authors;
        struct Insert;
        let insert = || {
            diesel::insert_into(authors::table)
                .values(authors::name.eq("Ann"))
                .on_conflict(authors::id)
                .do_nothing()
                .returning(authors::id)
        };
        fn id_of<Q: QueryId>(_: &Q) -> Option<std::any::TypeId> {
            Q::query_id()
        }
        assert_eq!(id_of(&insert()), None, "diesel gives none");
        let ours = cached::<Insert, _>(insert());
        assert_eq!(id_of(&ours), Some(std::any::TypeId::of::<Insert>()));
        assert_eq!(
            diesel::debug_query::<Sqlite, _>(&ours).to_string(),
            diesel::debug_query::<Sqlite, _>(&insert()).to_string()
        );
    }

    #[test]
    fn a_cached_update_is_the_update_diesel_would_write() {
        use crate::schema::authors;
        struct Rename;
        let ours = update::<Rename, _, _, _>(
            authors::table,
            authors::name.eq("Ann"),
            authors::id.eq(7_i64),
        );
        let diesels = diesel::update(authors::table.filter(authors::id.eq(7_i64)))
            .set(authors::name.eq("Ann"));
        assert_eq!(
            diesel::debug_query::<Sqlite, _>(&ours).to_string(),
            diesel::debug_query::<Sqlite, _>(&diesels).to_string()
        );
    }

    /// `$prefix query`, such as `EXPLAIN QUERY PLAN query`, whose rows are of the SQL
    /// type `ST`: the plan a backend makes for one of the crate's queries.
    pub(crate) struct Explain<Q, ST> {
        pub(crate) prefix: &'static str,
        pub(crate) query: Q,
        pub(crate) rows: std::marker::PhantomData<ST>,
    }

    /// The plan SQLite makes for `query`: the `detail` column of each step.
    pub(crate) fn sqlite_plan<Q>(
        conn: &mut diesel::SqliteConnection,
        query: Q,
    ) -> QueryResult<Vec<String>>
    where
        Q: QueryFragment<Sqlite>,
    {
        use diesel::sql_types::{Integer, Text};
        let explain = Explain::<Q, (Integer, Integer, Integer, Text)> {
            prefix: "EXPLAIN QUERY PLAN ",
            query,
            rows: std::marker::PhantomData,
        };
        let steps: Vec<(i32, i32, i32, String)> = explain.load(conn)?;
        Ok(steps.into_iter().map(|step| step.3).collect())
    }

    impl<Q, ST> QueryId for Explain<Q, ST> {
        type QueryId = ();
        const HAS_STATIC_QUERY_ID: bool = false;
    }

    impl<Q, ST: 'static> Query for Explain<Q, ST> {
        type SqlType = ST;
    }

    impl<Q: QueryFragment<DB>, ST, DB: Backend> QueryFragment<DB> for Explain<Q, ST> {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
            out.push_sql(self.prefix);
            self.query.walk_ast(out.reborrow())
        }
    }

    impl<Q, ST, Conn> RunQueryDsl<Conn> for Explain<Q, ST> {}

    /// Counts the statements a connection puts in its prepared-statement cache.
    #[derive(Default)]
    pub(crate) struct CacheCount(pub(crate) std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl diesel::connection::Instrumentation for CacheCount {
        fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
            if let diesel::connection::InstrumentationEvent::CacheQuery { .. } = event {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn a_cached_update_is_prepared_once_where_diesels_never_is() -> QueryResult<()> {
        use crate::schema::authors;
        use diesel::connection::SimpleConnection;
        struct Rename;
        let mut conn = diesel::SqliteConnection::establish(":memory:")
            .map_err(|error| diesel::result::Error::QueryBuilderError(error.into()))?;
        conn.batch_execute("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO authors VALUES (7, 'x');")?;
        let cached = CacheCount::default();
        let count = std::sync::Arc::clone(&cached.0);
        conn.set_instrumentation(cached);
        let cache_entries = || count.load(std::sync::atomic::Ordering::Relaxed);
        for name in ["Ann", "Bo", "Cy"] {
            diesel::update(authors::table.filter(authors::id.eq(7_i64)))
                .set(authors::name.eq(name))
                .execute(&mut conn)?;
        }
        assert_eq!(cache_entries(), 0, "diesel caches no UPDATE");
        for name in ["Ann", "Bo", "Cy"] {
            update::<Rename, _, _, _>(
                authors::table,
                authors::name.eq(name),
                authors::id.eq(7_i64),
            )
            .execute(&mut conn)?;
        }
        assert_eq!(cache_entries(), 1, "prepared once, then reused");
        // Stamping the time keeps it cacheable (diesel's `sql()` literal would not).
        struct Stamped;
        conn.batch_execute("ALTER TABLE authors ADD COLUMN updated_at TEXT")?;
        for name in ["Ann", "Bo", "Cy"] {
            update::<Stamped, _, _, _>(
                authors::table,
                (
                    authors::name.eq(name),
                    authors::updated_at.eq(DatabaseTime::new("'now'")),
                ),
                authors::id.eq(7_i64),
            )
            .execute(&mut conn)?;
        }
        assert_eq!(cache_entries(), 2, "the stamped update, prepared once");
        Ok(())
    }
}
