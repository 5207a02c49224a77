//! The data model: typed ids, rows as read, and inputs as written.
//!
//! Rows read back from the database ([`Author`], [`Book`]) carry every column. Inputs
//! ([`NewAuthor`], [`NewBook`], [`BookChanges`]) hold what the caller gave, unvalidated:
//! the repository checks and normalizes them before any SQL runs, then inserts the
//! validated, normalized form.

mod author;
mod book;
mod ids;

pub use author::{Author, AuthorWithBooks, NewAuthor};
pub use book::{Book, BookChanges, NewBook};
pub use ids::{AuthorId, BookId};

pub(crate) use author::AuthorRow;
pub(crate) use book::{BookChangeset, BookRow};
