//! Which database a URL names. The URL is read once, when a repository is opened, into
//! a [`Target`]; everything after works from the target, never from the URL's text.
//!
//! Every SQLite file target is opened through one `file:` URI that [`SqliteFile::uri`]
//! writes from the decoded name, so a path, `sqlite://path` and `file:path` that name one
//! file open that file whatever the other settings are.

#[cfg(feature = "mysql")]
mod mysql;
mod path;
#[cfg(feature = "postgres")]
mod server;
mod uri;

use std::path::PathBuf;

use crate::error::Result;
#[cfg(feature = "mysql")]
pub(crate) use mysql::MysqlTarget;
#[cfg(feature = "postgres")]
pub(crate) use server::ServerTarget;
use uri::{refused, Uri};

/// The database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A database file.
    SqliteFile(SqliteFile),
    /// The repository's private in-memory database.
    SqliteMemory,
    /// A PostgreSQL server (a `postgres://` or `postgresql://` URL, as libpq takes it,
    /// and the crate's own `pooler` parameter).
    #[cfg(feature = "postgres")]
    Postgres(ServerTarget),
    /// A MySQL or MariaDB server (a `mysql://` or `mariadb://` URL).
    #[cfg(feature = "mysql")]
    Mysql(MysqlTarget),
}

/// An SQLite database file, and how the URL asks SQLite to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqliteFile {
    /// The file name SQLite opens (a `file:` URI's escapes decoded).
    name: Vec<u8>,
    /// The URI's query parameters, checked, in order.
    params: Vec<(String, String)>,
}

/// The parameters SQLite itself reads from a `file:` URI (see sqlite.org/uri.html, and
/// `modeof` of the unix VFS). Any other one is refused unless the URI names a VFS, which
/// may read parameters of its own: SQLite ignores a parameter it does not know, so a
/// misspelled `mod=ro` would open the file for writing.
const KNOWN_PARAMS: [&str; 7] = [
    "vfs",
    "mode",
    "cache",
    "immutable",
    "nolock",
    "psow",
    "modeof",
];

impl Target {
    /// Reads `url`: `:memory:`, a path, `sqlite://…` or `sqlite:…` (both the `file:` URI
    /// with the same text after `file:`, as diesel and sqlx read them), a `file:` URI, or
    /// with the `postgres` feature a `postgres://` or `postgresql://` URL, or with the
    /// `mysql` feature a `mysql://` or `mariadb://` URL. Surrounding whitespace is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`](crate::Error::UnsupportedUrl) for another scheme, and for
    /// every form that would not name exactly one database: no file name at all (SQLite
    /// would give each connection a temporary database), `mode=memory` or `vfs=memdb` (a
    /// private database per connection), and URI forms SQLite reads otherwise than they
    /// look; [`Error::Config`](crate::Error::Config) for a PostgreSQL URL whose `pooler`
    /// parameter is not `transaction`. A MySQL URL is checked as
    /// [`MysqlTarget::parse`](mysql::MysqlTarget::parse) says.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        if url.contains('\0') {
            return Err(refused(url, "contains a NUL character"));
        }
        if url.is_empty() {
            return Err(refused(
                url,
                "is empty: name a database file, or `:memory:` for an in-memory database",
            ));
        }
        if url == ":memory:" {
            return Ok(Target::SqliteMemory);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            return Ok(Target::Postgres(ServerTarget::parse(url)?));
            #[cfg(not(feature = "postgres"))]
            return Err(crate::error::Error::UnsupportedUrl(
                "a PostgreSQL URL needs bookshelf's `postgres` cargo feature \
                 (bookshelf = { features = [\"postgres\"] })"
                    .to_owned(),
            ));
        }
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            #[cfg(feature = "mysql")]
            return Ok(Target::Mysql(MysqlTarget::parse(url)?));
            #[cfg(not(feature = "mysql"))]
            return Err(crate::error::Error::UnsupportedUrl(
                "a MySQL or MariaDB URL needs bookshelf's `mysql` cargo feature \
                 (bookshelf = { features = [\"mysql\"] })"
                    .to_owned(),
            ));
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .or_else(|| url.strip_prefix("file:"));
        if let Some(rest) = rest {
            return Self::sqlite(Uri::parse(rest, url)?, url);
        }
        if let Some((scheme, _)) = url.split_once("://") {
            let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if is_scheme {
                return Err(refused(
                    url,
                    &format!("has the scheme {scheme:?}, which bookshelf does not open"),
                ));
            }
        }
        // A plain path: SQLite reads no escapes or parameters in it.
        Self::sqlite(
            Uri {
                name: url.as_bytes().to_vec(),
                params: Vec::new(),
            },
            url,
        )
    }

    /// The SQLite file at `path`, taken as a file name: never read as a URL (a file
    /// named `postgres:x` or `:memory:` is that file), with no escapes or parameters.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`](crate::error::Error::UnsupportedUrl) for an empty path
    /// or one holding a NUL, which SQLite cannot open.
    pub(crate) fn file(path: &std::path::Path) -> Result<Self> {
        let shown = path.display().to_string();
        #[cfg(unix)]
        let name = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
        #[cfg(not(unix))]
        let name = path
            .to_str()
            .ok_or_else(|| refused(&shown, "names a file whose name is not UTF-8"))?
            .as_bytes()
            .to_vec();
        if name.is_empty() {
            return Err(refused(&shown, "is empty: name a database file"));
        }
        if name.contains(&0) {
            return Err(refused(&shown, "contains a NUL character"));
        }
        Ok(Target::SqliteFile(SqliteFile {
            name,
            params: Vec::new(),
        }))
    }

    /// The SQLite database `uri` names, if it names exactly one.
    fn sqlite(uri: Uri, url: &str) -> Result<Self> {
        for (key, value) in &uri.params {
            check_param(key, value, url)?;
        }
        if uri.name == b":memory:" {
            return memory(&uri, url);
        }
        if uri.name.is_empty() {
            return Err(refused(
                url,
                "names no file: SQLite would give each pooled connection a temporary \
                 database of its own; name a file, or use `:memory:` for an in-memory \
                 database",
            ));
        }
        if uri.param("mode") == Some("memory") || uri.param("vfs") == Some("memdb") {
            return Err(refused(
                url,
                "names an in-memory database that each pooled connection would get a \
                 copy of its own of; use `:memory:` for the repository's in-memory \
                 database, which every connection shares",
            ));
        }
        let own_vfs = uri.param("vfs").is_some();
        if let Some((key, _)) = uri
            .params
            .iter()
            .find(|(key, _)| !own_vfs && !KNOWN_PARAMS.contains(&key.as_str()))
        {
            return Err(refused(
                url,
                &format!(
                    "has the parameter {key:?}, which SQLite does not know and would \
                     ignore (it reads {})",
                    KNOWN_PARAMS.join(", ")
                ),
            ));
        }
        #[cfg(not(unix))]
        if std::str::from_utf8(&uri.name).is_err() {
            return Err(refused(url, "names a file whose name is not UTF-8"));
        }
        Ok(Target::SqliteFile(SqliteFile {
            name: uri.name,
            params: uri.params,
        }))
    }
}

