-- Row versions, timestamps and full-text search of titles (ids are never handed out
-- twice already: InnoDB's AUTO_INCREMENT counter only goes up, and MariaDB 10.2.4 and
-- later keep it across restarts).
--
-- `version` starts at 1 and rises by one with every update; `created_at` and
-- `updated_at` are UTC, to the microsecond, as DATETIME(6): no time zone conversion
-- (TIMESTAMP would convert with the session's zone) and the years 1000 to 9999
-- (TIMESTAMP stops in 2038). The database sets them: defaults on insert, and a trigger
-- on every update that does not raise the version itself (the crate's updates raise it
-- and set updated_at in the same statement), so that other writers keep them true.
-- UTC_TIMESTAMP(6) is the statement's time, one value for every row it writes.
-- Existing rows are version 1, created and updated at the time of this migration.
ALTER TABLE authors
    ADD COLUMN version BIGINT NOT NULL DEFAULT 1,
    ADD CONSTRAINT authors_version_check CHECK (version >= 1),
    ADD COLUMN created_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    ADD COLUMN updated_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6));

ALTER TABLE books
    ADD COLUMN version BIGINT NOT NULL DEFAULT 1,
    ADD CONSTRAINT books_version_check CHECK (version >= 1),
    ADD COLUMN created_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
    ADD COLUMN updated_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6));

-- Serves `BookFilter::updated_since` (sync clients asking what changed), in that order
-- (InnoDB appends the primary key to every secondary index; it is named for clarity).
CREATE INDEX books_updated_at_idx ON books (updated_at, id);

-- An update that leaves the version as it was (a writer that does not know of it) gets
-- the next version and the time. A writer that raises the version itself is trusted to
-- set updated_at too. (The server parses the trigger body itself: no DELIMITER needed.)
CREATE TRIGGER authors_touch BEFORE UPDATE ON authors FOR EACH ROW
BEGIN
    IF NEW.version <= OLD.version THEN
        SET NEW.version = OLD.version + 1, NEW.updated_at = UTC_TIMESTAMP(6);
    END IF;
END;

CREATE TRIGGER books_touch BEFORE UPDATE ON books FOR EACH ROW
BEGIN
    IF NEW.version <= OLD.version THEN
        SET NEW.version = OLD.version + 1, NEW.updated_at = UTC_TIMESTAMP(6);
    END IF;
END;

-- Full-text search of titles: InnoDB's FULLTEXT index on a generated copy of the title
-- in a case- and accent-insensitive collation (`utf8mb4_unicode_520_ci`: "ecole" finds
-- "École", "DUNE" finds "Dune"); the title itself keeps its binary collation. Every
-- writer keeps the copy true. Apostrophes become spaces in it, since InnoDB's parser
-- keeps "L'École" as one word. The index is built without InnoDB's stop-word list
-- (which would make "the" or "who" unsearchable); its shortest word is the server's
-- innodb_ft_min_token_size (3 by default): shorter words are not in the index.
ALTER TABLE books ADD COLUMN title_search VARCHAR(500)
    CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci
    AS (CONVERT(REPLACE(REPLACE(title, '''', ' '), '’', ' ') USING utf8mb4)
        COLLATE utf8mb4_unicode_520_ci) STORED;
SET SESSION innodb_ft_enable_stopword = OFF;
CREATE FULLTEXT INDEX books_title_search_idx ON books (title_search);
SET SESSION innodb_ft_enable_stopword = ON;
