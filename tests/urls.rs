//! A URL names exactly one database: every in-memory form opens one database that every
//! pooled connection shares; forms that would give each connection a database of its
//! own are refused, creating nothing; the forms that name one file open that file
//! whatever the other settings are; and a path SQLite cannot open is refused with its
//! true cause.

mod common;

use std::error::Error as StdError;
use std::path::Path;

use bookshelf::{Config, Error, NewAuthor, NewBook, Repository};
use common::{BoxError, TestResult};

/// The error and its sources, joined with ": ".
fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn text(path: &Path) -> Result<&str, BoxError> {
    Ok(path.to_str().ok_or("temporary path is not UTF-8")?)
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Result<Vec<String>, BoxError> {
    let mut names = std::fs::read_dir(dir)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>, std::io::Error>>()?;
    names.sort();
    Ok(names)
}

/// Writes on one connection, and reads on a second one while the first is still checked
/// out (inside `for_each_book`): both see the same database.
fn connections_share_one_database(repo: &Repository) -> TestResult {
    let author = repo.create_author(&NewAuthor::new("Author 000001"))?;
    repo.create_book(&NewBook::new(author.id, "Title 000001-01"))?;
    let mut seen = Vec::new();
    repo.for_each_book(|_| seen.push(repo.count_authors().map_err(|e| e.to_string())))?;
    assert_eq!(seen, [Ok(1)]);
    assert!(repo.stats().pool_connections >= 2, "{:?}", repo.stats());
    Ok(())
}

#[test]
fn every_in_memory_form_opens_one_database_shared_by_the_pool() -> TestResult {
    for url in [
        ":memory:",
        "sqlite::memory:",
        "sqlite://:memory:",
        "file::memory:",
        "file::memory:?cache=shared",
        "file::memory:?mode=memory&cache=private",
    ] {
        let repo = Config::new(url).max_size(3).open()?;
        connections_share_one_database(&repo).map_err(|error| format!("{url}: {error}"))?;
        // Each open is a database of its own.
        assert_eq!(Repository::open(url)?.count_authors()?, 0, "{url}");
    }
    Ok(())
}

#[test]
fn forms_that_give_each_connection_a_database_of_its_own_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let named = dir.path().join("x.db");
    let named = text(&named)?;
    for (url, says) in [
        (String::new(), "`:memory:`"),
        ("   ".to_owned(), "`:memory:`"),
        ("sqlite://".to_owned(), "`:memory:`"),
        ("sqlite:".to_owned(), "`:memory:`"),
        ("file:".to_owned(), "`:memory:`"),
        ("file://".to_owned(), "`:memory:`"),
        ("file:?mode=rwc".to_owned(), "`:memory:`"),
        (format!("file:{named}?mode=memory"), "`:memory:`"),
        (
            format!("file:{named}?mode=memory&cache=shared"),
            "`:memory:`",
        ),
        (format!("file:{named}?vfs=memdb"), "`:memory:`"),
        (format!("sqlite://{named}?mode=memory"), "`:memory:`"),
        ("file::memory:?mode=ro".to_owned(), "in-memory database"),
    ] {
        match Config::new(&url).open() {
            Err(Error::UnsupportedUrl(message)) => {
                assert!(message.contains(says), "{url}: {message}")
            }
            other => return Err(format!("{url:?}: expected a refusal, got {other:?}").into()),
        }
    }
    assert_eq!(
        entries(dir.path())?,
        Vec::<String>::new(),
        "nothing created"
    );
    Ok(())
}

#[test]
fn forms_sqlite_would_misread_are_refused_before_creating_anything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("x.db");
    let path = text(&path)?;
    for (url, says) in [
        (format!("file:{path}?mod=ro"), "\"mod\""),
        (format!("file:{path}?mode=bogus"), "mode"),
        (format!("file:{path}?mode=ro&mode=rwc"), "twice"),
        (format!("file:{path}#v2"), "fragment"),
        (format!("file:{path}%00.old"), "%00"),
        (format!("file://elsewhere{path}"), "host"),
        (format!("mongodb://{path}"), "scheme"),
    ] {
        match Config::new(&url).open() {
            Err(Error::UnsupportedUrl(message)) => {
                assert!(message.contains(says), "{url}: {message}")
            }
            other => return Err(format!("{url:?}: expected a refusal, got {other:?}").into()),
        }
    }
    assert_eq!(
        entries(dir.path())?,
        Vec::<String>::new(),
        "nothing created"
    );
    Ok(())
}

