//! Shared fixture: a repository on a database of its own (a temporary SQLite file, or a
//! temporary database on the PostgreSQL or MySQL test server), tests defined once for every
//! backend ([`backend_tests!`]), and seed data in the workload's naming
//! (`Author 000001`, `Title 000001-01`).

use bookshelf::{Author, Config, NewAuthor, NewBook, Repository};
use tempfile::TempDir;

/// Any error, for tests that mix the fixture's I/O errors with [`bookshelf::Error`].
pub type BoxError = Box<dyn std::error::Error>;

/// What every test returns.
#[allow(dead_code)]
pub type TestResult = Result<(), BoxError>;

/// The database file's name inside the temporary directory.
const DB_FILE: &str = "bookshelf.db";

/// The variable naming the PostgreSQL server the tests may use; without it, only the
/// SQLite half of each per-backend test runs.
#[allow(dead_code)]
pub const POSTGRES_URL_VAR: &str = "BOOKSHELF_TEST_POSTGRES_URL";

/// The variable naming the MySQL or MariaDB server the tests may use; without it, the
/// MySQL half of each per-backend test says it is skipped.
#[allow(dead_code)]
pub const MYSQL_URL_VAR: &str = "BOOKSHELF_TEST_MYSQL_URL";

/// Says that a test, or part of one, did not run and why, where a plain `cargo test`
/// shows it: libtest captures what `eprintln!` prints and shows it only for failing
/// tests, so a skip would look like a pass. This writes to stderr itself.
#[allow(dead_code)]
pub fn say_skipped(message: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
}

/// The database a per-backend test runs on.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the server named by [`POSTGRES_URL_VAR`].
    Postgres,
    /// A fresh database on the server named by [`MYSQL_URL_VAR`].
    Mysql,
}

/// Where a [`TestDb`] keeps its data; removed on drop (held for that alone).
#[allow(dead_code)]
#[derive(Debug)]
enum Place {
    Dir(TempDir),
    #[cfg(feature = "postgres")]
    Database(postgres::Database),
    #[cfg(feature = "mysql")]
    MysqlDatabase(mysql::Database),
}

/// A [`Repository`] on a database of its own: a fresh SQLite file in a temporary
/// directory, or a fresh database on the PostgreSQL server. Either is removed when the
/// `TestDb` is dropped, so tests run in parallel and leave nothing behind.
#[allow(dead_code)]
#[derive(Debug)]
pub struct TestDb {
    /// The repository; dropped before the place (fields drop in order).
    pub repo: Repository,
    /// The backend it runs on.
    pub backend: Backend,
    url: String,
    place: Place,
}

#[allow(dead_code)]
impl TestDb {
    /// Opens (and migrates) a new SQLite database file.
    pub fn new() -> Result<Self, BoxError> {
        Self::open(Backend::Sqlite)
    }

    /// Opens (and migrates) a new database on `backend`, with the default [`Config`].
    pub fn open(backend: Backend) -> Result<Self, BoxError> {
        Self::open_with(backend, |config| config)
    }

    /// Opens a new database on `backend` with the [`Config`] that `configure` makes of
    /// the default one.
    pub fn open_with(
        backend: Backend,
        configure: impl FnOnce(Config) -> Config,
    ) -> Result<Self, BoxError> {
        let (url, place) = Self::place(backend)?;
        let repo = configure(Config::new(&url)).open()?;
        Ok(Self {
            repo,
            backend,
            url,
            place,
        })
    }

    /// Opens (and migrates) a new PostgreSQL database whose sessions start with
    /// `settings` (`("TimeZone", "Asia/Tokyo")`), set on the database.
    #[cfg(feature = "postgres")]
    pub fn open_postgres_with_settings(settings: &[(&str, &str)]) -> Result<Self, BoxError> {
        let database = postgres::Database::create_with(settings)?;
        let url = database.url().to_owned();
        let repo = Config::new(&url).open()?;
        Ok(Self {
            repo,
            backend: Backend::Postgres,
            url,
            place: Place::Database(database),
        })
    }

