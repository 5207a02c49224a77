//! The checks after each operation, outside the timed region. Writes are checked by
//! reading the whole database back on a connection of the harness's own, so that a
//! stack never vouches for itself; reads are checked against the [`Model`].

use std::time::Duration;

use rusqlite::Connection;

use crate::database::Database;
use crate::workload::{check_same, AuthorRec, BenchResult, BookRec, Model, Shelf, PAGE_SIZE};

/// A connection of the harness's own to a stack's database.
pub enum Verifier {
    Sqlite(Connection),
    #[cfg(feature = "postgres")]
    Postgres(diesel::pg::PgConnection),
    #[cfg(feature = "mysql")]
    Mysql(diesel::mysql::MysqlConnection),
}

impl Verifier {
    /// Opens `db` read-only; for SQLite, checks that the stack switched it to WAL, for
    /// a server, that the stack's tables are in the run's own schema or database.
    pub fn open(db: &Database) -> BenchResult<Self> {
        match db {
            Database::Sqlite { path, .. } => {
                let conn = Connection::open(path)?;
                conn.busy_timeout(Duration::from_secs(5))?;
                conn.pragma_update(None, "query_only", true)?;
                let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(format!("journal_mode is {mode:?}, expected wal").into());
                }
                Ok(Self::Sqlite(conn))
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(scratch) => Ok(Self::Postgres(server::open_postgres(scratch)?)),
            #[cfg(feature = "mysql")]
            Database::Mysql(scratch) => Ok(Self::Mysql(server::open_mysql(scratch)?)),
        }
    }

