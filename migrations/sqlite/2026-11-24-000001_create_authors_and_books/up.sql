-- The guide's schema: an author has many books, and deleting an author deletes its books.
-- `INTEGER NOT NULL PRIMARY KEY` is SQLite's rowid alias (no AUTOINCREMENT: ids are never
-- reused while a row holds them, and inserts skip the sqlite_sequence bookkeeping).
-- Foreign keys are declared BIGINT so that diesel maps them to i64 like the keys.
-- The CHECKs repeat the validation the crate does in Rust, so that rows written by
-- other tools obey the same rules.
CREATE TABLE authors (
    id INTEGER NOT NULL PRIMARY KEY,
    name TEXT NOT NULL
        CONSTRAINT authors_name_check
        CHECK (length(name) BETWEEN 1 AND 500 AND trim(name) = name)
);

CREATE TABLE books (
    id INTEGER NOT NULL PRIMARY KEY,
    title TEXT NOT NULL
        CONSTRAINT books_title_check
        CHECK (length(title) BETWEEN 1 AND 500 AND trim(title) = title),
    author_id BIGINT NOT NULL REFERENCES authors (id) ON DELETE CASCADE
);

CREATE INDEX books_author_id_idx ON books (author_id);
