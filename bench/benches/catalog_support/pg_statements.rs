//! bookshelf's statements on PostgreSQL, as its SQL echo (and the server log) lists
//! them, for the peer stacks that send them with other clients (`postgres-raw`,
//! `sqlx-pg`): bookshelf-pg against those measures the library, not the SQL. Kept in
//! step with the crate by hand; the bulk inserts are the crate's
//! (`src/backends/postgres/insert.rs`).

// The statements are sent by the peer stacks only; the TLS query by every PostgreSQL
// stack.
#![cfg_attr(not(feature = "pg-peers"), allow(dead_code))]

/// bookshelf's PostgreSQL migrations, in order: the schema every PostgreSQL stack runs
/// on.
pub const SCHEMA: [&str; 3] = [
    include_str!("../../../migrations/postgres/2026-11-24-000001_create_authors_and_books/up.sql"),
    include_str!("../../../migrations/postgres/2026-11-24-000002_add_isbn_year_and_indexes/up.sql"),
    include_str!(
        "../../../migrations/postgres/2026-12-02-000003_versions_timestamps_search/up.sql"
    ),
];

/// `$1` the names (`text[]`): the ids in input order and the time.
pub const INSERT_AUTHORS: &str = "\
WITH sequence AS MATERIALIZED (\
SELECT pg_get_serial_sequence('authors', 'id')::regclass AS name), \
input AS MATERIALIZED (\
SELECT nextval(sequence.name) AS id, t.name, t.ord \
FROM sequence, unnest($1::text[]) WITH ORDINALITY AS t (name, ord) \
ORDER BY t.ord), \
inserted AS (\
INSERT INTO authors (id, name, created_at, updated_at) \
SELECT id, name, statement_timestamp() AT TIME ZONE 'UTC', \
statement_timestamp() AT TIME ZONE 'UTC' FROM input) \
SELECT ARRAY(SELECT id FROM input ORDER BY ord) AS ids, \
statement_timestamp() AT TIME ZONE 'UTC' AS now";

/// `$1` author ids, `$2` titles, `$3` ISBNs, `$4` years: the ids in input order and the
/// time.
pub const INSERT_BOOKS: &str = "\
WITH sequence AS MATERIALIZED (\
SELECT pg_get_serial_sequence('books', 'id')::regclass AS name), \
input AS MATERIALIZED (\
SELECT nextval(sequence.name) AS id, t.author_id, t.title, t.isbn, t.published_year, t.ord \
FROM sequence, unnest($1::bigint[], $2::text[], $3::text[], $4::integer[]) \
WITH ORDINALITY AS t (author_id, title, isbn, published_year, ord) \
ORDER BY t.ord), \
inserted AS (\
INSERT INTO books (id, title, author_id, isbn, published_year, created_at, updated_at) \
SELECT id, title, author_id, isbn, published_year, statement_timestamp() AT TIME ZONE 'UTC', \
statement_timestamp() AT TIME ZONE 'UTC' FROM input) \
SELECT ARRAY(SELECT id FROM input ORDER BY ord) AS ids, \
statement_timestamp() AT TIME ZONE 'UTC' AS now";

/// `$1` the name.
pub const INSERT_AUTHOR: &str = concat!(
    r#"INSERT INTO "authors" ("name") VALUES ($1) ON CONFLICT ("id") DO NOTHING RETURNING "#,
    r#""authors"."id", "authors"."name", "authors"."version", "authors"."created_at", "authors"."updated_at""#
);

/// `$1` the id.
pub const AUTHOR_BY_ID: &str = concat!(
    r#"SELECT "authors"."id", "authors"."name", "authors"."version", "authors"."created_at", "#,
    r#""authors"."updated_at" FROM "authors" WHERE ("authors"."id" = $1)"#
);

/// `$1` the largest id before the page (0 for all).
pub const AUTHORS_AFTER: &str = concat!(
    r#"SELECT "authors"."id", "authors"."name", "authors"."version", "authors"."created_at", "#,
    r#""authors"."updated_at" FROM "authors" WHERE ("authors"."id" > $1) ORDER BY "authors"."id""#
);

/// The select list of every book query: the eight book columns.
macro_rules! book_select {
    ($rest:literal) => {
        concat!(
            r#"SELECT "books"."id", "books"."title", "books"."author_id", "books"."isbn", "#,
            r#""books"."published_year", "books"."version", "books"."created_at", "#,
            r#""books"."updated_at" FROM "books""#,
            $rest
        )
    };
}

/// `$1` the author.
pub const BOOKS_BY_AUTHOR: &str =
    book_select!(r#" WHERE ("books"."author_id" = $1) ORDER BY "books"."title""#);
/// `$1` the title.
pub const BOOKS_BY_TITLE: &str =
    book_select!(r#" WHERE ("books"."title" = $1) ORDER BY "books"."id""#);
/// Every book, in storage order (the eager load's second query).
pub const ALL_BOOKS: &str = book_select!("");
/// `$1` the last id seen.
pub const BOOKS_PAGE: &str =
    book_select!(r#" WHERE ("books"."id" > $1) ORDER BY "books"."id" LIMIT 100"#);
/// `$1` and `$2` the words searched for.
pub const FULLTEXT: &str = book_select!(
    r#" WHERE ("books"."title_search" @@ plainto_tsquery('bookshelf_search', $1)) ORDER BY ts_rank("books"."title_search", plainto_tsquery('bookshelf_search', $2)) DESC, "books"."id" ASC"#
);

/// `$1` the name, `$2` the version step (1), `$3` the id.
pub const RENAME_AUTHOR: &str = concat!(
    r#"UPDATE "authors" SET "name" = $1, "version" = ("authors"."version" + $2), "#,
    r#""updated_at" = (statement_timestamp() AT TIME ZONE 'UTC') WHERE ("authors"."id" = $3) "#,
    r#"RETURNING "authors"."id", "authors"."name", "authors"."version", "authors"."created_at", "#,
    r#""authors"."updated_at""#
);

/// `$1` the id.
pub const DELETE_AUTHOR: &str = r#"DELETE FROM "authors" WHERE ("authors"."id" = $1)"#;

/// How bookshelf begins the eager load's transaction: one snapshot for both queries.
pub const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// Whether this session's connection is encrypted, and with which protocol.
pub const TLS_QUERY: &str = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

/// What [`TLS_QUERY`] found, as the bench prints it (shared with the MySQL stacks).
pub use crate::database::describe_tls;
