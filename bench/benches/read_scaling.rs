//! Two reading threads against one: point lookups of random authors on one SQLite file,
//! one thread for a while, then two, round after round, for raw rusqlite (one
//! connection per thread, NOMUTEX, a cached statement) and for bookshelf (its pool).
//! Each round prints one JSON line per stack with both rates and their ratio, so that
//! the spread between rounds shows, not only a median.
//!
//! ```text
//! cargo bench --bench read_scaling -- [--rounds N] [--seconds S] [--authors A]
//!     [--process-exclusive]
//! ```
//!
//! `--process-exclusive` opens bookshelf's repository with
//! `Config::process_exclusive(true)` (the raw stack keeps SQLite's default VFS).

use std::time::{Duration, Instant};

use bookshelf::{AuthorId, Config, NewAuthor, Repository};
use rusqlite::Connection;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str =
    "usage: read_scaling [--rounds N] [--seconds S] [--authors A] [--process-exclusive]";

/// What one run measures.
struct Settings {
    rounds: usize,
    seconds: f64,
    authors: i64,
    process_exclusive: bool,
}

fn settings() -> BenchResult<Settings> {
    let mut settings = Settings {
        rounds: 5,
        seconds: 1.0,
        authors: 2000,
        process_exclusive: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--rounds" => settings.rounds = value()?.parse()?,
            "--seconds" => settings.seconds = value()?.parse()?,
            "--authors" => settings.authors = value()?.parse()?,
            "--process-exclusive" => settings.process_exclusive = true,
            // `cargo bench` passes `--bench` to every bench target.
            "--bench" => {}
            _ => return Err(format!("unknown argument {arg:?}; {USAGE}").into()),
        }
    }
    if settings.rounds == 0
        || settings.authors < 1
        || settings.seconds.is_nan()
        || settings.seconds <= 0.0
    {
        return Err(format!("rounds, authors and seconds must be positive; {USAGE}").into());
    }
    Ok(settings)
}

/// The ids a thread looks up: xorshift from a seed of its own, over 1..=authors.
fn draws(seed: u64, authors: i64, count: usize) -> Vec<i64> {
    let mut x = seed | 1;
    let modulus = u64::try_from(authors).unwrap_or(1);
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i64::try_from(x % modulus).unwrap_or(0) + 1
        })
        .collect()
}

/// Lookups per second of `threads` threads, each running `lookup` over its own draws
/// for `run`, all started together.
fn rate<L>(threads: usize, run: Duration, authors: i64, lookup: &L) -> BenchResult<f64>
where
    L: Fn(&[i64], Duration) -> BenchResult<u64> + Sync,
{
    let start = std::sync::Barrier::new(threads);
    let counts: Vec<BenchResult<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let start = &start;
                scope.spawn(move || {
                    let ids = draws(0x9E37_79B9_7F4A_7C15 ^ thread as u64, authors, 4096);
                    start.wait();
                    lookup(&ids, run)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a thread panicked".into()))
            })
            .collect()
    });
    let mut total = 0;
    for count in counts {
        total += count?;
    }
    Ok(total as f64 / run.as_secs_f64())
}

fn main() -> BenchResult<()> {
    let settings = settings()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scaling.db");
    let mut config = Config::for_path(&path);
    if settings.process_exclusive {
        config = config.process_exclusive(true);
    }
    let repo: Repository = config.open()?;
    let new: Vec<NewAuthor> = (1..=settings.authors)
        .map(|i| NewAuthor::new(format!("Author {i:06}")))
        .collect();
    repo.create_authors(&new)?;
    let run = Duration::from_secs_f64(settings.seconds);
    let sql = "SELECT id, name, version, created_at, updated_at FROM authors WHERE id = ?1";

    let raw = |ids: &[i64], run: Duration| -> BenchResult<u64> {
        let conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mut statement = conn.prepare_cached(sql)?;
        let (mut done, start) = (0, Instant::now());
        while start.elapsed() < run {
            for &id in ids.iter().take(64) {
                let row: (i64, String, i64, String, String) = statement.query_row([id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
                std::hint::black_box(row);
                done += 1;
            }
        }
        Ok(done)
    };
    let library = |ids: &[i64], run: Duration| -> BenchResult<u64> {
        let (mut done, start) = (0, Instant::now());
        while start.elapsed() < run {
            for &id in ids.iter().take(64) {
                std::hint::black_box(repo.author(AuthorId(id))?);
                done += 1;
            }
        }
        Ok(done)
    };

    println!(
        "{{\"settings\": {{\"rounds\": {}, \"seconds\": {}, \"authors\": {}, \"process_exclusive\": {}}}}}",
        settings.rounds, settings.seconds, settings.authors, settings.process_exclusive
    );
    for round in 1..=settings.rounds {
        for (stack, one, two) in [
            (
                "rusqlite",
                rate(1, run, settings.authors, &raw)?,
                rate(2, run, settings.authors, &raw)?,
            ),
            (
                "bookshelf",
                rate(1, run, settings.authors, &library)?,
                rate(2, run, settings.authors, &library)?,
            ),
        ] {
            println!(
                "{{\"round\": {round}, \"stack\": \"{stack}\", \"one_thread\": {one:.0}, \"two_threads\": {two:.0}, \"ratio\": {:.2}}}",
                two / one
            );
        }
    }
    Ok(())
}
