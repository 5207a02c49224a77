//! The embedded migrations: status, applying, reverting, data preservation, and
//! refusing a database written by a newer build.

mod common;

use std::path::{Path, PathBuf};

use bookshelf::{Config, Error, MigrationError, NewAuthor, NewBook, Page, Repository};
use common::{backend_tests, Backend, BoxError, TestDb, TestResult};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;
use tempfile::TempDir;

/// A pool of two connections, for the tests that make one call at a time: a small pool
/// keeps the PostgreSQL server's connection count (and the time to open one) low.
fn small_pool(config: Config) -> Config {
    config.max_size(2)
}

const FIRST: &str = "20261124000001";
const SECOND: &str = "20261124000002";
const THIRD: &str = "20261202000003";
const ALL: [&str; 3] = [FIRST, SECOND, THIRD];
const UNKNOWN: &str = "99991231000000";

/// A fresh directory and the path of a database file (not created yet) inside it.
fn temp_db() -> Result<(TempDir, String), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let path = path.to_str().ok_or("temp path is not UTF-8")?.to_owned();
    Ok((dir, path))
}

/// A plain diesel connection on the file, without the repository's set-up.
fn raw(path: &str) -> Result<SqliteConnection, BoxError> {
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
const SQLITE_SCHEMA: &str = "SELECT type AS kind, name, tbl_name, sql FROM sqlite_master \
     WHERE name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' \
     ORDER BY name";

/// The same for the test's schema on PostgreSQL (`current_schema()`), without diesel's
/// table and what belongs to it: each table with its columns (name, type, collation,
/// nullability, default, identity) in order, each sequence (with its type and owning
/// table), index (with its definition),
/// constraint (with its definition) and trigger. Column positions are left out: a column
/// dropped and added again gets a new one, and the order is what matters.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
const POSTGRES_SCHEMA: &str = "\
    SELECT kind, name, tbl_name, sql FROM ( \
        SELECT 'table' AS kind, t.table_name::text AS name, t.table_name::text AS tbl_name, \
            (SELECT string_agg(format('%s %s %s %s %s %s %s', c.column_name, c.data_type, \
                    coalesce(c.collation_name, '-'), c.is_nullable, \
                    coalesce(c.column_default, '-'), c.is_identity, \
                    coalesce(c.identity_generation, '-')), ', ' \
                    ORDER BY c.ordinal_position) \
             FROM information_schema.columns c \
             WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name) AS sql \
        FROM information_schema.tables t \
        WHERE t.table_schema = current_schema() \
        UNION ALL \
        SELECT 'sequence', seq.relname::text, coalesce(owner.relname::text, ''), \
            format('%s %s', format_type(s.seqtypid, NULL), s.seqincrement) \
        FROM pg_sequence s JOIN pg_class seq ON seq.oid = s.seqrelid \
        LEFT JOIN pg_depend d ON d.objid = seq.oid AND d.classid = 'pg_class'::regclass \
            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
        LEFT JOIN pg_class owner ON owner.oid = d.refobjid \
        WHERE seq.relnamespace = current_schema()::regnamespace \
        UNION ALL \
        SELECT 'index', indexname::text, tablename::text, indexdef \
        FROM pg_indexes WHERE schemaname = current_schema() \
        UNION ALL \
        SELECT 'constraint', con.conname::text, rel.relname::text, \
            pg_get_constraintdef(con.oid) \
        FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid \
        WHERE con.connamespace = current_schema()::regnamespace \
        UNION ALL \
        SELECT 'trigger', tg.tgname::text, rel.relname::text, pg_get_triggerdef(tg.oid) \
        FROM pg_trigger tg JOIN pg_class rel ON rel.oid = tg.tgrelid \
        WHERE rel.relnamespace = current_schema()::regnamespace AND NOT tg.tgisinternal \
    ) AS objects \
    WHERE tbl_name != '__diesel_schema_migrations' \
        AND name != '__diesel_schema_migrations' \
    ORDER BY name, kind";

