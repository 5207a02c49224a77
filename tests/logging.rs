//! The SQL echo: `tracing` events with target `bookshelf::sql`.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bookshelf::{NewAuthor, Page, SQL_TARGET};
use common::{backend_tests, Backend, BoxError, TestDb, TestResult};
use tracing_subscriber::fmt::MakeWriter;

/// Collects what a `fmt` subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `f` with a subscriber that records every event at DEBUG and above, and returns
/// what it recorded. The subscriber is this thread's default, and the repository runs
/// its statements on the calling thread.
fn capture(f: impl FnOnce() -> TestResult) -> Result<String, BoxError> {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f)?;
    Ok(captured.text())
}

const SECRET_NAME: &str = "Secret Name 8419";

/// `name` quoted as an identifier in the backend's SQL: `` `authors` `` on SQLite,
/// `"authors"` on PostgreSQL.
fn quoted(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Sqlite | Backend::Mysql => format!("`{name}`"),
        Backend::Postgres => format!("\"{name}\""),
    }
}

backend_tests! {
    fn log_queries_emits_each_statement_with_its_sql_and_duration(backend: Backend) -> TestResult {
        let log = capture(|| {
            let db = TestDb::open_with(backend, |config| config.log_queries(true))?;
            db.repo.create_author(&NewAuthor::new(SECRET_NAME))?;
            db.repo.authors_with_books(Page::all())?;
            Ok(())
        })?;
        let statements: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(SQL_TARGET) && line.contains("DEBUG"))
            .collect();
        let insert = format!("INSERT INTO {}", quoted(backend, "authors"));
        assert!(
            statements
                .iter()
                .any(|line| line.contains(&insert) && line.contains("elapsed_us=")),
            "{log}"
        );
        // The value is bound, not inlined: the SQL holds the backend's placeholder.
        let placeholder = match backend {
            Backend::Sqlite | Backend::Mysql => "VALUES (?)",
            Backend::Postgres => "VALUES ($1)",
        };
        assert!(
            statements
                .iter()
                .any(|line| line.contains(&insert) && line.contains(placeholder)),
            "{log}"
        );
        // MySQL spells BEGIN `START TRANSACTION`.
        let begin = match backend {
            Backend::Sqlite | Backend::Postgres => "BEGIN",
            Backend::Mysql => "START TRANSACTION",
        };
        assert!(
            statements.iter().any(|line| line.contains(begin)),
            "{log}"
        );
        let from_books = format!("FROM {}", quoted(backend, "books"));
        assert!(
            statements
                .iter()
                .any(|line| line.contains("SELECT") && line.contains(&from_books)),
            "{log}"
        );
        assert!(!log.contains(SECRET_NAME), "bound values leaked: {log}");
        assert!(!log.contains("binds"), "{log}");
        Ok(())
    }
}

backend_tests! {
    fn bound_values_are_logged_only_when_asked_for(backend: Backend) -> TestResult {
        let log = capture(|| {
            let db = TestDb::open_with(backend, |config| {
                config.log_queries(true).log_bind_values(true)
            })?;
            db.repo.create_author(&NewAuthor::new(SECRET_NAME))?;
            Ok(())
        })?;
        assert!(log.contains(SECRET_NAME), "{log}");
        Ok(())
    }
}

backend_tests! {
    fn nothing_is_logged_by_default(backend: Backend) -> TestResult {
        let log = capture(|| {
            let db = TestDb::open(backend)?;
            db.repo.create_author(&NewAuthor::new(SECRET_NAME))?;
            db.repo.list_authors(Page::all())?;
            Ok(())
        })?;
        assert!(!log.contains(SQL_TARGET), "{log}");
        Ok(())
    }
}

