//! Which pooled connections are worth a test before they are handed out. A server
//! restart (or a proxy losing its state) ends every session at once, so once one
//! connection is found lost, every connection last known good before that moment is
//! presumably lost too: each is tested on its next checkout and replaced if dead,
//! instead of failing one call after another.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::observe::FailureWatch;

/// A pool's loss epoch: it moves on when a connection is found lost that was known good
/// in the current epoch. A connection last known good in an earlier epoch may have
/// died with that one.
#[derive(Debug, Default)]
pub(crate) struct LossEpoch(AtomicU64);

impl LossEpoch {
    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// What the pool and a connection's observer know of that connection's health.
#[derive(Debug)]
pub(crate) struct Health {
    epoch: Arc<LossEpoch>,
    /// The pool's epoch when the connection was last known to work.
    good_in: AtomicU64,
    /// Raised when the connection was found lost: the pool discards it when it returns.
    lost: AtomicBool,
}

/// A statement that finds the connection closed (a server connection the server
/// dropped) reports it lost, so that the pool discards it instead of handing it out, and
/// tests the connections opened before it.
impl FailureWatch for Health {
    fn failed(&self, error: &diesel::result::Error) {
        if is_connection_loss(error) {
            self.report_lost();
        }
    }
}

/// True for an error that leaves the connection unusable: closed, or (a write meeting
/// a read-only transaction outside any the crate began) connected to a server that is
/// now a standby, as a demoted primary is after a failover. Discarding it lets the
/// next connection find the new primary (a multi-host URL with
/// `target_session_attrs=read-write`).
fn is_connection_loss(error: &diesel::result::Error) -> bool {
    use diesel::result::DatabaseErrorKind;
    matches!(
        error,
        diesel::result::Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection
                | DatabaseErrorKind::UnableToSendCommand
                | DatabaseErrorKind::ReadOnlyTransaction,
            _
        )
    )
}

impl Health {
    /// The health of a connection about to be opened. The epoch is read before the
    /// connection is made, so a loss recorded meanwhile gets the new one tested once.
    pub(crate) fn new(epoch: Arc<LossEpoch>) -> Self {
        let good_in = AtomicU64::new(epoch.now());
        Self {
            epoch,
            good_in,
            lost: AtomicBool::new(false),
        }
    }

    /// The connection is gone; so, presumably, is every connection last known good no
    /// later than this one. Recording it once per connection, and only as far as this
    /// connection's own epoch, keeps a restart that is found connection after connection
    /// from casting doubt again and again on the connections opened since.
    pub(crate) fn report_lost(&self) {
        if !self.lost.swap(true, Ordering::AcqRel) {
            let after = self.good_in.load(Ordering::Acquire).saturating_add(1);
            self.epoch.0.fetch_max(after, Ordering::AcqRel);
        }
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// True when a loss was recorded since the connection was last known to work.
    pub(crate) fn is_suspect(&self) -> bool {
        self.good_in.load(Ordering::Acquire) < self.epoch.now()
    }

    /// Runs `test`, a round trip on the connection, and records what it showed: good
    /// as of the epoch before the test (a loss recorded during it keeps the connection
    /// suspect), or lost.
    pub(crate) fn test<E>(&self, test: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        let epoch = self.epoch.now();
        match test() {
            Ok(()) => {
                self.good_in.fetch_max(epoch, Ordering::AcqRel);
                Ok(())
            }
            Err(error) => {
                self.report_lost();
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_of(n: usize) -> (Arc<LossEpoch>, Vec<Health>) {
        let epoch = Arc::new(LossEpoch::default());
        let connections = (0..n).map(|_| Health::new(Arc::clone(&epoch))).collect();
        (epoch, connections)
    }

    #[test]
    fn one_lost_connection_makes_every_older_one_suspect_but_not_newer_ones() {
        let (epoch, old) = pool_of(3);
        assert!(old.iter().all(|health| !health.is_suspect()));
        old[0].report_lost();
        assert!(old[0].is_lost());
        assert!(old[1..]
            .iter()
            .all(|health| health.is_suspect() && !health.is_lost()));
        let new = Health::new(Arc::clone(&epoch));
        assert!(!new.is_suspect(), "opened after the loss");
    }

    #[test]
    fn a_connection_that_passes_its_test_is_no_longer_suspect() {
        let (_, pool) = pool_of(2);
        pool[0].report_lost();
        assert_eq!(pool[1].test(|| Ok::<_, ()>(())), Ok(()));
        assert!(!pool[1].is_suspect());
        assert!(!pool[1].is_lost());
    }

    #[test]
    fn finding_the_rest_of_one_restart_casts_no_doubt_on_connections_opened_since() {
        let (epoch, old) = pool_of(3);
        old[0].report_lost();
        let since = [
            Health::new(Arc::clone(&epoch)),
            Health::new(Arc::clone(&epoch)),
        ];
        assert_eq!(old[1].test(|| Err("closed")), Err("closed"));
        old[2].report_lost();
        assert!(old[1].is_lost() && old[2].is_lost());
        assert!(since.iter().all(|health| !health.is_suspect()));
        // A later loss of a connection opened since is news again.
        since[0].report_lost();
        assert!(since[1].is_suspect());
    }

    #[test]
    fn a_connection_is_reported_lost_once() {
        let (epoch, pool) = pool_of(1);
        pool[0].report_lost();
        pool[0].report_lost();
        assert_eq!(epoch.now(), 1);
    }
}
