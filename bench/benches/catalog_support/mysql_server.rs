//! The MySQL or MariaDB server the `-mysql` stacks run on (the `mysql` feature): a
//! database of its own for each stack run, what the server says of itself, and whether
//! a connection is encrypted.

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::database::MYSQL_URL_VAR;
use crate::workload::BenchResult;

/// `url` with its database (the path) replaced by `name`, or kept when `name` is
/// `None`, and its query kept, in the scheme diesel takes: `mysql://` (bookshelf also
/// reads `mariadb://`, diesel does not).
pub fn url_with_database(url: &str, name: Option<&str>) -> BenchResult<String> {
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))
        .ok_or_else(|| format!("{MYSQL_URL_VAR} is not a mysql:// or mariadb:// URL"))?;
    let (base, query) = match rest.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (rest, String::new()),
    };
    let (authority, database) = base.split_once('/').unwrap_or((base, ""));
    let database = name.unwrap_or(database);
    Ok(format!("mysql://{authority}/{database}{query}"))
}

/// Whether the server gives a multi-row `INSERT` consecutive ids, which is what lets
/// bookshelf insert many rows per statement on MySQL (`src/backends/mysql/insert.rs`):
/// `innodb_autoinc_lock_mode` 0 or 1. With 2 it inserts one row per statement.
pub fn consecutive_ids(autoinc_lock_mode: i64) -> bool {
    matches!(autoinc_lock_mode, 0 | 1)
}

/// What the server reports of itself.
#[derive(QueryableByName)]
struct ServerInfo {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = BigInt)]
    autoinc_lock_mode: i64,
}

const SERVER_INFO: &str = "SELECT VERSION() AS version, \
     CAST(@@innodb_autoinc_lock_mode AS SIGNED) AS autoinc_lock_mode";

fn server_info(conn: &mut MysqlConnection) -> QueryResult<ServerInfo> {
    diesel::sql_query(SERVER_INFO).get_result(conn)
}

/// A database `bench_<pid>_<n>` of its own on the server, dropped (with everything in
/// it) by [`Scratch::drop_database`], or at the latest when the value is dropped.
pub struct Scratch {
    admin: MysqlConnection,
    pub database: String,
    pub url: String,
    /// The server's `innodb_autoinc_lock_mode`, read when the database was created.
    pub autoinc_lock_mode: i64,
    dropped: bool,
}

impl Scratch {
    /// Creates the database in the character set and collation of bookshelf's tables,
    /// on the server of `base_url`.
    pub fn create(base_url: &str) -> BenchResult<Self> {
        let database = crate::database::scratch_name();
        let mut admin = MysqlConnection::establish(&url_with_database(base_url, None)?)
            .map_err(|error| format!("connecting to the MySQL server: {error}"))?;
        let autoinc_lock_mode = server_info(&mut admin)?.autoinc_lock_mode;
        admin.batch_execute(&format!(
            "CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"
        ))?;
        let url = url_with_database(base_url, Some(&database))?;
        Ok(Self {
            admin,
            database,
            url,
            autoinc_lock_mode,
            dropped: false,
        })
    }

    pub fn drop_database(mut self) -> BenchResult<()> {
        self.dropped = true;
        Ok(self
            .admin
            .batch_execute(&format!("DROP DATABASE {}", self.database))?)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.dropped {
            let sql = format!("DROP DATABASE IF EXISTS {}", self.database);
            if let Err(error) = self.admin.batch_execute(&sql) {
                eprintln!(
                    "catalog: could not drop database {}: {error}",
                    self.database
                );
            }
        }
    }
}

/// Whether `conn` is encrypted, as the server says (the session's `Ssl_version`, empty
/// on a plaintext connection).
pub fn connection_security(conn: &mut MysqlConnection) -> QueryResult<String> {
    #[derive(QueryableByName)]
    struct Status {
        #[diesel(sql_type = Text, column_name = Value)]
        value: String,
    }
    let status: Status =
        diesel::sql_query("SHOW SESSION STATUS LIKE 'Ssl_version'").get_result(conn)?;
    let version = Some(status.value.as_str()).filter(|version| !version.is_empty());
    Ok(crate::database::describe_tls(version.is_some(), version))
}

/// The server and its auto-increment lock mode, as the bench's header line prints them.
pub fn describe_server(base_url: &str) -> BenchResult<String> {
    let mut conn = MysqlConnection::establish(&url_with_database(base_url, None)?)?;
    let info = server_info(&mut conn)?;
    let product = if info.version.contains("MariaDB") {
        "MariaDB"
    } else {
        "MySQL"
    };
    let bulk = if consecutive_ids(info.autoinc_lock_mode) {
        "multi-row"
    } else {
        "one row per statement"
    };
    Ok(format!(
        "{product} {} (from {MYSQL_URL_VAR}), a fresh database per run; \
         innodb_autoinc_lock_mode {}: bookshelf-mysql's bulk inserts {bulk}",
        info.version, info.autoinc_lock_mode
    ))
}
