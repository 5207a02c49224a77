//! What only a server database has: connections the server drops, lock and statement
//! timeouts, and several processes migrating one database at once. PostgreSQL only
//! (the `postgres` feature and `BOOKSHELF_TEST_POSTGRES_URL`).
#![cfg(feature = "postgres")]

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use bookshelf::{Config, Error, NewAuthor, Repository};
use common::{Backend, BoxError, TestDb, TestResult};
use diesel::connection::SimpleConnection;

/// A migrated schema of its own, or `None` (and a note) when no server is configured.
fn server_db() -> Result<Option<TestDb>, BoxError> {
    if common::postgres::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: the PostgreSQL server test is skipped",
            common::POSTGRES_URL_VAR
        ));
        return Ok(None);
    }
    Ok(Some(TestDb::open(Backend::Postgres)?))
}

/// Settings for the database of `db`, its connections tagged with `application_name`
/// so that the test can find (and end) them on the server. They go to the server
/// itself (the address it reports), past any pooler in the tests' URL: a pooler would
/// hide a server session's end from its clients, and the session that last carried a
/// client's `application_name` may serve any client of the pool.
fn tagged(db: &TestDb, name: &str) -> Result<Config, BoxError> {
    let url = common::postgres::direct_url(db.url())?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(Config::new(format!(
        "{url}{separator}application_name={name}"
    )))
}

/// Ends every server session tagged `name`, as a server restart or a proxy would, once
/// there are no more than `pool` of them, and returns how many it ended. (The session
/// that migrated while the repository opened closed before the open returned, but its
/// server process may take a moment to leave `pg_stat_activity`: up to 5 s is waited.)
fn terminate(db: &TestDb, name: &str, pool: i64) -> Result<i64, BoxError> {
    let sessions =
        format!("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '{name}'");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while db.query_i64(&sessions)? > pool && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    db.query_i64(&format!(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE application_name = '{name}'"
    ))
}

#[test]
fn connections_in_steady_use_are_not_health_checked() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let repo = db.config().max_size(2).open()?;
    let before = repo.stats();
    for _ in 0..100 {
        repo.count_authors()?;
    }
    let after = repo.stats();
    assert_eq!(after.statements - before.statements, 100);
    assert_eq!(
        after.setup_statements, before.setup_statements,
        "no round trip was spent on checking connections"
    );
    Ok(())
}

#[test]
fn an_idle_connection_the_server_dropped_is_replaced_before_use() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let name = "bookshelf_idle_check";
    let repo = tagged(&db, name)?
        .max_size(1)
        .health_check_after(Duration::from_millis(200))
        .open()?;
    repo.create_author(&NewAuthor::new("Before"))?;
    let opened = repo.stats().connections_opened;
    assert_eq!(terminate(&db, name, 1)?, 1);
    // Idle for longer than `health_check_after`: the checkout tests the connection,
    // finds it gone and opens another, so the caller never sees the failure.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(repo.count_authors()?, 1);
    assert_eq!(repo.stats().connections_opened, opened + 1);
    Ok(())
}

#[test]
fn a_lock_held_past_the_busy_timeout_is_a_busy_error_that_writes_nothing() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let repo = db
        .config()
        .busy_timeout(Duration::from_millis(200))
        .open()?;
    let author = repo.create_author(&NewAuthor::new("Contended"))?;
    let holding = Arc::new(Barrier::new(2));
    let done = Arc::new(Barrier::new(2));
    let holder = {
        let (repo, holding, done) = (repo.clone(), Arc::clone(&holding), Arc::clone(&done));
        thread::spawn(move || -> bookshelf::Result<()> {
            repo.transaction(|tx| {
                tx.rename_author(author.id, "Holder")?;
                holding.wait();
                done.wait();
                Ok(())
            })
        })
    };
    holding.wait();
    let result = repo.rename_author(author.id, "Waiter");
    done.wait();
    holder.join().map_err(|_| "the holding thread panicked")??;
    match result {
        Err(error) if error.is_busy() => {}
        other => return Err(format!("expected a busy error, got {other:?}").into()),
    }
    assert_eq!(
        repo.author(author.id)?.map(|author| author.name),
        Some("Holder".to_owned())
    );
    Ok(())
}

