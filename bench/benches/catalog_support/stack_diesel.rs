//! The `diesel`, `diesel-pg` and `diesel-mysql` stacks: plain, idiomatic Diesel on an
//! r2d2 pool, as its documentation and examples write it, with no repository layer, on
//! SQLite ([`SqliteConnection`]), on PostgreSQL (`PgConnection`, with the `postgres`
//! feature) and on MySQL or MariaDB (`MysqlConnection`, with the `mysql` feature). Each
//! operation call checks out a connection (as a request handler would), the same as
//! `bookshelf` does, so that the difference between the two is the repository itself.
//!
//! It runs on bookshelf's own schema, created by bookshelf's SQL migrations for the
//! backend applied with plain `diesel_migrations` (`embed_migrations!` +
//! `run_pending_migrations`); its models read every column (a book's eight, an author's
//! five: the version and times too, as bookshelf returns them) and its inserts write the
//! five a book is given, so that bookshelf against diesel compares the code, not the
//! schemas or the rows. Its
//! models are derived with diesel's default options. The default `Insertable` derive
//! (`treat_none_as_default_value = true`) makes every field, `Option` or not, a value
//! that may be `DEFAULT`; SQLite has no `DEFAULT` keyword in `VALUES`, so diesel inserts
//! a slice of such rows on SQLite one row per statement, inside a savepoint, for authors
//! and books alike. That is what plain diesel does, and it is kept: the bulk inserts
//! below send one `INSERT` per row on SQLite. PostgreSQL and MySQL have the keyword, and
//! there the same code sends one multi-row `INSERT` per chunk.
//!
//! The writes use `execute` and read nothing back, on every backend: the workload asks
//! for no returned rows (the harness checks every write on its own connection), so a
//! plain diesel user would not ask for them; this is also why MySQL's lack of
//! `RETURNING` changes nothing here. (bookshelf's API returns the rows it writes, and
//! pays for that on MySQL with a read in the write's transaction.)
//!
//! Each operation is written once, in [`diesel_stack!`], and compiled for each
//! connection type: diesel's query types need a `LoadQuery`/`ExecuteDsl` bound per query
//! to be written generically, which would triple the code for nothing. What differs by
//! backend (migrations, bind limit, session set-up, the full-text query) is in
//! [`DieselBackend`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, R2D2Connection};
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::workload::{AuthorRec, BenchResult, BookRec, Folded, Shelf, Stack, PAGE_SIZE};

// bookshelf's own generated schema module: the same tables the migrations below create.
use bookshelf::schema::{authors, books};

/// What differs between the backends plain diesel runs on here.
pub trait DieselBackend:
    Connection + R2D2Connection + MigrationHarness<Self::Backend> + Send + 'static
{
    /// bookshelf's migrations for the backend (the same files the crate embeds),
    /// applied the plain `diesel_migrations` way.
    const MIGRATIONS: EmbeddedMigrations;
    /// The most bound values one statement may carry.
    const MAX_BINDS: usize;
    /// The most authors one `belonging_to` query may name.
    const BELONGING_TO_AUTHORS: usize;

    /// The books whose titles hold `word`, best first (ties by id), on bookshelf's
    /// full-text index: SQL written by hand, as a plain diesel user would
    /// (`sql_query`), with the word bound.
    fn search_titles(conn: &mut Self, word: &str) -> QueryResult<Vec<Book>>;

    /// Settings persistent in the database, set once on a new one.
    fn prepare_database(conn: &mut Self) -> QueryResult<()>;

    /// Settings of each pooled connection.
    fn session(conn: &mut Self) -> QueryResult<()>;

    /// Whether `conn` is encrypted (a server); `None` on SQLite.
    fn connection_security(conn: &mut Self) -> QueryResult<Option<String>>;
}

impl DieselBackend for SqliteConnection {
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
    /// SQLITE_MAX_VARIABLE_NUMBER's default.
    const MAX_BINDS: usize = 32_766;
    /// `belonging_to` binds one value per author.
    const BELONGING_TO_AUTHORS: usize = Self::MAX_BINDS;

    /// The word as an FTS5 string, so that it is never syntax.
    fn search_titles(conn: &mut Self, word: &str) -> QueryResult<Vec<Book>> {
        diesel::sql_query(
            "SELECT books.id, books.title, books.author_id, books.isbn, books.published_year, \
             books.version, books.created_at, books.updated_at \
             FROM books JOIN books_fts ON books_fts.rowid = books.id \
             WHERE books_fts MATCH ?1 ORDER BY books_fts.rank, books.id",
        )
        .bind::<Text, _>(format!("\"{}\"", word.replace('"', "\"\"")))
        .load(conn)
    }

