//! The output: one JSON line per operation and stack, and the table of medians and
//! ratios that follows them.

use std::collections::BTreeMap;

use crate::workload::OPS;

/// The stacks, in the order they run and are shown: SQLite's, then PostgreSQL's, then
/// MySQL's.
pub const STACKS: [&str; 10] = [
    "bookshelf",
    "diesel",
    "rusqlite",
    "rusqlite-bs",
    "bookshelf-pg",
    "diesel-pg",
    "postgres-raw",
    "sqlx-pg",
    "bookshelf-mysql",
    "diesel-mysql",
];
/// Targets: bookshelf's ops/s at least this fraction of rusqlite's, and of diesel's
/// (and bookshelf-pg's of diesel-pg's, bookshelf-mysql's of diesel-mysql's).
pub const TARGET_VS_RUSQLITE: f64 = 0.8;
pub const TARGET_VS_DIESEL: f64 = 1.0;
/// Target: bookshelf-pg's ops/s at least this fraction of sqlx-pg's (and of
/// postgres-raw's, [`TARGET_VS_RUSQLITE`]).
pub const TARGET_VS_SQLX: f64 = 1.0;

/// One operation of one stack in one run.
#[derive(Debug, Clone)]
pub struct Measurement {
    pub stack: String,
    pub op: String,
    pub n: u64,
    pub seconds: f64,
    pub queries: Option<u64>,
}

impl Measurement {
    pub fn ops_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.n as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The line WORKLOAD.md prescribes, with the stack added at the end.
    pub fn json_line(&self) -> String {
        let queries = self
            .queries
            .map_or_else(|| "null".to_owned(), |q| q.to_string());
        format!(
            "{{\"op\": {}, \"n\": {}, \"seconds\": {:.9}, \"ops_per_s\": {:.1}, \"queries\": {}, \"stack\": {}}}",
            json_string(&self.op),
            self.n,
            self.seconds,
            self.ops_per_s(),
            queries,
            json_string(&self.stack),
        )
    }

    /// Reads a line written by [`Measurement::json_line`]; `None` for any other line
    /// (the table, blank lines).
    pub fn parse(line: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
        Some(Self {
            stack: value.get("stack")?.as_str()?.to_owned(),
            op: value.get("op")?.as_str()?.to_owned(),
            n: value.get("n")?.as_u64()?,
            seconds: value.get("seconds")?.as_f64()?,
            queries: value.get("queries").and_then(serde_json::Value::as_u64),
        })
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The median result of one operation of one stack over the runs.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub ops_per_s: f64,
    pub queries: Option<u64>,
}

/// Medians per operation and stack.
#[derive(Debug)]
pub struct Summary {
    /// Stacks present, in display order.
    pub stacks: Vec<String>,
    /// Operations present, in workload order (unknown ones after).
    pub ops: Vec<String>,
    cells: BTreeMap<(String, String), Cell>,
    /// Each run's ops/s per operation and stack, in run order.
    rates: BTreeMap<(String, String), Vec<f64>>,
    /// Runs per cell (the most seen).
    pub runs: usize,
    /// A, read from `insert_authors_bulk`.
    pub authors: Option<u64>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

impl Summary {
    pub fn new(measurements: &[Measurement]) -> Self {
        let mut groups: BTreeMap<(String, String), Vec<&Measurement>> = BTreeMap::new();
        for m in measurements {
            groups
                .entry((m.stack.clone(), m.op.clone()))
                .or_default()
                .push(m);
        }
        let rank = |list: &[&str], name: &str| list.iter().position(|&x| x == name);
        let mut stacks: Vec<String> = measurements.iter().map(|m| m.stack.clone()).collect();
        stacks.sort_by_key(|s| (rank(&STACKS, s).unwrap_or(usize::MAX), s.clone()));
        stacks.dedup();
        let mut ops: Vec<String> = measurements.iter().map(|m| m.op.clone()).collect();
        ops.sort_by_key(|op| (rank(&OPS, op).unwrap_or(usize::MAX), op.clone()));
        ops.dedup();
        let runs = groups.values().map(Vec::len).max().unwrap_or(0);
        let rates: BTreeMap<(String, String), Vec<f64>> = groups
            .iter()
            .map(|(key, group)| (key.clone(), group.iter().map(|m| m.ops_per_s()).collect()))
            .collect();
        let cells = groups
            .into_iter()
            .map(|(key, group)| {
                let mut per_run: Vec<f64> = group.iter().map(|m| m.ops_per_s()).collect();
                let mut queries: Vec<u64> = group.iter().filter_map(|m| m.queries).collect();
                queries.sort_unstable();
                let cell = Cell {
                    ops_per_s: median(&mut per_run),
                    queries: queries.get(queries.len() / 2).copied(),
                };
                (key, cell)
            })
            .collect();
        let authors = measurements
            .iter()
            .find(|m| m.op == "insert_authors_bulk")
            .map(|m| m.n);
        Self {
            stacks,
            ops,
            cells,
            rates,
            runs,
            authors,
        }
    }

