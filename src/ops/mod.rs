//! Every operation, written once and compiled once per backend, behind one object-safe
//! trait: [`Session`].
//!
//! A [`Tx`](crate::Tx) holds its connection as a `&mut dyn Session`, so a call goes from
//! the public method (`Tx::book`) through one virtual call to the body here
//! (`BookOps::book`), which runs with the concrete connection type: diesel's full type
//! checks and static dispatch inside, one dispatch per call, and no list of backends
//! anywhere in this module. A new backend implements
//! [`Backend`](crate::backend::Backend) and gets every operation.

mod authors;
mod books;

use std::num::NonZeroU32;

pub(crate) use self::authors::AuthorOps;
pub(crate) use self::books::BookOps;
use crate::backend::{Access, Backend};
use crate::error::{Error, Result};
use crate::migrations::{self, applied_versions};
use crate::raw::RawConnection;
use crate::transaction;

/// A connection of any backend, as the crate's handles use it.
pub(crate) trait Session: AuthorOps + BookOps + Control + Migrations {}

impl<C: AuthorOps + BookOps + Control + Migrations> Session for C {}

/// Transaction control and the escape hatch, for the handles that run transactions.
pub(crate) trait Control {
    /// The backend's name.
    fn backend_name(&self) -> &'static str;
    /// The backend's name in OpenTelemetry's `db.system` field.
    fn db_system(&self) -> &'static str;
    /// See [`transaction::depth`].
    fn depth(&mut self) -> Option<NonZeroU32>;
    /// See [`Backend::operations_need_a_transaction`].
    fn operations_need_a_transaction(&mut self) -> bool;
    /// See [`transaction::begin`].
    fn begin(&mut self, access: Access) -> Result<NonZeroU32>;
    /// Commits the transaction or releases the savepoint of the innermost level.
    fn commit(&mut self) -> Result<()>;
    /// Rolls back the transaction or savepoint of the innermost level.
    fn roll_back(&mut self) -> Result<()>;
    /// See [`transaction::roll_back_after_error`].
    fn roll_back_after_error(&mut self, level: NonZeroU32);
    /// See [`Backend::transaction_survived`].
    fn survived(&mut self) -> bool;
    /// See [`Backend::raw`].
    fn as_raw(&mut self) -> RawConnection<'_>;
}

impl<C: Backend> Control for C {
    fn backend_name(&self) -> &'static str {
        C::NAME
    }

    fn db_system(&self) -> &'static str {
        C::DB_SYSTEM
    }

    fn depth(&mut self) -> Option<NonZeroU32> {
        transaction::depth(self)
    }

    fn operations_need_a_transaction(&mut self) -> bool {
        Backend::operations_need_a_transaction(self)
    }

    fn begin(&mut self, access: Access) -> Result<NonZeroU32> {
        transaction::begin(self, access)
    }

    fn commit(&mut self) -> Result<()> {
        transaction::commit(self)
    }

    fn roll_back(&mut self) -> Result<()> {
        transaction::roll_back(self)
    }

    fn roll_back_after_error(&mut self, level: NonZeroU32) {
        transaction::roll_back_after_error(self, level);
    }

    fn survived(&mut self) -> bool {
        self.transaction_survived()
    }

    fn as_raw(&mut self) -> RawConnection<'_> {
        self.raw()
    }
}

/// The migration steps of [`Repository`](crate::Repository), compiled once per backend.
pub(crate) trait Migrations {
    /// See [`migrations::applied`].
    fn applied(&mut self) -> Result<Vec<String>>;
    /// See [`migrations::pending`].
    fn pending(&mut self) -> Result<Vec<String>>;
    /// See [`migrations::run_pending`].
    fn run_pending(&mut self) -> Result<Vec<String>>;
    /// See [`migrations::revert_last`].
    fn revert_last(&mut self) -> Result<String>;
}

impl<C> Migrations for C
where
    C: Backend,
    for<'a> applied_versions: diesel::query_dsl::LoadQuery<'a, C, String>,
{
    fn applied(&mut self) -> Result<Vec<String>> {
        migrations::applied(self)
    }

    fn pending(&mut self) -> Result<Vec<String>> {
        migrations::pending(self)
    }

    fn run_pending(&mut self) -> Result<Vec<String>> {
        migrations::run_pending(self)
    }

    fn revert_last(&mut self) -> Result<String> {
        migrations::revert_last(self)
    }
}

/// Validates every input, naming the first bad one by its index.
fn validate_all<'a, T, R>(
    inputs: &'a [T],
    validate: impl Fn(&'a T) -> Result<R>,
) -> Result<Vec<R>> {
    // A loop, not `collect` into a `Result`, which cannot size the list in advance.
    let mut valid = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        valid.push(validate(input).map_err(|error| Error::InvalidRow {
            index,
            error: Box::new(error),
        })?);
    }
    Ok(valid)
}