    fn prepare_database(conn: &mut Self) -> QueryResult<()> {
        conn.batch_execute("PRAGMA journal_mode = WAL;")
    }

    fn session(conn: &mut Self) -> QueryResult<()> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
        )
    }

    fn connection_security(_: &mut Self) -> QueryResult<Option<String>> {
        Ok(None)
    }
}

#[cfg(feature = "postgres")]
impl DieselBackend for diesel::pg::PgConnection {
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
    /// The wire protocol's limit: a 16-bit parameter count.
    const MAX_BINDS: usize = 65_535;
    /// `belonging_to` binds the ids as one array (`= ANY($1)`): no limit.
    const BELONGING_TO_AUTHORS: usize = usize::MAX;

    fn search_titles(conn: &mut Self, word: &str) -> QueryResult<Vec<Book>> {
        diesel::sql_query(
            "SELECT id, title, author_id, isbn, published_year, version, created_at, \
             updated_at FROM books \
             WHERE title_search @@ plainto_tsquery('bookshelf_search', $1) \
             ORDER BY ts_rank(title_search, plainto_tsquery('bookshelf_search', $1)) DESC, id",
        )
        .bind::<Text, _>(word)
        .load(conn)
    }

    fn prepare_database(_: &mut Self) -> QueryResult<()> {
        Ok(())
    }

    fn session(_: &mut Self) -> QueryResult<()> {
        Ok(())
    }

    fn connection_security(conn: &mut Self) -> QueryResult<Option<String>> {
        crate::database::pg::connection_security(conn).map(Some)
    }
}

#[cfg(feature = "mysql")]
impl DieselBackend for diesel::mysql::MysqlConnection {
    const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/mysql");
    /// The protocol's limit: a prepared statement's placeholder count is 16 bits.
    const MAX_BINDS: usize = 65_535;
    /// `belonging_to` binds one value per author (`IN (?, ?, ..)`).
    const BELONGING_TO_AUTHORS: usize = Self::MAX_BINDS;

    /// InnoDB's `FULLTEXT` index on bookshelf's `title_search` column, in boolean mode
    /// with the word as one required phrase (`+"word"`, so that nothing in it is an
    /// operator), as bookshelf's MySQL search sends it; ranked by the same `MATCH`
    /// (relevance, larger is better). A `?` is one value, so the query is bound twice.
    fn search_titles(conn: &mut Self, word: &str) -> QueryResult<Vec<Book>> {
        let query = format!("+\"{}\"", word.replace('"', " "));
        diesel::sql_query(
            "SELECT id, title, author_id, isbn, published_year, version, created_at, \
             updated_at FROM books \
             WHERE MATCH (title_search) AGAINST (? IN BOOLEAN MODE) \
             ORDER BY MATCH (title_search) AGAINST (? IN BOOLEAN MODE) DESC, id",
        )
        .bind::<Text, _>(&query)
        .bind::<Text, _>(&query)
        .load(conn)
    }

    fn prepare_database(_: &mut Self) -> QueryResult<()> {
        Ok(())
    }

    /// diesel's own set-up on connecting is what plain diesel runs with (UTC,
    /// utf8mb4).
    fn session(_: &mut Self) -> QueryResult<()> {
        Ok(())
    }

    fn connection_security(conn: &mut Self) -> QueryResult<Option<String>> {
        crate::mysql_server::connection_security(conn).map(Some)
    }
}

