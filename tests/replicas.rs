//! Read replicas on real servers: a primary and a streaming standby of the test's own
//! (never the shared server), started in temporary directories and stopped by their
//! data directories. They run when PostgreSQL's server programs are installed; with
//! `BOOKSHELF_TEST_CLUSTERS=1` or `CI` set, missing programs fail the tests instead of
//! skipping them.
#![cfg(feature = "postgres")]

mod common;
#[path = "common/pg_pair.rs"]
mod pg_pair;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bookshelf::{Config, Consistency, EndpointStats, NewAuthor, Repository, Retry, Role, Token};
use common::TestResult;
use pg_pair::{Pair, TEST_DB};

/// A primary and a standby, or `None` (said on stderr) when the server programs are
/// missing and not required.
fn pair() -> Result<Option<Pair>, common::BoxError> {
    if !harness(pg_pair::programs_present("the replica suite"))? {
        return Ok(None);
    }
    Ok(Some(harness(Pair::start())?))
}

fn config(pair: &Pair) -> Config {
    Config::new(pair.primary.url(TEST_DB))
        .read_replica(pair.standby.url(TEST_DB))
        .max_size(4)
        .connection_timeout(Duration::from_secs(5))
}

/// Any harness error, as the tests' error type.
fn harness<T>(result: pg_pair::Result<T>) -> Result<T, common::BoxError> {
    result.map_err(|error| error.to_string().into())
}

/// The stats of the repository's server with `role`.
fn endpoint(repo: &Repository, role: Role) -> Result<EndpointStats, String> {
    let endpoints = repo.stats().endpoints;
    endpoints
        .iter()
        .find(|endpoint| endpoint.role == role)
        .cloned()
        .ok_or_else(|| format!("no {role:?} in {endpoints:?}"))
}

/// Reads served by the primary and by the replica so far.
fn reads(repo: &Repository) -> Result<(u64, u64), String> {
    Ok((
        endpoint(repo, Role::Primary)?.reads,
        endpoint(repo, Role::Replica)?.reads,
    ))
}

#[test]
fn plain_reads_are_served_by_the_standby_and_writes_by_the_primary() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    let repo = config(&pair)
        .replica_max_lag(Duration::from_secs(3600))
        .open()?;
    let author = repo.create_author(&NewAuthor::new("Before the pause"))?;
    harness(pair.wait_replayed())?;
    harness(pair.standby.pause_replay())?;
    // Written by another process: this repository's own reads need nothing new, so a
    // read that finds nothing was answered by the paused standby.
    let other = Repository::open(&pair.primary.url(TEST_DB))?;
    let unseen = other.create_author(&NewAuthor::new("After the pause"))?;

    let before = reads(&repo)?;
    for _ in 0..1000 {
        assert_eq!(repo.author(unseen.id)?, None, "served by the primary");
    }
    let after = reads(&repo)?;
    assert_eq!(after.0 - before.0, 0, "no plain read went to the primary");
    assert_eq!(after.1 - before.1, 1000);
    assert_eq!(
        repo.author(author.id)?.map(|found| found.name),
        Some(author.name)
    );

    // Writes go to the primary (the standby refuses every write).
    for i in 0..20 {
        repo.create_author(&NewAuthor::new(format!("Write {i}")))?;
    }
    assert_eq!(other.count_authors()?, 22);
    harness(pair.standby.resume_replay())?;
    Ok(())
}