    pub fn cell(&self, stack: &str, op: &str) -> Option<Cell> {
        self.cells.get(&(stack.to_owned(), op.to_owned())).copied()
    }

    /// `ours`'s ops/s over `other`'s for `op`: the median of the ratios within each run
    /// (the k-th run of one stack against the k-th of the other). The stacks of one run
    /// follow each other within seconds, so each ratio is taken in one state of the
    /// machine, where a ratio of medians would mix states when the machine's speed
    /// drifts over a set of runs.
    pub fn ratio(&self, ours: &str, op: &str, other: &str) -> Option<f64> {
        let ours = self.rates.get(&(ours.to_owned(), op.to_owned()))?;
        let theirs = self.rates.get(&(other.to_owned(), op.to_owned()))?;
        let mut ratios: Vec<f64> = ours
            .iter()
            .zip(theirs)
            .filter(|(_, &theirs)| theirs > 0.0)
            .map(|(ours, theirs)| ours / theirs)
            .collect();
        (!ratios.is_empty()).then(|| median(&mut ratios))
    }

    /// The statement counts of `stacks` for `op`, as `a / b / c`.
    fn queries(&self, stacks: &[&String], op: &str) -> String {
        let counts: Vec<String> = stacks
            .iter()
            .map(|stack| match self.cell(stack, op).and_then(|c| c.queries) {
                Some(q) => q.to_string(),
                None => "-".to_owned(),
            })
            .collect();
        counts.join(" / ")
    }

    /// The tables printed after the JSON lines: the SQLite stacks, then the PostgreSQL
    /// and the MySQL stacks (when any ran), each with its own ratios.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let scale = self
            .authors
            .map_or_else(String::new, |a| format!(", A = {a}"));
        let runs = if self.runs > 1 {
            format!("median of {} runs", self.runs)
        } else {
            "one run".to_owned()
        };
        let (pg, others): (Vec<&String>, Vec<&String>) = self
            .stacks
            .iter()
            .partition(|stack| crate::database::is_postgres_stack(stack));
        let (mysql, sqlite): (Vec<&String>, Vec<&String>) = others
            .into_iter()
            .partition(|stack| crate::database::is_mysql_stack(stack));
        if !sqlite.is_empty() {
            out.push_str(&format!("\ncatalog workload: ops/s ({runs}{scale})\n\n"));
            out.push_str(&self.sqlite_table(&sqlite));
        }
        if !pg.is_empty() {
            out.push_str(&format!(
                "\ncatalog workload on PostgreSQL: ops/s ({runs}{scale})\n\n"
            ));
            out.push_str(&self.postgres_table(&pg));
        }
        if !mysql.is_empty() {
            out.push_str(&format!(
                "\ncatalog workload on MySQL/MariaDB: ops/s ({runs}{scale})\n\n"
            ));
            out.push_str(&self.mysql_table(&mysql));
        }
        let scaling: Vec<String> = self
            .stacks
            .iter()
            .filter_map(|stack| {
                let two = self.cell(stack, "concurrent_get_author")?.ops_per_s;
                let one = self.cell(stack, "get_author_by_id")?.ops_per_s;
                Some(format!("{stack} {:.2}x", two / one))
            })
            .collect();
        if !scaling.is_empty() {
            out.push_str(&format!(
                "2-thread scaling (concurrent_get_author / get_author_by_id): {}\n",
                scaling.join(", ")
            ));
        }
        out
    }

    /// The SQLite stacks' ops/s, with bookshelf's ratios to rusqlite and diesel.
    fn sqlite_table(&self, stacks: &[&String]) -> String {
        let (mut out, misses) = self.ratio_table(
            stacks,
            &[
                RatioColumn::target("bs/rusqlite", "bookshelf", "rusqlite", TARGET_VS_RUSQLITE),
                RatioColumn::target("bs/diesel", "bookshelf", "diesel", TARGET_VS_DIESEL),
                RatioColumn {
                    header: "bs/rus-bs",
                    of: "bookshelf",
                    to: "rusqlite-bs",
                    target: None,
                    decimals: 2,
                },
            ],
        );
        out.push_str(&format!(
            "targets: bookshelf >= {TARGET_VS_RUSQLITE}x rusqlite and >= {TARGET_VS_DIESEL}x diesel; \
             '!' marks a miss ({misses} here).\n\
             bs/rus-bs: bookshelf over rusqlite-bs (raw SQL on bookshelf's schema, sending \
             bookshelf's statements): the library's own cost, for reference.\n"
        ));
        out
    }

