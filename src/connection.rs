//! The one place that knows which connection types exist.
//!
//! Every operation is written once, as a method on [`Tx`](crate::Tx); its body runs
//! against a concrete connection through [`with_conn!`], which matches on [`AnyConn`] and
//! hands the body the connection of whichever backend the repository was opened on. The
//! body is compiled once per backend, with static dispatch and diesel's full type checks,
//! so a backend is added by adding a variant here, not by rewriting the operations.

use std::num::NonZeroU32;

use diesel::connection::{
    AnsiTransactionManager, DefaultLoadingMode, SimpleConnection, TransactionManager,
};
use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
#[cfg(feature = "postgres")]
use diesel::sql_types::{Integer, Nullable, Text};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

#[cfg(feature = "postgres")]
use crate::models::AuthorId;
use crate::models::{AuthorRow, BookRow};
use crate::schema::{authors, books};
use crate::transaction::{self, Access, Faults};
use crate::{migrations, Error, Result, Tx};

/// A borrowed connection of any supported backend.
pub(crate) enum AnyConn<'c> {
    Sqlite(&'c mut SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(&'c mut diesel::pg::PgConnection),
}

/// Runs `$body` with `$conn` bound to the concrete connection inside `$tx` (and, in the
/// second form, `$Conn` naming its type).
macro_rules! with_conn {
    ($tx:expr, |$conn:ident| $body:expr) => {
        $crate::connection::with_conn!($tx, |$conn: _Conn| $body)
    };
    ($tx:expr, |$conn:ident: $Conn:ident| $body:expr) => {
        match &mut $tx.conn {
            $crate::connection::AnyConn::Sqlite(connection) => {
                #[allow(dead_code)]
                type $Conn = ::diesel::sqlite::SqliteConnection;
                let $conn: &mut $Conn = connection;
                $body
            }
            #[cfg(feature = "postgres")]
            $crate::connection::AnyConn::Postgres(connection) => {
                #[allow(dead_code)]
                type $Conn = ::diesel::pg::PgConnection;
                let $conn: &mut $Conn = connection;
                $body
            }
        }
    };
}
pub(crate) use with_conn;

/// Inserts `$rows` (a slice of insertable rows) into `$table` in chunks of
/// [`INSERT_CHUNK_ROWS`].
///
/// Full chunks go in as fixed-size arrays: diesel gives those a static query id, so the
/// one prepared statement is cached and reused, where a slice of rows would be prepared
/// anew for every statement. Only the last, shorter chunk is a slice.
macro_rules! insert_chunked {
    ($conn:expr, $table:expr, $rows:expr) => {{
        for chunk in $rows.chunks($crate::tx::INSERT_CHUNK_ROWS) {
            let insert = ::diesel::insert_into($table);
            match <&[_; $crate::tx::INSERT_CHUNK_ROWS]>::try_from(chunk) {
                Ok(full) => insert.values(full).execute($conn)?,
                Err(_) => insert.values(chunk).execute($conn)?,
            };
        }
    }};
}

/// Names a bulk insert of authors sends to SQLite in one JSON array: large enough that
/// per-statement costs vanish (at 1,024 and at 4,096 rows a statement the rate is the
/// same), small enough that the text stays a few megabytes at most.
const JSON_CHUNK_ROWS: usize = 4096;

/// The condition on a query of `books` that a backend builds itself.
pub(crate) type BooksPredicate<C> =
    Box<dyn BoxableExpression<books::table, <C as Connection>::Backend, SqlType = Bool>>;

