//! Runs the twelve operations on one stack, in order, checking each one's results
//! against the model before its line is printed.

use crate::database::Database;
use crate::report::Measurement;
use crate::verify::{self, Verifier};
use crate::workload::{
    check_same, BenchResult, BoxError, Model, Stack, Workload, CONCURRENT_RUN, OPS, SINGLE_INSERTS,
};

/// What one operation reported, before it becomes a [`Measurement`].
struct Step<'a> {
    stack: &'a str,
    queries_before: Option<u64>,
}

impl Step<'_> {
    fn done(
        &self,
        stack: &dyn Stack,
        op: &str,
        n: usize,
        elapsed: std::time::Duration,
    ) -> Measurement {
        let queries = match (self.queries_before, stack.queries()) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        Measurement {
            stack: self.stack.to_owned(),
            op: op.to_owned(),
            n: n as u64,
            seconds: elapsed.as_secs_f64(),
            queries,
        }
    }
}

/// On a server, a multi-row bulk insert must average at least this many rows per
/// statement (one more statement is allowed, for an id reservation or a read of the
/// server's settings): multi-row `INSERT`s, not one round trip per row.
pub const MIN_ROWS_PER_BULK_STATEMENT: u64 = 100;

/// Statements a multi-row bulk insert may send per chunk on MySQL: the `INSERT` and
/// bookshelf's read of its first id (`LAST_INSERT_ID()`), as MySQL has no `RETURNING`.
#[cfg(feature = "mysql")]
const MYSQL_STATEMENTS_PER_CHUNK: u64 = 2;

/// How a stack's bulk inserts must send their rows, as its statement count shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Built without a server's feature, only `Unchecked` is ever made.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
enum BulkInserts {
    /// Not checked (SQLite: plain diesel inserts one row per statement by design).
    Unchecked,
    /// Multi-row statements, up to this many statements per chunk of
    /// [`MIN_ROWS_PER_BULK_STATEMENT`] rows.
    MultiRow { per_chunk: u64 },
    /// One row per statement, or more statements than that: bookshelf on a MySQL
    /// server whose `innodb_autoinc_lock_mode` (2) does not promise a multi-row
    /// statement consecutive ids.
    RowByRow,
}

/// The statement-count checks that apply to the stack `name` on `db`: whether its
/// eager load must take 2 queries (on a server; on SQLite the count is only noted), and
/// how its bulk inserts must send their rows.
#[cfg_attr(not(feature = "mysql"), allow(unused_variables))]
fn expected_counts(name: &str, db: &Database) -> (bool, BulkInserts) {
    match db {
        Database::Sqlite { .. } => (false, BulkInserts::Unchecked),
        #[cfg(feature = "postgres")]
        Database::Postgres(_) => (true, BulkInserts::MultiRow { per_chunk: 1 }),
        #[cfg(feature = "mysql")]
        Database::Mysql(scratch) => {
            let consecutive = crate::mysql_server::consecutive_ids(scratch.autoinc_lock_mode);
            let bulk = if name.starts_with("bookshelf") && !consecutive {
                BulkInserts::RowByRow
            } else {
                BulkInserts::MultiRow {
                    per_chunk: MYSQL_STATEMENTS_PER_CHUNK,
                }
            };
            (true, bulk)
        }
    }
}

/// The statement-count checks that fail a run on a server (see [`expected_counts`]).
fn check_counts(name: &str, db: &Database, m: &Measurement) -> BenchResult<()> {
    let (eager_in_two, bulk) = expected_counts(name, db);
    if !eager_in_two && bulk == BulkInserts::Unchecked {
        return Ok(());
    }
    let Some(queries) = m.queries else {
        return Err(format!("{name} {}: no statement count to check", m.op).into());
    };
    match (m.op.as_str(), bulk) {
        ("authors_with_books_eager", _) if eager_in_two && queries != 2 => {
            Err(format!("{name} {}: {queries} queries, expected 2 (no N+1)", m.op).into())
        }
        ("insert_authors_bulk" | "insert_books_bulk", BulkInserts::MultiRow { per_chunk }) => {
            let most = 1 + per_chunk * m.n.div_ceil(MIN_ROWS_PER_BULK_STATEMENT);
            if queries > most {
                return Err(format!(
                    "{name} {}: {queries} statements for {} rows, expected multi-row \
                     inserts (at most {most} statements)",
                    m.op, m.n
                )
                .into());
            }
            Ok(())
        }
        ("insert_authors_bulk" | "insert_books_bulk", BulkInserts::RowByRow) if queries < m.n => {
            Err(format!(
                "{name} {}: {queries} statements for {} rows, expected one row per statement \
                 (innodb_autoinc_lock_mode 2)",
                m.op, m.n
            )
            .into())
        }
        _ => Ok(()),
    }
}

