//! Bad input, as a table, on every backend: each case runs on a fresh database (on
//! PostgreSQL, one schema emptied before each case, its ids restarted), its outcome must
//! be the expected one (a typed error, or accepted and read back byte-for-byte), and an
//! error must leave every row as it was. `cargo test --test reliability_input -- --nocapture`
//! prints the table in markdown. The property tests are in `reliability_input_props.rs`.

mod common;
#[path = "reliability_input/run.rs"]
mod run;

use std::cell::Cell;
use std::fmt::Write as _;

use bookshelf::{BookChanges, MIN_YEAR};
use common::{backend_tests, Backend, TestDb};
use run::{run as run_case, seed, OPERATIONS};

/// What a case gives the repository.
enum Input {
    /// A name and a title: to `create_author`, `rename_author`, `create_book` and
    /// `update_book`.
    Text(String),
    /// A `title_contains` search.
    Search(String),
    /// An ISBN, to `create_book` and `update_book`.
    Isbn(&'static str),
    /// A `published_year`, to `create_book` and `update_book`.
    Year(i32),
    /// A new book (title, ISBN) by the seeded author, or by the other one.
    Book(&'static str, Option<&'static str>, Who),
    /// Changes to the other author's first book.
    Update(BookChanges),
    /// Every id of `IDS`, given to one command or lookup.
    Ids(IdOp),
    /// `create_books` of `BULK` good rows with one bad row at `index`.
    Bulk(usize, BadRow),
    /// `create_authors` of `BULK` names with an empty one at `index`.
    BulkAuthors(usize),
    /// A full-text search (`BookFilter::matching`); what it finds, sorted.
    Matching(String),
    /// An expected version, to `update_book_if`, `rename_author_if`, `delete_book_if`
    /// and `delete_author_if` on the other author and their first book (both at
    /// version 1).
    Version(i64),
    /// An `updated_since` time; what it finds, sorted.
    Since(chrono::DateTime<chrono::Utc>),
}

#[derive(Clone, Copy)]
enum Who {
    Seed,
    Other,
}

#[derive(Clone, Copy)]
enum IdOp {
    RenameAuthor,
    DeleteAuthor,
    UpdateBook,
    UpdateBookNoChanges,
    DeleteBook,
    CreateBook,
    CreateBooks,
    Author,
    Book,
    BooksByAuthor,
    SearchByAuthor,
}

impl IdOp {
    fn name(self) -> &'static str {
        match self {
            IdOp::RenameAuthor => "`rename_author`",
            IdOp::DeleteAuthor => "`delete_author`",
            IdOp::UpdateBook => "`update_book`",
            IdOp::UpdateBookNoChanges => "`update_book`, no changes",
            IdOp::DeleteBook => "`delete_book`",
            IdOp::CreateBook => "`create_book`, author id",
            IdOp::CreateBooks => "`create_books`, author of row 1",
            IdOp::Author => "`author`",
            IdOp::Book => "`book`",
            IdOp::BooksByAuthor => "`books_by_author`",
            IdOp::SearchByAuthor => "`search_books`, author filter",
        }
    }
}

#[derive(Clone, Copy)]
enum BadRow {
    EmptyTitle,
    BadIsbn,
    BadYear,
    MissingAuthor,
    TitleTwiceInBatch,
    IsbnTwiceInBatch,
    TakenIsbn,
    TakenTitle,
}

/// What happened, to compare with what should.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Accepted; returned and read back exactly as given, byte for byte.
    Exact,
    /// Accepted; returned and read back without its surrounding whitespace.
    Trimmed,
    /// Accepted; returned and read back normalized to this.
    Stored(String),
    Invalid(&'static str),
    NotFound(&'static str),
    Conflict(&'static str),
    Row(usize, Box<Outcome>),
    /// A lookup found nothing.
    Nothing,
    /// A search found these titles, in id order.
    Found(Vec<String>),
    /// A write at a version was refused: the row is at this version.
    Stale(i64),
    /// Anything else: an unexpected error, a broken round trip, a write on error.
    Other(String),
}

use Outcome::*;

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exact => f.write_str("accepted, round-trips byte-for-byte"),
            Trimmed => f.write_str("accepted, stored trimmed"),
            Stored(value) => write!(f, "accepted, stored as `{value}`"),
            Invalid(TEXT) => f.write_str("`Validation { field: \"name\" }` / `\"title\"`"),
            Invalid(field) => write!(f, "`Validation {{ field: \"{field}\" }}`"),
            NotFound(entity) => write!(f, "`NotFound {{ entity: \"{entity}\" }}`"),
            Conflict(field) => write!(f, "`Conflict {{ field: \"{field}\" }}`"),
            Row(index, cause) => write!(f, "`InvalidRow {{ index: {index} }}`, cause {cause}"),
            Nothing => f.write_str("`Ok`, nothing found"),
            Found(titles) if titles.is_empty() => f.write_str("`Ok`, no book"),
            Found(titles) => write!(f, "`Ok`, only {}", titles.join(", ")),
            Stale(actual) => write!(f, "`Stale {{ actual: {actual} }}`, nothing written"),
            Other(what) => write!(f, "**{}**", abbreviate(what, 300)),
        }
    }
}

