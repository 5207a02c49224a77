DROP INDEX books_title_idx ON books;
CREATE INDEX books_author_id_idx ON books (author_id);
DROP INDEX books_author_id_title_key ON books;
DROP INDEX books_isbn_key ON books;
ALTER TABLE books
    DROP CONSTRAINT books_published_year_check,
    DROP COLUMN published_year,
    DROP CONSTRAINT books_isbn_check,
    DROP COLUMN isbn;
