//! PostgreSQL, the road past one machine (the `postgres` feature): its connection
//! set-up and pool ([`pool`]), its read replicas ([`cluster`], [`replicas`]), its
//! migrations, and how it differs ([`Backend`]).

mod cluster;
mod health;
mod pool;
mod replicas;
mod search;
mod session;
mod settings;

use std::borrow::Cow;

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

pub(crate) use self::cluster::{open, PgCluster};
use crate::backend::{Access, Backend, BooksPredicate, IdTable, Reserved};
use crate::error::Result;
use crate::models::{AuthorId, AuthorRow, BookRow, DbTime};
use crate::raw::RawConnection;
use crate::schema::{authors, books};

impl Backend for PgConnection {
    const NAME: &'static str = "postgres";
    const DB_SYSTEM: &'static str = "postgresql";
    /// The same versions as SQLite's, in PostgreSQL's SQL.
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
    /// The statement's time, as SQLite's clock is: in UTC, to the microsecond.
    const CLOCK_SQL: &'static str = "(statement_timestamp() AT TIME ZONE 'UTC')";
    const TIME_RESOLUTION_MICROS: i64 = 1;
    // The default mode reads the whole result into memory first.
    type RowByRow = diesel::pg::PgRowByRowLoadingMode;

    const CONSTRAINT_ERRORS_ABORT: bool = true;

    fn raw(&mut self) -> RawConnection<'_> {
        RawConnection::Postgres(self)
    }

    fn begin_sql(&mut self, access: Access) -> Cow<'static, str> {
        session::begin_sql(self, access)
    }

    fn operations_need_a_transaction(&mut self) -> bool {
        session::settings_need_a_transaction(self)
    }

    /// A transaction that met an error refuses every statement until it is rolled back
    /// (and so does a lost connection): one round trip tells.
    fn transaction_survived(&mut self) -> bool {
        self.batch_execute("SELECT 1").is_ok()
    }

    fn title_like(pattern: String) -> BooksPredicate<Self> {
        use diesel::PgTextExpressionMethods;
        // The column's "C" collation makes ILIKE fold ASCII case only, like SQLite.
        Box::new(books::title.ilike(pattern).escape('\\'))
    }

    /// Ids from the column's identity sequence: concurrent transactions never get the
    /// same one, and rows inserted later without an id do not collide with them. The
    /// clock is read in the same statement.
    fn reserve_ids(&mut self, table: IdTable, count: usize) -> Result<Reserved> {
        let count = i64::try_from(count).map_err(|_| table.exhausted())?;
        // The sequence is looked up once (a materialized CTE): in the select list,
        // `pg_get_serial_sequence` would run again for every id, a third of the time
        // of a 2,000-author bulk insert.
        let ReservedIds { mut ids, now } = diesel::sql_query(
            "WITH sequence AS MATERIALIZED \
             (SELECT pg_get_serial_sequence($1, 'id')::regclass AS name) \
             SELECT ARRAY(SELECT nextval(sequence.name) FROM sequence, generate_series(1, $2)) \
             AS ids, statement_timestamp() AT TIME ZONE 'UTC' AS now",
        )
        .bind::<diesel::sql_types::Text, _>(table.name())
        .bind::<BigInt, _>(count)
        .get_result::<ReservedIds>(self)?;
        // Each `nextval` is larger than the one before in this session, but the rows'
        // order is the executor's: sort, so that rows get ids in input order.
        ids.sort_unstable();
        Ok(Reserved { ids, now })
    }

    /// One statement whatever the row count: each column goes over as one array, and
    /// `unnest` turns the arrays back into rows (`INSERT .. SELECT unnest($1), ..`). Five
    /// bound values instead of five a row: no bind limit, no chunks, one prepared
    /// statement.
    fn insert_authors(&mut self, reserved: &Reserved, rows: &[AuthorRow]) -> Result<()> {
        let names: Vec<&str> = rows.iter().map(|author| author.name.as_str()).collect();
        diesel::insert_into(authors::table)
            .values(diesel::select((
                pg::unnest::<BigInt, _>(&reserved.ids),
                pg::unnest::<Text, _>(names),
                reserved.now.into_sql::<Timestamp>(),
                reserved.now.into_sql::<Timestamp>(),
            )))
            .into_columns((
                authors::id,
                authors::name,
                authors::created_at,
                authors::updated_at,
            ))
            .execute(self)?;
        Ok(())
    }

    fn insert_books(&mut self, reserved: &Reserved, rows: &[BookRow]) -> Result<()> {
        let titles: Vec<&str> = rows.iter().map(|book| book.title.as_str()).collect();
        let author_ids: Vec<AuthorId> = rows.iter().map(|book| book.author_id).collect();
        let isbns: Vec<Option<&str>> = rows.iter().map(|book| book.isbn.as_deref()).collect();
        let years: Vec<Option<i32>> = rows.iter().map(|book| book.published_year).collect();
        diesel::insert_into(books::table)
            .values(diesel::select((
                pg::unnest::<BigInt, _>(&reserved.ids),
                pg::unnest::<Text, _>(titles),
                pg::unnest::<BigInt, _>(author_ids),
                pg::unnest::<Nullable<Text>, _>(isbns),
                pg::unnest::<Nullable<Integer>, _>(years),
                reserved.now.into_sql::<Timestamp>(),
                reserved.now.into_sql::<Timestamp>(),
            )))
            .into_columns((
                books::id,
                books::title,
                books::author_id,
                books::isbn,
                books::published_year,
                books::created_at,
                books::updated_at,
            ))
            .execute(self)?;
        Ok(())
    }

    fn with_fresh_ids<T>(
        &mut self,
        table: IdTable,
        f: impl Fn(&mut Self) -> Result<T>,
    ) -> Result<T> {
        match f(self) {
            Err(error) if error.is_id_conflict() => {
                tracing::info!(
                    target: "bookshelf",
                    table = table.name(),
                    "an id from the identity sequence was taken; moving the sequence past the ids in use"
                );
                // Past the largest id and the sequence's own last value, so that it never
                // moves back behind ids a concurrent transaction took and has not
                // committed yet.
                diesel::sql_query(format!(
                    "SELECT setval(sequence.name, GREATEST((SELECT max(id) FROM {table}), \
                     pg_sequence_last_value(sequence.name), 0) + 1, false) \
                     FROM (SELECT pg_get_serial_sequence('{table}', 'id')::regclass AS name) \
                     AS sequence",
                    table = table.name()
                ))
                .execute(self)?;
                f(self)
            }
            other => other,
        }
    }

    fn has_table(&mut self, name: &str) -> Result<bool> {
        // Looked up along the search path, where diesel creates its tables too, and read
        // from `pg_class` by a query, so in the transaction's snapshot. (`to_regclass`
        // reads the live catalog: inside a snapshot taken before another session's
        // migrations committed it would see their tables but not their rows in
        // `__diesel_schema_migrations`, and take the tables for another application's.)
        Ok(diesel::select(
            sql::<Bool>(
                "EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = ANY (current_schemas(false)) AND c.relname = ",
            )
            .bind::<diesel::sql_types::Text, _>(name)
            .sql(")"),
        )
        .get_result(self)?)
    }

    fn lock_migrations(&mut self) -> Result<()> {
        // Serializes migrating sessions (two servers starting at once, say) until the
        // transaction ends; the key is an arbitrary constant of this crate.
        diesel::select(sql::<diesel::sql_types::Untyped>(
            "pg_advisory_xact_lock(7373620537437601)",
        ))
        .execute(self)?;
        Ok(())
    }
}