#[test]
fn reads_that_must_see_a_write_wait_for_the_standby_or_go_to_the_primary() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    let wait = Duration::from_millis(150);
    let repo = config(&pair)
        .replica_max_lag(Duration::from_secs(3600))
        .replica_wait(wait)
        .open()?;
    harness(pair.wait_replayed())?;
    harness(pair.standby.pause_replay())?;

    // The stale control: a read that need not see the write is served stale.
    let writer = config(&pair).open()?;
    let fresh = writer.create_author(&NewAuthor::new("Fresh"))?;
    assert_eq!(repo.reading(Consistency::Any).author(fresh.id)?, None);
    // With the writer's token it is fresh, from the primary, after at most the wait.
    let token = writer.write_token().ok_or("no token")?;
    let started = Instant::now();
    let seen = repo.reading(Consistency::AtLeast(token)).author(fresh.id)?;
    assert_eq!(seen.map(|author| author.name), Some(fresh.name.clone()));
    assert!(started.elapsed() < wait + Duration::from_secs(1));
    // The repository's own writes are seen by its next reads (the default).
    let own = repo.create_author(&NewAuthor::new("Own"))?;
    assert!(repo.author(own.id)?.is_some());
    assert!(repo.reading(Consistency::Primary).author(own.id)?.is_some());
    // A token survives the trip through text (a header, a cookie).
    let carried: Token = repo.write_token().ok_or("no token")?.to_string().parse()?;
    assert!(repo
        .reading(Consistency::AtLeast(carried))
        .author(own.id)?
        .is_some());

    // Catch-up: once the standby has replayed, reads with the token go back to it.
    harness(pair.standby.resume_replay())?;
    harness(pair.wait_replayed())?;
    let before = reads(&repo)?;
    for _ in 0..100 {
        let seen = repo.reading(Consistency::AtLeast(token)).author(fresh.id)?;
        assert!(seen.is_some());
    }
    let after = reads(&repo)?;
    assert_eq!(
        after.0 - before.0,
        0,
        "every token read went to the standby"
    );
    assert_eq!(after.1 - before.1, 100);
    Ok(())
}

#[test]
fn a_thousand_writes_each_read_back_by_token_are_never_stale() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    let writer = config(&pair).open()?;
    let reader = config(&pair).open()?;
    let before = reads(&reader)?;
    for i in 0..1000 {
        let author = writer.create_author(&NewAuthor::new(format!("Pair {i}")))?;
        let id = author.id;
        let token = writer.write_token().ok_or("no token")?;
        let seen = reader.reading(Consistency::AtLeast(token)).author(id)?;
        assert_eq!(seen, Some(author), "write {i} read back stale");
        // And the writer's own next read, with the default consistency.
        let renamed = writer.rename_author(id, &format!("Renamed {i}"))?;
        assert_eq!(writer.author(id)?, Some(renamed));
    }
    let after = reads(&reader)?;
    eprintln!(
        "token reads: {} by the standby, {} by the primary",
        after.1 - before.1,
        after.0 - before.0
    );
    Ok(())
}

#[test]
fn reads_inside_a_transaction_see_its_writes() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    let repo = config(&pair).open()?;
    harness(pair.standby.pause_replay())?;
    let before = reads(&repo)?;
    repo.transaction(|tx| -> bookshelf::Result<()> {
        let author = tx.create_author(&NewAuthor::new("Inside"))?;
        assert_eq!(tx.author(author.id)?, Some(author));
        assert_eq!(tx.count_authors()?, 1);
        Ok(())
    })?;
    assert_eq!(
        reads(&repo)?,
        before,
        "a transaction's reads are not routed"
    );
    assert_eq!(
        repo.count_authors()?,
        1,
        "and the next read sees the commit"
    );
    harness(pair.standby.resume_replay())?;
    Ok(())
}

