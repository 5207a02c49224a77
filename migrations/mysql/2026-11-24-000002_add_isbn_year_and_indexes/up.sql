-- Adds two nullable columns, so every existing row stays valid and keeps its data.
-- The unique indexes carry the names the crate maps to `Error::Conflict` (MariaDB names
-- the key in its duplicate-entry message). A UNIQUE index holds any number of NULLs, as
-- the other backends' partial index does.
ALTER TABLE books
    ADD COLUMN isbn VARCHAR(13) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL,
    ADD CONSTRAINT books_isbn_check
    CHECK (isbn IS NULL OR (
        isbn REGEXP '^97[89][0-9]{10}$'
        AND (  CAST(substr(isbn, 1, 1) AS UNSIGNED) + 3 * CAST(substr(isbn, 2, 1) AS UNSIGNED)
             + CAST(substr(isbn, 3, 1) AS UNSIGNED) + 3 * CAST(substr(isbn, 4, 1) AS UNSIGNED)
             + CAST(substr(isbn, 5, 1) AS UNSIGNED) + 3 * CAST(substr(isbn, 6, 1) AS UNSIGNED)
             + CAST(substr(isbn, 7, 1) AS UNSIGNED) + 3 * CAST(substr(isbn, 8, 1) AS UNSIGNED)
             + CAST(substr(isbn, 9, 1) AS UNSIGNED) + 3 * CAST(substr(isbn, 10, 1) AS UNSIGNED)
             + CAST(substr(isbn, 11, 1) AS UNSIGNED) + 3 * CAST(substr(isbn, 12, 1) AS UNSIGNED)
             + CAST(substr(isbn, 13, 1) AS UNSIGNED)) % 10 = 0
    )),
    -- The upper bound in Rust is next year; a CHECK cannot read the clock, so it stops
    -- at 9999.
    ADD COLUMN published_year INTEGER NULL,
    ADD CONSTRAINT books_published_year_check
    CHECK (published_year IS NULL OR published_year BETWEEN -3000 AND 9999);

CREATE UNIQUE INDEX books_isbn_key ON books (isbn);
-- Makes a title unique per author, and serves books_by_author (ordered by title) and the
-- foreign key (ON DELETE CASCADE) without a sort. It covers every use of the
-- single-column index of the first migration, which would now only slow down writes
-- (InnoDB lets it go because this one serves the foreign key).
CREATE UNIQUE INDEX books_author_id_title_key ON books (author_id, title);
DROP INDEX books_author_id_idx ON books;
CREATE INDEX books_title_idx ON books (title);