    /// Every author and every book, by id, and the number of books without an author.
    fn dump(&mut self) -> BenchResult<(Vec<AuthorRec>, Vec<BookRec>, i64)> {
        let conn = match self {
            Self::Sqlite(conn) => conn,
            #[cfg(feature = "postgres")]
            Self::Postgres(conn) => return server::dump(conn),
            #[cfg(feature = "mysql")]
            Self::Mysql(conn) => return server::dump(conn),
        };
        let authors = conn
            .prepare(AUTHORS)?
            .query_map([], |row| {
                Ok(AuthorRec {
                    id: row.get(0)?,
                    name: row.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let books = conn
            .prepare(BOOKS)?
            .query_map([], |row| {
                Ok(BookRec {
                    id: row.get(0)?,
                    title: row.get(1)?,
                    author_id: row.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let orphans: i64 = conn.query_row(ORPHANS, [], |row| row.get(0))?;
        Ok((authors, books, orphans))
    }

    /// Fails unless the database holds exactly what the model says, and no book has
    /// lost its author.
    pub fn matches(&mut self, model: &Model) -> BenchResult<()> {
        let (authors, books, orphans) = self.dump()?;
        check_same("authors table", &authors, &model.all_authors())?;
        check_same("books table", &books, &model.all_books())?;
        if orphans != 0 {
            return Err(format!("{orphans} books without an author").into());
        }
        Ok(())
    }
}

/// Every author, by id; the same SQL on every backend.
const AUTHORS: &str = "SELECT id, name FROM authors ORDER BY id";
/// Every book, by id.
const BOOKS: &str = "SELECT id, title, author_id FROM books ORDER BY id";
/// Books whose author is gone.
const ORPHANS: &str =
    "SELECT count(*) AS n FROM books WHERE author_id NOT IN (SELECT id FROM authors)";

/// The server backends' verifiers: diesel connections, set up for each server, that
/// read the database with the same queries.
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod server {
    use diesel::connection::{LoadConnection, SimpleConnection};
    use diesel::prelude::*;
    use diesel::query_builder::{QueryFragment, SqlQuery};
    use diesel::sql_types::{BigInt, Nullable, Text};

    use crate::workload::{AuthorRec, BenchResult, BookRec};

    #[derive(QueryableByName)]
    pub(super) struct AuthorRow {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        name: String,
    }

    #[derive(QueryableByName)]
    pub(super) struct BookRow {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        title: String,
        #[diesel(sql_type = BigInt)]
        author_id: i64,
    }

    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Nullable<Text>)]
        name: Option<String>,
    }

    #[derive(QueryableByName)]
    pub(super) struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// Fails unless the session works in `expected` (its current schema or database,
    /// `current`) and both of the stack's tables (`tables` of them found there) are in it.
    fn check_place(
        what: &str,
        expected: &str,
        current: Option<String>,
        tables: i64,
    ) -> BenchResult<()> {
        if current.as_deref() != Some(expected) || tables != 2 {
            return Err(format!(
                "the stack's tables are not in {what} {expected} (current {what} \
                 {current:?}, {tables} of its 2 tables there)"
            )
            .into());
        }
        Ok(())
    }

    /// A read-only session in the run's schema.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(
        scratch: &crate::database::pg::Scratch,
    ) -> BenchResult<diesel::pg::PgConnection> {
        let mut conn = diesel::pg::PgConnection::establish(&scratch.url)?;
        conn.batch_execute("SET default_transaction_read_only = on")?;
        // The URL's search_path took effect, and the stack created its tables there
        // (and nowhere else on the search path).
        let tables: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_tables \
             WHERE schemaname = current_schema() AND tablename IN ('authors', 'books')",
        )
        .get_result(&mut conn)?;
        let current: Name =
            diesel::sql_query("SELECT current_schema()::text AS name").get_result(&mut conn)?;
        check_place("schema", &scratch.schema, current.name, tables.n)?;
        Ok(conn)
    }

    /// A read-only session in the run's database.
    #[cfg(feature = "mysql")]
    pub fn open_mysql(
        scratch: &crate::mysql_server::Scratch,
    ) -> BenchResult<diesel::mysql::MysqlConnection> {
        let mut conn = diesel::mysql::MysqlConnection::establish(&scratch.url)?;
        // Every transaction of the session, each autocommit statement included.
        conn.batch_execute("SET SESSION TRANSACTION READ ONLY")?;
        let tables: Count = diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name IN ('authors', 'books')",
        )
        .get_result(&mut conn)?;
        let current: Name = diesel::sql_query("SELECT DATABASE() AS name").get_result(&mut conn)?;
        check_place("database", &scratch.database, current.name, tables.n)?;
        Ok(conn)
    }

    /// Every author and every book, by id, and the number of books without an author.
    pub fn dump<C>(conn: &mut C) -> BenchResult<(Vec<AuthorRec>, Vec<BookRec>, i64)>
    where
        C: LoadConnection,
        C::Backend: 'static,
        SqlQuery: QueryFragment<C::Backend>,
        AuthorRow: QueryableByName<C::Backend>,
        BookRow: QueryableByName<C::Backend>,
        Count: QueryableByName<C::Backend>,
    {
        let authors: Vec<AuthorRow> = diesel::sql_query(super::AUTHORS).load(conn)?;
        let books: Vec<BookRow> = diesel::sql_query(super::BOOKS).load(conn)?;
        let orphans: Count = diesel::sql_query(super::ORPHANS).get_result(conn)?;
        Ok((
            authors
                .into_iter()
                .map(|row| AuthorRec {
                    id: row.id,
                    name: row.name,
                })
                .collect(),
            books
                .into_iter()
                .map(|row| BookRec {
                    id: row.id,
                    title: row.title,
                    author_id: row.author_id,
                })
                .collect(),
            orphans.n,
        ))
    }
}

/// Point lookups: each found exactly the author the model has.
pub fn lookups(model: &Model, ids: &[i64], got: &[Option<AuthorRec>]) -> BenchResult<()> {
    let expected: Vec<_> = ids.iter().map(|&id| model.author(id)).collect();
    check_same("author lookups", got, &expected)
}

/// Books of authors: each list is the author's ten books by title.
pub fn books_by_author(model: &Model, ids: &[i64], got: &[Vec<BookRec>]) -> BenchResult<()> {
    let expected: Vec<_> = ids.iter().map(|&id| model.books_of(id)).collect();
    check_same("books by author", got, &expected)
}

/// Title lookups: each found exactly the drawn book.
pub fn titles(model: &Model, book_ids: &[i64], got: &[Vec<BookRec>]) -> BenchResult<()> {
    let expected: Vec<Vec<BookRec>> = book_ids
        .iter()
        .map(|&k| model.book(k).into_iter().collect())
        .collect();
    check_same("books by title", got, &expected)
}

/// Full-text searches for an author's number: each found exactly that author's books
/// (none for a deleted one), in id order (their titles rank alike, ties go by id).
pub fn fulltext(model: &Model, author_ids: &[i64], got: &[Vec<BookRec>]) -> BenchResult<()> {
    let expected: Vec<Vec<BookRec>> = author_ids
        .iter()
        .map(|&id| {
            let mut books = model.books_of(id);
            books.sort_by_key(|book| book.id);
            books
        })
        .collect();
    check_same("full-text searches", got, &expected)
}

/// The eager load: every author once, each with exactly their books. The workload
/// fixes no order, so both are sorted by id first.
pub fn eager(model: &Model, mut got: Shelf) -> BenchResult<()> {
    got.sort_by_key(|(author, _)| author.id);
    for (_, books) in &mut got {
        books.sort_by_key(|book| book.id);
    }
    let expected: Vec<_> = model
        .all_authors()
        .into_iter()
        .map(|author| {
            let books = model.books_of(author.id);
            (author, books)
        })
        .collect();
    check_same("authors with books", &got, &expected)
}

/// Keyset pages: full pages up to one short (or empty) last page, together every book
/// in id order.
pub fn pages(model: &Model, pages: &[Vec<BookRec>]) -> BenchResult<()> {
    let Some((last, full)) = pages.split_last() else {
        return Err("no page was read".into());
    };
    if let Some(index) = full.iter().position(|page| page.len() != PAGE_SIZE) {
        return Err(format!("page {index} has {} books", pages[index].len()).into());
    }
    if last.len() >= PAGE_SIZE {
        return Err("the walk stopped on a full page".into());
    }
    let all: Vec<BookRec> = pages.iter().flatten().cloned().collect();
    check_same("keyset walk", &all, &model.all_books())
}
