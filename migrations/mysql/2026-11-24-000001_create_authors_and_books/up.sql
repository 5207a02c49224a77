-- The guide's schema: an author has many books, and deleting an author deletes its books.
-- The same tables, constraint names and rules as the SQLite and PostgreSQL migrations,
-- in MariaDB's terms: InnoDB tables (transactions, foreign keys), BIGINT AUTO_INCREMENT
-- ids, and text in utf8mb4 with the binary collation `utf8mb4_nopad_bin`, so that text
-- compares, sorts and is unique in byte order (code point order), as on the other
-- backends, without PAD SPACE (`_bin` collations of MariaDB 10.x compare 'a' and 'a '
-- as equal; `nopad` ones do not). A title or name is at most 500 characters: 2,000 bytes
-- in utf8mb4, which an InnoDB index key holds (3,072 bytes at most).
-- The CHECKs repeat the validation the crate does in Rust, so that rows written by
-- other tools obey the same rules; MariaDB enforces them (MySQL since 8.0.16).
CREATE TABLE authors (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(500) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    CONSTRAINT authors_name_check
        CHECK (char_length(name) BETWEEN 1 AND 500 AND trim(name) = name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;

CREATE TABLE books (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(500) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    author_id BIGINT NOT NULL,
    CONSTRAINT books_title_check
        CHECK (char_length(title) BETWEEN 1 AND 500 AND trim(title) = title),
    INDEX books_author_id_idx (author_id),
    CONSTRAINT books_author_id_fkey FOREIGN KEY (author_id)
        REFERENCES authors (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_nopad_bin;
