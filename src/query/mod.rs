//! Query inputs and the queries they build, each written once beside its input:
//! [`BookFilter`] ([`filter`]) and its queries ([`filtered`]), with the words of a
//! full-text search ([`search`]); keyset [`Page`]s and the keyset query of every table
//! ([`page`]), and the eager load's books query ([`eager`]). Each query is
//! a function that returns a diesel query, so its SQL is checked with `debug_query` on
//! every backend.

pub(crate) mod eager;
pub(crate) mod filter;
pub(crate) mod filtered;
pub(crate) mod page;
pub(crate) mod search;

pub use filter::{BookFilter, BookOrder, Direction};
pub use page::Page;
