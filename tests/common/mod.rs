//! Shared fixture: a repository on its own temporary database file, and seed data in
//! the workload's naming (`Author 000001`, `Title 000001-01`).

use bookshelf::{Author, NewAuthor, NewBook, Repository};
use tempfile::TempDir;

/// Any error, for tests that mix the fixture's I/O errors with [`bookshelf::Error`].
pub type BoxError = Box<dyn std::error::Error>;

/// What every test returns.
pub type TestResult = Result<(), BoxError>;

/// The database file's name inside the temporary directory.
const DB_FILE: &str = "bookshelf.db";

/// A [`Repository`] on a fresh database file in a temporary directory. The directory,
/// and the database with it, is removed when the `TestDb` is dropped.
#[allow(dead_code)]
#[derive(Debug)]
pub struct TestDb {
    /// The repository; dropped before the directory (fields drop in order).
    pub repo: Repository,
    dir: TempDir,
}

#[allow(dead_code)]
impl TestDb {
    /// Opens (and migrates) a new database file.
    pub fn new() -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(DB_FILE);
        let url = path.to_str().ok_or("temporary path is not UTF-8")?;
        let repo = Repository::open(url)?;
        Ok(Self { repo, dir })
    }

    /// The path of the database file.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join(DB_FILE)
    }
}

/// The name of the `i`-th seeded author (1-based).
#[allow(dead_code)]
pub fn author_name(i: usize) -> String {
    format!("Author {i:06}")
}

/// The title of the `j`-th seeded book of the `i`-th seeded author (both 1-based).
#[allow(dead_code)]
pub fn book_title(i: usize, j: usize) -> String {
    format!("Title {i:06}-{j:02}")
}

/// Creates `authors` authors with `books_per_author` books each, in bulk, and returns
/// the authors in creation order.
#[allow(dead_code)]
pub fn seed(
    repo: &Repository,
    authors: usize,
    books_per_author: usize,
) -> bookshelf::Result<Vec<Author>> {
    let new_authors: Vec<NewAuthor> = (1..=authors)
        .map(|i| NewAuthor::new(author_name(i)))
        .collect();
    let created = repo.create_authors(&new_authors)?;
    let new_books: Vec<NewBook> = created
        .iter()
        .enumerate()
        .flat_map(|(index, author)| {
            (1..=books_per_author).map(move |j| NewBook::new(author.id, book_title(index + 1, j)))
        })
        .collect();
    repo.create_books(&new_books)?;
    Ok(created)
}

/// Returns early from a test with an error unless `$result` is an `Err` matching the
/// pattern (and guard).
#[allow(unused_macros)]
macro_rules! expect_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => {
                let expected = stringify!($pattern $(if $guard)?);
                return Err(format!("expected Err({expected}), got {other:?}").into());
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use expect_err;
