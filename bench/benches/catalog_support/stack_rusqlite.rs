//! The raw SQLite stacks, on rusqlite: one connection (two for the two-thread op),
//! cached prepared statements (`prepare_cached` on every call, as an application
//! function would), bulk inserts inside `BEGIN IMMEDIATE`, a literal `LIMIT`.
//! Statements are counted by hand: one per execution. Two schemas:
//!
//! - `rusqlite` ([`Schema::Workload`]): raw SQL written for speed on the workload's own
//!   schema, the practical limit: three book columns, no CHECK constraints, bulk inserts
//!   through one reused 256-row `INSERT .. VALUES`.
//! - `rusqlite-bs` ([`Schema::Bookshelf`]): bookshelf's schema (its SQLite migrations:
//!   CHECK constraints, eight book columns with the version and times, AUTOINCREMENT,
//!   its indexes, the full-text index and the triggers that keep it and the versions),
//!   sending exactly the statements bookshelf sends (its SQL echo lists them) and
//!   decoding every column it decodes, the times parsed as bookshelf parses them. The
//!   difference between bookshelf and this stack is the library's own cost; between
//!   this stack and `rusqlite`, the schema's.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};

use crate::workload::{AuthorRec, BenchResult, BookRec, Folded, Shelf, Stack, PAGE_SIZE};

/// The schema a raw stack runs on, which decides the statements it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// The workload's schema, exactly, with the statements an expert writes for it.
    Workload,
    /// bookshelf's schema, with bookshelf's statements.
    Bookshelf,
}

