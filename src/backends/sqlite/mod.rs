//! SQLite, the embedded default: its connection set-up and pool ([`setup`]), its bulk
//! insert of texts ([`insert`]), its migrations, and how it differs ([`Backend`]).

mod insert;
mod search;
mod setup;

use std::sync::{Arc, Mutex};

use diesel::connection::TransactionManager;
use diesel::connection::{AnsiTransactionManager, DefaultLoadingMode, SimpleConnection};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use self::insert::insert_texts;
use self::setup::{enable_wal, memory_url, sqlite_pool, SqlitePool, SqliteSetup};
use crate::backend::{Access, Backend, BooksPredicate, IdTable, Inserted, CHUNK_ROWS};
use crate::config::Config;
use crate::error::Result;
use crate::migrations;
use crate::models::{AuthorRow, BookRow, DbTime};
use crate::observe::Counters;
use crate::raw::RawConnection;
use crate::schema::{authors, books};
use crate::target::SqliteFile;
use crate::transaction;

/// Names a bulk insert of authors sends to SQLite in one JSON array: large enough that
/// per-statement costs vanish (at 1,024 and at 4,096 rows a statement the rate is the
/// same), small enough that the text stays a few megabytes at most.
const JSON_CHUNK_ROWS: usize = 4096;

impl Backend for SqliteConnection {
    const NAME: &'static str = "sqlite";
    const DB_SYSTEM: &'static str = "sqlite";
    /// Compiled into the crate (`build.rs` rebuilds it when `migrations/` changes).
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    /// To the millisecond, SQLite's own resolution, in the text form that sorts as time.
    const CLOCK_SQL: &'static str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";
    const TIME_RESOLUTION_MICROS: i64 = 1_000;
    type RowByRow = DefaultLoadingMode;

    const CONSTRAINT_ERRORS_ABORT: bool = false;

    fn raw(&mut self) -> RawConnection<'_> {
        RawConnection::Sqlite(self)
    }

    fn begin_sql(&mut self, access: Access) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(match access {
            Access::Write => "BEGIN IMMEDIATE",
            Access::Read => "BEGIN",
        })
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

    fn title_like(pattern: String) -> BooksPredicate<Self> {
        // SQLite's LIKE ignores ASCII case already.
        Box::new(books::title.like(pattern).escape('\\'))
    }

    /// In a write transaction (`BEGIN IMMEDIATE`, or a savepoint), the ids first
    /// ([`reserve_ids`]), then the rows ([`insert_authors`]).
    fn insert_new_authors(&mut self, rows: &[AuthorRow]) -> Result<Inserted> {
        transaction::write(self, |conn| {
            let reserved = reserve_ids(conn, IdTable::Authors, rows.len())?;
            insert_authors(conn, &reserved, rows)?;
            Ok(reserved)
        })
    }

    /// As for authors: [`reserve_ids`], then [`insert_books`].
    fn insert_new_books(&mut self, rows: &[BookRow]) -> Result<Inserted> {
        transaction::write(self, |conn| {
            let reserved = reserve_ids(conn, IdTable::Books, rows.len())?;
            insert_books(conn, &reserved, rows)?;
            Ok(reserved)
        })
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

    crate::backend::returning_inserts!();

    fn lock_migrations(&mut self) -> Result<()> {
        // `BEGIN IMMEDIATE` took the write lock already.
        Ok(())
    }
}

/// The ids above the largest in use and the largest SQLite ever gave (the tables
/// are `AUTOINCREMENT`: `sqlite_sequence` remembers it), the ids SQLite itself
/// gives next; the write lock held since `BEGIN IMMEDIATE` keeps them free until
/// the insert. The clock is read in the same statement.
fn reserve_ids(conn: &mut SqliteConnection, table: IdTable, count: usize) -> Result<Inserted> {
    let (largest, now): (i64, DbTime) = diesel::select((
        sql::<BigInt>(&format!(
            "max(coalesce((SELECT max(id) FROM {table}), 0), \
             coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0))",
            table = table.name()
        )),
        sql::<Timestamp>(<SqliteConnection as Backend>::CLOCK_SQL),
    ))
    .get_result(conn)?;
    Ok(Inserted {
        ids: consecutive_ids(table, largest, count)?,
        now,
    })
}

