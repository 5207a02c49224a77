//! The transaction-pooler mode (`Config::transaction_pooler`, `pooler=transaction`):
//! on a direct connection, that it sets nothing for the session, sets the timeouts
//! with `SET LOCAL` in each transaction and prepares nothing by name; through the
//! PgBouncer that `BOOKSHELF_TEST_PGBOUNCER_URL` names (transaction pool mode), that
//! a repository fails without the mode and works with it, and that a lock held past
//! the busy timeout is a busy error.

#![cfg(feature = "postgres")]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use bookshelf::{Config, NewAuthor, RawConnection, Repository};
use common::postgres::{self, Database};
use common::{BoxError, TestResult};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;

/// A bound that only catches a hang.
const HANG: Duration = Duration::from_secs(20);

/// A database of its own, or `None` (and a note) without a server.
fn database() -> Result<Option<Database>, BoxError> {
    if postgres::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: the transaction-pooler test is skipped",
            common::POSTGRES_URL_VAR
        ));
        return Ok(None);
    }
    Ok(Some(Database::create()?))
}

/// `database` reached through the configured PgBouncer, or `None` (and a note on
/// stderr) when none is configured.
fn through_pgbouncer(database: &Database) -> Result<Option<String>, BoxError> {
    let Some(bouncer) = postgres::pgbouncer_url()? else {
        eprintln!(
            "SKIPPED: {} not set: the test through PgBouncer does not run",
            postgres::PGBOUNCER_URL_VAR
        );
        return Ok(None);
    };
    Ok(Some(postgres::with_database(&bouncer, database.name())?))
}

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// The text value of the SQL expression `expression` on `conn`.
fn show(conn: &mut diesel::PgConnection, expression: &str) -> diesel::QueryResult<String> {
    Ok(diesel::sql_query(format!("SELECT {expression} AS value"))
        .get_result::<Setting>(conn)?
        .value)
}

/// `lock_timeout` and `statement_timeout` on a connection of `repo`: inside a
/// transaction of the crate, and on the same session outside it. The outside values
/// are taken in one batch that ends the transaction, keeps them in a temporary table,
/// and begins another (diesel follows the server's transaction status after a batch:
/// it must end inside a transaction, as it began).
fn timeouts_inside_and_outside(repo: &Repository) -> bookshelf::Result<[String; 4]> {
    repo.transaction(|tx| {
        tx.with_connection(|raw| {
            let RawConnection::Postgres(conn) = raw else {
                return Err(diesel::result::Error::NotFound);
            };
            let lock_inside = show(conn, "current_setting('lock_timeout')")?;
            let statement_inside = show(conn, "current_setting('statement_timeout')")?;
            conn.batch_execute(
                "COMMIT; \
                 CREATE TEMPORARY TABLE outside AS SELECT \
                 current_setting('lock_timeout') AS lock_value, \
                 current_setting('statement_timeout') AS statement_value; \
                 BEGIN",
            )?;
            let lock_outside = show(conn, "(SELECT lock_value FROM outside)")?;
            let statement_outside = show(conn, "(SELECT statement_value FROM outside)")?;
            Ok([
                lock_inside,
                statement_inside,
                lock_outside,
                statement_outside,
            ])
        })
    })
}

/// Statements the repository's connection prepared by name and keeps.
fn prepared_statements(repo: &Repository) -> bookshelf::Result<String> {
    repo.with_connection(|raw| match raw {
        RawConnection::Postgres(conn) => Ok(diesel::sql_query(
            "SELECT count(*)::text AS value FROM pg_prepared_statements",
        )
        .get_result::<Setting>(conn)?
        .value),
        _ => Err(diesel::result::Error::NotFound),
    })
}

/// On a direct connection: with the mode, the timeouts hold inside a transaction and
/// not outside it (no session `SET`), and nothing is prepared by name; without it (the
/// control), the session keeps them.
#[test]
fn the_mode_sets_the_timeouts_per_transaction_and_prepares_nothing() -> TestResult {
    let Some(db) = database()? else {
        return Ok(());
    };
    let direct = postgres::direct_url(db.url())?;
    let config = |on: bool| {
        Config::new(&direct)
            .max_size(1)
            .busy_timeout(Duration::from_millis(1234))
            .statement_timeout(Some(Duration::from_millis(4321)))
            .transaction_pooler(on)
    };
    let pooled = config(true).open()?;
    let author = pooled.create_author(&NewAuthor::new("Pooled"))?;
    for _ in 0..3 {
        pooled.author(author.id)?;
        pooled.books_by_author(author.id)?;
    }
    assert_eq!(
        timeouts_inside_and_outside(&pooled)?,
        ["1234ms", "4321ms", "0", "0"].map(String::from)
    );
    assert_eq!(pooled.stats().setup_statements, 0, "no session SET");
    assert_eq!(prepared_statements(&pooled)?, "0");

    let control = config(false).open()?;
    assert_eq!(
        timeouts_inside_and_outside(&control)?,
        ["1234ms", "4321ms", "1234ms", "4321ms"].map(String::from)
    );
    Ok(())
}