/// The same for the test's database on MySQL or MariaDB (`DATABASE()`), read from
/// `information_schema`, without diesel's table: each table with its engine and
/// collation and its columns (name, full type, collation, nullability, default, extra:
/// auto-increment, generated) in order, each index (its columns in order, uniqueness
/// and kind), constraint (a CHECK with its clause, a foreign key with what it references
/// and its rules, a unique or primary key) and trigger (when, on what, its body). Each
/// table's `PRIMARY` index and key are named after it, since MySQL names them all alike.
/// The table's auto-increment counter is left out: it is data, not schema.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
const MYSQL_SCHEMA: &str = "\
    SELECT kind, name, tbl_name, `sql` FROM ( \
        SELECT 'table' AS kind, t.table_name AS name, t.table_name AS tbl_name, \
            CONCAT_WS(' / ', t.engine, t.table_collation, \
                (SELECT GROUP_CONCAT(CONCAT_WS(' ', c.column_name, c.column_type, \
                        COALESCE(c.collation_name, '-'), c.is_nullable, \
                        COALESCE(c.column_default, '-'), COALESCE(NULLIF(c.extra, ''), '-'), \
                        COALESCE(c.generation_expression, '-')) \
                    ORDER BY c.ordinal_position SEPARATOR ', ') \
                 FROM information_schema.columns c \
                 WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name)) \
                AS `sql` \
        FROM information_schema.tables t \
        WHERE t.table_schema = DATABASE() \
        UNION ALL \
        SELECT 'index', IF(s.index_name = 'PRIMARY', CONCAT(s.table_name, '.PRIMARY'), \
                s.index_name), s.table_name, \
            CONCAT(IF(s.non_unique = 0, 'UNIQUE ', ''), s.index_type, ' (', \
                GROUP_CONCAT(s.column_name ORDER BY s.seq_in_index SEPARATOR ', '), ')') \
        FROM information_schema.statistics s \
        WHERE s.table_schema = DATABASE() \
        GROUP BY s.table_name, s.index_name, s.non_unique, s.index_type \
        UNION ALL \
        SELECT 'constraint', IF(tc.constraint_name = 'PRIMARY', \
                CONCAT(tc.table_name, '.PRIMARY'), tc.constraint_name), tc.table_name, \
            CONCAT_WS(' ', tc.constraint_type, \
                (SELECT cc.check_clause FROM information_schema.check_constraints cc \
                 WHERE cc.constraint_schema = tc.constraint_schema \
                     AND cc.table_name = tc.table_name \
                     AND cc.constraint_name = tc.constraint_name), \
                (SELECT CONCAT_WS(' ', rc.referenced_table_name, rc.update_rule, \
                        rc.delete_rule) \
                 FROM information_schema.referential_constraints rc \
                 WHERE rc.constraint_schema = tc.constraint_schema \
                     AND rc.table_name = tc.table_name \
                     AND rc.constraint_name = tc.constraint_name)) \
        FROM information_schema.table_constraints tc \
        WHERE tc.constraint_schema = DATABASE() \
        UNION ALL \
        SELECT 'trigger', tg.trigger_name, tg.event_object_table, \
            CONCAT_WS(' ', tg.action_timing, tg.event_manipulation, tg.action_orientation, \
                tg.action_statement) \
        FROM information_schema.triggers tg \
        WHERE tg.trigger_schema = DATABASE() \
    ) AS objects \
    WHERE tbl_name != '__diesel_schema_migrations' \
    ORDER BY name, kind";

/// The schema of `db`, as [`SQLITE_SCHEMA`], [`POSTGRES_SCHEMA`] or [`MYSQL_SCHEMA`]
/// lists it.
fn schema_dump(db: &TestDb) -> Result<Vec<SchemaObject>, BoxError> {
    match db.backend {
        Backend::Sqlite => Ok(diesel::sql_query(SQLITE_SCHEMA).load(&mut raw(db.url())?)?),
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            Ok(diesel::sql_query(POSTGRES_SCHEMA)
                .load(&mut common::postgres::connect(db.url())?)?)
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => Err("PostgreSQL tests need the `postgres` feature".into()),
        #[cfg(feature = "mysql")]
        Backend::Mysql => {
            Ok(diesel::sql_query(MYSQL_SCHEMA).load(&mut common::mysql::connect(db.url())?)?)
        }
        #[cfg(not(feature = "mysql"))]
        Backend::Mysql => Err("MySQL tests need the `mysql` feature".into()),
    }
}

