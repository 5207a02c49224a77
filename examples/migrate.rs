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
//! A revert destroys the data of what it removes (see
//! `Repository::revert_last_migration`); this tool says what was lost.

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
    // Open without migrating, so that this tool decides what runs.
    let repo = Config::new(&url).run_migrations(false).open()?;
    match command.as_str() {
        "status" => {}
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
        other => {
            return Err(
                format!("unknown command {other:?}: use status, run, revert or redo").into(),
            )
        }
    }
    print_status(&repo)
}

/// Says which migration was reverted and what data went with it.
fn report_revert(version: &str) {
    println!("reverted {version}");
    let lost = match version {
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