/// The workload's schema, exactly, with the full-text index `search_books_fulltext`
/// needs: an FTS5 table over the titles, kept in step by triggers (as bookshelf's is).
const WORKLOAD_SCHEMA: &str = "
    CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE books (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE
    );
    CREATE INDEX books_title_idx ON books (title);
    CREATE INDEX books_author_id_idx ON books (author_id);
    CREATE VIRTUAL TABLE books_fts USING fts5(
        title, content = 'books', content_rowid = 'id',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER books_fts_insert AFTER INSERT ON books BEGIN
        INSERT INTO books_fts (rowid, title) VALUES (NEW.id, NEW.title);
    END;
    CREATE TRIGGER books_fts_delete AFTER DELETE ON books BEGIN
        INSERT INTO books_fts (books_fts, rowid, title) VALUES ('delete', OLD.id, OLD.title);
    END;
    CREATE TRIGGER books_fts_update AFTER UPDATE OF id, title ON books BEGIN
        INSERT INTO books_fts (books_fts, rowid, title) VALUES ('delete', OLD.id, OLD.title);
        INSERT INTO books_fts (rowid, title) VALUES (NEW.id, NEW.title);
    END;
";

/// bookshelf's SQLite migrations, in order.
const BOOKSHELF_SCHEMA: [&str; 3] = [
    include_str!("../../../migrations/sqlite/2026-11-24-000001_create_authors_and_books/up.sql"),
    include_str!("../../../migrations/sqlite/2026-11-24-000002_add_isbn_year_and_indexes/up.sql"),
    include_str!("../../../migrations/sqlite/2026-12-02-000003_versions_timestamps_search/up.sql"),
];

/// The environment variable that gives the `rusqlite` stack's tables AUTOINCREMENT ids.
const AUTOINCREMENT_VAR: &str = "BOOKSHELF_BENCH_AUTOINCREMENT";

/// Rows per bulk `INSERT .. VALUES` statement.
const BULK_ROWS: usize = 256;
/// Names per bulk insert of authors as bookshelf sends them: one JSON array each.
const JSON_ROWS: usize = 4096;
const INSERT_AUTHOR: &str = "INSERT INTO authors (name) VALUES (?1)";
const RENAME_AUTHOR: &str = "UPDATE authors SET name = ?1 WHERE id = ?2";
/// bookshelf's clock: SQLite's, to the millisecond.
const CLOCK: &str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";
const DELETE_AUTHOR: &str = "DELETE FROM authors WHERE id = ?1";

/// The statements that differ between the schemas.
struct Statements {
    /// An author by id, and how its rows decode.
    author_by_id: &'static str,
    author_row: fn(&Row<'_>) -> rusqlite::Result<AuthorRec>,
    /// The head of a multi-row book insert, and its columns per row.
    insert_books: &'static str,
    book_columns: usize,
    books_by_author: &'static str,
    books_by_title: &'static str,
    all_authors: &'static str,
    all_books: &'static str,
    /// The keyset page query, without its literal `LIMIT`.
    page: &'static str,
    /// The full-text search of one FTS5 query, best first.
    fulltext: &'static str,
    /// Decodes a row of the book queries.
    book_row: fn(&Row<'_>) -> rusqlite::Result<BookRec>,
}

const WORKLOAD_STATEMENTS: Statements = Statements {
    author_by_id: "SELECT id, name FROM authors WHERE id = ?1",
    author_row,
    insert_books: "INSERT INTO books (title, author_id) VALUES ",
    book_columns: 2,
    books_by_author: "SELECT id, title, author_id FROM books WHERE author_id = ?1 ORDER BY title",
    books_by_title: "SELECT id, title, author_id FROM books WHERE title = ?1",
    all_authors: "SELECT id, name FROM authors ORDER BY id",
    all_books: "SELECT id, title, author_id FROM books",
    page: "SELECT id, title, author_id FROM books WHERE id > ?1 ORDER BY id",
    fulltext: "SELECT b.id, b.title, b.author_id FROM books_fts f JOIN books b ON b.id = f.rowid \
               WHERE books_fts MATCH ?1 ORDER BY f.rank, b.id",
    book_row,
};

const BOOKSHELF_STATEMENTS: Statements = Statements {
    author_by_id: "SELECT id, name, version, created_at, updated_at FROM authors WHERE id = ?1",
    author_row: full_author_row,
    insert_books: "INSERT INTO books (author_id, title, isbn, published_year, created_at, \
                   updated_at) VALUES ",
    book_columns: 6,
    books_by_author: "SELECT id, title, author_id, isbn, published_year, version, created_at, \
                      updated_at FROM books WHERE author_id = ?1 ORDER BY title",
    books_by_title: "SELECT id, title, author_id, isbn, published_year, version, created_at, \
                     updated_at FROM books WHERE title = ?1 ORDER BY id",
    all_authors: "SELECT id, name, version, created_at, updated_at FROM authors \
                  WHERE id > 0 ORDER BY id",
    all_books: "SELECT id, title, author_id, isbn, published_year, version, created_at, \
                updated_at FROM books",
    page: "SELECT id, title, author_id, isbn, published_year, version, created_at, updated_at \
           FROM books WHERE id > ?1 ORDER BY id",
    fulltext: "SELECT `books`.`id`, `books`.`title`, `books`.`author_id`, `books`.`isbn`, \
               `books`.`published_year`, `books`.`version`, `books`.`created_at`, \
               `books`.`updated_at` FROM (`books` INNER JOIN `books_fts` \
               ON (`books_fts`.`rowid` = `books`.`id`)) WHERE (`books_fts` MATCH ?) \
               ORDER BY `books_fts`.`rank` ASC, `books`.`id` ASC",
    book_row: full_book_row,
};

pub struct RusqliteStack {
    conn: Connection,
    path: PathBuf,
    schema: Schema,
    sql: &'static Statements,
    statements: u64,
    /// The keyset page query, with the page size as a literal.
    page_sql: String,
}

/// `INSERT .. VALUES` with `rows` groups of `columns` parameters.
fn bulk_sql(head: &str, columns: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(","));
    format!("{head}{}", vec![group; rows].join(","))
}

/// A connection with the workload's settings.
fn connect(path: &Path) -> BenchResult<Connection> {
    let conn = Connection::open(path)?;
    // First, so that the rest waits for locks instead of failing.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

fn author_row(row: &Row<'_>) -> rusqlite::Result<AuthorRec> {
    Ok(AuthorRec {
        id: row.get(0)?,
        name: row.get(1)?,
    })
}

fn book_row(row: &Row<'_>) -> rusqlite::Result<BookRec> {
    Ok(BookRec {
        id: row.get(0)?,
        title: row.get(1)?,
        author_id: row.get(2)?,
    })
}

/// A time column, read as bookshelf reads its own text form
/// (`YYYY-MM-DD HH:MM:SS.SSS`, by position, into a chrono time).
fn time(row: &Row<'_>, at: usize) -> rusqlite::Result<chrono::NaiveDateTime> {
    let text: &str = row.get_ref(at)?.as_str()?;
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        bytes.get(from..to)?.iter().try_fold(0_u32, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let parsed = (|| {
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::try_from(number(0, 4)?).ok()?,
            number(5, 7)?,
            number(8, 10)?,
        )?;
        let time = chrono::NaiveTime::from_hms_milli_opt(
            number(11, 13)?,
            number(14, 16)?,
            number(17, 19)?,
            number(20, 23)?,
        )?;
        (bytes.len() == 23).then(|| chrono::NaiveDateTime::new(date, time))
    })();
    parsed.ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            at,
            rusqlite::types::Type::Text,
            format!("not a time: {text}").into(),
        )
    })
}

