//! The `bookshelf`, `bookshelf-pg` and `bookshelf-mysql` stacks: the crate's public API
//! only, called the way an application would, one [`Repository`] opened with its
//! defaults on the URL of the run's database: an SQLite file, a PostgreSQL server URL
//! (`bookshelf-pg`) or a MySQL one (`bookshelf-mysql`). The code is the same for all
//! three; only the URL differs.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use bookshelf::{
    Author, AuthorId, Book, BookFilter, BookId, Config, NewAuthor, NewBook, Page, Repository,
};

use crate::workload::{AuthorRec, BenchResult, BookRec, Folded, Shelf, Stack, PAGE_SIZE};

/// The environment variable that opens SQLite files `process_exclusive`.
const PROCESS_EXCLUSIVE_VAR: &str = "BOOKSHELF_BENCH_PROCESS_EXCLUSIVE";

/// The environment variable setting `Config::page_cache_size` (bytes) on SQLite files, so
/// that page cache sizes can be compared in one build (see docs/benchmarks.md).
const PAGE_CACHE_SIZE_VAR: &str = "BOOKSHELF_BENCH_PAGE_CACHE_SIZE";

/// The environment variable setting `Config::mmap_size` (bytes) on SQLite files.
const MMAP_SIZE_VAR: &str = "BOOKSHELF_BENCH_MMAP_SIZE";

/// The environment variable naming a streaming standby of the PostgreSQL server (its
/// base URL, as `BOOKSHELF_TEST_POSTGRES_URL` names the primary): `bookshelf-pg` then
/// opens it as a read replica.
const READ_REPLICA_VAR: &str = "BOOKSHELF_BENCH_READ_REPLICA";

pub struct BookshelfStack {
    repo: Repository,
}

impl BookshelfStack {
    /// Opens the repository at `url` (a file path, or a `postgres://` or `mysql://`
    /// URL).
    ///
    /// With `BOOKSHELF_BENCH_PROCESS_EXCLUSIVE=1` in the environment, an SQLite file is
    /// opened with `Config::process_exclusive(true)` instead of the defaults: the
    /// experiment measuring SQLite's `unix-excl` VFS (see docs/benchmarks.md).
    /// `BOOKSHELF_BENCH_PAGE_CACHE_SIZE` and `BOOKSHELF_BENCH_MMAP_SIZE` (bytes) replace
    /// the defaults of `Config::page_cache_size` and `Config::mmap_size` on SQLite.
    pub fn open(url: &str) -> BenchResult<Self> {
        // The run's SQLite databases are files in a temporary directory; a server's
        // URL names its scheme.
        let sqlite = !url.contains("://");
        let exclusive =
            std::env::var_os(PROCESS_EXCLUSIVE_VAR).is_some_and(|value| value == "1") && sqlite;
        if exclusive {
            eprintln!("   bookshelf: Config::process_exclusive(true) ({PROCESS_EXCLUSIVE_VAR}=1)");
        }
        let mut config = Config::new(url).process_exclusive(exclusive);
        if sqlite {
            if let Some(bytes) = bytes_var(PAGE_CACHE_SIZE_VAR)? {
                eprintln!("   bookshelf: Config::page_cache_size({bytes}) ({PAGE_CACHE_SIZE_VAR})");
                config = config.page_cache_size(bytes);
            }
            if let Some(bytes) = bytes_var(MMAP_SIZE_VAR)? {
                eprintln!("   bookshelf: Config::mmap_size({bytes}) ({MMAP_SIZE_VAR})");
                config = config.mmap_size(bytes);
            }
        }
        if let Some(replica) = replica_url(url)? {
            eprintln!("   bookshelf: read replica {replica} ({READ_REPLICA_VAR})");
            config = config.read_replica(replica);
        }
        Ok(Self {
            repo: config.open()?,
        })
    }
}

/// The number of bytes the environment variable `name` holds, if it is set.
fn bytes_var(name: &str) -> BenchResult<Option<u64>> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(
            value
                .parse()
                .map_err(|error| format!("{name}={value}: {error}"))?,
        )),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(error) => Err(format!("{name}: {error}").into()),
    }
}

/// The replica's URL for the run's database at `url` (the same schema, on the standby
/// that [`READ_REPLICA_VAR`] names), when the variable is set and `url` is the
/// primary's.
fn replica_url(url: &str) -> BenchResult<Option<String>> {
    let Ok(replica) = std::env::var(READ_REPLICA_VAR) else {
        return Ok(None);
    };
    if !url.starts_with("postgres") {
        return Ok(None);
    }
    let primary = crate::database::postgres_base_url()?;
    let schema_part = url
        .strip_prefix(primary.as_str())
        .ok_or_else(|| format!("{url} is not on {primary}"))?;
    Ok(Some(format!("{replica}{schema_part}")))
}

fn author_rec(author: Author) -> AuthorRec {
    AuthorRec {
        id: author.id.0,
        name: author.name,
    }
}

fn book_rec(book: Book) -> BookRec {
    BookRec {
        id: book.id.0,
        title: book.title,
        author_id: book.author_id.0,
    }
}

fn book_recs(books: Vec<Book>) -> Vec<BookRec> {
    books.into_iter().map(book_rec).collect()
}

impl Stack for BookshelfStack {
    fn queries(&self) -> Option<u64> {
        Some(self.repo.stats().statements)
    }

