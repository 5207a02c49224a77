DROP INDEX books_author_id_idx;
DROP TABLE books;
DROP TABLE authors;