fn abbreviate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text.replace('|', "\\|"),
    }
}

/// The field of a name or title error: `name` from an author, `title` from a book.
const TEXT: &str = "name/title";
const IDS: [i64; 5] = [999_999, 0, -1, i64::MIN, i64::MAX];
const BULK: usize = 1_000;
const TAKEN_ISBN: &str = "9780441478125";

struct Case {
    label: String,
    shown: String,
    input: Input,
    expect: Outcome,
}

fn case(label: &str, shown: &str, input: Input, expect: Outcome) -> Case {
    let (label, shown) = (label.to_owned(), shown.to_owned());
    Case {
        label,
        shown,
        input,
        expect,
    }
}

fn text(label: &'static str, shown: &str, value: impl Into<String>, expect: Outcome) -> Case {
    case(label, shown, Input::Text(value.into()), expect)
}

fn search(shown: &str, needle: impl Into<String>, found: &[&str]) -> Case {
    let found = found.iter().map(|t| (*t).to_owned()).collect();
    case("search", shown, Input::Search(needle.into()), Found(found))
}

fn next_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Howard Hinnant's civil_from_days, for the year only.
    let z = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let (era, day) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let year_of_era = (day - day / 1460 + day / 36_524 - day / 146_096) / 365;
    let day_of_year = day - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let year = year_of_era + era * 400 + i64::from((5 * day_of_year + 2) / 153 >= 10);
    i32::try_from(year).unwrap_or(i32::MAX) + 1
}