fn table_names(db: &TestDb) -> Result<Vec<String>, BoxError> {
    Ok(schema_dump(db)?
        .into_iter()
        .filter(|object| object.kind == "table")
        .map(|object| object.name)
        .collect())
}

/// The versions recorded in diesel's migration table, read on a connection of its own.
fn recorded_versions(db: &TestDb) -> Result<Vec<String>, BoxError> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        version: String,
    }
    const SQL: &str = "SELECT version FROM __diesel_schema_migrations ORDER BY version";
    let rows: Vec<Version> = match db.backend {
        Backend::Sqlite => diesel::sql_query(SQL).load(&mut raw(db.url())?)?,
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            diesel::sql_query(SQL).load(&mut common::postgres::connect(db.url())?)?
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => return Err("PostgreSQL tests need the `postgres` feature".into()),
        #[cfg(feature = "mysql")]
        Backend::Mysql => diesel::sql_query(SQL).load(&mut common::mysql::connect(db.url())?)?,
        #[cfg(not(feature = "mysql"))]
        Backend::Mysql => return Err("MySQL tests need the `mysql` feature".into()),
    };
    Ok(rows.into_iter().map(|row| row.version).collect())
}

backend_tests! {
    fn a_fresh_database_is_fully_migrated(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, small_pool)?;
        let repo = &db.repo;
        assert_eq!(repo.applied_migrations()?, ALL);
        assert!(repo.pending_migrations()?.is_empty());
        assert!(
            repo.run_pending_migrations()?.is_empty(),
            "nothing left to run"
        );
        assert_eq!(table_names(&db)?, tables(backend));
        assert_eq!(recorded_versions(&db)?, ALL);

        if backend == Backend::Sqlite {
            let memory = Repository::in_memory()?;
            assert_eq!(memory.applied_migrations()?, ALL);
            assert!(memory.pending_migrations()?.is_empty());
        }
        Ok(())
    }
}

backend_tests! {
    fn opening_without_migrations_leaves_them_pending(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, |config| config.run_migrations(false))?;
        let repo = &db.repo;
        assert!(repo.applied_migrations()?.is_empty());
        assert_eq!(repo.pending_migrations()?, ALL);
        assert!(table_names(&db)?.is_empty());

        assert_eq!(repo.run_pending_migrations()?, ALL);
        assert_eq!(repo.applied_migrations()?, ALL);
        assert!(repo.pending_migrations()?.is_empty());
        assert_eq!(table_names(&db)?, tables(backend));
        let author = repo.create_author(&NewAuthor::new("Author 000001"))?;
        repo.create_book(&NewBook::new(author.id, "Title 000001-01").published_year(2000))?;
        assert_eq!(repo.count_books()?, 1);
        Ok(())
    }
}

backend_tests! {
    fn reverting_each_migration_in_turn_leaves_nothing(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, small_pool)?;
        let repo = &db.repo;
        assert_eq!(repo.revert_last_migration()?, THIRD);
        assert_eq!(repo.applied_migrations()?, [FIRST, SECOND]);
        assert_eq!(repo.pending_migrations()?, [THIRD]);
        assert_eq!(table_names(&db)?, ["authors", "books"]);

        assert_eq!(repo.revert_last_migration()?, SECOND);
        assert_eq!(repo.applied_migrations()?, [FIRST]);
        assert_eq!(repo.pending_migrations()?, [SECOND, THIRD]);
        assert_eq!(table_names(&db)?, ["authors", "books"]);

        assert_eq!(repo.revert_last_migration()?, FIRST);
        assert!(repo.applied_migrations()?.is_empty());
        assert_eq!(repo.pending_migrations()?, ALL);
        assert!(schema_dump(&db)?.is_empty(), "{:?}", schema_dump(&db)?);

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
}

