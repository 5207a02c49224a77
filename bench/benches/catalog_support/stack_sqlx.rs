//! The `sqlx-pg` stack (the `pg-peers` feature): sqlx 0.8 as its documentation writes
//! it, on bookshelf's PostgreSQL schema, sending bookshelf's statements
//! ([`crate::pg_statements`]) and decoding every column: a `PgPool`, `query_as` with a
//! tuple per row (statements prepared and cached per connection, sqlx's default),
//! `pool.begin_with(..)` for the eager load's snapshot, each operation driven by a tokio
//! current-thread runtime of the stack's own (`block_on`, outside the timed region only
//! the runtime's start).
//!
//! One setting differs from sqlx's defaults: `test_before_acquire(false)`. By default a
//! pool pings each connection it hands out (a round trip before every query here);
//! bookshelf and the diesel stacks' r2d2 pools have that check off, so it is off here
//! too. The two-thread op runs on a two-worker runtime with a pool of its own (a pool's
//! connections belong to the runtime that opened them), each task holding one pooled
//! connection. TLS as the URL's `sslmode` asks, through native-tls (OpenSSL here); like
//! libpq's `require`, sqlx's does not verify the certificate.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use sqlx_core::pool::PoolOptions;
use sqlx_core::query_as::query_as;
use sqlx_postgres::{PgPool, Postgres};
use tokio::runtime::Runtime;

use crate::pg_statements as sql;
use crate::workload::{AuthorRec, BenchResult, BookRec, Folded, Shelf, Stack, PAGE_SIZE};

/// A row of bookshelf's five author columns.
type AuthorRow = (i64, String, i64, NaiveDateTime, NaiveDateTime);
/// A row of bookshelf's eight book columns.
type BookRow = (
    i64,
    String,
    i64,
    Option<String>,
    Option<i32>,
    i64,
    NaiveDateTime,
    NaiveDateTime,
);

fn author_rec(row: AuthorRow) -> AuthorRec {
    let (id, name, version, created, updated) = row;
    std::hint::black_box((version, created, updated));
    AuthorRec { id, name }
}

fn book_rec(row: BookRow) -> BookRec {
    let (id, title, author_id, isbn, year, version, created, updated) = row;
    std::hint::black_box((isbn, year, version, created, updated));
    BookRec {
        id,
        title,
        author_id,
    }
}

fn book_recs(rows: Vec<BookRow>) -> Vec<BookRec> {
    rows.into_iter().map(book_rec).collect()
}

/// A pool on `url` with `size` connections at most, on the runtime it is built in.
async fn pool(url: &str, size: u32) -> Result<PgPool, sqlx_core::Error> {
    PoolOptions::<Postgres>::new()
        .max_connections(size)
        .test_before_acquire(false)
        .connect(url)
        .await
}

pub struct SqlxStack {
    runtime: Runtime,
    pool: PgPool,
    url: String,
    statements: u64,
}

impl SqlxStack {
    /// Creates bookshelf's schema at `url` and opens the pool.
    pub fn open(url: &str) -> BenchResult<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let pool = runtime.block_on(async {
            let pool = pool(url, 10).await?;
            for migration in sql::SCHEMA {
                sqlx_core::raw_sql::raw_sql(migration)
                    .execute(&pool)
                    .await?;
            }
            Ok::<_, sqlx_core::Error>(pool)
        })?;
        Ok(Self {
            runtime,
            pool,
            url: url.to_owned(),
            statements: 0,
        })
    }
}

impl Stack for SqlxStack {
    fn queries(&self) -> Option<u64> {
        Some(self.statements)
    }

    fn connection_security(&mut self) -> BenchResult<Option<String>> {
        let (ssl, version): (bool, Option<String>) = self
            .runtime
            .block_on(query_as(sql::TLS_QUERY).fetch_one(&self.pool))?;
        Ok(Some(sql::describe_tls(ssl, version.as_deref())))
    }

    fn insert_authors_bulk(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<AuthorRec>>)> {
        let start = Instant::now();
        let (ids, now): (Vec<i64>, NaiveDateTime) = self.runtime.block_on(
            query_as(sql::INSERT_AUTHORS)
                .bind(names)
                .fetch_one(&self.pool),
        )?;
        std::hint::black_box(now);
        let created: Vec<AuthorRec> = ids
            .into_iter()
            .zip(names)
            .map(|(id, name)| AuthorRec {
                id,
                name: name.clone(),
            })
            .collect();
        let elapsed = start.elapsed();
        self.statements += 1;
        Ok((elapsed, Some(created)))
    }