#[rustfmt::skip] // A table: one case a line reads better than rustfmt's one argument a line.
fn cases() -> Vec<Case> {
    let big = "x".repeat(1 << 20);
    let padded_500 = format!(" {} ", "a".repeat(500));
    let next = next_year();
    let mut cases = vec![
        text("name/title: empty", "`\"\"`", "", Invalid(TEXT)),
        text("name/title: spaces only", "`\"   \"`", "   ", Invalid(TEXT)),
        text("name/title: whitespace only", "tab, LF, NBSP, U+3000", "\t\n\u{a0}\u{3000}", Invalid(TEXT)),
        text("name/title: 500 characters", "`a` × 500", "a".repeat(500), Exact),
        text("name/title: 501 characters", "`a` × 501", "a".repeat(501), Invalid(TEXT)),
        text("name/title: 500 + padding", "` ` + `a` × 500 + ` `", padded_500, Trimmed),
        text("name/title: 1 MiB", "`x` × 1,048,576", big.clone(), Invalid(TEXT)),
        text("name/title: NUL inside", "`a\\0b`", "a\0b", Invalid(TEXT)),
        text("name/title: NUL only", "`\\0`", "\0", Invalid(TEXT)),
        text("name/title: invisible only", "`\\u{200B}\\u{2060}\\u{FEFF}`", "\u{200B}\u{2060}\u{FEFF}", Invalid(TEXT)),
        text("name/title: soft hyphen, padded", "` \\u{AD} `", " \u{AD} ", Invalid(TEXT)),
        text("name/title: padded", "`\"  Padded \\t\"`", "  Padded \t", Trimmed),
        text("name/title: SQL", "`'); DROP TABLE books; --`", "'); DROP TABLE books; --", Exact),
        text("name/title: SQL", "`\" OR 1=1 --`", "\" OR 1=1 --", Exact),
        text("name/title: LIKE wildcard", "`%`", "%", Exact),
        text("name/title: LIKE wildcard", "`_`", "_", Exact),
        text("name/title: LIKE escape", "`\\`", "\\", Exact),
        text("name/title: combining marks", "`Zoe\\u{308} Cafe\\u{301}`", "Zoe\u{308} Cafe\u{301}", Exact),
        text("name/title: right-to-left", "`שלום עולם`, `مرحبا`", "שלום עולם مرحبا", Exact),
        text("name/title: bidi override", "`\\u{202E}abc\\u{202C}`", "\u{202E}abc\u{202C}", Exact),
        text("name/title: emoji", "`📚 Books 🦀`", "📚 Books 🦀", Exact),
        text("name/title: ZWJ sequence", "`👩‍👩‍👧‍👦`", "👩‍👩‍👧‍👦", Exact),
        text("name/title: 4-byte code points", "`𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎𠜱`", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠜎𠜱", Exact),
        text("name/title: 500 emoji", "`📚` × 500 (2,000 bytes)", "📚".repeat(500), Exact),
        text("name/title: 501 emoji", "`📚` × 501", "📚".repeat(501), Invalid(TEXT)),
        text("name/title: 500 two-byte", "`é` × 500", "é".repeat(500), Exact),
        text("name/title: control characters", "`a\\tb\\nc`", "a\tb\nc", Exact),
        text("name/title: byte order mark", "`\\u{FEFF}BOM`", "\u{FEFF}BOM", Exact),
        search("`%`", "%", &["100% Pure"]),
        search("`_`", "_", &["snake_case"]),
        search("`\\`", "\\", &["back\\slash"]),
        search("`PURE` (ASCII case ignored)", "PURE", &["100% Pure"]),
        search("`'); DROP TABLE books; --`", "'); DROP TABLE books; --", &[]),
        search("`\" OR 1=1 --`", "\" OR 1=1 --", &[]),
        search("`[a-z]*` (GLOB syntax)", "[a-z]*", &[]),
        search("`\\0` (NUL)", "\0", &[]),
        search("`Pure\\0x`", "Pure\0x", &[]),
        search("`x` × 1,048,576", big, &[]),
        case("isbn: ISBN-13", "`9780441172719`", Input::Isbn("9780441172719"), Exact),
        case("isbn: hyphens", "`978-0-441-17271-9`", Input::Isbn("978-0-441-17271-9"), Stored("9780441172719".into())),
        case("isbn: spaces", "`978 0 441 17271 9`", Input::Isbn("978 0 441 17271 9"), Stored("9780441172719".into())),
        case("isbn: ISBN-10", "`0-441-17271-7`", Input::Isbn("0-441-17271-7"), Stored("9780441172719".into())),
        case("isbn: ISBN-10 with X", "`0-8044-2957-X`", Input::Isbn("0-8044-2957-X"), Stored("9780804429573".into())),
        case("isbn: ISBN-10 with x", "`080442957x`", Input::Isbn("080442957x"), Stored("9780804429573".into())),
        case("isbn: 979 prefix", "`979-10-90636-07-1`", Input::Isbn("979-10-90636-07-1"), Stored("9791090636071".into())),
        case("isbn: wrong check digit", "`9780441172710`", Input::Isbn("9780441172710"), Invalid("isbn")),
        case("isbn: wrong check digit", "`0-441-17271-8`", Input::Isbn("0-441-17271-8"), Invalid("isbn")),
        case("isbn: wrong length", "`97804411727` (11)", Input::Isbn("97804411727"), Invalid("isbn")),
        case("isbn: wrong length", "`97804411727190` (14)", Input::Isbn("97804411727190"), Invalid("isbn")),
        case("isbn: empty", "`\"\"`", Input::Isbn(""), Invalid("isbn")),
        case("isbn: letters", "`978044117271A`", Input::Isbn("978044117271A"), Invalid("isbn")),
        case("isbn: X not last", "`X123456789`", Input::Isbn("X123456789"), Invalid("isbn")),
        case("isbn: not 978/979", "`1234567890128`", Input::Isbn("1234567890128"), Invalid("isbn")),
        case("isbn: full-width digits", "`９７８０４４１１７２７１９`", Input::Isbn("９７８０４４１１７２７１９"), Invalid("isbn")),
        case("year: MIN_YEAR", "-3000", Input::Year(MIN_YEAR), Exact),
        case("year: MIN_YEAR - 1", "-3001", Input::Year(MIN_YEAR - 1), Invalid("published_year")),
        case("year: zero", "0", Input::Year(0), Exact),
        case("year: next year", "current + 1", Input::Year(next), Exact),
        case("year: next year + 1", "current + 2", Input::Year(next + 1), Invalid("published_year")),
        case("year: i32::MIN", "-2147483648", Input::Year(i32::MIN), Invalid("published_year")),
        case("year: i32::MAX", "2147483647", Input::Year(i32::MAX), Invalid("published_year")),
        case("duplicate (author, title)", "`Existing title`", Input::Book("Existing title", None, Who::Seed), Conflict("title")),
        case("duplicate title, padded", "`Existing title  `", Input::Book("Existing title  ", None, Who::Seed), Conflict("title")),
        case("same title, other case", "`existing TITLE`", Input::Book("existing TITLE", None, Who::Seed), Exact),
        case("same title, other author", "`Existing title`", Input::Book("Existing title", None, Who::Other), Exact),
        case("duplicate ISBN", "`9780441478125`", Input::Book("New", Some(TAKEN_ISBN), Who::Other), Conflict("isbn")),
        case("duplicate ISBN as ISBN-10", "`0-441-47812-3`", Input::Book("New", Some("0-441-47812-3"), Who::Other), Conflict("isbn")),
        case("update to a taken ISBN", "`9780441478125`", Input::Update(BookChanges::new().isbn(TAKEN_ISBN)), Conflict("isbn")),
        case("update to a taken title", "`Other book 2`", Input::Update(BookChanges::new().title("Other book 2")), Conflict("title")),
        case("bulk authors, empty name", "1,000 names, #500 `\"\"`", Input::BulkAuthors(500), Row(500, Box::new(Invalid("name")))),
    ];
    let all_titles = || {
        let mut titles = vec![
            "100% Pure", "Existing title", "Other book", "Other book 2", "back\\slash", "snake_case",
        ];
        titles.sort_unstable();
        Found(titles.into_iter().map(str::to_owned).collect())
    };
    let none = || Found(Vec::new());
    let found = |titles: &[&str]| Found(titles.iter().map(|t| (*t).to_owned()).collect());
    for (label, shown, text, expect) in [
        ("full-text: a word", "`PURE`", "PURE", found(&["100% Pure"])),
        ("full-text: two words", "`other BOOK`", "other BOOK", found(&["Other book", "Other book 2"])),
        ("full-text: quotes", "`\"other\"`", "\"other\"", found(&["Other book", "Other book 2"])),
        ("full-text: a lone quote", "`\"`", "\"", none()),
        ("full-text: operators", "`other AND book OR NOT x`", "other AND book OR NOT x", none()),
        ("full-text: NEAR (a word like any other)", "`NEAR(other book)`", "NEAR(other book)", none()),
        ("full-text: prefix", "`oth*`", "oth*", none()),
        ("full-text: column filter", "`title:other`", "title:other", none()),
        ("full-text: minus, caret", "`-other ^book`", "-other ^book", found(&["Other book", "Other book 2"])),
        ("full-text: parentheses", "`(((`", "(((", none()),
        ("full-text: NUL", "`other\\0book`", "other\0book", found(&["Other book", "Other book 2"])),
        ("full-text: SQL", "`'); DROP TABLE books; --`", "'); DROP TABLE books; --", none()),
        ("full-text: white space only", "`\\t \\n`", "\t \n", none()),
        ("full-text: 1,001 words", "`w0 w1 … w1000`", "", none()),
        ("full-text: a 501-character word", "`x` × 501", "", none()),
    ] {
        let text = match label {
            "full-text: 1,001 words" => (0..=1000).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" "),
            "full-text: a 501-character word" => "x".repeat(501),
            _ => text.to_owned(),
        };
        cases.push(case(label, shown, Input::Matching(text), expect));
    }
    for (shown, version, expect) in [
        ("0", 0, Stale(1)),
        ("-1", -1, Stale(1)),
        ("2 (one ahead)", 2, Stale(1)),
        ("`i64::MAX`", i64::MAX, Stale(1)),
        ("`i64::MIN`", i64::MIN, Stale(1)),
    ] {
        cases.push(case("expected version", shown, Input::Version(version), expect));
    }
    for (shown, time, expect) in [
        ("the earliest time", chrono::DateTime::<chrono::Utc>::MIN_UTC, all_titles()),
        ("1970-01-01", chrono::DateTime::UNIX_EPOCH, all_titles()),
        ("year 9999, last millisecond", chrono::DateTime::from_timestamp_millis(253_402_300_799_999).unwrap_or_default(), none()),
        ("year 10000", chrono::DateTime::from_timestamp(253_402_300_800, 0).unwrap_or_default(), none()),
        ("the latest time", chrono::DateTime::<chrono::Utc>::MAX_UTC, none()),
    ] {
        cases.push(case("updated since", shown, Input::Since(time), expect));
    }
    for (op, expect) in [
        (IdOp::RenameAuthor, NotFound("author")),
        (IdOp::DeleteAuthor, NotFound("author")),
        (IdOp::UpdateBook, NotFound("book")),
        (IdOp::UpdateBookNoChanges, NotFound("book")),
        (IdOp::DeleteBook, NotFound("book")),
        (IdOp::CreateBook, NotFound("author")),
        (IdOp::CreateBooks, Row(1, Box::new(NotFound("author")))),
        (IdOp::Author, Nothing),
        (IdOp::Book, Nothing),
        (IdOp::BooksByAuthor, Nothing),
        (IdOp::SearchByAuthor, Nothing),
    ] {
        let label = format!("missing id: {}", op.name());
        cases.push(case(&label, IDS_SHOWN, Input::Ids(op), expect));
    }
    for (index, bad, shown, cause) in [
        (500, BadRow::EmptyTitle, "#500 title `\"\"`", Invalid("title")),
        (500, BadRow::BadIsbn, "#500 bad ISBN", Invalid("isbn")),
        (500, BadRow::BadYear, "#500 year -3001", Invalid("published_year")),
        (500, BadRow::MissingAuthor, "#500 by a missing author", NotFound("author")),
        (256, BadRow::MissingAuthor, "#256 by a missing author", NotFound("author")),
        (500, BadRow::TitleTwiceInBatch, "#500 repeats #10's title", Conflict("title")),
        (500, BadRow::IsbnTwiceInBatch, "#500 repeats #10's ISBN", Conflict("isbn")),
        (500, BadRow::TakenIsbn, "#500 has a stored book's ISBN", Conflict("isbn")),
        (256, BadRow::TakenIsbn, "#256 has a stored book's ISBN", Conflict("isbn")),
        (500, BadRow::TakenTitle, "#500 has a stored title", Conflict("title")),
    ] {
        let input = Input::Bulk(index, bad);
        let shown = format!("1,000 books, {shown}");
        cases.push(case("bulk books", &shown, input, Row(index, Box::new(cause))));
    }
    cases
}

