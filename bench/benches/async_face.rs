//! The async face against the sync API: what `AsyncRepository`'s hop onto tokio's
//! blocking pool costs a point lookup, what two (and eight) tasks reach against two
//! threads, and how much memory `stream_books()` holds at 1,000,000 books.
//!
//! ```text
//! cargo bench -p bookshelf-bench --bench async_face -- [--rounds N] [--seconds S]
//!     [--authors A] [--stream-authors A]
//! cargo bench -p bookshelf-bench --bench async_face -- --lookups N
//!     [--face sync|async|spawn-blocking|both] [--authors A]
//! ```
//!
//! One SQLite file in a temporary directory holds WORKLOAD.md's data at A authors (bulk
//! authors, bulk books, then the 1,000 single inserts), opened with bookshelf's
//! defaults; the sync [`Repository`] and the [`AsyncRepository`] made from it share its
//! pool. The async calls run on a multi-thread tokio runtime of two workers, each from a
//! task spawned on it (not from `block_on`, which would poll on the main thread). Every
//! round runs, the sync and the async side alternating which goes first:
//!
//! - `get_author_by_id`: WORKLOAD.md's 20,000 draws (SplitMix64, seed 42), the same
//!   for both sides; sync on the main thread, async awaited one after another in one task;
//!   between the two, the reference `spawn_blocking`: the sync call inside a bare
//!   `tokio::task::spawn_blocking` awaited from one task (tokio's hop without the face's
//!   queue);
//! - `spawn_blocking_noop`: 20,000 round trips of an empty closure through
//!   `spawn_blocking` from one task (tokio's hop alone);
//! - `concurrent_get_author`: sync on two OS threads, async in two tasks, each looking up
//!   its own draws (WORKLOAD.md's two lists) for S seconds;
//! - `concurrent_get_author_8_tasks`: the same in eight tasks (the first two on the
//!   same draws, the other six on draws of their own from 1..=A+1000).
//!
//! Then, with `--stream-authors` above 0 (default 100,000: 1,000,000 books, built once in
//! a temporary directory), each round runs four children of this binary, one per way of
//! reading every book, so that no peak RSS mixes with another's: `stream_books()` read
//! in a task, `for_each_book` through the async face, `list_books(Page::all())` through
//! the async face (the whole table in a `Vec`: the non-flat baseline) and the sync
//! `for_each_book`. Each child folds every book into a checksum (an FNV-1a hash of its
//! title, with its ids) and reports VmRSS right after opening the database, VmHWM at the
//! end, and its books/s.
//!
//! Every lookup's result is checked against the data outside the timed region (the
//! concurrent ops by a checksum of what each thread or task found), and every child's
//! book count and checksum against the data's; a failed check makes the run exit
//! non-zero.
//!
//! Output: one JSON line per (stack, op, round) on stdout, in WORKLOAD.md's form with
//! the stack first and the round last, then the medians and the within-round ratios.
//!
//! `--lookups N` instead does N point lookups (the `get_author_by_id` draws, repeated
//! as needed) on the sync side, then N on the async side (`--face` for one of them, or
//! the bare `spawn_blocking`), checked, and nothing else: run under `valgrind --tool=callgrind` with two values of
//! N, the difference of the totals divided by the difference of N is the instructions
//! a lookup takes (docs/benchmarks.md, "The async face").

#[allow(dead_code)]
#[path = "catalog_support/rng.rs"]
mod rng;
#[allow(dead_code)]
#[path = "catalog_support/workload.rs"]
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bookshelf::{AsyncRepository, AuthorId, Book, Config, NewAuthor, NewBook, Page, Repository};
use tokio::runtime::Runtime;

use rng::SplitMix64;
use workload::{
    author_name, book_title, check_same, AuthorRec, BenchResult, Folded, Model, Workload,
    BOOKS_PER_AUTHOR,
};

const USAGE: &str = "\
usage: cargo bench -p bookshelf-bench --bench async_face -- [options]

  --rounds N          rounds, the sync and async sides alternating first. Default 5.
  --seconds S         how long each concurrent op runs. Default 2.
  --authors A         authors of the lookups' database (ten books each). Default 2000.
  --stream-authors A  authors of the memory runs' database (ten books each); 0 skips
                      the memory runs. Default 100000 (1,000,000 books).
  --lookups N         only N checked lookups sync, then N async (for callgrind).
  --face F            with --lookups: sync, async, spawn-blocking (the sync call in a
                      bare tokio::task::spawn_blocking) or both (sync, then async).
                      Default both.";