backend_tests! {
    /// Rows written under migration 2 (as an older build or another tool would, with a
    /// gap in the ids) keep every value through migration 3, which gives them version
    /// 1, the time of the migration and a place in the search index; the ids go on above
    /// the largest, and the down migration keeps every row again.
    fn the_third_migration_keeps_every_row_and_indexes_it(backend: Backend) -> TestResult {
        use bookshelf::{BookFilter, Version};
        let db = TestDb::open_with(backend, small_pool)?;
        assert_eq!(db.repo.revert_last_migration()?, THIRD);
        db.execute_raw(
            "INSERT INTO authors (id, name) VALUES (1, 'Molière'), (5, 'Frank Herbert');
             INSERT INTO books (id, title, author_id, isbn, published_year) VALUES
                 (10, 'L''École des femmes', 1, NULL, 1662),
                 (11, 'Dune', 5, '9780441172719', 1965);",
        )?;
        let before = raw_rows(&db)?;
        assert_eq!(before.len(), 4);
        let started = chrono::Utc::now() - chrono::TimeDelta::minutes(10);
        let repo = small_pool(db.config()).open()?;
        assert_eq!(repo.applied_migrations()?, ALL);
        let books = repo.list_books(Page::all())?;
        assert_eq!(books.len(), 2);
        let dune = &books[1];
        assert_eq!(
            (dune.id.0, dune.title.as_str(), dune.author_id.0, dune.isbn.as_deref(), dune.published_year),
            (11, "Dune", 5, Some("9780441172719"), Some(1965))
        );
        for book in &books {
            assert_eq!(book.version, Version(1));
            assert!(book.created_at >= started && book.created_at == book.updated_at);
        }
        let found = repo.search_books(&BookFilter::new().matching("ecole"))?;
        assert_eq!(found.iter().map(|b| b.id.0).collect::<Vec<_>>(), [10]);
        // Ids go on above the largest of the rows kept.
        let author = repo.create_author(&NewAuthor::new("Octavia E. Butler"))?;
        assert!(author.id.0 > 5, "{author:?}");
        repo.delete_author(author.id)?;
        // And back down: the same rows as before migration 3.
        assert_eq!(repo.revert_last_migration()?, THIRD);
        assert_eq!(raw_rows(&db)?, before);
        Ok(())
    }
}

backend_tests! {
    fn the_second_migration_keeps_data_written_under_the_first(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, small_pool)?;
        assert_eq!(db.repo.revert_last_migration()?, THIRD);
        assert_eq!(db.repo.revert_last_migration()?, SECOND);
        // Rows written by the first schema, as an older build or another tool would.
        db.execute_raw(
            "INSERT INTO authors (id, name) VALUES (1, 'Author 000001'), (2, 'Author 000002');
             INSERT INTO books (id, title, author_id) VALUES
                 (10, 'Title 000001-02', 1), (11, 'Title 000001-01', 1),
                 (12, 'Title 000002-01', 2);",
        )?;

        let repo = small_pool(db.config()).open()?;
        assert_eq!(repo.applied_migrations()?, ALL);
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
}

backend_tests! {
    fn up_down_up_gives_the_same_schema(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, small_pool)?;
        let repo = &db.repo;
        // The schema at each level, going down.
        let mut levels = vec![schema_dump(&db)?];
        for _ in ALL {
            repo.revert_last_migration()?;
            levels.push(schema_dump(&db)?);
        }
        assert!(levels[0]
            .iter()
            .any(|o| o.name == "books_updated_at_idx"));
        assert!(levels[1]
            .iter()
            .any(|o| o.name == "books_author_id_title_key"));
        assert!(levels[3].is_empty());
        for pair in levels.windows(2) {
            assert_ne!(pair[0], pair[1]);
        }
        // Up one at a time: each level is the one seen on the way down.
        for (up, version) in ALL.iter().enumerate() {
            assert_eq!(next_migration(&db)?, *version);
            assert_eq!(schema_dump(&db)?, levels[ALL.len() - 1 - up]);
        }
        // And down and up by the repository again.
        repo.revert_last_migration()?;
        assert_eq!(schema_dump(&db)?, levels[1]);
        assert_eq!(repo.run_pending_migrations()?, [THIRD]);
        assert_eq!(schema_dump(&db)?, levels[0]);
        Ok(())
    }
}