#[test]
fn a_standby_lagging_past_the_budget_serves_no_read() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    let budget = Duration::from_millis(300);
    let repo = config(&pair).replica_max_lag(budget).open()?;
    let seed = repo.create_author(&NewAuthor::new("Seed"))?;
    harness(pair.wait_replayed())?;
    harness(pair.standby.set_apply_delay(Duration::from_secs(3)))?;

    // A writer keeps the primary busy, so the standby receives and holds back.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (repo, stop, writes) = (repo.clone(), Arc::clone(&stop), Arc::clone(&writes));
        thread::spawn(move || -> bookshelf::Result<()> {
            while !stop.load(Ordering::Relaxed) {
                repo.create_author(&NewAuthor::new("Busy"))?;
                writes.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        })
    };
    // Past the budget, any measurement taken before the delay is too old to trust.
    thread::sleep(budget * 3);
    let any = repo.reading(Consistency::Any);
    let before = reads(&repo)?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut count = 0;
    while Instant::now() < deadline {
        assert!(any.author(seed.id)?.is_some());
        count += 1;
        thread::sleep(Duration::from_millis(5));
    }
    let lagging = reads(&repo)?;
    assert_eq!(
        lagging.1 - before.1,
        0,
        "no read went to the lagging standby"
    );
    assert_eq!(lagging.0 - before.0, count);

    stop.store(true, Ordering::Relaxed);
    writer.join().map_err(|_| "writer panicked")??;
    assert!(writes.load(Ordering::Relaxed) > 10);
    harness(pair.standby.set_apply_delay(Duration::ZERO))?;
    // Caught up again, it serves reads again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reads(&repo)?.1 == lagging.1 {
        assert!(Instant::now() < deadline, "the standby never came back");
        any.author(seed.id)?;
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn a_standby_going_down_mid_run_fails_no_read_and_is_used_again_once_back() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    let repo = config(&pair).open()?;
    let author = repo.create_author(&NewAuthor::new("Always there"))?;
    harness(pair.wait_replayed())?;

    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (repo, stop) = (repo.clone(), Arc::clone(&stop));
            thread::spawn(move || -> bookshelf::Result<u64> {
                let mut count = 0;
                while !stop.load(Ordering::Relaxed) {
                    let found = repo.author(author.id)?;
                    assert!(found.is_some());
                    count += 1;
                }
                Ok(count)
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    harness(pair.standby.stop())?;
    thread::sleep(Duration::from_millis(1500));
    let while_down = repo.stats();
    harness(pair.standby.start())?;
    // Back within the retry interval (a second) and a little.
    let deadline = Instant::now() + Duration::from_secs(10);
    let replica_reads_while_down = endpoint(&repo, Role::Replica)?.reads;
    while endpoint(&repo, Role::Replica)?.reads == replica_reads_while_down {
        assert!(
            Instant::now() < deadline,
            "reads never returned to the standby"
        );
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for reader in readers {
        total += reader.join().map_err(|_| "a reader panicked")??;
    }
    let replica = while_down
        .endpoints
        .iter()
        .find(|endpoint| endpoint.role == Role::Replica)
        .ok_or("no replica in the stats")?;
    assert!(replica.fallbacks > 0, "reads fell back while it was down");
    assert!(!replica.available, "marked down while down");
    eprintln!(
        "{total} reads, none failed; while down: {:?}",
        while_down.endpoints
    );
    Ok(())
}

#[test]
fn after_a_failover_writes_go_on_and_no_acknowledged_write_is_lost() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    // Synchronous replication: a write is acknowledged once the standby has it.
    harness(pair.primary.set("synchronous_standby_names", "*"))?;
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{TEST_DB}?target_session_attrs=read-write",
        pair.primary.port(),
        pair.standby.port()
    );
    let repo = Config::new(url)
        .max_size(2)
        .connection_timeout(Duration::from_secs(2))
        .open()?;

    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (repo, acknowledged, stop) =
            (repo.clone(), Arc::clone(&acknowledged), Arc::clone(&stop));
        thread::spawn(move || -> (u64, Option<Duration>) {
            let mut failures = 0;
            let mut first_failure: Option<Instant> = None;
            let mut gap = None;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let retry = Retry::default().attempts(1);
                match repo.retry_transaction(retry, |tx| {
                    tx.create_author(&NewAuthor::new(format!("Failover {i}")))
                }) {
                    Ok(author) => {
                        if let Some(at) = first_failure.take() {
                            gap.get_or_insert(at.elapsed());
                        }
                        if let Ok(mut list) = acknowledged.lock() {
                            list.push(author.id);
                        }
                    }
                    Err(error) => {
                        // A session ended while its commit waited for the standby
                        // may or may not have committed.
                        let unknown = matches!(error, bookshelf::Error::CommitUnknown(_));
                        assert!(error.is_retryable() || unknown, "{error:?}");
                        failures += 1;
                        first_failure.get_or_insert_with(Instant::now);
                        thread::sleep(Duration::from_millis(50));
                    }
                }
            }
            (failures, gap)
        })
    };
    thread::sleep(Duration::from_millis(500));
    harness(pair.primary.stop())?;
    harness(pair.standby.promote())?;
    let promoted = Instant::now();
    // Writes succeed again within a few seconds.
    let before = acknowledged.lock().map_err(|_| "poisoned")?.len();
    while acknowledged.lock().map_err(|_| "poisoned")?.len() < before + 20 {
        assert!(
            promoted.elapsed() < Duration::from_secs(10),
            "writes did not resume"
        );
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let (failures, gap) = writer.join().map_err(|_| "writer panicked")?;
    let acknowledged = acknowledged.lock().map_err(|_| "poisoned")?.clone();
    eprintln!(
        "{} writes acknowledged, {failures} failed during the failover, writes resumed {gap:?} after the first failure",
        acknowledged.len()
    );
    for id in &acknowledged {
        assert!(repo.author(*id)?.is_some(), "acknowledged {id} lost");
    }
    assert!(repo.count_authors()? >= i64::try_from(acknowledged.len())?);
    Ok(())
}

