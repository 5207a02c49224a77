//! The database the migrations build against the generated schema files
//! (`src/schema/sqlite.rs`, `src/schema/postgres.rs`), and the SQLite settings and
//! indexes the crate relies on.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bookshelf::{AuthorId, Book, Config, Error, Missing, NewAuthor, NewBook, Repository};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::{Sqlite, SqliteConnection};
use tempfile::TempDir;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A migrated repository on its own database file, and the file's path.
fn temp_repo(config: impl FnOnce(Config) -> Config) -> TestResult<(TempDir, String, Repository)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let path = path.to_str().ok_or("temp path is not UTF-8")?.to_owned();
    let repo = config(Config::new(path.as_str())).open()?;
    Ok((dir, path, repo))
}

/// Table name -> its columns in order, each `(name, diesel type)`.
type Tables = Vec<(String, Vec<(String, String)>)>;

/// Reads the `diesel::table!` blocks of a schema module, as `diesel print-schema` writes
/// them.
fn parse_schema_rs(text: &str) -> Result<Tables, String> {
    let mut tables: Tables = Vec::new();
    let mut in_macro = false;
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    let mut sql_name: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let bad = || format!("schema line {}: cannot read {line:?}", number + 1);
        if line.starts_with("diesel::table!") {
            in_macro = true;
        } else if !in_macro || line.is_empty() || line.starts_with("//") {
        } else if let Some(name) = line
            .strip_prefix("#[sql_name = \"")
            .and_then(|rest| rest.strip_suffix("\"]"))
        {
            sql_name = Some(name.to_owned());
        } else if line.starts_with("#[") || line.starts_with("use ") {
        } else if line == "}" {
            match current.take() {
                Some(table) => tables.push(table),
                None => in_macro = false,
            }
        } else if let Some((column, ty)) = line.split_once("->") {
            let columns = &mut current.as_mut().ok_or_else(bad)?.1;
            let name = sql_name.take().unwrap_or_else(|| column.trim().to_owned());
            let ty: String = ty.trim_end_matches(',').split_whitespace().collect();
            columns.push((name, ty));
        } else if line.ends_with('{') && current.is_none() {
            let name = line.split(['(', ' ']).next().ok_or_else(bad)?;
            current = Some((name.to_owned(), Vec::new()));
        } else {
            return Err(bad());
        }
    }
    tables.sort();
    Ok(tables)
}

#[derive(QueryableByName)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared: String,
    #[diesel(sql_type = BigInt)]
    not_null: i64,
    #[diesel(sql_type = BigInt)]
    pk: i64,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// The diesel type `diesel print-schema` gives an SQLite column (with
/// `sqlite_integer_primary_key_is_bigint = true`).
fn diesel_type(column: &ColumnInfo) -> String {
    let base = match (column.declared.to_ascii_uppercase().as_str(), column.pk) {
        ("INTEGER", 1..) | ("BIGINT", _) => "BigInt".to_owned(),
        ("INTEGER", _) => "Integer".to_owned(),
        ("TEXT", _) => "Text".to_owned(),
        ("TIMESTAMP", _) => "Timestamp".to_owned(),
        (other, _) => format!("Unmapped({other})"),
    };
    if column.not_null == 0 && column.pk == 0 {
        format!("Nullable<{base}>")
    } else {
        base
    }
}

/// The tables of a database (apart from SQLite's and diesel's own, and the full-text
/// index's, which `diesel.toml` keeps out of the schema file), as `Tables`.
fn database_tables(conn: &mut SqliteConnection) -> TestResult<Tables> {
    let names: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' \
         AND name NOT LIKE 'books_fts%' ORDER BY name",
    )
    .load(conn)?;
    let mut tables = Vec::new();
    for Name { name } in names {
        let columns: Vec<ColumnInfo> = diesel::sql_query(
            "SELECT name, type AS declared, \"notnull\" AS not_null, pk \
             FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind::<Text, _>(&name)
        .load(conn)?;
        let columns = columns
            .iter()
            .map(|column| (column.name.clone(), diesel_type(column)))
            .collect();
        tables.push((name, columns));
    }
    Ok(tables)
}

