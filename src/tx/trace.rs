//! Every operation of a [`Tx`] (and so of a [`Repository`](crate::Repository)) runs in a
//! `tracing` span named after it, with OpenTelemetry's database fields, so that a
//! subscriber that exports spans shows each request's database work.
//!
//! The span is at INFO level, target `bookshelf`. Its fields: `db.system` (`sqlite` or
//! `postgresql`), `db.operation` (the operation's name, which is also the span's),
//! `db.response.returned_rows` once it succeeded, and `otel.status_code = "ERROR"` with
//! `error.message` when it failed. The statements themselves are the SQL echo's events
//! ([`Config::log_queries`](crate::Config::log_queries)), inside the span: the statement
//! text is there only when asked for. Operations inside a
//! [`transaction`](crate::Repository::transaction) are children of its span.

use tracing::Span;

use super::Tx;
use crate::error::Result;
use crate::models::{Author, Book};
use crate::transaction::Access;

/// The span of the operation `$name`, with the fields [`Tx::traced`] fills in.
macro_rules! span {
    ($name:literal) => {
        ::tracing::info_span!(
            target: "bookshelf",
            $name,
            db.system = ::tracing::field::Empty,
            db.operation = $name,
            db.response.returned_rows = ::tracing::field::Empty,
            otel.status_code = ::tracing::field::Empty,
            error.message = ::tracing::field::Empty,
        )
    };
}
pub(crate) use span;

/// How many rows an operation's result holds.
pub(crate) trait Returned {
    /// The rows of this result.
    fn rows(&self) -> u64;
}

impl<T> Returned for Vec<T> {
    fn rows(&self) -> u64 {
        u64::try_from(self.len()).unwrap_or(u64::MAX)
    }
}

impl<T> Returned for Option<T> {
    fn rows(&self) -> u64 {
        u64::from(self.is_some())
    }
}

impl Returned for Author {
    fn rows(&self) -> u64 {
        1
    }
}

impl Returned for Book {
    fn rows(&self) -> u64 {
        1
    }
}

/// A write that returns nothing (a delete).
impl Returned for () {
    fn rows(&self) -> u64 {
        0
    }
}

/// A count: one row.
impl Returned for i64 {
    fn rows(&self) -> u64 {
        1
    }
}

/// The rows a scan visited.
impl Returned for u64 {
    fn rows(&self) -> u64 {
        *self
    }
}

impl Tx<'_> {
    /// Runs the operation `op`, which writes, in `span`, recording the rows it
    /// returned.
    pub(super) fn operation<T: Returned>(
        &mut self,
        span: Span,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.traced(span, Some(T::rows), Some(Access::Write), op)
    }

    /// [`Tx::operation`] for an operation that only reads: where it needs a transaction
    /// of its own (behind a transaction pooler), that is a read transaction.
    pub(super) fn read_operation<T: Returned>(
        &mut self,
        span: Span,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.traced(span, Some(T::rows), Some(Access::Read), op)
    }

    /// [`Tx::operation`] for a batch write, which sends nothing at all when `empty`
    /// (not even the transaction it would need behind a transaction pooler).
    pub(super) fn batch_operation<T: Returned>(
        &mut self,
        span: Span,
        empty: bool,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.traced(span, Some(T::rows), (!empty).then_some(Access::Write), op)
    }

    /// Runs `op` in `span` (see [`Tx::guarded`]; `access` is what a transaction of its
    /// own would be for, `None` when `op` sends nothing): the span gets the backend,
    /// and the outcome (the rows by `rows`, or the error) once `op` has returned.
    pub(super) fn traced<T>(
        &mut self,
        span: Span,
        rows: Option<fn(&T) -> u64>,
        access: Option<Access>,
        op: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        if span.is_disabled() {
            return self.guarded(access, op);
        }
        span.record("db.system", self.conn.db_system());
        let result = span.in_scope(|| self.guarded(access, op));
        record_outcome(&span, &result, rows);
        result
    }
}

/// Records on `span` what an operation returned: the rows by `rows`, or the error.
pub(crate) fn record_outcome<T>(span: &Span, result: &Result<T>, rows: Option<fn(&T) -> u64>) {
    if span.is_disabled() {
        return;
    }
    match (result, rows) {
        (Ok(value), Some(rows)) => {
            span.record("db.response.returned_rows", rows(value));
        }
        (Ok(_), None) => {}
        (Err(error), _) => {
            span.record("otel.status_code", "ERROR");
            span.record("error.message", tracing::field::display(error));
        }
    }
}
