//! [`RawConnection`]: the escape hatch, a repository's diesel connection for queries of
//! the application's own.

use diesel::sqlite::SqliteConnection;

/// The diesel connection a [`Tx`](crate::Tx) runs on, handed to
/// [`Tx::with_connection`](crate::tx::Tx::with_connection) and
/// [`Repository::with_connection`](crate::repository::Repository::with_connection) for queries the
/// crate does not offer. Match on the backend the repository was opened on.
#[non_exhaustive]
pub enum RawConnection<'a> {
    /// An SQLite connection.
    Sqlite(&'a mut SqliteConnection),
    /// A PostgreSQL connection (with the `postgres` feature).
    #[cfg(feature = "postgres")]
    Postgres(&'a mut diesel::pg::PgConnection),
    /// A MySQL or MariaDB connection (with the `mysql` feature).
    #[cfg(feature = "mysql")]
    Mysql(&'a mut diesel::mysql::MysqlConnection),
}

impl std::fmt::Debug for RawConnection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self {
            RawConnection::Sqlite(_) => "sqlite",
            #[cfg(feature = "postgres")]
            RawConnection::Postgres(_) => "postgres",
            #[cfg(feature = "mysql")]
            RawConnection::Mysql(_) => "mysql",
        };
        f.debug_tuple("RawConnection").field(&backend).finish()
    }
}
