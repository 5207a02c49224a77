//! What a backend is: [`Backend`], the one trait each backend's connection implements,
//! saying what differs between backends, and [`for_each_backend!`], the list of their
//! connection types. Everything else (the operations, transactions, migrations) is
//! written once, over these. The backends themselves are in [`backends`](crate::backends).

use std::borrow::Cow;

use diesel::connection::{AnsiTransactionManager, Connection};
use diesel::expression::BoxableExpression;
use diesel::sql_types::Bool;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::error::{Entity, Error, Result};
use crate::models::{Author, AuthorRow, Book, BookRow, DbTime};
use crate::raw::RawConnection;
use crate::schema::books;

/// Bulk inserts on SQLite are split into statements of this many rows (and lookups by
/// many keys, on every backend, into queries of this many keys). At five bound values a
/// row this stays far below SQLite's limit of 32,766 bound values a statement, and is
/// large enough that per-statement overhead is noise.
pub(crate) const CHUNK_ROWS: usize = 256;

impl IdTable {
    /// The error of this table's id generator when it has run out.
    pub(crate) fn exhausted(self) -> Error {
        Error::IdsExhausted(match self {
            IdTable::Authors => Entity::Author,
            IdTable::Books => Entity::Book,
        })
    }
}

/// The condition on a query of `books` that a backend builds itself.
pub(crate) type BooksPredicate<C> =
    Box<dyn BoxableExpression<books::table, <C as Connection>::Backend, SqlType = Bool>>;

/// What a transaction is for, which decides how it begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Writes: SQLite takes the write lock up front (`BEGIN IMMEDIATE`).
    Write,
    /// Reads that must see one snapshot.
    Read,
}

/// A table whose new rows get ids from the table's id generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdTable {
    Authors,
    Books,
}

impl IdTable {
    /// The table's name in SQL.
    pub(crate) fn name(self) -> &'static str {
        match self {
            IdTable::Authors => "authors",
            IdTable::Books => "books",
        }
    }
}

/// The ids a bulk insert gave its rows, and the database's clock when it did.
#[derive(Debug)]
pub(crate) struct Inserted {
    /// The ids, one a row in the rows' order, increasing.
    pub(crate) ids: Vec<i64>,
    /// The database's time: every row of the insert is created (and updated) at it.
    pub(crate) now: DbTime,
}

/// What differs between backends, for the few places where SQL semantics do.
pub(crate) trait Backend:
    Connection<TransactionManager = AnsiTransactionManager> + MigrationHarness<Self::Backend>
{
    /// The backend's name in `Debug` output and logs.
    const NAME: &'static str;

    /// The backend's name in OpenTelemetry's `db.system` field.
    const DB_SYSTEM: &'static str;

    /// The backend's migrations, embedded at compile time.
    const MIGRATIONS: EmbeddedMigrations;

    /// True when a failed constraint makes the whole transaction refuse later statements
    /// (PostgreSQL), false when it undoes just the failed statement (SQLite, MySQL).
    const CONSTRAINT_ERRORS_ABORT: bool;

    /// True when schema changes (`CREATE`, `ALTER`, `DROP`) are transactional, so that a
    /// migration run in a transaction is all or nothing (SQLite, PostgreSQL); false when
    /// each one commits by itself (MySQL's implicit commit), so that migrations run
    /// outside any transaction, under [`Self::lock_migrations`] alone.
    const TRANSACTIONAL_DDL: bool = true;

    /// The database's current time as an SQL expression of diesel's `Timestamp` type,
    /// in UTC, as the migrations' defaults and triggers write it: one value for the
    /// whole statement.
    const CLOCK_SQL: &'static str;

    /// The finest step of the times the database stores: a time the filter compares
    /// with is rounded up to it ([`DbTime::ceil_to`]).
    const TIME_RESOLUTION_MICROS: i64;

    /// How `load_iter` fetches rows so that memory stays flat at any result size.
    type RowByRow;

    /// This connection as the application sees it in the escape hatch.
    fn raw(&mut self) -> RawConnection<'_>;

    /// The statement that begins a top-level transaction for `access` on this
    /// connection (with the settings its session cannot keep, on PostgreSQL behind a
    /// transaction pooler).
    fn begin_sql(&mut self, access: Access) -> Cow<'static, str>;

    /// True when this connection's settings hold only inside a transaction (PostgreSQL
    /// behind a transaction pooler): then an operation outside a transaction runs in
    /// one of its own.
    fn operations_need_a_transaction(&mut self) -> bool {
        false
    }

    /// After a statement inside a transaction failed: true when the transaction (at the
    /// depth diesel counts) can still run statements. When the database ended it, diesel's
    /// count is brought in step (no transaction open) or left for a rollback to clear.
    fn transaction_survived(&mut self) -> bool;

    /// `books.title` contains the `LIKE` pattern `pattern` (escaped with `\`), ignoring
    /// ASCII case.
    fn title_like(pattern: String) -> BooksPredicate<Self>;

    /// Inserts `rows` (at least one) as new authors, all or none, in multi-row
    /// statements: each gets an id that no row holds, no row ever held and no concurrent
    /// transaction can take, and the database's time. Returns the ids, in the rows'
    /// order, and that time. A failure leaves an open transaction usable (the insert
    /// runs in a transaction or savepoint of its own where the backend needs one), as
    /// [`Self::with_fresh_ids`] requires.
    fn insert_new_authors(&mut self, rows: &[AuthorRow]) -> Result<Inserted>;

    /// Inserts `rows` (at least one) as new books: as [`Self::insert_new_authors`].
    fn insert_new_books(&mut self, rows: &[BookRow]) -> Result<Inserted>;

    /// Runs `f`, an insert of rows that take new ids from the table's id generator, and
    /// once more if it failed because an id it was given is taken. Rows inserted with
    /// explicit ids (an import through `Insertable`, say) leave PostgreSQL's identity
    /// sequence behind them; the sequence is then moved past every id in use before the
    /// retry. `f` must leave an open transaction usable when it fails (a savepoint, or a
    /// transaction of its own). SQLite gives a new row one more than the largest id it
    /// ever gave or a row holds, which no row holds, so there `f` runs once.
    fn with_fresh_ids<T>(
        &mut self,
        table: IdTable,
        f: impl Fn(&mut Self) -> Result<T>,
    ) -> Result<T>;

    /// True when the table `name` exists, as the open transaction's snapshot sees it.
    fn has_table(&mut self, name: &str) -> Result<bool>;

    /// Makes a transaction that changes migrations the only one doing so until it ends;
    /// without [`Self::TRANSACTIONAL_DDL`], makes this session the only one changing or
    /// checking migrations until [`Self::unlock_migrations`].
    fn lock_migrations(&mut self) -> Result<()>;

    /// Lets go of what [`Self::lock_migrations`] took, where a transaction's end does not
    /// (without [`Self::TRANSACTIONAL_DDL`]).
    fn unlock_migrations(&mut self) -> Result<()> {
        Ok(())
    }

    /// Inserts `row` as a new author (its id from the table's id generator) and returns
    /// it as stored; `None` when the id the generator gave is taken (PostgreSQL after an
    /// import with explicit ids), having inserted nothing, for
    /// [`Self::with_fresh_ids`] to try again.
    fn insert_author(&mut self, row: &AuthorRow) -> Result<Option<Author>>;

    /// Inserts `row` as a new book and returns it as stored; `None` when the database
    /// stored no row. A failure leaves an open transaction as
    /// [`transaction::recoverable`](crate::transaction::recoverable) says.
    fn insert_book(&mut self, row: &BookRow) -> Result<Option<Book>>;

    /// Runs `update`, an `UPDATE` of at most one row (by its id), and returns that row as
    /// the update left it, or `None` when it matched no row. By default with `RETURNING`,
    /// in the statement itself; a backend without it runs the update and then `reread`
    /// (the row by its id) in one transaction, which the update's row lock keeps every
    /// other writer out of until it ends.
    fn update_returning<'q, U, T>(
        &mut self,
        update: U,
        reread: impl FnOnce(&mut Self) -> diesel::QueryResult<Option<T>>,
    ) -> Result<Option<T>>
    where
        U: diesel::query_dsl::methods::ExecuteDsl<Self> + 'q,
        T: diesel::Selectable<Self::Backend> + 'q,
        crate::sql::WithReturning<U, diesel::helper_types::AsSelect<T, Self::Backend>>:
            diesel::query_dsl::LoadQuery<'q, Self, T>,
    {
        use diesel::{RunQueryDsl, SelectableHelper};
        let _ = reread;
        // `get_results` runs the statement to its end: see `insert_author`.
        Ok(crate::sql::returning(update, T::as_returning())
            .get_results(self)?
            .pop())
    }
}