/// A row of bookshelf's five author columns, every one decoded as bookshelf decodes it.
fn full_author_row(row: &Row<'_>) -> rusqlite::Result<AuthorRec> {
    let author = author_row(row)?;
    let version: i64 = row.get(2)?;
    std::hint::black_box((version, time(row, 3)?, time(row, 4)?));
    Ok(author)
}

/// A row of bookshelf's eight book columns, every one decoded as bookshelf decodes it.
fn full_book_row(row: &Row<'_>) -> rusqlite::Result<BookRec> {
    let book = book_row(row)?;
    let isbn: Option<String> = row.get(3)?;
    let published_year: Option<i32> = row.get(4)?;
    let version: i64 = row.get(5)?;
    std::hint::black_box((isbn, published_year, version, time(row, 6)?, time(row, 7)?));
    Ok(book)
}

fn author_by_id(
    conn: &Connection,
    sql: &Statements,
    id: i64,
) -> rusqlite::Result<Option<AuthorRec>> {
    conn.prepare_cached(sql.author_by_id)?
        .query_row([id], sql.author_row)
        .optional()
}

/// What bookshelf reads before a bulk insert, to know the ids the rows will get (the
/// largest id in use or ever given, the tables being AUTOINCREMENT) and the time they
/// are created at: the clock's text, bound again as each row's times.
fn reserve(conn: &Connection, table: &str) -> rusqlite::Result<(i64, String)> {
    conn.prepare_cached(&format!(
        "SELECT max(coalesce((SELECT max(id) FROM {table}), 0), \
         coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0)), {CLOCK}"
    ))?
    .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
}

/// Runs the multi-row insert `head` once per `BULK_ROWS` rows (the last statement
/// shorter, prepared uncached), binding each row's `columns` values with `bind`;
/// returns the statements sent.
fn insert_values<T>(
    conn: &Connection,
    head: &str,
    columns: usize,
    rows: &[T],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> BenchResult<u64> {
    let mut sent = 0;
    for chunk in rows.chunks(BULK_ROWS) {
        let sql = bulk_sql(head, columns, chunk.len());
        // The full statement is cached; the shorter last one is not (nor is bookshelf's).
        let mut cached;
        let mut uncached;
        let stmt: &mut rusqlite::Statement<'_> = if chunk.len() == BULK_ROWS {
            cached = conn.prepare_cached(&sql)?;
            &mut cached
        } else {
            uncached = conn.prepare(&sql)?;
            &mut uncached
        };
        for (index, row) in chunk.iter().enumerate() {
            bind(stmt, columns * index, row)?;
        }
        stmt.raw_execute()?;
        sent += 1;
    }
    Ok(sent)
}