backend_tests! {
    fn statements_over_the_slow_threshold_are_warnings(backend: Backend) -> TestResult {
        // Every statement takes at least zero time, so each one is "slow" here.
        let log = capture(|| {
            let db = TestDb::open_with(backend, |config| {
                config
                    .log_queries(true)
                    .slow_query_threshold(Duration::ZERO)
            })?;
            db.repo.create_author(&NewAuthor::new(SECRET_NAME))?;
            Ok(())
        })?;
        let insert = format!("INSERT INTO {}", quoted(backend, "authors"));
        let warning = log
            .lines()
            .find(|line| line.contains(&insert))
            .ok_or_else(|| format!("no slow statement logged: {log}"))?;
        assert!(
            warning.contains("WARN") && warning.contains(SQL_TARGET),
            "{warning}"
        );
        assert!(warning.contains("slow statement"), "{warning}");
        assert!(!log.contains(SECRET_NAME), "{log}");
        assert!(!log.contains("DEBUG"), "every statement was slow: {log}");

        // The echo off, nothing is timed or logged, slow or not.
        let log = capture(|| {
            let db = TestDb::open_with(backend, |config| {
                config.slow_query_threshold(Duration::ZERO)
            })?;
            db.repo.create_author(&NewAuthor::new(SECRET_NAME))?;
            Ok(())
        })?;
        assert!(!log.contains(SQL_TARGET), "{log}");
        Ok(())
    }
}

backend_tests! {
    fn stats_count_data_statements_apart_from_transaction_control(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let before = repo.stats();
        repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("One"))?;
            tx.create_author(&NewAuthor::new("Two"))?;
            tx.transaction(|tx| tx.count_authors())
        })?;
        let after = repo.stats();
        // Two creates and a count; on MySQL, which has no RETURNING, each create is an
        // INSERT and the SELECT that reads the row back.
        let data_statements = match backend {
            Backend::Sqlite | Backend::Postgres => 3,
            Backend::Mysql => 5,
        };
        assert_eq!(after.statements - before.statements, data_statements);
        // BEGIN (IMMEDIATE on SQLite), SAVEPOINT, RELEASE, COMMIT; on MySQL each create's
        // INSERT and SELECT run in a savepoint of their own too (so that a failed
        // read-back leaves no row behind in the open transaction): two more each.
        let transaction_statements = match backend {
            Backend::Sqlite | Backend::Postgres => 4,
            Backend::Mysql => 8,
        };
        assert_eq!(
            after.transaction_statements - before.transaction_statements,
            transaction_statements
        );
        assert!(after.connections_opened >= 1);
        // Each SQLite connection runs six PRAGMAs and reads `foreign_keys` back; each
        // PostgreSQL connection sets its timeouts in one batch (none behind a
        // transaction pooler, where every BEGIN sets them).
        let per_connection = match backend {
            Backend::Sqlite => 7,
            #[cfg(feature = "postgres")]
            Backend::Postgres if common::postgres::pooled() => 0,
            Backend::Postgres => 1,
            // The session's settings, in one batch.
            Backend::Mysql => 1,
        };
        assert!(after.setup_statements >= per_connection * after.connections_opened);
        Ok(())
    }
}

backend_tests! {
    fn a_tuning_setting_the_database_ignores_is_a_debug_event(backend: Backend) -> TestResult {
        let log = capture(|| {
            let db = TestDb::open_with(backend, |config| {
                config.page_cache_size(1 << 20).mmap_size(1 << 20)
            })?;
            db.repo.count_authors()?;
            Ok(())
        })?;
        let ignored = |setting: &str| {
            log.lines()
                .any(|line| line.contains("ignores it") && line.contains(setting))
        };
        // An SQLite file takes both; PostgreSQL and MySQL have neither.
        let expected = backend != Backend::Sqlite;
        assert_eq!(ignored("page_cache_size"), expected, "{log}");
        assert_eq!(ignored("mmap_size"), expected, "{log}");
        Ok(())
    }
}

#[test]
fn an_in_memory_database_ignores_the_memory_map_with_a_debug_event() -> TestResult {
    let log = capture(|| {
        let repo = bookshelf::Config::new(":memory:")
            .page_cache_size(1 << 20)
            .mmap_size(1 << 20)
            .open()?;
        repo.count_authors()?;
        Ok(())
    })?;
    let ignored: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("ignores it"))
        .collect();
    assert_eq!(ignored.len(), 1, "{log}");
    assert!(ignored[0].contains("mmap_size"), "{log}");
    Ok(())
}
