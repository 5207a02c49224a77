//! A refused open writes nothing: a database the crate refuses (another application's,
//! one whose migration fails) keeps every byte of its file, no `-wal`, `-shm` or
//! `-journal` file is left beside it, and on PostgreSQL its schema and rows stay as they
//! were.

mod common;

use std::path::{Path, PathBuf};

use bookshelf::{Config, Error, MigrationError, Repository};
use common::{backend_tests, Backend, BoxError, TestDb, TestResult};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

/// The SQLite files beside the database that an open would leave if it had written.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

fn side_files(path: &Path) -> Vec<PathBuf> {
    SIDE_FILES
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .filter(|side| side.exists())
        .collect()
}

/// Writes `sql` into a new database file at `path` with a plain connection, in SQLite's
/// default rollback journal, as another tool would; no connection is left open.
fn create_with(path: &Path, sql: &str) -> TestResult {
    let url = path.to_str().ok_or("temporary path is not UTF-8")?;
    let mut conn = diesel::SqliteConnection::establish(url)?;
    conn.batch_execute(sql)?;
    Ok(())
}

/// Opens `path` with `config` and returns the error, checking that the file kept every
/// byte and that nothing was left beside it.
fn refused_unchanged(path: &Path, config: Config) -> Result<Error, BoxError> {
    let before = std::fs::read(path)?;
    let error = config.open().err().ok_or("the database was opened")?;
    assert!(std::fs::read(path)? == before, "the file changed: {error}");
    assert_eq!(side_files(path), Vec::<PathBuf>::new(), "{error}");
    Ok(error)
}

/// Another application's database: its own `authors` table, no migrations.
const FOREIGN: &str = "CREATE TABLE authors (id INTEGER PRIMARY KEY, full_name TEXT, born INTEGER);
     INSERT INTO authors (full_name, born) VALUES ('Octavia E. Butler', 1947);
     CREATE TABLE notes (body TEXT);";

#[test]
fn another_applications_database_is_refused_byte_for_byte_unchanged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("other.db");
    create_with(&path, FOREIGN)?;
    let url = path.to_str().ok_or("temporary path is not UTF-8")?;
    for config in [
        Config::new(url),
        Config::new(url).run_migrations(false),
        Config::new(url).process_exclusive(true),
    ] {
        match refused_unchanged(&path, config)? {
            Error::Migration(MigrationError::ForeignTable { table }) => {
                assert_eq!(table, "authors")
            }
            other => return Err(format!("expected a foreign table, got {other:?}").into()),
        }
    }
    Ok(())
}

/// A database at the first migration whose rows break the second one's unique index (a
/// title twice for one author): the migration fails half-way, after it has altered the
/// table, and is rolled back whole; the file is not switched to WAL either.
#[test]
fn a_migration_that_fails_leaves_the_file_byte_for_byte_unchanged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let url = path.to_str().ok_or("temporary path is not UTF-8")?;
    let repo = Repository::open(url)?;
    repo.revert_last_migration()?;
    repo.revert_last_migration()?;
    repo.close().map_err(|_| "a clone is alive")?;
    create_with(
        &path,
        "PRAGMA journal_mode = DELETE;
         INSERT INTO authors (id, name) VALUES (1, 'Author 000001');
         INSERT INTO books (title, author_id) VALUES ('Title 000001-01', 1), ('Title 000001-01', 1);",
    )?;
    let error = refused_unchanged(&path, Config::new(url))?;
    assert!(
        matches!(error, Error::Migration(MigrationError::Failed(_))),
        "{error:?}"
    );
    // Opened without migrating, the same file is fine as it is.
    let repo = Config::new(url).run_migrations(false).open()?;
    assert_eq!(repo.count_books()?, 2);
    assert_eq!(repo.pending_migrations()?.len(), 2);
    Ok(())
}

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The tables of `db`'s database (the test's own schema on PostgreSQL), sorted.
fn tables(db: &TestDb) -> Result<Vec<String>, BoxError> {
    let sql = match db.backend {
        // Without SQLite's own (sqlite_sequence stays once an AUTOINCREMENT table existed).
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY name"
        }
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
             WHERE table_schema = DATABASE() ORDER BY name"
        }
    };
    let rows: Vec<Name> = match db.backend {
        Backend::Sqlite => {
            diesel::sql_query(sql).load(&mut diesel::SqliteConnection::establish(db.url())?)?
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            diesel::sql_query(sql).load(&mut common::postgres::connect(db.url())?)?
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => return Err("PostgreSQL tests need the `postgres` feature".into()),
        #[cfg(feature = "mysql")]
        Backend::Mysql => diesel::sql_query(sql).load(&mut common::mysql::connect(db.url())?)?,
        #[cfg(not(feature = "mysql"))]
        Backend::Mysql => return Err("MySQL tests need the `mysql` feature".into()),
    };
    // Sorted here, in byte order: MySQL's information_schema sorts by a case-insensitive
    // collation, which puts `_` after the letters.
    let mut names: Vec<String> = rows.into_iter().map(|row| row.name).collect();
    names.sort();
    Ok(names)
}

backend_tests! {
    /// With every migration reverted and another application's `authors` table in their
    /// place, opening is refused with the table's name, with or without migrations, and
    /// nothing is created or changed.
    fn a_foreign_table_is_refused_on_every_backend(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, |config| config.max_size(2))?;
        while !db.repo.applied_migrations()?.is_empty() {
            db.repo.revert_last_migration()?;
        }
        db.execute_raw(
            "CREATE TABLE authors (id INTEGER PRIMARY KEY, full_name TEXT);
             INSERT INTO authors (id, full_name) VALUES (7, 'Ursula K. Le Guin');",
        )?;
        let before = tables(&db)?;
        assert_eq!(before, ["__diesel_schema_migrations", "authors"]);
        for config in [db.config(), db.config().run_migrations(false)] {
            match config.max_size(2).open() {
                Err(Error::Migration(MigrationError::ForeignTable { table })) => {
                    assert_eq!(table, "authors")
                }
                other => return Err(format!("expected a foreign table, got {other:?}").into()),
            }
            assert_eq!(tables(&db)?, before);
            assert_eq!(db.query_i64("SELECT count(*) AS n FROM authors WHERE id = 7")?, 1);
        }
        Ok(())
    }
}
