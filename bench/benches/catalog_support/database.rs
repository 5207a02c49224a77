//! The database one stack runs on: a file in a fresh temporary directory (SQLite), a
//! fresh schema of its own on the PostgreSQL server named by
//! `BOOKSHELF_TEST_POSTGRES_URL` (with the `postgres` feature), or a fresh database of
//! its own on the MySQL or MariaDB server named by `BOOKSHELF_TEST_MYSQL_URL` (with the
//! `mysql` feature). Each is gone after the run.

use std::path::{Path, PathBuf};

use crate::workload::BenchResult;

/// The variable naming the PostgreSQL server the `-pg` stacks run on.
pub const POSTGRES_URL_VAR: &str = "BOOKSHELF_TEST_POSTGRES_URL";

/// The variable naming the MySQL or MariaDB server the `-mysql` stacks run on.
pub const MYSQL_URL_VAR: &str = "BOOKSHELF_TEST_MYSQL_URL";

/// True for the stacks that run on PostgreSQL.
pub fn is_postgres_stack(name: &str) -> bool {
    name.ends_with("-pg") || name == "postgres-raw"
}

/// True for the stacks that run on MySQL or MariaDB.
pub fn is_mysql_stack(name: &str) -> bool {
    name.ends_with("-mysql")
}

/// True for the PostgreSQL stacks of the `pg-peers` feature.
pub fn is_peer_stack(name: &str) -> bool {
    matches!(name, "postgres-raw" | "sqlx-pg")
}

/// The URL in the environment variable `var`, or why the stacks of `feature` cannot run
/// on it in this build and environment (`built`: whether the feature is on).
fn server_url(var: &str, feature: &str, built: bool) -> Result<String, String> {
    let url = std::env::var(var).ok().filter(|url| !url.trim().is_empty());
    if !built {
        return Err(match url {
            Some(_) => {
                format!("{var} is set, but the bench was built without `--features {feature}`")
            }
            None => format!("built without `--features {feature}` (and {var} is not set)"),
        });
    }
    url.ok_or_else(|| format!("{var} is not set"))
}

/// The server URL of the PostgreSQL stacks, or why they cannot run in this build and
/// environment.
pub fn postgres_base_url() -> Result<String, String> {
    server_url(POSTGRES_URL_VAR, "postgres", cfg!(feature = "postgres"))
}

/// The server URL of the MySQL stacks, or why they cannot run in this build and
/// environment.
pub fn mysql_base_url() -> Result<String, String> {
    server_url(MYSQL_URL_VAR, "mysql", cfg!(feature = "mysql"))
}

/// Why the peer stack `name` cannot run in this build, if it cannot.
pub fn peer_unavailable(name: &str) -> Option<String> {
    (is_peer_stack(name) && cfg!(not(feature = "pg-peers")))
        .then(|| format!("stack {name} needs `--features pg-peers`"))
}

/// Why the stack `name` cannot run in this build and environment, if it cannot: its
/// server's URL or feature is missing, or (a peer stack) its own feature.
pub fn stack_unavailable(name: &str) -> Option<String> {
    let server = if is_postgres_stack(name) {
        postgres_base_url().err()
    } else if is_mysql_stack(name) {
        mysql_base_url().err()
    } else {
        None
    };
    server
        .map(|why| format!("stack {name} cannot run: {why}"))
        .or_else(|| peer_unavailable(name))
}

/// The name of the next schema or database this process creates on a server:
/// `bench_<pid>_<n>`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub fn scratch_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    /// Schemas and databases created by this process so far.
    static CREATED: AtomicU32 = AtomicU32::new(0);
    let n = CREATED.fetch_add(1, Ordering::Relaxed) + 1;
    format!("bench_{}_{n}", std::process::id())
}

/// Whether a connection is encrypted, as every server stack prints it: `ssl`, and the
/// protocol version the server names.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub fn describe_tls(ssl: bool, version: Option<&str>) -> String {
    if ssl {
        format!("TLS ({})", version.unwrap_or("version unknown"))
    } else {
        "plaintext (no TLS)".to_owned()
    }
}

/// One stack's database, created empty.
pub enum Database {
    Sqlite {
        dir: tempfile::TempDir,
        path: PathBuf,
        url: String,
    },
    #[cfg(feature = "postgres")]
    Postgres(pg::Scratch),
    #[cfg(feature = "mysql")]
    Mysql(crate::mysql_server::Scratch),
}

impl Database {
    /// A new database for the stack `name`: a PostgreSQL schema for a `-pg` stack, a
    /// MySQL database for a `-mysql` stack, an SQLite file otherwise.
    pub fn create(name: &str) -> BenchResult<Self> {
        if is_postgres_stack(name) {
            #[cfg(feature = "postgres")]
            return Ok(Self::Postgres(pg::Scratch::create(&postgres_base_url()?)?));
            #[cfg(not(feature = "postgres"))]
            return Err(postgres_base_url().err().unwrap_or_default().into());
        }
        if is_mysql_stack(name) {
            #[cfg(feature = "mysql")]
            return Ok(Self::Mysql(crate::mysql_server::Scratch::create(
                &mysql_base_url()?,
            )?));
            #[cfg(not(feature = "mysql"))]
            return Err(mysql_base_url().err().unwrap_or_default().into());
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("catalog-{name}-"))
            .tempdir()?;
        let path = dir.path().join("catalog.db");
        let url = path
            .to_str()
            .ok_or("the database path is not UTF-8")?
            .to_owned();
        Ok(Self::Sqlite { dir, path, url })
    }

