//! Visits every book of a large catalog in constant memory, for measuring peak RSS.
//!
//! ```text
//! cargo run --release --example stream_books -- seed /tmp/catalog.db 100000   # 1,000,000 books
//! # The example's own peak RSS ("Maximum resident set size"): time the binary, not cargo.
//! /usr/bin/time -v target/release/examples/stream_books scan /tmp/catalog.db
//! ```
//!
//! `seed` fills the database in batches (authors named `Author 000001`, ten books each,
//! titled `Title 000001-01`); `scan` streams every book through
//! [`Repository::for_each_book`](bookshelf::Repository::for_each_book) and prints the
//! count and a checksum of the titles.

use bookshelf::{NewAuthor, NewBook, Repository};

const BOOKS_PER_AUTHOR: usize = 10;
const AUTHORS_PER_BATCH: usize = 1_000;

mod support;

fn main() -> std::process::ExitCode {
    support::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["seed", path, authors] => seed(&Repository::open(path)?, authors.parse()?),
        ["scan", path] => scan(&Repository::open(path)?),
        _ => Err("usage: stream_books seed PATH AUTHORS | stream_books scan PATH".into()),
    }
}

fn seed(repo: &Repository, authors: usize) -> Result<(), Box<dyn std::error::Error>> {
    let start = usize::try_from(repo.count_authors()?)?;
    for first in (start..authors).step_by(AUTHORS_PER_BATCH) {
        let numbers = first + 1..=(first + AUTHORS_PER_BATCH).min(authors);
        let new_authors: Vec<NewAuthor> = numbers
            .clone()
            .map(|i| NewAuthor::new(format!("Author {i:06}")))
            .collect();
        let created = repo.create_authors(&new_authors)?;
        let new_books: Vec<NewBook> = created
            .iter()
            .zip(numbers)
            .flat_map(|(author, i)| {
                (1..=BOOKS_PER_AUTHOR)
                    .map(move |j| NewBook::new(author.id, format!("Title {i:06}-{j:02}")))
            })
            .collect();
        repo.create_books(&new_books)?;
    }
    println!(
        "{} authors, {} books",
        repo.count_authors()?,
        repo.count_books()?
    );
    Ok(())
}

fn scan(repo: &Repository) -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let mut checksum = 0u64;
    let visited = repo.for_each_book(|book| {
        checksum = book.title.bytes().fold(checksum, |sum, byte| {
            sum.wrapping_mul(31).wrapping_add(u64::from(byte))
        });
    })?;
    println!(
        "visited {visited} books in {:.2?}, checksum {checksum:016x}",
        started.elapsed()
    );
    if usize::try_from(visited)? != usize::try_from(repo.count_books()?)? {
        return Err("the scan missed books".into());
    }
    Ok(())
}
