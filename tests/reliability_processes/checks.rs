//! Checks on the database file, through a plain diesel connection without the
//! repository's set-up.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;

use crate::common::{BoxError, TestResult};

pub(super) fn raw(db: &Path) -> Result<SqliteConnection, BoxError> {
    Ok(SqliteConnection::establish(
        db.to_str().ok_or("path is not UTF-8")?,
    )?)
}

#[derive(QueryableByName)]
struct Integrity {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(Debug, QueryableByName)]
struct ForeignKeyProblem {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    rowid: Option<i64>,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// `PRAGMA integrity_check` is `ok` and `PRAGMA foreign_key_check` is empty.
pub(super) fn assert_sound(db: &Path) -> TestResult {
    let mut conn = raw(db)?;
    let integrity: Vec<String> = diesel::sql_query("PRAGMA integrity_check")
        .load::<Integrity>(&mut conn)?
        .into_iter()
        .map(|row| row.integrity_check)
        .collect();
    assert_eq!(integrity, ["ok"]);
    let problems: Vec<ForeignKeyProblem> =
        diesel::sql_query("PRAGMA foreign_key_check").load(&mut conn)?;
    let problems: Vec<_> = problems.iter().map(|p| (&p.table, p.rowid)).collect();
    assert!(problems.is_empty(), "foreign key problems: {problems:?}");
    Ok(())
}

/// The first column of `sql`, which must be named `name`.
fn names(db: &Path, sql: &str) -> Result<Vec<String>, BoxError> {
    let rows: Vec<Name> = diesel::sql_query(sql).load(&mut raw(db)?)?;
    Ok(rows.into_iter().map(|row| row.name).collect())
}

/// Applied versions, each with how often it appears.
pub(super) fn versions(db: &Path) -> Result<Vec<String>, BoxError> {
    names(
        db,
        "SELECT version || ' x' || count(*) AS name FROM __diesel_schema_migrations \
         GROUP BY version ORDER BY version",
    )
}

pub(super) fn once(versions: &[&str]) -> Vec<String> {
    versions.iter().map(|v| format!("{v} x1")).collect()
}

const LATEST_INDEXES: [&str; 4] = [
    "books_author_id_title_key",
    "books_isbn_key",
    "books_title_idx",
    "books_updated_at_idx",
];

/// Our indexes and the columns of `books`, to tell migration 1 from migration 2.
pub(super) fn schema(db: &Path) -> Result<(Vec<String>, Vec<String>), BoxError> {
    let indexes = names(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'index' \
         AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let columns = names(
        db,
        "SELECT name FROM pragma_table_info('books') ORDER BY cid",
    )?;
    Ok((indexes, columns))
}

/// After every migration: migration 2 replaced `books_author_id_idx` with the composite
/// key, migration 3 added the versions, the times and their index.
pub(super) fn full_schema() -> (Vec<String>, Vec<String>) {
    let indexes = LATEST_INDEXES.map(str::to_owned).to_vec();
    let columns = [
        "id",
        "title",
        "author_id",
        "isbn",
        "published_year",
        "version",
        "created_at",
        "updated_at",
    ];
    (indexes, columns.map(str::to_owned).to_vec())
}

pub(super) fn first_schema() -> (Vec<String>, Vec<String>) {
    let columns = ["id", "title", "author_id"].map(str::to_owned).to_vec();
    (vec!["books_author_id_idx".to_owned()], columns)
}

/// Row counts and sums, to tell whether any row changed.
pub(super) fn fingerprint(db: &Path) -> Result<Vec<String>, BoxError> {
    names(
        db,
        "SELECT (SELECT count(*) || ' ' || total(length(name)) FROM authors) AS name \
         UNION ALL SELECT count(*) || ' ' || total(author_id) || ' ' || total(length(title)) \
         FROM books",
    )
}

/// True when another connection holds the write lock: `BEGIN IMMEDIATE` fails at once
/// (a plain connection has no busy timeout). The child's only write transaction is the
/// one that applies the migrations.
pub(super) fn write_locked(conn: &mut SqliteConnection) -> Result<bool, BoxError> {
    match conn.batch_execute("BEGIN IMMEDIATE") {
        Ok(()) => {
            conn.batch_execute("ROLLBACK")?;
            Ok(false)
        }
        Err(error) if error.to_string().contains("database is locked") => Ok(true),
        Err(error) => Err(error.into()),
    }
}
