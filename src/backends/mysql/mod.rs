//! MySQL and MariaDB (the `mysql` feature): connection set-up and pool ([`pool`]), the
//! bulk inserts ([`insert`]), full-text search ([`search`]), the server values they read
//! ([`value`]), the migrations, and how the backend differs ([`Backend`]).
//!
//! What differs from the other backends, and how this module makes up for it:
//! - No `RETURNING`: a single insert reads its row back by `LAST_INSERT_ID()`, an
//!   update by its id, in the transaction of the write (whose row lock keeps every
//!   other writer away until it ends).
//! - Bulk inserts learn their ids from `LAST_INSERT_ID()` and the server's
//!   auto-increment settings ([`insert`] says when that is sound, and what it does
//!   when it is not).
//! - Schema changes commit by themselves: migrations run under a named lock
//!   (`GET_LOCK`), not in a transaction.
//! - A failed statement undoes itself alone, as on SQLite, but a deadlock rolls back
//!   the whole transaction.

mod insert;
mod pool;
mod search;
mod value;

use std::borrow::Cow;

use diesel::connection::{AnsiTransactionManager, DefaultLoadingMode, TransactionManager};
use diesel::dsl::sql;
use diesel::mysql::{Mysql, MysqlConnection};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

pub(crate) use self::pool::{open, MysqlPool};
use crate::backend::{Access, Backend, BooksPredicate, IdTable, Inserted};
use crate::error::{Entity, Error, Result};
use crate::models::{Author, AuthorRow, Book, BookRow, DbTime};
use crate::raw::RawConnection;
use crate::schema::{authors, books};
use crate::transaction;
use value::{fixed, LastInsertId};

diesel::define_sql_function! {
    /// MySQL's `LOWER`: the text in lower case (for all of Unicode).
    fn lower(text: Text) -> Text;
}

impl Backend for MysqlConnection {
    const NAME: &'static str = "mysql";
    const DB_SYSTEM: &'static str = "mysql";
    /// The same versions as SQLite's, in MariaDB's SQL.
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/mysql");
    /// The statement's time in UTC, to the microsecond (constant within a statement).
    const CLOCK_SQL: &'static str = "UTC_TIMESTAMP(6)";
    const TIME_RESOLUTION_MICROS: i64 = 1;
    type RowByRow = DefaultLoadingMode;

    const CONSTRAINT_ERRORS_ABORT: bool = false;
    const TRANSACTIONAL_DDL: bool = false;

