//! The catalog benchmark: the workload of `WORKLOAD.md` (A authors, ten books each,
//! twelve operations in a fixed order) run on four SQLite stacks (and up to four
//! PostgreSQL stacks and two MySQL/MariaDB stacks, see below) one after another, each on
//! a fresh database file in its own temporary directory:
//!
//! - `bookshelf`: this crate's public API, as an application calls it;
//! - `diesel`: plain, idiomatic Diesel on an r2d2 pool, no repository, on bookshelf's
//!   own schema (its SQL migrations, applied with plain `diesel_migrations`) and reading
//!   and writing all five book columns through models with diesel's default derives
//!   (so a slice of rows is inserted one row per statement, as plain diesel does on
//!   SQLite): bookshelf against diesel measures the repository, not the schema;
//! - `rusqlite`: raw SQL written for speed (cached statements, 256-row bulk inserts) on
//!   the workload's own, smaller schema (three book columns, no CHECK constraints):
//!   the practical limit;
//! - `rusqlite-bs`: raw SQL on bookshelf's schema, sending exactly bookshelf's
//!   statements and decoding every column bookshelf decodes: bookshelf against it
//!   measures the library alone, and it against `rusqlite` the schema alone.
//!
//! With the `postgres` feature and `BOOKSHELF_TEST_POSTGRES_URL` set to a server URL,
//! two more stacks run the same workload on PostgreSQL, each in a fresh schema of its own
//! (`bench_<pid>_<n>`, reached with `options=-csearch_path=..` in the URL, dropped after
//! the run):
//!
//! - `bookshelf-pg`: the `bookshelf` stack's code, opened on the server URL;
//! - `diesel-pg`: the `diesel` stack's code on an r2d2 pool of `PgConnection`, on
//!   bookshelf's PostgreSQL schema (`migrations/postgres`);
//! - with the bench's `pg-peers` feature, `postgres-raw` (the sync `postgres` client
//!   written for speed, sending bookshelf's statements: the library's cost, as
//!   `rusqlite-bs` on SQLite) and `sqlx-pg` (sqlx 0.8 on its own tokio runtime and a
//!   `PgPool`), both on bookshelf's schema.
//!
//! With the `mysql` feature and `BOOKSHELF_TEST_MYSQL_URL` set to a server URL
//! (`mysql://root@127.0.0.1/test`), two more run it on MySQL or MariaDB, each in a fresh
//! database of its own (`CREATE DATABASE bench_<pid>_<n>` in bookshelf's character set
//! and collation, the URL pointed at it, dropped after the run):
//!
//! - `bookshelf-mysql`: the `bookshelf` stack's code, opened on the server URL;
//! - `diesel-mysql`: the `diesel` stack's code on an r2d2 pool of `MysqlConnection`, on
//!   bookshelf's MySQL schema (`migrations/mysql`), its full-text search on the same
//!   `FULLTEXT` index as bookshelf's.
//!
//! Otherwise they are skipped, with a note on stderr. On a server the run also fails
//! unless the eager load takes 2 queries and the bulk inserts are multi-row (on MySQL,
//! bookshelf's are multi-row only when the server's `innodb_autoinc_lock_mode` is 0 or 1,
//! and are checked to be one row per statement otherwise; the header line says which),
//! and each stack prints whether its connections use TLS (libpq's default
//! `sslmode=prefer` takes it whenever the server offers it).
//!
//! Every stack gets the same random draws (SplitMix64, seed 42). Each operation's
//! results are checked outside the timed region (the whole database after each write,
//! every row returned by each read); a failed check makes the run exit non-zero.
//!
//! Output: one JSON line per operation and stack on stdout, in WORKLOAD.md's form with a
//! `"stack"` field, then a table of ops/s per stack with bookshelf's ratios to the
//! others, and optionally an SVG chart.
//!
//! ```text
//! cargo bench --bench catalog -- [--authors N] [--stack NAME[,NAME..]] [--runs N]
//!                                [--chart PATH] [--json-only] [--no-warm-up]
//!                                [--warm-connections]
//! cargo bench --bench catalog -- --from FILE [--from FILE ..] [--chart PATH]
//! ```
//!
//! Before the measured runs every stack runs the workload once at A = 200, checked but
//! not reported, so that no stack pays for the process's cold start by running first.
//! `--runs N` repeats the whole workload N times (the stacks interleaved) and the table
//! shows medians; `--from` reads JSON lines saved from earlier runs instead of running,
//! and prints (and charts) their medians.

