//! Every setting is checked when a repository is opened, before anything touches the
//! disk or the network: a value out of its range, or one that cannot apply to the
//! database the URL names, is `Error::Config` naming the setting, and nothing is
//! created. The values at the edges of each range open.

mod common;

use std::time::Duration;

use bookshelf::{Config, Error, NewAuthor};
use common::{BoxError, TestResult};

/// A URL of a file that does not exist yet, in a directory of its own.
fn new_file() -> Result<(tempfile::TempDir, String), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let url = path
        .to_str()
        .ok_or("temporary path is not UTF-8")?
        .to_owned();
    Ok((dir, url))
}

/// Expects `config` to be refused as an invalid `setting` whose message says `says`.
fn refused(config: Config, setting: &str, says: &str) -> TestResult {
    match config.open() {
        Err(Error::Config {
            setting: named,
            message,
        }) if named == setting => {
            assert!(message.contains(says), "{setting}: {message}");
            let shown = Error::Config {
                setting: named,
                message,
            }
            .to_string();
            assert!(
                shown.starts_with(&format!("invalid setting {setting}: ")),
                "{shown}"
            );
            Ok(())
        }
        other => Err(format!("expected Error::Config for {setting}, got {other:?}").into()),
    }
}

type Setting = (&'static str, &'static str, fn(Config) -> Config);

/// Each setting's out-of-range values; the first five are the ones that used to panic
/// in r2d2's assertions or in `Instant` arithmetic.
const OUT_OF_RANGE: [Setting; 17] = [
    ("max_size", "between 1 and 1024", |c| c.max_size(0)),
    ("min_idle", "at most max_size (10)", |c| {
        c.min_idle(Some(11))
    }),
    ("connection_timeout", "more than zero", |c| {
        c.connection_timeout(Duration::ZERO)
    }),
    ("connection_timeout", "at most one day", |c| {
        c.connection_timeout(Duration::MAX)
    }),
    ("busy_timeout", "at most 2147483647 ms", |c| {
        c.busy_timeout(Duration::MAX)
    }),
    ("max_size", "between 1 and 1024", |c| c.max_size(u32::MAX)),
    ("max_size", "between 1 and 1024", |c| c.max_size(1025)),
    ("min_idle", "at most max_size (2)", |c| {
        c.max_size(2).min_idle(Some(u32::MAX))
    }),
    ("connection_timeout", "at most one day", |c| {
        c.connection_timeout(Duration::from_secs(24 * 60 * 60) + Duration::from_nanos(1))
    }),
    // A nanosecond over: the duration is rounded up to whole milliseconds first.
    ("busy_timeout", "at most 2147483647 ms", |c| {
        c.busy_timeout(Duration::from_millis(i32::MAX as u64) + Duration::from_nanos(1))
    }),
    ("statement_timeout", "more than zero", |c| {
        c.statement_timeout(Some(Duration::ZERO))
    }),
    ("replica_max_lag", "more than zero", |c| {
        c.replica_max_lag(Duration::ZERO)
    }),
    ("replica_wait", "at most a minute", |c| {
        c.replica_wait(Duration::from_secs(61))
    }),
    ("page_cache_size", "at most 2147483647 KiB", |c| {
        c.page_cache_size(u64::MAX)
    }),
    // A byte over: the size is rounded up to whole KiB first.
    ("page_cache_size", "at most 2147483647 KiB", |c| {
        c.page_cache_size(i32::MAX as u64 * 1024 + 1)
    }),
    ("mmap_size", "at most 9223372036854775807 bytes", |c| {
        c.mmap_size(u64::MAX)
    }),
    ("mmap_size", "at most 9223372036854775807 bytes", |c| {
        c.mmap_size(i64::MAX as u64 + 1)
    }),
];

#[test]
fn a_setting_out_of_its_range_is_refused_by_name_and_creates_nothing() -> TestResult {
    let (dir, url) = new_file()?;
    for (setting, says, apply) in OUT_OF_RANGE {
        for url in [url.as_str(), ":memory:"] {
            refused(apply(Config::new(url)), setting, says)?;
        }
    }
    refused(
        Config::new(&url).statement_timeout(Some(Duration::MAX)),
        "statement_timeout",
        "at most",
    )?;
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "nothing created");
    Ok(())
}

