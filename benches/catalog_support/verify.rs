//! The checks after each operation, outside the timed region. Writes are checked by
//! reading the whole database file back on a connection of the harness's own, so that a
//! stack never vouches for itself; reads are checked against the [`Model`].

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::workload::{check_same, AuthorRec, BenchResult, BookRec, Model, Shelf, PAGE_SIZE};

/// A connection of the harness's own to a stack's database file.
pub struct Verifier {
    conn: Connection,
}

impl Verifier {
    /// Opens `path`, and checks that the stack switched it to WAL.
    pub fn open(path: &Path) -> BenchResult<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", true)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("journal_mode is {mode:?}, expected wal").into());
        }
        Ok(Self { conn })
    }

    /// Every author and every book, by id.
    fn dump(&self) -> BenchResult<(Vec<AuthorRec>, Vec<BookRec>)> {
        let authors = self
            .conn
            .prepare("SELECT id, name FROM authors ORDER BY id")?
            .query_map([], |row| {
                Ok(AuthorRec {
                    id: row.get(0)?,
                    name: row.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let books = self
            .conn
            .prepare("SELECT id, title, author_id FROM books ORDER BY id")?
            .query_map([], |row| {
                Ok(BookRec {
                    id: row.get(0)?,
                    title: row.get(1)?,
                    author_id: row.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok((authors, books))
    }

    /// Fails unless the database holds exactly what the model says, and no book has
    /// lost its author.
    pub fn matches(&self, model: &Model) -> BenchResult<()> {
        let (authors, books) = self.dump()?;
        check_same("authors table", &authors, &model.all_authors())?;
        check_same("books table", &books, &model.all_books())?;
        let orphans: i64 = self.conn.query_row(
            "SELECT count(*) FROM books WHERE author_id NOT IN (SELECT id FROM authors)",
            [],
            |row| row.get(0),
        )?;
        if orphans != 0 {
            return Err(format!("{orphans} books without an author").into());
        }
        Ok(())
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
