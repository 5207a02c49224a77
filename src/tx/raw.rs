//! The escape hatch: diesel queries of the application's own on the connection of a
//! [`Tx`].

use diesel::sqlite::SqliteConnection;

use crate::connection::AnyConn;
use crate::{Result, Tx};

/// The diesel connection a [`Tx`] runs on, handed to
/// [`Tx::with_connection`](crate::Tx::with_connection) and
/// [`Repository::with_connection`](crate::Repository::with_connection) for queries the
/// crate does not offer. Match on the backend the repository was opened on.
#[non_exhaustive]
pub enum RawConnection<'a> {
    /// An SQLite connection.
    Sqlite(&'a mut SqliteConnection),
    /// A PostgreSQL connection (with the `postgres` feature).
    #[cfg(feature = "postgres")]
    Postgres(&'a mut diesel::pg::PgConnection),
}

impl std::fmt::Debug for RawConnection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self {
            RawConnection::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            RawConnection::Postgres(_) => "postgres",
        };
        f.debug_tuple("RawConnection").field(&backend).finish()
    }
}

impl Tx<'_> {
    /// Runs `f` on the diesel connection of this handle: inside the transaction, when
    /// this handle is one, else in autocommit. It is the way to run a query the crate
    /// does not offer with the models and [`schema`](crate::schema) of this crate. `f`
    /// must not begin, commit or roll back a transaction of its own (use
    /// [`Tx::transaction`] for a savepoint). An error of `f` counts as an error of the
    /// transaction like any other: if it ended the transaction, the transaction
    /// returns it.
    ///
    /// ```
    /// # fn main() -> bookshelf::Result<()> {
    /// use bookshelf::schema::authors;
    /// use bookshelf::{NewAuthor, RawConnection, Repository};
    /// use diesel::prelude::*;
    ///
    /// let repo = Repository::in_memory()?;
    /// let longest = repo.transaction(|tx| {
    ///     tx.create_author(&NewAuthor::new("Ursula K. Le Guin"))?;
    ///     tx.create_author(&NewAuthor::new("Ann Leckie"))?;
    ///     // The longest name: a query the crate has no operation for.
    ///     tx.with_connection(|conn| {
    ///         let query = authors::table
    ///             .select(authors::name)
    ///             .order(diesel::dsl::sql::<diesel::sql_types::Integer>("length(name)").desc())
    ///             .limit(1);
    ///         match conn {
    ///             RawConnection::Sqlite(conn) => query.first::<String>(conn),
    ///             #[allow(unreachable_patterns)]
    ///             _ => unreachable!("an in-memory repository is SQLite"),
    ///         }
    ///     })
    /// })?;
    /// assert_eq!(longest, "Ursula K. Le Guin");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Database`](crate::Error::Database) with `f`'s error;
    /// [`Error::TransactionAborted`](crate::Error::TransactionAborted) when an earlier
    /// error ended the transaction.
    pub fn with_connection<T, F>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce(RawConnection<'_>) -> diesel::QueryResult<T>,
    {
        self.guarded(|tx| {
            let conn = match &mut tx.conn {
                AnyConn::Sqlite(conn) => RawConnection::Sqlite(conn),
                #[cfg(feature = "postgres")]
                AnyConn::Postgres(conn) => RawConnection::Postgres(conn),
            };
            Ok(f(conn)?)
        })
    }
}
