//! The book filter: what [`Repository::search_books`](crate::Repository::search_books)
//! looks for, and in which order. Its queries are in [`filtered`](super::filtered).

use chrono::{DateTime, Utc};

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
    /// By the time of the last update: with [`BookFilter::updated_since`], what a sync
    /// client asks for ("what changed since I last looked, oldest first").
    UpdatedAt,
    /// Best match first, for a full-text search ([`BookFilter::matching`]): bm25 on
    /// SQLite, `ts_rank` on PostgreSQL, ties by id. `Descending` puts the best last.
    /// Without a search, the same as [`BookOrder::Id`].
    Relevance,
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
    /// Titles holding every word of this text, in any order, ignoring case and accents
    /// (full-text search; see [`BookFilter::matching`]).
    pub matching: Option<String>,
    /// Titles containing this text, ignoring case; `%`, `_` and `\` match literally.
    pub title_contains: Option<String>,
    /// Books of this author.
    pub author_id: Option<crate::models::AuthorId>,
    /// Published in this year or later.
    pub year_from: Option<i32>,
    /// Published in this year or earlier.
    pub year_to: Option<i32>,
    /// Updated (or created) at this time or later. Times before the year 1 match every
    /// book, times after the year 9999 none.
    pub updated_since: Option<DateTime<Utc>>,
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

    /// Full-text search: only titles holding every word of `text`, ignoring case and
    /// accents for all of Unicode ("ecole" finds "École des femmes", "DUNE" finds
    /// "Dune"), best match first ([`BookOrder::Relevance`]; a later
    /// [`order_by`](BookFilter::order_by) replaces it). The other criteria, limit and
    /// offset combine with it.
    ///
    /// `text` is words, never query syntax: quotes, `*`, `^`, `:`, `-`, parentheses,
    /// `AND`/`OR`/`NOT`/`NEAR` and NUL neither fail nor change the meaning. A word is a
    /// whole word of a title (no prefixes: "dun" does not find "Dune"); a piece of text
    /// without letters or digits is no word, and a text without words finds nothing, as
    /// does one of more than 1,000 words.
    ///
    /// Each backend's full-text engine decides what a word is: on SQLite, FTS5's
    /// `unicode61` tokenizer with diacritics removed ("straße" finds "Straße",
    /// "strasse" does not); on PostgreSQL, the `simple` parser with `unaccent`, which
    /// also folds "ß" to "ss" (so "strasse" finds "Straße"). Both use an index: FTS5,
    /// and a GIN index on PostgreSQL. [`title_contains`](BookFilter::title_contains)
    /// is the other search: any substring, ASCII case only, no index.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{BookFilter, NewAuthor, NewBook, Repository};
    ///
    /// let repo = Repository::in_memory()?;
    /// let molière = repo.create_author(&NewAuthor::new("Molière"))?;
    /// repo.create_book(&NewBook::new(molière.id, "L'École des femmes"))?;
    /// repo.create_book(&NewBook::new(molière.id, "L'École des maris"))?;
    /// repo.create_book(&NewBook::new(molière.id, "Le Misanthrope"))?;
    ///
    /// let found = repo.search_books(&BookFilter::new().matching("ecole FEMMES"))?;
    /// let titles: Vec<_> = found.into_iter().map(|book| book.title).collect();
    /// assert_eq!(titles, ["L'École des femmes"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn matching(mut self, text: impl Into<String>) -> Self {
        self.matching = Some(text.into());
        self.order = BookOrder::Relevance;
        self.direction = Direction::Ascending;
        self
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

    /// Only books updated (or created) at `time` or later, by the database's clock: a
    /// sync client passes the `updated_at` of the newest book it has seen. The
    /// `(updated_at)` index serves it, with [`BookOrder::UpdatedAt`].
    ///
    /// Times are those of each row's last write as the database stamps it (the
    /// statement's time), not of its commit: a transaction that commits after a sync
    /// read can hold rows stamped before it. A sync client that must see every change
    /// reads again from a little before its last `updated_at` (the longest transaction's
    /// length) and drops what it has already seen.
    pub fn updated_since(mut self, time: DateTime<Utc>) -> Self {
        self.updated_since = Some(time);
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