/// Applies the next pending migration of `db`'s backend from the migration files, on
/// a connection of its own, as diesel_cli's `migration run` would: a migration's
/// `down.sql` must bring the schema back to what its predecessors' `up.sql` made.
fn next_migration(db: &TestDb) -> Result<String, BoxError> {
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    let dir = match db.backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
        Backend::Mysql => "migrations/mysql",
    };
    let migrations =
        FileBasedMigrations::from_path(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))?;
    let version = match db.backend {
        Backend::Sqlite => raw(db.url())?
            .run_next_migration(migrations)
            .map(|version| version.to_string())
            .map_err(|error| error.to_string())?,
        #[cfg(feature = "postgres")]
        Backend::Postgres => common::postgres::connect(db.url())?
            .run_next_migration(migrations)
            .map(|version| version.to_string())
            .map_err(|error| error.to_string())?,
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => return Err("PostgreSQL tests need the `postgres` feature".into()),
        #[cfg(feature = "mysql")]
        Backend::Mysql => common::mysql::connect(db.url())?
            .run_next_migration(migrations)
            .map(|version| version.to_string())
            .map_err(|error| error.to_string())?,
        #[cfg(not(feature = "mysql"))]
        Backend::Mysql => return Err("MySQL tests need the `mysql` feature".into()),
    };
    Ok(version)
}

/// The tables a migrated database holds: on SQLite, the full-text index's too.
fn tables(backend: Backend) -> Vec<&'static str> {
    match backend {
        Backend::Sqlite => vec![
            "authors",
            "books",
            "books_fts",
            "books_fts_config",
            "books_fts_data",
            "books_fts_docsize",
            "books_fts_idx",
        ],
        Backend::Postgres | Backend::Mysql => vec!["authors", "books"],
    }
}

fn file_bytes(path: &Path) -> Result<Option<Vec<u8>>, BoxError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

fn with_suffix(path: &str, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{path}{suffix}"))
}

/// The SQLite half of the newer-build test: the file (and its WAL) stays byte for byte
/// as it was.
#[test]
fn a_database_file_from_a_newer_build_is_left_byte_for_byte_unchanged() -> TestResult {
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
    Ok(())
}

/// Every row of both tables, as text, in one order.
/// Every author and book of `db` as a line of text, read with plain SQL (so under any
/// migration from the second on).
fn raw_rows(db: &TestDb) -> Result<Vec<String>, BoxError> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        line: String,
    }
    const SQL: &str = "SELECT 'author ' || id || ' ' || name AS line FROM authors \
        UNION ALL SELECT 'book ' || id || ' ' || title || ' ' || author_id || ' ' \
        || coalesce(isbn, '-') || ' ' || coalesce(published_year, 0) FROM books \
        ORDER BY line";
    let lines: Vec<Line> = match db.backend {
        Backend::Sqlite => diesel::sql_query(SQL).load(&mut raw(db.url())?)?,
        #[cfg(feature = "postgres")]
        Backend::Postgres => {
            diesel::sql_query(SQL).load(&mut common::postgres::connect(db.url())?)?
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres => return Err("PostgreSQL tests need the `postgres` feature".into()),
        // MySQL's `||` is OR: the same lines with CONCAT.
        #[cfg(feature = "mysql")]
        Backend::Mysql => diesel::sql_query(
            "SELECT CONCAT('author ', id, ' ', name) AS line FROM authors \
             UNION ALL SELECT CONCAT('book ', id, ' ', title, ' ', author_id, ' ', \
                 coalesce(isbn, '-'), ' ', coalesce(published_year, 0)) FROM books \
             ORDER BY line",
        )
        .load(&mut common::mysql::connect(db.url())?)?,
        #[cfg(not(feature = "mysql"))]
        Backend::Mysql => return Err("MySQL tests need the `mysql` feature".into()),
    };
    Ok(lines.into_iter().map(|line| line.line).collect())
}

