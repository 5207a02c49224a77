-- Adds two nullable columns, so every existing row stays valid and keeps its data.
-- The unique indexes carry the constraint names the crate maps to `Error::Conflict`.
ALTER TABLE books ADD COLUMN isbn TEXT
    CONSTRAINT books_isbn_check
    CHECK (isbn IS NULL OR (
        isbn ~ '^97[89][0-9]{10}$'
        AND (  substr(isbn, 1, 1)::int + 3 * substr(isbn, 2, 1)::int
             + substr(isbn, 3, 1)::int + 3 * substr(isbn, 4, 1)::int
             + substr(isbn, 5, 1)::int + 3 * substr(isbn, 6, 1)::int
             + substr(isbn, 7, 1)::int + 3 * substr(isbn, 8, 1)::int
             + substr(isbn, 9, 1)::int + 3 * substr(isbn, 10, 1)::int
             + substr(isbn, 11, 1)::int + 3 * substr(isbn, 12, 1)::int
             + substr(isbn, 13, 1)::int) % 10 = 0
    ));

-- The upper bound in Rust is next year; a CHECK cannot read the clock, so it stops at 9999.
ALTER TABLE books ADD COLUMN published_year INTEGER
    CONSTRAINT books_published_year_check
    CHECK (published_year IS NULL OR published_year BETWEEN -3000 AND 9999);

-- Partial: books without an ISBN (NULLs never clash) cost this index nothing.
CREATE UNIQUE INDEX books_isbn_key ON books (isbn) WHERE isbn IS NOT NULL;
-- Makes a title unique per author, and serves books_by_author (ordered by title) and the
-- ON DELETE CASCADE lookup without a sort. It covers every use of the single-column
-- index of the first migration, which would now only slow down writes.
CREATE UNIQUE INDEX books_author_id_title_key ON books (author_id, title);
DROP INDEX books_author_id_idx;
CREATE INDEX books_title_idx ON books (title);