/// The names of the two sides in the output.
const SYNC: &str = "bookshelf";
const ASYNC: &str = "bookshelf-async";
/// The reference: the sync call in a bare `spawn_blocking`.
const BARE: &str = "spawn_blocking";

/// The ops, in the order of the summary.
const GET: &str = "get_author_by_id";
const CONCURRENT: &str = "concurrent_get_author";
const CONCURRENT_8: &str = "concurrent_get_author_8_tasks";
/// `spawn_blocking` of an empty closure, awaited from a task: tokio's round trip alone.
const NOOP: &str = "spawn_blocking_noop";

/// Tokio's workers in every runtime here.
const WORKERS: usize = 2;

/// Tasks of the wider concurrent op.
const WIDE_TASKS: usize = 8;

/// Ids drawn for each of the wider op's own six tasks (cycled).
const WIDE_DRAWS: usize = 1 << 18;

/// Books created by one `create_books` call while building a database.
const BOOKS_PER_CALL: usize = 100_000;

/// The hidden argument that makes this binary a memory child.
const CHILD_FLAG: &str = "--memory-child";

/// The ways of reading every book that the memory children measure, in order: the
/// variant's name (its argument), its stack and its op in the output.
const READS: [(&str, &str, &str); 4] = [
    ("stream", ASYNC, "stream_books"),
    ("for-each-async", ASYNC, "for_each_book"),
    ("list-all-async", ASYNC, "list_books_all"),
    ("for-each-sync", SYNC, "for_each_book"),
];

struct Settings {
    rounds: usize,
    seconds: f64,
    authors: usize,
    stream_authors: usize,
    lookups: Option<usize>,
    face: Face,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Face {
    /// The sync [`Repository`], called from the thread itself.
    Sync,
    /// The [`AsyncRepository`], awaited from a task.
    Async,
    /// The sync [`Repository`] inside a bare `tokio::task::spawn_blocking`, awaited from
    /// a task: tokio's hop without the async face's queue (a reference).
    Bare,
    /// `--lookups` only: [`Face::Sync`], then [`Face::Async`].
    Both,
}

/// What this process does.
enum Mode {
    Help,
    Bench(Settings),
    Child { read: String, path: PathBuf },
}

fn parse_args() -> BenchResult<Mode> {
    let mut settings = Settings {
        rounds: 5,
        seconds: 2.0,
        authors: 2_000,
        stream_authors: 100_000,
        lookups: None,
        face: Face::Both,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--rounds" => settings.rounds = value()?.parse()?,
            "--seconds" => settings.seconds = value()?.parse()?,
            "--authors" => settings.authors = value()?.parse()?,
            "--stream-authors" => settings.stream_authors = value()?.parse()?,
            "--lookups" => settings.lookups = Some(value()?.parse()?),
            "--face" => {
                settings.face = match value()?.as_str() {
                    "sync" => Face::Sync,
                    "async" => Face::Async,
                    "spawn-blocking" => Face::Bare,
                    "both" => Face::Both,
                    other => return Err(format!("--face {other:?}\n{USAGE}").into()),
                }
            }
            CHILD_FLAG => {
                let read = value()?;
                let path = value()?.into();
                return Ok(Mode::Child { read, path });
            }
            // `cargo bench` passes `--bench` to every bench target.
            "--bench" => {}
            "--help" | "-h" => return Ok(Mode::Help),
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}").into()),
        }
    }
    if settings.rounds == 0
        || settings.authors == 0
        || settings.seconds.is_nan()
        || settings.seconds <= 0.0
        || settings.lookups == Some(0)
    {
        return Err(
            format!("rounds, seconds, authors and lookups must be positive\n{USAGE}").into(),
        );
    }
    Ok(Mode::Bench(settings))
}

