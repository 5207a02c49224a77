//! The schema's CHECK, UNIQUE and FOREIGN KEY constraints hold for rows written by other
//! tools, without the crate's validation in front of them.

mod common;

use bookshelf::Config;
use common::{backend_tests, Backend, BoxError, TestDb};

/// A pool of two connections, for the tests that make one call at a time: a small pool
/// keeps the PostgreSQL server's connection count (and the time to open one) low.
fn small_pool(config: Config) -> Config {
    config.max_size(2)
}

/// A migrated database with one author (id 1) and one book, written with raw SQL on a
/// connection of its own (foreign keys on, on SQLite).
fn raw_database(backend: Backend) -> Result<TestDb, BoxError> {
    let db = TestDb::open_with(backend, small_pool)?;
    // No explicit ids: on PostgreSQL an explicit id leaves the identity sequence behind,
    // and the next insert would then be refused for its duplicate key, not for the rule
    // under test.
    db.execute_raw(
        "INSERT INTO authors (name) VALUES ('Valid Author');
         INSERT INTO books (title, author_id, isbn, published_year)
             VALUES ('Valid Title', 1, '9780441172719', 1965);",
    )?;
    assert_eq!(
        db.query_i64("SELECT id AS n FROM authors WHERE name = 'Valid Author'")?,
        1
    );
    Ok(db)
}

/// True when `message` (in lower case) says a `kind` constraint ("check", "unique",
/// "foreign key") refused the row. SQLite and PostgreSQL say "CHECK constraint",
/// "UNIQUE constraint" or "FOREIGN KEY constraint"; MariaDB names the CHECK
/// (`CONSTRAINT `authors_name_check` failed for …`; MySQL 8: `Check constraint
/// 'authors_name_check' is violated.`), says "Duplicate entry … for key …" for a unique
/// key, "a foreign key constraint fails" for a foreign key, and "Data too long for
/// column" for a value longer than its column ("length").
fn refused_by(backend: Backend, kind: &str, message: &str) -> bool {
    match (backend, kind) {
        (Backend::Mysql, "check") => {
            message.contains("check constraint")
                || (message.starts_with("constraint `") && message.contains("_check` failed for"))
        }
        (Backend::Mysql, "length") => message.starts_with("data too long for column"),
        (Backend::Mysql, "unique") => {
            message.starts_with("duplicate entry") && message.contains(" for key ")
        }
        _ => message.contains(&format!("{kind} constraint")),
    }
}

backend_tests! {
    fn raw_rows_breaking_the_rules_are_refused(backend: Backend) -> TestResult {
        let db = raw_database(backend)?;
        // The backends spell "501 times x" differently.
        let long_name = match backend {
            Backend::Sqlite => "INSERT INTO authors (name) VALUES (printf('%.501c', 'x'))",
            Backend::Postgres | Backend::Mysql => "INSERT INTO authors (name) VALUES (repeat('x', 501))",
        };
        // MySQL's VARCHAR(500) refuses a longer name itself (in strict mode, which the
        // crate's sessions and the test server use), before the CHECK sees it.
        let long_name_refused_by = match backend {
            Backend::Sqlite | Backend::Postgres => "check",
            Backend::Mysql => "length",
        };
        // Each statement must be refused by the named kind of constraint (see
        // `refused_by`), not by anything else such as a syntax error.
        let refused = [
            ("empty name", "check", "INSERT INTO authors (name) VALUES ('')"),
            (
                "untrimmed name",
                "check",
                "INSERT INTO authors (name) VALUES (' padded ')",
            ),
            ("501-character name", long_name_refused_by, long_name),
            (
                "empty title",
                "check",
                "INSERT INTO books (title, author_id) VALUES ('', 1)",
            ),
            (
                "ISBN with a bad check digit",
                "check",
                "INSERT INTO books (title, author_id, isbn) VALUES ('B', 1, '9780441172710')",
            ),
            (
                "ISBN-10 form",
                "check",
                "INSERT INTO books (title, author_id, isbn) VALUES ('C', 1, '0441172717')",
            ),
            (
                "ISBN with letters",
                "check",
                "INSERT INTO books (title, author_id, isbn) VALUES ('D', 1, '978044117271X')",
            ),
            (
                "year too early",
                "check",
                "INSERT INTO books (title, author_id, published_year) VALUES ('E', 1, -3001)",
            ),
            (
                "duplicate ISBN",
                "unique",
                "INSERT INTO books (title, author_id, isbn) VALUES ('F', 1, '9780441172719')",
            ),
            (
                "duplicate title for the author",
                "unique",
                "INSERT INTO books (title, author_id) VALUES ('Valid Title', 1)",
            ),
            (
                "missing author",
                "foreign key",
                "INSERT INTO books (title, author_id) VALUES ('G', 999)",
            ),
        ];
        for (case, kind, sql) in refused {
            let error = db
                .execute_raw(sql)
                .err()
                .ok_or(format!("{case}: {sql} was accepted"))?;
            let message = error.to_string().to_lowercase();
            assert!(
                refused_by(backend, kind, &message),
                "{case}: {sql} was refused, but not by a {kind} constraint: {error}"
            );
        }
        let authors = db.query_i64("SELECT count(*) AS n FROM authors")?;
        let books = db.query_i64("SELECT count(*) AS n FROM books")?;
        assert_eq!((authors, books), (1, 1));
        Ok(())
    }
}

backend_tests! {
    fn raw_rows_within_the_rules_are_accepted(backend: Backend) -> TestResult {
        let db = raw_database(backend)?;
        db.execute_raw(
            "INSERT INTO authors (name) VALUES ('Ünïcödé 🙂');
             INSERT INTO books (title, author_id, isbn, published_year)
                 VALUES ('Other Title', 1, '9791090636071', -3000);
             INSERT INTO books (title, author_id) VALUES ('No ISBN', 1);
             INSERT INTO books (title, author_id) VALUES ('No ISBN either', 1);",
        )?;
        let authors = db.query_i64("SELECT count(*) AS n FROM authors")?;
        let books = db.query_i64("SELECT count(*) AS n FROM books")?;
        assert_eq!((authors, books), (2, 4));
        Ok(())
    }
}
