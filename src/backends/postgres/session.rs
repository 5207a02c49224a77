//! What a PostgreSQL connection of this crate carries with it: the observer of its
//! statements, and how its transactions begin. Both live in the one slot diesel keeps
//! on a connection for its user, its instrumentation, so that whatever runs on the
//! connection (an operation, a transaction, a migration) finds them there, on the
//! connection itself.

use std::borrow::Cow;

use diesel::connection::{Connection, Instrumentation, InstrumentationEvent};
use diesel::pg::PgConnection;

use crate::backend::Access;
use crate::observe::Observer;

/// The crate's state on a PostgreSQL connection, installed as its instrumentation.
pub(crate) struct PgSession {
    /// Counts and echoes the statements (none on the connection that migrates).
    observer: Option<Observer>,
    /// Sent with every top-level `BEGIN`, in its round trip: `SET LOCAL` of the
    /// timeouts, on a connection whose session cannot keep settings (behind a pooler in
    /// transaction mode). `None` when the session keeps its `SET`s.
    local_settings: Option<String>,
}

impl PgSession {
    /// State for a connection whose transactions begin with `local_settings`.
    pub(crate) fn new(observer: Option<Observer>, local_settings: Option<String>) -> Self {
        Self {
            observer,
            local_settings,
        }
    }
}

impl Instrumentation for PgSession {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let Some(observer) = &mut self.observer {
            observer.on_connection_event(event);
        }
    }
}

/// The state `conn` carries, if the crate opened it.
fn state(conn: &mut PgConnection) -> Option<&mut PgSession> {
    conn.instrumentation().downcast_mut::<PgSession>()
}

/// The statement that begins a top-level transaction for `access` on `conn`: the
/// isolation `access` needs, and the connection's local settings with it.
pub(crate) fn begin_sql(conn: &mut PgConnection, access: Access) -> Cow<'static, str> {
    let begin = match access {
        // READ COMMITTED, PostgreSQL's default: writers run side by side, with row
        // locks.
        Access::Write => "BEGIN",
        Access::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
    match state(conn).and_then(|state| state.local_settings.as_deref()) {
        // One round trip still: a simple query runs every statement of its text.
        Some(settings) => Cow::Owned(format!("{begin}; {settings}")),
        None => Cow::Borrowed(begin),
    }
}

/// True when `conn`'s settings hold only inside a transaction: then every operation
/// must run in one.
pub(crate) fn settings_need_a_transaction(conn: &mut PgConnection) -> bool {
    state(conn).is_some_and(|state| state.local_settings.is_some())
}
