//! The diesel schema: `authors` and `books`, for writing your own diesel queries next to
//! the repository's.
//!
//! Each backend's `diesel print-schema` output is committed as it is generated:
//! `sqlite.rs` (with `diesel.toml`), `postgres.rs` (with `diesel-postgres.toml`) and
//! `mysql.rs` (with `diesel-mysql.toml`; compiled with the `mysql` feature, whose diesel
//! types it names).
//! The crate and this module use the SQLite one: diesel's `table!` types are not tied
//! to a backend, so the same tables build queries for either. The two files differ only
//! in how each backend spells a type (`BigInt` and `Integer` on SQLite are the
//! `Int8` and `Int4` of PostgreSQL, the same diesel types), which the compiler checks
//! below, column for column, and in PostgreSQL's one column of its own: `books.title_search`,
//! the generated search vector of the full-text index (SQLite's index is an FTS5 table
//! beside `books`), which only the PostgreSQL search SQL reads.
//!
//! ```
//! use bookshelf::schema::books;
//! use diesel::prelude::*;
//!
//! let recent = books::table
//!     .filter(books::published_year.ge(2000))
//!     .select(books::title);
//! let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&recent).to_string();
//! assert!(sql.contains("`books`.`published_year` >= ?"));
//! ```

#[rustfmt::skip]
#[allow(missing_docs)]
mod sqlite;

#[rustfmt::skip]
#[allow(dead_code, missing_docs, unreachable_pub, missing_debug_implementations)]
mod postgres;

#[cfg(feature = "mysql")]
#[rustfmt::skip]
#[allow(dead_code, missing_docs, unreachable_pub, missing_debug_implementations)]
mod mysql;

pub use sqlite::*;

/// Fails to compile unless both backends' schemas give every table the same SQL types,
/// in the same column order.
const _: () = {
    use diesel::{Expression, Table};

    type SqlTypes<T> = <<T as Table>::AllColumns as Expression>::SqlType;

    fn same<T>(_: std::marker::PhantomData<T>, _: std::marker::PhantomData<T>) {}

    #[allow(dead_code)]
    fn backends_agree() {
        same(
            std::marker::PhantomData::<SqlTypes<sqlite::authors::table>>,
            std::marker::PhantomData::<SqlTypes<postgres::authors::table>>,
        );
        // Every column of SQLite's books, in order; PostgreSQL's generated search vector
        // comes after them.
        use postgres::books as pg;
        type Shared = (
            pg::id,
            pg::title,
            pg::author_id,
            pg::isbn,
            pg::published_year,
            pg::version,
            pg::created_at,
            pg::updated_at,
        );
        same(
            std::marker::PhantomData::<SqlTypes<sqlite::books::table>>,
            std::marker::PhantomData::<<Shared as Expression>::SqlType>,
        );
    }
};

#[cfg(test)]
mod tests {
    /// MySQL's generated file names the same tables and columns as SQLite's, in the same
    /// order, and the same types but for MySQL's spellings (`Bigint` and `Varchar` are
    /// diesel's `BigInt` and `Text`; `Datetime` is MySQL's `DATETIME(6)`, read as the
    /// shared schema's `Timestamp`), its `max_length` notes, and the search column of its
    /// FULLTEXT index, its one column of its own.
    #[test]
    fn the_mysql_schema_names_the_same_columns() {
        let mysql: Vec<String> = include_str!("mysql.rs")
            .replace("Bigint", "BigInt")
            .replace("Varchar", "Text")
            .replace("Datetime", "Timestamp")
            .lines()
            .map(|line| line.trim().to_owned())
            .filter(|line| !line.is_empty() && !line.starts_with("#[max_length"))
            .filter(|line| line != "title_search -> Nullable<Text>,")
            .collect();
        let sqlite: Vec<String> = include_str!("sqlite.rs")
            .lines()
            .map(|line| line.trim().to_owned())
            .filter(|line| !line.is_empty())
            .collect();
        assert_eq!(mysql, sqlite);
    }

    /// The column names (and types, up to each backend's spelling) of the two generated
    /// files agree but for PostgreSQL's search vector, its one column of its own (and the
    /// SQL type diesel_cli declares for it); the compile-time check above covers types
    /// and order only.
    #[test]
    fn both_generated_schemas_name_the_same_columns() {
        const OWN_TO_POSTGRES: [&str; 8] = [
            "pub mod sql_types {",
            "#[derive(diesel::sql_types::SqlType)]",
            "#[diesel(postgres_type(name = \"tsvector\", schema = \"pg_catalog\"))]",
            "pub struct Tsvector;",
            "}",
            "use diesel::sql_types::*;",
            "use super::sql_types::Tsvector;",
            "title_search -> Nullable<Tsvector>,",
        ];
        let lines = |text: &str| {
            text.replace("Int8", "BigInt")
                .replace("Int4", "Integer")
                .lines()
                .map(|line| line.trim().to_owned())
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
        };
        // The `sql_types` module (lines 1 to 5, after the header) and the lines of the
        // search vector's column are PostgreSQL's own; every other line is shared.
        let (mut own, mut shared) = (Vec::new(), Vec::new());
        for (at, line) in lines(include_str!("postgres.rs")).into_iter().enumerate() {
            if (1..=5).contains(&at) || OWN_TO_POSTGRES[5..].contains(&line.as_str()) {
                own.push(line);
            } else {
                shared.push(line);
            }
        }
        assert_eq!(own, OWN_TO_POSTGRES);
        assert_eq!(lines(include_str!("sqlite.rs")), shared);
    }
}