/// An author row, every column (as `SELECT *` would read it, and as bookshelf returns it).
#[derive(Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = authors)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
#[cfg_attr(feature = "postgres", diesel(check_for_backend(diesel::pg::Pg)))]
#[cfg_attr(feature = "mysql", diesel(check_for_backend(diesel::mysql::Mysql)))]
struct Author {
    id: i64,
    name: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A book row, every column, read whole: the five the workload writes, and the version
/// and times the schema's defaults and triggers keep (bookshelf returns them too, so
/// that both stacks decode the same rows).
#[derive(Debug, Queryable, QueryableByName, Selectable, Identifiable, Associations)]
#[diesel(table_name = books)]
#[diesel(belongs_to(Author))]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
#[cfg_attr(feature = "postgres", diesel(check_for_backend(diesel::pg::Pg)))]
#[cfg_attr(feature = "mysql", diesel(check_for_backend(diesel::mysql::Mysql)))]
pub struct Book {
    id: i64,
    title: String,
    author_id: i64,
    isbn: Option<String>,
    published_year: Option<i32>,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A new book, its five written columns (id included); the schema fills in the rest.
#[derive(Debug, Insertable)]
#[diesel(table_name = books)]
struct NewBook {
    id: i64,
    title: String,
    author_id: i64,
    isbn: Option<String>,
    published_year: Option<i32>,
}

#[derive(Insertable)]
#[diesel(table_name = authors)]
struct NewAuthor<'a> {
    name: &'a str,
}

/// Per-connection set-up: the session settings, and a statement counter.
#[derive(Debug)]
struct Setup {
    statements: Arc<AtomicU64>,
}

impl<C: DieselBackend> CustomizeConnection<C, diesel::r2d2::Error> for Setup {
    fn on_acquire(&self, conn: &mut C) -> Result<(), diesel::r2d2::Error> {
        C::session(conn).map_err(diesel::r2d2::Error::QueryError)?;
        let statements = Arc::clone(&self.statements);
        // Diesel announces BEGIN, COMMIT and ROLLBACK with an event of their own right
        // before the StartQuery of their SQL; those are not data statements.
        let mut control_next = false;
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::BeginTransaction { .. }
            | InstrumentationEvent::CommitTransaction { .. }
            | InstrumentationEvent::RollbackTransaction { .. } => control_next = true,
            InstrumentationEvent::StartQuery { .. } if !std::mem::take(&mut control_next) => {
                statements.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        });
        Ok(())
    }
}

/// Plain diesel on a pool of `C` connections.
pub struct DieselStack<C: DieselBackend> {
    pool: Pool<ConnectionManager<C>>,
    statements: Arc<AtomicU64>,
}

impl<C: DieselBackend> DieselStack<C> {
    /// Migrates the database at `url` (a file path or a `postgres://` URL) and opens a
    /// pool on it.
    pub fn open(url: &str) -> BenchResult<Self> {
        {
            let mut conn = C::establish(url)?;
            C::prepare_database(&mut conn)?;
            conn.run_pending_migrations(C::MIGRATIONS)?;
        }
        let statements = Arc::new(AtomicU64::new(0));
        let pool = Pool::builder()
            .max_size(10)
            // r2d2 would otherwise send `SELECT 1` on every checkout; bookshelf turns that
            // off too, so that the two stacks differ only by the repository.
            .test_on_check_out(false)
            .connection_customizer(Box::new(Setup {
                statements: Arc::clone(&statements),
            }))
            .build(ConnectionManager::<C>::new(url))?;
        Ok(Self { pool, statements })
    }
}

/// That a row's version and times are what the schema keeps: a version from 1, and an
/// update no earlier than the creation.
fn check_kept(
    what: &str,
    id: i64,
    version: i64,
    created: NaiveDateTime,
    updated: NaiveDateTime,
) -> BenchResult<()> {
    if version < 1 || updated < created {
        return Err(format!(
            "{what} {id}: version {version}, created {created}, updated {updated}"
        )
        .into());
    }
    Ok(())
}

/// The common record of an author, after checking its version and times.
fn author_rec(author: Author) -> BenchResult<AuthorRec> {
    check_kept(
        "author",
        author.id,
        author.version,
        author.created_at,
        author.updated_at,
    )?;
    Ok(AuthorRec {
        id: author.id,
        name: author.name,
    })
}

/// The common record of a book, after checking the two columns the workload never
/// sets (they must read back as NULL), its version and its times.
fn book_rec(book: Book) -> BenchResult<BookRec> {
    if book.isbn.is_some() || book.published_year.is_some() {
        return Err(format!("book {} has an isbn or a year, expected NULLs", book.id).into());
    }
    check_kept(
        "book",
        book.id,
        book.version,
        book.created_at,
        book.updated_at,
    )?;
    Ok(BookRec {
        id: book.id,
        title: book.title,
        author_id: book.author_id,
    })
}

fn book_recs(books: Vec<Book>) -> BenchResult<Vec<BookRec>> {
    books.into_iter().map(book_rec).collect()
}