/// Runs the workload on `stack`, whose database is `db`, and hands each checked
/// measurement to `emit` as soon as it is taken.
pub fn run(
    name: &str,
    stack: &mut dyn Stack,
    db: &Database,
    work: &Workload,
    emit: &mut dyn FnMut(Measurement),
) -> BenchResult<()> {
    let mut verifier = Verifier::open(db)?;
    let mut model = Model::new(work.authors);
    let a = work.authors as i64;
    let step = |stack: &dyn Stack| Step {
        stack: name,
        queries_before: stack.queries(),
    };
    let context = |op: &'static str| move |error: BoxError| format!("{name} {op}: {error}");

    let op = OPS[0];
    let s = step(stack);
    let (elapsed, created) = stack
        .insert_authors_bulk(&work.names)
        .map_err(context(op))?;
    for (i, name) in work.names.iter().enumerate() {
        model.insert_author(i as i64 + 1, name);
    }
    if let Some(created) = created {
        check_same("created authors", &created, &model.all_authors()).map_err(context(op))?;
    }
    verifier.matches(&model).map_err(context(op))?;
    let measured = s.done(stack, op, work.authors, elapsed);
    check_counts(name, db, &measured)?;
    emit(measured);

    let op = OPS[1];
    let s = step(stack);
    let (elapsed, created) = stack.insert_books_bulk(&work.books).map_err(context(op))?;
    model.load_books();
    if let Some(created) = created {
        check_same("created books", &created, &model.all_books()).map_err(context(op))?;
    }
    verifier.matches(&model).map_err(context(op))?;
    let measured = s.done(stack, op, work.books.len(), elapsed);
    check_counts(name, db, &measured)?;
    emit(measured);

    let op = OPS[2];
    let s = step(stack);
    let (elapsed, ids) = stack
        .insert_author_single(&work.single_names)
        .map_err(context(op))?;
    let expected_ids: Vec<i64> = (a + 1..=a + SINGLE_INSERTS as i64).collect();
    for (id, name) in expected_ids.iter().zip(&work.single_names) {
        model.insert_author(*id, name);
    }
    if let Some(ids) = ids {
        check_same("new author ids", &ids, &expected_ids).map_err(context(op))?;
    }
    verifier.matches(&model).map_err(context(op))?;
    emit(s.done(stack, op, SINGLE_INSERTS, elapsed));

    let op = OPS[3];
    let s = step(stack);
    let (elapsed, found) = stack.get_author_by_id(&work.get_ids).map_err(context(op))?;
    verify::lookups(&model, &work.get_ids, &found).map_err(context(op))?;
    emit(s.done(stack, op, work.get_ids.len(), elapsed));

    let op = OPS[4];
    let s = step(stack);
    let (elapsed, found) = stack
        .books_by_author_ordered(&work.by_author_ids)
        .map_err(context(op))?;
    verify::books_by_author(&model, &work.by_author_ids, &found).map_err(context(op))?;
    emit(s.done(stack, op, work.by_author_ids.len(), elapsed));

    let op = OPS[5];
    let s = step(stack);
    let (elapsed, found) = stack
        .find_book_by_title(&work.titles)
        .map_err(context(op))?;
    verify::titles(&model, &work.title_book_ids, &found).map_err(context(op))?;
    emit(s.done(stack, op, work.titles.len(), elapsed));

    let op = OPS[6];
    let s = step(stack);
    let (elapsed, shelf) = stack.authors_with_books_eager().map_err(context(op))?;
    verify::eager(&model, shelf).map_err(context(op))?;
    let measured = s.done(stack, op, work.authors, elapsed);
    check_counts(name, db, &measured)?;
    if let Some(queries) = measured.queries.filter(|&q| q > 2) {
        eprintln!("note: {name} {op} took {queries} queries (2 expected at this size)");
    }
    emit(measured);

    let op = OPS[7];
    let s = step(stack);
    let (elapsed, pages) = stack.books_page_keyset().map_err(context(op))?;
    verify::pages(&model, &pages).map_err(context(op))?;
    emit(s.done(stack, op, work.keyset_pages(), elapsed));

    let op = OPS[8];
    let s = step(stack);
    let (elapsed, renamed) = stack
        .update_author_name(&work.renames)
        .map_err(context(op))?;
    for (id, name) in &work.renames {
        model.rename(*id, name);
    }
    if renamed != work.renames.len() as u64 {
        return Err(context(op)(format!("{renamed} authors renamed").into()).into());
    }
    verifier.matches(&model).map_err(context(op))?;
    emit(s.done(stack, op, work.renames.len(), elapsed));

    let op = OPS[9];
    let s = step(stack);
    let (elapsed, deleted) = stack
        .delete_author_cascade(&work.deletes)
        .map_err(context(op))?;
    for &id in &work.deletes {
        model.delete(id);
    }
    if deleted != work.deletes.len() as u64 {
        return Err(context(op)(format!("{deleted} authors deleted").into()).into());
    }
    verifier.matches(&model).map_err(context(op))?;
    emit(s.done(stack, op, work.deletes.len(), elapsed));

    let op = OPS[10];
    let s = step(stack);
    let draws = [&work.concurrent[0][..], &work.concurrent[1][..]];
    let (elapsed, folded) = stack
        .concurrent_get_author(draws, CONCURRENT_RUN)
        .map_err(context(op))?;
    for (thread, (got, draws)) in folded.iter().zip(draws).enumerate() {
        let expected = model.fold(draws, got.lookups);
        if *got != expected || got.lookups == 0 {
            return Err(context(op)(
                format!("thread {thread} read {got:?}, expected {expected:?}").into(),
            )
            .into());
        }
    }
    let lookups = folded.iter().map(|f| f.lookups).sum::<u64>();
    emit(s.done(stack, op, lookups as usize, elapsed));

    let op = OPS[11];
    let s = step(stack);
    let (elapsed, found) = stack
        .search_books_fulltext(&work.fulltext_words)
        .map_err(context(op))?;
    verify::fulltext(&model, &work.fulltext_author_ids, &found).map_err(context(op))?;
    emit(s.done(stack, op, work.fulltext_words.len(), elapsed));
    Ok(())
}