#[test]
fn settings_are_checked_before_the_url_is_read_or_the_network_used() -> TestResult {
    // A URL that would be refused, or (with the feature) a server that is not there: the
    // setting is what is reported, so nothing was tried.
    refused(Config::new("mysql://db").max_size(0), "max_size", "between")?;
    refused(
        Config::new("postgres://127.0.0.1:1/none").connection_timeout(Duration::ZERO),
        "connection_timeout",
        "more than zero",
    )?;
    Ok(())
}

#[test]
fn the_edges_of_every_range_open() -> TestResult {
    let (_dir, url) = new_file()?;
    let edges: [fn(Config) -> Config; 9] = [
        |c| c.max_size(1),
        // No connection opened up front, so the largest pool is cheap to build.
        |c| c.max_size(1024).min_idle(Some(0)),
        |c| c.max_size(3).min_idle(Some(3)),
        |c| c.connection_timeout(Duration::from_secs(24 * 60 * 60)),
        |c| c.busy_timeout(Duration::ZERO),
        |c| c.busy_timeout(Duration::from_millis(i32::MAX as u64)),
        |c| {
            c.statement_timeout(Some(Duration::from_millis(i32::MAX as u64)))
                .health_check_after(Duration::MAX)
                .slow_query_threshold(Duration::MAX)
        },
        |c| c.page_cache_size(0).mmap_size(0),
        |c| {
            c.page_cache_size(i32::MAX as u64 * 1024)
                .mmap_size(i64::MAX as u64)
        },
    ];
    for (index, edge) in edges.into_iter().enumerate() {
        for url in [url.as_str(), ":memory:"] {
            let repo = edge(Config::new(url))
                .open()
                .map_err(|error| format!("edge {index} on {url}: {error}"))?;
            repo.create_author(&NewAuthor::new(format!("Author {index:06}")))?;
        }
    }
    Ok(())
}

#[test]
fn process_exclusive_is_refused_where_it_cannot_apply() -> TestResult {
    let (dir, url) = new_file()?;
    for (target, says) in [
        (":memory:".to_owned(), ":memory:"),
        ("file::memory:".to_owned(), ":memory:"),
        (format!("file:{url}?vfs=unix-dotfile"), "names one"),
        ("postgres://127.0.0.1:1/none".to_owned(), "PostgreSQL"),
    ] {
        let config = Config::new(&target).process_exclusive(true);
        if target.starts_with("postgres") && cfg!(not(feature = "postgres")) {
            // Without the feature the URL itself is refused first.
            assert!(matches!(config.open(), Err(Error::UnsupportedUrl(_))));
            continue;
        }
        refused(config, "process_exclusive", says)?;
    }
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "nothing created");
    // Left at its default, it never refuses.
    Config::new(":memory:").process_exclusive(false).open()?;
    Config::new(format!("file:{url}?vfs=unix-dotfile"))
        .process_exclusive(false)
        .open()?;
    Ok(())
}

#[test]
fn read_replicas_are_refused_for_sqlite_and_must_be_postgres_urls() -> TestResult {
    let (dir, url) = new_file()?;
    for primary in [url.as_str(), ":memory:"] {
        refused(
            Config::new(primary).read_replica("postgres://replica/app"),
            "read_replica",
            "applies to PostgreSQL",
        )?;
    }
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "nothing created");
    #[cfg(feature = "postgres")]
    for replica in ["replica.db", ":memory:", "mysql://replica/app", ""] {
        // Refused before anything connects: the primary's host does not exist.
        refused(
            Config::new("postgres://primary.invalid/app").read_replica(replica),
            "read_replica",
            "PostgreSQL URL",
        )?;
    }
    Ok(())
}

#[test]
fn a_config_shows_no_replica_password() {
    let config = Config::new("postgres://ann:s3cret@primary/app")
        .read_replica("postgres://ann:hunter2@replica/app?password=hunter3");
    let shown = format!("{config:?}");
    for secret in ["s3cret", "hunter2", "hunter3"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        shown.contains("postgres://ann:***@replica/app?password=***"),
        "{shown}"
    );
}
