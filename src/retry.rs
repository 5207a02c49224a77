//! [`Retry`]: how [`Repository::retry_transaction`](crate::Repository::retry_transaction)
//! runs a transaction again after an error that a second run may not meet.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::Error;

/// How often, and after what pauses, a transaction is run again after a
/// [retryable](Retryable) error: at most [`attempts`](Retry::attempts) runs in all,
/// the pause before the second [`first_pause`](Retry::first_pause), doubling after each
/// run up to [`longest_pause`](Retry::longest_pause), each drawn at random between half
/// and all of that (so that transactions that clashed do not clash again in step).
///
/// ```
/// use std::time::Duration;
/// use bookshelf::Retry;
///
/// let retry = Retry::default().attempts(10).longest_pause(Duration::from_millis(200));
/// assert_eq!(retry.max_attempts(), 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Retry {
    attempts: u32,
    first_pause: Duration,
    longest_pause: Duration,
}

/// 5 runs, pauses from 10 ms doubling up to 1 s.
impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_pause: Duration::from_millis(10),
            longest_pause: Duration::from_secs(1),
        }
    }
}

impl Retry {
    /// At most `attempts` runs in all (at least 1: a 0 counts as 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The pause before the second run (before the random halving).
    pub fn first_pause(mut self, pause: Duration) -> Self {
        self.first_pause = pause;
        self
    }

    /// The longest pause between two runs (before the random halving).
    pub fn longest_pause(mut self, pause: Duration) -> Self {
        self.longest_pause = pause;
        self
    }

    /// The most runs in all.
    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The pause before the next run, when run number `run` (1 for the first) failed
    /// with `error`: `None` when the error is not retryable or the runs are used up.
    pub(crate) fn next_pause(&self, run: u32, error: &impl Retryable) -> Option<Duration> {
        (run < self.attempts && error.is_retryable()).then(|| self.pause_after(run))
    }

    /// The pause after run number `run` (1 for the first) failed.
    fn pause_after(&self, run: u32) -> Duration {
        let doubled = self
            .first_pause
            .saturating_mul(1u32 << run.saturating_sub(1).min(20));
        let pause = doubled.min(self.longest_pause);
        // Between half and all of it: a random draw from std's per-process random keys.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(run);
        let fraction = 0.5 + (hasher.finish() % 1024) as f64 / 2048.0;
        pause.mul_f64(fraction)
    }
}

/// An error that says whether running the whole transaction again may succeed: see
/// [`Error::is_retryable`]. Implement it for an application's error type to use
/// [`Repository::retry_transaction`](crate::Repository::retry_transaction) with closures
/// that return it (usually by asking the [`Error`] it wraps).
pub trait Retryable {
    /// True when a new run of the transaction may succeed, and nothing of the failed
    /// run was committed.
    fn is_retryable(&self) -> bool;
}

impl Retryable for Error {
    fn is_retryable(&self) -> bool {
        Error::is_retryable(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_and_are_at_least_half_of_it() {
        let retry = Retry::default()
            .first_pause(Duration::from_millis(10))
            .longest_pause(Duration::from_millis(50));
        for (run, full) in [(1, 10), (2, 20), (3, 40), (4, 50), (30, 50)] {
            let pause = retry.pause_after(run);
            let full = Duration::from_millis(full);
            assert!(pause <= full && pause >= full / 2, "run {run}: {pause:?}");
        }
    }

    #[test]
    fn no_pause_after_the_last_run_or_an_error_a_new_run_would_meet_again() {
        let retry = Retry::default().attempts(3);
        let busy = Error::Database(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ClosedConnection,
            Box::new(String::from("server closed the connection")),
        ));
        assert!(retry.next_pause(1, &busy).is_some());
        assert!(retry.next_pause(2, &busy).is_some());
        assert_eq!(retry.next_pause(3, &busy), None);
        assert_eq!(retry.next_pause(1, &Error::TransactionAborted), None);
    }

    #[test]
    fn at_least_one_attempt() {
        assert_eq!(Retry::default().attempts(0).max_attempts(), 1);
    }
}
