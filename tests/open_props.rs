//! Property test: no setting and no URL makes `Config::open` panic. Random settings
//! (durations from zero to `Duration::MAX`, sizes from 0 to `u32::MAX`, byte sizes from
//! 0 to `u64::MAX`, the edges of
//! every range included) and random URLs (arbitrary strings, and strings built from the
//! prefixes and URI parameters the crate reads) either open a repository that works or
//! fail with a typed error. A panic on any thread (r2d2's workers included) fails it.
//!
//! It runs in a temporary current directory, so the files random URLs name are created
//! there; the URLs never hold a path separator, so they cannot name a file elsewhere,
//! and the only server URL is one on 127.0.0.1 whose port is closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bookshelf::{Config, Error};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};

/// Panics seen on any thread since the test began.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// A PostgreSQL URL that connects nowhere: port 1 on the loopback is closed.
const CLOSED_SERVER: &str = "postgres://127.0.0.1:1/none?connect_timeout=1";

fn duration() -> impl Strategy<Value = Duration> {
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    const MAX_MILLIS: Duration = Duration::from_millis(i32::MAX as u64);
    prop_oneof![
        2 => select(vec![
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(500),
            DAY,
            DAY + Duration::from_nanos(1),
            MAX_MILLIS,
            MAX_MILLIS + Duration::from_nanos(1),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ]),
        4 => (0..5_000u64).prop_map(Duration::from_millis),
        1 => (any::<u64>(), 0..1_000_000_000u32)
            .prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
    ]
}

fn size() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => select(vec![0, 1, 2, 1024, 1025, u32::MAX]),
        4 => 0..=4u32,
        1 => 0..=1100u32,
        1 => any::<u32>(),
    ]
}

/// Byte sizes for the page cache and the memory map: the edges of their ranges, sizes an
/// application would set, and any `u64`.
fn bytes() -> impl Strategy<Value = u64> {
    const MAX_CACHE: u64 = i32::MAX as u64 * 1024;
    const MAX_MMAP: u64 = i64::MAX as u64;
    prop_oneof![
        1 => select(vec![
            0,
            1,
            1023,
            1024,
            MAX_CACHE,
            MAX_CACHE + 1,
            MAX_MMAP,
            MAX_MMAP + 1,
            u64::MAX,
        ]),
        // Mostly in range, so that both kinds of target still open often.
        10 => 0..=(64u64 << 20),
        1 => any::<u64>(),
    ]
}

/// `text` with every path separator (and every escape decoding to one) made harmless.
fn confined(text: &str) -> String {
    let mut confined = text.replace(['/', '\\'], "_");
    for escape in ["%2f", "%2F", "%5c", "%5C"] {
        confined = confined.replace(escape, "%5F");
    }
    confined
}

fn url() -> impl Strategy<Value = String> {
    let prefix = select(vec![
        "",
        "sqlite://",
        "sqlite:",
        "file:",
        "file://",
        "file://localhost",
        ":memory:",
        "sqlite::memory:",
        "file::memory:",
        " ",
        "mysql://",
    ]);
    let name = prop::collection::vec(
        select(vec![
            "x.db", "db", ".", "..", "%41", "%00", "%2", "%25", "%3f", "%23", "?", "#", "&", "=",
            " ", ":", ":memory:", "é", "\u{0}", "%ff",
        ]),
        0..4,
    )
    .prop_map(|parts| parts.concat());
    let param = select(vec![
        "mode=ro",
        "mode=rw",
        "mode=rwc",
        "mode=memory",
        "mode=",
        "mode=bogus",
        "vfs=unix-excl",
        "vfs=unix-dotfile",
        "vfs=memdb",
        "vfs=nope",
        "vfs=",
        "cache=shared",
        "cache=private",
        "cache=x",
        "immutable=1",
        "nolock=1",
        "psow=0",
        "foo=bar",
        "",
    ]);
    let query = || {
        prop::option::of(prop::collection::vec(param.clone(), 0..4).prop_map(|p| p.join("&")))
            .prop_map(|query| query.map(|query| format!("?{query}")).unwrap_or_default())
    };
    let built = (prefix, name, query())
        .prop_map(|(prefix, name, query)| format!("{prefix}{}{query}", confined(&name)));
    let memory = (
        select(vec![":memory:", "sqlite::memory:", "file::memory:"]),
        query(),
    )
        .prop_map(|(memory, query)| format!("{memory}{query}"));
    prop_oneof![
        6 => built,
        2 => memory,
        3 => any::<String>().prop_map(|text| confined(&text)),
        1 => Just(CLOSED_SERVER.to_owned()),
    ]
    // Whatever came out, a server URL connects only to the closed loopback port.
    .prop_map(|url| {
        let trimmed = url.trim_start();
        if trimmed.starts_with("postgres") {
            CLOSED_SERVER.to_owned()
        } else {
            url
        }
    })
}