/// The operations, written once; `$conn` is the connection type.
macro_rules! diesel_stack {
    ($conn:ty) => {
        impl DieselStack<$conn> {
            fn author_by_id(
                pool: &Pool<ConnectionManager<$conn>>,
                id: i64,
            ) -> BenchResult<Option<Author>> {
                let mut conn = pool.get()?;
                Ok(authors::table
                    .find(id)
                    .select(Author::as_select())
                    .first(&mut conn)
                    .optional()?)
            }
        }

        impl Stack for DieselStack<$conn> {
            fn queries(&self) -> Option<u64> {
                Some(self.statements.load(Ordering::Relaxed))
            }

            fn connection_security(&mut self) -> BenchResult<Option<String>> {
                Ok(<$conn as DieselBackend>::connection_security(
                    &mut *self.pool.get()?,
                )?)
            }

            fn insert_authors_bulk(
                &mut self,
                names: &[String],
            ) -> BenchResult<(Duration, Option<Vec<AuthorRec>>)> {
                let start = Instant::now();
                let rows: Vec<NewAuthor<'_>> =
                    names.iter().map(|name| NewAuthor { name }).collect();
                let mut conn = self.pool.get()?;
                conn.transaction(|conn| {
                    for chunk in rows.chunks(<$conn>::MAX_BINDS) {
                        diesel::insert_into(authors::table)
                            .values(chunk)
                            .execute(conn)?;
                    }
                    Ok::<_, diesel::result::Error>(())
                })?;
                Ok((start.elapsed(), None))
            }

            fn insert_books_bulk(
                &mut self,
                books: &[(i64, String)],
            ) -> BenchResult<(Duration, Option<Vec<BookRec>>)> {
                let start = Instant::now();
                // The workload numbers books 1.. in this order, on an empty table.
                let rows: Vec<NewBook> = books
                    .iter()
                    .zip(1..)
                    .map(|((author_id, title), id)| NewBook {
                        id,
                        title: title.clone(),
                        author_id: *author_id,
                        isbn: None,
                        published_year: None,
                    })
                    .collect();
                let mut conn = self.pool.get()?;
                conn.transaction(|conn| {
                    // Chunked under the bind limit at five binds a row, as one would write it
                    // for a multi-row `INSERT`; on SQLite, with the default derive, diesel sends
                    // each row of a chunk as its own statement anyway (see the module
                    // documentation).
                    for chunk in rows.chunks(<$conn>::MAX_BINDS / 5) {
                        diesel::insert_into(books::table)
                            .values(chunk)
                            .execute(conn)?;
                    }
                    Ok::<_, diesel::result::Error>(())
                })?;
                Ok((start.elapsed(), None))
            }

            fn insert_author_single(
                &mut self,
                names: &[String],
            ) -> BenchResult<(Duration, Option<Vec<i64>>)> {
                let start = Instant::now();
                for name in names {
                    let mut conn = self.pool.get()?;
                    diesel::insert_into(authors::table)
                        .values(&NewAuthor { name })
                        .execute(&mut conn)?;
                }
                Ok((start.elapsed(), None))
            }

            fn get_author_by_id(
                &mut self,
                ids: &[i64],
            ) -> BenchResult<(Duration, Vec<Option<AuthorRec>>)> {
                let mut found = Vec::with_capacity(ids.len());
                let start = Instant::now();
                for &id in ids {
                    found.push(Self::author_by_id(&self.pool, id)?);
                }
                let elapsed = start.elapsed();
                let found = found
                    .into_iter()
                    .map(|author| author.map(author_rec).transpose())
                    .collect::<BenchResult<_>>()?;
                Ok((elapsed, found))
            }

            fn books_by_author_ordered(
                &mut self,
                author_ids: &[i64],
            ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
                let mut found = Vec::with_capacity(author_ids.len());
                let start = Instant::now();
                for &id in author_ids {
                    let mut conn = self.pool.get()?;
                    found.push(
                        books::table
                            .filter(books::author_id.eq(id))
                            .order(books::title)
                            .select(Book::as_select())
                            .load(&mut conn)?,
                    );
                }
                let elapsed = start.elapsed();
                let found = found
                    .into_iter()
                    .map(book_recs)
                    .collect::<BenchResult<_>>()?;
                Ok((elapsed, found))
            }

            fn find_book_by_title(
                &mut self,
                titles: &[String],
            ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
                let mut found = Vec::with_capacity(titles.len());
                let start = Instant::now();
                for title in titles {
                    let mut conn = self.pool.get()?;
                    found.push(
                        books::table
                            .filter(books::title.eq(title))
                            .select(Book::as_select())
                            .load(&mut conn)?,
                    );
                }
                let elapsed = start.elapsed();
                let found = found
                    .into_iter()
                    .map(book_recs)
                    .collect::<BenchResult<_>>()?;
                Ok((elapsed, found))
            }

            fn authors_with_books_eager(&mut self) -> BenchResult<(Duration, Shelf)> {
                let start = Instant::now();
                let mut conn = self.pool.get()?;
                let all_authors: Vec<Author> =
                    authors::table.select(Author::as_select()).load(&mut conn)?;
                // On SQLite `belonging_to` binds one value per author: chunked under the bind
                // limit, so this is two queries up to 32,766 authors and one more per 32,766
                // after that. On PostgreSQL it binds one array: one chunk, two queries.
                let mut shelf = Vec::with_capacity(all_authors.len());
                for chunk in all_authors.chunks(<$conn>::BELONGING_TO_AUTHORS) {
                    let chunk_books: Vec<Book> = Book::belonging_to(chunk)
                        .select(Book::as_select())
                        .load(&mut conn)?;
                    shelf.extend(chunk_books.grouped_by(chunk));
                }
                let shelf: Vec<(Author, Vec<Book>)> = all_authors.into_iter().zip(shelf).collect();
                let elapsed = start.elapsed();
                let shelf = shelf
                    .into_iter()
                    .map(|(author, books)| Ok((author_rec(author)?, book_recs(books)?)))
                    .collect::<BenchResult<_>>()?;
                Ok((elapsed, shelf))
            }

            fn books_page_keyset(&mut self) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
                let limit = i64::try_from(PAGE_SIZE)?;
                let mut pages = Vec::new();
                let start = Instant::now();
                let mut last = 0;
                loop {
                    let mut conn = self.pool.get()?;
                    let page: Vec<Book> = books::table
                        .filter(books::id.gt(last))
                        .order(books::id)
                        .limit(limit)
                        .select(Book::as_select())
                        .load(&mut conn)?;
                    let full = page.len() == PAGE_SIZE;
                    if let Some(book) = page.last() {
                        last = book.id;
                    }
                    pages.push(page);
                    if !full {
                        break;
                    }
                }
                let elapsed = start.elapsed();
                let pages = pages
                    .into_iter()
                    .map(book_recs)
                    .collect::<BenchResult<_>>()?;
                Ok((elapsed, pages))
            }

            fn update_author_name(
                &mut self,
                renames: &[(i64, String)],
            ) -> BenchResult<(Duration, u64)> {
                let mut renamed = 0;
                let start = Instant::now();
                for (id, name) in renames {
                    let mut conn = self.pool.get()?;
                    renamed += diesel::update(authors::table.find(id))
                        .set(authors::name.eq(name))
                        .execute(&mut conn)? as u64;
                }
                Ok((start.elapsed(), renamed))
            }

            fn delete_author_cascade(&mut self, ids: &[i64]) -> BenchResult<(Duration, u64)> {
                let mut deleted = 0;
                let start = Instant::now();
                for &id in ids {
                    let mut conn = self.pool.get()?;
                    deleted += diesel::delete(authors::table.find(id)).execute(&mut conn)? as u64;
                }
                Ok((start.elapsed(), deleted))
            }

            fn concurrent_get_author(
                &mut self,
                draws: [&[i64]; 2],
                run: Duration,
            ) -> BenchResult<(Duration, [Folded; 2])> {
                let barrier = Barrier::new(2);
                let lookups = |pool: &Pool<ConnectionManager<$conn>>,
                               draws: &[i64]|
                 -> BenchResult<(Duration, Folded)> {
                    let mut folded = Folded::default();
                    let mut next = draws.iter().cycle();
                    barrier.wait();
                    let start = Instant::now();
                    while start.elapsed() < run {
                        for &id in next.by_ref().take(16) {
                            let author = Self::author_by_id(pool, id)?;
                            folded.add(id, author.as_ref().map(|a| (a.id, a.name.as_str())));
                        }
                    }
                    Ok((start.elapsed(), folded))
                };
                let pool = &self.pool;
                let (first, second) = std::thread::scope(|scope| {
                    let other = scope.spawn(|| lookups(pool, draws[1]));
                    let first = lookups(pool, draws[0]);
                    let second = other.join().map_err(|_| "a lookup thread panicked");
                    (first, second)
                });
                let (first, second) = (first?, second??);
                Ok((first.0.max(second.0), [first.1, second.1]))
            }

            fn search_books_fulltext(
                &mut self,
                words: &[String],
            ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
                let mut found = Vec::with_capacity(words.len());
                let start = Instant::now();
                for word in words {
                    let mut conn = self.pool.get()?;
                    found.push(<$conn as DieselBackend>::search_titles(&mut conn, word)?);
                }
                let elapsed = start.elapsed();
                let found = found
                    .into_iter()
                    .map(book_recs)
                    .collect::<BenchResult<_>>()?;
                Ok((elapsed, found))
            }
        }
    };
}

diesel_stack!(SqliteConnection);
#[cfg(feature = "postgres")]
diesel_stack!(diesel::pg::PgConnection);
#[cfg(feature = "mysql")]
diesel_stack!(diesel::mysql::MysqlConnection);