/// The row of [`Backend::reserve_ids`]'s query on PostgreSQL.
#[derive(diesel::QueryableByName)]
struct ReservedIds {
    #[diesel(sql_type = Array<BigInt>)]
    ids: Vec<i64>,
    #[diesel(sql_type = Timestamp)]
    now: DbTime,
}

/// PostgreSQL's `timestamp`, to the microsecond (finer digits are cut off).
impl diesel::serialize::ToSql<Timestamp, diesel::pg::Pg> for DbTime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        diesel::serialize::ToSql::<Timestamp, diesel::pg::Pg>::to_sql(&self.0, out)
    }
}

mod pg {
    diesel::define_sql_function! {
        /// PostgreSQL's `unnest`: the elements of an array, one row each. Several in one
        /// select list advance together, row by row.
        fn unnest<T: diesel::sql_types::SingleValue>(array: diesel::sql_types::Array<T>) -> T;
    }
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{BigInt, Text};

    use super::pg::unnest;
    use crate::schema::authors;

    #[test]
    fn a_postgres_bulk_insert_binds_one_array_a_column() {
        let names = vec!["Ann"; 1000];
        let insert = diesel::insert_into(authors::table)
            .values(diesel::select((
                unnest::<BigInt, _>((1..=1000_i64).collect::<Vec<_>>()),
                unnest::<Text, _>(names),
            )))
            .into_columns((authors::id, authors::name));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&insert).to_string();
        assert!(
            sql.starts_with(
                r#"INSERT INTO "authors" ("id", "name") SELECT unnest($1), unnest($2) -- binds: "#
            ),
            "{sql}"
        );
    }
}
