//! Property tests for input: any valid name or title round-trips exactly, and any string
//! at all given to `search_books` returns `Ok` with exactly the titles that contain it.
//! The runs are deterministic (a fixed-seed RNG), so a failure replays the same way.
//! Both properties run on every backend.

mod common;

use bookshelf::{BookFilter, NewAuthor, NewBook, Page, MAX_TEXT_CHARS};
use common::{backend_tests, TestDb};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        // Nothing written into the source tree; the fixed seed replays a failure.
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

/// A database of its own; the properties run one call at a time, so a pool of two
/// connections is plenty (and keeps the PostgreSQL server's connection count low).
fn small_db(backend: common::Backend) -> Result<TestDb, common::BoxError> {
    TestDb::open_with(backend, |config| config.max_size(2))
}

/// 1 to 500 characters of any kind but NUL, not starting or ending with whitespace, the
/// first one a letter or digit (so that the text has a visible character).
fn valid_text() -> impl Strategy<Value = String> {
    let any_but_nul = any::<char>().prop_map(|c| if c == '\0' { '0' } else { c });
    vec(any_but_nul, 1..=MAX_TEXT_CHARS).prop_map(|mut chars| {
        let last = chars.len() - 1;
        if !chars[0].is_alphanumeric() {
            chars[0] = 'x';
        }
        if chars[last].is_whitespace() {
            chars[last] = 'x';
        }
        chars.into_iter().collect()
    })
}

/// Characters a write treats specially: white space (trimmed at the ends) and invisible
/// format characters (a text of only those is refused). NUL, refused anywhere, comes
/// in [`edge_text`] once in a while.
const SPECIAL: [char; 8] = [
    ' ', '\t', '\n', '\u{3000}', '\u{200B}', '\u{2060}', '\u{FEFF}', '\u{00AD}',
];

/// Strings around the edges of what a write accepts: any characters, the special ones
/// often, short or near the length limit, padded with white space, now and then a NUL.
fn edge_text() -> impl Strategy<Value = String> {
    let char = || {
        prop_oneof![
            3 => any::<char>().prop_map(|c| if c == '\0' { 'a' } else { c }),
            2 => select(SPECIAL.as_slice()),
            1 => Just('a'),
        ]
    };
    let body = prop_oneof![
        vec(char(), 0..8),
        vec(char(), MAX_TEXT_CHARS - 8..=MAX_TEXT_CHARS + 4),
    ];
    let padding = || vec(select(SPECIAL.as_slice()), 0..4);
    let nul = prop_oneof![9 => Just(None), 1 => any::<Index>().prop_map(Some)];
    (padding(), body, padding(), nul).prop_map(|(before, body, after, nul)| {
        let mut chars: Vec<char> = before.into_iter().chain(body).chain(after).collect();
        if let Some(at) = nul {
            chars.insert(at.index(chars.len() + 1), '\0');
        }
        chars.into_iter().collect()
    })
}

backend_tests! {
    fn any_valid_name_or_title_round_trips_exactly(backend: Backend) -> TestResult {
        let db = small_db(backend)?;
        let repo = &db.repo;
        runner(256).run(&valid_text(), |text| {
            let author = repo.create_author(&NewAuthor::new(text.as_str()))?;
            prop_assert_eq!(&author.name, &text);
            prop_assert_eq!(repo.author(author.id)?.map(|a| a.name), Some(text.clone()));

            let book = repo.create_book(&NewBook::new(author.id, text.as_str()))?;
            prop_assert_eq!(&book.title, &text);
            prop_assert_eq!(repo.book(book.id)?.map(|b| b.title), Some(text.clone()));

            let renamed = repo.rename_author(author.id, &text)?;
            prop_assert_eq!(&renamed.name, &text);
            // The title is found by searching for itself.
            let filter = BookFilter::new()
                .author(author.id)
                .title_contains(text.as_str());
            prop_assert_eq!(repo.search_books(&filter)?, vec![book]);
            Ok(())
        })?;
        Ok(())
    }
}

backend_tests! {
    /// What a write accepted, the lookup with the same string finds: `authors_by_name`
    /// and `books_by_title` normalise their input exactly as the create did.
    fn a_lookup_finds_what_a_create_accepted_from_the_same_string(backend: Backend) -> TestResult {
        let db = small_db(backend)?;
        let repo = &db.repo;
        let owner = repo.create_author(&NewAuthor::new("Owner"))?;
        let accepted = std::cell::Cell::new(0);
        runner(256).run(&edge_text(), |text| {
            match repo.create_author(&NewAuthor::new(text.as_str())) {
                Ok(author) => {
                    accepted.set(accepted.get() + 1);
                    let found = repo.authors_by_name(&text)?;
                    prop_assert!(found.contains(&author), "{:?} not found by name", text);
                }
                Err(error) => prop_assert!(error.is_validation(), "{:?}: {}", text, error),
            }
            match repo.create_book(&NewBook::new(owner.id, text.as_str())) {
                Ok(book) => {
                    let found = repo.books_by_title(&text)?;
                    prop_assert!(found.contains(&book), "{:?} not found by title", text);
                }
                // The same title twice for one author is a conflict.
                Err(error) => prop_assert!(
                    error.is_validation() || error.is_conflict(),
                    "{:?}: {}",
                    text,
                    error
                ),
            }
            Ok(())
        })?;
        // The property is about accepted strings: enough of them must have been made.
        assert!(accepted.get() > 64, "only {} strings were accepted", accepted.get());
        Ok(())
    }
}

const TITLES: [&str; 8] = [
    "100% Pure",
    "snake_case",
    "back\\slash",
    "Zoë and ZOË",
    "📚 Books 🦀",
    "MiXeD CaSe",
    "O'Brien \"quoted\"",
    "שלום",
];

/// Any string at all, or a piece of a stored title (so that searches also find books).
fn any_needle() -> impl Strategy<Value = String> {
    let piece = (select(TITLES.as_slice()), any::<Index>(), any::<Index>()).prop_map(
        |(title, start, len)| {
            let chars: Vec<char> = title.chars().collect();
            let start = start.index(chars.len());
            let len = len.index(chars.len() - start + 1);
            chars[start..start + len].iter().collect::<String>()
        },
    );
    prop_oneof![
        vec(any::<char>(), 0..16).prop_map(String::from_iter),
        vec(any::<char>(), 0..600).prop_map(String::from_iter),
        piece,
    ]
}

backend_tests! {
    fn any_search_string_returns_ok_and_matches_literally(backend: Backend) -> TestResult {
        let db = small_db(backend)?;
        let repo = &db.repo;
        let author = repo.create_author(&NewAuthor::new("Author 000001"))?;
        let books: Vec<NewBook> = TITLES.iter().map(|t| NewBook::new(author.id, *t)).collect();
        repo.create_books(&books)?;
        let stored = repo.list_books(Page::all())?;
        runner(512).run(&any_needle(), |needle| {
            let filter = BookFilter::new().title_contains(needle.as_str());
            let found: Vec<String> = (repo.search_books(&filter)?.into_iter())
                .map(|book| book.title)
                .collect();
            // `LIKE` ignores ASCII case only, as `to_ascii_lowercase` does.
            let lower = needle.to_ascii_lowercase();
            let expected: Vec<String> = (stored.iter())
                .map(|book| book.title.clone())
                .filter(|title| title.to_ascii_lowercase().contains(&lower))
                .collect();
            prop_assert_eq!(found, expected, "searching {:?}", needle);
            Ok(())
        })?;
        Ok(())
    }
}
