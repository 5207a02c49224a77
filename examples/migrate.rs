//! The upgrade/downgrade workflow on a database URL, like alembic's `upgrade head` and
//! `downgrade -1`.
//!
//! ```text
//! cargo run --example migrate -- status [URL]   # applied and pending migrations
//! cargo run --example migrate -- run    [URL]   # apply every pending migration
//! cargo run --example migrate -- revert [URL]   # revert the newest applied migration
//! cargo run --example migrate -- redo   [URL]   # revert it, then apply it again
//! ```
//!
//! URL defaults to `DATABASE_URL`, then `bookshelf.db`.
//!
//! Only `run` creates a database file. `status`, `revert` and `redo` refuse an SQLite
//! path whose file does not exist, with a message and a non-zero exit, and create
//! nothing: a mistyped path is reported, not turned into an empty database (and on a
//! new file there is nothing to revert). A PostgreSQL URL or `:memory:` names no file
//! and is not checked.
//!
//! A revert destroys the data of what it removes (see
//! `Repository::revert_last_migration`); this tool says what was lost.

use std::path::PathBuf;

use bookshelf::{Config, Repository};

mod support;

fn main() -> std::process::ExitCode {
    support::exit_code(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "status".to_owned());
    let url = args
        .next()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "bookshelf.db".to_owned());
    // Checked before anything is opened, so that a mistyped command creates no file.
    if !["status", "run", "revert", "redo"].contains(&command.as_str()) {
        return Err(format!("unknown command {command:?}: use status, run, revert or redo").into());
    }
    if command != "run" {
        if let Some(path) = sqlite_file(&url).filter(|path| !path.exists()) {
            return Err(format!(
                "no database at {}: nothing was created; check the path, or create \
                 the database with `migrate run {url}`",
                path.display()
            )
            .into());
        }
    }
    // Open without migrating, so that this tool decides what runs.
    let repo = Config::new(&url).run_migrations(false).open()?;
    match command.as_str() {
        "run" => {
            for version in repo.run_pending_migrations()? {
                println!("applied {version}");
            }
        }
        "revert" => report_revert(&repo.revert_last_migration()?),
        "redo" => {
            report_revert(&repo.revert_last_migration()?);
            for version in repo.run_pending_migrations()? {
                println!("applied {version}");
            }
        }
        _ => {}
    }
    print_status(&repo)
}

/// The file an SQLite URL names: a plain path, or the name part of a `file:`,
/// `sqlite:` or `sqlite://` URI with its `%HH` escapes decoded. `None` for URLs that
/// name no file (`:memory:`, a server's `postgres://…` or `mysql://…`: any
/// `scheme://` URL but `sqlite://`); a URL the crate refuses is left for `open` to
/// report.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    let server = url.contains("://") && !url.starts_with("sqlite://");
    if url == ":memory:" || server {
        return None;
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .or_else(|| url.strip_prefix("file:"))
    else {
        return Some(PathBuf::from(url));
    };
    let name = rest.split(['?', '#']).next().unwrap_or_default();
    let name = match name.strip_prefix("//") {
        Some(after) => &after[after.find('/').unwrap_or(after.len())..],
        None => name,
    };
    if name.is_empty() || name == ":memory:" {
        return None;
    }
    Some(PathBuf::from(percent_decode(name)))
}

/// `%HH` escapes decoded, as SQLite reads a `file:` URI's name.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escape) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Says which migration was reverted and what data went with it.
fn report_revert(version: &str) {
    println!("reverted {version}");
    let lost = match version {
        "20261202000003" => {
            "every row's version and timestamps (and, on SQLite, the record of the largest \
             id given, so deleted ids may be given again)"
        }
        "20261124000002" => "every book's ISBN and publication year",
        "20261124000001" => "the authors and books tables, with every row",
        _ => return,
    };
    println!("note: the revert deleted {lost}; applying the migration again does not restore it");
}

fn print_status(repo: &Repository) -> Result<(), Box<dyn std::error::Error>> {
    for version in repo.applied_migrations()? {
        println!("applied  {version}");
    }
    for version in repo.pending_migrations()? {
        println!("pending  {version}");
    }
    Ok(())
}