    /// A new, empty database on `backend` (nothing opened on it yet) and its URL.
    fn place(backend: Backend) -> Result<(String, Place), BoxError> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join(DB_FILE);
                let url = path
                    .to_str()
                    .ok_or("temporary path is not UTF-8")?
                    .to_owned();
                Ok((url, Place::Dir(dir)))
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let database = postgres::Database::create()?;
                Ok((database.url().to_owned(), Place::Database(database)))
            }
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres => Err("PostgreSQL tests need the `postgres` feature".into()),
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                let database = mysql::Database::create()?;
                Ok((database.url().to_owned(), Place::MysqlDatabase(database)))
            }
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => Err("MySQL tests need the `mysql` feature".into()),
        }
    }

    /// The URL of this database: [`Repository::open`] on it opens the same data.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A [`Config`] for this database, to open a second repository on it.
    pub fn config(&self) -> Config {
        Config::new(&self.url)
    }

    /// The path of the database file (SQLite only).
    pub fn path(&self) -> std::path::PathBuf {
        match &self.place {
            Place::Dir(dir) => dir.path().join(DB_FILE),
            #[cfg(feature = "postgres")]
            Place::Database(_) => std::path::PathBuf::new(),
            #[cfg(feature = "mysql")]
            Place::MysqlDatabase(_) => std::path::PathBuf::new(),
        }
    }

    /// Runs `sql` (one or more statements) on a connection of its own, outside the
    /// repository: for writing what the crate's API refuses to write.
    pub fn execute_raw(&self, sql: &str) -> Result<(), BoxError> {
        use diesel::connection::SimpleConnection;
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.raw_sqlite()?;
                conn.batch_execute(sql)?;
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let mut conn = postgres::connect(&self.url)?;
                conn.batch_execute(sql)?;
            }
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres => return Err("PostgreSQL tests need the `postgres` feature".into()),
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                let mut conn = mysql::connect(&self.url)?;
                conn.batch_execute(sql)?;
            }
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => return Err("MySQL tests need the `mysql` feature".into()),
        }
        Ok(())
    }

    /// The single integer `sql` selects, read on a connection of its own. Name the
    /// column `n`: `SELECT count(*) AS n FROM books`.
    pub fn query_i64(&self, sql: &str) -> Result<i64, BoxError> {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let row: Row = match self.backend {
            Backend::Sqlite => diesel::sql_query(sql).get_result(&mut self.raw_sqlite()?)?,
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let mut conn = postgres::connect(&self.url)?;
                diesel::sql_query(sql).get_result(&mut conn)?
            }
            #[cfg(not(feature = "postgres"))]
            Backend::Postgres => return Err("PostgreSQL tests need the `postgres` feature".into()),
            #[cfg(feature = "mysql")]
            Backend::Mysql => {
                let mut conn = mysql::connect(&self.url)?;
                diesel::sql_query(sql).get_result(&mut conn)?
            }
            #[cfg(not(feature = "mysql"))]
            Backend::Mysql => return Err("MySQL tests need the `mysql` feature".into()),
        };
        Ok(row.n)
    }

    fn raw_sqlite(&self) -> Result<diesel::SqliteConnection, BoxError> {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut conn = diesel::SqliteConnection::establish(&self.url)?;
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON")?;
        Ok(conn)
    }
}

