//! No wait without end, and no string of failed calls, when a PostgreSQL server or the
//! network in front of it fails: a server that accepts connections and never answers,
//! connections that die with or without a word, a server restart, and timeouts shorter
//! than a millisecond. PostgreSQL only (the `postgres` feature). The silent-server
//! tests need no server; the proxy and timeout tests use the shared test server
//! (`BOOKSHELF_TEST_POSTGRES_URL`); the restart test runs a throwaway cluster of its own.
#![cfg(feature = "postgres")]

mod common;
#[path = "common/pg_pair.rs"]
mod pg_pair;
#[path = "server_faults/proxy.rs"]
mod proxy;

use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use bookshelf::{Config, Error, NewAuthor, Repository};
use common::{Backend, BoxError, TestDb, TestResult};
use diesel::connection::SimpleConnection;
use proxy::Proxy;

/// A bound that only catches a hang: every wait below is meant to end within seconds.
const HANG: Duration = Duration::from_secs(30);

/// Calls made after a failure, to count how many of them fail.
const CALLS: usize = 12;

/// The pool sizes checked: one connection, a small pool, and the default (10).
const POOL_SIZES: [Option<u32>; 3] = [Some(1), Some(4), None];

/// Runs `f` on a thread of its own and returns what it returned and how long it took,
/// or an error if it has not returned within `limit` (the thread is then left behind).
fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<(T, Duration), BoxError> {
    let (done, outcome) = mpsc::channel();
    let started = Instant::now();
    thread::spawn(move || drop(done.send(f())));
    match outcome.recv_timeout(limit) {
        Ok(value) => Ok((value, started.elapsed())),
        Err(_) => Err(format!("still waiting after {limit:?}").into()),
    }
}

/// A migrated schema of its own on the shared server, or `None` (and a notice) when no
/// server is configured.
fn server_db() -> Result<Option<TestDb>, BoxError> {
    if common::postgres::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: the server fault test is skipped",
            common::POSTGRES_URL_VAR
        ));
        return Ok(None);
    }
    Ok(Some(TestDb::open(Backend::Postgres)?))
}

/// The address the shared server answers on, as the server itself reports it.
fn server_addr(db: &TestDb) -> Result<std::net::SocketAddr, BoxError> {
    match common::postgres::server_addr(db.url())? {
        Some((host, port)) => Ok(format!("{host}:{port}").parse()?),
        None => Err(format!("the proxy tests need {} over TCP", common::POSTGRES_URL_VAR).into()),
    }
}

/// Settings for the database of `db`, reached through `proxy` (libpq takes `host` and
/// `port` from the query over those of the URL).
fn through(db: &TestDb, proxy: &Proxy) -> Config {
    // The proxy relays to the server itself, past any pooler of the tests' URL.
    let url = common::postgres::libpq_url(db.url());
    let separator = if url.contains('?') { '&' } else { '?' };
    Config::new(format!(
        "{url}{separator}host=127.0.0.1&port={}",
        proxy.port()
    ))
}

fn sized(config: Config, size: Option<u32>) -> Config {
    match size {
        Some(size) => config.max_size(size),
        None => config,
    }
}

/// Has every connection of the pool checked out at once, so that all of them exist,
/// work, and are idle and recently used afterwards.
fn use_every_connection(repo: &Repository) -> TestResult {
    let size = repo.stats().pool_connections as usize;
    let all_out = Arc::new(Barrier::new(size));
    let users: Vec<_> = (0..size)
        .map(|_| {
            let (repo, all_out) = (repo.clone(), Arc::clone(&all_out));
            thread::spawn(move || {
                repo.transaction(|tx| {
                    all_out.wait();
                    tx.count_authors()
                })
            })
        })
        .collect();
    for user in users {
        user.join().map_err(|_| "a thread panicked")??;
    }
    assert_eq!(repo.stats().pool_idle_connections as usize, size);
    Ok(())
}

