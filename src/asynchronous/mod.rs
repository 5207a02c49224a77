//! [`AsyncRepository`]: the repository's operations as `async fn`s for tokio
//! applications (the `tokio` feature), each run on tokio's blocking pool behind a
//! queue sized to the connection pool (`crate::queue`).

mod operations;
mod stream;

use std::sync::Arc;

use tokio::task::JoinError;

use crate::config::Config;
use crate::consistency::{Consistency, Token};
use crate::error::{Error, Result};
use crate::observe::Stats;
use crate::repository::Repository;

pub use stream::BookStream;

/// The [`Repository`] for async code: every operation of `Repository` as an `async fn`
/// of the same name, with the same results and errors, for applications on tokio.
///
/// Diesel's connections are synchronous, so each call runs on tokio's blocking pool,
/// never on an async worker thread: a slow query, a lock wait or a full pool never
/// stalls the other tasks of a worker. In front of the blocking pool is a queue with one
/// place per pooled connection ([`Config::max_size`]), shared by every handle on the same
/// pool: at most that many calls hold a blocking thread at once, and the rest wait
/// asynchronously, without a thread, for a place. A call that cannot get a connection
/// within [`Config::connection_timeout`] (its wait for a place and for the connection
/// together) fails with [`Error::Pool`], as a call of the sync API does.
///
/// Arguments that the sync API borrows are taken by value here (`NewAuthor`,
/// `Vec<NewBook>`, `impl Into<String>` for names and titles), since a borrow cannot
/// cross into the blocking thread. Cloning is cheap, every clone shares the pool, and
/// the type is `Send + Sync`: make it once and hand it to every task. Make it from a
/// [`Repository`] (`AsyncRepository::from(repo)`), or open one with
/// [`open`](AsyncRepository::open) or [`Config::open_async`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> bookshelf::Result<()> {
/// use bookshelf::{AsyncRepository, NewAuthor, NewBook};
///
/// let repo = AsyncRepository::in_memory().await?;
/// let author = repo.create_author(NewAuthor::new("Ursula K. Le Guin")).await?;
/// repo.create_book(NewBook::new(author.id, "The Dispossessed")).await?;
///
/// // A transaction is a synchronous closure, run on one blocking thread.
/// let renamed = repo
///     .transaction(move |tx| -> bookshelf::Result<_> {
///         let books = tx.books_by_author(author.id)?;
///         tx.rename_author(author.id, &format!("{} ({} books)", author.name, books.len()))
///     })
///     .await?;
/// assert_eq!(renamed.name, "Ursula K. Le Guin (1 books)");
/// # Ok(())
/// # }
/// ```
///
/// # Cancellation
///
/// Dropping the future of a call (a client that disconnects, a `tokio::time::timeout`
/// that fires, a `select!` that takes another branch) never leaves the database half
/// written, and never loses a connection:
///
/// - dropped while it waits for a place in the queue, the call does not run;
/// - dropped after it got a place but before a blocking thread picked it up, it does
///   not run either: the thread sees that nobody waits for it, and gives the place back;
/// - dropped once it began, it runs to its end on its blocking thread, as a whole: an
///   operation or a [`transaction`](AsyncRepository::transaction) commits, or rolls back
///   on error, exactly as it would have with the caller waiting, and its connection goes
///   back to the pool. Only the result is thrown away. So a dropped call that wrote may
///   have committed: as after any lost response, read to find out.
///
/// A [`retry_transaction`](AsyncRepository::retry_transaction) dropped between two runs
/// starts no new run. A [`BookStream`] dropped mid-way stops the scan at the next book and
/// gives its connection back.
///
/// # Runtime
///
/// Calls must be made on a tokio runtime, with its time driver (which
/// `#[tokio::main]`, `#[tokio::test]` and `Runtime::new` turn on; a `Builder` needs
/// `enable_time` or `enable_all`): tokio itself panics without one. Both runtime flavors
/// work; on `current_thread`, the blocking threads still do the database work.
///
/// A panic in a closure (of a transaction, of [`with_connection`](AsyncRepository::with_connection))
/// rolls its transaction back on the blocking thread and then resumes in the caller's
/// task, as with the sync API. A call made while the runtime shuts down may fail with
/// [`Error::RuntimeShutdown`] without running.
#[derive(Clone)]
pub struct AsyncRepository {
    repo: Repository,
}

impl std::fmt::Debug for AsyncRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRepository")
            .field("repo", &self.repo)
            .field("calls_in_flight", &self.calls_in_flight())
            .finish()
    }
}

impl From<Repository> for AsyncRepository {
    fn from(repo: Repository) -> Self {
        Self { repo }
    }
}

impl Repository {
    /// This repository as an [`AsyncRepository`], sharing its pool.
    pub fn into_async(self) -> AsyncRepository {
        AsyncRepository::from(self)
    }
}