/// The SQLite schema file, which the crate's queries are built on.
fn schema_rs() -> TestResult<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema/sqlite.rs");
    Ok(std::fs::read_to_string(path)?)
}

#[test]
fn schema_rs_matches_the_migrated_database() -> TestResult {
    let (_dir, path, _repo) = temp_repo(|config| config)?;
    let declared = parse_schema_rs(&schema_rs()?)?;
    let actual = database_tables(&mut SqliteConnection::establish(&path)?)?;
    assert_eq!(
        declared, actual,
        "src/schema/sqlite.rs has drifted from the migrations: regenerate it with diesel print-schema"
    );
    let names: Vec<&str> = actual.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["authors", "books"]);
    Ok(())
}

#[test]
fn the_drift_check_notices_a_change_on_either_side() -> TestResult {
    let text = schema_rs()?;
    let declared = parse_schema_rs(&text)?;
    let edits = [
        ("title -> Text,", "name -> Text,"),
        ("title -> Text,", "title -> Nullable<Text>,"),
        (
            "published_year -> Nullable<Integer>,",
            "published_year -> Nullable<BigInt>,",
        ),
        ("isbn -> Nullable<Text>,", ""),
        ("name -> Text,", "name -> Text,\n        born -> Integer,"),
        ("authors (id) {", "writers (id) {"),
    ];
    for (from, to) in edits {
        assert!(text.contains(from), "src/schema/sqlite.rs has no {from:?}");
        let edited = parse_schema_rs(&text.replacen(from, to, 1))?;
        assert_ne!(edited, declared, "{from:?} -> {to:?} went unnoticed");
    }

    // And a database changed behind the migrations' back.
    for change in [
        "ALTER TABLE books ADD COLUMN extra TEXT",
        "ALTER TABLE books RENAME COLUMN isbn TO isbn13",
        "ALTER TABLE books DROP COLUMN published_year",
        "CREATE TABLE shelves (id INTEGER NOT NULL PRIMARY KEY)",
    ] {
        let (_dir, path, _repo) = temp_repo(|config| config)?;
        let mut conn = SqliteConnection::establish(&path)?;
        assert_eq!(database_tables(&mut conn)?, declared);
        diesel::sql_query(change).execute(&mut conn)?;
        assert_ne!(
            database_tables(&mut conn)?,
            declared,
            "{change} went unnoticed"
        );
    }
    Ok(())
}