/// Makes [`CALLS`] calls and returns how many failed; fails unless every call after the
/// first success succeeds, and every failure is a database error.
fn failures_in_calls(repo: &Repository) -> Result<usize, BoxError> {
    let mut failed = 0;
    let mut succeeded = false;
    for call in 0..CALLS {
        match repo.count_authors() {
            Ok(_) => succeeded = true,
            Err(error) if succeeded => {
                return Err(format!("call {call} failed after one succeeded: {error}").into())
            }
            Err(Error::Database(_)) => failed += 1,
            Err(error) => return Err(format!("call {call}: unexpected {error:?}").into()),
        }
    }
    Ok(failed)
}

#[test]
fn open_gives_up_on_a_server_that_accepts_and_never_answers() -> TestResult {
    let silent = Proxy::silent()?;
    let url = format!("postgres://127.0.0.1:{}/test", silent.port());
    let config = Config::new(url).connection_timeout(Duration::from_secs(1));
    let (result, took) = within(HANG, move || config.open())?;
    eprintln!("open against a silent server, connection_timeout 1 s: gave up after {took:?}");
    match result {
        Err(Error::Connection(error)) if error.to_string().contains("timeout expired") => {}
        other => return Err(format!("expected a connect timeout, got {other:?}").into()),
    }
    assert_eq!(silent.accepted(), 1, "the server was reached once");
    Ok(())
}

#[test]
fn a_connect_timeout_in_the_url_wins_over_the_connection_timeout() -> TestResult {
    let silent = Proxy::silent()?;
    let url = format!(
        "postgres://127.0.0.1:{}/test?connect_timeout=2",
        silent.port()
    );
    let config = Config::new(url).connection_timeout(Duration::from_secs(3600));
    let (result, took) = within(HANG, move || config.open())?;
    eprintln!("open against a silent server, connect_timeout=2 in the URL: {took:?}");
    assert!(
        matches!(result, Err(Error::Connection(_))),
        "expected Error::Connection, got {result:?}"
    );
    Ok(())
}

#[test]
fn a_pool_whose_new_connection_meets_a_silent_server_recovers_when_it_answers() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let proxy = Proxy::to(server_addr(&db)?)?;
    // The connection that migrates reaches the server; the pool, which opens its one
    // connection on first use, meets silence.
    proxy.relay_next(1);
    let repo = through(&db, &proxy)
        .max_size(1)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(1))
        .open()?;
    let failed = repo.count_authors();
    assert!(
        matches!(failed, Err(Error::Pool(_))),
        "expected Error::Pool while the server is silent, got {failed:?}"
    );
    // The server answers new connections again; the silent one stays open and silent,
    // so only its connect timeout frees the pool's slot for another attempt.
    proxy.relay_all();
    let started = Instant::now();
    let mut pool_errors = 0;
    loop {
        match repo.count_authors() {
            Ok(_) => break,
            Err(Error::Pool(_)) if started.elapsed() < HANG => pool_errors += 1,
            Err(error) => return Err(format!("the pool did not recover: {error}").into()),
        }
    }
    eprintln!(
        "recovered {:?} after the server answered again ({pool_errors} more Error::Pool)",
        started.elapsed()
    );
    assert!(
        proxy.accepted() >= 3,
        "the silent attempt was given up and retried"
    );
    Ok(())
}

#[test]
fn a_connection_the_server_closed_is_replaced_before_use_without_a_round_trip() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let proxy = Proxy::to(server_addr(&db)?)?;
    let repo = through(&db, &proxy)
        .max_size(1)
        .health_check_after(Duration::from_secs(3600))
        .open()?;
    repo.create_author(&NewAuthor::new("Before"))?;
    proxy.close_relayed();
    let before = repo.stats();
    assert_eq!(repo.count_authors()?, 1);
    let after = repo.stats();
    assert_eq!(after.connections_opened, before.connections_opened + 1);
    assert_eq!(
        after.setup_statements,
        before.setup_statements + 1,
        "the new connection's SET, and no test of the closed one"
    );
    Ok(())
}

