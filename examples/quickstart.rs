//! The guide's main flow on an SQLite file (or a PostgreSQL database): create an author
//! and books, query, filter and order, update, delete.
//!
//! ```text
//! cargo run --example quickstart                 # ./bookshelf.db
//! cargo run --example quickstart -- library.db   # or a path, a URL, or DATABASE_URL
//! cargo run --features postgres --example quickstart -- postgres://127.0.0.1/test
//! RUST_LOG=bookshelf::sql=debug cargo run --example quickstart   # with the SQL echo
//! ```

use bookshelf::{BookChanges, BookFilter, BookOrder, Config, Direction, NewAuthor, NewBook};

mod support;

fn main() -> std::process::ExitCode {
    support::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "bookshelf.db".to_owned());

    // Opening applies any pending migrations.
    let repo = Config::new(&url).log_queries(true).open()?;
    println!(
        "opened {url}; migrations applied: {:?}",
        repo.applied_migrations()?
    );

    // Start from a clean slate if an earlier run stopped half-way.
    for stale in repo.authors_by_name("Ursula K. Le Guin")? {
        repo.delete_author(stale.id)?;
    }

    // Create.
    let author = repo.create_author(&NewAuthor::new("Ursula K. Le Guin"))?;
    println!("created author {} ({})", author.name, author.id);
    let books = repo.create_books(&[
        NewBook::new(author.id, "A Wizard of Earthsea").published_year(1968),
        NewBook::new(author.id, "The Left Hand of Darkness")
            .isbn("978-0-441-47812-5")
            .published_year(1969),
        NewBook::new(author.id, "The Dispossessed").published_year(1974),
    ])?;
    println!("created {} books in one transaction", books.len());

    // Read.
    for book in repo.books_by_author(author.id)? {
        println!("  {} ({:?})", book.title, book.published_year);
    }

    // Filter and order: titles containing "the", newest first.
    let filter = BookFilter::new()
        .author(author.id)
        .title_contains("the")
        .order_by(BookOrder::PublishedYear, Direction::Descending);
    for book in repo.search_books(&filter)? {
        println!("matches 'the': {} ({:?})", book.title, book.published_year);
    }

    // Update.
    let renamed = repo.rename_author(author.id, "Ursula Kroeber Le Guin")?;
    println!("renamed author to {}", renamed.name);
    let updated = repo.update_book(books[0].id, &BookChanges::new().isbn("0-553-38304-3"))?;
    println!("gave {:?} the ISBN {:?}", updated.title, updated.isbn);

    // Bad input is a typed error, and writes nothing.
    match repo.create_book(&NewBook::new(author.id, "Bad").isbn("123")) {
        Err(error) => println!("rejected as expected: {error}"),
        Ok(book) => return Err(format!("accepted an invalid ISBN: {book:?}").into()),
    }

    // Delete: the books go with their author.
    repo.delete_author(author.id)?;
    println!(
        "deleted the author; {} of their books remain",
        repo.books_by_author(author.id)?.len()
    );

    let stats = repo.stats();
    println!(
        "{} data statements, {} transaction statements",
        stats.statements, stats.transaction_statements
    );
    Ok(())
}
