//! The catalog workload: its data, its random draws, the interface every stack
//! implements, and the model of the database that the results are checked against.

use std::time::Duration;

use crate::rng::SplitMix64;

/// Any error; threads hand theirs back, so it is `Send + Sync`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every fallible function of the benchmark returns.
pub type BenchResult<T> = Result<T, BoxError>;

/// Books per author (`B`).
pub const BOOKS_PER_AUTHOR: usize = 10;
/// Authors inserted one by one after the bulk load.
pub const SINGLE_INSERTS: usize = 1_000;
/// Point lookups by id.
pub const GET_AUTHOR_DRAWS: usize = 20_000;
/// Authors whose books are listed.
pub const BOOKS_BY_AUTHOR_DRAWS: usize = 5_000;
/// Lookups by title.
pub const TITLE_DRAWS: usize = 20_000;
/// Renames.
pub const UPDATE_DRAWS: usize = 5_000;
/// Full-text searches, each for one author's number (a word of each of their titles).
pub const FULLTEXT_DRAWS: usize = 5_000;
/// Distinct authors deleted.
pub const DELETES: usize = 1_000;
/// Rows in a keyset page.
pub const PAGE_SIZE: usize = 100;
/// How long the two-thread op runs.
pub const CONCURRENT_RUN: Duration = Duration::from_secs(2);
/// Ids drawn in advance for each thread of the two-thread op; a thread that gets
/// through all of them starts again from the first.
const CONCURRENT_DRAWS: usize = 1 << 20;
/// The seed of the generator.
const SEED: u64 = 42;

/// The operations, in the order they run.
pub const OPS: [&str; 12] = [
    "insert_authors_bulk",
    "insert_books_bulk",
    "insert_author_single",
    "get_author_by_id",
    "books_by_author_ordered",
    "find_book_by_title",
    "authors_with_books_eager",
    "books_page_keyset",
    "update_author_name",
    "delete_author_cascade",
    "concurrent_get_author",
    "search_books_fulltext",
];

/// An author as every stack reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorRec {
    pub id: i64,
    pub name: String,
}

/// The eager load's result: each author with their books.
pub type Shelf = Vec<(AuthorRec, Vec<BookRec>)>;

/// A book as every stack reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookRec {
    pub id: i64,
    pub title: String,
    pub author_id: i64,
}

/// The name of author `i` (1-based) as bulk- or single-inserted.
pub fn author_name(i: i64) -> String {
    format!("Author {i:06}")
}

/// The name an author gets from `update_author_name`.
pub fn renamed(i: i64) -> String {
    format!("Renamed {i:06}")
}

/// The title of book `j` of author `i` (both 1-based).
pub fn book_title(i: i64, j: i64) -> String {
    format!("Title {i:06}-{j:02}")
}

/// A running checksum of point-lookup results, kept by each thread of the two-thread
/// op instead of the results themselves (there are too many of them to keep).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    pub lookups: u64,
    pub checksum: u64,
}

impl Folded {
    /// Adds one lookup's result: the author found for `id`, if any.
    pub fn add(&mut self, id: i64, found: Option<(i64, &str)>) {
        // FNV-1a over the found id and name; a miss hashes differently from any hit.
        let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &byte in bytes {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
            }
        };
        eat(&id.to_le_bytes());
        match found {
            Some((found_id, name)) => {
                eat(&found_id.to_le_bytes());
                eat(name.as_bytes());
            }
            None => eat(b"\xffmissing"),
        }
        self.lookups += 1;
        self.checksum = self.checksum.wrapping_add(hash);
    }
}

/// One stack's implementation of the operations. Each method times only the
/// operation itself and converts its results to the common records afterwards.
pub trait Stack {
    /// Data statements counted so far, where the stack can count them.
    fn queries(&self) -> Option<u64>;

    /// On PostgreSQL, whether the stack's connections are encrypted (asked of the
    /// server on one of them): the bench prints it, since libpq's default
    /// `sslmode=prefer` takes TLS whenever the server offers it. `None` on SQLite.
    fn connection_security(&mut self) -> BenchResult<Option<String>> {
        Ok(None)
    }

    /// All authors in one transaction; the created rows, where the API returns them.
    fn insert_authors_bulk(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<AuthorRec>>)>;

    /// All books, `(author_id, title)`, in one transaction; the created rows, where the
    /// API returns them.
    fn insert_books_bulk(
        &mut self,
        books: &[(i64, String)],
    ) -> BenchResult<(Duration, Option<Vec<BookRec>>)>;