/// The URL switch turns the same mode on.
#[test]
fn the_url_switch_is_the_same_mode() -> TestResult {
    let Some(db) = database()? else {
        return Ok(());
    };
    let direct = postgres::direct_url(db.url())?;
    let separator = if direct.contains('?') { '&' } else { '?' };
    let repo = Config::new(format!("{direct}{separator}pooler=transaction"))
        .max_size(1)
        .busy_timeout(Duration::from_millis(1234))
        .open()?;
    assert_eq!(
        timeouts_inside_and_outside(&repo)?,
        ["1234ms", "0", "0", "0"].map(String::from)
    );
    Ok(())
}

/// Reads and writes through two repositories of one database, alternating, so that
/// PgBouncer hands each the server connections the other used.
fn alternate(url: &str, on: bool) -> Result<Vec<String>, BoxError> {
    let mut errors = Vec::new();
    let open = || Config::new(url).max_size(1).transaction_pooler(on).open();
    let repos = match (open(), open()) {
        (Ok(first), Ok(second)) => [first, second],
        (first, second) => {
            errors.extend(first.err().map(|error| error.to_string()));
            errors.extend(second.err().map(|error| error.to_string()));
            return Ok(errors);
        }
    };
    for round in 0..10 {
        for repo in &repos {
            let result = repo
                .create_author(&NewAuthor::new(format!("Round {round}")))
                .and_then(|author| repo.author(author.id));
            if let Err(error) = result {
                errors.push(error.to_string());
            }
        }
    }
    Ok(errors)
}

/// The negative control: through PgBouncer in transaction mode, a repository without
/// the mode meets prepared statements of other clients (or misses its own); with the
/// mode, the same calls succeed.
#[test]
fn through_pgbouncer_the_mode_is_needed_and_enough() -> TestResult {
    let Some(db) = database()? else {
        return Ok(());
    };
    let Some(url) = through_pgbouncer(&db)? else {
        return Ok(());
    };
    let without = alternate(&url, false)?;
    assert!(
        without.iter().any(
            |error| error.contains("prepared statement \"__diesel_stmt_")
                && (error.contains("already exists") || error.contains("does not exist"))
        ),
        "without the mode: {without:?}"
    );
    assert_eq!(alternate(&url, true)?, Vec::<String>::new());
    Ok(())
}

/// Through PgBouncer with the mode, a lock held past the busy timeout is a busy error
/// (the `SET LOCAL lock_timeout` holds), and writes nothing.
#[test]
fn through_pgbouncer_a_lock_held_past_the_busy_timeout_is_busy() -> TestResult {
    let Some(db) = database()? else {
        return Ok(());
    };
    let Some(url) = through_pgbouncer(&db)? else {
        return Ok(());
    };
    let repo = Config::new(&url)
        .transaction_pooler(true)
        .busy_timeout(Duration::from_millis(200))
        .open()?;
    let author = repo.create_author(&NewAuthor::new("Locked"))?;
    let mut holder = postgres::connect(&url)?;
    holder.batch_execute(&format!(
        "BEGIN; UPDATE authors SET name = 'Held' WHERE id = {}",
        author.id.0
    ))?;
    let (sender, receiver) = mpsc::channel();
    let waiter = repo.clone();
    std::thread::spawn(move || {
        // The receiver may have given up; then nobody needs the result.
        let _ = sender.send(waiter.rename_author(author.id, "Waiter"));
    });
    let outcome = receiver.recv_timeout(HANG);
    holder.batch_execute("ROLLBACK")?;
    let error = match outcome {
        Ok(Err(error)) => error,
        Ok(Ok(renamed)) => return Err(format!("renamed under a lock: {renamed:?}").into()),
        Err(_) => return Err("waited for the lock past every timeout".into()),
    };
    assert!(error.is_busy(), "{error:?}");
    assert_eq!(
        repo.author(author.id)?.map(|a| a.name),
        Some("Locked".into())
    );
    Ok(())
}