#[path = "catalog_support/chart.rs"]
mod chart;
#[path = "catalog_support/database.rs"]
mod database;
#[cfg(feature = "mysql")]
#[path = "catalog_support/mysql_server.rs"]
mod mysql_server;
#[cfg(feature = "postgres")]
#[path = "catalog_support/pg_statements.rs"]
mod pg_statements;
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
#[cfg(feature = "pg-peers")]
#[path = "catalog_support/stack_postgres_raw.rs"]
mod stack_postgres_raw;
#[path = "catalog_support/stack_rusqlite.rs"]
mod stack_rusqlite;
#[cfg(feature = "pg-peers")]
#[path = "catalog_support/stack_sqlx.rs"]
mod stack_sqlx;
#[path = "catalog_support/verify.rs"]
mod verify;
#[path = "catalog_support/workload.rs"]
mod workload;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use database::{is_mysql_stack, is_postgres_stack, stack_unavailable, Database};
use report::{Measurement, Summary, STACKS};
use workload::{BenchResult, Stack, Workload};

const USAGE: &str = "\
usage: cargo bench --bench catalog -- [options]

  --authors N        scale A (authors; 10 books each). Default 2000.
  --stack NAME       bookshelf, diesel, rusqlite, rusqlite-bs, bookshelf-pg, diesel-pg,
                     postgres-raw, sqlx-pg, bookshelf-mysql, diesel-mysql, all, or a
                     comma-separated list. Default: all.
                     The PostgreSQL stacks (bookshelf-pg, diesel-pg, postgres-raw, sqlx-pg)
                     run on the server named by BOOKSHELF_TEST_POSTGRES_URL and need
                     `--features postgres` (postgres-raw and sqlx-pg `--features
                     pg-peers`); the MySQL/MariaDB stacks (bookshelf-mysql, diesel-mysql)
                     run on the server named by BOOKSHELF_TEST_MYSQL_URL and need
                     `--features mysql`. Without them, `all` leaves them out and naming
                     one is an error. Each prints on stderr whether its connections use
                     TLS.
  --runs N           run the whole workload N times, stacks interleaved; the table shows
                     medians. Default 1.
  --chart PATH       write an SVG bar chart (log scale) of the results to PATH.
  --json-only        print only the JSON lines (no table).
  --no-warm-up       skip the unmeasured warm-up round (every stack once at A = 200,
                     so that no stack pays for the process's cold start).
  --warm-connections PostgreSQL stacks only: before each measured run, run the workload
                     once at A = 200 on the stack's own connections and schema, then
                     empty the tables (TRUNCATE .. RESTART IDENTITY), so that no
                     operation pays for its server backend's first use of a statement
                     (catalog look-ups and parse) inside the timed region.
  --from FILE        do not run: read JSON lines saved from earlier runs (repeatable) and
                     print the table and chart of their medians.";

struct Args {
    authors: usize,
    /// The stacks to run; `None` until parsed: every available one.
    stacks: Option<Vec<&'static str>>,
    runs: usize,
    chart: Option<PathBuf>,
    json_only: bool,
    /// Run every stack once, unmeasured, before the measured runs.
    warm_up: bool,
    /// Run each PostgreSQL stack's workload once on its own connections before its
    /// measured run (see [`run_stack`]).
    warm_connections: bool,
    from: Vec<PathBuf>,
}

fn parse_args() -> BenchResult<Option<Args>> {
    let mut args = Args {
        authors: 2_000,
        stacks: None,
        runs: 1,
        chart: None,
        json_only: false,
        warm_up: true,
        warm_connections: false,
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
            "--no-warm-up" => args.warm_up = false,
            "--warm-connections" => args.warm_connections = true,
            "--stack" => {
                let list = value()?;
                let stacks = args.stacks.get_or_insert_with(Vec::new);
                stacks.clear();
                for name in list.split(',').map(str::trim) {
                    match STACKS.iter().find(|&&s| s == name) {
                        Some(&stack) => {
                            if let Some(why) = stack_unavailable(stack) {
                                return Err(why.into());
                            }
                            stacks.push(stack);
                        }
                        None if name == "all" => stacks.extend(available_stacks()),
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

/// The stacks this build and environment can run: the SQLite ones, and the PostgreSQL
/// and MySQL ones when their feature is on and their server's URL is set (the peer
/// stacks with `pg-peers`).
fn available_stacks() -> Vec<&'static str> {
    STACKS
        .iter()
        .copied()
        .filter(|stack| stack_unavailable(stack).is_none())
        .collect()
}

fn open_stack(name: &str, db: &Database) -> BenchResult<Box<dyn Stack>> {
    use diesel::sqlite::SqliteConnection;
    use stack_diesel::DieselStack;
    use stack_rusqlite::{RusqliteStack, Schema};
    Ok(match name {
        "bookshelf" | "bookshelf-pg" | "bookshelf-mysql" => {
            Box::new(stack_bookshelf::BookshelfStack::open(db.url())?)
        }
        "diesel" => Box::new(DieselStack::<SqliteConnection>::open(db.url())?),
        #[cfg(feature = "postgres")]
        "diesel-pg" => Box::new(DieselStack::<diesel::pg::PgConnection>::open(db.url())?),
        #[cfg(feature = "mysql")]
        "diesel-mysql" => Box::new(DieselStack::<diesel::mysql::MysqlConnection>::open(
            db.url(),
        )?),
        #[cfg(feature = "pg-peers")]
        "postgres-raw" => Box::new(stack_postgres_raw::PostgresRawStack::open(db.url())?),
        #[cfg(feature = "pg-peers")]
        "sqlx-pg" => Box::new(stack_sqlx::SqlxStack::open(db.url())?),
        "rusqlite" => Box::new(RusqliteStack::open(db.path()?, Schema::Workload)?),
        "rusqlite-bs" => Box::new(RusqliteStack::open(db.path()?, Schema::Bookshelf)?),
        other => return Err(format!("stack {other} is not in this build").into()),
    })
}

/// How [`run_stack`] runs a stack.
#[derive(Clone, Copy)]
struct RunMode<'w> {
    /// Print first whether the stack's connections are encrypted (a server).
    say_tls: bool,
    /// A workload to run once on the stack's own connections, its tables emptied
    /// afterwards, before the measured run (PostgreSQL only).
    warm_connections: Option<&'w Workload>,
}

/// Runs one stack on a fresh database; `Err` for a failed check or any error.
fn run_stack(
    name: &str,
    work: &Workload,
    mode: RunMode<'_>,
    emit: &mut dyn FnMut(Measurement),
) -> BenchResult<()> {
    let mut db = Database::create(name)?;
    let outcome = open_stack(name, &db).and_then(|mut stack| {
        if mode.say_tls {
            if let Some(security) = stack.connection_security()? {
                eprintln!("   {name}: connections {security}");
            }
        }
        if let Some(small) = mode.warm_connections {
            runner::run(name, stack.as_mut(), &db, small, &mut |_| {})
                .map_err(|error| format!("warming the connections: {error}"))?;
            db.empty_tables()?;
        }
        runner::run(name, stack.as_mut(), &db, work, emit)
    });
    // Every connection of the stack is closed (the stack dropped) before the database
    // goes; it goes whether the run passed or not.
    let closed = db.close();
    outcome?;
    closed
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

/// Authors in the warm-up round (or fewer, when the measured runs have fewer).
const WARM_UP_AUTHORS: usize = 200;

/// Runs the whole workload once on every stack at a small scale, checked but not
/// reported. Whichever stack runs first in a process otherwise pays for its cold start
/// (SQLite's code and the stack's faulted in, the heap grown): measured here, the first
/// stack's short operations ran 20–40% slower than the same stack run second, and
/// bookshelf, first in the list, paid it in every run.
fn warm_up(stacks: &[&str], authors: usize) -> BenchResult<()> {
    let started = Instant::now();
    let work = Workload::new(authors.min(WARM_UP_AUTHORS));
    for &name in stacks {
        let mode = RunMode {
            say_tls: false,
            warm_connections: None,
        };
        run_stack(name, &work, mode, &mut |_| {}).map_err(|error| format!("warm-up: {error}"))?;
    }
    eprintln!(
        "catalog: warm-up (every stack once at A = {}) took {:.1?}",
        work.authors,
        started.elapsed()
    );
    Ok(())
}

/// The workload `--warm-connections` runs before each measured run: the warm-up
/// round's size. Refused unless every stack is a PostgreSQL one (only there can the
/// tables be emptied with the connections kept).
fn warm_connections_work(stacks: &[&str], authors: usize) -> BenchResult<Workload> {
    if let Some(other) = stacks.iter().find(|stack| !is_postgres_stack(stack)) {
        return Err(format!(
            "--warm-connections is for PostgreSQL stacks only, not {other} \
             (name them with --stack)"
        )
        .into());
    }
    Ok(Workload::new(authors.min(WARM_UP_AUTHORS)))
}

/// Prints the servers the run's stacks use, as they report themselves, or why the
/// server stacks are left out.
fn describe_servers(stacks: &[&str]) -> BenchResult<()> {
    match database::postgres_base_url() {
        Ok(_) if !stacks.iter().any(|stack| is_postgres_stack(stack)) => {}
        #[cfg(feature = "postgres")]
        Ok(url) => eprintln!(
            "catalog: {} (from {}, sslmode {}), a fresh schema per run",
            database::pg::server_version(&url)?,
            database::POSTGRES_URL_VAR,
            database::pg::sslmode(&url)
        ),
        #[cfg(not(feature = "postgres"))]
        Ok(_) => {}
        Err(why) => eprintln!("catalog: PostgreSQL stacks not run: {why}"),
    }
    match database::mysql_base_url() {
        Ok(_) if !stacks.iter().any(|stack| is_mysql_stack(stack)) => {}
        #[cfg(feature = "mysql")]
        Ok(url) => eprintln!("catalog: {}", mysql_server::describe_server(&url)?),
        #[cfg(not(feature = "mysql"))]
        Ok(_) => {}
        Err(why) => eprintln!("catalog: MySQL/MariaDB stacks not run: {why}"),
    }
    Ok(())
}

/// Runs (or reads) the measurements; `Ok(false)` when a check failed.
fn bench(args: &Args) -> BenchResult<bool> {
    let stacks = args.stacks.clone().unwrap_or_else(available_stacks);
    let mut measurements = Vec::new();
    let mut passed = true;
    if args.from.is_empty() {
        let warm_work = args
            .warm_connections
            .then(|| warm_connections_work(&stacks, args.authors))
            .transpose()?;
        eprintln!("catalog: {}", sqlite_build()?);
        describe_servers(&stacks)?;
        let started = Instant::now();
        let work = Workload::new(args.authors);
        eprintln!(
            "catalog: A = {}, {} books; draws made in {:.2?}",
            args.authors,
            work.books.len(),
            started.elapsed()
        );
        if args.warm_up {
            warm_up(&stacks, args.authors)?;
        }
        let stdout = std::io::stdout();
        for run in 1..=args.runs {
            for &name in &stacks {
                eprintln!("== {name} (run {run}/{})", args.runs);
                let started = Instant::now();
                let mut emit = |m: Measurement| {
                    let mut out = stdout.lock();
                    let _ = writeln!(out, "{}", m.json_line());
                    let _ = out.flush();
                    measurements.push(m);
                };
                let mode = RunMode {
                    say_tls: true,
                    warm_connections: warm_work.as_ref(),
                };
                if let Err(error) = run_stack(name, &work, mode, &mut emit) {
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