/// One statement per [`JSON_CHUNK_ROWS`] names, each bound as one JSON array
/// ([`insert_texts`]), without the ids: SQLite gives
/// a row inserted without one the largest id in the table plus one, so rows appended
/// in order under the write lock that [`reserve_ids`] read the largest id
/// under get exactly the reserved ids. An explicit id would cost a b-tree probe a
/// row to check it is free (a tenth of a bulk author insert's instructions).
fn insert_authors(
    conn: &mut SqliteConnection,
    reserved: &Inserted,
    rows: &[AuthorRow],
) -> Result<()> {
    for chunk in rows.chunks(JSON_CHUNK_ROWS) {
        insert_texts(
            authors::name,
            chunk.iter().map(|row| row.name.as_str()),
            reserved.now,
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Statements of [`CHUNK_ROWS`] rows, under SQLite's bound-value limit, without the
/// ids, as for authors. (A JSON array of rows is slower here than bound values: each
/// element's fields are parsed again to read them, 0.57 M against 1.0 M rows/s on
/// raw SQLite.)
///
/// Full chunks go in as fixed-size arrays: diesel gives those a static query id, so
/// the one prepared statement is cached and reused, where a slice of rows would be
/// prepared anew for every statement. Only the last, shorter chunk is a slice.
fn insert_books(conn: &mut SqliteConnection, reserved: &Inserted, rows: &[BookRow]) -> Result<()> {
    // Owned rows: diesel caches a multi-row insert only for rows of `'static` types.
    let stamp = |row: &BookRow| {
        (
            row.clone(),
            books::created_at.eq(reserved.now),
            books::updated_at.eq(reserved.now),
        )
    };
    for chunk in rows.chunks(CHUNK_ROWS) {
        let insert = diesel::insert_into(books::table);
        match <&[BookRow; CHUNK_ROWS]>::try_from(chunk) {
            Ok(full) => insert.values(full.each_ref().map(stamp)).execute(conn)?,
            Err(_) => insert
                .values(chunk.iter().map(stamp).collect::<Vec<_>>())
                .execute(conn)?,
        };
    }
    Ok(())
}

/// `count` consecutive ids of `table` above `largest`.
fn consecutive_ids(table: IdTable, largest: i64, count: usize) -> Result<Vec<i64>> {
    let first = largest.checked_add(1).ok_or_else(|| table.exhausted())?;
    let end = i64::try_from(count)
        .ok()
        .and_then(|count| first.checked_add(count))
        .ok_or_else(|| table.exhausted())?;
    Ok((first..end).collect())
}

/// The pool of an SQLite repository, and the connection that keeps an in-memory
/// database alive while the pool opens and closes connections.
pub(crate) struct Pool {
    pub(crate) pool: SqlitePool,
    keepalive: Option<Mutex<SqliteConnection>>,
}

impl Pool {
    /// True for an in-memory database.
    pub(crate) fn in_memory(&self) -> bool {
        self.keepalive.is_some()
    }
}

/// Opens the SQLite file `file`. See [`open`].
pub(crate) fn open_file(
    file: &SqliteFile,
    config: &Config,
    counters: &Arc<Counters>,
) -> Result<Pool> {
    file.check_path()?;
    let uri = file.uri(config.process_exclusive);
    let (pool, _) = open(&uri, false, config, counters)?;
    Ok(Pool {
        pool,
        keepalive: None,
    })
}

/// Opens a new private in-memory database. See [`open`].
pub(crate) fn open_memory(config: &Config, counters: &Arc<Counters>) -> Result<Pool> {
    let (pool, conn) = open(&memory_url(), true, config, counters)?;
    Ok(Pool {
        pool,
        keepalive: Some(Mutex::new(conn)),
    })
}

/// Opens an SQLite database. Everything that can refuse it comes before anything that
/// writes: one connection opens it (a file that is not a database fails here) and reads
/// the migration state (a newer build's database, or another application's, is refused
/// here); then the pool opens its connections. Only then does the first connection
/// write: the migrations, in one transaction that rolls back on failure, then the
/// switch of a file to WAL. Returns the pool and that first connection (which keeps an
/// in-memory database alive).
fn open(
    uri: &str,
    in_memory: bool,
    config: &Config,
    counters: &Arc<Counters>,
) -> Result<(SqlitePool, SqliteConnection)> {
    let setup = SqliteSetup {
        busy_timeout: config.busy_timeout,
        page_cache_size: config.page_cache_size,
        mmap_size: config.mmap_size,
        echo: config.echo(),
        counters: Arc::clone(counters),
    };
    let mut conn = setup.connect(uri)?;
    let pending = migrations::pending_on_open(&mut conn)?;
    let pool = sqlite_pool(uri, setup, config.pool_settings())?;
    migrations::apply_on_open(&mut conn, config.run_migrations, &pending)?;
    if !in_memory {
        enable_wal(&mut conn, config.busy_timeout)?;
    }
    Ok((pool, conn))
}

/// SQLite stores a time as text: always to the millisecond, as its own clock writes it
/// (`strftime('%f')`), so that text order is time order.
impl diesel::serialize::ToSql<Timestamp, diesel::sqlite::Sqlite> for DbTime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
    ) -> diesel::serialize::Result {
        out.set_value(self.canonical_text());
        Ok(diesel::serialize::IsNull::No)
    }
}
