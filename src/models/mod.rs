//! The data model: typed ids, rows as read, and inputs as written.
//!
//! Rows read back from the database ([`Author`], [`Book`]) carry every column, with the
//! [`Version`] and the times the database keeps for each row. Inputs
//! ([`NewAuthor`], [`NewBook`], [`BookChanges`]) hold what the caller gave, unvalidated:
//! the repository checks and normalizes them before any SQL runs, then inserts the
//! validated, normalized form.

mod author;
mod book;
mod ids;
mod time;

pub use author::{Author, AuthorWithBooks, NewAuthor};
pub use book::{Book, BookChanges, NewBook};
pub use ids::{AuthorId, BookId, Version};

pub(crate) use author::AuthorRow;
pub(crate) use book::{BookChangeset, BookRow};
pub(crate) use time::DbTime;
