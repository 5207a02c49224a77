//! The bulk inserts on PostgreSQL: one statement that takes the ids from the table's
//! identity sequence, inserts the rows and returns their ids in input order.

use diesel::pg::{Pg, PgConnection};
use diesel::query_builder::{AstPass, Query, QueryFragment};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use super::array::Column;
use crate::backend::Inserted;
use crate::error::{Entity, Error, Result};
use crate::models::{AuthorId, AuthorRow, BookRow, DbTime};
use crate::sql;

/// The authors' insert: `$1` the names.
///
/// How it stays sound:
/// - `input` gives each row its id. It is a materialized CTE (one holding a volatile
///   function is never inlined), so `nextval` runs once per row, and the insert and the
///   final `SELECT` read the same ids; `ORDER BY t.ord` makes the select list (and so
///   `nextval`) run in input order, so the ids increase with it. The sequence is looked
///   up once (`sequence`): in the select list, `pg_get_serial_sequence` would run again
///   for every row.
/// - The insert is a data-modifying CTE: it runs once, to completion, whether or not the
///   outer query reads it, and a failed row fails the whole statement.
/// - The ids come back as one array in `ord` order, not as `RETURNING` rows, whose order
///   PostgreSQL does not promise (and one array decodes faster than 2,000 rows).
/// - Every `statement_timestamp()` of one statement is the same time.
const INSERT_AUTHORS: &str = "\
WITH sequence AS MATERIALIZED (\
SELECT pg_get_serial_sequence('authors', 'id')::regclass AS name), \
input AS MATERIALIZED (\
SELECT nextval(sequence.name) AS id, t.name, t.ord \
FROM sequence, unnest($1::text[]) WITH ORDINALITY AS t (name, ord) \
ORDER BY t.ord), \
inserted AS (\
INSERT INTO authors (id, name, created_at, updated_at) \
SELECT id, name, statement_timestamp() AT TIME ZONE 'UTC', \
statement_timestamp() AT TIME ZONE 'UTC' FROM input) \
SELECT ARRAY(SELECT id FROM input ORDER BY ord) AS ids, \
statement_timestamp() AT TIME ZONE 'UTC' AS now";

/// The books' insert, built as [`INSERT_AUTHORS`] is: `$1` the author ids, `$2` the
/// titles, `$3` the ISBNs, `$4` the years. `unnest` of several arrays walks them side by
/// side and pads the shorter ones with NULL, so the ISBNs and years are bound without
/// their trailing NULLs ([`Column::without_trailing_nulls`]); the ids and titles, one
/// for every row, set the row count.
const INSERT_BOOKS: &str = "\
WITH sequence AS MATERIALIZED (\
SELECT pg_get_serial_sequence('books', 'id')::regclass AS name), \
input AS MATERIALIZED (\
SELECT nextval(sequence.name) AS id, t.author_id, t.title, t.isbn, t.published_year, t.ord \
FROM sequence, unnest($1::bigint[], $2::text[], $3::text[], $4::integer[]) \
WITH ORDINALITY AS t (author_id, title, isbn, published_year, ord) \
ORDER BY t.ord), \
inserted AS (\
INSERT INTO books (id, title, author_id, isbn, published_year, created_at, updated_at) \
SELECT id, title, author_id, isbn, published_year, statement_timestamp() AT TIME ZONE 'UTC', \
statement_timestamp() AT TIME ZONE 'UTC' FROM input) \
SELECT ARRAY(SELECT id FROM input ORDER BY ord) AS ids, \
statement_timestamp() AT TIME ZONE 'UTC' AS now";

/// One bulk insert: a fixed statement with each column bound as one array.
///
/// One round trip whatever the row count, and no bind limit. A `sql_query` would be
/// parsed by the server on every call (diesel never caches one); run under a static
/// query id per statement ([`sql::cached`]), each is prepared once per connection.
pub(crate) struct BulkInsert<'a> {
    columns: Columns<'a>,
}

/// The arrays a [`BulkInsert`] binds, one per column.
enum Columns<'a> {
    Authors {
        names: Column<&'a str>,
    },
    Books {
        author_ids: Column<AuthorId>,
        titles: Column<&'a str>,
        isbns: Column<Option<&'a str>>,
        years: Column<Option<i32>>,
    },
}

/// The statement cache's key of a [`BulkInsert`]: one per table, since the table decides
/// the SQL.
struct BulkInsertAuthors;
/// See [`BulkInsertAuthors`].
struct BulkInsertBooks;