/// The PostgreSQL server of the tests: one database per test.
#[cfg(feature = "postgres")]
pub mod postgres {
    use super::{BoxError, POSTGRES_URL_VAR};
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    /// The server's URL, when the tests are to use one. A URL that is set but empty
    /// is an error rather than a skip, so a misconfigured CI cannot pass silently.
    pub fn server_url() -> Result<Option<String>, BoxError> {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(url) if url.trim().is_empty() => Err(format!("{POSTGRES_URL_VAR} is empty").into()),
            Ok(url) => Ok(Some(url)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The variable naming a PgBouncer in transaction pool mode in front of the test
    /// server, for the tests of the crate's transaction-pooler mode.
    pub const PGBOUNCER_URL_VAR: &str = "BOOKSHELF_TEST_PGBOUNCER_URL";

    /// The PgBouncer's URL, when the tests are to use one (an empty one is an error).
    #[allow(dead_code)]
    pub fn pgbouncer_url() -> Result<Option<String>, BoxError> {
        match std::env::var(PGBOUNCER_URL_VAR) {
            Ok(url) if url.trim().is_empty() => Err(format!("{PGBOUNCER_URL_VAR} is empty").into()),
            Ok(url) => Ok(Some(libpq_url(&url))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// True when the server URL says it reaches PostgreSQL through a pooler in
    /// transaction mode (`pooler=transaction`, read by the crate).
    #[allow(dead_code)]
    pub fn pooled() -> bool {
        server_url()
            .ok()
            .flatten()
            .is_some_and(|url| url.contains("pooler=transaction"))
    }

    /// `url` without the crate's own `pooler` parameter, which libpq would refuse.
    pub fn libpq_url(url: &str) -> String {
        let Some((base, query)) = url.split_once('?') else {
            return url.to_owned();
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.starts_with("pooler="))
            .collect();
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    }

    /// The host and port the PostgreSQL server behind `url` answers on, as the server
    /// itself reports them (past any pooler in between); `None` over a Unix socket.
    #[allow(dead_code)]
    pub fn server_addr(url: &str) -> Result<Option<(String, u16)>, BoxError> {
        use diesel::sql_types::{Integer, Nullable, Text};
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Addr {
            #[diesel(sql_type = Nullable<Text>)]
            host: Option<String>,
            #[diesel(sql_type = Nullable<Integer>)]
            port: Option<i32>,
        }
        let addr: Addr = diesel::sql_query(
            "SELECT host(inet_server_addr()) AS host, inet_server_port() AS port",
        )
        .get_result(&mut connect(url)?)?;
        Ok(match (addr.host, addr.port) {
            (Some(host), Some(port)) => Some((host, u16::try_from(port)?)),
            _ => None,
        })
    }

    /// `url` (libpq's part of it) to the PostgreSQL server itself, at the address the
    /// server reports, past any pooler in between: for tests that end server sessions
    /// or look at one session's state, which a pooler hides or shares out.
    #[allow(dead_code)]
    pub fn direct_url(url: &str) -> Result<String, BoxError> {
        let address = server_addr(url)?;
        let url = libpq_url(url);
        Ok(match address {
            Some((host, port)) => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}host={host}&port={port}")
            }
            None => url, // a Unix socket: no pooler in between
        })
    }

    /// A raw diesel connection to `url`, outside the crate: libpq's part of the URL,
    /// and no prepared statement cache (a pooler in transaction mode hands each
    /// transaction any server session, where a statement prepared by name on another
    /// is missing, or its name taken).
    pub fn connect(url: &str) -> Result<diesel::PgConnection, BoxError> {
        let mut conn = diesel::PgConnection::establish(&libpq_url(url))?;
        conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        Ok(conn)
    }

    /// A database of its own on the server, dropped (with everything in it) on drop.
    ///
    /// A database rather than a schema reached through `options=-csearch_path=..`:
    /// a pooler in transaction mode (PgBouncer) refuses or ignores the `options`
    /// startup parameter and hands each transaction any server session of the pool,
    /// so a search path set per connection does not hold, while the database name is
    /// part of what the pooler pools by. Created from `template0` (empty, and never
    /// connected to, so `CREATE DATABASE` never meets "source database is being
    /// accessed by other users"); migration 3 creates `unaccent` in its `public`.
    #[derive(Debug)]
    pub struct Database {
        server: String,
        name: String,
        url: String,
    }

    impl Database {
        /// Creates a new database, and a URL whose connections use it.
        pub fn create() -> Result<Self, BoxError> {
            Self::create_with(&[])
        }

        /// Creates a new database whose sessions start with `settings` (`ALTER DATABASE
        /// .. SET`, before anything connects to it: the settings a client cannot send
        /// through a pooler, which takes the pool's parameters from its first session).
        pub fn create_with(settings: &[(&str, &str)]) -> Result<Self, BoxError> {
            use std::sync::atomic::{AtomicU64, Ordering};
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let server = server_url()?.ok_or_else(|| format!("{POSTGRES_URL_VAR} is not set"))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .subsec_nanos();
            let name = format!(
                "bookshelf_test_{}_{}_{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let url = with_database(&server, &name)?;
            let mut conn = connect(&server)?;
            conn.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))?;
            let database = Self { server, name, url };
            for (setting, value) in settings {
                conn.batch_execute(&format!(
                    "ALTER DATABASE {} SET {setting} = '{value}'",
                    database.name
                ))?;
            }
            Ok(database)
        }

        /// The database's name.
        #[allow(dead_code)]
        pub fn name(&self) -> &str {
            &self.name
        }

        /// The URL of a connection to this database.
        pub fn url(&self) -> &str {
            &self.url
        }
    }

    /// `url` with its database (the path) replaced by `name`; the query is kept.
    pub fn with_database(url: &str, name: &str) -> Result<String, BoxError> {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (url, None),
        };
        if query.is_some_and(|query| query.split('&').any(|pair| pair.starts_with("dbname="))) {
            return Err(format!("{POSTGRES_URL_VAR} names its database with dbname=").into());
        }
        let authority_at = base.find("://").ok_or("not a postgres:// URL")? + 3;
        let authority = match base[authority_at..].find('/') {
            Some(slash) => &base[..authority_at + slash],
            None => base,
        };
        Ok(match query {
            Some(query) => format!("{authority}/{name}?{query}"),
            None => format!("{authority}/{name}"),
        })
    }

    impl Drop for Database {
        fn drop(&mut self) {
            // FORCE ends the sessions still on it: a pooler keeps idle server
            // connections to the database after every client has gone.
            let dropped = connect(&self.server).and_then(|mut conn| {
                conn.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
                    .map_err(BoxError::from)
            });
            if let Err(error) = dropped {
                eprintln!("could not drop test database {}: {error}", self.name);
            }
        }
    }
}

/// The MySQL or MariaDB server of the tests: one database per test.
#[cfg(feature = "mysql")]
pub mod mysql {
    use super::{BoxError, MYSQL_URL_VAR};
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    /// The server's URL, when the tests are to use one (an empty one is an error, so a
    /// misconfigured CI cannot pass silently).
    pub fn server_url() -> Result<Option<String>, BoxError> {
        match std::env::var(MYSQL_URL_VAR) {
            Ok(url) if url.trim().is_empty() => Err(format!("{MYSQL_URL_VAR} is empty").into()),
            Ok(url) => Ok(Some(url)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// A raw diesel connection to `url` (`mariadb://` read as `mysql://`), outside the
    /// crate.
    pub fn connect(url: &str) -> Result<diesel::MysqlConnection, BoxError> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        Ok(diesel::MysqlConnection::establish(&url)?)
    }

    /// A database of its own on the server (`CREATE DATABASE bookshelf_test_…`),
    /// dropped with everything in it on drop.
    #[derive(Debug)]
    pub struct Database {
        server: String,
        name: String,
        url: String,
    }

    impl Database {
        /// Creates a new database, and a URL whose connections use it.
        pub fn create() -> Result<Self, BoxError> {
            use std::sync::atomic::{AtomicU64, Ordering};
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let server = server_url()?.ok_or_else(|| format!("{MYSQL_URL_VAR} is not set"))?;
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .subsec_nanos();
            let name = format!(
                "bookshelf_test_{}_{}_{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let url = super::postgres_like_with_database(&server, &name)?;
            connect(&server)?.batch_execute(&format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"
            ))?;
            Ok(Self { server, name, url })
        }

        /// The URL of a connection to this database.
        pub fn url(&self) -> &str {
            &self.url
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let dropped = connect(&self.server).and_then(|mut conn| {
                conn.batch_execute(&format!("DROP DATABASE IF EXISTS {}", self.name))
                    .map_err(BoxError::from)
            });
            if let Err(error) = dropped {
                eprintln!("could not drop test database {}: {error}", self.name);
            }
        }
    }
}

/// `url` with its database (the path) replaced by `name`; the query is kept.
#[allow(dead_code)]
pub fn postgres_like_with_database(url: &str, name: &str) -> Result<String, BoxError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_at = base.find("://").ok_or("not a server URL")? + 3;
    let authority = match base[authority_at..].find('/') {
        Some(slash) => &base[..authority_at + slash],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{authority}/{name}?{query}"),
        None => format!("{authority}/{name}"),
    })
}

/// Defines each test once and runs it on every backend: `mod name { fn sqlite; fn
/// postgres; fn mysql }`. The PostgreSQL half needs the `postgres` feature and runs when
/// [`POSTGRES_URL_VAR`] is set, the MySQL half the `mysql` feature and
/// [`MYSQL_URL_VAR`]; without its variable, a half says so on stderr and passes.
///
/// ```ignore
/// backend_tests! {
///     /// What the test shows.
///     fn creates_an_author(backend: Backend) -> TestResult {
///         let db = TestDb::open(backend)?;
///         ...
///         Ok(())
///     }
/// }
/// ```
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($(#[$meta:meta])* fn $name:ident($backend:ident: Backend) -> TestResult $body:block)*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($backend: $crate::common::Backend) -> $crate::common::TestResult $body

            #[test]
            fn sqlite() -> $crate::common::TestResult {
                run($crate::common::Backend::Sqlite)
            }

            #[cfg(feature = "postgres")]
            #[test]
            fn postgres() -> $crate::common::TestResult {
                if $crate::common::postgres::server_url()?.is_none() {
                    $crate::common::say_skipped(format_args!(
                        "{} not set: the PostgreSQL run of {} is skipped",
                        $crate::common::POSTGRES_URL_VAR,
                        stringify!($name)
                    ));
                    return Ok(());
                }
                run($crate::common::Backend::Postgres)
            }

            #[cfg(feature = "mysql")]
            #[test]
            fn mysql() -> $crate::common::TestResult {
                if $crate::common::mysql::server_url()?.is_none() {
                    $crate::common::say_skipped(format_args!(
                        "{} not set: the MySQL run of {} is skipped",
                        $crate::common::MYSQL_URL_VAR,
                        stringify!($name)
                    ));
                    return Ok(());
                }
                run($crate::common::Backend::Mysql)
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use backend_tests;

/// A fixed time, to the millisecond (both backends store it exactly), for rows that
/// tests write with their own timestamps.
#[allow(dead_code)]
pub fn a_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(1_764_676_800_123).unwrap_or_default()
}

/// The name of the `i`-th seeded author (1-based).
#[allow(dead_code)]
pub fn author_name(i: usize) -> String {
    format!("Author {i:06}")
}

/// The title of the `j`-th seeded book of the `i`-th seeded author (both 1-based).
#[allow(dead_code)]
pub fn book_title(i: usize, j: usize) -> String {
    format!("Title {i:06}-{j:02}")
}

/// Creates `authors` authors with `books_per_author` books each, in bulk, and returns
/// the authors in creation order.
#[allow(dead_code)]
pub fn seed(
    repo: &Repository,
    authors: usize,
    books_per_author: usize,
) -> bookshelf::Result<Vec<Author>> {
    let new_authors: Vec<NewAuthor> = (1..=authors)
        .map(|i| NewAuthor::new(author_name(i)))
        .collect();
    let created = repo.create_authors(&new_authors)?;
    let new_books: Vec<NewBook> = created
        .iter()
        .enumerate()
        .flat_map(|(index, author)| {
            (1..=books_per_author).map(move |j| NewBook::new(author.id, book_title(index + 1, j)))
        })
        .collect();
    repo.create_books(&new_books)?;
    Ok(created)
}

/// Returns early from a test with an error unless `$result` is an `Err` matching the
/// pattern (and guard).
#[allow(unused_macros)]
macro_rules! expect_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => {
                let expected = stringify!($pattern $(if $guard)?);
                return Err(format!("expected Err({expected}), got {other:?}").into());
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use expect_err;

/// `PRAGMA integrity_check` of the SQLite database at `url`, on a connection of its own:
/// `"ok"` for a sound file.
#[allow(dead_code)]
pub fn integrity_check(url: &str) -> Result<String, BoxError> {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let mut conn = diesel::SqliteConnection::establish(url)?;
    let check: Check = diesel::sql_query("PRAGMA integrity_check").get_result(&mut conn)?;
    Ok(check.integrity_check)
}