fn main() -> ExitCode {
    let outcome = parse_args().and_then(|mode| match mode {
        Mode::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Mode::Child { read, path } => memory_child(&read, &path),
        Mode::Bench(settings) => match settings.lookups {
            Some(lookups) => lookups_only(&settings, lookups),
            None => bench(&settings),
        },
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("async_face: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A multi-thread runtime of [`WORKERS`] workers, with the time driver the async face
/// needs.
fn runtime() -> BenchResult<Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()?)
}

/// Fills the database at `path` with `authors` authors (bulk, in one call) and ten books
/// each (bulk, in calls of [`BOOKS_PER_CALL`]), then, with `single_inserts`,
/// WORKLOAD.md's 1,000 authors one by one; checks the ids they got (`i` for author
/// `i`, `k` for book `k`) and returns the model of what it holds.
fn build(repo: &Repository, work: &Workload, single_inserts: bool) -> BenchResult<Model> {
    let mut model = Model::new(work.authors);
    let new: Vec<NewAuthor> = work
        .names
        .iter()
        .map(|name| NewAuthor::new(name.as_str()))
        .collect();
    for (expected, author) in (1..).zip(repo.create_authors(&new)?) {
        if author.id.0 != expected {
            return Err(format!("author {expected} got id {}", author.id.0).into());
        }
        model.insert_author(expected, &author.name);
    }
    let mut expected = 1;
    for chunk in work.books.chunks(BOOKS_PER_CALL) {
        let new: Vec<NewBook> = chunk
            .iter()
            .map(|(author_id, title)| NewBook::new(AuthorId(*author_id), title.as_str()))
            .collect();
        for book in repo.create_books(&new)? {
            if book.id.0 != expected {
                return Err(format!("book {expected} got id {}", book.id.0).into());
            }
            expected += 1;
        }
    }
    model.load_books();
    if single_inserts {
        for (expected, name) in (work.authors as i64 + 1..).zip(&work.single_names) {
            let author = repo.create_author(&NewAuthor::new(name.as_str()))?;
            if author.id.0 != expected {
                return Err(format!("author {expected} got id {}", author.id.0).into());
            }
            model.insert_author(expected, name);
        }
    }
    Ok(model)
}

/// The data of the lookups: WORKLOAD.md's at A authors, with its draws.
struct Lookups {
    /// Keeps the database's directory until the end of the run.
    _dir: tempfile::TempDir,
    repo: Repository,
    work: Workload,
    model: Model,
}

fn lookups_database(authors: usize) -> BenchResult<Lookups> {
    let dir = tempfile::tempdir()?;
    let repo = Config::for_path(dir.path().join("async_face.db")).open()?;
    let work = Workload::new(authors);
    let model = build(&repo, &work, true)?;
    Ok(Lookups {
        _dir: dir,
        repo,
        work,
        model,
    })
}

/// Checks point-lookup results against the model.
fn check_found(
    what: &str,
    model: &Model,
    ids: &[i64],
    found: Vec<Option<bookshelf::Author>>,
) -> BenchResult<()> {
    let got: Vec<Option<AuthorRec>> = found
        .into_iter()
        .map(|author| {
            author.map(|a| AuthorRec {
                id: a.id.0,
                name: a.name,
            })
        })
        .collect();
    let expected: Vec<Option<AuthorRec>> = ids.iter().map(|&id| model.author(id)).collect();
    check_same(what, &got, &expected)
}

/// One point lookup per id on the sync API, from this thread.
fn get_sync(
    repo: &Repository,
    ids: &[i64],
) -> BenchResult<(Duration, Vec<Option<bookshelf::Author>>)> {
    let mut found = Vec::with_capacity(ids.len());
    let start = Instant::now();
    for &id in ids {
        found.push(repo.author(AuthorId(id))?);
    }
    Ok((start.elapsed(), found))
}

/// One point lookup per id on the async face, awaited one after another in one task
/// spawned on `runtime`.
fn get_async(
    runtime: &Runtime,
    repo: &AsyncRepository,
    ids: &[i64],
) -> BenchResult<(Duration, Vec<Option<bookshelf::Author>>)> {
    let repo = repo.clone();
    let ids = ids.to_vec();
    runtime.block_on(async move {
        tokio::spawn(async move {
            let mut found = Vec::with_capacity(ids.len());
            let start = Instant::now();
            for &id in &ids {
                found.push(repo.author(AuthorId(id)).await?);
            }
            BenchResult::Ok((start.elapsed(), found))
        })
        .await?
    })
}

/// One point lookup per id on the sync API inside a bare `spawn_blocking` each, awaited
/// one after another in one task spawned on `runtime`: tokio's hop, without the async
/// face's queue.
fn get_bare(
    runtime: &Runtime,
    repo: &Repository,
    ids: &[i64],
) -> BenchResult<(Duration, Vec<Option<bookshelf::Author>>)> {
    let repo = repo.clone();
    let ids = ids.to_vec();
    runtime.block_on(async move {
        tokio::spawn(async move {
            let mut found = Vec::with_capacity(ids.len());
            let start = Instant::now();
            for &id in &ids {
                let repo = repo.clone();
                found.push(tokio::task::spawn_blocking(move || repo.author(AuthorId(id))).await??);
            }
            BenchResult::Ok((start.elapsed(), found))
        })
        .await?
    })
}

/// `n` round trips of an empty closure through `spawn_blocking`, awaited one after
/// another in one task spawned on `runtime`.
fn noop_hops(runtime: &Runtime, n: usize) -> BenchResult<Duration> {
    runtime.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..n {
                tokio::task::spawn_blocking(|| ()).await?;
            }
            BenchResult::Ok(start.elapsed())
        })
        .await?
    })
}

