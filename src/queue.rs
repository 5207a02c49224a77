//! [`Queue`]: one place per pooled connection, in front of tokio's blocking pool, for
//! the calls of the [`AsyncRepository`](crate::asynchronous::AsyncRepository).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;

/// The places of a repository's async calls: one per pooled connection, so that no more
/// calls hold a blocking thread than could hold a connection, and the rest wait without
/// one.
#[derive(Debug)]
pub(crate) struct Queue {
    places: Arc<Semaphore>,
    size: usize,
    /// How long a call may wait for a place and a connection together.
    connection_timeout: Duration,
}

impl Queue {
    /// The queue of a pool opened with `config`.
    pub(crate) fn new(config: &Config) -> Self {
        let size = config.max_size as usize;
        Self {
            places: Arc::new(Semaphore::new(size)),
            size,
            connection_timeout: config.connection_timeout,
        }
    }

    /// When a call made now stops waiting for a connection; `None` for a timeout too
    /// far away for the clock to say.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        Instant::now().checked_add(self.connection_timeout)
    }

    /// A place, waiting for one until `deadline`: `None` when it passed first.
    pub(crate) async fn enter(&self, deadline: Option<Instant>) -> Option<OwnedSemaphorePermit> {
        // A free place needs no timer.
        if let Ok(place) = Arc::clone(&self.places).try_acquire_owned() {
            return Some(place);
        }
        let wait = Arc::clone(&self.places).acquire_owned();
        // The semaphore is never closed, so waiting for it only ends with a place.
        match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), wait)
                .await
                .ok()
                .and_then(Result::ok),
            None => wait.await.ok(),
        }
    }

    /// The places taken now.
    pub(crate) fn in_flight(&self) -> usize {
        self.size.saturating_sub(self.places.available_permits())
    }
}
