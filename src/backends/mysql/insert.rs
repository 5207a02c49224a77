//! The bulk inserts on MySQL, and how they learn the ids the server gave.
//!
//! MySQL has no `RETURNING`, and a multi-row `INSERT` reports one id only:
//! `LAST_INSERT_ID()`, the id of its first row. The other rows' ids follow from it only
//! when the statement's ids are consecutive (in steps of `auto_increment_increment`),
//! which InnoDB promises according to `innodb_autoinc_lock_mode`:
//!
//! - `0` (traditional) and `1` (consecutive, MariaDB's default): an `INSERT … VALUES`
//!   of a known number of rows (a "simple insert") takes all its ids at once, under
//!   the table's auto-increment lock or mutex, so no concurrent insert takes one in
//!   between: the ids are `first`, `first + step`, … `first + (n - 1) × step`.
//! - `2` (interleaved, MySQL 8's default, and Galera's): concurrent statements may take
//!   ids in turn, and a multi-row statement's ids may have gaps. Nothing can be
//!   inferred, so each row is inserted by a statement of its own, its id read from
//!   `LAST_INSERT_ID()` after it: slower, and sound.
//!
//! The mode and the step are read in the transaction of the insert, with the clock,
//! in one round trip: the mode is a server setting that changes only with a restart,
//! the step a session setting another writer of the connection could change.
//! `tests/concurrency.rs` runs bulk inserts from several threads at once and checks
//! every returned id against its row.

use diesel::mysql::MysqlConnection;
use diesel::prelude::*;

use super::value::{fixed, AutoIncrementStep, AutoincLockMode, LastInsertId};
use crate::backend::{clock, IdTable, Inserted};
use crate::error::{Error, Result};
use crate::models::{AuthorRow, BookRow, DbTime};
use crate::schema::{authors, books};

/// Rows a multi-row statement inserts at most: at six bound values a book row, 24,576
/// values, within MySQL's 65,535 placeholders a statement, and large enough that
/// per-statement costs are noise.
const CHUNK_ROWS: usize = 4096;

/// What the server says about the ids an insert is given, and the time it stamps.
struct Plan {
    now: DbTime,
    /// Multi-row statements get consecutive ids (lock modes 0 and 1).
    consecutive: bool,
    /// `auto_increment_increment`.
    step: i64,
}

impl Plan {
    fn read(conn: &mut MysqlConnection) -> Result<Self> {
        let (now, mode, step): (DbTime, i64, i64) = diesel::select((
            clock::<MysqlConnection>(),
            fixed::<AutoincLockMode>(),
            fixed::<AutoIncrementStep>(),
        ))
        .get_result(conn)?;
        Ok(Self {
            now,
            consecutive: mode == 0 || mode == 1,
            step: step.max(1),
        })
    }

    /// Rows per statement.
    fn chunk_rows(&self) -> usize {
        if self.consecutive {
            CHUNK_ROWS
        } else {
            1
        }
    }

    /// Appends the ids of a statement that inserted `inserted` of `rows` rows, the
    /// first of them at `first`.
    fn push_ids(
        &self,
        table: IdTable,
        ids: &mut Vec<i64>,
        first: i64,
        rows: usize,
        inserted: usize,
    ) -> Result<()> {
        if inserted != rows || first <= 0 {
            // A trigger of another application that drops rows, say: the ids cannot be
            // told, so nothing is kept (the caller's transaction rolls back).
            return Err(Error::NotWritten(match table {
                IdTable::Authors => crate::error::Entity::Author,
                IdTable::Books => crate::error::Entity::Book,
            }));
        }
        for k in 0..rows {
            let id = i64::try_from(k)
                .ok()
                .and_then(|k| k.checked_mul(self.step))
                .and_then(|offset| first.checked_add(offset))
                .ok_or_else(|| table.exhausted())?;
            ids.push(id);
        }
        Ok(())
    }
}

/// The id of the connection's latest insert's first row.
fn last_insert_id(conn: &mut MysqlConnection) -> Result<i64> {
    Ok(diesel::select(fixed::<LastInsertId>()).get_result(conn)?)
}

/// Inserts `rows` as authors (the caller holds a transaction): see the module.
pub(crate) fn authors(conn: &mut MysqlConnection, rows: &[AuthorRow]) -> Result<Inserted> {
    let plan = Plan::read(conn)?;
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(plan.chunk_rows()) {
        let values: Vec<_> = chunk
            .iter()
            .map(|row| {
                (
                    authors::name.eq(row.name.as_str()),
                    authors::created_at.eq(plan.now),
                    authors::updated_at.eq(plan.now),
                )
            })
            .collect();
        let inserted = diesel::insert_into(authors::table)
            .values(&values)
            .execute(conn)?;
        let first = last_insert_id(conn)?;
        plan.push_ids(IdTable::Authors, &mut ids, first, chunk.len(), inserted)?;
    }
    Ok(Inserted { ids, now: plan.now })
}

/// Inserts `rows` as books (the caller holds a transaction): see the module.
pub(crate) fn books(conn: &mut MysqlConnection, rows: &[BookRow]) -> Result<Inserted> {
    let plan = Plan::read(conn)?;
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(plan.chunk_rows()) {
        let values: Vec<_> = chunk
            .iter()
            .map(|row| {
                (
                    row.clone(),
                    books::created_at.eq(plan.now),
                    books::updated_at.eq(plan.now),
                )
            })
            .collect();
        let inserted = diesel::insert_into(books::table)
            .values(values)
            .execute(conn)?;
        let first = last_insert_id(conn)?;
        plan.push_ids(IdTable::Books, &mut ids, first, chunk.len(), inserted)?;
    }
    Ok(Inserted { ids, now: plan.now })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_first_in_steps_and_a_short_insert_keeps_none() {
        let plan = Plan {
            now: DbTime(chrono::NaiveDateTime::default()),
            consecutive: true,
            step: 5,
        };
        let mut ids = Vec::new();
        assert!(plan.push_ids(IdTable::Authors, &mut ids, 11, 3, 3).is_ok());
        assert_eq!(ids, [11, 16, 21]);
        assert!(plan.push_ids(IdTable::Books, &mut ids, 40, 3, 2).is_err());
        assert!(matches!(
            plan.push_ids(IdTable::Books, &mut Vec::new(), i64::MAX - 1, 2, 2),
            Err(Error::IdsExhausted(_))
        ));
    }
}