/// What differs between backends, for the few places where SQL semantics do.
pub(crate) trait Backend:
    Connection<TransactionManager = AnsiTransactionManager> + MigrationHarness<Self::Backend>
{
    /// The backend's name in `Debug` output and logs.
    const NAME: &'static str;

    /// The backend's migrations, embedded at compile time.
    const MIGRATIONS: EmbeddedMigrations;

    /// How `load_iter` fetches rows so that memory stays flat at any result size.
    type RowByRow;

    /// Wraps `conn` in the crate's transaction handle: in autocommit (`level` `None`),
    /// or at the transaction depth `level`, with the faults of its checkout.
    fn handle<'c>(&'c mut self, level: Option<NonZeroU32>, faults: &'c Faults) -> Tx<'c>;

    /// The statement that begins a top-level transaction for `access`.
    fn begin_sql(access: Access) -> &'static str;

    /// After a statement inside a transaction failed: true when the transaction (at the
    /// depth diesel counts) can still run statements. When the database ended it, diesel's
    /// count is brought in step (no transaction open) or left for a rollback to clear.
    fn transaction_survived(&mut self) -> bool;

    /// `books.title` contains the `LIKE` pattern `pattern` (escaped with `\`), ignoring
    /// ASCII case.
    fn title_like(&self, pattern: String) -> BooksPredicate<Self>;

    /// `count` ids for new rows of `table`, in increasing order, that no row holds and
    /// no concurrent transaction can take. Runs inside a write transaction.
    fn reserve_ids(&mut self, table: IdTable, count: usize) -> Result<Vec<i64>>;

    /// Inserts `rows` as authors with the ids `ids` (from [`Self::reserve_ids`], one a
    /// row, in order), in multi-row statements.
    fn insert_authors(&mut self, ids: &[i64], rows: &[AuthorRow]) -> Result<()>;

    /// Inserts `rows` as books with the ids `ids` (from [`Self::reserve_ids`], one a
    /// row, in order), in multi-row statements.
    fn insert_books(&mut self, ids: &[i64], rows: &[BookRow]) -> Result<()>;

    /// Runs `f`, an insert of rows that take new ids from the table's id generator, and
    /// once more if it failed because an id it was given is taken. Rows inserted with
    /// explicit ids (an import through `Insertable`, say) leave PostgreSQL's identity
    /// sequence behind them; the sequence is then moved past every id in use before the
    /// retry. `f` must leave an open transaction usable when it fails (a savepoint, or a
    /// transaction of its own). SQLite gives a new row the largest id plus one, which no
    /// row holds, so there `f` runs once.
    fn with_fresh_ids<T>(
        &mut self,
        table: IdTable,
        f: impl Fn(&mut Self) -> Result<T>,
    ) -> Result<T>;

    /// True when the table `name` exists.
    fn has_table(&mut self, name: &str) -> Result<bool>;

    /// Makes a transaction that changes migrations the only one doing so until it ends.
    fn lock_migrations(&mut self) -> Result<()>;

    /// Runs `f`, a write that may fail on a constraint, so that its failure leaves an
    /// open transaction usable. SQLite undoes just the failed statement; PostgreSQL
    /// would refuse every later statement of the transaction, so there `f` runs in a
    /// savepoint when a transaction is open (and as it is in autocommit).
    fn recoverable<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if Self::CONSTRAINT_ERRORS_ABORT && transaction::in_transaction(self) {
            transaction::run(self, Access::Write, f)
        } else {
            f(self)
        }
    }

    /// True when a failed constraint makes the whole transaction refuse later statements
    /// (PostgreSQL), false when it undoes just the failed statement (SQLite).
    const CONSTRAINT_ERRORS_ABORT: bool;

    /// Runs `f` in a transaction that takes the write lock up front (`BEGIN IMMEDIATE`
    /// on SQLite: a deferred transaction that later writes can fail at once with
    /// `database is locked`, whatever the busy timeout), or in a savepoint when a
    /// transaction is already open.
    fn write_transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        transaction::run(self, Access::Write, f)
    }

    /// Runs `f` so that all its reads see one snapshot. Inside an open transaction that
    /// is already so, and `f` runs as it is.
    fn read_transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        transaction::run(self, Access::Read, f)
    }
}

/// A table whose ids [`Backend::reserve_ids`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdTable {
    Authors,
    Books,
}

impl IdTable {
    fn name(self) -> &'static str {
        match self {
            IdTable::Authors => "authors",
            IdTable::Books => "books",
        }
    }
}

impl Backend for SqliteConnection {
    const NAME: &'static str = "sqlite";
    const MIGRATIONS: EmbeddedMigrations = migrations::SQLITE;
    type RowByRow = DefaultLoadingMode;

    const CONSTRAINT_ERRORS_ABORT: bool = false;

    fn handle<'c>(&'c mut self, level: Option<NonZeroU32>, faults: &'c Faults) -> Tx<'c> {
        Tx::new(AnyConn::Sqlite(self), level, faults)
    }

