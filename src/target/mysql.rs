//! A MySQL or MariaDB URL as the crate reads it: `mysql://` (diesel's and the MySQL
//! client's own scheme) or `mariadb://` (sqlx's and SQLAlchemy's name for the same
//! server), checked before diesel sees it, since diesel ignores what it does not know.

use crate::config::redacted;
use crate::error::{Error, Result};

/// The query parameters diesel's MySQL connection reads. Any other one is refused:
/// diesel would ignore a misspelled `ssl_mod=required` and connect without TLS.
const KNOWN_PARAMS: [&str; 5] = ["unix_socket", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key"];

/// The values diesel takes for `ssl_mode` (in any case).
const SSL_MODES: [&str; 5] = [
    "disabled",
    "preferred",
    "required",
    "verify_ca",
    "verify_identity",
];

/// A `mysql://` or `mariadb://` URL, read.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct MysqlTarget {
    /// The URL as diesel takes it: always `mysql://`.
    pub(crate) url: String,
    /// The database the URL names.
    pub(crate) database: String,
}

/// The password is not printed.
impl std::fmt::Debug for MysqlTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlTarget")
            .field("url", &redacted(&self.url))
            .field("database", &self.database)
            .finish()
    }
}

impl MysqlTarget {
    /// Reads `url`, a `mysql://` or `mariadb://` URL.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`] (which never shows the password) for a URL that names
    /// no database (the server would give the connection none, and every statement would
    /// fail), names a path of more than one segment, sets a parameter diesel does not
    /// read or a `database=` parameter, or sets `ssl_mode` to a value diesel refuses.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .ok_or_else(|| refused(url, "is not a mysql:// or mariadb:// URL"))?;
        let (base, query) = match rest.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (rest, None),
        };
        if base.contains('#') || query.is_some_and(|query| query.contains('#')) {
            return Err(refused(
                url,
                "has a #fragment, which MySQL URLs do not take",
            ));
        }
        let database = match base.split_once('/') {
            Some((_, path)) if path.contains('/') => {
                return Err(refused(url, "has a path of more than one segment"))
            }
            Some((_, path)) => path,
            None => "",
        };
        if database.is_empty() {
            return Err(refused(
                url,
                "names no database: add it as the path (mysql://user@host/database)",
            ));
        }
        for pair in query.into_iter().flat_map(|query| query.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == "ssl_mode"
                && !SSL_MODES
                    .iter()
                    .any(|mode| mode.eq_ignore_ascii_case(value))
            {
                return Err(refused(
                    url,
                    &format!("sets ssl_mode={value:?}; it takes {}", SSL_MODES.join(", ")),
                ));
            }
            if !KNOWN_PARAMS.contains(&key) {
                return Err(refused(
                    url,
                    &format!(
                        "has the parameter {key:?}, which the MySQL connection does not read \
                         (it reads {}; the database is the URL's path)",
                        KNOWN_PARAMS.join(", ")
                    ),
                ));
            }
        }
        Ok(Self {
            url: format!("mysql://{rest}"),
            database: database.to_owned(),
        })
    }
}

/// A refusal of `url` that shows it without its password.
fn refused(url: &str, why: &str) -> Error {
    Error::UnsupportedUrl(format!("{:?} {why}", redacted(url)))
}

#[cfg(test)]
mod tests {
    use super::MysqlTarget;
    use crate::Error;

    #[test]
    fn both_schemes_name_the_server_and_its_database() -> crate::Result<()> {
        let cases = [
            (
                "mysql://root@127.0.0.1/test",
                "mysql://root@127.0.0.1/test",
                "test",
            ),
            (
                "mariadb://ann:pw@db:3307/app?ssl_mode=REQUIRED",
                "mysql://ann:pw@db:3307/app?ssl_mode=REQUIRED",
                "app",
            ),
            (
                "mysql://localhost/app?unix_socket=/run/mysqld/mysqld.sock",
                "mysql://localhost/app?unix_socket=/run/mysqld/mysqld.sock",
                "app",
            ),
        ];
        for (url, diesel, database) in cases {
            let target = MysqlTarget::parse(url)?;
            assert_eq!(target.url, diesel, "{url}");
            assert_eq!(target.database, database, "{url}");
        }
        Ok(())
    }

    #[test]
    fn what_diesel_would_ignore_or_misread_is_refused() -> Result<(), String> {
        for url in [
            "mysql://root@127.0.0.1",
            "mysql://root@127.0.0.1/",
            "mysql://root@127.0.0.1/a/b",
            "mysql://root@127.0.0.1/test?database=other",
            "mysql://root@127.0.0.1/test?ssl_mod=required",
            "mysql://root@127.0.0.1/test?ssl_mode=on",
            "mysql://root@127.0.0.1/test#x",
        ] {
            match MysqlTarget::parse(url) {
                Err(Error::UnsupportedUrl(_)) => {}
                other => return Err(format!("{url}: expected a refusal, got {other:?}")),
            }
        }
        Ok(())
    }

    #[test]
    fn the_password_is_never_shown() -> Result<(), String> {
        let target = MysqlTarget::parse("mysql://ann:s3cret@db/app").map_err(|e| e.to_string())?;
        let shown = format!("{target:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("ann:***@db"), "{shown}");
        match MysqlTarget::parse("mysql://ann:s3cret@db/app?oops=1") {
            Err(error) => assert!(!error.to_string().contains("s3cret"), "{error}"),
            Ok(target) => return Err(format!("accepted: {target:?}")),
        }
        Ok(())
    }
}