backend_tests! {
    fn bad_input_table(backend: Backend) -> TestResult {
        let cases = cases();
        let mut table = String::from("| Case | Input | Outcome |\n|---|---|---|\n");
        let mut failures = Vec::new();
        OPERATIONS.with(|count| count.set(0));
        // The cases run one operation at a time: two connections are plenty, and keep the
        // PostgreSQL server's connection count low.
        let open = || TestDb::open_with(backend, |config| config.max_size(2));
        // A new schema costs PostgreSQL some 35 ms (creating, migrating, connecting,
        // dropping), ten times what a case takes; so there, the cases share one, emptied
        // before each and its id sequences restarted: the same empty tables, handing out
        // the same ids, as a fresh one.
        // MySQL: a fresh database per case (its auto-increment counters restart only
        // with `TRUNCATE`, which the foreign key refuses).
        let shared = match backend {
            Backend::Sqlite | Backend::Mysql => None,
            Backend::Postgres => Some(open()?),
        };
        for case in &cases {
            let fresh;
            let db = match &shared {
                Some(db) => {
                    db.execute_raw(
                        "DELETE FROM books; DELETE FROM authors;
                         SELECT setval(pg_get_serial_sequence('authors', 'id'), 1, false);
                         SELECT setval(pg_get_serial_sequence('books', 'id'), 1, false);",
                    )?;
                    db
                }
                None => {
                    fresh = open()?;
                    &fresh
                }
            };
            let seed = seed(&db.repo)?;
            let actual = run_case(&db.repo, &seed, &case.input)?;
            let (label, shown) = (&case.label, &case.shown);
            writeln!(table, "| {label} | {shown} | {} |", case.expect)?;
            if actual != case.expect {
                failures.push(format!(
                    "{label} {shown}: expected {}, got {actual}",
                    case.expect
                ));
            }
        }
        println!("{table}");
        let operations = OPERATIONS.with(Cell::get);
        println!(
            "{backend:?}: {} cases, {operations} operations, {} failed",
            cases.len(),
            failures.len()
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        Ok(())
    }
}

const IDS_SHOWN: &str = "999999, 0, -1, `i64::MIN`, `i64::MAX`";
