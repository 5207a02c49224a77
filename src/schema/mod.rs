//! The diesel schema: `authors` and `books`, for writing your own diesel queries next to
//! the repository's.
//!
//! Each backend's `diesel print-schema` output is committed as it is generated:
//! `sqlite.rs` (with `diesel.toml`) and `postgres.rs` (with `diesel-postgres.toml`).
//! The crate and this module use the SQLite one: diesel's `table!` types are not tied
//! to a backend, so the same tables build queries for either. The two files differ only
//! in how each backend spells a type (`BigInt` and `Integer` on SQLite are the
//! `Int8` and `Int4` of PostgreSQL, the same diesel types), which the compiler checks
//! below, column for column.
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
#[allow(dead_code, missing_docs, unreachable_pub)]
mod postgres;

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
        same(
            std::marker::PhantomData::<SqlTypes<sqlite::books::table>>,
            std::marker::PhantomData::<SqlTypes<postgres::books::table>>,
        );
    }
};

#[cfg(test)]
mod tests {
    /// The column names (and types, up to each backend's spelling) of the two generated
    /// files agree; the compile-time check above covers types and order only.
    #[test]
    fn both_generated_schemas_name_the_same_columns() {
        let normalize = |text: &str| {
            text.replace("Int8", "BigInt")
                .replace("Int4", "Integer")
                .lines()
                .map(|line| line.trim().to_owned())
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            normalize(include_str!("sqlite.rs")),
            normalize(include_str!("postgres.rs"))
        );
    }
}