fn rows(db: &TestDb) -> Result<Vec<String>, BoxError> {
    Ok(db
        .repo
        .list_authors(Page::all())?
        .into_iter()
        .map(|author| format!("{author:?}"))
        .chain(
            db.repo
                .list_books(Page::all())?
                .into_iter()
                .map(|book| format!("{book:?}")),
        )
        .collect())
}

backend_tests! {
    /// Opening a database that holds a migration this build does not know fails with
    /// `MigrationError::Unknown`, with or without `run_migrations`, and writes nothing:
    /// the schema, the rows and the recorded versions stay as they were. On PostgreSQL
    /// another session holds the three tables in EXCLUSIVE mode meanwhile, which lets
    /// reads through and makes any write wait, so a write would surface as a lock
    /// timeout instead of the expected error. On MySQL another session holds every row
    /// (and the gaps between them) of the three tables locked FOR UPDATE, to the same
    /// end: plain reads pass, a write waits for the lock timeout.
    fn a_database_from_a_newer_build_is_refused_unchanged(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, small_pool)?;
        let author = db.repo.create_author(&NewAuthor::new("Author 000001"))?;
        db.repo
            .create_book(&NewBook::new(author.id, "Title 000001-01"))?;
        db.execute_raw(&format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('{UNKNOWN}')"
        ))?;
        let schema = schema_dump(&db)?;
        let data = rows(&db)?;
        assert_eq!(data.len(), 2);

        #[cfg(feature = "postgres")]
        let lock_holder = match backend {
            Backend::Postgres => {
                let mut conn = common::postgres::connect(db.url())?;
                conn.batch_execute(
                    "BEGIN; LOCK TABLE authors, books, __diesel_schema_migrations \
                     IN EXCLUSIVE MODE",
                )?;
                Some(conn)
            }
            Backend::Sqlite | Backend::Mysql => None,
        };
        #[cfg(feature = "mysql")]
        let mysql_lock_holder = match backend {
            Backend::Mysql => {
                #[derive(QueryableByName)]
                struct Locked {
                    #[diesel(sql_type = Text)]
                    #[allow(dead_code)]
                    locked: String,
                }
                let mut conn = common::mysql::connect(db.url())?;
                conn.batch_execute("START TRANSACTION")?;
                for table in ["authors", "books"] {
                    diesel::sql_query(format!(
                        "SELECT CAST(id AS CHAR) AS locked FROM {table} FOR UPDATE"
                    ))
                    .load::<Locked>(&mut conn)?;
                }
                diesel::sql_query(
                    "SELECT version AS locked FROM __diesel_schema_migrations FOR UPDATE",
                )
                .load::<Locked>(&mut conn)?;
                Some(conn)
            }
            Backend::Sqlite | Backend::Postgres => None,
        };
        for config in [db.config(), db.config().run_migrations(false)] {
            match config.busy_timeout(std::time::Duration::from_secs(2)).open() {
                Err(Error::Migration(MigrationError::Unknown { version })) => {
                    assert_eq!(version, UNKNOWN);
                }
                other => {
                    return Err(format!("expected an unknown migration, got {other:?}").into())
                }
            }
        }
        let error = Repository::open(db.url()).err().ok_or("the open succeeded")?;
        assert!(error.to_string().contains(UNKNOWN), "{error}");
        #[cfg(feature = "postgres")]
        drop(lock_holder);
        #[cfg(feature = "mysql")]
        drop(mysql_lock_holder);

        // Still the old schema and data, and the unknown version, as they were.
        assert_eq!(schema_dump(&db)?, schema);
        assert_eq!(rows(&db)?, data);
        assert_eq!(recorded_versions(&db)?, [FIRST, SECOND, THIRD, UNKNOWN]);
        Ok(())
    }
}
