//! The embedded migrations: status, applying, reverting, data preservation, and
//! refusing a database written by a newer build.

use std::path::{Path, PathBuf};

use bookshelf::{Config, Error, MigrationError, NewAuthor, NewBook, Page, Repository};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use tempfile::TempDir;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIRST: &str = "20261124000001";
const SECOND: &str = "20261124000002";
const UNKNOWN: &str = "99991231000000";

/// A fresh directory and the path of a database file (not created yet) inside it.
fn temp_db() -> TestResult<(TempDir, String)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let path = path.to_str().ok_or("temp path is not UTF-8")?.to_owned();
    Ok((dir, path))
}

/// A plain diesel connection on the file, without the repository's set-up.
fn raw(path: &str) -> TestResult<SqliteConnection> {
    Ok(SqliteConnection::establish(path)?)
}

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct SchemaObject {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    tbl_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    sql: Option<String>,
}

/// Every table, index and trigger of the schema (without SQLite's and diesel's own).
fn schema_dump(path: &str) -> TestResult<Vec<SchemaObject>> {
    Ok(diesel::sql_query(
        "SELECT type AS kind, name, tbl_name, sql FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' \
         ORDER BY name",
    )
    .load(&mut raw(path)?)?)
}

fn table_names(path: &str) -> TestResult<Vec<String>> {
    Ok(schema_dump(path)?
        .into_iter()
        .filter(|object| object.kind == "table")
        .map(|object| object.name)
        .collect())
}

#[test]
fn a_fresh_database_is_fully_migrated() -> TestResult {
    let (_dir, path) = temp_db()?;
    let repo = Repository::open(&path)?;
    assert_eq!(repo.applied_migrations()?, [FIRST, SECOND]);
    assert!(repo.pending_migrations()?.is_empty());
    assert!(
        repo.run_pending_migrations()?.is_empty(),
        "nothing left to run"
    );
    assert_eq!(table_names(&path)?, ["authors", "books"]);

    let memory = Repository::in_memory()?;
    assert_eq!(memory.applied_migrations()?, [FIRST, SECOND]);
    assert!(memory.pending_migrations()?.is_empty());
    Ok(())
}

#[test]
fn opening_without_migrations_leaves_them_pending() -> TestResult {
    let (_dir, path) = temp_db()?;
    let repo = Config::new(path.as_str()).run_migrations(false).open()?;
    assert!(repo.applied_migrations()?.is_empty());
    assert_eq!(repo.pending_migrations()?, [FIRST, SECOND]);
    assert!(table_names(&path)?.is_empty());

    assert_eq!(repo.run_pending_migrations()?, [FIRST, SECOND]);
    assert_eq!(repo.applied_migrations()?, [FIRST, SECOND]);
    assert!(repo.pending_migrations()?.is_empty());
    let author = repo.create_author(&NewAuthor::new("Author 000001"))?;
    repo.create_book(&NewBook::new(author.id, "Title 000001-01").published_year(2000))?;
    assert_eq!(repo.count_books()?, 1);
    Ok(())
}

#[test]
fn reverting_twice_reverts_both_then_nothing_is_left() -> TestResult {
    let (_dir, path) = temp_db()?;
    let repo = Repository::open(&path)?;
    assert_eq!(repo.revert_last_migration()?, SECOND);
    assert_eq!(repo.applied_migrations()?, [FIRST]);
    assert_eq!(repo.pending_migrations()?, [SECOND]);
    assert_eq!(table_names(&path)?, ["authors", "books"]);

    assert_eq!(repo.revert_last_migration()?, FIRST);
    assert!(repo.applied_migrations()?.is_empty());
    assert_eq!(repo.pending_migrations()?, [FIRST, SECOND]);
    assert!(schema_dump(&path)?.is_empty(), "{:?}", schema_dump(&path)?);

    let third = repo.revert_last_migration();
    assert!(
        matches!(
            third,
            Err(Error::Migration(MigrationError::NothingToRevert))
        ),
        "{third:?}"
    );
    assert!(repo.applied_migrations()?.is_empty());
    Ok(())
}