#[test]
fn foreign_keys_are_on_for_every_pooled_connection() -> TestResult {
    const THREADS: usize = 4;
    let (_dir, _path, repo) = temp_repo(|config| {
        config
            .max_size(4)
            .busy_timeout(Duration::from_secs(60))
            .connection_timeout(Duration::from_secs(60))
    })?;
    let barrier = Arc::new(Barrier::new(THREADS));
    let first = Arc::new(AtomicBool::new(true));
    let threads: Vec<_> = (0..THREADS)
        .map(|n| {
            let (repo, barrier, first) = (repo.clone(), Arc::clone(&barrier), Arc::clone(&first));
            thread::spawn(move || -> bookshelf::Result<()> {
                barrier.wait();
                repo.transaction(|tx| {
                    // The first transaction in waits until every connection of the pool is
                    // checked out (the others wait for the write lock holding theirs), so
                    // that the four threads run on four different connections.
                    if first.swap(false, Ordering::SeqCst) {
                        let deadline = Instant::now() + Duration::from_secs(30);
                        while repo.stats().pool_idle_connections > 0 {
                            assert!(Instant::now() < deadline, "connections never all busy");
                            thread::sleep(Duration::from_millis(5));
                        }
                    }
                    let author = tx.create_author(&NewAuthor::new(format!("Author {n}")))?;
                    let books = tx.create_books(&[
                        NewBook::new(author.id, "Title 1"),
                        NewBook::new(author.id, "Title 2"),
                    ])?;
                    tx.delete_author(author.id)?;
                    for book in &books {
                        assert_eq!(tx.book(book.id)?, None, "the delete cascades");
                    }
                    let orphan = tx.create_book(&NewBook::new(author.id, "Orphan"));
                    assert!(
                        matches!(orphan, Err(Error::NotFound(Missing::Author(_)))),
                        "{orphan:?}"
                    );
                    Ok(())
                })
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "thread panicked")??;
    }
    assert_eq!(repo.stats().connections_opened, 4);
    assert_eq!(repo.count_books()?, 0);
    Ok(())
}

#[test]
fn a_file_database_uses_wal() -> TestResult {
    #[derive(QueryableByName)]
    struct JournalMode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let (_dir, path, repo) = temp_repo(|config| config)?;
    repo.create_author(&NewAuthor::new("Author 000001"))?;
    let mut conn = SqliteConnection::establish(&path)?;
    let mode: JournalMode = diesel::sql_query("PRAGMA journal_mode").get_result(&mut conn)?;
    assert_eq!(mode.journal_mode.to_ascii_lowercase(), "wal");
    Ok(())
}

#[test]
fn books_reference_authors_on_delete_cascade() -> TestResult {
    #[derive(QueryableByName, Debug, PartialEq, Eq)]
    struct ForeignKey {
        #[diesel(sql_type = Text)]
        table: String,
        #[diesel(sql_type = Text)]
        from: String,
        #[diesel(sql_type = Text)]
        to: String,
        #[diesel(sql_type = Text)]
        on_delete: String,
    }
    let (_dir, path, _repo) = temp_repo(|config| config)?;
    let mut conn = SqliteConnection::establish(&path)?;
    let keys: Vec<ForeignKey> = diesel::sql_query(
        "SELECT \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list('books')",
    )
    .load(&mut conn)?;
    let want = ForeignKey {
        table: "authors".into(),
        from: "author_id".into(),
        to: "id".into(),
        on_delete: "CASCADE".into(),
    };
    assert_eq!(keys, [want]);
    let keys: Vec<ForeignKey> = diesel::sql_query(
        "SELECT \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list('authors')",
    )
    .load(&mut conn)?;
    assert_eq!(keys, []);
    Ok(())
}

/// The `detail` column of `EXPLAIN QUERY PLAN` for a diesel query.
fn query_plan<Q>(conn: &mut SqliteConnection, query: &Q) -> TestResult<Vec<String>>
where
    Q: diesel::query_builder::QueryFragment<Sqlite>,
{
    #[derive(QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    let sql = diesel::debug_query::<Sqlite, _>(query).to_string();
    let sql = sql
        .rsplit_once(" -- binds:")
        .map_or(sql.as_str(), |(sql, _)| sql);
    let rows: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")).load(conn)?;
    Ok(rows.into_iter().map(|row| row.detail).collect())
}

/// Fails if a lookup scans a table, uses no index, or sorts in a temp b-tree.
fn check_lookup_plans(conn: &mut SqliteConnection) -> TestResult {
    let plans = [
        ("Book::by_title", query_plan(conn, &Book::by_title("x"))?),
        (
            "Book::by_author",
            query_plan(conn, &Book::by_author(AuthorId(1)))?,
        ),
    ];
    for (query, plan) in &plans {
        assert!(
            !plan.iter().any(|detail| detail.starts_with("SCAN")),
            "{query} scans a table: {plan:?}"
        );
        assert!(
            plan.iter().any(|detail| detail.starts_with("SEARCH")
                && (detail.contains(" USING INDEX ") || detail.contains(" USING COVERING INDEX "))),
            "{query} uses no index: {plan:?}"
        );
        assert!(
            !plan.iter().any(|detail| detail.contains("TEMP B-TREE")),
            "{query} sorts in a temp b-tree: {plan:?}"
        );
    }
    Ok(())
}

#[test]
fn lookups_search_an_index_and_never_scan() -> TestResult {
    let (_dir, path, repo) = temp_repo(|config| config)?;
    // Without statistics, as a new database is.
    check_lookup_plans(&mut SqliteConnection::establish(&path)?)?;

    // With rows and statistics, so the planner works from a realistic database.
    let authors = repo.create_authors(
        &(0..50)
            .map(|n| NewAuthor::new(format!("Author {n:06}")))
            .collect::<Vec<_>>(),
    )?;
    let books: Vec<NewBook> = authors
        .iter()
        .flat_map(|a| (0..4).map(move |n| NewBook::new(a.id, format!("Title {}-{n}", a.id))))
        .collect();
    repo.create_books(&books)?;
    let mut conn = SqliteConnection::establish(&path)?;
    diesel::sql_query("ANALYZE").execute(&mut conn)?;
    check_lookup_plans(&mut conn)
}

/// The drift check on PostgreSQL: `src/schema/postgres.rs` (what `diesel print-schema`
/// writes with diesel-postgres.toml) against a schema the PostgreSQL migrations built.
#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use common::{Backend, TestDb};

    fn schema_rs() -> TestResult<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema/postgres.rs");
        Ok(std::fs::read_to_string(path)?)
    }

    #[derive(QueryableByName)]
    struct PgColumn {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        udt_name: String,
        #[diesel(sql_type = Text)]
        is_nullable: String,
    }

    /// The tables of the test's schema (apart from diesel's own), with the diesel type
    /// `diesel print-schema` gives each column.
    fn database_tables(db: &TestDb) -> TestResult<Tables> {
        let mut conn = common::postgres::connect(db.url())?;
        let columns: Vec<PgColumn> = diesel::sql_query(
            "SELECT table_name::text, column_name::text, udt_name::text, is_nullable::text \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() \
             AND table_name != '__diesel_schema_migrations' \
             ORDER BY table_name, ordinal_position",
        )
        .load(&mut conn)?;
        let mut tables: Tables = Vec::new();
        for column in columns {
            let base = match column.udt_name.as_str() {
                "int8" => "Int8".to_owned(),
                "int4" => "Int4".to_owned(),
                "text" => "Text".to_owned(),
                "timestamp" => "Timestamp".to_owned(),
                // The generated search vector, PostgreSQL's one column of its own.
                "tsvector" => "Tsvector".to_owned(),
                other => format!("Unmapped({other})"),
            };
            let ty = if column.is_nullable == "YES" {
                format!("Nullable<{base}>")
            } else {
                base
            };
            match tables.last_mut() {
                Some((name, columns)) if *name == column.table_name => {
                    columns.push((column.column_name, ty));
                }
                _ => tables.push((column.table_name, vec![(column.column_name, ty)])),
            }
        }
        Ok(tables)
    }

    /// Opens a migrated schema, or says why the test does not run.
    fn migrated() -> TestResult<Option<TestDb>> {
        if common::postgres::server_url()?.is_none() {
            common::say_skipped(format_args!(
                "{} not set: the PostgreSQL schema check is skipped",
                common::POSTGRES_URL_VAR
            ));
            return Ok(None);
        }
        Ok(Some(TestDb::open(Backend::Postgres)?))
    }

    #[test]
    fn schema_rs_matches_the_migrated_database() -> TestResult {
        let Some(db) = migrated()? else {
            return Ok(());
        };
        let declared = parse_schema_rs(&schema_rs()?)?;
        let actual = database_tables(&db)?;
        assert_eq!(
            declared, actual,
            "src/schema/postgres.rs has drifted from migrations/postgres: regenerate it \
             with diesel --config-file diesel-postgres.toml migration run"
        );
        let names: Vec<&str> = actual.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["authors", "books"]);
        Ok(())
    }

    #[test]
    fn the_drift_check_notices_a_change_in_the_database() -> TestResult {
        let Some(_server) = migrated()? else {
            return Ok(());
        };
        let declared = parse_schema_rs(&schema_rs()?)?;
        for change in [
            "ALTER TABLE books ADD COLUMN extra TEXT",
            "ALTER TABLE books RENAME COLUMN isbn TO isbn13",
            "ALTER TABLE books DROP COLUMN published_year",
            "ALTER TABLE books ALTER COLUMN published_year TYPE BIGINT",
            "ALTER TABLE books ALTER COLUMN isbn SET NOT NULL",
            "CREATE TABLE shelves (id BIGINT PRIMARY KEY)",
        ] {
            let db = TestDb::open(Backend::Postgres)?;
            assert_eq!(database_tables(&db)?, declared);
            db.execute_raw(change)?;
            assert_ne!(database_tables(&db)?, declared, "{change} went unnoticed");
        }
        Ok(())
    }
}