/// A name with the characters URIs treat specially: a plain path takes them as they are,
/// the URI forms escape them.
const NAME: &str = "a b?c#d%41.db";
const ESCAPED: &str = "a%20b%3Fc%23d%2541.db";

#[test]
fn every_form_of_one_file_opens_that_file_whatever_the_options() -> TestResult {
    let dir = tempfile::tempdir()?;
    let dir_text = text(dir.path())?;
    let plain = dir.path().join(NAME);
    let forms = [
        text(&plain)?.to_owned(),
        format!("sqlite://{dir_text}/{ESCAPED}"),
        format!("sqlite:{dir_text}/{ESCAPED}"),
        format!("file:{dir_text}/{ESCAPED}"),
        format!("file://{dir_text}/{ESCAPED}"),
        format!("file://localhost{dir_text}/{ESCAPED}"),
        format!("file:{dir_text}/{ESCAPED}?mode=rwc&cache=private"),
    ];
    let mut written = 0;
    for url in &forms {
        for exclusive in [false, true] {
            // One repository at a time: a process_exclusive one holds the file alone.
            let repo = Config::new(url).process_exclusive(exclusive).open()?;
            assert_eq!(
                repo.count_authors()?,
                written,
                "{url} (exclusive: {exclusive})"
            );
            repo.create_author(&NewAuthor::new(format!("Author {written:06}")))?;
            written += 1;
            repo.close().map_err(|_| "a clone is alive")?;
            assert_eq!(
                entries(dir.path())?,
                [NAME],
                "{url} (exclusive: {exclusive})"
            );
        }
    }
    Ok(())
}

#[test]
fn a_read_only_url_on_a_missing_file_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("missing.db");
    for url in [
        format!("file:{}?mode=ro", text(&path)?),
        format!("file:{}?mode=rw", text(&path)?),
        format!("sqlite://{}?immutable=1", text(&path)?),
    ] {
        let error = Config::new(&url).open().err().ok_or("opened")?;
        assert!(matches!(error, Error::Connection(_)), "{url}: {error:?}");
        assert!(
            chain(&error).contains("does not exist"),
            "{}",
            chain(&error)
        );
    }
    assert_eq!(
        entries(dir.path())?,
        Vec::<String>::new(),
        "nothing created"
    );
    Ok(())
}

/// The URL of `path` in each form that takes a path as it is.
fn forms(path: &Path) -> Result<[String; 3], BoxError> {
    let path = text(path)?;
    Ok([
        path.to_owned(),
        format!("sqlite://{path}"),
        format!("file:{path}"),
    ])
}

fn refused_with(url: &str, says: &[&str]) -> TestResult {
    let error = Repository::open(url).err().ok_or("opened")?;
    assert!(matches!(error, Error::Connection(_)), "{url}: {error:?}");
    let text = chain(&error);
    for part in says {
        assert!(text.contains(part), "{url}: {text}");
    }
    Ok(())
}

#[test]
fn a_parent_that_is_a_file_is_named_as_a_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a directory")?;
    for path in [notes.join("x.db"), notes.join("deeper").join("x.db")] {
        for url in forms(&path)? {
            refused_with(&url, &["notes.txt is a file, not a directory"])?;
        }
    }
    assert_eq!(std::fs::read_to_string(&notes)?, "not a directory");
    assert_eq!(entries(dir.path())?, ["notes.txt"]);
    Ok(())
}

#[test]
fn a_missing_directory_and_a_directory_are_named() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing").join("deeper");
    for url in forms(&missing.join("x.db"))? {
        refused_with(&url, &["directory", "deeper", "does not exist"])?;
    }
    for url in forms(dir.path())? {
        refused_with(&url, &["is a directory, not a database file"])?;
    }
    assert_eq!(
        entries(dir.path())?,
        Vec::<String>::new(),
        "nothing created"
    );
    Ok(())
}

/// `Repository::open_path` takes any file name the file system allows, one that is not
/// UTF-8 included (a URL string cannot name it), and opens that very file again.
#[cfg(unix)]
#[test]
fn a_path_that_is_not_utf8_opens_that_file() -> TestResult {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir()?;
    let path = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9 \xff.db"));
    let repo = Repository::open_path(&path)?;
    repo.create_author(&NewAuthor::new("Kept"))?;
    drop(repo);
    assert!(path.is_file(), "the file is created under its own name");
    let entries: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(Repository::open_path(&path)?.count_authors()?, 1);
    Ok(())
}
