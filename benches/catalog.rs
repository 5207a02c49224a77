//! The catalog benchmark: the workload of `WORKLOAD.md` (A authors, ten books each,
//! eleven operations in a fixed order) run on three stacks one after another, each on a
//! fresh database file in its own temporary directory:
//!
//! - `bookshelf`: this crate's public API, as an application calls it;
//! - `diesel`: plain, idiomatic Diesel on an r2d2 pool, no repository, on bookshelf's
//!   own schema (its SQL migrations, applied with plain `diesel_migrations`) and reading
//!   and writing all five book columns through models with diesel's default derives
//!   (so a slice of rows is inserted one row per statement, as plain diesel does on
//!   SQLite): bookshelf against diesel measures the repository, not the schema;
//! - `rusqlite`: raw SQL written for speed (cached statements, 256-row bulk inserts) on
//!   the workload's own, smaller schema (three book columns, no CHECK constraints):
//!   the practical limit.
//!
//! Every stack gets the same random draws (SplitMix64, seed 42). Each operation's
//! results are checked outside the timed region (the whole database after each write,
//! every row returned by each read); a failed check makes the run exit non-zero.
//!
//! Output: one JSON line per operation and stack on stdout, in WORKLOAD.md's form with a
//! `"stack"` field, then a table of ops/s per stack with bookshelf's ratios to the other
//! two, and optionally an SVG chart.
//!
//! ```text
//! cargo bench --bench catalog -- [--authors N] [--stack NAME[,NAME..]] [--runs N]
//!                                [--chart PATH] [--json-only]
//! cargo bench --bench catalog -- --from FILE [--from FILE ..] [--chart PATH]
//! ```
//!
//! `--runs N` repeats the whole workload N times (the stacks interleaved) and the table
//! shows medians; `--from` reads JSON lines saved from earlier runs instead of running,
//! and prints (and charts) their medians.

#[path = "catalog_support/chart.rs"]
mod chart;
#[path = "catalog_support/report.rs"]
mod report;
#[path = "catalog_support/rng.rs"]
mod rng;
#[path = "catalog_support/runner.rs"]
mod runner;
#[path = "catalog_support/stack_bookshelf.rs"]
mod stack_bookshelf;
#[path = "catalog_support/stack_diesel.rs"]
mod stack_diesel;
#[path = "catalog_support/stack_rusqlite.rs"]
mod stack_rusqlite;
#[path = "catalog_support/verify.rs"]
mod verify;
#[path = "catalog_support/workload.rs"]
mod workload;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use report::{Measurement, Summary, STACKS};
use workload::{BenchResult, Stack, Workload};

const USAGE: &str = "\
usage: cargo bench --bench catalog -- [options]

  --authors N        scale A (authors; 10 books each). Default 2000.
  --stack NAME       bookshelf, diesel, rusqlite, or a comma-separated list. Default: all.
  --runs N           run the whole workload N times, stacks interleaved; the table shows
                     medians. Default 1.
  --chart PATH       write an SVG bar chart (log scale) of the results to PATH.
  --json-only        print only the JSON lines (no table).
  --from FILE        do not run: read JSON lines saved from earlier runs (repeatable) and
                     print the table and chart of their medians.";

struct Args {
    authors: usize,
    stacks: Vec<&'static str>,
    runs: usize,
    chart: Option<PathBuf>,
    json_only: bool,
    from: Vec<PathBuf>,
}