/// Lookups on the sync API from one OS thread per draw list, all started together, for
/// `run`: the longest thread's time and what each found.
fn concurrent_sync(
    repo: &Repository,
    draws: &[Arc<[i64]>],
    run: Duration,
) -> BenchResult<(Duration, Vec<Folded>)> {
    let barrier = Barrier::new(draws.len());
    let results: Vec<BenchResult<(Duration, Folded)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = draws
            .iter()
            .map(|draws| {
                let (barrier, repo) = (&barrier, repo.clone());
                scope.spawn(move || {
                    let mut folded = Folded::default();
                    let mut next = draws.iter().cycle();
                    barrier.wait();
                    let start = Instant::now();
                    while start.elapsed() < run {
                        for &id in next.by_ref().take(16) {
                            let author = repo.author(AuthorId(id))?;
                            folded.add(id, author.as_ref().map(|a| (a.id.0, a.name.as_str())));
                        }
                    }
                    Ok((start.elapsed(), folded))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a lookup thread panicked".into()))
            })
            .collect()
    });
    gather(results)
}

/// Lookups on the async face from one task per draw list, spawned on `runtime` and
/// started together, for `run`: the longest task's time and what each found.
fn concurrent_async(
    runtime: &Runtime,
    repo: &AsyncRepository,
    draws: &[Arc<[i64]>],
    run: Duration,
) -> BenchResult<(Duration, Vec<Folded>)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(draws.len()));
    let results = runtime.block_on(async {
        let tasks: Vec<_> = draws
            .iter()
            .map(|draws| {
                let (barrier, repo, draws) =
                    (Arc::clone(&barrier), repo.clone(), Arc::clone(draws));
                tokio::spawn(async move {
                    let mut folded = Folded::default();
                    let mut next = draws.iter().cycle();
                    barrier.wait().await;
                    let start = Instant::now();
                    while start.elapsed() < run {
                        for &id in next.by_ref().take(16) {
                            let author = repo.author(AuthorId(id)).await?;
                            folded.add(id, author.as_ref().map(|a| (a.id.0, a.name.as_str())));
                        }
                    }
                    BenchResult::Ok((start.elapsed(), folded))
                })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.unwrap_or_else(|error| Err(error.into())));
        }
        results
    });
    gather(results)
}

fn gather(results: Vec<BenchResult<(Duration, Folded)>>) -> BenchResult<(Duration, Vec<Folded>)> {
    let mut longest = Duration::ZERO;
    let mut folded = Vec::with_capacity(results.len());
    for result in results {
        let (elapsed, found) = result?;
        longest = longest.max(elapsed);
        folded.push(found);
    }
    Ok((longest, folded))
}

/// Checks what each thread or task found against the model; the lookups done by all.
fn check_folded(
    what: &str,
    model: &Model,
    draws: &[Arc<[i64]>],
    folded: &[Folded],
) -> BenchResult<u64> {
    let mut lookups = 0;
    for (index, (draws, got)) in draws.iter().zip(folded).enumerate() {
        if *got != model.fold(draws, got.lookups) {
            return Err(format!("{what}: thread or task {index} found wrong authors").into());
        }
        lookups += got.lookups;
    }
    Ok(lookups)
}

/// One measurement of one round.
struct Line {
    stack: &'static str,
    op: &'static str,
    round: usize,
    n: u64,
    seconds: f64,
}

impl Line {
    fn ops_per_s(&self) -> f64 {
        self.n as f64 / self.seconds
    }

    fn print(&self) {
        println!(
            "{{\"stack\": \"{}\", \"op\": \"{}\", \"n\": {}, \"seconds\": {:.6}, \"ops_per_s\": {:.1}, \"round\": {}}}",
            self.stack,
            self.op,
            self.n,
            self.seconds,
            self.ops_per_s(),
            self.round
        );
    }
}