    fn raw(&mut self) -> RawConnection<'_> {
        RawConnection::Mysql(self)
    }

    fn begin_sql(&mut self, access: Access) -> Cow<'static, str> {
        Cow::Borrowed(match access {
            // The session's isolation, REPEATABLE READ (set on every connection): row
            // locks for writers.
            Access::Write => "START TRANSACTION",
            // The snapshot is taken now, not at the first read: every read of the
            // transaction sees the database as it was at this statement.
            Access::Read => "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        })
    }

    /// A deadlock (and a lost connection) ends the whole transaction; any other error
    /// undoes the failed statement alone. MariaDB says which with `@@in_transaction`.
    fn transaction_survived(&mut self) -> bool {
        let open: QueryResult<i64> =
            diesel::select(sql::<BigInt>("CAST(@@in_transaction AS SIGNED)")).get_result(self);
        if open == Ok(1) {
            return true;
        }
        // Gone, or the probe failed: nothing of the transaction can commit now, and
        // diesel's count is brought in step.
        *AnsiTransactionManager::transaction_manager_status_mut(self) = Default::default();
        false
    }

    /// The binary collation compares bytes, so case is folded on both sides with
    /// `LOWER`, which folds it for all of Unicode (SQLite and PostgreSQL fold ASCII
    /// only). The pattern is bound, so its `\` reaches `LIKE` as it is.
    fn title_like(pattern: String) -> BooksPredicate<Self> {
        Box::new(lower(books::title).like(lower(pattern)).escape('\\'))
    }

    /// In a write transaction (or a savepoint): see [`insert`].
    ///
    /// A clash on the primary key is placed on the table written
    /// ([`Error::in_table`]: MariaDB names every table's primary key `PRIMARY`).
    fn insert_new_authors(&mut self, rows: &[AuthorRow]) -> Result<Inserted> {
        transaction::write(self, |conn| insert::authors(conn, rows))
            .map_err(|error| error.in_table(Entity::Author))
    }

    fn insert_new_books(&mut self, rows: &[BookRow]) -> Result<Inserted> {
        transaction::write(self, |conn| insert::books(conn, rows))
            .map_err(|error| error.in_table(Entity::Book))
    }

    /// InnoDB's auto-increment counter is moved past every id a row is inserted with,
    /// explicit ones included, so it never hands out a taken id: `f` runs once.
    fn with_fresh_ids<T>(
        &mut self,
        _table: IdTable,
        f: impl Fn(&mut Self) -> Result<T>,
    ) -> Result<T> {
        f(self)
    }

    fn has_table(&mut self, name: &str) -> Result<bool> {
        let tables: i64 = diesel::select(
            sql::<BigInt>(
                "CAST(count(*) AS SIGNED) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ",
            )
            .bind::<Text, _>(name),
        )
        .get_result(self)?;
        Ok(tables > 0)
    }

    /// A named lock of the session (`GET_LOCK`), one per database, waited for as long as
    /// a row lock is (`innodb_lock_wait_timeout`, from
    /// [`Config::busy_timeout`](crate::Config::busy_timeout)).
    fn lock_migrations(&mut self) -> Result<()> {
        let got: Option<i64> = diesel::select(sql::<Nullable<BigInt>>(
            "CAST(GET_LOCK(CONCAT('bookshelf_migrations.', MD5(DATABASE())), \
             @@innodb_lock_wait_timeout) AS SIGNED)",
        ))
        .get_result(self)?;
        match got {
            Some(1) => Ok(()),
            _ => Err(Error::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::Unknown,
                Box::new(
                    "Lock wait timeout exceeded: another session holds the migration lock"
                        .to_owned(),
                ),
            ))),
        }
    }

    fn unlock_migrations(&mut self) -> Result<()> {
        diesel::select(sql::<Nullable<BigInt>>(
            "CAST(RELEASE_LOCK(CONCAT('bookshelf_migrations.', MD5(DATABASE()))) AS SIGNED)",
        ))
        .execute(self)?;
        Ok(())
    }

    /// The insert, then the row by `LAST_INSERT_ID()` (the connection's own, whatever
    /// others insert meanwhile), in one transaction, so that the row read is the row as
    /// inserted. A clash on the primary key is placed on the table written, as in
    /// [`insert_new_authors`](Backend::insert_new_authors).
    fn insert_author(&mut self, row: &AuthorRow) -> Result<Option<Author>> {
        transaction::write(self, |conn| {
            diesel::insert_into(authors::table)
                .values(row)
                .execute(conn)?;
            Ok(authors::table
                .filter(authors::id.eq(fixed::<LastInsertId>()))
                .select(Author::as_select())
                .get_result(conn)
                .optional()?)
        })
        .map_err(|error| error.in_table(Entity::Author))
    }

    fn insert_book(&mut self, row: &BookRow) -> Result<Option<Book>> {
        transaction::write(self, |conn| {
            diesel::insert_into(books::table)
                .values(row)
                .execute(conn)?;
            Ok(books::table
                .filter(books::id.eq(fixed::<LastInsertId>()))
                .select(Book::as_select())
                .get_result(conn)
                .optional()?)
        })
        .map_err(|error| error.in_table(Entity::Book))
    }

    /// The update, and if it matched a row, `reread`, in one transaction. The
    /// connection counts matched rows, not changed ones (diesel sets
    /// `CLIENT_FOUND_ROWS`), so an update that writes the values a row already holds
    /// still finds it.
    fn update_returning<'q, U, T>(
        &mut self,
        update: U,
        reread: impl FnOnce(&mut Self) -> QueryResult<Option<T>>,
    ) -> Result<Option<T>>
    where
        U: diesel::query_dsl::methods::ExecuteDsl<Self> + 'q,
        T: diesel::Selectable<Mysql> + 'q,
        crate::sql::WithReturning<U, diesel::helper_types::AsSelect<T, Mysql>>:
            diesel::query_dsl::LoadQuery<'q, Self, T>,
    {
        transaction::write(self, |conn| {
            if diesel::query_dsl::methods::ExecuteDsl::execute(update, conn)? == 0 {
                return Ok(None);
            }
            Ok(reread(conn)?)
        })
    }
}

/// MySQL's `DATETIME(6)`, to the microsecond, sent as diesel's `Timestamp`.
impl diesel::serialize::ToSql<Timestamp, Mysql> for DbTime {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, Mysql>,
    ) -> diesel::serialize::Result {
        diesel::serialize::ToSql::<Timestamp, Mysql>::to_sql(&self.0, out)
    }
}
