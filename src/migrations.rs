//! The checks and steps around the embedded migrations, written once for every backend
//! (each backend's file embeds its own migrations: [`Backend::MIGRATIONS`]).

use diesel::migration::{Migration, MigrationSource};
use diesel::prelude::*;

use crate::backend::Backend;
use crate::error::{MigrationError, Result};
use crate::transaction;

fn failed(error: Box<dyn std::error::Error + Send + Sync>) -> crate::error::Error {
    MigrationError::Failed(error).into()
}

/// Every migration this build knows for `C`'s backend, by version, oldest first.
pub(crate) fn known_versions<C: Backend>() -> Result<Vec<String>> {
    let migrations: Vec<Box<dyn Migration<C::Backend>>> =
        MigrationSource::<C::Backend>::migrations(&C::MIGRATIONS).map_err(failed)?;
    let mut versions: Vec<String> = migrations
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect();
    versions.sort();
    Ok(versions)
}

diesel::table! {
    /// diesel_migrations' bookkeeping table.
    __diesel_schema_migrations (version) {
        version -> Text,
    }
}

/// The applied versions, oldest first.
#[diesel::dsl::auto_type]
pub(crate) fn applied_versions() -> _ {
    __diesel_schema_migrations::table
        .select(__diesel_schema_migrations::version)
        .order(__diesel_schema_migrations::version)
}

/// Applied versions, oldest first. Only reads (diesel's own `applied_migrations` creates
/// the table when it is missing), so it works on a read-only database too.
pub(crate) fn applied<C>(conn: &mut C) -> Result<Vec<String>>
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    if !conn.has_table("__diesel_schema_migrations")? {
        return Ok(Vec::new());
    }
    Ok(applied_versions().load(conn)?)
}

/// Versions not applied yet, oldest first.
pub(crate) fn pending<C>(conn: &mut C) -> Result<Vec<String>>
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    check(conn)
}

/// The tables the migrations create. A database with none of the migrations applied
/// that already has one of them belongs to another application: running the first
/// migration there would fail half-way (`table authors already exists`), after the
/// database had been opened for writing.
const TABLES: [&str; 2] = ["authors", "books"];

/// The pending versions, after refusing a database that holds a migration this build
/// does not know (it was written by a newer build), or tables of another application.
fn check<C>(conn: &mut C) -> Result<Vec<String>>
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    let known = known_versions::<C>()?;
    let applied = applied(conn)?;
    if let Some(version) = applied.iter().find(|version| !known.contains(version)) {
        return Err(MigrationError::Unknown {
            version: version.clone(),
        }
        .into());
    }
    if applied.is_empty() {
        for table in TABLES {
            if conn.has_table(table)? {
                return Err(MigrationError::ForeignTable {
                    table: table.to_owned(),
                }
                .into());
            }
        }
    }
    Ok(known
        .into_iter()
        .filter(|version| !applied.contains(version))
        .collect())
}

/// The pending versions, read in one snapshot without taking the write lock, so that an
/// up-to-date database (even a read-only one) opens without writing anything.
///
/// # Errors
///
/// [`MigrationError::Unknown`] for a database written by a newer build.
pub(crate) fn pending_on_open<C>(conn: &mut C) -> Result<Vec<String>>
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    if C::TRANSACTIONAL_DDL {
        transaction::read(conn, check)
    } else {
        // Another process migrating right now has committed some tables and not yet
        // their versions: under the lock, the check waits for it to finish.
        locked(conn, check)
    }
}

/// Runs `f` holding the migration lock of a backend whose schema changes commit by
/// themselves ([`Backend::TRANSACTIONAL_DDL`] false), outside any transaction, and
/// lets go of the lock whatever `f` returns.
fn locked<C: Backend, T>(conn: &mut C, f: impl FnOnce(&mut C) -> Result<T>) -> Result<T> {
    conn.lock_migrations()?;
    let result = f(conn);
    let unlocked = conn.unlock_migrations();
    let value = result?;
    unlocked?;
    Ok(value)
}

/// Runs `f`, a step that changes migrations, as the backend allows: in one write
/// transaction that holds the migration lock (all or nothing), or, where schema changes
/// commit by themselves, under the migration lock alone (each migration then commits as
/// it goes, and one that fails half-way leaves what it did).
fn migrating<C: Backend, T>(conn: &mut C, f: impl FnOnce(&mut C) -> Result<T>) -> Result<T> {
    if C::TRANSACTIONAL_DDL {
        transaction::write(conn, |conn| {
            conn.lock_migrations()?;
            f(conn)
        })
    } else {
        locked(conn, f)
    }
}

/// Applies what is pending and returns the versions applied. It holds the write lock
/// (the migration lock on PostgreSQL and MySQL) and checks again under it, so processes
/// opening one new database at the same moment apply each migration once; on any error
/// nothing is changed (on MySQL, whose schema changes commit by themselves, the
/// migrations before the failing one stay applied, and the failing one's statements
/// before the failure stay done).
pub(crate) fn run_pending<C>(conn: &mut C) -> Result<Vec<String>>
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    migrating(conn, |conn| {
        if check(conn)?.is_empty() {
            return Ok(Vec::new());
        }
        let ran = conn.run_pending_migrations(C::MIGRATIONS).map_err(failed)?;
        Ok(ran.into_iter().map(|version| version.to_string()).collect())
    })
}

/// Reverts the newest applied migration and returns its version.
pub(crate) fn revert_last<C>(conn: &mut C) -> Result<String>
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    migrating(conn, |conn| {
        if applied(conn)?.is_empty() {
            return Err(MigrationError::NothingToRevert.into());
        }
        let version = conn.revert_last_migration(C::MIGRATIONS).map_err(failed)?;
        Ok(version.to_string())
    })
}

/// Applies the migrations [`pending_on_open`] found, when `run` (the
/// `run_migrations` setting) says to, and logs each version applied.
pub(crate) fn apply_on_open<C>(conn: &mut C, run: bool, pending: &[String]) -> Result<()>
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    if run && !pending.is_empty() {
        for version in run_pending(conn)? {
            tracing::info!(target: "bookshelf", %version, backend = C::NAME, "applied migration");
        }
    }
    Ok(())
}