    fn begin_sql(access: Access) -> &'static str {
        match access {
            Access::Write => "BEGIN IMMEDIATE",
            Access::Read => "BEGIN",
        }
    }

    /// SQLite tells whether a transaction is open only through the C API
    /// (`sqlite3_get_autocommit`), so this asks with a statement: `BEGIN` fails inside a
    /// transaction and succeeds outside one (the probe's own transaction is then rolled
    /// back at once, having done nothing).
    fn transaction_survived(&mut self) -> bool {
        match self.batch_execute("BEGIN") {
            Err(error) if error.to_string().contains("within a transaction") => return true,
            Ok(()) => {}
            // The probe itself failed: assume the worst, and make sure that nothing of
            // the transaction can commit.
            Err(_) => {}
        }
        if let Err(error) = self.batch_execute("ROLLBACK") {
            tracing::debug!(target: "bookshelf", %error, "rollback of the transaction probe");
        }
        *AnsiTransactionManager::transaction_manager_status_mut(self) = Default::default();
        false
    }

    fn title_like(&self, pattern: String) -> BooksPredicate<Self> {
        // SQLite's LIKE ignores ASCII case already.
        Box::new(books::title.like(pattern).escape('\\'))
    }

    /// The ids above the largest in use, the ids SQLite itself would give; the write
    /// lock held since `BEGIN IMMEDIATE` keeps them free until the insert.
    fn reserve_ids(&mut self, table: IdTable, count: usize) -> Result<Vec<i64>> {
        let largest: Option<i64> = diesel::select(sql::<diesel::sql_types::Nullable<BigInt>>(
            &format!("max(id) FROM {}", table.name()),
        ))
        .get_result(self)?;
        consecutive_ids(largest, count)
    }

    /// One statement per [`JSON_CHUNK_ROWS`] names, each bound as one JSON array
    /// ([`sql::insert_texts`](crate::sql::insert_texts)), without the ids: SQLite gives
    /// a row inserted without one the largest id in the table plus one, so rows appended
    /// in order under the write lock that [`Self::reserve_ids`] read the largest id
    /// under get exactly the reserved ids. An explicit id would cost a b-tree probe a
    /// row to check it is free (a tenth of a bulk author insert's instructions).
    fn insert_authors(&mut self, _ids: &[i64], rows: &[AuthorRow]) -> Result<()> {
        for chunk in rows.chunks(JSON_CHUNK_ROWS) {
            crate::sql::insert_texts(authors::name, chunk.iter().map(|row| row.name.as_str()))
                .execute(self)?;
        }
        Ok(())
    }

    /// Statements of [`INSERT_CHUNK_ROWS`](crate::tx::INSERT_CHUNK_ROWS) rows, under
    /// SQLite's bound-value limit, without the ids, as for authors. (A JSON array of
    /// rows is slower here than bound values: each element's fields are parsed again to
    /// read them, 0.57 M against 1.0 M rows/s on raw SQLite.)
    fn insert_books(&mut self, _ids: &[i64], rows: &[BookRow]) -> Result<()> {
        insert_chunked!(self, books::table, rows);
        Ok(())
    }

    fn with_fresh_ids<T>(
        &mut self,
        _table: IdTable,
        f: impl Fn(&mut Self) -> Result<T>,
    ) -> Result<T> {
        f(self)
    }

    fn has_table(&mut self, name: &str) -> Result<bool> {
        let tables: i64 = diesel::select(
            sql::<BigInt>("count(*) FROM sqlite_master WHERE type = 'table' AND name = ")
                .bind::<diesel::sql_types::Text, _>(name),
        )
        .get_result(self)?;
        Ok(tables > 0)
    }

    fn lock_migrations(&mut self) -> Result<()> {
        // `BEGIN IMMEDIATE` took the write lock already.
        Ok(())
    }
}

#[cfg(feature = "postgres")]
impl Backend for diesel::pg::PgConnection {
    const NAME: &'static str = "postgres";
    const MIGRATIONS: EmbeddedMigrations = migrations::POSTGRES;
    // The default mode reads the whole result into memory first.
    type RowByRow = diesel::pg::PgRowByRowLoadingMode;

    const CONSTRAINT_ERRORS_ABORT: bool = true;

    fn handle<'c>(&'c mut self, level: Option<NonZeroU32>, faults: &'c Faults) -> Tx<'c> {
        Tx::new(AnyConn::Postgres(self), level, faults)
    }