    /// What a stack opens: the file's path, or the server URL with the schema or
    /// database set.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } => url,
            #[cfg(feature = "postgres")]
            Self::Postgres(scratch) => &scratch.url,
            #[cfg(feature = "mysql")]
            Self::Mysql(scratch) => &scratch.url,
        }
    }

    /// The SQLite file, for a stack that opens files only.
    pub fn path(&self) -> BenchResult<&Path> {
        match self {
            Self::Sqlite { path, .. } => Ok(path),
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            _ => Err("this stack runs on SQLite files only".into()),
        }
    }

    /// Empties the stack's tables and restarts their ids, keeping the stack's
    /// connections (and what their server backends have prepared and cached).
    /// PostgreSQL only.
    pub fn empty_tables(&mut self) -> BenchResult<()> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(scratch) => scratch.empty_tables(),
            _ => Err("emptying the tables between runs is for PostgreSQL only".into()),
        }
    }

    /// Removes the database; every connection to it must be closed first.
    pub fn close(self) -> BenchResult<()> {
        match self {
            Self::Sqlite { dir, .. } => Ok(dir.close()?),
            #[cfg(feature = "postgres")]
            Self::Postgres(scratch) => scratch.drop_schema(),
            #[cfg(feature = "mysql")]
            Self::Mysql(scratch) => scratch.drop_database(),
        }
    }
}

#[cfg(feature = "postgres")]
pub mod pg {
    use diesel::connection::SimpleConnection;
    use diesel::pg::PgConnection;
    use diesel::prelude::*;

    use crate::workload::BenchResult;

    /// `url` with `options=-csearch_path=<schema>` added, so that every connection
    /// opened with it (the stack's pool, the harness's checks) works in `schema` only.
    /// Options the URL already has are kept (libpq takes only the last `options`), so
    /// `?options=-clog_min_duration_statement%3D0` still logs every statement.
    pub fn url_with_schema(url: &str, schema: &str) -> String {
        let search_path = format!("-csearch_path%3D{schema}");
        let Some((base, query)) = url.split_once('?') else {
            return format!("{url}?options={search_path}");
        };
        let mut params: Vec<String> = query.split('&').map(str::to_owned).collect();
        match params.iter_mut().rev().find(|p| p.starts_with("options=")) {
            Some(options) => options.push_str(&format!("%20{search_path}")),
            None => params.push(format!("options={search_path}")),
        }
        let query = params.join("&");
        format!("{base}?{query}")
    }

    /// A schema `bench_<pid>_<n>` of its own on the server, dropped (with everything in
    /// it) by [`Scratch::drop_schema`], or at the latest when the value is dropped.
    pub struct Scratch {
        admin: PgConnection,
        pub schema: String,
        pub url: String,
        dropped: bool,
    }

    impl Scratch {
        pub fn create(base_url: &str) -> BenchResult<Self> {
            let schema = super::scratch_name();
            let mut admin = PgConnection::establish(base_url)
                .map_err(|error| format!("connecting to the PostgreSQL server: {error}"))?;
            admin.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
            let url = url_with_schema(base_url, &schema);
            Ok(Self {
                admin,
                schema,
                url,
                dropped: false,
            })
        }

        /// `TRUNCATE` of the workload's tables, their identity sequences restarted.
        /// The stack's connections are idle between operations, so the lock it takes
        /// is granted at once; their prepared statements stay, and are planned again
        /// on their next use (the tables' storage changed), on every stack alike.
        pub fn empty_tables(&mut self) -> BenchResult<()> {
            let schema = &self.schema;
            Ok(self.admin.batch_execute(&format!(
                "TRUNCATE {schema}.books, {schema}.authors RESTART IDENTITY CASCADE"
            ))?)
        }

        pub fn drop_schema(mut self) -> BenchResult<()> {
            self.dropped = true;
            Ok(self
                .admin
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema))?)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            if !self.dropped {
                let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
                if let Err(error) = self.admin.batch_execute(&sql) {
                    eprintln!("catalog: could not drop schema {}: {error}", self.schema);
                }
            }
        }
    }

    /// Whether `conn` is encrypted, as the server says ([`crate::pg_statements::TLS_QUERY`]).
    pub fn connection_security(conn: &mut PgConnection) -> QueryResult<String> {
        #[derive(QueryableByName)]
        struct Tls {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            ssl: bool,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            version: Option<String>,
        }
        let tls: Tls = diesel::sql_query(crate::pg_statements::TLS_QUERY).get_result(conn)?;
        Ok(crate::pg_statements::describe_tls(
            tls.ssl,
            tls.version.as_deref(),
        ))
    }

    /// The `sslmode` the URL asks for: `prefer` (libpq's default) unless it names one.
    pub fn sslmode(url: &str) -> String {
        url.split_once('?')
            .and_then(|(_, query)| {
                query
                    .split('&')
                    .filter_map(|param| param.strip_prefix("sslmode="))
                    .next_back()
            })
            .map_or_else(|| "prefer (libpq's default)".to_owned(), str::to_owned)
    }

    /// The server, as it reports itself.
    pub fn server_version(base_url: &str) -> BenchResult<String> {
        #[derive(QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        let mut conn = PgConnection::establish(base_url)?;
        let found: Version =
            diesel::sql_query("SELECT current_setting('server_version') AS version")
                .get_result(&mut conn)?;
        Ok(format!("PostgreSQL {}", found.version))
    }
}
