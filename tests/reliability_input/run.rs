//! Runs the cases of `reliability_input.rs`: a fresh, seeded repository per case, every
//! operation checked for its outcome and, on error, for rows left as they were.

use std::cell::Cell;

use bookshelf::{Author, AuthorId, BookChanges, BookFilter, BookId, Entity, Error, Missing};
use bookshelf::{NewAuthor, NewBook};
use bookshelf::{Page, Repository, MIN_YEAR};

use super::Outcome::{self, *};
use super::{abbreviate, BadRow, IdOp, Input, Who, BULK, IDS, TAKEN_ISBN, TEXT};
use crate::common::BoxError;

/// The rows every case starts from.
pub(super) struct Seed {
    author: AuthorId,
    other: AuthorId,
    other_book: BookId,
}

pub(super) fn seed(repo: &Repository) -> bookshelf::Result<Seed> {
    let author = repo.create_author(&NewAuthor::new("Seed author"))?.id;
    let other = repo.create_author(&NewAuthor::new("Other author"))?.id;
    let books = repo.create_books(&[
        NewBook::new(author, "Existing title")
            .isbn(TAKEN_ISBN)
            .published_year(1969),
        NewBook::new(author, "100% Pure"),
        NewBook::new(author, "snake_case"),
        NewBook::new(author, "back\\slash"),
        NewBook::new(other, "Other book"),
        NewBook::new(other, "Other book 2"),
    ])?;
    Ok(Seed {
        author,
        other,
        other_book: books[4].id,
    })
}

type Dump = (Vec<Author>, Vec<bookshelf::Book>);

fn dump(repo: &Repository) -> bookshelf::Result<Dump> {
    Ok((
        repo.list_authors(Page::all())?,
        repo.list_books(Page::all())?,
    ))
}

/// The id an error's missing row has.
fn missing_id(missing: &Missing) -> Option<i64> {
    match missing {
        Missing::Author(id) => Some(id.0),
        Missing::Book(id) => Some(id.0),
        _ => None,
    }
}

/// The name of a kind of row, as the outcome table spells it.
fn entity_name(entity: Entity) -> &'static str {
    match entity {
        Entity::Author => "author",
        Entity::Book => "book",
        _ => "another entity",
    }
}

fn from_error(error: &Error) -> Outcome {
    match error {
        Error::Validation { field, .. } => Invalid(field),
        Error::NotFound(missing) => NotFound(entity_name(missing.entity())),
        Error::Conflict { field, .. } => Conflict(field),
        Error::InvalidRow { index, error } => Row(*index, Box::new(from_error(error))),
        Error::Stale { actual, .. } => Stale(actual.0),
        other => Other(format!("{other:?}")),
    }
}