impl RusqliteStack {
    pub fn open(path: &Path, schema: Schema) -> BenchResult<Self> {
        let conn = connect(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("journal_mode is {mode}").into());
        }
        let sql = match schema {
            Schema::Workload => {
                // The experiment that measures what AUTOINCREMENT costs on its own (ids
                // never given twice, as bookshelf's migration 3 makes them): the same
                // schema with `INTEGER PRIMARY KEY AUTOINCREMENT` ids.
                let autoincrement = std::env::var_os(AUTOINCREMENT_VAR).is_some_and(|v| v == "1");
                if autoincrement {
                    eprintln!("   rusqlite: AUTOINCREMENT ids ({AUTOINCREMENT_VAR}=1)");
                    conn.execute_batch(&WORKLOAD_SCHEMA.replace(
                        "id INTEGER PRIMARY KEY,",
                        "id INTEGER PRIMARY KEY AUTOINCREMENT,",
                    ))?;
                } else {
                    conn.execute_batch(WORKLOAD_SCHEMA)?;
                }
                &WORKLOAD_STATEMENTS
            }
            Schema::Bookshelf => {
                for migration in BOOKSHELF_SCHEMA {
                    conn.execute_batch(migration)?;
                }
                &BOOKSHELF_STATEMENTS
            }
        };
        Ok(Self {
            conn,
            path: path.to_owned(),
            schema,
            sql,
            statements: 0,
            page_sql: format!("{} LIMIT {PAGE_SIZE}", sql.page),
        })
    }
}

impl Stack for RusqliteStack {
    fn queries(&self) -> Option<u64> {
        Some(self.statements)
    }

    fn insert_authors_bulk(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<AuthorRec>>)> {
        let start = Instant::now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        match self.schema {
            Schema::Workload => {
                self.statements += insert_values(
                    &tx,
                    "INSERT INTO authors (name) VALUES ",
                    1,
                    names,
                    |stmt, at, name| stmt.raw_bind_parameter(at + 1, name.as_str()),
                )?;
            }
            Schema::Bookshelf => {
                let (_, now) = reserve(&tx, "authors")?;
                self.statements += 1;
                for chunk in names.chunks(JSON_ROWS) {
                    let json = serde_json::to_string(chunk)?;
                    tx.prepare_cached(
                        "INSERT INTO authors (name, created_at, updated_at) \
                         SELECT value, ?1, ?2 FROM json_each(?3)",
                    )?
                    .execute((&now, &now, json))?;
                    self.statements += 1;
                }
            }
        }
        tx.commit()?;
        Ok((start.elapsed(), None))
    }

    fn insert_books_bulk(
        &mut self,
        books: &[(i64, String)],
    ) -> BenchResult<(Duration, Option<Vec<BookRec>>)> {
        let start = Instant::now();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        self.statements += match self.schema {
            Schema::Workload => insert_values(
                &tx,
                self.sql.insert_books,
                self.sql.book_columns,
                books,
                |stmt, at, (author_id, title)| {
                    stmt.raw_bind_parameter(at + 1, title.as_str())?;
                    stmt.raw_bind_parameter(at + 2, *author_id)
                },
            )?,
            Schema::Bookshelf => {
                let (_, now) = reserve(&tx, "books")?;
                1 + insert_values(
                    &tx,
                    self.sql.insert_books,
                    self.sql.book_columns,
                    books,
                    |stmt, at, (author_id, title)| {
                        stmt.raw_bind_parameter(at + 1, *author_id)?;
                        stmt.raw_bind_parameter(at + 2, title.as_str())?;
                        stmt.raw_bind_parameter(at + 3, rusqlite::types::Null)?;
                        stmt.raw_bind_parameter(at + 4, rusqlite::types::Null)?;
                        stmt.raw_bind_parameter(at + 5, now.as_str())?;
                        stmt.raw_bind_parameter(at + 6, now.as_str())
                    },
                )?
            }
        };
        tx.commit()?;
        Ok((start.elapsed(), None))
    }

