//! The `postgres-raw` stack (the `pg-peers` feature): the sync `postgres` client written
//! for speed, on bookshelf's PostgreSQL schema (its migrations), sending exactly
//! bookshelf's statements ([`crate::pg_statements`]) and decoding every column bookshelf
//! decodes (the times as chrono times). It is to bookshelf-pg what `rusqlite-bs` is to
//! bookshelf: the difference between the two is the library's own cost.
//!
//! For speed: one connection (two more for the two-thread op), every statement prepared
//! once when the stack opens and reused, autocommit wherever bookshelf sends one
//! statement. TLS as the URL's `sslmode` asks (`prefer`, the default, takes it when the
//! server offers it, as libpq does), through OpenSSL; like libpq's `require`, the
//! server's certificate is not verified.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use postgres::{Client, Row, Statement};

use crate::pg_statements as sql;
use crate::workload::{AuthorRec, BenchResult, BookRec, Folded, Shelf, Stack, PAGE_SIZE};

/// A client on `url`, with TLS where the URL's `sslmode` takes it.
pub fn connect(url: &str) -> BenchResult<Client> {
    let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())?;
    // `sslmode=require` encrypts without checking who answers, as libpq's does.
    tls.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let mut connector = postgres_openssl::MakeTlsConnector::new(tls.build());
    connector.set_callback(|config, _| {
        config.set_verify_hostname(false);
        Ok(())
    });
    Ok(Client::connect(url, connector)?)
}

/// The statements of one connection, prepared once.
struct Prepared {
    author_by_id: Statement,
}

impl Prepared {
    fn new(client: &mut Client) -> BenchResult<Self> {
        Ok(Self {
            author_by_id: client.prepare(sql::AUTHOR_BY_ID)?,
        })
    }
}

pub struct PostgresRawStack {
    client: Client,
    url: String,
    statements: u64,
    author_by_id: Statement,
    insert_authors: Statement,
    insert_books: Statement,
    insert_author: Statement,
    books_by_author: Statement,
    books_by_title: Statement,
    authors_after: Statement,
    all_books: Statement,
    books_page: Statement,
    rename: Statement,
    delete: Statement,
    fulltext: Statement,
}

/// A row of bookshelf's five author columns, every one decoded.
fn author_row(row: &Row) -> BenchResult<AuthorRec> {
    let author = AuthorRec {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
    };
    let version: i64 = row.try_get(2)?;
    let created: NaiveDateTime = row.try_get(3)?;
    let updated: NaiveDateTime = row.try_get(4)?;
    std::hint::black_box((version, created, updated));
    Ok(author)
}

/// A row of bookshelf's eight book columns, every one decoded.
fn book_row(row: &Row) -> BenchResult<BookRec> {
    let book = BookRec {
        id: row.try_get(0)?,
        title: row.try_get(1)?,
        author_id: row.try_get(2)?,
    };
    let isbn: Option<String> = row.try_get(3)?;
    let year: Option<i32> = row.try_get(4)?;
    let version: i64 = row.try_get(5)?;
    let created: NaiveDateTime = row.try_get(6)?;
    let updated: NaiveDateTime = row.try_get(7)?;
    std::hint::black_box((isbn, year, version, created, updated));
    Ok(book)
}

fn book_rows(rows: &[Row]) -> BenchResult<Vec<BookRec>> {
    rows.iter().map(book_row).collect()
}

/// The author with `id`, if any.
fn author_by_id(client: &mut Client, stmt: &Statement, id: i64) -> BenchResult<Option<AuthorRec>> {
    client
        .query_opt(stmt, &[&id])?
        .as_ref()
        .map(author_row)
        .transpose()
}

impl PostgresRawStack {
    /// Creates bookshelf's schema at `url` (the run's own schema) and prepares the
    /// statements.
    pub fn open(url: &str) -> BenchResult<Self> {
        let mut client = connect(url)?;
        for migration in sql::SCHEMA {
            client.batch_execute(migration)?;
        }
        let Prepared { author_by_id } = Prepared::new(&mut client)?;
        Ok(Self {
            insert_authors: client.prepare(sql::INSERT_AUTHORS)?,
            insert_books: client.prepare(sql::INSERT_BOOKS)?,
            insert_author: client.prepare(sql::INSERT_AUTHOR)?,
            books_by_author: client.prepare(sql::BOOKS_BY_AUTHOR)?,
            books_by_title: client.prepare(sql::BOOKS_BY_TITLE)?,
            authors_after: client.prepare(sql::AUTHORS_AFTER)?,
            all_books: client.prepare(sql::ALL_BOOKS)?,
            books_page: client.prepare(sql::BOOKS_PAGE)?,
            rename: client.prepare(sql::RENAME_AUTHOR)?,
            delete: client.prepare(sql::DELETE_AUTHOR)?,
            fulltext: client.prepare(sql::FULLTEXT)?,
            author_by_id,
            client,
            url: url.to_owned(),
            statements: 0,
        })
    }
}

impl Stack for PostgresRawStack {
    fn queries(&self) -> Option<u64> {
        Some(self.statements)
    }