    fn insert_books_bulk(
        &mut self,
        books: &[(i64, String)],
    ) -> BenchResult<(Duration, Option<Vec<BookRec>>)> {
        let start = Instant::now();
        let author_ids: Vec<i64> = books.iter().map(|(author_id, _)| *author_id).collect();
        let titles: Vec<&str> = books.iter().map(|(_, title)| title.as_str()).collect();
        let isbns: Vec<Option<&str>> = vec![None; books.len()];
        let years: Vec<Option<i32>> = vec![None; books.len()];
        let (ids, now): (Vec<i64>, NaiveDateTime) = self.runtime.block_on(
            query_as(sql::INSERT_BOOKS)
                .bind(&author_ids)
                .bind(&titles)
                .bind(&isbns)
                .bind(&years)
                .fetch_one(&self.pool),
        )?;
        std::hint::black_box(now);
        let created: Vec<BookRec> = ids
            .into_iter()
            .zip(books)
            .map(|(id, (author_id, title))| BookRec {
                id,
                title: title.clone(),
                author_id: *author_id,
            })
            .collect();
        let elapsed = start.elapsed();
        self.statements += 1;
        Ok((elapsed, Some(created)))
    }

    fn insert_author_single(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<i64>>)> {
        let start = Instant::now();
        let ids = self.runtime.block_on(async {
            let mut ids = Vec::with_capacity(names.len());
            for name in names {
                let created: Vec<AuthorRow> = query_as(sql::INSERT_AUTHOR)
                    .bind(name)
                    .fetch_all(&self.pool)
                    .await?;
                ids.extend(created.into_iter().map(|row| author_rec(row).id));
            }
            Ok::<_, sqlx_core::Error>(ids)
        })?;
        let elapsed = start.elapsed();
        self.statements += names.len() as u64;
        Ok((elapsed, Some(ids)))
    }

    fn get_author_by_id(&mut self, ids: &[i64]) -> BenchResult<(Duration, Vec<Option<AuthorRec>>)> {
        let start = Instant::now();
        let found = self.runtime.block_on(async {
            let mut found = Vec::with_capacity(ids.len());
            for &id in ids {
                let row: Option<AuthorRow> = query_as(sql::AUTHOR_BY_ID)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                found.push(row.map(author_rec));
            }
            Ok::<_, sqlx_core::Error>(found)
        })?;
        let elapsed = start.elapsed();
        self.statements += ids.len() as u64;
        Ok((elapsed, found))
    }

    fn books_by_author_ordered(
        &mut self,
        author_ids: &[i64],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let start = Instant::now();
        let found = self.runtime.block_on(async {
            let mut found = Vec::with_capacity(author_ids.len());
            for &id in author_ids {
                let rows: Vec<BookRow> = query_as(sql::BOOKS_BY_AUTHOR)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                found.push(book_recs(rows));
            }
            Ok::<_, sqlx_core::Error>(found)
        })?;
        let elapsed = start.elapsed();
        self.statements += author_ids.len() as u64;
        Ok((elapsed, found))
    }

    fn find_book_by_title(
        &mut self,
        titles: &[String],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let start = Instant::now();
        let found = self.runtime.block_on(async {
            let mut found = Vec::with_capacity(titles.len());
            for title in titles {
                let rows: Vec<BookRow> = query_as(sql::BOOKS_BY_TITLE)
                    .bind(title)
                    .fetch_all(&self.pool)
                    .await?;
                found.push(book_recs(rows));
            }
            Ok::<_, sqlx_core::Error>(found)
        })?;
        let elapsed = start.elapsed();
        self.statements += titles.len() as u64;
        Ok((elapsed, found))
    }

    fn authors_with_books_eager(&mut self) -> BenchResult<(Duration, Shelf)> {
        let start = Instant::now();
        let shelf = self.runtime.block_on(async {
            let mut tx = self.pool.begin_with(sql::BEGIN_SNAPSHOT).await?;
            let authors: Vec<AuthorRow> = query_as(sql::AUTHORS_AFTER)
                .bind(0_i64)
                .fetch_all(&mut *tx)
                .await?;
            let books: Vec<BookRow> = query_as(sql::ALL_BOOKS).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx_core::Error>((authors, books))
        })?;
        let (authors, books) = shelf;
        let mut shelf: Shelf = authors
            .into_iter()
            .map(|row| (author_rec(row), Vec::new()))
            .collect();
        let mut at = 0;
        for row in books {
            let book = book_rec(row);
            if shelf.get(at).map(|(author, _)| author.id) != Some(book.author_id) {
                at = shelf
                    .binary_search_by_key(&book.author_id, |(author, _)| author.id)
                    .map_err(|_| format!("book {} has no author", book.id))?;
            }
            shelf[at].1.push(book);
        }
        for (_, books) in &mut shelf {
            books.sort_by(|a, b| a.title.cmp(&b.title));
        }
        let elapsed = start.elapsed();
        self.statements += 2;
        Ok((elapsed, shelf))
    }

