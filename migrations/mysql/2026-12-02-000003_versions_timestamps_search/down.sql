-- Back to migration 2's schema, keeping every author and book (their versions,
-- timestamps and the search index are dropped).
DROP INDEX books_title_search_idx ON books;
ALTER TABLE books DROP COLUMN title_search;
DROP TRIGGER books_touch;
DROP TRIGGER authors_touch;
DROP INDEX books_updated_at_idx ON books;
ALTER TABLE books
    DROP CONSTRAINT books_version_check,
    DROP COLUMN updated_at, DROP COLUMN created_at, DROP COLUMN version;
ALTER TABLE authors
    DROP CONSTRAINT authors_version_check,
    DROP COLUMN updated_at, DROP COLUMN created_at, DROP COLUMN version;