impl Config {
    /// Opens the repository as [`open`](Config::open) does, on tokio's blocking pool
    /// (opening connects, and migrates), as an [`AsyncRepository`].
    ///
    /// # Errors
    ///
    /// As [`Config::open`]; [`Error::RuntimeShutdown`] when the runtime shuts down first.
    pub async fn open_async(self) -> Result<AsyncRepository> {
        let opened = tokio::task::spawn_blocking(move || self.open()).await;
        joined(opened)?.map(AsyncRepository::from)
    }
}

impl AsyncRepository {
    /// Opens (creating it if needed) the database at `url`, as [`Repository::open`]
    /// does, on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`Config::open`].
    pub async fn open(url: impl Into<String>) -> Result<AsyncRepository> {
        Config::new(url).open_async().await
    }

    /// Opens (creating it if needed) the SQLite database file at `path`, as
    /// [`Repository::open_path`] does, on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`Config::open`].
    pub async fn open_path(path: impl AsRef<std::path::Path>) -> Result<AsyncRepository> {
        Config::for_path(path).open_async().await
    }

    /// Opens a new private in-memory database, migrated, as [`Repository::in_memory`]
    /// does.
    ///
    /// # Errors
    ///
    /// As [`Config::open`].
    pub async fn in_memory() -> Result<AsyncRepository> {
        Config::new(":memory:").open_async().await
    }

    /// The sync [`Repository`] this handle runs its calls on, sharing the pool. Its
    /// methods block: call them on a blocking thread (`spawn_blocking`), or outside the
    /// runtime.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// This handle, with its reads made as `consistency` says: see
    /// [`Repository::reading`].
    pub fn reading(&self, consistency: Consistency) -> AsyncRepository {
        AsyncRepository::from(self.repo.reading(consistency))
    }

    /// What this handle's reads must see: see [`Repository::reading`].
    pub fn consistency(&self) -> Consistency {
        self.repo.consistency()
    }

    /// The primary's log position after this repository's latest write: see
    /// [`Repository::write_token`].
    pub fn write_token(&self) -> Option<Token> {
        self.repo.write_token()
    }

    /// Statement counts and the pool's state: see [`Repository::stats`]. It reads
    /// counters and does not wait.
    pub fn stats(&self) -> Stats {
        self.repo.stats()
    }

    /// The calls that hold a place in the queue now: running on a blocking thread, or
    /// about to. At most [`Config::max_size`].
    pub fn calls_in_flight(&self) -> usize {
        self.repo.queue().in_flight()
    }

    /// Closes the repository, if this is its last handle (sync or async), as
    /// [`Repository::close`] does, on a blocking thread: closing a database may write
    /// (SQLite checkpoints its WAL into the file).
    ///
    /// # Errors
    ///
    /// This handle, unchanged, while another clone of it (or its [`Repository`]) is
    /// alive.
    pub async fn close(self) -> std::result::Result<(), AsyncRepository> {
        let repo = self.repo;
        match tokio::task::spawn_blocking(move || repo.close()).await {
            Ok(closed) => closed.map_err(AsyncRepository::from),
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // The runtime shut down first; the handle went with the task.
                Err(_) => Ok(()),
            },
        }
    }

    /// Waits for a place in the queue, until the call's connection timeout passes.
    async fn admit(&self) -> Admitted {
        let queue = self.repo.queue();
        let deadline = queue.deadline();
        let place = queue.enter(deadline).await;
        let repo = match deadline {
            Some(deadline) => self.repo.waiting_until(deadline),
            None => self.repo.clone(),
        };
        Admitted { place, repo }
    }

    /// Runs `f` on the repository on a blocking thread, once this call has a place in
    /// the queue (or its connection timeout has passed: it then takes one look at the
    /// pool, and fails at once with the pool's own error if no connection is free).
    /// `f` does not run if the caller is gone before a blocking thread picks it up.
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Repository) -> R + Send + 'static,
    ) -> Result<R> {
        let admitted = self.admit().await;
        let caller = Arc::new(());
        let waiting = Arc::downgrade(&caller);
        let call = tokio::task::spawn_blocking(move || {
            let Admitted {
                place: _place,
                repo,
            } = admitted;
            waiting.upgrade().map(|_caller| f(&repo))
        });
        let ran = joined(call.await);
        drop(caller);
        // The caller is here, so only a runtime that shut down leaves the call unrun.
        ran?.ok_or(Error::RuntimeShutdown)
    }

    /// [`blocking`](Self::blocking) for a call that returns the crate's result, or an
    /// application's that the crate's errors convert into.
    async fn run<T, E>(
        &self,
        f: impl FnOnce(&Repository) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.blocking(f).await?
    }
}

/// A call let through the queue: its place (`None` when its connection timeout passed
/// first), held until it ends, and the repository it runs on, whose checkout waits only
/// for what is left of the timeout.
struct Admitted {
    place: Option<tokio::sync::OwnedSemaphorePermit>,
    repo: Repository,
}

/// The value of a blocking task: its panic resumes here; a task the runtime dropped
/// unrun (it shut down) is [`Error::RuntimeShutdown`].
fn joined<R>(result: std::result::Result<R, JoinError>) -> Result<R> {
    result.map_err(|error| match error.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_) => Error::RuntimeShutdown,
    })
}