    fn insert_author_single(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<i64>>)> {
        let mut ids = Vec::with_capacity(names.len());
        let start = Instant::now();
        for name in names {
            match self.schema {
                Schema::Workload => {
                    self.conn.prepare_cached(INSERT_AUTHOR)?.execute([name])?;
                    ids.push(self.conn.last_insert_rowid());
                }
                Schema::Bookshelf => {
                    // bookshelf returns the stored row, stepping the statement to its end.
                    let mut stmt = self.conn.prepare_cached(
                        "INSERT INTO authors (name) VALUES (?1) ON CONFLICT (id) DO NOTHING \
                         RETURNING id, name, version, created_at, updated_at",
                    )?;
                    let created = stmt
                        .query_map([name], full_author_row)?
                        .collect::<Result<Vec<_>, _>>()?;
                    ids.extend(created.iter().map(|author| author.id));
                }
            }
        }
        self.statements += names.len() as u64;
        Ok((start.elapsed(), Some(ids)))
    }

    fn get_author_by_id(&mut self, ids: &[i64]) -> BenchResult<(Duration, Vec<Option<AuthorRec>>)> {
        let mut found = Vec::with_capacity(ids.len());
        let start = Instant::now();
        for &id in ids {
            found.push(author_by_id(&self.conn, self.sql, id)?);
        }
        let elapsed = start.elapsed();
        self.statements += ids.len() as u64;
        Ok((elapsed, found))
    }