/// One memory child's report.
struct Memory {
    read: &'static str,
    round: usize,
    books: u64,
    seconds: f64,
    /// VmRSS right after opening the database, VmHWM at the end, in KiB.
    open_kib: u64,
    peak_kib: u64,
}

impl Memory {
    fn books_per_s(&self) -> f64 {
        self.books as f64 / self.seconds
    }

    fn print(&self, stack: &str, op: &str) {
        println!(
            "{{\"stack\": \"{stack}\", \"op\": \"{op}\", \"n\": {}, \"seconds\": {:.6}, \"ops_per_s\": {:.1}, \"round\": {}, \"rss_after_open_kib\": {}, \"peak_rss_kib\": {}}}",
            self.books,
            self.seconds,
            self.books_per_s(),
            self.round,
            self.open_kib,
            self.peak_kib
        );
    }
}

fn bench(settings: &Settings) -> BenchResult<()> {
    let run = Duration::from_secs_f64(settings.seconds);
    eprintln!(
        "async_face: {} rounds, {} s concurrent ops, A = {}, memory runs at A = {}; {} tokio workers",
        settings.rounds, settings.seconds, settings.authors, settings.stream_authors, WORKERS
    );
    let data = lookups_database(settings.authors)?;
    let runtime = runtime()?;
    let sync = data.repo.clone();
    let asynchronous = data.repo.clone().into_async();
    let get_ids = &data.work.get_ids;
    let two: Vec<Arc<[i64]>> = data
        .work
        .concurrent
        .iter()
        .map(|draws| Arc::from(draws.as_slice()))
        .collect();
    let all = (settings.authors + workload::SINGLE_INSERTS) as i64;
    let mut rng = SplitMix64::new(42 + WIDE_TASKS as u64);
    let mut wide = two.clone();
    while wide.len() < WIDE_TASKS {
        let draws: Vec<i64> = (0..WIDE_DRAWS).map(|_| rng.between(1, all)).collect();
        wide.push(Arc::from(draws));
    }

    // Unmeasured: the first calls open the statements and start the blocking threads.
    let warm: Vec<i64> = get_ids.iter().take(2_000).copied().collect();
    get_sync(&sync, &warm)?;
    get_async(&runtime, &asynchronous, &warm)?;
    get_bare(&runtime, &sync, &warm)?;
    noop_hops(&runtime, warm.len())?;
    concurrent_async(&runtime, &asynchronous, &wide, Duration::from_millis(100))?;

    let memory = match settings.stream_authors {
        0 => None,
        authors => Some(MemoryRuns::build(authors)?),
    };

    let mut lines = Vec::new();
    let mut memories = Vec::new();
    let model = &data.model;
    for round in 1..=settings.rounds {
        let sync_first = round % 2 == 1;
        let [first, second] = sides(sync_first);
        for side in [first, Face::Bare, second] {
            let (stack, (elapsed, found)) = match side {
                Face::Sync => (SYNC, get_sync(&sync, get_ids)?),
                Face::Bare => (BARE, get_bare(&runtime, &sync, get_ids)?),
                _ => (ASYNC, get_async(&runtime, &asynchronous, get_ids)?),
            };
            check_found(&format!("{stack} {GET}"), model, get_ids, found)?;
            let line = Line {
                stack,
                op: GET,
                round,
                n: get_ids.len() as u64,
                seconds: elapsed.as_secs_f64(),
            };
            line.print();
            lines.push(line);
        }
        let elapsed = noop_hops(&runtime, get_ids.len())?;
        let line = Line {
            stack: "tokio",
            op: NOOP,
            round,
            n: get_ids.len() as u64,
            seconds: elapsed.as_secs_f64(),
        };
        line.print();
        lines.push(line);
        for side in sides(sync_first) {
            let (stack, (elapsed, folded)) = match side {
                Face::Sync => (SYNC, concurrent_sync(&sync, &two, run)?),
                _ => (ASYNC, concurrent_async(&runtime, &asynchronous, &two, run)?),
            };
            let n = check_folded(&format!("{stack} {CONCURRENT}"), model, &two, &folded)?;
            let line = Line {
                stack,
                op: CONCURRENT,
                round,
                n,
                seconds: elapsed.as_secs_f64(),
            };
            line.print();
            lines.push(line);
        }
        let (elapsed, folded) = concurrent_async(&runtime, &asynchronous, &wide, run)?;
        let n = check_folded(&format!("{ASYNC} {CONCURRENT_8}"), model, &wide, &folded)?;
        let line = Line {
            stack: ASYNC,
            op: CONCURRENT_8,
            round,
            n,
            seconds: elapsed.as_secs_f64(),
        };
        line.print();
        lines.push(line);

        if let Some(memory) = &memory {
            for (read, stack, op) in READS {
                let measured = memory.measure(read, round)?;
                measured.print(stack, op);
                memories.push(measured);
            }
        }
    }
    print_summary(settings, &lines);
    if let Some(memory) = &memory {
        print_memory_summary(memory.books, &memories);
    }
    Ok(())
}

