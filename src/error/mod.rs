//! The crate's error type.

mod classify;

use diesel::result::DatabaseErrorKind;

use crate::models::{AuthorId, BookId, Version};

/// The result type of every fallible operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `bookshelf`.
///
/// Input the crate rejects before any SQL runs is a [`Validation`](Error::Validation);
/// constraint failures the database reports are mapped to [`Conflict`](Error::Conflict)
/// and [`NotFound`](Error::NotFound), so callers never have to parse database messages.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{Error, NewAuthor, Repository};
///
/// let repo = Repository::in_memory()?;
/// match repo.create_author(&NewAuthor::new("   ")) {
///     Err(Error::Validation { field, .. }) => assert_eq!(field, "name"),
///     other => panic!("expected a validation error, got {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command named a row that does not exist: the row, by its typed id.
    #[error("{0} not found")]
    NotFound(Missing),

    /// Input broke a rule of the data model; nothing was written.
    #[error("invalid {field}: {message}")]
    Validation {
        /// The field at fault, such as `"title"` or `"isbn"`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// One row of a bulk insert was rejected, so the whole batch was; nothing was written.
    /// The message names the row and why: `row 3: invalid title: must not be empty`.
    #[error("row {index}: {error}")]
    InvalidRow {
        /// The position of the offending row in the input slice (0-based).
        index: usize,
        /// Why that row was rejected: a [`Validation`](Error::Validation),
        /// [`NotFound`](Error::NotFound) (its author) or [`Conflict`](Error::Conflict).
        error: Box<Error>,
    },

    /// A write would have broken a uniqueness rule.
    #[error("{entity} with this {field} already exists")]
    Conflict {
        /// The kind of row that clashed.
        entity: Entity,
        /// What clashed: `"isbn"`, `"title"` (titles are unique per author), or `"id"`
        /// (a row inserted with an explicit id that is taken).
        field: &'static str,
        /// The database's own report of the clash (the constraint it names, its
        /// message), when the database reported it; `None` when the crate found the clash
        /// itself (the row of a bulk insert that clashed).
        #[source]
        source: Option<Box<diesel::result::Error>>,
    },

    /// A write that named the version it expected (the `_if` operations, such as
    /// [`Repository::update_book_if`](crate::Repository::update_book_if)) found the row
    /// at another version: somebody changed it since it was read. Nothing was written;
    /// read the row again and decide.
    #[error("{entity} {id} is at version {actual}, not {expected}: it changed since it was read")]
    Stale {
        /// The kind of row.
        entity: Entity,
        /// The row's id.
        id: i64,
        /// The version the write expected.
        expected: Version,
        /// The version the row is at.
        actual: Version,
    },

    /// A table's ids ran out: no id is left above the largest one in use
    /// (`i64::MAX`); nothing was written.
    #[error("no {0} ids left above the largest one")]
    IdsExhausted(Entity),

    /// The database accepted a write but stored no row (a trigger of another
    /// application that ignores the insert, say); nothing of the operation was written.
    #[error("the database stored no {0} row for this write")]
    NotWritten(Entity),

    /// No connection could be had from the pool within the connection timeout.
    #[error("no database connection available")]
    Pool(#[source] r2d2::Error),

    /// The database could not be opened.
    #[error("could not open the database")]
    Connection(#[source] diesel::ConnectionError),

    /// Applying, reverting or checking migrations failed.
    #[error(transparent)]
    Migration(#[from] MigrationError),

    /// The database reported an error the crate does not map to a variant above.
    #[error(transparent)]
    Database(diesel::result::Error),

    /// An earlier error ended the transaction this operation was to run in, so it did
    /// not run. SQLite rolls a whole transaction back by itself on a full disk and on
    /// some I/O, memory and interrupt errors; PostgreSQL refuses every statement of a
    /// transaction after an error until it is rolled back. Nothing of the transaction
    /// is committed, and [`Repository::transaction`](crate::Repository::transaction)
    /// returns the earlier error, whatever its closure returns.
    #[error("an earlier error ended the transaction; this operation did not run")]
    TransactionAborted,

    /// The connection to the server was lost while the transaction committed: it may
    /// have committed, or not, and only reading what it wrote tells which. It is not
    /// [`retryable`](Error::is_retryable): running a transaction that did commit again
    /// would apply it twice.
    #[error(
        "the connection was lost while the transaction committed: it may or may not \
         have committed"
    )]
    CommitUnknown(#[source] diesel::result::Error),

    /// A call on a [`Repository`](crate::Repository) from inside a transaction closure
    /// of the same repository, on the same thread, while every pooled connection is in
    /// use: it could only wait for a connection that this thread itself holds, so it
    /// fails at once instead of after the connection timeout. Inside the closure, call
    /// the operations on its [`Tx`](crate::Tx).
    #[error(
        "no connection is free, and this thread holds one in a transaction of the same \
         repository: call the transaction's Tx instead"
    )]
    NestedCall,

    /// The tokio runtime shut down before a call of the `AsyncRepository` (the `tokio`
    /// feature) could run on its blocking pool: the call did not run, and nothing of it
    /// was written.
    #[error("the async runtime shut down before the call could run; nothing was written")]
    RuntimeShutdown,

    /// The database URL names a backend this build does not support, or a form the crate
    /// refuses (one that would give each pooled connection a database of its own, say);
    /// nothing was opened or written.
    #[error("unsupported database url: {0}")]
    UnsupportedUrl(String),

    /// A [`Config`](crate::Config) setting is out of its range, or cannot apply to the
    /// database the URL names; nothing was opened or written.
    #[error("invalid setting {setting}: {message}")]
    Config {
        /// The setting at fault, named as its `Config` method: `"max_size"`,
        /// `"process_exclusive"`.
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// A kind of row: what a [`Error::Conflict`] clashed on, or what ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Entity {
    /// An author.
    Author,
    /// A book.
    Book,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::Author => "author",
            Entity::Book => "book",
        })
    }
}

