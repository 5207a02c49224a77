//! The embedded migrations and the checks around them.

use diesel::migration::{Migration, MigrationSource};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::Backend;
use crate::{MigrationError, Result};

/// The SQLite migrations, compiled into the crate (`build.rs` rebuilds it when the
/// `migrations/` directory changes).
pub(crate) const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

fn failed(error: Box<dyn std::error::Error + Send + Sync>) -> crate::Error {
    MigrationError::Failed(error).into()
}

/// Every migration this build knows, by version, oldest first.
pub(crate) fn known_versions() -> Result<Vec<String>> {
    let migrations: Vec<Box<dyn Migration<Sqlite>>> =
        MigrationSource::<Sqlite>::migrations(&SQLITE).map_err(failed)?;
    let mut versions: Vec<String> = migrations
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

/// Applied versions, oldest first.
pub(crate) fn applied(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let mut versions: Vec<String> = conn
        .applied_migrations()
        .map_err(failed)?
        .into_iter()
        .map(|version| version.to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

/// Versions not applied yet, oldest first.
pub(crate) fn pending(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let applied = applied(conn)?;
    Ok(known_versions()?
        .into_iter()
        .filter(|version| !applied.contains(version))
        .collect())
}

/// Refuses a database that holds a migration this build does not know (it was written
/// by a newer build), then applies what is pending when `run` is set. All of it holds
/// the write lock, so that processes opening one new database at the same moment apply
/// each migration once; on any error nothing is changed.
pub(crate) fn prepare(conn: &mut SqliteConnection, run: bool) -> Result<Vec<String>> {
    conn.write_transaction(|conn| {
        let known = known_versions()?;
        if let Some(version) = applied(conn)?
            .into_iter()
            .find(|version| !known.contains(version))
        {
            return Err(MigrationError::Unknown { version }.into());
        }
        if !run {
            return Ok(Vec::new());
        }
        let ran = conn.run_pending_migrations(SQLITE).map_err(failed)?;
        Ok(ran.into_iter().map(|version| version.to_string()).collect())
    })
}

/// Reverts the newest applied migration and returns its version.
pub(crate) fn revert_last(conn: &mut SqliteConnection) -> Result<String> {
    conn.write_transaction(|conn| {
        if applied(conn)?.is_empty() {
            return Err(MigrationError::NothingToRevert.into());
        }
        let version = conn.revert_last_migration(SQLITE).map_err(failed)?;
        Ok(version.to_string())
    })
}
