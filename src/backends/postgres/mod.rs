//! PostgreSQL, the road past one machine (the `postgres` feature): its connection
//! set-up and pool ([`pool`]), its read replicas ([`cluster`], [`replicas`]), its
//! migrations, and how it differs ([`Backend`]).

mod array;
mod cluster;
mod health;
mod insert;
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
use diesel::sql_types::{Bool, Timestamp};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

pub(crate) use self::cluster::{open, PgCluster};
use crate::backend::{Access, Backend, BooksPredicate, IdTable, Inserted};
use crate::error::Result;
use crate::models::{AuthorRow, BookRow, DbTime};
use crate::raw::RawConnection;
use crate::schema::books;
use crate::transaction;

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

    /// One statement ([`insert::BulkInsert`]): ids from the table's identity sequence
    /// (concurrent transactions never get the same one, and rows inserted later
    /// without an id do not collide with them), the rows, and the ids back in input
    /// order, in one round trip. A single statement is atomic on its own: outside a
    /// transaction it needs none (`BEGIN` and `COMMIT` would be two more round trips);
    /// inside one, it runs in a savepoint, so that a failure leaves the transaction
    /// usable.
    fn insert_new_authors(&mut self, rows: &[AuthorRow]) -> Result<Inserted> {
        transaction::recoverable(self, |conn| insert::BulkInsert::authors(rows).run(conn))
    }

    fn insert_new_books(&mut self, rows: &[BookRow]) -> Result<Inserted> {
        transaction::recoverable(self, |conn| insert::BulkInsert::books(rows).run(conn))
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

    crate::backend::returning_inserts!();

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

/// PostgreSQL's `timestamp`, to the microsecond (finer digits are cut off).
impl diesel::serialize::ToSql<Timestamp, diesel::pg::Pg> for DbTime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        diesel::serialize::ToSql::<Timestamp, diesel::pg::Pg>::to_sql(&self.0, out)
    }
}