fn parse_args() -> BenchResult<Option<Args>> {
    let mut args = Args {
        authors: 2_000,
        stacks: STACKS.to_vec(),
        runs: 1,
        chart: None,
        json_only: false,
        from: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--authors" => args.authors = value()?.parse()?,
            "--runs" => args.runs = value()?.parse()?,
            "--chart" => args.chart = Some(value()?.into()),
            "--from" => args.from.push(value()?.into()),
            "--json-only" => args.json_only = true,
            "--stack" => {
                let list = value()?;
                args.stacks = Vec::new();
                for name in list.split(',').map(str::trim) {
                    match STACKS.iter().find(|&&s| s == name) {
                        Some(&stack) => args.stacks.push(stack),
                        None if name == "all" => args.stacks.extend(STACKS),
                        None => return Err(format!("unknown stack {name:?}").into()),
                    }
                }
            }
            // Cargo passes `--bench` to every benchmark binary.
            "--bench" => {}
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    if args.authors == 0 || args.runs == 0 {
        return Err("--authors and --runs must be at least 1".into());
    }
    Ok(Some(args))
}

fn open_stack(name: &str, path: &Path) -> BenchResult<Box<dyn Stack>> {
    Ok(match name {
        "bookshelf" => Box::new(stack_bookshelf::BookshelfStack::open(path)?),
        "diesel" => Box::new(stack_diesel::DieselStack::open(path)?),
        _ => Box::new(stack_rusqlite::RusqliteStack::open(path)?),
    })
}

/// Runs one stack on a fresh database; `Err` for a failed check or any error.
fn run_stack(name: &str, work: &Workload, emit: &mut dyn FnMut(Measurement)) -> BenchResult<()> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("catalog-{name}-"))
        .tempdir()?;
    let path = dir.path().join("catalog.db");
    let mut stack = open_stack(name, &path)?;
    runner::run(name, stack.as_mut(), &path, work, emit)?;
    // Every connection closes before the directory goes.
    drop(stack);
    dir.close()?;
    Ok(())
}

/// The SQLite every stack runs on (one library in the build), as it reports itself:
/// its version and its threading mode.
fn sqlite_build() -> BenchResult<String> {
    let conn = rusqlite::Connection::open_in_memory()?;
    let version: String = conn.query_row("SELECT sqlite_version()", [], |row| row.get(0))?;
    let threadsafe: String = conn.query_row(
        "SELECT compile_options FROM pragma_compile_options \
         WHERE compile_options LIKE 'THREADSAFE=%'",
        [],
        |row| row.get(0),
    )?;
    Ok(format!("SQLite {version}, {threadsafe}"))
}

/// Runs (or reads) the measurements; `Ok(false)` when a check failed.
fn bench(args: &Args) -> BenchResult<bool> {
    let mut measurements = Vec::new();
    let mut passed = true;
    if args.from.is_empty() {
        eprintln!("catalog: {}", sqlite_build()?);
        let started = Instant::now();
        let work = Workload::new(args.authors);
        eprintln!(
            "catalog: A = {}, {} books; draws made in {:.2?}",
            args.authors,
            work.books.len(),
            started.elapsed()
        );
        let stdout = std::io::stdout();
        for run in 1..=args.runs {
            for &name in &args.stacks {
                eprintln!("== {name} (run {run}/{})", args.runs);
                let started = Instant::now();
                let mut emit = |m: Measurement| {
                    let mut out = stdout.lock();
                    let _ = writeln!(out, "{}", m.json_line());
                    let _ = out.flush();
                    measurements.push(m);
                };
                if let Err(error) = run_stack(name, &work, &mut emit) {
                    eprintln!("FAILED: {error}");
                    passed = false;
                }
                eprintln!("   {name} done in {:.1?}", started.elapsed());
            }
        }
    } else {
        for file in &args.from {
            let text = std::fs::read_to_string(file)
                .map_err(|error| format!("{}: {error}", file.display()))?;
            measurements.extend(text.lines().filter_map(Measurement::parse));
        }
        if measurements.is_empty() {
            return Err("no JSON measurement lines in the --from files".into());
        }
    }
    let summary = Summary::new(&measurements);
    if !args.json_only {
        print!("{}", summary.table());
    }
    if let Some(path) = &args.chart {
        std::fs::write(path, chart::svg(&summary))
            .map_err(|error| format!("{}: {error}", path.display()))?;
        eprintln!("chart written to {}", path.display());
    }
    Ok(passed)
}

fn main() -> ExitCode {
    let outcome = parse_args().and_then(|args| match args {
        Some(args) => bench(&args),
        None => Ok(true),
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("catalog: a check failed (see FAILED above)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("catalog: {error}");
            ExitCode::FAILURE
        }
    }
}