    /// The PostgreSQL stacks' ops/s, with bookshelf-pg's ratio to diesel-pg and, for
    /// reference, to bookshelf on SQLite.
    fn postgres_table(&self, stacks: &[&String]) -> String {
        let (mut out, misses) = self.ratio_table(
            stacks,
            &[
                RatioColumn::target("bs-pg/d-pg", "bookshelf-pg", "diesel-pg", TARGET_VS_DIESEL),
                RatioColumn::target(
                    "bs-pg/raw",
                    "bookshelf-pg",
                    "postgres-raw",
                    TARGET_VS_RUSQLITE,
                ),
                RatioColumn::target("bs-pg/sqlx", "bookshelf-pg", "sqlx-pg", TARGET_VS_SQLX),
                RatioColumn {
                    header: "bs-pg/bs",
                    of: "bookshelf-pg",
                    to: "bookshelf",
                    target: None,
                    decimals: 3,
                },
            ],
        );
        out.push_str(&format!(
            "targets: bookshelf-pg >= {TARGET_VS_DIESEL}x diesel-pg, >= {TARGET_VS_RUSQLITE}x \
             postgres-raw (the sync postgres client sending bookshelf's statements) and >= \
             {TARGET_VS_SQLX}x sqlx-pg; '!' marks a miss ({misses} here).\n\
             bs-pg/bs: bookshelf-pg over bookshelf on SQLite, for reference.\n"
        ));
        out
    }

    /// The MySQL stacks' ops/s, with bookshelf-mysql's ratio to diesel-mysql and, for
    /// reference, to bookshelf on SQLite and on PostgreSQL.
    fn mysql_table(&self, stacks: &[&String]) -> String {
        let reference = |header, to| RatioColumn {
            header,
            of: "bookshelf-mysql",
            to,
            target: None,
            decimals: 3,
        };
        let (mut out, misses) = self.ratio_table(
            stacks,
            &[
                RatioColumn::target(
                    "bs-my/d-my",
                    "bookshelf-mysql",
                    "diesel-mysql",
                    TARGET_VS_DIESEL,
                ),
                reference("bs-my/bs", "bookshelf"),
                reference("bs-my/bs-pg", "bookshelf-pg"),
            ],
        );
        out.push_str(&format!(
            "targets: bookshelf-mysql >= {TARGET_VS_DIESEL}x diesel-mysql; '!' marks a miss \
             ({misses} here).\n\
             bs-my/bs, bs-my/bs-pg: bookshelf-mysql over bookshelf on SQLite and on \
             PostgreSQL, for reference.\n"
        ));
        out
    }

    /// A table of `stacks`' ops/s per op, then `columns`, then the statement counts, and
    /// the number of ratios below their targets.
    fn ratio_table(&self, stacks: &[&String], columns: &[RatioColumn]) -> (String, usize) {
        let mut out = String::new();
        let mut header = format!("{:<26}", "op");
        for stack in stacks {
            header.push_str(&format!(" {stack:>13}"));
        }
        for column in columns {
            header.push_str(&format!(" {:>12}", column.header));
        }
        header.push_str("  queries");
        out.push_str(&header);
        out.push('\n');
        out.push_str(&"-".repeat(header.len() + 12));
        out.push('\n');
        let mut misses = 0;
        for op in &self.ops {
            let mut line = format!("{op:<26}");
            for stack in stacks {
                let rate = self
                    .cell(stack, op)
                    .map_or_else(|| "-".to_owned(), |c| grouped(c.ops_per_s));
                line.push_str(&format!(" {rate:>13}"));
            }
            for column in columns {
                let decimals = column.decimals;
                let text = match self.ratio(column.of, op, column.to) {
                    Some(r) if column.target.is_some_and(|target| r < target) => {
                        misses += 1;
                        format!("{r:.decimals$} !")
                    }
                    Some(r) => format!("{r:.decimals$}  "),
                    None => "-  ".to_owned(),
                };
                line.push_str(&format!(" {text:>12}"));
            }
            line.push_str(&format!("  {}", self.queries(stacks, op)));
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push('\n');
        let names: Vec<&str> = stacks.iter().map(|s| s.as_str()).collect();
        out.push_str(&format!(
            "queries: {} (data statements per op).\n",
            names.join(" / ")
        ));
        if self.runs > 1 {
            out.push_str("ratios: the median over the runs of the ratio within each run.\n");
        }
        (out, misses)
    }
}

/// One ratio column of a table: `of`'s ops/s over `to`'s, marked `!` below `target`.
struct RatioColumn {
    header: &'static str,
    of: &'static str,
    to: &'static str,
    target: Option<f64>,
    decimals: usize,
}

impl RatioColumn {
    /// A two-decimal ratio with a target.
    fn target(header: &'static str, of: &'static str, to: &'static str, target: f64) -> Self {
        Self {
            header,
            of,
            to,
            target: Some(target),
            decimals: 2,
        }
    }
}

/// `1234567.8` as `1,234,568`.
pub fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