/// The drift check on MySQL/MariaDB: `src/schema/mysql.rs` (what `diesel print-schema`
/// writes with diesel-mysql.toml) against a database the MySQL migrations built.
#[cfg(feature = "mysql")]
mod mysql {
    use super::*;
    use common::{Backend, TestDb};

    fn schema_rs() -> TestResult<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema/mysql.rs");
        Ok(std::fs::read_to_string(path)?)
    }

    #[derive(QueryableByName)]
    struct MysqlColumn {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        data_type: String,
        #[diesel(sql_type = Text)]
        is_nullable: String,
    }

    /// The tables of the test's database (apart from diesel's own), with the diesel type
    /// `diesel print-schema` gives each column.
    fn database_tables(db: &TestDb) -> TestResult<Tables> {
        let mut conn = common::mysql::connect(db.url())?;
        let columns: Vec<MysqlColumn> = diesel::sql_query(
            "SELECT CAST(table_name AS CHAR) AS table_name, \
             CAST(column_name AS CHAR) AS column_name, \
             CAST(data_type AS CHAR) AS data_type, CAST(is_nullable AS CHAR) AS is_nullable \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() \
             AND table_name != '__diesel_schema_migrations' \
             ORDER BY table_name, ordinal_position",
        )
        .load(&mut conn)?;
        let mut tables: Tables = Vec::new();
        for column in columns {
            let base = match column.data_type.as_str() {
                "bigint" => "Bigint".to_owned(),
                "int" => "Integer".to_owned(),
                "varchar" => "Varchar".to_owned(),
                "datetime" => "Datetime".to_owned(),
                other => format!("Unmapped({other})"),
            };
            let ty = if column.is_nullable == "YES" {
                format!("Nullable<{base}>")
            } else {
                base
            };
            match tables.last_mut() {
                Some((name, columns)) if *name == column.table_name => {
                    columns.push((column.column_name, ty));
                }
                _ => tables.push((column.table_name, vec![(column.column_name, ty)])),
            }
        }
        // information_schema sorts names without regard to case; the schema file's order
        // is Rust's.
        tables.sort();
        Ok(tables)
    }

    /// Opens a migrated database, or says why the test does not run.
    fn migrated() -> TestResult<Option<TestDb>> {
        if common::mysql::server_url()?.is_none() {
            common::say_skipped(format_args!(
                "{} not set: the MySQL schema check is skipped",
                common::MYSQL_URL_VAR
            ));
            return Ok(None);
        }
        Ok(Some(TestDb::open(Backend::Mysql)?))
    }

    #[test]
    fn schema_rs_matches_the_migrated_database() -> TestResult {
        let Some(db) = migrated()? else {
            return Ok(());
        };
        let declared = parse_schema_rs(&schema_rs()?)?;
        let actual = database_tables(&db)?;
        assert_eq!(
            declared, actual,
            "src/schema/mysql.rs has drifted from migrations/mysql: regenerate it with \
             diesel --config-file diesel-mysql.toml migration run"
        );
        let names: Vec<&str> = actual.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["authors", "books"]);
        Ok(())
    }

    #[test]
    fn the_drift_check_notices_a_change_in_the_database() -> TestResult {
        let Some(_server) = migrated()? else {
            return Ok(());
        };
        let declared = parse_schema_rs(&schema_rs()?)?;
        for change in [
            "ALTER TABLE books ADD COLUMN extra TEXT",
            "ALTER TABLE books RENAME COLUMN isbn TO isbn13",
            "ALTER TABLE books DROP COLUMN published_year",
            "ALTER TABLE books MODIFY COLUMN published_year BIGINT",
            "ALTER TABLE books MODIFY COLUMN isbn VARCHAR(13) NOT NULL",
            "CREATE TABLE shelves (id BIGINT PRIMARY KEY)",
        ] {
            let db = TestDb::open(Backend::Mysql)?;
            assert_eq!(database_tables(&db)?, declared);
            db.execute_raw(change)?;
            assert_ne!(database_tables(&db)?, declared, "{change} went unnoticed");
        }
        Ok(())
    }
}