/// The order of the two sides in a round.
fn sides(sync_first: bool) -> [Face; 2] {
    if sync_first {
        [Face::Sync, Face::Async]
    } else {
        [Face::Async, Face::Sync]
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[middle],
        _ => (values[middle - 1] + values[middle]) / 2.0,
    }
}

fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &v| {
            (low.min(v), high.max(v))
        })
}

/// The rates of `stack`'s `op`, by round.
fn rates(lines: &[Line], stack: &str, op: &str) -> Vec<(usize, f64)> {
    lines
        .iter()
        .filter(|line| line.stack == stack && line.op == op)
        .map(|line| (line.round, line.ops_per_s()))
        .collect()
}

/// `f(a, b)` of the two rates of each round that has both.
fn within_rounds(a: &[(usize, f64)], b: &[(usize, f64)], f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    a.iter()
        .filter_map(|&(round, x)| {
            b.iter()
                .find(|&&(other, _)| other == round)
                .map(|&(_, y)| f(x, y))
        })
        .collect()
}

fn list(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_summary(settings: &Settings, lines: &[Line]) {
    println!(
        "\nasync face: medians of {} rounds (A = {}, concurrent ops {} s, {WORKERS} tokio workers)\n",
        settings.rounds, settings.authors, settings.seconds
    );
    println!(
        "{:<16} {:<30} {:>12} {:>10} {:>25}",
        "stack", "op", "ops/s", "µs/op", "range (ops/s)"
    );
    for (stack, op) in [
        (SYNC, GET),
        (BARE, GET),
        (ASYNC, GET),
        ("tokio", NOOP),
        (SYNC, CONCURRENT),
        (ASYNC, CONCURRENT),
        (ASYNC, CONCURRENT_8),
    ] {
        let values: Vec<f64> = rates(lines, stack, op)
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let (low, high) = range(&values);
        let rate = median(values);
        println!(
            "{stack:<16} {op:<30} {rate:>12.0} {:>10.2} {:>25}",
            1e6 / rate,
            format!("{low:.0}–{high:.0}")
        );
    }
    let get_sync = rates(lines, SYNC, GET);
    let get_bare = rates(lines, BARE, GET);
    let get_async = rates(lines, ASYNC, GET);
    let ratios = within_rounds(&get_async, &get_sync, |a, s| a / s);
    println!("\nwithin-round ratios (median; every round in order):");
    println!(
        "  {GET}: async/sync ops/s {:.3} ({})",
        median(ratios.clone()),
        list(&ratios, 3)
    );
    for (label, slow, fast) in [
        ("async face over sync", &get_async, &get_sync),
        ("bare spawn_blocking over sync", &get_bare, &get_sync),
        ("async face over bare spawn_blocking", &get_async, &get_bare),
    ] {
        let us = within_rounds(slow, fast, |a, s| 1e6 / a - 1e6 / s);
        let percent = within_rounds(slow, fast, |a, s| (s / a - 1.0) * 100.0);
        println!(
            "  {GET}, {label}: {:+.2} µs a call ({}), {:+.0}% ({})",
            median(us.clone()),
            list(&us, 2),
            median(percent.clone()),
            list(&percent, 0)
        );
    }
    let two_sync = rates(lines, SYNC, CONCURRENT);
    let two_async = rates(lines, ASYNC, CONCURRENT);
    let eight = rates(lines, ASYNC, CONCURRENT_8);
    for (label, a, b) in [
        (
            "concurrent_get_author: 2 tasks / 2 threads",
            &two_async,
            &two_sync,
        ),
        ("8 tasks / 2 threads", &eight, &two_sync),
        ("8 tasks / 2 tasks", &eight, &two_async),
        ("2 threads / 1 thread (sync)", &two_sync, &get_sync),
        ("2 tasks / 1 task (async)", &two_async, &get_async),
    ] {
        let ratios = within_rounds(a, b, |x, y| x / y);
        println!(
            "  {label}: {:.3} ({})",
            median(ratios.clone()),
            list(&ratios, 3)
        );
    }
}

fn print_memory_summary(books: u64, memories: &[Memory]) {
    println!("\nreading all {books} books: medians over the rounds (one child process each)\n");
    println!(
        "{:<32} {:>14} {:>14} {:>14} {:>12}  peak range (MiB)",
        "read", "after open MiB", "peak MiB", "peak−open MiB", "books/s"
    );
    for (read, stack, op) in READS {
        let of: Vec<&Memory> = memories.iter().filter(|m| m.read == read).collect();
        let mib = |kib: u64| kib as f64 / 1024.0;
        let open = median(of.iter().map(|m| mib(m.open_kib)).collect());
        let peaks: Vec<f64> = of.iter().map(|m| mib(m.peak_kib)).collect();
        let (low, high) = range(&peaks);
        let peak = median(peaks);
        let grown = median(of.iter().map(|m| mib(m.peak_kib - m.open_kib)).collect());
        let rate = median(of.iter().map(|m| m.books_per_s()).collect());
        println!(
            "{:<32} {open:>14.1} {peak:>14.1} {grown:>14.1} {rate:>12.0}  {low:.1}–{high:.1}",
            format!("{stack} {op}")
        );
    }
}

/// The database of the memory runs, and what every child must find in it.
struct MemoryRuns {
    _dir: tempfile::TempDir,
    path: PathBuf,
    books: u64,
    checksum: u64,
}

impl MemoryRuns {
    fn build(authors: usize) -> BenchResult<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("stream.db");
        let start = Instant::now();
        let work = Books::new(authors);
        {
            let repo = Config::for_path(&path).open()?;
            let new: Vec<NewAuthor> = (1..=authors as i64)
                .map(|i| NewAuthor::new(author_name(i)))
                .collect();
            for (expected, author) in (1..).zip(repo.create_authors(&new)?) {
                if author.id.0 != expected {
                    return Err(format!("author {expected} got id {}", author.id.0).into());
                }
            }
            let mut expected = 1;
            for chunk in work.books.chunks(BOOKS_PER_CALL) {
                let new: Vec<NewBook> = chunk
                    .iter()
                    .map(|(author_id, title)| NewBook::new(AuthorId(*author_id), title.as_str()))
                    .collect();
                for book in repo.create_books(&new)? {
                    if book.id.0 != expected {
                        return Err(format!("book {expected} got id {}", book.id.0).into());
                    }
                    expected += 1;
                }
            }
            repo.close()
                .map_err(|_| "the memory runs' database is still open elsewhere")?;
        }
        let checksum = work
            .books
            .iter()
            .zip(1..)
            .fold(0u64, |sum, ((author_id, title), id)| {
                sum.wrapping_add(book_hash(id, *author_id, title))
            });
        eprintln!(
            "async_face: {} books for the memory runs built in {:.1} s",
            work.books.len(),
            start.elapsed().as_secs_f64()
        );
        Ok(Self {
            _dir: dir,
            path,
            books: work.books.len() as u64,
            checksum,
        })
    }

    /// Runs the child that reads every book as `read` does, and checks what it found.
    fn measure(&self, read: &'static str, round: usize) -> BenchResult<Memory> {
        let output = Command::new(std::env::current_exe()?)
            .arg(CHILD_FLAG)
            .arg(read)
            .arg(&self.path)
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "memory child {read} failed ({}): {stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let report: serde_json::Value = serde_json::from_str(stdout.trim())?;
        let number = |field: &str| {
            report[field]
                .as_u64()
                .ok_or_else(|| format!("memory child {read}: no {field} in {stdout}"))
        };
        let (books, checksum) = (number("books")?, number("checksum")?);
        if books != self.books || checksum != self.checksum {
            return Err(format!(
                "memory child {read}: {books} books, checksum {checksum}; expected {} and {}",
                self.books, self.checksum
            )
            .into());
        }
        Ok(Memory {
            read,
            round,
            books,
            seconds: report["seconds"]
                .as_f64()
                .ok_or_else(|| format!("memory child {read}: no seconds in {stdout}"))?,
            open_kib: number("rss_after_open_kib")?,
            peak_kib: number("peak_rss_kib")?,
        })
    }
}