    fn books_by_author_ordered(
        &mut self,
        author_ids: &[i64],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let mut found = Vec::with_capacity(author_ids.len());
        let start = Instant::now();
        for &id in author_ids {
            found.push(
                self.conn
                    .prepare_cached(self.sql.books_by_author)?
                    .query_map([id], self.sql.book_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let elapsed = start.elapsed();
        self.statements += author_ids.len() as u64;
        Ok((elapsed, found))
    }

    fn find_book_by_title(
        &mut self,
        titles: &[String],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let mut found = Vec::with_capacity(titles.len());
        let start = Instant::now();
        for title in titles {
            found.push(
                self.conn
                    .prepare_cached(self.sql.books_by_title)?
                    .query_map([title], self.sql.book_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let elapsed = start.elapsed();
        self.statements += titles.len() as u64;
        Ok((elapsed, found))
    }

    fn authors_with_books_eager(&mut self) -> BenchResult<(Duration, Shelf)> {
        let start = Instant::now();
        // One read transaction, so that both queries see the same snapshot.
        let tx = self.conn.transaction()?;
        let mut shelf: Vec<(AuthorRec, Vec<BookRec>)> = tx
            .prepare_cached(self.sql.all_authors)?
            .query_map([], |row| Ok(((self.sql.author_row)(row)?, Vec::new())))?
            .collect::<Result<_, _>>()?;
        {
            // A scan in rowid order, with no index and no sort; each book finds its author
            // in the id-ordered list, by a binary search when the author changes.
            let mut stmt = tx.prepare_cached(self.sql.all_books)?;
            let mut rows = stmt.query([])?;
            let mut at = 0;
            while let Some(row) = rows.next()? {
                let book = (self.sql.book_row)(row)?;
                if shelf.get(at).map(|(author, _)| author.id) != Some(book.author_id) {
                    at = shelf
                        .binary_search_by_key(&book.author_id, |(author, _)| author.id)
                        .map_err(|_| format!("book {} has no author", book.id))?;
                }
                shelf[at].1.push(book);
            }
        }
        if self.schema == Schema::Bookshelf {
            // bookshelf gives each author's books in title order.
            for (_, books) in &mut shelf {
                books.sort_by(|a, b| a.title.cmp(&b.title));
            }
        }
        tx.commit()?;
        let elapsed = start.elapsed();
        self.statements += 2;
        Ok((elapsed, shelf))
    }

    fn books_page_keyset(&mut self) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let mut pages = Vec::new();
        let start = Instant::now();
        let mut last = 0;
        loop {
            let page = self
                .conn
                .prepare_cached(&self.page_sql)?
                .query_map([last], self.sql.book_row)?
                .collect::<Result<Vec<_>, _>>()?;
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
        self.statements += pages.len() as u64;
        Ok((elapsed, pages))
    }

    fn update_author_name(&mut self, renames: &[(i64, String)]) -> BenchResult<(Duration, u64)> {
        let mut renamed = 0;
        let start = Instant::now();
        for (id, name) in renames {
            renamed += match self.schema {
                Schema::Workload => self
                    .conn
                    .prepare_cached(RENAME_AUTHOR)?
                    .execute((name, id))? as u64,
                // bookshelf raises the version (diesel binds the 1), stamps the time, and
                // returns the row.
                Schema::Bookshelf => self
                    .conn
                    .prepare_cached(&format!(
                        "UPDATE authors SET name = ?1, version = (version + ?2), \
                         updated_at = {CLOCK} WHERE (id = ?3) \
                         RETURNING id, name, version, created_at, updated_at"
                    ))?
                    .query_map((name, 1_i64, id), full_author_row)?
                    .collect::<Result<Vec<_>, _>>()?
                    .len() as u64,
            };
        }
        let elapsed = start.elapsed();
        self.statements += renames.len() as u64;
        Ok((elapsed, renamed))
    }

    fn delete_author_cascade(&mut self, ids: &[i64]) -> BenchResult<(Duration, u64)> {
        let mut deleted = 0;
        let start = Instant::now();
        for &id in ids {
            deleted += self.conn.prepare_cached(DELETE_AUTHOR)?.execute([id])? as u64;
        }
        let elapsed = start.elapsed();
        self.statements += ids.len() as u64;
        Ok((elapsed, deleted))
    }

    fn concurrent_get_author(
        &mut self,
        draws: [&[i64]; 2],
        run: Duration,
    ) -> BenchResult<(Duration, [Folded; 2])> {
        let conns = [connect(&self.path)?, connect(&self.path)?];
        let barrier = Barrier::new(2);
        let sql = self.sql;
        let lookups = |conn: Connection, draws: &[i64]| -> BenchResult<(Duration, Folded)> {
            let mut folded = Folded::default();
            let mut next = draws.iter().cycle();
            barrier.wait();
            let start = Instant::now();
            while start.elapsed() < run {
                for &id in next.by_ref().take(16) {
                    let author = author_by_id(&conn, sql, id)?;
                    folded.add(id, author.as_ref().map(|a| (a.id, a.name.as_str())));
                }
            }
            Ok((start.elapsed(), folded))
        };
        let [conn0, conn1] = conns;
        let (first, second) = std::thread::scope(|scope| {
            let other = scope.spawn(|| lookups(conn1, draws[1]));
            let first = lookups(conn0, draws[0]);
            let second = other.join().map_err(|_| "a lookup thread panicked");
            (first, second)
        });
        let (first, second) = (first?, second??);
        self.statements += first.1.lookups + second.1.lookups;
        Ok((first.0.max(second.0), [first.1, second.1]))
    }

    fn search_books_fulltext(
        &mut self,
        words: &[String],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let mut found = Vec::with_capacity(words.len());
        let start = Instant::now();
        for word in words {
            // An FTS5 string, so that the word is never syntax (bookshelf's form).
            let query = format!("\"{}\"", word.replace('"', "\"\""));
            found.push(
                self.conn
                    .prepare_cached(self.sql.fulltext)?
                    .query_map([query], self.sql.book_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let elapsed = start.elapsed();
        self.statements += words.len() as u64;
        Ok((elapsed, found))
    }
}
