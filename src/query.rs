//! Query inputs: keyset pages and the book filter.

/// A keyset page over rows ordered by id: the rows whose id is greater than `after`,
/// at most `limit` of them.
///
/// Keyset pages stay fast at any depth (the database seeks to `after` through the
/// primary key instead of counting past an offset) and never skip or repeat a row when
/// others are inserted meanwhile.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{NewAuthor, Page, Repository};
///
/// let repo = Repository::in_memory()?;
/// for name in ["Ann", "Bo", "Cy"] {
///     repo.create_author(&NewAuthor::new(name))?;
/// }
/// let first = repo.list_authors(Page::first(2))?;
/// let rest = repo.list_authors(Page::after(first[1].id, 2))?;
/// assert_eq!(rest.len(), 1);
/// assert_eq!(rest[0].name, "Cy");
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page {
    /// Only rows with an id greater than this; `None` starts at the beginning.
    pub after: Option<i64>,
    /// At most this many rows; `None` means no limit.
    pub limit: Option<u32>,
}

impl Page {
    /// The first `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self {
            after: None,
            limit: Some(limit),
        }
    }

    /// The `limit` rows after the row with id `after` (an [`AuthorId`](crate::AuthorId),
    /// a [`BookId`](crate::BookId) or a plain `i64`).
    pub fn after(after: impl Into<i64>, limit: u32) -> Self {
        Self {
            after: Some(after.into()),
            limit: Some(limit),
        }
    }

    /// Every row.
    pub fn all() -> Self {
        Self {
            after: None,
            limit: None,
        }
    }

    pub(crate) fn after_id(&self) -> i64 {
        self.after.unwrap_or(i64::MIN)
    }
}

impl Default for Page {
    /// [`Page::all`].
    fn default() -> Self {
        Self::all()
    }
}

/// What [`BookFilter`] orders by. Ties are broken by id, so the order is total.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BookOrder {
    /// By id, that is, by insertion order.
    #[default]
    Id,
    /// By title.
    Title,
    /// By year of publication; books without a year come last in either direction.
    PublishedYear,
}

/// Sort direction.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Ascending,
    /// Largest first.
    Descending,
}

/// Criteria for [`Repository::search_books`](crate::Repository::search_books). Every
/// criterion is optional; the empty filter matches every book.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{BookFilter, BookOrder, Direction, NewAuthor, NewBook, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.create_author(&NewAuthor::new("Frank Herbert"))?;
/// repo.create_book(&NewBook::new(author.id, "Dune").published_year(1965))?;
/// repo.create_book(&NewBook::new(author.id, "Dune Messiah").published_year(1969))?;
/// repo.create_book(&NewBook::new(author.id, "The Dosadi Experiment").published_year(1977))?;
///
/// let filter = BookFilter::new()
///     .title_contains("dune")
///     .year_from(1960)
///     .order_by(BookOrder::PublishedYear, Direction::Descending);
/// let titles: Vec<_> = repo.search_books(&filter)?.into_iter().map(|b| b.title).collect();
/// assert_eq!(titles, ["Dune Messiah", "Dune"]);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BookFilter {
    /// Titles containing this text, ignoring case; `%`, `_` and `\` match literally.
    pub title_contains: Option<String>,
    /// Books of this author.
    pub author_id: Option<crate::models::AuthorId>,
    /// Published in this year or later.
    pub year_from: Option<i32>,
    /// Published in this year or earlier.
    pub year_to: Option<i32>,
    /// Sort key.
    pub order: BookOrder,
    /// Sort direction.
    pub direction: Direction,
    /// At most this many books.
    pub limit: Option<u32>,
    /// Skip this many books first.
    pub offset: Option<u32>,
}

impl BookFilter {
    /// Matches every book, ordered by id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only titles containing `text`, ignoring ASCII case. The text is matched literally:
    /// `%` finds only titles with a `%` in them.
    pub fn title_contains(mut self, text: impl Into<String>) -> Self {
        self.title_contains = Some(text.into());
        self
    }

    /// Only books by `author_id`.
    pub fn author(mut self, author_id: crate::models::AuthorId) -> Self {
        self.author_id = Some(author_id);
        self
    }

    /// Only books published in `year` or later (books without a year never match).
    pub fn year_from(mut self, year: i32) -> Self {
        self.year_from = Some(year);
        self
    }

    /// Only books published in `year` or earlier (books without a year never match).
    pub fn year_to(mut self, year: i32) -> Self {
        self.year_to = Some(year);
        self
    }

    /// Sort by `order` in `direction`.
    pub fn order_by(mut self, order: BookOrder, direction: Direction) -> Self {
        self.order = order;
        self.direction = direction;
        self
    }

    /// At most `limit` books.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip the first `offset` books.
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = Some(offset);
        self
    }
}

/// Escapes `text` for a `LIKE ... ESCAPE '\'` pattern and wraps it in `%`, so that it
/// matches as a literal substring.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(contains_pattern("50%_a\\b"), r"%50\%\_a\\b%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