#[derive(Debug, Clone)]
struct Settings {
    max_size: u32,
    min_idle: Option<u32>,
    connection_timeout: Duration,
    busy_timeout: Duration,
    slow_query_threshold: Duration,
    statement_timeout: Option<Duration>,
    health_check_after: Duration,
    page_cache_size: u64,
    mmap_size: u64,
    process_exclusive: bool,
    run_migrations: bool,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        (size(), prop::option::of(size()), duration(), duration()),
        (duration(), prop::option::of(duration()), duration()),
        (prop::bool::weighted(0.2), any::<bool>()),
        (bytes(), bytes()),
    )
        .prop_map(
            |((max_size, min_idle, connection_timeout, busy_timeout), more, flags, memory)| {
                let (slow_query_threshold, statement_timeout, health_check_after) = more;
                Settings {
                    max_size,
                    min_idle,
                    connection_timeout,
                    busy_timeout,
                    slow_query_threshold,
                    statement_timeout,
                    health_check_after,
                    page_cache_size: memory.0,
                    mmap_size: memory.1,
                    process_exclusive: flags.0,
                    run_migrations: flags.1,
                }
            },
        )
}

fn config(url: &str, settings: &Settings) -> Config {
    Config::new(url)
        .max_size(settings.max_size)
        .min_idle(settings.min_idle)
        .connection_timeout(settings.connection_timeout)
        .busy_timeout(settings.busy_timeout)
        .slow_query_threshold(settings.slow_query_threshold)
        .statement_timeout(settings.statement_timeout)
        .health_check_after(settings.health_check_after)
        .page_cache_size(settings.page_cache_size)
        .mmap_size(settings.mmap_size)
        .process_exclusive(settings.process_exclusive)
        .run_migrations(settings.run_migrations)
}

/// Every variant `open` may fail with: any of them is a typed answer.
fn typed(error: &Error) -> bool {
    matches!(
        error,
        Error::Config { .. }
            | Error::UnsupportedUrl(_)
            | Error::Connection(_)
            | Error::Migration(_)
            | Error::Pool(_)
            | Error::Database(_)
    )
}

#[test]
fn no_setting_and_no_url_makes_open_panic() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let checkout = std::env::current_dir()?;
    std::env::set_current_dir(scratch.path())?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));

    let runner_config = RunnerConfig {
        cases: 1_000,
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let mut runner = TestRunner::new_with_rng(
        runner_config,
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let outcomes = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let count = |outcome: String| *outcomes.borrow_mut().entry(outcome).or_default() += 1;
    let result = runner.run(&(url(), settings()), |(url, settings)| {
        let opened = std::panic::catch_unwind(|| config(&url, &settings).open());
        prop_assert!(
            opened.is_ok(),
            "open panicked for {url:?} with {settings:?}"
        );
        match opened.ok() {
            Some(Ok(repo)) => {
                count(format!(
                    "opened (in memory: {})",
                    format!("{repo:?}").contains("in_memory: true")
                ));
                // An open repository answers, and closes when dropped.
                let counted = repo.count_authors();
                prop_assert!(counted.as_ref().map_or_else(typed, |_| true), "{counted:?}");
            }
            Some(Err(error)) => {
                count(
                    format!("{error:?}")
                        .split(['(', ' ', '{'])
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
                prop_assert!(typed(&error), "{error:?}");
            }
            None => {}
        }
        prop_assert_eq!(
            PANICS.load(Ordering::SeqCst),
            0,
            "a thread panicked for {:?}",
            url
        );
        Ok(())
    });
    std::env::set_current_dir(checkout)?;
    let outcomes = outcomes.into_inner();
    println!("{outcomes:?}");
    result?;
    // Both kinds of target opened, so the settings in range were exercised on each.
    for target in ["opened (in memory: true)", "opened (in memory: false)"] {
        assert!(
            outcomes.get(target).is_some_and(|&n| n >= 10),
            "{outcomes:?}"
        );
    }
    Ok(())
}
