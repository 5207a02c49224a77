//! The `rusqlite` stack: raw SQL written for speed, the practical limit of SQLite from
//! Rust. Cached prepared statements (`prepare_cached` on every call, as an application
//! function would), bulk inserts through one reused 256-row `INSERT .. VALUES` inside
//! `BEGIN IMMEDIATE`, a literal `LIMIT`, one connection (two for the two-thread op).
//! Statements are counted by hand: one per execution.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};

use crate::workload::{AuthorRec, BenchResult, BookRec, Folded, Shelf, Stack, PAGE_SIZE};

/// The workload's schema, exactly.
const SCHEMA: &str = "
    CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE books (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE
    );
    CREATE INDEX books_title_idx ON books (title);
    CREATE INDEX books_author_id_idx ON books (author_id);
";

/// Rows per bulk `INSERT` statement.
const BULK_ROWS: usize = 256;
const INSERT_AUTHORS: &str = "INSERT INTO authors (name) VALUES ";
const INSERT_BOOKS: &str = "INSERT INTO books (title, author_id) VALUES ";
const INSERT_AUTHOR: &str = "INSERT INTO authors (name) VALUES (?1)";
const AUTHOR_BY_ID: &str = "SELECT id, name FROM authors WHERE id = ?1";
const BOOKS_BY_AUTHOR: &str =
    "SELECT id, title, author_id FROM books WHERE author_id = ?1 ORDER BY title";
const BOOKS_BY_TITLE: &str = "SELECT id, title, author_id FROM books WHERE title = ?1";
const ALL_AUTHORS: &str = "SELECT id, name FROM authors ORDER BY id";
const ALL_BOOKS: &str = "SELECT id, title, author_id FROM books";
const RENAME_AUTHOR: &str = "UPDATE authors SET name = ?1 WHERE id = ?2";
const DELETE_AUTHOR: &str = "DELETE FROM authors WHERE id = ?1";

pub struct RusqliteStack {
    conn: Connection,
    path: PathBuf,
    statements: u64,
    bulk_authors_sql: String,
    bulk_books_sql: String,
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

fn author_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<AuthorRec>> {
    conn.prepare_cached(AUTHOR_BY_ID)?
        .query_row([id], author_row)
        .optional()
}

impl RusqliteStack {
    pub fn open(path: &Path) -> BenchResult<Self> {
        let conn = connect(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("journal_mode is {mode}").into());
        }
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn,
            path: path.to_owned(),
            statements: 0,
            bulk_authors_sql: bulk_sql(INSERT_AUTHORS, 1, BULK_ROWS),
            bulk_books_sql: bulk_sql(INSERT_BOOKS, 2, BULK_ROWS),
            page_sql: format!(
                "SELECT id, title, author_id FROM books WHERE id > ?1 ORDER BY id LIMIT {PAGE_SIZE}"
            ),
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
        let mut chunks = names.chunks_exact(BULK_ROWS);
        {
            let mut stmt = tx.prepare_cached(&self.bulk_authors_sql)?;
            for chunk in &mut chunks {
                for (index, name) in chunk.iter().enumerate() {
                    stmt.raw_bind_parameter(index + 1, name.as_str())?;
                }
                stmt.raw_execute()?;
                self.statements += 1;
            }
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut stmt = tx.prepare(&bulk_sql(INSERT_AUTHORS, 1, rest.len()))?;
            for (index, name) in rest.iter().enumerate() {
                stmt.raw_bind_parameter(index + 1, name.as_str())?;
            }
            stmt.raw_execute()?;
            self.statements += 1;
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
        let mut chunks = books.chunks_exact(BULK_ROWS);
        {
            let mut stmt = tx.prepare_cached(&self.bulk_books_sql)?;
            for chunk in &mut chunks {
                for (index, (author_id, title)) in chunk.iter().enumerate() {
                    stmt.raw_bind_parameter(2 * index + 1, title.as_str())?;
                    stmt.raw_bind_parameter(2 * index + 2, *author_id)?;
                }
                stmt.raw_execute()?;
                self.statements += 1;
            }
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut stmt = tx.prepare(&bulk_sql(INSERT_BOOKS, 2, rest.len()))?;
            for (index, (author_id, title)) in rest.iter().enumerate() {
                stmt.raw_bind_parameter(2 * index + 1, title.as_str())?;
                stmt.raw_bind_parameter(2 * index + 2, *author_id)?;
            }
            stmt.raw_execute()?;
            self.statements += 1;
        }
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
            self.conn.prepare_cached(INSERT_AUTHOR)?.execute([name])?;
            ids.push(self.conn.last_insert_rowid());
        }
        self.statements += names.len() as u64;
        Ok((start.elapsed(), Some(ids)))
    }

    fn get_author_by_id(&mut self, ids: &[i64]) -> BenchResult<(Duration, Vec<Option<AuthorRec>>)> {
        let mut found = Vec::with_capacity(ids.len());
        let start = Instant::now();
        for &id in ids {
            found.push(author_by_id(&self.conn, id)?);
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
                    .prepare_cached(BOOKS_BY_AUTHOR)?
                    .query_map([id], book_row)?
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
                    .prepare_cached(BOOKS_BY_TITLE)?
                    .query_map([title], book_row)?
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
            .prepare_cached(ALL_AUTHORS)?
            .query_map([], |row| Ok((author_row(row)?, Vec::new())))?
            .collect::<Result<_, _>>()?;
        {
            // A scan in rowid order, with no index and no sort; each book finds its author
            // in the id-ordered list, by a binary search when the author changes.
            let mut stmt = tx.prepare_cached(ALL_BOOKS)?;
            let mut rows = stmt.query([])?;
            let mut at = 0;
            while let Some(row) = rows.next()? {
                let book = book_row(row)?;
                if shelf.get(at).map(|(author, _)| author.id) != Some(book.author_id) {
                    at = shelf
                        .binary_search_by_key(&book.author_id, |(author, _)| author.id)
                        .map_err(|_| format!("book {} has no author", book.id))?;
                }
                shelf[at].1.push(book);
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
                .query_map([last], book_row)?
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
            renamed += self
                .conn
                .prepare_cached(RENAME_AUTHOR)?
                .execute((name, id))? as u64;
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
        let lookups = |conn: Connection, draws: &[i64]| -> BenchResult<(Duration, Folded)> {
            let mut folded = Folded::default();
            let mut next = draws.iter().cycle();
            barrier.wait();
            let start = Instant::now();
            while start.elapsed() < run {
                for &id in next.by_ref().take(16) {
                    let author = author_by_id(&conn, id)?;
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
}
