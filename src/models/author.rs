use diesel::prelude::*;

use chrono::{DateTime, Utc};

use super::{AuthorId, Book, DbTime, Version};
use crate::schema::authors;

/// An author, as stored.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
///
/// It is `Insertable` too, id included, for writing whole rows with your own diesel
/// queries (an import keeping its ids, say). (`treat_none_as_default_value = false`
/// keeps a slice of them one multi-row statement: diesel otherwise inserts such a slice
/// on SQLite one row per statement.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = authors)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
#[cfg_attr(feature = "postgres", diesel(check_for_backend(diesel::pg::Pg)))]
#[cfg_attr(feature = "mysql", diesel(check_for_backend(diesel::mysql::Mysql)))]
#[diesel(treat_none_as_default_value = false)]
pub struct Author {
    /// Assigned by the database.
    pub id: AuthorId,
    /// Trimmed, 1 to 500 characters.
    pub name: String,
    /// 1 when created, one more with every update, whoever writes the row: pass it to
    /// the `_if` operations to write only if nobody changed the row since it was read.
    pub version: Version,
    /// When the row was created (UTC; set by the database: milliseconds on SQLite,
    /// microseconds on PostgreSQL).
    #[diesel(deserialize_as = DbTime, serialize_as = DbTime)]
    pub created_at: DateTime<Utc>,
    /// When the row was last updated (UTC; set by the database on every update, by
    /// whoever writes it).
    #[diesel(deserialize_as = DbTime, serialize_as = DbTime)]
    pub updated_at: DateTime<Utc>,
}

impl Author {
    /// The query for authors named exactly `name`, by id; select and load it yourself to
    /// compose it with other diesel queries.
    ///
    /// ```
    /// use bookshelf::Author;
    /// use diesel::sqlite::Sqlite;
    ///
    /// let sql = diesel::debug_query::<Sqlite, _>(&Author::by_name("Ann")).to_string();
    /// assert!(sql.contains("WHERE (`authors`.`name` = ?)"));
    /// ```
    #[diesel::dsl::auto_type(no_type_alias)]
    pub fn by_name<'a>(name: &'a str) -> _ {
        authors::table
            .filter(authors::name.eq(name))
            .order(authors::id)
    }
}

/// An author to create.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// let repo = bookshelf::Repository::in_memory()?;
/// let author = repo.create_author(&bookshelf::NewAuthor::new("  Ursula K. Le Guin "))?;
/// assert_eq!(author.name, "Ursula K. Le Guin");
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewAuthor {
    /// The name as given; it is trimmed and checked when the author is created.
    pub name: String,
}

impl NewAuthor {
    /// An author named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// A validated [`NewAuthor`], as inserted. It owns its data: diesel caches the prepared
/// statement of a multi-row insert only for `'static` row types.
///
/// `treat_none_as_default_value = false` keeps diesel from treating the row as one that
/// may hold defaults: such rows are inserted one statement each, never cached.
#[derive(Debug, Insertable)]
#[diesel(table_name = authors)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct AuthorRow {
    pub(crate) name: String,
}

impl AuthorRow {
    /// The author this row became once inserted with `id` at `now`, the time a bulk
    /// insert gives all its rows.
    pub(crate) fn stored(self, id: AuthorId, now: DbTime) -> Author {
        Author {
            id,
            name: self.name,
            version: Version::FIRST,
            created_at: now.into(),
            updated_at: now.into(),
        }
    }
}

/// An author together with all of their books, ordered by title: the result of an eager
/// load ([`Repository::authors_with_books`](crate::Repository::authors_with_books)).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthorWithBooks {
    /// The author.
    pub author: Author,
    /// Their books, ordered by title.
    pub books: Vec<Book>,
}