#[test]
fn the_statement_timeout_cancels_a_statement_that_runs_too_long() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let repo = db
        .config()
        .busy_timeout(Duration::from_secs(30))
        .statement_timeout(Some(Duration::from_millis(200)))
        .open()?;
    // Another session holds the table; reading it waits, and the statement timeout
    // (not the far longer lock timeout) ends the wait.
    let mut blocker = common::postgres::connect(db.url())?;
    blocker.batch_execute("BEGIN; LOCK TABLE authors IN ACCESS EXCLUSIVE MODE")?;
    let result = repo.count_authors();
    blocker.batch_execute("ROLLBACK")?;
    match &result {
        Err(Error::Database(error)) if error.to_string().contains("statement timeout") => {}
        other => return Err(format!("expected a statement timeout, got {other:?}").into()),
    }
    assert!(result.as_ref().is_err_and(|error| !error.is_busy()));
    assert_eq!(
        repo.count_authors()?,
        0,
        "the connection is usable afterwards"
    );
    Ok(())
}

/// Openers racing on one empty database: each round, every opener must either migrate
/// it or find it migrated. (An opener that read the migrations table in an older
/// snapshot than the catalog once took the tables just created for another
/// application's and refused the database.)
#[test]
fn repositories_opening_one_new_database_at_once_migrate_it_once() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    const ROUNDS: usize = 25;
    const OPENERS: usize = 4;
    for _ in 0..ROUNDS {
        // Back to an empty schema: every repository below finds every migration pending.
        while !db.repo.applied_migrations()?.is_empty() {
            db.repo.revert_last_migration()?;
        }
        db.execute_raw("DROP TABLE __diesel_schema_migrations")?;
        let start = Arc::new(Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (config, start) = (db.config().max_size(1), Arc::clone(&start));
                thread::spawn(move || -> bookshelf::Result<Repository> {
                    start.wait();
                    config.open()
                })
            })
            .collect();
        for opener in openers {
            let repo = opener.join().map_err(|_| "an opening thread panicked")??;
            assert!(repo.pending_migrations()?.is_empty());
        }
        assert_eq!(
            db.query_i64("SELECT count(*) AS n FROM __diesel_schema_migrations")?,
            3
        );
    }
    Ok(())
}

/// A server that turned read-only under the pool (a primary demoted by a failover; here
/// the one pooled session made read-only): the connection that met it is discarded, so
/// the next one can find the new primary, and the write is retryable.
#[test]
fn a_connection_that_meets_a_read_only_server_is_discarded() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    // Straight to the server: the session setting that plays the demoted primary would,
    // through a pooler, stay on a server connection that the replacement gets too.
    let repo = Config::new(common::postgres::direct_url(db.url())?)
        .max_size(1)
        .open()?;
    repo.with_connection(|raw| match raw {
        bookshelf::RawConnection::Postgres(conn) => {
            conn.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        }
        _ => Err(diesel::result::Error::NotFound),
    })?;
    let opened = repo.stats().connections_opened;
    let refused = repo.create_author(&NewAuthor::new("Refused"));
    assert!(
        matches!(&refused, Err(error) if error.is_read_only() && error.is_retryable()),
        "{refused:?}"
    );
    let author = repo.create_author(&NewAuthor::new("Accepted"))?;
    assert_eq!(
        repo.stats().connections_opened,
        opened + 1,
        "a new connection"
    );
    assert_eq!(repo.author(author.id)?, Some(author));
    Ok(())
}

/// The statements a connection has prepared by name and keeps (diesel's cache).
fn prepared_statements(repo: &Repository) -> bookshelf::Result<i64> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    repo.with_connection(|raw| match raw {
        bookshelf::RawConnection::Postgres(conn) => {
            diesel::sql_query("SELECT count(*) AS n FROM pg_prepared_statements")
                .get_result::<Count>(conn)
                .map(|count| count.n)
        }
        _ => Err(diesel::result::Error::NotFound),
    })
}

/// Behind PgBouncer before 1.21 in transaction mode, a statement prepared by name on one
/// server connection is missing (or its name taken) on the next: with the statement
/// cache off, a connection prepares nothing by name.
#[test]
fn without_the_statement_cache_no_statement_is_prepared_by_name() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let exercise = |repo: &Repository| -> bookshelf::Result<()> {
        let author = repo.create_author(&NewAuthor::new("Cached or not"))?;
        for _ in 0..3 {
            repo.author(author.id)?;
            repo.books_by_author(author.id)?;
        }
        Ok(())
    };
    // Straight to the server: behind a pooler the cached control could not work.
    let direct = common::postgres::direct_url(db.url())?;
    let cached = Config::new(&direct).max_size(1).open()?;
    exercise(&cached)?;
    assert!(
        prepared_statements(&cached)? > 0,
        "the control: the cache keeps them"
    );
    let uncached = Config::new(&direct)
        .max_size(1)
        .statement_cache(false)
        .open()?;
    exercise(&uncached)?;
    assert_eq!(prepared_statements(&uncached)?, 0);
    Ok(())
}