    fn begin_sql(access: Access) -> &'static str {
        match access {
            // READ COMMITTED, PostgreSQL's default: writers run side by side, with row
            // locks.
            Access::Write => "BEGIN",
            Access::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        }
    }

    /// A transaction that met an error refuses every statement until it is rolled back
    /// (and so does a lost connection): one round trip tells.
    fn transaction_survived(&mut self) -> bool {
        self.batch_execute("SELECT 1").is_ok()
    }

    fn title_like(&self, pattern: String) -> BooksPredicate<Self> {
        use diesel::PgTextExpressionMethods;
        // The column's "C" collation makes ILIKE fold ASCII case only, like SQLite.
        Box::new(books::title.ilike(pattern).escape('\\'))
    }

    /// Ids from the column's identity sequence: concurrent transactions never get the
    /// same one, and rows inserted later without an id do not collide with them.
    fn reserve_ids(&mut self, table: IdTable, count: usize) -> Result<Vec<i64>> {
        let count = i64::try_from(count).map_err(|_| no_ids_left())?;
        // The sequence is looked up once (a materialized CTE): in the select list,
        // `pg_get_serial_sequence` would run again for every id, a third of the time
        // of a 2,000-author bulk insert.
        let mut ids: Vec<i64> = diesel::sql_query(
            "WITH sequence AS MATERIALIZED \
             (SELECT pg_get_serial_sequence($1, 'id')::regclass AS name) \
             SELECT nextval(sequence.name) AS id FROM sequence, generate_series(1, $2)",
        )
        .bind::<diesel::sql_types::Text, _>(table.name())
        .bind::<BigInt, _>(count)
        .load::<ReservedId>(self)?
        .into_iter()
        .map(|reserved| reserved.id)
        .collect();
        // Each `nextval` is larger than the one before in this session, but the rows'
        // order is the executor's: sort, so that rows get ids in input order.
        ids.sort_unstable();
        Ok(ids)
    }

    /// One statement whatever the row count: each column goes over as one array, and
    /// `unnest` turns the arrays back into rows (`INSERT .. SELECT unnest($1), ..`). Five
    /// bound values instead of five a row: no bind limit, no chunks, one prepared
    /// statement.
    fn insert_authors(&mut self, ids: &[i64], rows: &[AuthorRow]) -> Result<()> {
        let names: Vec<&str> = rows.iter().map(|author| author.name.as_str()).collect();
        diesel::insert_into(authors::table)
            .values(diesel::select((
                pg::unnest::<BigInt, _>(ids),
                pg::unnest::<Text, _>(names),
            )))
            .into_columns((authors::id, authors::name))
            .execute(self)?;
        Ok(())
    }

    fn insert_books(&mut self, ids: &[i64], rows: &[BookRow]) -> Result<()> {
        let titles: Vec<&str> = rows.iter().map(|book| book.title.as_str()).collect();
        let author_ids: Vec<AuthorId> = rows.iter().map(|book| book.author_id).collect();
        let isbns: Vec<Option<&str>> = rows.iter().map(|book| book.isbn.as_deref()).collect();
        let years: Vec<Option<i32>> = rows.iter().map(|book| book.published_year).collect();
        diesel::insert_into(books::table)
            .values(diesel::select((
                pg::unnest::<BigInt, _>(ids),
                pg::unnest::<Text, _>(titles),
                pg::unnest::<BigInt, _>(author_ids),
                pg::unnest::<Nullable<Text>, _>(isbns),
                pg::unnest::<Nullable<Integer>, _>(years),
            )))
            .into_columns((
                books::id,
                books::title,
                books::author_id,
                books::isbn,
                books::published_year,
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
        // Looked up along the search path, where diesel creates its tables too.
        Ok(diesel::select(
            sql::<Bool>("to_regclass(")
                .bind::<diesel::sql_types::Text, _>(name)
                .sql(") IS NOT NULL"),
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

/// A row of [`Backend::reserve_ids`]'s query on PostgreSQL.
#[cfg(feature = "postgres")]
#[derive(diesel::QueryableByName)]
struct ReservedId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[cfg(feature = "postgres")]
mod pg {
    diesel::define_sql_function! {
        /// PostgreSQL's `unnest`: the elements of an array, one row each. Several in one
        /// select list advance together, row by row.
        fn unnest<T: diesel::sql_types::SingleValue>(array: diesel::sql_types::Array<T>) -> T;
    }
}

/// `count` consecutive ids above `largest`.
fn consecutive_ids(largest: Option<i64>, count: usize) -> Result<Vec<i64>> {
    let first = largest
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(no_ids_left)?;
    let end = i64::try_from(count)
        .ok()
        .and_then(|count| first.checked_add(count))
        .ok_or_else(no_ids_left)?;
    Ok((first..end).collect())
}

fn no_ids_left() -> Error {
    Error::Database(diesel::result::Error::QueryBuilderError(
        "no ids left above the largest one".into(),
    ))
}

#[cfg(all(test, feature = "postgres"))]
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
