-- Back to migration 2's schema, keeping every author and book (their versions,
-- timestamps and the search index are dropped). The tables are built again under their
-- own names, with migration 2's exact definitions: the current ones are renamed out of
-- the way first (their indexes dropped, their names being taken again).
DROP TRIGGER books_fts_update;
DROP TRIGGER books_fts_delete;
DROP TRIGGER books_fts_insert;
DROP TABLE books_fts;
DROP TRIGGER books_touch;
DROP TRIGGER authors_touch;
DROP INDEX books_updated_at_idx;
DROP INDEX books_title_idx;
DROP INDEX books_author_id_title_key;
DROP INDEX books_isbn_key;

ALTER TABLE books RENAME TO books_v3;
ALTER TABLE authors RENAME TO authors_v3;

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
, isbn TEXT
    CONSTRAINT books_isbn_check
    CHECK (isbn IS NULL OR (
        length(isbn) = 13
        AND isbn NOT GLOB '*[^0-9]*'
        AND substr(isbn, 1, 3) IN ('978', '979')
        AND (  substr(isbn, 1, 1) + 3 * substr(isbn, 2, 1)
             + substr(isbn, 3, 1) + 3 * substr(isbn, 4, 1)
             + substr(isbn, 5, 1) + 3 * substr(isbn, 6, 1)
             + substr(isbn, 7, 1) + 3 * substr(isbn, 8, 1)
             + substr(isbn, 9, 1) + 3 * substr(isbn, 10, 1)
             + substr(isbn, 11, 1) + 3 * substr(isbn, 12, 1)
             + substr(isbn, 13, 1)) % 10 = 0
    )), published_year INTEGER
    CONSTRAINT books_published_year_check
    CHECK (published_year IS NULL OR published_year BETWEEN -3000 AND 9999));

INSERT INTO authors (id, name) SELECT id, name FROM authors_v3 ORDER BY id;
INSERT INTO books (id, title, author_id, isbn, published_year)
    SELECT id, title, author_id, isbn, published_year FROM books_v3 ORDER BY id;

-- The renamed books refer to authors_v3; dropping them first leaves authors_v3 referred
-- to by nothing. Dropping an AUTOINCREMENT table removes its sqlite_sequence row.
DROP TABLE books_v3;
DROP TABLE authors_v3;

CREATE UNIQUE INDEX books_isbn_key ON books (isbn) WHERE isbn IS NOT NULL;
CREATE UNIQUE INDEX books_author_id_title_key ON books (author_id, title);
CREATE INDEX books_title_idx ON books (title);