    fn books_page_keyset(&mut self) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let start = Instant::now();
        let pages = self.runtime.block_on(async {
            let mut pages = Vec::new();
            let mut last = 0_i64;
            loop {
                let rows: Vec<BookRow> = query_as(sql::BOOKS_PAGE)
                    .bind(last)
                    .fetch_all(&self.pool)
                    .await?;
                let page = book_recs(rows);
                let full = page.len() == PAGE_SIZE;
                if let Some(book) = page.last() {
                    last = book.id;
                }
                pages.push(page);
                if !full {
                    break;
                }
            }
            Ok::<_, sqlx_core::Error>(pages)
        })?;
        let elapsed = start.elapsed();
        self.statements += pages.len() as u64;
        Ok((elapsed, pages))
    }

    fn update_author_name(&mut self, renames: &[(i64, String)]) -> BenchResult<(Duration, u64)> {
        let start = Instant::now();
        let renamed = self.runtime.block_on(async {
            let mut renamed = 0;
            for (id, name) in renames {
                let rows: Vec<AuthorRow> = query_as(sql::RENAME_AUTHOR)
                    .bind(name)
                    .bind(1_i64)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                renamed += rows.into_iter().map(author_rec).count() as u64;
            }
            Ok::<_, sqlx_core::Error>(renamed)
        })?;
        let elapsed = start.elapsed();
        self.statements += renames.len() as u64;
        Ok((elapsed, renamed))
    }

    fn delete_author_cascade(&mut self, ids: &[i64]) -> BenchResult<(Duration, u64)> {
        let start = Instant::now();
        let deleted = self.runtime.block_on(async {
            let mut deleted = 0;
            for &id in ids {
                deleted += sqlx_core::query::query(sql::DELETE_AUTHOR)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
            }
            Ok::<_, sqlx_core::Error>(deleted)
        })?;
        let elapsed = start.elapsed();
        self.statements += ids.len() as u64;
        Ok((elapsed, deleted))
    }

    fn concurrent_get_author(
        &mut self,
        draws: [&[i64]; 2],
        run: Duration,
    ) -> BenchResult<(Duration, [Folded; 2])> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let draws = [draws[0].to_vec(), draws[1].to_vec()];
        let outcome = runtime.block_on(async {
            let pool = pool(&self.url, 2).await?;
            // Both connections open before either task starts.
            let conns = [pool.acquire().await?, pool.acquire().await?];
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
            let tasks: Vec<_> = conns
                .into_iter()
                .zip(draws)
                .map(|(mut conn, draws)| {
                    let barrier = std::sync::Arc::clone(&barrier);
                    tokio::spawn(async move {
                        let mut folded = Folded::default();
                        let mut next = draws.iter().cycle();
                        barrier.wait().await;
                        let start = Instant::now();
                        while start.elapsed() < run {
                            for &id in next.by_ref().take(16) {
                                let row: Option<AuthorRow> = query_as(sql::AUTHOR_BY_ID)
                                    .bind(id)
                                    .fetch_optional(&mut *conn)
                                    .await?;
                                let author = row.map(author_rec);
                                folded.add(id, author.as_ref().map(|a| (a.id, a.name.as_str())));
                            }
                        }
                        Ok::<_, sqlx_core::Error>((start.elapsed(), folded))
                    })
                })
                .collect();
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.map_err(|_| "a lookup task failed")??);
            }
            pool.close().await;
            Ok::<_, crate::workload::BoxError>(results)
        })?;
        let [(t0, f0), (t1, f1)]: [(Duration, Folded); 2] = outcome
            .try_into()
            .map_err(|_| "expected two lookup tasks")?;
        self.statements += f0.lookups + f1.lookups;
        Ok((t0.max(t1), [f0, f1]))
    }

    fn search_books_fulltext(
        &mut self,
        words: &[String],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let start = Instant::now();
        let found = self.runtime.block_on(async {
            let mut found = Vec::with_capacity(words.len());
            for word in words {
                let rows: Vec<BookRow> = query_as(sql::FULLTEXT)
                    .bind(word)
                    .bind(word)
                    .fetch_all(&self.pool)
                    .await?;
                found.push(book_recs(rows));
            }
            Ok::<_, sqlx_core::Error>(found)
        })?;
        let elapsed = start.elapsed();
        self.statements += words.len() as u64;
        Ok((elapsed, found))
    }
}