/// `:memory:` with the parameters that make sense for it: `cache` (the repository's
/// in-memory database is shared by its connections either way, without shared-cache
/// table locks) and a `mode` that can write.
fn memory(uri: &Uri, url: &str) -> Result<Target> {
    for (key, value) in &uri.params {
        let applies = match key.as_str() {
            "cache" => true,
            "mode" => value != "ro",
            _ => false,
        };
        if !applies {
            return Err(refused(
                url,
                &format!(
                    "sets {key}={value} on the in-memory database, where it cannot apply \
                     (only cache= and a writable mode= can)"
                ),
            ));
        }
    }
    Ok(Target::SqliteMemory)
}

/// Refuses a value SQLite would refuse or misread for a parameter it knows.
fn check_param(key: &str, value: &str, url: &str) -> Result<()> {
    let allowed: &[&str] = match key {
        "mode" => &["ro", "rw", "rwc", "memory"],
        "cache" => &["shared", "private"],
        // SQLite takes any other word as the parameter's default, silently.
        "immutable" | "nolock" | "psow" => &["0", "1", "yes", "no", "true", "false", "on", "off"],
        "vfs" if value.is_empty() => &[],
        _ => return Ok(()),
    };
    if allowed.iter().any(|word| word.eq_ignore_ascii_case(value)) {
        return Ok(());
    }
    Err(refused(
        url,
        &format!(
            "sets {key}={value:?}; SQLite takes {}",
            if allowed.is_empty() {
                "a VFS name".to_owned()
            } else {
                allowed.join(", ")
            }
        ),
    ))
}

impl SqliteFile {
    /// The file's path, as the file system sees it.
    pub(crate) fn path(&self) -> PathBuf {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            PathBuf::from(std::ffi::OsStr::from_bytes(&self.name))
        }
        #[cfg(not(unix))]
        {
            PathBuf::from(String::from_utf8_lossy(&self.name).into_owned())
        }
    }

    /// The parameter `key`, if the URL gave it.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// True when SQLite opens the file without writing: `mode=ro` or `immutable`. It
    /// must exist then.
    pub(crate) fn read_only(&self) -> bool {
        self.param("mode") == Some("ro")
            || self.param("immutable").is_some_and(|value| {
                ["1", "yes", "true", "on"]
                    .iter()
                    .any(|word| word.eq_ignore_ascii_case(value))
            })
    }

    /// True when SQLite creates the file if it is missing (`mode=rwc`, the default).
    pub(crate) fn creates(&self) -> bool {
        !self.read_only() && self.param("mode").is_none_or(|mode| mode == "rwc")
    }

    /// The `file:` URI every connection opens; with `process_exclusive`, through the
    /// `unix-excl` VFS (the caller has refused a URI naming a VFS of its own).
    pub(crate) fn uri(&self, process_exclusive: bool) -> String {
        let mut params = self.params.clone();
        if process_exclusive {
            params.push(("vfs".to_owned(), "unix-excl".to_owned()));
        }
        uri::write(&self.name, &params)
    }
}

#[cfg(test)]
mod tests;