thread_local! {
    /// Operations run on this thread, for the report: each test runs on a thread of its
    /// own, so the SQLite and PostgreSQL runs of the table, side by side, count apart.
    pub(super) static OPERATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Runs one operation. Only an accepted write may change rows.
fn step(
    repo: &Repository,
    op: impl FnOnce() -> bookshelf::Result<Outcome>,
) -> Result<Outcome, BoxError> {
    OPERATIONS.with(|count| count.set(count.get() + 1));
    let before = dump(repo)?;
    let outcome = op().unwrap_or_else(|error| from_error(&error));
    if !matches!(outcome, Exact | Trimmed | Stored(_)) && dump(repo)? != before {
        return Ok(Other(format!("{outcome}, but rows changed")));
    }
    Ok(outcome)
}

/// `Exact` when what was returned, what is read back and the input are one string.
fn round_trip(input: &str, returned: &str, read: Option<String>) -> Outcome {
    match read {
        Some(read) if read != returned => Other(format!("returned {returned:?}, read {read:?}")),
        None => Other("not found after it was written".into()),
        Some(_) if returned == input => Exact,
        Some(_) if returned == input.trim() => Trimmed,
        Some(_) => Stored(returned.to_owned()),
    }
}

/// The same outcome from every step, or `Other` naming the steps that disagree.
fn merge(steps: Vec<(&str, Outcome)>) -> Outcome {
    let first = steps[0].1.clone();
    if steps.iter().all(|(_, outcome)| *outcome == first) {
        return first;
    }
    let all: Vec<String> = steps.iter().map(|(op, o)| format!("{op}: {o}")).collect();
    Other(all.join("; "))
}

/// A name error and a title error are the same outcome for a text case.
fn as_text(outcome: Outcome, field: &str) -> Outcome {
    match outcome {
        Invalid(got) if got == field => Invalid(TEXT),
        other => other,
    }
}

/// Searches for `needle` and checks the result against a literal, ASCII-case-blind
/// substring match over every stored title.
/// The titles `filter` finds, sorted.
fn found(repo: &Repository, filter: BookFilter) -> bookshelf::Result<Outcome> {
    let mut titles: Vec<String> = repo
        .search_books(&filter)?
        .into_iter()
        .map(|book| book.title)
        .collect();
    titles.sort_unstable();
    Ok(Found(titles))
}

fn search_literally(repo: &Repository, needle: &str) -> bookshelf::Result<Outcome> {
    let found: Vec<String> = repo
        .search_books(&BookFilter::new().title_contains(needle))?
        .into_iter()
        .map(|book| book.title)
        .collect();
    let lower = needle.to_ascii_lowercase();
    let expected: Vec<String> = repo
        .list_books(Page::all())?
        .into_iter()
        .map(|book| book.title)
        .filter(|title| title.to_ascii_lowercase().contains(&lower))
        .collect();
    Ok(if found == expected {
        Found(found)
    } else {
        let needle = abbreviate(&format!("{needle:?}"), 40);
        Other(format!("search {needle} found {found:?}, not {expected:?}"))
    })
}

fn run_text(repo: &Repository, seed: &Seed, text: &str) -> Result<Outcome, BoxError> {
    let create_author = step(repo, || {
        let author = repo.create_author(&NewAuthor::new(text))?;
        // Looked up by the input itself: a lookup normalises it as the write did.
        let by_name = repo.authors_by_name(text)?.contains(&author);
        let read = repo.author(author.id)?.filter(|_| by_name).map(|a| a.name);
        Ok(round_trip(text, &author.name, read))
    })?;
    let rename_author = step(repo, || {
        let author = repo.rename_author(seed.other, text)?;
        Ok(round_trip(
            text,
            &author.name,
            repo.author(seed.other)?.map(|a| a.name),
        ))
    })?;
    let create_book = step(repo, || {
        let book = repo.create_book(&NewBook::new(seed.author, text))?;
        let by_title = repo.books_by_title(text)?.contains(&book);
        Ok(round_trip(
            text,
            &book.title,
            repo.book(book.id)?.filter(|_| by_title).map(|b| b.title),
        ))
    })?;
    let update_book = step(repo, || {
        let book = repo.update_book(seed.other_book, &BookChanges::new().title(text))?;
        Ok(round_trip(
            text,
            &book.title,
            repo.book(book.id)?.map(|b| b.title),
        ))
    })?;
    let outcome = merge(vec![
        ("create_author", as_text(create_author, "name")),
        ("rename_author", as_text(rename_author, "name")),
        ("create_book", as_text(create_book, "title")),
        ("update_book", as_text(update_book, "title")),
    ]);
    // A stored title is found by searching for it, literally.
    if let (Exact | Trimmed, Some(book)) = (&outcome, repo.book(seed.other_book)?) {
        if let Other(problem) = search_literally(repo, &book.title)? {
            return Ok(Other(problem));
        }
    }
    Ok(outcome)
}

fn run_ids(repo: &Repository, seed: &Seed, op: IdOp) -> Result<Outcome, BoxError> {
    let mut steps = Vec::new();
    for id in IDS {
        let (author, book) = (AuthorId(id), BookId(id));
        let outcome = step(repo, || {
            let result = match op {
                IdOp::RenameAuthor => repo.rename_author(author, "Renamed").map(|_| Exact),
                IdOp::DeleteAuthor => repo.delete_author(author).map(|()| Exact),
                IdOp::UpdateBook => {
                    let changes = BookChanges::new().title("Retitled");
                    repo.update_book(book, &changes).map(|_| Exact)
                }
                IdOp::UpdateBookNoChanges => {
                    repo.update_book(book, &BookChanges::new()).map(|_| Exact)
                }
                IdOp::DeleteBook => repo.delete_book(book).map(|()| Exact),
                IdOp::CreateBook => repo
                    .create_book(&NewBook::new(author, "Orphan"))
                    .map(|_| Exact),
                IdOp::CreateBooks => {
                    let books = [
                        NewBook::new(seed.author, "Fine"),
                        NewBook::new(author, "Orphan"),
                    ];
                    repo.create_books(&books).map(|_| Exact)
                }
                IdOp::Author => repo.author(author).map(|a| nothing(a.is_none())),
                IdOp::Book => repo.book(book).map(|b| nothing(b.is_none())),
                IdOp::BooksByAuthor => repo.books_by_author(author).map(|b| nothing(b.is_empty())),
                IdOp::SearchByAuthor => {
                    let filter = BookFilter::new().author(author);
                    repo.search_books(&filter).map(|b| nothing(b.is_empty()))
                }
            };
            match result {
                Err(Error::NotFound(missing)) if missing_id(&missing) != Some(id) => {
                    Ok(Other(format!("asked for {id}, the error names {missing}")))
                }
                other => other,
            }
        })?;
        steps.push(outcome);
    }
    let named: Vec<(&str, Outcome)> = steps.into_iter().map(|o| ("id", o)).collect();
    Ok(merge(named))
}

fn nothing(empty: bool) -> Outcome {
    if empty {
        Nothing
    } else {
        Other("found something".into())
    }
}

fn bulk_books(seed: &Seed, index: usize, bad: BadRow) -> Vec<NewBook> {
    let mut books: Vec<NewBook> = (0..BULK)
        .map(|i| NewBook::new(seed.author, format!("Bulk {i:04}")))
        .collect();
    let row = books[index].clone();
    books[index] = match bad {
        BadRow::EmptyTitle => NewBook {
            title: String::new(),
            ..row
        },
        BadRow::BadIsbn => row.isbn("9780441172710"),
        BadRow::BadYear => row.published_year(MIN_YEAR - 1),
        BadRow::MissingAuthor => NewBook {
            author_id: AuthorId(999_999),
            ..row
        },
        BadRow::TitleTwiceInBatch => NewBook {
            title: "Bulk 0010".into(),
            ..row
        },
        BadRow::IsbnTwiceInBatch => {
            books[10] = books[10].clone().isbn("0-441-17271-7");
            row.isbn("9780441172719")
        }
        BadRow::TakenIsbn => row.isbn(TAKEN_ISBN),
        BadRow::TakenTitle => NewBook {
            title: "Existing title".into(),
            ..row
        },
    };
    books
}

pub(super) fn run(repo: &Repository, seed: &Seed, input: &Input) -> Result<Outcome, BoxError> {
    let book_in = |title: &str, isbn: Option<&str>, year: Option<i32>| {
        let mut book = NewBook::new(seed.author, title);
        book.isbn = isbn.map(str::to_owned);
        book.published_year = year;
        book
    };
    let stored_isbn = |input: &str, book: bookshelf::Book| -> bookshelf::Result<Outcome> {
        let read = repo.book(book.id)?.and_then(|b| b.isbn);
        Ok(round_trip(
            input,
            book.isbn.as_deref().unwrap_or_default(),
            read,
        ))
    };
    let stored_year = |book: bookshelf::Book| -> bookshelf::Result<Outcome> {
        let read = repo.book(book.id)?.and_then(|b| b.published_year);
        let (year, read) = (
            book.published_year.unwrap_or_default(),
            read.map(|y| y.to_string()),
        );
        Ok(round_trip(&year.to_string(), &year.to_string(), read))
    };
    Ok(match input {
        Input::Text(text) => run_text(repo, seed, text)?,
        Input::Search(needle) => step(repo, || search_literally(repo, needle))?,
        Input::Isbn(isbn) => merge(vec![
            (
                "create_book",
                step(repo, || {
                    let book = repo.create_book(&book_in("With ISBN", Some(isbn), None))?;
                    let outcome = stored_isbn(isbn, book.clone());
                    repo.delete_book(book.id)?; // so that the update below does not clash
                    outcome
                })?,
            ),
            (
                "update_book",
                step(repo, || {
                    let book =
                        repo.update_book(seed.other_book, &BookChanges::new().isbn(*isbn))?;
                    stored_isbn(isbn, book)
                })?,
            ),
        ]),
        Input::Year(year) => merge(vec![
            (
                "create_book",
                step(repo, || {
                    stored_year(repo.create_book(&book_in("With year", None, Some(*year)))?)
                })?,
            ),
            (
                "update_book",
                step(repo, || {
                    let changes = BookChanges::new().published_year(*year);
                    stored_year(repo.update_book(seed.other_book, &changes)?)
                })?,
            ),
        ]),
        Input::Book(title, isbn, who) => step(repo, || {
            let mut book = book_in(title, *isbn, None);
            if let Who::Other = who {
                book.author_id = seed.other;
            }
            let book = repo.create_book(&book)?;
            Ok(round_trip(
                title,
                &book.title,
                repo.book(book.id)?.map(|b| b.title),
            ))
        })?,
        Input::Update(changes) => step(repo, || {
            let book = repo.update_book(seed.other_book, changes)?;
            Ok(Other(format!("updated: {book:?}")))
        })?,
        Input::Ids(op) => run_ids(repo, seed, *op)?,
        Input::Matching(text) => step(repo, || found(repo, BookFilter::new().matching(text)))?,
        Input::Since(time) => step(repo, || found(repo, BookFilter::new().updated_since(*time)))?,
        Input::Version(version) => {
            let version = bookshelf::Version(*version);
            merge(vec![
                (
                    "update_book_if",
                    step(repo, || {
                        let changes = BookChanges::new().title("Retitled");
                        repo.update_book_if(seed.other_book, version, &changes)
                            .map(|_| Exact)
                    })?,
                ),
                (
                    "rename_author_if",
                    step(repo, || {
                        repo.rename_author_if(seed.other, version, "Renamed")
                            .map(|_| Exact)
                    })?,
                ),
                (
                    "delete_book_if",
                    step(repo, || {
                        repo.delete_book_if(seed.other_book, version).map(|_| Exact)
                    })?,
                ),
                (
                    "delete_author_if",
                    step(repo, || {
                        repo.delete_author_if(seed.other, version).map(|_| Exact)
                    })?,
                ),
            ])
        }
        Input::Bulk(index, bad) => step(repo, || {
            let books = repo.create_books(&bulk_books(seed, *index, *bad))?;
            Ok(Other(format!("{} books inserted", books.len())))
        })?,
        Input::BulkAuthors(index) => step(repo, || {
            let mut names: Vec<NewAuthor> = (0..BULK)
                .map(|i| NewAuthor::new(format!("Bulk {i:04}")))
                .collect();
            names[*index] = NewAuthor::new("");
            let authors = repo.create_authors(&names)?;
            Ok(Other(format!("{} authors inserted", authors.len())))
        })?,
    })
}
