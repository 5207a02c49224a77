use diesel::prelude::*;

use chrono::{DateTime, Utc};

use super::{Author, AuthorId, BookId, DbTime, Version};
use crate::schema::books;

/// A book, as stored.
///
/// It is `Insertable` too, id included, for writing whole rows with your own diesel
/// queries (`None` is NULL, so that a slice of books is one multi-row statement).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Queryable, Selectable, Identifiable, Associations, Insertable,
)]
#[diesel(table_name = books)]
#[diesel(belongs_to(Author))]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
#[cfg_attr(feature = "postgres", diesel(check_for_backend(diesel::pg::Pg)))]
#[cfg_attr(feature = "mysql", diesel(check_for_backend(diesel::mysql::Mysql)))]
#[diesel(treat_none_as_default_value = false)]
pub struct Book {
    /// Assigned by the database.
    pub id: BookId,
    /// Trimmed, 1 to 500 characters, unique per author.
    pub title: String,
    /// The author; deleting the author deletes the book.
    pub author_id: AuthorId,
    /// Normalized ISBN-13 (13 digits, no hyphens), unique when present.
    pub isbn: Option<String>,
    /// Year of first publication, from -3000 to next year.
    pub published_year: Option<i32>,
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

impl Book {
    /// The query for the books of `author_id`, by title. It is served by the
    /// `(author_id, title)` index without a sort.
    ///
    /// ```
    /// use bookshelf::{AuthorId, Book};
    /// use diesel::sqlite::Sqlite;
    ///
    /// let sql = diesel::debug_query::<Sqlite, _>(&Book::by_author(AuthorId(1))).to_string();
    /// assert!(sql.contains("ORDER BY `books`.`title`"));
    /// ```
    #[diesel::dsl::auto_type(no_type_alias)]
    pub fn by_author(author_id: AuthorId) -> _ {
        books::table
            .filter(books::author_id.eq(author_id))
            .order(books::title)
    }

    /// The query for books titled exactly `title`, by id. It is served by the title
    /// index.
    #[diesel::dsl::auto_type(no_type_alias)]
    pub fn by_title<'a>(title: &'a str) -> _ {
        books::table.filter(books::title.eq(title)).order(books::id)
    }
}

/// A book to create.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{NewAuthor, NewBook, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.create_author(&NewAuthor::new("Frank Herbert"))?;
/// let book = repo.create_book(
///     &NewBook::new(author.id, "Dune")
///         .isbn("0-441-17271-7")
///         .published_year(1965),
/// )?;
/// assert_eq!(book.isbn.as_deref(), Some("9780441172719"));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewBook {
    /// The author; must exist.
    pub author_id: AuthorId,
    /// The title as given; trimmed and checked when the book is created.
    pub title: String,
    /// ISBN-10 or ISBN-13, hyphens and spaces allowed; stored as ISBN-13.
    #[cfg_attr(feature = "serde", serde(default))]
    pub isbn: Option<String>,
    /// Year of first publication.
    #[cfg_attr(feature = "serde", serde(default))]
    pub published_year: Option<i32>,
}

impl NewBook {
    /// A book titled `title` by `author_id`, with no ISBN and no year.
    pub fn new(author_id: AuthorId, title: impl Into<String>) -> Self {
        Self {
            author_id,
            title: title.into(),
            isbn: None,
            published_year: None,
        }
    }

    /// Sets the ISBN (ISBN-10 or ISBN-13; hyphens and spaces are ignored).
    pub fn isbn(mut self, isbn: impl Into<String>) -> Self {
        self.isbn = Some(isbn.into());
        self
    }

    /// Sets the year of first publication.
    pub fn published_year(mut self, year: i32) -> Self {
        self.published_year = Some(year);
        self
    }
}

/// A validated [`NewBook`], as inserted. It owns its data: diesel caches the prepared
/// statement of a multi-row insert only for `'static` row types.
///
/// `treat_none_as_default_value = false` makes `None` mean NULL, so that a slice of rows
/// becomes one multi-row `INSERT` instead of one statement per row.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = books)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct BookRow {
    pub(crate) author_id: AuthorId,
    pub(crate) title: String,
    pub(crate) isbn: Option<String>,
    pub(crate) published_year: Option<i32>,
}

impl BookRow {
    /// The book this row became once inserted with `id` at `now`, the time a bulk
    /// insert gives all its rows.
    pub(crate) fn stored(self, id: BookId, now: DbTime) -> Book {
        Book {
            id,
            title: self.title,
            author_id: self.author_id,
            isbn: self.isbn,
            published_year: self.published_year,
            version: Version::FIRST,
            created_at: now.into(),
            updated_at: now.into(),
        }
    }
}

/// Changes to a book: each field left `None` stays as it is.
///
/// ```
/// use bookshelf::BookChanges;
///
/// // Retitle, and forget the year.
/// let changes = BookChanges::new().title("Dune Messiah").clear_published_year();
/// assert_eq!(changes.published_year, Some(None));
/// assert_eq!(changes.isbn, None);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BookChanges {
    /// A new title.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub title: Option<String>,
    /// `Some(Some(isbn))` sets the ISBN, `Some(None)` clears it. In JSON: absent leaves
    /// it, `null` clears it.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )
    )]
    pub isbn: Option<Option<String>>,
    /// `Some(Some(year))` sets the year, `Some(None)` clears it. In JSON: absent leaves
    /// it, `null` clears it.
    #[cfg_attr(
        feature = "serde",
        serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )
    )]
    pub published_year: Option<Option<i32>>,
}

/// Deserializes a field that is present (possibly `null`) as `Some`, so that an absent
/// field (`None`, through `default`) differs from an explicit `null` (`Some(None)`).
#[cfg(feature = "serde")]
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

impl BookChanges {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a new title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets a new ISBN.
    pub fn isbn(mut self, isbn: impl Into<String>) -> Self {
        self.isbn = Some(Some(isbn.into()));
        self
    }

    /// Removes the ISBN.
    pub fn clear_isbn(mut self) -> Self {
        self.isbn = Some(None);
        self
    }

    /// Sets a new year of first publication.
    pub fn published_year(mut self, year: i32) -> Self {
        self.published_year = Some(Some(year));
        self
    }

    /// Removes the year of first publication.
    pub fn clear_published_year(mut self) -> Self {
        self.published_year = Some(None);
        self
    }

    /// True when applying these changes would change nothing.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.isbn.is_none() && self.published_year.is_none()
    }
}

/// Validated [`BookChanges`], as sent in the `UPDATE`.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = books)]
pub(crate) struct BookChangeset<'a> {
    pub(crate) title: Option<&'a str>,
    pub(crate) isbn: Option<Option<String>>,
    pub(crate) published_year: Option<Option<i32>>,
}
