-- Back to migration 2's schema, keeping every author and book (their versions,
-- timestamps and the search index are dropped). The unaccent extension, if this
-- migration created it, stays: other schemas of the database may use it.
DROP INDEX books_title_search_idx;
ALTER TABLE books DROP COLUMN title_search;
DROP TEXT SEARCH CONFIGURATION bookshelf_search;
DROP TRIGGER books_touch ON books;
DROP TRIGGER authors_touch ON authors;
DROP FUNCTION bookshelf_touch();
DROP INDEX books_updated_at_idx;
ALTER TABLE books DROP COLUMN updated_at, DROP COLUMN created_at, DROP COLUMN version;
ALTER TABLE authors DROP COLUMN updated_at, DROP COLUMN created_at, DROP COLUMN version;