    fn connection_security(&mut self) -> BenchResult<Option<String>> {
        Ok(self.repo.with_connection(|raw| match raw {
            #[cfg(feature = "postgres")]
            bookshelf::RawConnection::Postgres(conn) => {
                crate::database::pg::connection_security(conn).map(Some)
            }
            #[cfg(feature = "mysql")]
            bookshelf::RawConnection::Mysql(conn) => {
                crate::mysql_server::connection_security(conn).map(Some)
            }
            _ => Ok(None),
        })?)
    }

    fn insert_authors_bulk(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<AuthorRec>>)> {
        let start = Instant::now();
        let new: Vec<NewAuthor> = names
            .iter()
            .map(|name| NewAuthor::new(name.as_str()))
            .collect();
        let created = self.repo.create_authors(&new)?;
        let elapsed = start.elapsed();
        Ok((elapsed, Some(created.into_iter().map(author_rec).collect())))
    }

    fn insert_books_bulk(
        &mut self,
        books: &[(i64, String)],
    ) -> BenchResult<(Duration, Option<Vec<BookRec>>)> {
        let start = Instant::now();
        let new: Vec<NewBook> = books
            .iter()
            .map(|(author_id, title)| NewBook::new(AuthorId(*author_id), title.as_str()))
            .collect();
        let created = self.repo.create_books(&new)?;
        let elapsed = start.elapsed();
        Ok((elapsed, Some(book_recs(created))))
    }

    fn insert_author_single(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<i64>>)> {
        let mut ids = Vec::with_capacity(names.len());
        let start = Instant::now();
        for name in names {
            ids.push(
                self.repo
                    .create_author(&NewAuthor::new(name.as_str()))?
                    .id
                    .0,
            );
        }
        Ok((start.elapsed(), Some(ids)))
    }

    fn get_author_by_id(&mut self, ids: &[i64]) -> BenchResult<(Duration, Vec<Option<AuthorRec>>)> {
        let mut found = Vec::with_capacity(ids.len());
        let start = Instant::now();
        for &id in ids {
            found.push(self.repo.author(AuthorId(id))?);
        }
        let elapsed = start.elapsed();
        Ok((
            elapsed,
            found.into_iter().map(|a| a.map(author_rec)).collect(),
        ))
    }

    fn books_by_author_ordered(
        &mut self,
        author_ids: &[i64],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let mut found = Vec::with_capacity(author_ids.len());
        let start = Instant::now();
        for &id in author_ids {
            found.push(self.repo.books_by_author(AuthorId(id))?);
        }
        let elapsed = start.elapsed();
        Ok((elapsed, found.into_iter().map(book_recs).collect()))
    }

    fn find_book_by_title(
        &mut self,
        titles: &[String],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let mut found = Vec::with_capacity(titles.len());
        let start = Instant::now();
        for title in titles {
            found.push(self.repo.books_by_title(title)?);
        }
        let elapsed = start.elapsed();
        Ok((elapsed, found.into_iter().map(book_recs).collect()))
    }

    fn authors_with_books_eager(&mut self) -> BenchResult<(Duration, Shelf)> {
        let start = Instant::now();
        let shelf = self.repo.authors_with_books(Page::all())?;
        let elapsed = start.elapsed();
        let shelf = shelf
            .into_iter()
            .map(|entry| (author_rec(entry.author), book_recs(entry.books)))
            .collect();
        Ok((elapsed, shelf))
    }

    fn books_page_keyset(&mut self) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let limit = u32::try_from(PAGE_SIZE)?;
        let mut pages = Vec::new();
        let start = Instant::now();
        let mut last = BookId(0);
        loop {
            let page = self.repo.list_books(Page::after(last, limit))?;
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
        Ok((elapsed, pages.into_iter().map(book_recs).collect()))
    }

    fn update_author_name(&mut self, renames: &[(i64, String)]) -> BenchResult<(Duration, u64)> {
        let mut renamed = 0;
        let start = Instant::now();
        for (id, name) in renames {
            self.repo.rename_author(AuthorId(*id), name)?;
            renamed += 1;
        }
        Ok((start.elapsed(), renamed))
    }

    fn delete_author_cascade(&mut self, ids: &[i64]) -> BenchResult<(Duration, u64)> {
        let mut deleted = 0;
        let start = Instant::now();
        for &id in ids {
            self.repo.delete_author(AuthorId(id))?;
            deleted += 1;
        }
        Ok((start.elapsed(), deleted))
    }

    fn concurrent_get_author(
        &mut self,
        draws: [&[i64]; 2],
        run: Duration,
    ) -> BenchResult<(Duration, [Folded; 2])> {
        let barrier = Barrier::new(2);
        let lookups = |repo: Repository, draws: &[i64]| -> BenchResult<(Duration, Folded)> {
            let mut folded = Folded::default();
            let mut next = draws.iter().cycle();
            barrier.wait();
            let start = Instant::now();
            while start.elapsed() < run {
                for &id in next.by_ref().take(16) {
                    let author = repo.author(AuthorId(id))?;
                    folded.add(id, author.as_ref().map(|a| (a.id.0, a.name.as_str())));
                }
            }
            Ok((start.elapsed(), folded))
        };
        let (first, second) = std::thread::scope(|scope| {
            let repo = self.repo.clone();
            let other = scope.spawn(|| lookups(repo, draws[1]));
            let first = lookups(self.repo.clone(), draws[0]);
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
            found.push(
                self.repo
                    .search_books(&BookFilter::new().matching(word.as_str()))?,
            );
        }
        let elapsed = start.elapsed();
        Ok((elapsed, found.into_iter().map(book_recs).collect()))
    }
}
