//! Values the server computes, written as fixed SQL: `LAST_INSERT_ID()` and the
//! auto-increment settings a bulk insert reads.
//!
//! diesel's `sql()` literal would do, but it marks every statement holding it as unsafe
//! to cache, so the read of a single insert's row (and both reads of a bulk insert) was
//! prepared anew on every call: on MySQL a round trip to prepare, one to execute, and a
//! packet to close the statement, where a cached statement takes the one round trip to
//! execute it. A fixed text is safe to cache.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::QueryResult;

/// An SQL expression whose text never changes: `SQL`, of diesel's type `SqlType`.
/// Each implementor is one text; it is also the statement cache's key for it.
pub(crate) trait FixedSql: 'static {
    /// diesel's SQL type of the expression.
    type SqlType: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType;
    /// The expression.
    const SQL: &'static str;
}

/// The id `LAST_INSERT_ID()` gives: the first of the connection's latest insert.
/// (Unsigned on the server; every id of this crate's tables fits a signed one.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct LastInsertId;

impl FixedSql for LastInsertId {
    type SqlType = BigInt;
    const SQL: &'static str = "CAST(LAST_INSERT_ID() AS SIGNED)";
}

/// The server's `innodb_autoinc_lock_mode` (see [`super::insert`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AutoincLockMode;

impl FixedSql for AutoincLockMode {
    type SqlType = BigInt;
    const SQL: &'static str = "CAST(@@innodb_autoinc_lock_mode AS SIGNED)";
}

/// The session's `auto_increment_increment`: the step between two ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AutoIncrementStep;

impl FixedSql for AutoIncrementStep {
    type SqlType = BigInt;
    const SQL: &'static str = "CAST(@@auto_increment_increment AS SIGNED)";
}

/// The expression `F::SQL`, as a query node diesel may cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed<F>(PhantomData<fn() -> F>);

/// The fixed expression `F`.
pub(crate) const fn fixed<F: FixedSql>() -> Fixed<F> {
    Fixed(PhantomData)
}

impl<F: FixedSql> diesel::Expression for Fixed<F> {
    type SqlType = F::SqlType;
}

impl<F: FixedSql, DB: Backend> QueryFragment<DB> for Fixed<F> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(F::SQL);
        Ok(())
    }
}

impl<F: FixedSql> QueryId for Fixed<F> {
    type QueryId = F;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<F: FixedSql, QS> diesel::AppearsOnTable<QS> for Fixed<F> {}

impl<F: FixedSql, QS> diesel::SelectableExpression<QS> for Fixed<F> {}

impl<F: FixedSql, GB> diesel::expression::ValidGrouping<GB> for Fixed<F> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

#[cfg(test)]
mod tests {
    use diesel::dsl::sql;
    use diesel::mysql::Mysql;
    use diesel::prelude::*;

    use super::*;
    use crate::models::Author;
    use crate::schema::authors;

    #[test]
    fn a_read_by_the_last_insert_id_is_cacheable_and_the_sql_diesels_literal_writes() {
        let ours = authors::table
            .filter(authors::id.eq(fixed::<LastInsertId>()))
            .select(Author::as_select());
        let literal = authors::table
            .filter(authors::id.eq(sql::<BigInt>(LastInsertId::SQL)))
            .select(Author::as_select());
        assert_eq!(
            diesel::debug_query::<Mysql, _>(&ours).to_string(),
            diesel::debug_query::<Mysql, _>(&literal).to_string()
        );
        assert_eq!(
            QueryFragment::<Mysql>::is_safe_to_cache_prepared(&ours, &Mysql),
            Ok(true)
        );
        assert_eq!(
            QueryFragment::<Mysql>::is_safe_to_cache_prepared(&literal, &Mysql),
            Ok(false)
        );
        fn id_of<Q: QueryId>(_: &Q) -> Option<std::any::TypeId> {
            Q::query_id()
        }
        assert!(id_of(&ours).is_some());
    }
}