    /// One author per statement, in autocommit; the new ids, where the API returns them.
    fn insert_author_single(
        &mut self,
        names: &[String],
    ) -> BenchResult<(Duration, Option<Vec<i64>>)>;

    /// One point lookup per id.
    fn get_author_by_id(&mut self, ids: &[i64]) -> BenchResult<(Duration, Vec<Option<AuthorRec>>)>;

    /// The books of each author, ordered by title.
    fn books_by_author_ordered(
        &mut self,
        author_ids: &[i64],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)>;

    /// The books with each exact title.
    fn find_book_by_title(
        &mut self,
        titles: &[String],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)>;

    /// Every author with their books, in a number of queries that does not grow with A.
    fn authors_with_books_eager(&mut self) -> BenchResult<(Duration, Shelf)>;

    /// Every book in keyset pages of [`PAGE_SIZE`] by id, up to the first short page;
    /// every page read, the last one short or empty.
    fn books_page_keyset(&mut self) -> BenchResult<(Duration, Vec<Vec<BookRec>>)>;

    /// One rename per statement, in autocommit; the number of rows renamed.
    fn update_author_name(&mut self, renames: &[(i64, String)]) -> BenchResult<(Duration, u64)>;

    /// One delete per statement, in autocommit; the number of authors deleted.
    fn delete_author_cascade(&mut self, ids: &[i64]) -> BenchResult<(Duration, u64)>;

    /// Two threads with a connection each doing point lookups of their draws for `run`;
    /// the longer of the two threads' times, and what each thread found.
    fn concurrent_get_author(
        &mut self,
        draws: [&[i64]; 2],
        run: Duration,
    ) -> BenchResult<(Duration, [Folded; 2])>;

    /// One full-text search per word (the stack's full-text index, ranked best first,
    /// ties by id); the books each found.
    fn search_books_fulltext(
        &mut self,
        words: &[String],
    ) -> BenchResult<(Duration, Vec<Vec<BookRec>>)>;
}

/// The data and every random draw of one run, made before any stack runs, so that each
/// stack gets the same ones. The draws come from one generator in the order the
/// operations run.
pub struct Workload {
    /// `A`.
    pub authors: usize,
    /// Names of authors `1..=A`.
    pub names: Vec<String>,
    /// `(author_id, title)` of books `1..=A*B`, by book id.
    pub books: Vec<(i64, String)>,
    /// Names of the authors inserted one by one (`A+1..=A+1000`).
    pub single_names: Vec<String>,
    pub get_ids: Vec<i64>,
    pub by_author_ids: Vec<i64>,
    /// Book ids drawn for `find_book_by_title`, and their titles.
    pub title_book_ids: Vec<i64>,
    pub titles: Vec<String>,
    pub renames: Vec<(i64, String)>,
    pub deletes: Vec<i64>,
    pub concurrent: [Vec<i64>; 2],
    /// Authors drawn for `search_books_fulltext`, and the word searched for each: the
    /// author's number as their titles hold it (`000123` of `Title 000123-04`).
    pub fulltext_author_ids: Vec<i64>,
    pub fulltext_words: Vec<String>,
}

impl Workload {
    pub fn new(authors: usize) -> Self {
        let a = authors as i64;
        let b = BOOKS_PER_AUTHOR as i64;
        let all = a + SINGLE_INSERTS as i64;
        let names = (1..=a).map(author_name).collect();
        let books = (1..=a)
            .flat_map(|i| (1..=b).map(move |j| (i, book_title(i, j))))
            .collect();
        let single_names = (a + 1..=all).map(author_name).collect();

        let mut rng = SplitMix64::new(SEED);
        let get_ids = (0..GET_AUTHOR_DRAWS).map(|_| rng.between(1, all)).collect();
        let by_author_ids = (0..BOOKS_BY_AUTHOR_DRAWS)
            .map(|_| rng.between(1, a))
            .collect();
        let title_book_ids: Vec<i64> = (0..TITLE_DRAWS).map(|_| rng.between(1, a * b)).collect();
        let titles = title_book_ids
            .iter()
            .map(|&k| book_title((k - 1) / b + 1, (k - 1) % b + 1))
            .collect();
        let renames = (0..UPDATE_DRAWS)
            .map(|_| {
                let id = rng.between(1, all);
                (id, renamed(id))
            })
            .collect();
        // A partial Fisher-Yates shuffle: the first DELETES ids of a shuffled 1..=all.
        let mut pool: Vec<i64> = (1..=all).collect();
        for k in 0..DELETES {
            let pick = k + rng.below((pool.len() - k) as u64) as usize;
            pool.swap(k, pick);
        }
        let deletes: Vec<i64> = pool[..DELETES].to_vec();
        let mut survivors: Vec<i64> = pool[DELETES..].to_vec();
        survivors.sort_unstable();
        let mut thread_draws = || -> Vec<i64> {
            (0..CONCURRENT_DRAWS)
                .map(|_| survivors[rng.below(survivors.len() as u64) as usize])
                .collect()
        };
        let concurrent = [thread_draws(), thread_draws()];
        let fulltext_author_ids: Vec<i64> =
            (0..FULLTEXT_DRAWS).map(|_| rng.between(1, a)).collect();
        let fulltext_words = fulltext_author_ids
            .iter()
            .map(|id| format!("{id:06}"))
            .collect();
        Self {
            authors,
            names,
            books,
            single_names,
            get_ids,
            by_author_ids,
            title_book_ids,
            titles,
            renames,
            deletes,
            concurrent,
            fulltext_author_ids,
            fulltext_words,
        }
    }

