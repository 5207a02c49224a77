//! SQLite's page cache and memory map: `Config::page_cache_size` and `Config::mmap_size`
//! reach every pooled connection as `PRAGMA cache_size` (in its KiB form) and
//! `PRAGMA mmap_size`, the defaults are applied, and SQLite's own cap on the memory map
//! is what a connection reports.

mod common;

use std::sync::Barrier;

use bookshelf::{Config, RawConnection, Repository};
use common::{BoxError, TestDb, TestResult};
use diesel::RunQueryDsl;

/// What `Config::page_cache_size` defaults to, in the KiB `PRAGMA cache_size` reports
/// (negated).
const DEFAULT_CACHE_KIB: i64 = 2_000;

/// What `Config::mmap_size` defaults to.
const DEFAULT_MMAP_SIZE: i64 = 0;

/// `SQLITE_MAX_MMAP_SIZE` of the bundled SQLite on the platforms that map files.
const SQLITE_MMAP_CAP: i64 = 0x7fff_0000;

#[derive(diesel::QueryableByName)]
struct CacheSize {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    cache_size: i64,
}

#[derive(diesel::QueryableByName)]
struct MmapSize {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    mmap_size: i64,
}

/// `PRAGMA cache_size` and `PRAGMA mmap_size` (`None` where it reports nothing, as on an
/// in-memory database) as the connection `repo` hands out reports them.
fn pragmas(repo: &Repository) -> bookshelf::Result<(i64, Option<i64>)> {
    repo.with_connection(|conn| match conn {
        RawConnection::Sqlite(conn) => {
            let cache: CacheSize = diesel::sql_query("PRAGMA cache_size").get_result(conn)?;
            let mmap: Vec<MmapSize> = diesel::sql_query("PRAGMA mmap_size").load(conn)?;
            Ok((cache.cache_size, mmap.first().map(|row| row.mmap_size)))
        }
        #[allow(unreachable_patterns)]
        _ => Err(diesel::result::Error::NotFound),
    })
}

/// The pragmas of each of the `size` connections of `repo`'s pool, read while all of
/// them are checked out at once (so that each reading is on a connection of its own).
fn on_every_connection(
    repo: &Repository,
    size: usize,
) -> Result<Vec<(i64, Option<i64>)>, BoxError> {
    let barrier = Barrier::new(size);
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..size)
            .map(|_| {
                scope.spawn(|| {
                    repo.with_connection(|conn| {
                        barrier.wait();
                        match conn {
                            RawConnection::Sqlite(conn) => {
                                let cache: CacheSize =
                                    diesel::sql_query("PRAGMA cache_size").get_result(conn)?;
                                let mmap: Vec<MmapSize> =
                                    diesel::sql_query("PRAGMA mmap_size").load(conn)?;
                                Ok((cache.cache_size, mmap.first().map(|row| row.mmap_size)))
                            }
                            #[allow(unreachable_patterns)]
                            _ => Err(diesel::result::Error::NotFound),
                        }
                    })
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|reader| {
                reader
                    .join()
                    .map_err(|_| BoxError::from("a reader panicked"))?
                    .map_err(BoxError::from)
            })
            .collect()
    })
}

#[test]
fn the_settings_reach_every_pooled_connection() -> TestResult {
    // A byte over 8 MiB is rounded up to the next KiB.
    let db = TestDb::open_with(common::Backend::Sqlite, |config| {
        config
            .max_size(3)
            .page_cache_size(8 * 1024 * 1024 + 1)
            .mmap_size(64 * 1024 * 1024)
    })?;
    let seen = on_every_connection(&db.repo, 3)?;
    assert_eq!(seen, vec![(-8193, Some(64 * 1024 * 1024)); 3]);
    assert_eq!(db.repo.stats().connections_opened, 3, "three connections");
    Ok(())
}

/// The defaults are SQLite's own, so this guards their values (a changed default fails
/// it); that the pragmas are sent at all is what the other tests guard.
#[test]
fn the_defaults_are_applied() -> TestResult {
    let db = TestDb::open_with(common::Backend::Sqlite, |config| config.max_size(2))?;
    let seen = on_every_connection(&db.repo, 2)?;
    assert_eq!(seen, vec![(-DEFAULT_CACHE_KIB, Some(DEFAULT_MMAP_SIZE)); 2]);
    Ok(())
}

#[test]
fn zero_turns_both_down() -> TestResult {
    let db = TestDb::open_with(common::Backend::Sqlite, |config| {
        config.page_cache_size(0).mmap_size(0)
    })?;
    assert_eq!(pragmas(&db.repo)?, (0, Some(0)));
    db.repo.count_authors()?;
    Ok(())
}

#[test]
fn sqlite_caps_the_memory_map_at_its_compile_time_limit() -> TestResult {
    let db = TestDb::open_with(common::Backend::Sqlite, |config| {
        config.mmap_size(i64::MAX as u64)
    })?;
    let (_, mmap) = pragmas(&db.repo)?;
    let cap = if cfg!(any(
        target_os = "linux",
        target_os = "windows",
        target_os = "macos",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "solaris"
    )) {
        SQLITE_MMAP_CAP
    } else {
        0
    };
    assert_eq!(mmap, Some(cap));
    db.repo.count_authors()?;
    Ok(())
}

#[test]
fn an_in_memory_database_takes_the_page_cache_and_maps_nothing() -> TestResult {
    let repo = Config::new(":memory:")
        .max_size(2)
        .page_cache_size(1024 * 1024)
        .mmap_size(64 * 1024 * 1024)
        .open()?;
    // memdb answers no `PRAGMA mmap_size`: there is no map.
    assert_eq!(on_every_connection(&repo, 2)?, vec![(-1024, None); 2]);
    repo.count_authors()?;
    Ok(())
}