/// The bodies of [`Backend::insert_author`] and [`Backend::insert_book`] on the backends
/// with `RETURNING` (SQLite, PostgreSQL): one statement each, the row back from it.
macro_rules! returning_inserts {
    () => {
        fn insert_author(
            &mut self,
            row: &$crate::models::AuthorRow,
        ) -> $crate::error::Result<Option<$crate::models::Author>> {
            use diesel::prelude::*;
            use $crate::schema::authors;
            // `get_results` steps the statement to its end, which is where SQLite runs its
            // automatic WAL checkpoint; `get_result` would stop at the row and leave the
            // checkpoint to whichever statement next runs to completion.
            // `ON CONFLICT (id) DO NOTHING`: an id the generator handed out that a row
            // already holds (after an import) inserts nothing instead of failing, so the
            // retry needs no savepoint around the insert.
            // The statement's SQL never changes: cached by type (`sql::cached`).
            struct CreateAuthor;
            Ok($crate::sql::cached::<CreateAuthor, _>(
                diesel::insert_into(authors::table)
                    .values(row)
                    .on_conflict(authors::id)
                    .do_nothing()
                    .returning($crate::models::Author::as_returning()),
            )
            .get_results(self)?
            .pop())
        }

        fn insert_book(
            &mut self,
            row: &$crate::models::BookRow,
        ) -> $crate::error::Result<Option<$crate::models::Book>> {
            use diesel::prelude::*;
            use $crate::schema::books;
            // `get_results` runs the statement to its end: see `insert_author`.
            Ok(diesel::insert_into(books::table)
                .values(row)
                .returning($crate::models::Book::as_returning())
                .get_results(self)?
                .pop())
        }
    };
}
pub(crate) use returning_inserts;

/// The database's current time in `C`'s SQL: see [`Backend::CLOCK_SQL`].
pub(crate) fn clock<C: Backend>() -> crate::sql::DatabaseTime {
    crate::sql::DatabaseTime::new(C::CLOCK_SQL)
}

/// Invokes the macro `$stamp` once for each backend's connection type: the operations
/// of [`ops`](crate::ops) are written once and compiled once per backend this way.
macro_rules! for_each_backend {
    ($stamp:ident) => {
        $stamp!(::diesel::SqliteConnection);
        #[cfg(feature = "postgres")]
        $stamp!(::diesel::PgConnection);
        #[cfg(feature = "mysql")]
        $stamp!(::diesel::MysqlConnection);
    };
}
pub(crate) use for_each_backend;
