//! Lazy versus eager loading of authors and their books, with the statement count of
//! each: N+1 queries lazily, 2 eagerly.
//!
//! ```text
//! cargo run --example relations
//! ```

use bookshelf::{NewAuthor, NewBook, Page, Repository};

const AUTHORS: usize = 50;
const BOOKS_PER_AUTHOR: usize = 3;

mod support;

fn main() -> std::process::ExitCode {
    support::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let repo = Repository::in_memory()?;
    let new_authors: Vec<NewAuthor> = (1..=AUTHORS)
        .map(|i| NewAuthor::new(format!("Author {i:06}")))
        .collect();
    let authors = repo.create_authors(&new_authors)?;
    let new_books: Vec<NewBook> = authors
        .iter()
        .enumerate()
        .flat_map(|(i, author)| {
            (1..=BOOKS_PER_AUTHOR)
                .map(move |j| NewBook::new(author.id, format!("Title {:06}-{j:02}", i + 1)))
        })
        .collect();
    repo.create_books(&new_books)?;

    // Lazy: one query for the authors, then one per author.
    let before = repo.stats().statements;
    let mut lazy_books = 0;
    for author in repo.list_authors(Page::all())? {
        lazy_books += repo.books_by_author(author.id)?.len();
    }
    let lazy_statements = repo.stats().statements - before;
    println!("lazy:  {AUTHORS} authors, {lazy_books} books, {lazy_statements} statements (N+1)");

    // Eager: two queries, whatever the number of authors.
    let before = repo.stats().statements;
    let shelf = repo.authors_with_books(Page::all())?;
    let eager_books: usize = shelf.iter().map(|entry| entry.books.len()).sum();
    let eager_statements = repo.stats().statements - before;
    println!(
        "eager: {} authors, {eager_books} books, {eager_statements} statements",
        shelf.len()
    );

    if lazy_books != eager_books || eager_statements != 2 {
        return Err("eager and lazy loading disagree".into());
    }
    Ok(())
}