#[test]
fn an_idle_connection_that_died_without_a_word_is_tested_and_replaced() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let proxy = Proxy::to(server_addr(&db)?)?;
    let repo = through(&db, &proxy)
        .max_size(1)
        .health_check_after(Duration::from_millis(200))
        .open()?;
    repo.create_author(&NewAuthor::new("Before"))?;
    proxy.cut_relayed();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(repo.count_authors()?, 1);
    Ok(())
}

#[test]
fn after_connections_die_without_a_word_at_most_one_call_fails() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let mut failures = Vec::new();
    for size in POOL_SIZES {
        let proxy = Proxy::to(server_addr(&db)?)?;
        let repo = sized(through(&db, &proxy), size)
            .health_check_after(Duration::from_secs(3600))
            .open()?;
        use_every_connection(&repo)?;
        proxy.cut_relayed();
        let failed = failures_in_calls(&repo)?;
        eprintln!("max_size {size:?}, every connection cut: {failed} of {CALLS} calls failed");
        failures.push((size, failed));
    }
    assert!(
        failures.iter().all(|&(_, failed)| failed <= 1),
        "failed calls by max_size: {failures:?}"
    );
    Ok(())
}

#[test]
fn after_a_server_restart_no_call_fails() -> TestResult {
    if !pg_pair::programs_present("the server restart test").map_err(|e| e.to_string())? {
        return Ok(());
    }
    let cluster = pg_pair::Server::primary().map_err(|e| e.to_string())?;
    let repos = POOL_SIZES
        .iter()
        .map(|&size| {
            let repo = sized(Config::new(cluster.url("postgres")), size)
                .health_check_after(Duration::from_secs(3600))
                .open()?;
            use_every_connection(&repo)?;
            Ok((size, repo))
        })
        .collect::<Result<Vec<_>, BoxError>>()?;
    cluster.restart().map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    for (size, repo) in &repos {
        let failed = failures_in_calls(repo)?;
        eprintln!("max_size {size:?}, server restarted: {failed} of {CALLS} calls failed");
        failures.push((*size, failed));
    }
    assert!(
        failures.iter().all(|&(_, failed)| failed == 0),
        "failed calls by max_size: {failures:?}"
    );
    Ok(())
}

/// Runs `call` on `repo` while another session holds an exclusive lock on `authors`,
/// and returns its outcome; a call still waiting after [`HANG`] fails the test.
fn while_authors_are_locked<T: Send + 'static>(
    db: &TestDb,
    repo: &Repository,
    call: fn(&Repository) -> bookshelf::Result<T>,
) -> Result<bookshelf::Result<T>, BoxError> {
    let mut holder = common::postgres::connect(db.url())?;
    holder.batch_execute("BEGIN; LOCK TABLE authors IN ACCESS EXCLUSIVE MODE")?;
    let repo = repo.clone();
    let outcome = within(HANG, move || call(&repo));
    // Also frees a call that would have waited without end.
    holder.batch_execute("ROLLBACK")?;
    Ok(outcome?.0)
}

#[test]
fn a_busy_timeout_below_a_millisecond_does_not_wait_for_a_lock() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    for timeout in [Duration::ZERO, Duration::from_micros(500)] {
        let repo = db.config().busy_timeout(timeout).open()?;
        let result = while_authors_are_locked(&db, &repo, Repository::count_authors)?;
        assert!(
            result.as_ref().is_err_and(Error::is_busy),
            "busy_timeout {timeout:?}: expected a busy error, got {result:?}"
        );
    }
    Ok(())
}

#[test]
fn a_statement_timeout_below_a_millisecond_is_a_limit() -> TestResult {
    let Some(db) = server_db()? else {
        return Ok(());
    };
    let repo = db
        .config()
        .busy_timeout(Duration::from_secs(3600))
        .statement_timeout(Some(Duration::from_micros(1)))
        .open()?;
    let result = while_authors_are_locked(&db, &repo, Repository::count_authors)?;
    match &result {
        Err(Error::Database(error)) if error.to_string().contains("statement timeout") => Ok(()),
        other => Err(format!("expected a statement timeout, got {other:?}").into()),
    }
}
