//! The schema's CHECK, UNIQUE and FOREIGN KEY constraints hold for rows written by other
//! tools, without the crate's validation in front of them.

use bookshelf::Repository;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A migrated database file, and a raw connection to it with foreign keys on.
fn raw_database() -> Result<(tempfile::TempDir, SqliteConnection), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("raw.db");
    let path = path.to_str().ok_or("temp path is not UTF-8")?;
    drop(Repository::open(path)?);
    let mut conn = SqliteConnection::establish(path)?;
    conn.batch_execute(
        "PRAGMA foreign_keys = ON;
         INSERT INTO authors (id, name) VALUES (1, 'Valid Author');
         INSERT INTO books (title, author_id, isbn, published_year)
             VALUES ('Valid Title', 1, '9780441172719', 1965);",
    )?;
    Ok((dir, conn))
}

#[test]
fn raw_rows_breaking_the_rules_are_refused() -> TestResult {
    let (_dir, mut conn) = raw_database()?;
    let refused = [
        ("empty name", "INSERT INTO authors (name) VALUES ('')"),
        (
            "untrimmed name",
            "INSERT INTO authors (name) VALUES (' padded ')",
        ),
        (
            "501-character name",
            "INSERT INTO authors (name) VALUES (printf('%.501c', 'x'))",
        ),
        (
            "empty title",
            "INSERT INTO books (title, author_id) VALUES ('', 1)",
        ),
        (
            "ISBN with a bad check digit",
            "INSERT INTO books (title, author_id, isbn) VALUES ('B', 1, '9780441172710')",
        ),
        (
            "ISBN-10 form",
            "INSERT INTO books (title, author_id, isbn) VALUES ('C', 1, '0441172717')",
        ),
        (
            "ISBN with letters",
            "INSERT INTO books (title, author_id, isbn) VALUES ('D', 1, '978044117271X')",
        ),
        (
            "year too early",
            "INSERT INTO books (title, author_id, published_year) VALUES ('E', 1, -3001)",
        ),
        (
            "duplicate ISBN",
            "INSERT INTO books (title, author_id, isbn) VALUES ('F', 1, '9780441172719')",
        ),
        (
            "duplicate title for the author",
            "INSERT INTO books (title, author_id) VALUES ('Valid Title', 1)",
        ),
        (
            "missing author",
            "INSERT INTO books (title, author_id) VALUES ('G', 999)",
        ),
    ];
    for (case, sql) in refused {
        let result = conn.batch_execute(sql);
        assert!(result.is_err(), "{case}: {sql} was accepted");
    }
    let authors: i64 =
        diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT count(*) FROM authors")
            .get_result(&mut conn)?;
    let books: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT count(*) FROM books")
        .get_result(&mut conn)?;
    assert_eq!((authors, books), (1, 1));
    Ok(())
}

#[test]
fn raw_rows_within_the_rules_are_accepted() -> TestResult {
    let (_dir, mut conn) = raw_database()?;
    conn.batch_execute(
        "INSERT INTO authors (name) VALUES ('Ünïcödé 🙂');
         INSERT INTO books (title, author_id, isbn, published_year)
             VALUES ('Other Title', 1, '9791090636071', -3000);
         INSERT INTO books (title, author_id) VALUES ('No ISBN', 1);
         INSERT INTO books (title, author_id) VALUES ('No ISBN either', 1);",
    )?;
    Ok(())
}