impl<'a> BulkInsert<'a> {
    pub(crate) fn authors(rows: &'a [AuthorRow]) -> Self {
        Self {
            columns: Columns::Authors {
                names: Column::new(rows.iter().map(|row| row.name.as_str()).collect()),
            },
        }
    }

    pub(crate) fn books(rows: &'a [BookRow]) -> Self {
        Self {
            columns: Columns::Books {
                author_ids: Column::new(rows.iter().map(|row| row.author_id).collect()),
                titles: Column::new(rows.iter().map(|row| row.title.as_str()).collect()),
                isbns: Column::without_trailing_nulls(
                    rows.iter().map(|row| row.isbn.as_deref()).collect(),
                ),
                years: Column::without_trailing_nulls(
                    rows.iter().map(|row| row.published_year).collect(),
                ),
            },
        }
    }

    fn rows(&self) -> usize {
        match &self.columns {
            Columns::Authors { names } => names.len(),
            Columns::Books { titles, .. } => titles.len(),
        }
    }

    /// Runs the insert: the new rows' ids in input order, and their time.
    pub(crate) fn run(self, conn: &mut PgConnection) -> Result<Inserted> {
        let rows = self.rows();
        let (entity, (ids, now)): (Entity, (Vec<i64>, DbTime)) = match self.columns {
            Columns::Authors { .. } => (
                Entity::Author,
                sql::cached::<BulkInsertAuthors, _>(self).get_result(conn)?,
            ),
            Columns::Books { .. } => (
                Entity::Book,
                sql::cached::<BulkInsertBooks, _>(self).get_result(conn)?,
            ),
        };
        if ids.len() != rows {
            // Not reachable while the statement is as written: one id per input row.
            return Err(Error::NotWritten(entity));
        }
        Ok(Inserted { ids, now })
    }
}

impl Query for BulkInsert<'_> {
    type SqlType = (Array<BigInt>, Timestamp);
}

impl QueryFragment<Pg> for BulkInsert<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match &self.columns {
            Columns::Authors { names } => {
                out.push_sql(INSERT_AUTHORS);
                out.push_bind_param::<Array<Text>, _>(names)?;
            }
            Columns::Books {
                author_ids,
                titles,
                isbns,
                years,
            } => {
                out.push_sql(INSERT_BOOKS);
                out.push_bind_param::<Array<BigInt>, _>(author_ids)?;
                out.push_bind_param::<Array<Text>, _>(titles)?;
                out.push_bind_param::<Array<Nullable<Text>>, _>(isbns)?;
                out.push_bind_param::<Array<Nullable<Integer>>, _>(years)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_bulk_insert_is_one_statement_binding_one_array_a_column() {
        let rows: Vec<AuthorRow> = (0..1000)
            .map(|_| AuthorRow {
                name: "Ann".to_owned(),
            })
            .collect();
        let insert = BulkInsert::authors(&rows);
        let sql = diesel::debug_query::<Pg, _>(&insert).to_string();
        assert!(sql.starts_with(INSERT_AUTHORS), "{sql}");
        assert!(sql.contains("-- binds: [[\"Ann\", \"Ann\""), "{sql}");
        let books = vec![
            BookRow {
                author_id: AuthorId(1),
                title: "T".to_owned(),
                isbn: None,
                published_year: Some(2001),
            };
            3
        ];
        let insert = BulkInsert::books(&books);
        let sql = diesel::debug_query::<Pg, _>(&insert).to_string();
        assert!(sql.starts_with(INSERT_BOOKS), "{sql}");
        // No ISBN in any row: an empty array, which `unnest` pads with NULL.
        assert!(
            sql.ends_with(
                "-- binds: [[AuthorId(1), AuthorId(1), AuthorId(1)], [\"T\", \"T\", \"T\"], \
                 [], [Some(2001), Some(2001), Some(2001)]]"
            ),
            "{sql}"
        );
        let mut mixed = books;
        mixed[0].isbn = Some("9780441013593".to_owned());
        mixed[1].published_year = None;
        mixed[2].published_year = None;
        let sql = diesel::debug_query::<Pg, _>(&BulkInsert::books(&mixed)).to_string();
        assert!(
            sql.ends_with("[Some(\"9780441013593\")], [Some(2001)]]"),
            "{sql}"
        );
    }
}
