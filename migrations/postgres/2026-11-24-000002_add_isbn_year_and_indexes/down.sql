DROP INDEX books_title_idx;
CREATE INDEX books_author_id_idx ON books (author_id);
DROP INDEX books_author_id_title_key;
DROP INDEX books_isbn_key;
ALTER TABLE books DROP COLUMN published_year;
ALTER TABLE books DROP COLUMN isbn;