    fn connection_security(&mut self) -> BenchResult<Option<String>> {
        let row = self.client.query_one(sql::TLS_QUERY, &[])?;
        let version: Option<&str> = row.try_get(1)?;
        Ok(Some(sql::describe_tls(row.try_get(0)?, version)))
    }

    fn insert_authors_bulk(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<AuthorRec>>)> {
        let start = Instant::now();
        let row = self.client.query_one(&self.insert_authors, &[&names])?;
        let ids: Vec<i64> = row.try_get(0)?;
        let now: NaiveDateTime = row.try_get(1)?;
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
        let row = self
            .client
            .query_one(&self.insert_books, &[&author_ids, &titles, &isbns, &years])?;
        let ids: Vec<i64> = row.try_get(0)?;
        let now: NaiveDateTime = row.try_get(1)?;
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
        let mut ids = Vec::with_capacity(names.len());
        let start = Instant::now();
        for name in names {
            // bookshelf reads every row the statement returns.
            for row in self.client.query(&self.insert_author, &[name])? {
                ids.push(author_row(&row)?.id);
            }
        }
        let elapsed = start.elapsed();
        self.statements += names.len() as u64;
        Ok((elapsed, Some(ids)))
    }

    fn get_author_by_id(&mut self, ids: &[i64]) -> BenchResult<(Duration, Vec<Option<AuthorRec>>)> {
        let mut found = Vec::with_capacity(ids.len());
        let start = Instant::now();
        for &id in ids {
            found.push(author_by_id(&mut self.client, &self.author_by_id, id)?);
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
        for id in author_ids {
            found.push(book_rows(
                &self.client.query(&self.books_by_author, &[id])?,
            )?);
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
            found.push(book_rows(
                &self.client.query(&self.books_by_title, &[title])?,
            )?);
        }
        let elapsed = start.elapsed();
        self.statements += titles.len() as u64;
        Ok((elapsed, found))
    }

    fn authors_with_books_eager(&mut self) -> BenchResult<(Duration, Shelf)> {
        let start = Instant::now();
        // bookshelf's snapshot for both queries.
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let mut shelf: Shelf = tx
            .query(&self.authors_after, &[&0_i64])?
            .iter()
            .map(|row| Ok((author_row(row)?, Vec::new())))
            .collect::<BenchResult<_>>()?;
        // Books in storage order, each placed with its author as it is decoded (a binary
        // search when the author changes), then each author's sorted by title: what
        // bookshelf does.
        let mut at = 0;
        for row in tx.query(&self.all_books, &[])? {
            let book = book_row(&row)?;
            if shelf.get(at).map(|(author, _)| author.id) != Some(book.author_id) {
                at = shelf
                    .binary_search_by_key(&book.author_id, |(author, _)| author.id)
                    .map_err(|_| format!("book {} has no author", book.id))?;
            }
            shelf[at].1.push(book);
        }
        tx.commit()?;
        for (_, books) in &mut shelf {
            books.sort_by(|a, b| a.title.cmp(&b.title));
        }
        let elapsed = start.elapsed();
        self.statements += 2;
        Ok((elapsed, shelf))
    }

    fn books_page_keyset(&mut self) -> BenchResult<(Duration, Vec<Vec<BookRec>>)> {
        let mut pages = Vec::new();
        let start = Instant::now();
        let mut last = 0_i64;
        loop {
            let page = book_rows(&self.client.query(&self.books_page, &[&last])?)?;
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
            for row in self.client.query(&self.rename, &[name, &1_i64, id])? {
                author_row(&row)?;
                renamed += 1;
            }
        }
        let elapsed = start.elapsed();
        self.statements += renames.len() as u64;
        Ok((elapsed, renamed))
    }

    fn delete_author_cascade(&mut self, ids: &[i64]) -> BenchResult<(Duration, u64)> {
        let mut deleted = 0;
        let start = Instant::now();
        for id in ids {
            deleted += self.client.execute(&self.delete, &[id])?;
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
        let mut clients = [connect(&self.url)?, connect(&self.url)?];
        let prepared = [
            Prepared::new(&mut clients[0])?,
            Prepared::new(&mut clients[1])?,
        ];
        let barrier = Barrier::new(2);
        let lookups = |mut client: Client,
                       prepared: Prepared,
                       draws: &[i64]|
         -> BenchResult<(Duration, Folded)> {
            let mut folded = Folded::default();
            let mut next = draws.iter().cycle();
            barrier.wait();
            let start = Instant::now();
            while start.elapsed() < run {
                for &id in next.by_ref().take(16) {
                    let author = author_by_id(&mut client, &prepared.author_by_id, id)?;
                    folded.add(id, author.as_ref().map(|a| (a.id, a.name.as_str())));
                }
            }
            Ok((start.elapsed(), folded))
        };
        let [client0, client1] = clients;
        let [prepared0, prepared1] = prepared;
        let (first, second) = std::thread::scope(|scope| {
            let other = scope.spawn(|| lookups(client1, prepared1, draws[1]));
            let first = lookups(client0, prepared0, draws[0]);
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
            found.push(book_rows(
                &self.client.query(&self.fulltext, &[word, word])?,
            )?);
        }
        let elapsed = start.elapsed();
        self.statements += words.len() as u64;
        Ok((elapsed, found))
    }
}
