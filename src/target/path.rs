//! What the file system says about a database path, before SQLite is asked to open it:
//! SQLite reports a directory, a missing directory and a parent that is a file alike,
//! as "unable to open database file".

use std::io::ErrorKind;
use std::path::Path;

use super::SqliteFile;
use crate::error::{Error, Result};

impl SqliteFile {
    /// Refuses a path SQLite cannot open as a database file, naming the true cause: the
    /// path is a directory; a file opened read-only (or `mode=rw`) is missing; a
    /// directory on the way is missing, or is a file. Reads metadata only.
    ///
    /// # Errors
    ///
    /// [`Error::Connection`] with the cause as its message.
    pub(crate) fn check_path(&self) -> Result<()> {
        let path = self.path();
        let missing = match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_dir() => {
                return Err(bad(format!(
                    "{} is a directory, not a database file",
                    path.display()
                )))
            }
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if let Some(problem) = ancestor_problem(&path) {
            return Err(bad(problem));
        }
        if missing.kind() != ErrorKind::NotFound {
            return Err(bad(format!("cannot open {}: {missing}", path.display())));
        }
        if !self.creates() {
            return Err(bad(format!(
                "{} does not exist, and the URL opens it without creating it \
                 (mode=ro, mode=rw or immutable)",
                path.display()
            )));
        }
        Ok(())
    }
}

/// Why the directory that would hold `path` is not there: the nearest ancestor that
/// exists is a file, or is a directory further up than the parent.
fn ancestor_problem(path: &Path) -> Option<String> {
    let parent = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())?;
    for ancestor in parent.ancestors() {
        if ancestor.as_os_str().is_empty() {
            break;
        }
        match std::fs::metadata(ancestor) {
            Ok(metadata) if metadata.is_dir() => {
                return (ancestor != parent)
                    .then(|| format!("directory {} does not exist", parent.display()));
            }
            Ok(_) => {
                return Some(format!(
                    "{} is a file, not a directory, so it cannot hold {}",
                    ancestor.display(),
                    path.display()
                ))
            }
            Err(error) if error.kind() == ErrorKind::PermissionDenied => {
                return Some(format!("cannot read {}: {error}", ancestor.display()))
            }
            // Missing, or below a file ("not a directory"): the answer is further up.
            Err(_) => {}
        }
    }
    // Even the first component is missing: a relative path under the current directory.
    Some(format!("directory {} does not exist", parent.display()))
}

fn bad(message: String) -> Error {
    Error::Connection(diesel::ConnectionError::BadConnection(message))
}