/// The row an [`Error::NotFound`] looked for, by its typed id.
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{AuthorId, Error, Missing, Repository};
///
/// let repo = Repository::in_memory()?;
/// match repo.delete_author(AuthorId(7)) {
///     Err(Error::NotFound(Missing::Author(id))) => assert_eq!(id, AuthorId(7)),
///     other => panic!("expected a missing author, got {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Missing {
    /// An author.
    Author(AuthorId),
    /// A book.
    Book(BookId),
}

impl Missing {
    /// The kind of row.
    pub fn entity(&self) -> Entity {
        match self {
            Missing::Author(_) => Entity::Author,
            Missing::Book(_) => Entity::Book,
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Author(id) => write!(f, "author {}", id.0),
            Missing::Book(id) => write!(f, "book {}", id.0),
        }
    }
}

/// Why a migration step failed. Carried by [`Error::Migration`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The database holds a migration this build does not know: it was written by a newer
    /// version of the application. Nothing was changed.
    #[error(
        "database has migration {version} which this build does not know; refusing to open it"
    )]
    Unknown {
        /// The unknown migration's version.
        version: String,
    },
    /// The database has no migration applied but holds a table the migrations would
    /// create: it belongs to another application. Nothing was changed.
    #[error(
        "database has a table {table} that bookshelf's migrations did not create; refusing to open it"
    )]
    ForeignTable {
        /// The clashing table's name.
        table: String,
    },
    /// There is no applied migration to revert.
    #[error("no migration to revert")]
    NothingToRevert,
    /// The migration harness failed.
    #[error("migration failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// True for [`Error::NotFound`], and for an [`Error::InvalidRow`] that carries one.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::NotFound(_) => true,
            Error::InvalidRow { error, .. } => error.is_not_found(),
            _ => false,
        }
    }

    /// True for [`Error::Validation`], and for an [`Error::InvalidRow`] that carries one.
    pub fn is_validation(&self) -> bool {
        match self {
            Error::Validation { .. } => true,
            Error::InvalidRow { error, .. } => error.is_validation(),
            _ => false,
        }
    }

    /// True for [`Error::Conflict`], and for an [`Error::InvalidRow`] that carries one.
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::Conflict { .. } => true,
            Error::InvalidRow { error, .. } => error.is_conflict(),
            _ => false,
        }
    }

    /// True for [`Error::Stale`]: the row changed since it was read.
    pub fn is_stale(&self) -> bool {
        matches!(self, Error::Stale { .. })
    }

    /// True when the database gave up waiting for another connection's lock: SQLite's
    /// `database is locked` after the busy timeout; on PostgreSQL a lock timeout, a
    /// deadlock, or a serialization failure; on MySQL a lock wait timeout or a deadlock. The operation may succeed if retried.
    pub fn is_busy(&self) -> bool {
        if let Error::Database(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::SerializationFailure,
            _,
        )) = self
        {
            return true;
        }
        self.database_message().is_some_and(|message| {
            [
                "database is locked",
                "due to lock timeout",
                "deadlock detected",
                // MySQL's lock wait timeout (1205); its deadlock (1213) is diesel's
                // SerializationFailure.
                "Lock wait timeout exceeded",
            ]
            .iter()
            .any(|busy| message.contains(busy))
        })
    }

    /// True when running the whole transaction again may succeed, and running it again
    /// is safe because nothing of it was committed: [`is_busy`](Error::is_busy) (a lock
    /// timeout, a deadlock, a serialization failure), a connection lost before the
    /// commit, a write that met a read-only server (a primary demoted by a failover:
    /// the pool discards that connection), or no connection free in time (a server
    /// restarting or failing over). [`Repository::retry_transaction`] retries on
    /// these. An [`Error::CommitUnknown`] is not one of them.
    ///
    /// [`Repository::retry_transaction`]: crate::Repository::retry_transaction
    pub fn is_retryable(&self) -> bool {
        self.is_busy()
            || matches!(
                self,
                Error::Pool(_)
                    | Error::Database(diesel::result::Error::DatabaseError(
                        DatabaseErrorKind::ClosedConnection
                            | DatabaseErrorKind::UnableToSendCommand
                            | DatabaseErrorKind::ReadOnlyTransaction,
                        _
                    ))
            )
    }

    /// The error of a `COMMIT` that failed: a lost connection leaves the outcome
    /// unknown ([`Error::CommitUnknown`]); anything else is as it came.
    pub(crate) fn at_commit(self) -> Error {
        match self {
            Error::Database(
                error @ diesel::result::Error::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _,
                ),
            ) => Error::CommitUnknown(error),
            other => other,
        }
    }

    /// A write clashed with a row's id (the primary key).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn is_id_conflict(&self) -> bool {
        matches!(self, Error::Conflict { field: "id", .. })
    }

    /// True when the database could not write for lack of space: SQLite's `database or
    /// disk is full` (a full file system, or `PRAGMA max_page_count` reached), or
    /// PostgreSQL's `No space left on device`. Inside a transaction, such an error may
    /// have ended the transaction (see [`Error::TransactionAborted`]).
    pub fn is_disk_full(&self) -> bool {
        self.database_message().is_some_and(|message| {
            ["database or disk is full", "No space left on device"]
                .iter()
                .any(|full| message.contains(full))
        })
    }

    /// True when the database refused a write because it is read-only (an SQLite file
    /// opened read-only; on PostgreSQL a read-only transaction or a standby server).
    pub fn is_read_only(&self) -> bool {
        if let Error::Database(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::ReadOnlyTransaction,
            _,
        )) = self
        {
            return true;
        }
        self.database_message()
            .is_some_and(|message| message.contains("readonly database"))
    }

    /// The message of a database error (diesel reports SQLite's busy and read-only
    /// errors, and PostgreSQL's lock timeouts and deadlocks, with no kind of their own).
    fn database_message(&self) -> Option<&str> {
        match self {
            Error::Database(diesel::result::Error::DatabaseError(_, info)) => Some(info.message()),
            _ => None,
        }
    }

    /// `Ok` when a command aimed at one row affected it, else [`Error::NotFound`].
    pub(crate) fn unless_found(affected: usize, missing: Missing) -> Result<()> {
        if affected == 0 {
            Err(Error::NotFound(missing))
        } else {
            Ok(())
        }
    }

    /// Why a write conditioned on `expected` changed nothing: the row is gone
    /// ([`Error::NotFound`]) or is at `actual` ([`Error::Stale`]).
    pub(crate) fn not_at_version(row: Missing, expected: Version, actual: Option<Version>) -> Self {
        let (entity, id) = match row {
            Missing::Author(id) => (Entity::Author, id.0),
            Missing::Book(id) => (Entity::Book, id.0),
        };
        match actual {
            Some(actual) => Error::Stale {
                entity,
                id,
                expected,
                actual,
            },
            None => Error::NotFound(row),
        }
    }

    pub(crate) fn validation(field: &'static str, message: impl Into<String>) -> Self {
        Error::Validation {
            field,
            message: message.into(),
        }
    }

    /// The foreign key violation diesel reports when a book names a missing author.
    pub(crate) fn is_foreign_key_violation(&self) -> bool {
        matches!(
            self,
            Error::Database(diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation,
                _
            ))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_sync_and_static() {
        fn assert_traits<T: Send + Sync + 'static + std::error::Error>() {}
        assert_traits::<Error>();
        assert_traits::<MigrationError>();
    }

    #[test]
    fn an_invalid_row_says_which_row_and_why() {
        let error = Error::InvalidRow {
            index: 3,
            error: Box::new(Error::validation("title", "must not be empty")),
        };
        assert_eq!(error.to_string(), "row 3: invalid title: must not be empty");
        assert!(error.is_validation());
        assert!(!error.is_not_found());
        // The cause is part of the message, so it is not also a source.
        assert!(std::error::Error::source(&error).is_none());
    }
}