#[test]
fn a_replica_that_is_not_a_standby_is_refused_when_opening() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    let result = Config::new(pair.primary.url(TEST_DB))
        .read_replica(pair.primary.url(TEST_DB))
        .open();
    assert!(
        matches!(&result, Err(bookshelf::Error::Config { setting: "read_replica", message })
            if message.contains("not a standby")),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn a_replica_down_when_opening_is_tried_later() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    harness(pair.standby.stop())?;
    let repo = config(&pair).open()?;
    let author = repo.create_author(&NewAuthor::new("Opened without the standby"))?;
    assert!(repo.author(author.id)?.is_some());
    assert!(!endpoint(&repo, Role::Replica)?.available);
    harness(pair.standby.start())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoint(&repo, Role::Replica)?.reads == 0 {
        assert!(Instant::now() < deadline, "the standby was never used");
        assert!(repo.author(author.id)?.is_some());
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn a_replica_whose_connections_are_all_busy_is_not_taken_for_down() -> TestResult {
    let Some(pair) = pair()? else {
        return Ok(());
    };
    // One connection per pool, and no wait for it: a second reader finds the replica's
    // one connection in use, and reads on the primary instead. (The lag budget is out of
    // the way: a standby that has received a little WAL the primary wrote on its own,
    // and not replayed it yet, counts the age of its last replayed transaction as its
    // lag, and on a loaded machine that instant can be caught.)
    let repo = config(&pair)
        .max_size(1)
        .replica_wait(Duration::ZERO)
        .replica_max_lag(Duration::from_secs(3600))
        .open()?;
    let author = repo.create_author(&NewAuthor::new("Busy replica"))?;
    harness(pair.wait_replayed())?;
    let any = repo.reading(Consistency::Any);
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoint(&repo, Role::Replica)?.reads == 0 {
        assert!(Instant::now() < deadline, "the standby was never used");
        any.author(author.id)?;
        thread::sleep(Duration::from_millis(20));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (any, stop) = (any.clone(), Arc::clone(&stop));
            thread::spawn(move || -> bookshelf::Result<()> {
                while !stop.load(Ordering::Relaxed) {
                    assert!(any.author(author.id)?.is_some());
                }
                Ok(())
            })
        })
        .collect();
    let mut marked_down = 0;
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        if !endpoint(&repo, Role::Replica)?.available {
            marked_down += 1;
        }
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().map_err(|_| "a reader panicked")??;
    }
    let replica = endpoint(&repo, Role::Replica)?;
    assert_eq!(
        marked_down, 0,
        "a busy replica was taken for down: {replica:?}"
    );
    assert!(
        replica.fallbacks > 0,
        "the second reader fell back: {replica:?}"
    );
    Ok(())
}