#[test]
fn the_second_migration_keeps_data_written_under_the_first() -> TestResult {
    let (_dir, path) = temp_db()?;
    {
        let repo = Repository::open(&path)?;
        assert_eq!(repo.revert_last_migration()?, SECOND);
    }
    // Rows written by the first schema, as an older build or another tool would.
    raw(&path)?.batch_execute(
        "INSERT INTO authors (id, name) VALUES (1, 'Author 000001'), (2, 'Author 000002');
         INSERT INTO books (id, title, author_id) VALUES
             (10, 'Title 000001-02', 1), (11, 'Title 000001-01', 1), (12, 'Title 000002-01', 2);",
    )?;

    let repo = Repository::open(&path)?;
    assert_eq!(repo.applied_migrations()?, [FIRST, SECOND]);
    let shelf = repo.authors_with_books(Page::all())?;
    // `author id name: book id title, ...`
    let summary: Vec<String> = shelf
        .iter()
        .map(|entry| {
            let books: Vec<String> = entry
                .books
                .iter()
                .map(|book| format!("{} {}", book.id, book.title))
                .collect();
            let author = &entry.author;
            format!("{} {}: {}", author.id, author.name, books.join(", "))
        })
        .collect();
    assert_eq!(
        summary,
        [
            "1 Author 000001: 11 Title 000001-01, 10 Title 000001-02",
            "2 Author 000002: 12 Title 000002-01",
        ]
    );
    for book in repo.list_books(Page::all())? {
        assert_eq!(book.isbn, None);
        assert_eq!(book.published_year, None);
    }
    // The new columns and indexes work on the old rows.
    let updated = repo.update_book(
        bookshelf::BookId(12),
        &bookshelf::BookChanges::new()
            .isbn("978-0-441-47812-5")
            .published_year(1969),
    )?;
    assert_eq!(updated.isbn.as_deref(), Some("9780441478125"));
    assert_eq!(updated.published_year, Some(1969));
    Ok(())
}

#[test]
fn up_down_up_gives_the_same_schema() -> TestResult {
    let (_dir, path) = temp_db()?;
    let repo = Repository::open(&path)?;
    let migrated = schema_dump(&path)?;
    assert!(migrated
        .iter()
        .any(|o| o.name == "books_author_id_title_key"));

    // Down one and up again.
    repo.revert_last_migration()?;
    let first_only = schema_dump(&path)?;
    assert_ne!(first_only, migrated);
    assert_eq!(repo.run_pending_migrations()?, [SECOND]);
    assert_eq!(schema_dump(&path)?, migrated);

    // All the way down and up again.
    repo.revert_last_migration()?;
    assert_eq!(schema_dump(&path)?, first_only);
    repo.revert_last_migration()?;
    assert!(schema_dump(&path)?.is_empty());
    assert_eq!(repo.run_pending_migrations()?, [FIRST, SECOND]);
    assert_eq!(schema_dump(&path)?, migrated);
    Ok(())
}

fn file_bytes(path: &Path) -> TestResult<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn with_suffix(path: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{path}{suffix}"))
}

#[test]
fn a_database_from_a_newer_build_is_refused_unchanged() -> TestResult {
    let (_dir, path) = temp_db()?;
    {
        let repo = Repository::open(&path)?;
        let author = repo.create_author(&NewAuthor::new("Author 000001"))?;
        repo.create_book(&NewBook::new(author.id, "Title 000001-01"))?;
    }
    {
        let mut conn = raw(&path)?;
        diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES (?)")
            .bind::<Text, _>(UNKNOWN)
            .execute(&mut conn)?;
        // Everything into the main file, so that its bytes are the whole database.
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")?;
    }
    let main = Path::new(&path);
    let wal = with_suffix(&path, "-wal");
    let before = file_bytes(main)?.ok_or("no database file")?;
    let wal_before = file_bytes(&wal)?.unwrap_or_default();
    assert!(wal_before.is_empty());

    for config in [
        Config::new(path.as_str()),
        Config::new(path.as_str()).run_migrations(false),
    ] {
        match config.open() {
            Err(Error::Migration(MigrationError::Unknown { version })) => {
                assert_eq!(version, UNKNOWN);
            }
            other => return Err(format!("expected an unknown migration, got {other:?}").into()),
        }
        assert_eq!(file_bytes(main)?.as_deref(), Some(before.as_slice()));
        assert!(file_bytes(&wal)?.unwrap_or_default().is_empty());
    }
    let error = Repository::open(&path).err().ok_or("the open succeeded")?;
    assert!(error.to_string().contains(UNKNOWN), "{error}");

    // Still the old data, and the unknown version, as they were.
    let mut conn = raw(&path)?;
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    let versions: Vec<String> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
            .load::<Version>(&mut conn)?
            .into_iter()
            .map(|row| row.version)
            .collect();
    assert_eq!(versions, [FIRST, SECOND, UNKNOWN]);
    Ok(())
}
