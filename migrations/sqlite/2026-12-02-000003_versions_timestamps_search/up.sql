-- Row versions, timestamps, ids never handed out twice, and full-text search of titles.
--
-- SQLite gives AUTOINCREMENT only to a table created with it, so both tables are built
-- again and every row copied, ids and all. AUTOINCREMENT makes SQLite record the
-- largest id it ever gave (in sqlite_sequence) and never give it again, as PostgreSQL's
-- identity sequences never do: a deleted newest id is not reused.
--
-- `version` starts at 1 and rises by one with every update; `created_at` and
-- `updated_at` are UTC, to the millisecond (SQLite's clock), written as
-- 'YYYY-MM-DD HH:MM:SS.SSS' so that text order is time order. The database sets them:
-- defaults on insert, and a trigger on every update that does not raise the version
-- itself (the crate's updates raise it and set updated_at in the same statement), so
-- that other writers keep them true.
--
-- Existing rows are version 1, created and updated at the time of this migration.
-- (A rowid table's copy with explicit ids keeps them; the new ids continue above the
-- largest one.)
CREATE TABLE authors_v3 (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL
        CONSTRAINT authors_name_check
        CHECK (length(name) BETWEEN 1 AND 500 AND trim(name) = name),
    version BIGINT NOT NULL DEFAULT 1
        CONSTRAINT authors_version_check CHECK (version >= 1),
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

CREATE TABLE books_v3 (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL
        CONSTRAINT books_title_check
        CHECK (length(title) BETWEEN 1 AND 500 AND trim(title) = title),
    author_id BIGINT NOT NULL REFERENCES authors_v3 (id) ON DELETE CASCADE,
    isbn TEXT
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
        )),
    published_year INTEGER
        CONSTRAINT books_published_year_check
        CHECK (published_year IS NULL OR published_year BETWEEN -3000 AND 9999),
    version BIGINT NOT NULL DEFAULT 1
        CONSTRAINT books_version_check CHECK (version >= 1),
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

INSERT INTO authors_v3 (id, name) SELECT id, name FROM authors ORDER BY id;
INSERT INTO books_v3 (id, title, author_id, isbn, published_year)
    SELECT id, title, author_id, isbn, published_year FROM books ORDER BY id;

-- The old books go first: nothing refers to them. The old authors are then referred to
-- by nothing (the new books refer to authors_v3), so dropping them deletes no book.
-- Renaming authors_v3 rewrites the new books' reference to it.
DROP TABLE books;
DROP TABLE authors;
ALTER TABLE authors_v3 RENAME TO authors;
ALTER TABLE books_v3 RENAME TO books;

CREATE UNIQUE INDEX books_isbn_key ON books (isbn) WHERE isbn IS NOT NULL;
CREATE UNIQUE INDEX books_author_id_title_key ON books (author_id, title);
CREATE INDEX books_title_idx ON books (title);
-- Serves `BookFilter::updated_since` (sync clients asking what changed), in that order;
-- the id, a rowid, is in every SQLite index already.
CREATE INDEX books_updated_at_idx ON books (updated_at);

-- An update that leaves the version as it was (a writer that does not know of it) gets
-- the next version and the time. A writer that raises the version itself is trusted to
-- set updated_at too, and this trigger's own update raises it, so it never runs twice.
CREATE TRIGGER authors_touch AFTER UPDATE ON authors
    FOR EACH ROW WHEN NEW.version <= OLD.version
BEGIN
    UPDATE authors
    SET version = OLD.version + 1, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
    WHERE id = NEW.id;
END;

CREATE TRIGGER books_touch AFTER UPDATE ON books
    FOR EACH ROW WHEN NEW.version <= OLD.version
BEGIN
    UPDATE books
    SET version = OLD.version + 1, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
    WHERE id = NEW.id;
END;

-- Full-text search of titles: an FTS5 index over books.title (an external-content
-- table, so the titles are not stored twice), with the unicode61 tokenizer folding case
-- and removing diacritics for all of Unicode ("ecole" finds "École"). Triggers keep it
-- in step with books, whoever writes them; ON DELETE CASCADE fires them too.
CREATE VIRTUAL TABLE books_fts USING fts5(
    title,
    content = 'books',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO books_fts (books_fts) VALUES ('rebuild');

CREATE TRIGGER books_fts_insert AFTER INSERT ON books
BEGIN
    INSERT INTO books_fts (rowid, title) VALUES (NEW.id, NEW.title);
END;

CREATE TRIGGER books_fts_delete AFTER DELETE ON books
BEGIN
    INSERT INTO books_fts (books_fts, rowid, title) VALUES ('delete', OLD.id, OLD.title);
END;

CREATE TRIGGER books_fts_update AFTER UPDATE OF id, title ON books
BEGIN
    INSERT INTO books_fts (books_fts, rowid, title) VALUES ('delete', OLD.id, OLD.title);
    INSERT INTO books_fts (rowid, title) VALUES (NEW.id, NEW.title);
END;