/// The books of WORKLOAD.md's data at A authors, `(author_id, title)` by book id,
/// without the rest of [`Workload`] (whose draws at A = 100,000 the memory runs do not
/// need).
struct Books {
    books: Vec<(i64, String)>,
}

impl Books {
    fn new(authors: usize) -> Self {
        let b = BOOKS_PER_AUTHOR as i64;
        Self {
            books: (1..=authors as i64)
                .flat_map(|i| (1..=b).map(move |j| (i, book_title(i, j))))
                .collect(),
        }
    }
}

/// The little work done per book by every reader: an FNV-1a hash of the title, mixed
/// with the book's ids.
fn book_hash(id: i64, author_id: i64, title: &str) -> u64 {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    for &byte in title.as_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3);
    }
    hash ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ author_id as u64
}

fn hash_of(book: &Book) -> u64 {
    book_hash(book.id.0, book.author_id.0, &book.title)
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| format!("no {field} in /proc/self/status"))?;
    let kib = line.trim().trim_end_matches("kB").trim();
    Ok(kib.parse()?)
}

/// A memory child: opens the database at `path` on a fresh runtime, notes VmRSS, reads
/// every book as `read` says, folding each into the checksum, and prints what it found
/// with VmRSS after opening and VmHWM at the end, as one JSON object.
fn memory_child(read: &str, path: &Path) -> BenchResult<()> {
    let runtime = runtime()?;
    let repo = runtime.block_on(Config::for_path(path).open_async())?;
    let open_kib = status_kib("VmRSS")?;
    let start = Instant::now();
    let (books, checksum) = match read {
        "stream" => {
            let repo = repo.clone();
            runtime.block_on(async move {
                tokio::spawn(async move {
                    let mut stream = repo.stream_books();
                    let (mut books, mut checksum) = (0u64, 0u64);
                    while let Some(book) = stream.next().await {
                        checksum = checksum.wrapping_add(hash_of(&book?));
                        books += 1;
                    }
                    BenchResult::Ok((books, checksum))
                })
                .await?
            })?
        }
        "for-each-async" => {
            let sum = Arc::new(AtomicU64::new(0));
            let sink = Arc::clone(&sum);
            let books = runtime.block_on(repo.for_each_book(move |book| {
                sink.fetch_add(hash_of(&book), Ordering::Relaxed);
            }))?;
            (books, sum.load(Ordering::Relaxed))
        }
        "list-all-async" => {
            let all = runtime.block_on(repo.list_books(Page::all()))?;
            let checksum = all
                .iter()
                .fold(0u64, |sum, book| sum.wrapping_add(hash_of(book)));
            (all.len() as u64, checksum)
        }
        "for-each-sync" => {
            let mut checksum = 0u64;
            let books = repo
                .repository()
                .for_each_book(|book| checksum = checksum.wrapping_add(hash_of(&book)))?;
            (books, checksum)
        }
        other => return Err(format!("unknown read {other:?}").into()),
    };
    let seconds = start.elapsed().as_secs_f64();
    let peak_kib = status_kib("VmHWM")?;
    println!(
        "{{\"read\": \"{read}\", \"books\": {books}, \"checksum\": {checksum}, \"seconds\": {seconds:.6}, \"rss_after_open_kib\": {open_kib}, \"peak_rss_kib\": {peak_kib}}}"
    );
    Ok(())
}

/// `--lookups N`: N checked point lookups on the sync side, then N on the async side,
/// and nothing else, for instruction counts.
fn lookups_only(settings: &Settings, lookups: usize) -> BenchResult<()> {
    let data = lookups_database(settings.authors)?;
    let runtime = runtime()?;
    let ids: Vec<i64> = data
        .work
        .get_ids
        .iter()
        .cycle()
        .take(lookups)
        .copied()
        .collect();
    let faces: &[Face] = match settings.face {
        Face::Both => &[Face::Sync, Face::Async],
        ref face => std::slice::from_ref(face),
    };
    for face in faces {
        let (stack, (elapsed, found)) = match face {
            Face::Sync => (SYNC, get_sync(&data.repo, &ids)?),
            Face::Bare => (BARE, get_bare(&runtime, &data.repo, &ids)?),
            _ => {
                let repo = data.repo.clone().into_async();
                (ASYNC, get_async(&runtime, &repo, &ids)?)
            }
        };
        check_found(stack, &data.model, &ids, found)?;
        eprintln!(
            "{stack}: {lookups} lookups in {:.3} s",
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}