    /// Number of keyset pages holding at least one book: `A*B/100` when that divides.
    pub fn keyset_pages(&self) -> usize {
        (self.authors * BOOKS_PER_AUTHOR).div_ceil(PAGE_SIZE)
    }
}

/// What the database should hold after each operation.
pub struct Model {
    authors: usize,
    /// Index = author id; `None` for an id not (or no longer) in the table.
    names: Vec<Option<String>>,
    books_loaded: bool,
}

impl Model {
    pub fn new(authors: usize) -> Self {
        Self {
            authors,
            names: vec![None; authors + SINGLE_INSERTS + 1],
            books_loaded: false,
        }
    }

    pub fn insert_author(&mut self, id: i64, name: &str) {
        self.names[id as usize] = Some(name.to_owned());
    }

    pub fn load_books(&mut self) {
        self.books_loaded = true;
    }

    pub fn rename(&mut self, id: i64, name: &str) {
        if let Some(slot) = self.names.get_mut(id as usize).and_then(Option::as_mut) {
            *slot = name.to_owned();
        }
    }

    pub fn delete(&mut self, id: i64) {
        self.names[id as usize] = None;
    }

    pub fn author(&self, id: i64) -> Option<AuthorRec> {
        let name = self.names.get(usize::try_from(id).ok()?)?.as_ref()?;
        Some(AuthorRec {
            id,
            name: name.clone(),
        })
    }

    /// Book `k` (1-based), if it exists now.
    pub fn book(&self, k: i64) -> Option<BookRec> {
        let b = BOOKS_PER_AUTHOR as i64;
        if !self.books_loaded || k < 1 || k > self.authors as i64 * b {
            return None;
        }
        let (i, j) = ((k - 1) / b + 1, (k - 1) % b + 1);
        self.author(i)?;
        Some(BookRec {
            id: k,
            title: book_title(i, j),
            author_id: i,
        })
    }

    /// The books of author `i`, ordered by title (which is also by id).
    pub fn books_of(&self, i: i64) -> Vec<BookRec> {
        let b = BOOKS_PER_AUTHOR as i64;
        (1..=b).filter_map(|j| self.book((i - 1) * b + j)).collect()
    }

    pub fn all_authors(&self) -> Vec<AuthorRec> {
        (0..self.names.len() as i64)
            .filter_map(|id| self.author(id))
            .collect()
    }

    pub fn all_books(&self) -> Vec<BookRec> {
        (1..=(self.authors * BOOKS_PER_AUTHOR) as i64)
            .filter_map(|k| self.book(k))
            .collect()
    }

    /// The checksum the two-thread op should report for the first `lookups` draws.
    pub fn fold(&self, draws: &[i64], lookups: u64) -> Folded {
        let mut folded = Folded::default();
        for &id in draws.iter().cycle().take(lookups as usize) {
            let found = self.names.get(id as usize).and_then(Option::as_deref);
            folded.add(id, found.map(|name| (id, name)));
        }
        folded
    }
}

/// Fails unless `got` equals `expected`, naming the first difference.
pub fn check_same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    got: &[T],
    expected: &[T],
) -> BenchResult<()> {
    if let Some(index) = (0..got.len().min(expected.len())).find(|&i| got[i] != expected[i]) {
        return Err(format!(
            "{what}: item {index} is {:?}, expected {:?}",
            got[index], expected[index]
        )
        .into());
    }
    if got.len() != expected.len() {
        return Err(format!("{what}: {} items, expected {}", got.len(), expected.len()).into());
    }
    Ok(())
}
