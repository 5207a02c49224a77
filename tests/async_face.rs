//! The async face (`AsyncRepository`, the `tokio` feature): every operation on both
//! backends, many tasks on a small pool, the connection timeout, cancellation, where the
//! blocking work runs, and the book stream.

mod common;

#[cfg(not(feature = "tokio"))]
#[test]
fn the_async_face_needs_the_tokio_feature() {
    common::say_skipped(format_args!(
        "the `tokio` feature is off: tests/async_face.rs does not run (`cargo test` at the \
         workspace root turns it on through the web example)"
    ));
}

#[cfg(feature = "tokio")]
mod async_face {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    use bookshelf::{
        AsyncRepository, AuthorId, BookChanges, BookFilter, Error, NewAuthor, NewBook, Page,
        RawConnection, Repository, Retry, Retryable,
    };

    use crate::common::{self, backend_tests, expect_err, Backend, BoxError, TestDb, TestResult};

    /// A runtime as a service has: two workers, timers on.
    fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?)
    }

    /// Waits until no call holds a place in the queue, or fails after 30 s.
    async fn settled(repo: &AsyncRepository) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(30);
        while repo.calls_in_flight() > 0 {
            if Instant::now() > deadline {
                return Err(format!("calls still in flight: {}", repo.calls_in_flight()).into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = repo.stats();
        if stats.pool_idle_connections != stats.pool_connections {
            return Err(format!(
                "connections not back in the pool: {} of {} idle",
                stats.pool_idle_connections, stats.pool_connections
            )
            .into());
        }
        Ok(())
    }

    /// True when the current thread may block: tokio refuses to block inside an async
    /// worker (its `block_on` panics there), and allows it on a blocking-pool thread.
    fn may_block() -> bool {
        match tokio::runtime::Handle::try_current() {
            Err(_) => true,
            Ok(handle) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handle.block_on(async {});
            }))
            .is_ok(),
        }
    }

    /// An application error for the retry test: `Flaky` is worth another run.
    #[derive(Debug)]
    enum AppError {
        Flaky,
        Store(Error),
    }

    impl From<Error> for AppError {
        fn from(error: Error) -> Self {
            AppError::Store(error)
        }
    }

    impl Retryable for AppError {
        fn is_retryable(&self) -> bool {
            matches!(self, AppError::Flaky)
        }
    }

    backend_tests! {
        /// Every operation of the async face returns what the sync API returns on the
        /// same database.
        fn every_operation_matches_the_sync_api(backend: Backend) -> TestResult {
            let db = TestDb::open(backend)?;
            let sync = db.repo.clone();
            let repo = AsyncRepository::from(db.repo.clone());
            runtime()?.block_on(async move {
                let authors = repo
                    .create_authors(vec![NewAuthor::new("Ann Leckie"), NewAuthor::new("Iain Banks")])
                    .await?;
                let single = repo.create_author(NewAuthor::new("  Becky Chambers ")).await?;
                assert_eq!(single.name, "Becky Chambers");
                assert_eq!(repo.author(single.id).await?, sync.author(single.id)?);
                assert_eq!(repo.authors_by_name(" Becky Chambers").await?, vec![single.clone()]);
                assert_eq!(repo.list_authors(Page::first(2)).await?, sync.list_authors(Page::first(2))?);
                assert_eq!(repo.count_authors().await?, 3);

                let leckie = &authors[0];
                let book = repo.create_book(NewBook::new(leckie.id, "Ancillary Justice")).await?;
                let books = repo
                    .create_books(vec![
                        NewBook::new(leckie.id, "Ancillary Sword").published_year(2014),
                        NewBook::new(leckie.id, "Ancillary Mercy").published_year(2015),
                    ])
                    .await?;
                assert_eq!(books.len(), 2);
                assert_eq!(repo.book(book.id).await?, Some(book.clone()));
                assert_eq!(repo.books_by_author(leckie.id).await?, sync.books_by_author(leckie.id)?);
                assert_eq!(repo.books_by_title("Ancillary Sword").await?, vec![books[0].clone()]);
                let filter = BookFilter::new().title_contains("mercy");
                assert_eq!(repo.search_books(filter.clone()).await?, sync.search_books(&filter)?);
                assert_eq!(repo.list_books(Page::all()).await?, sync.list_books(Page::all())?);
                assert_eq!(repo.count_books().await?, 3);
                assert_eq!(
                    repo.authors_with_books(Page::all()).await?,
                    sync.authors_with_books(Page::all())?
                );

                let seen = Arc::new(AtomicUsize::new(0));
                let counter = Arc::clone(&seen);
                let visited = repo
                    .for_each_book(move |_| {
                        counter.fetch_add(1, Ordering::Relaxed);
                    })
                    .await?;
                assert_eq!((visited, seen.load(Ordering::Relaxed)), (3, 3));

                let updated = repo
                    .update_book(book.id, BookChanges::new().published_year(2013))
                    .await?;
                assert_eq!(updated.published_year, Some(2013));
                expect_err!(
                    repo.update_book_if(book.id, book.version, BookChanges::new().title("Stale")).await,
                    Error::Stale { .. }
                );
                let again = repo
                    .update_book_if(updated.id, updated.version, BookChanges::new().title("AJ"))
                    .await?;
                assert_eq!(again.title, "AJ");
                let renamed = repo.rename_author(single.id, "B. Chambers").await?;
                expect_err!(
                    repo.rename_author_if(single.id, single.version, "Stale").await,
                    Error::Stale { .. }
                );
                let renamed = repo.rename_author_if(renamed.id, renamed.version, "Chambers").await?;
                assert_eq!(renamed.name, "Chambers");

                expect_err!(repo.delete_book_if(again.id, book.version).await, Error::Stale { .. });
                repo.delete_book_if(again.id, again.version).await?;
                repo.delete_book(books[0].id).await?;
                expect_err!(repo.delete_book(books[0].id).await, Error::NotFound(_));
                expect_err!(repo.delete_author_if(renamed.id, single.version).await, Error::Stale { .. });
                repo.delete_author_if(renamed.id, renamed.version).await?;
                repo.delete_author(authors[1].id).await?;
                assert_eq!(repo.count_authors().await?, 1);

                // The same errors as the sync API.
                expect_err!(repo.create_author(NewAuthor::new(" ")).await, Error::Validation { field: "name", .. });
                expect_err!(
                    repo.create_books(vec![NewBook::new(leckie.id, "Ok"), NewBook::new(AuthorId(999_999), "Orphan")]).await,
                    Error::InvalidRow { index: 1, .. }
                );
                expect_err!(repo.delete_author(AuthorId(999_999)).await, Error::NotFound(_));

                repo.with_connection(|conn| {
                        use diesel::RunQueryDsl;
                        let query = diesel::sql_query("SELECT 1 FROM authors");
                        match conn {
                            RawConnection::Sqlite(conn) => query.execute(conn),
                            #[cfg(feature = "postgres")]
                            RawConnection::Postgres(conn) => query.execute(conn),
                            #[cfg(feature = "mysql")]
                            RawConnection::Mysql(conn) => query.execute(conn),
                            #[allow(unreachable_patterns)]
                            _ => Err(diesel::result::Error::NotFound),
                        }
                    })
                    .await?;

                // Transactions: committed, rolled back on error, always rolled back.
                let leckie_id = leckie.id;
                let kept = repo
                    .transaction(move |tx| -> bookshelf::Result<_> {
                        let author = tx.create_author(&NewAuthor::new("Kept"))?;
                        tx.create_book(&NewBook::new(leckie_id, "Provenance"))?;
                        Ok(author)
                    })
                    .await?;
                assert!(repo.author(kept.id).await?.is_some());
                expect_err!(
                    repo.transaction(|tx| -> bookshelf::Result<()> {
                        tx.create_author(&NewAuthor::new("Rolled back"))?;
                        tx.create_author(&NewAuthor::new(""))?;
                        Ok(())
                    })
                    .await,
                    Error::Validation { .. }
                );
                let inside = repo
                    .test_transaction(|tx| -> bookshelf::Result<_> {
                        tx.create_author(&NewAuthor::new("Dry run"))?;
                        tx.count_authors()
                    })
                    .await?;
                assert_eq!(inside, 3);
                assert_eq!(repo.count_authors().await?, 2);
                assert!(repo.authors_by_name("Rolled back").await?.is_empty());

                assert_eq!(repo.applied_migrations().await?, sync.applied_migrations()?);
                assert!(repo.pending_migrations().await?.is_empty());
                assert!(repo.run_pending_migrations().await?.is_empty());
                Ok::<_, BoxError>(())
            })?;
            settled_now(&db.repo)
        }

        /// 200 tasks at once on a pool of 4, each writing and reading: none fails, and
        /// no more calls than connections hold a blocking thread at any time.
        fn two_hundred_tasks_on_a_pool_of_four(backend: Backend) -> TestResult {
            let db = TestDb::open_with(backend, |config| config.max_size(4))?;
            let repo = AsyncRepository::from(db.repo.clone());
            let most_in_flight = Arc::new(AtomicUsize::new(0));
            runtime()?.block_on(async move {
                let mut tasks = Vec::new();
                for i in 0..200 {
                    let repo = repo.clone();
                    let most = Arc::clone(&most_in_flight);
                    tasks.push(tokio::spawn(async move {
                        let author = repo.create_author(NewAuthor::new(format!("Author {i:03}"))).await?;
                        most.fetch_max(repo.calls_in_flight(), Ordering::Relaxed);
                        let book = repo.create_book(NewBook::new(author.id, format!("Title {i:03}"))).await?;
                        let read = repo.book(book.id).await?;
                        most.fetch_max(repo.calls_in_flight(), Ordering::Relaxed);
                        let books = repo.books_by_author(author.id).await?;
                        let renamed = repo
                            .transaction(move |tx| tx.rename_author(author.id, &format!("Renamed {i:03}")))
                            .await?;
                        Ok::<_, Error>((read == Some(book), books.len(), renamed.name))
                    }));
                }
                let mut failures = Vec::new();
                for (i, task) in tasks.into_iter().enumerate() {
                    match task.await? {
                        Ok((true, 1, name)) if name == format!("Renamed {i:03}") => {}
                        other => failures.push(format!("task {i}: {other:?}")),
                    }
                }
                assert!(failures.is_empty(), "{} failed: {failures:?}", failures.len());
                assert_eq!(repo.count_authors().await?, 200);
                assert_eq!(repo.count_books().await?, 200);
                let most = most_in_flight.load(Ordering::Relaxed);
                assert!((1..=4).contains(&most), "{most} calls in flight on a pool of 4");
                settled(&repo).await
            })
        }

        /// Futures dropped at random points (a timeout of 0 to 40 ms over transactions
        /// that write an author and five books, 2 ms apart): every transaction that
        /// began committed as a whole, none committed half, none that had not begun ran
        /// later, and every connection is back in the pool.
        fn dropped_futures_leave_every_transaction_whole(backend: Backend) -> TestResult {
            let db = TestDb::open_with(backend, |config| config.max_size(4))?;
            let repo = AsyncRepository::from(db.repo.clone());
            let began = Arc::new(AtomicUsize::new(0));
            let (answered, timed_out) = runtime()?.block_on({
                let repo = repo.clone();
                let began = Arc::clone(&began);
                async move {
                    let mut random = 42u64;
                    let mut tasks = Vec::new();
                    for i in 0..60 {
                        random ^= random << 13;
                        random ^= random >> 7;
                        random ^= random << 17;
                        let patience = Duration::from_millis(random % 41);
                        let (repo, began) = (repo.clone(), Arc::clone(&began));
                        tasks.push(tokio::spawn(async move {
                            let call = repo.transaction(move |tx| -> bookshelf::Result<()> {
                                began.fetch_add(1, Ordering::SeqCst);
                                let name = format!("Author {i:02}");
                                let author = tx.create_author(&NewAuthor::new(name))?;
                                for j in 0..5 {
                                    std::thread::sleep(Duration::from_millis(2));
                                    let title = format!("Title {i:02}-{j}");
                                    tx.create_book(&NewBook::new(author.id, title))?;
                                }
                                Ok(())
                            });
                            tokio::time::timeout(patience, call).await
                        }));
                    }
                    let (mut answered, mut timed_out) = (0, 0);
                    for task in tasks {
                        match task.await? {
                            Ok(result) => {
                                result?;
                                answered += 1;
                            }
                            Err(_elapsed) => timed_out += 1,
                        }
                    }
                    settled(&repo).await?;
                    Ok::<_, BoxError>((answered, timed_out))
                }
            })?;
            let began = began.load(Ordering::SeqCst);
            let shelf = db.repo.authors_with_books(Page::all())?;
            let half = shelf.iter().filter(|entry| entry.books.len() != 5).count();
            assert_eq!(half, 0, "transactions committed in part");
            assert_eq!(shelf.len(), began, "every transaction that began committed");
            assert_eq!(answered + timed_out, 60);
            // The draw must have dropped futures both before and after their start.
            assert!(began > answered, "no future was dropped mid-transaction ({began} began, {answered} answered)");
            assert!(began < 60, "no future was dropped before its transaction began");
            Ok(())
        }

        /// The blocking work (closures, callbacks, every operation's database call) runs
        /// on tokio's blocking pool, never on an async worker.
        fn blocking_work_never_runs_on_a_worker(backend: Backend) -> TestResult {
            let db = TestDb::open(backend)?;
            let repo = AsyncRepository::from(db.repo.clone());
            runtime()?.block_on(async move {
                // The check itself: an async task runs on a worker, where blocking is refused.
                assert!(!may_block(), "the probe cannot tell a worker");
                let (author, in_transaction) = repo
                    .transaction(|tx| -> bookshelf::Result<_> {
                        Ok((tx.create_author(&NewAuthor::new("Someone"))?, may_block()))
                    })
                    .await?;
                let in_connection = repo.with_connection(|_| Ok(may_block())).await?;
                let in_retry = repo
                    .retry_transaction(Retry::default(), |_| -> bookshelf::Result<_> { Ok(may_block()) })
                    .await?;
                let callback_blocked = Arc::new(AtomicUsize::new(0));
                let seen = Arc::clone(&callback_blocked);
                repo.create_book(NewBook::new(author.id, "A book")).await?;
                repo.for_each_book(move |_| {
                    seen.fetch_add(usize::from(may_block()), Ordering::Relaxed);
                })
                .await?;
                assert!(in_transaction && in_connection && in_retry);
                assert_eq!(callback_blocked.load(Ordering::Relaxed), 1);
                Ok(())
            })
        }

        /// With the only connection held, a call fails with `Error::Pool` once the
        /// connection timeout has passed, counted from the call: whether the holder is a
        /// sync caller (the async call then has a place and waits in the pool) or an
        /// async one (it waits in the queue, then looks at the pool once).
        fn a_call_gets_a_connection_within_the_connection_timeout_or_a_pool_error(
            backend: Backend
        ) -> TestResult {
            let timeout = Duration::from_secs(1);
            let db = TestDb::open_with(backend, |config| config.max_size(1).connection_timeout(timeout))?;
            let repo = AsyncRepository::from(db.repo.clone());
            let sync = db.repo.clone();
            runtime()?.block_on(async move {
                // A sync transaction holds the connection.
                let (release, released) = mpsc::channel::<()>();
                let (held, holding) = mpsc::channel::<()>();
                let holder = std::thread::spawn(move || {
                    sync.transaction(|_| -> bookshelf::Result<()> {
                        let _ = held.send(());
                        let _ = released.recv();
                        Ok(())
                    })
                });
                holding.recv()?;
                let start = Instant::now();
                expect_err!(repo.count_books().await, Error::Pool(_));
                let waited_in_pool = start.elapsed();
                release.send(())?;
                holder.join().map_err(|_| "holder panicked")??;

                // An async transaction holds the connection and the only place.
                let (release, released) = mpsc::channel::<()>();
                let (held, holding) = tokio::sync::oneshot::channel::<()>();
                let holder = tokio::spawn({
                    let repo = repo.clone();
                    async move {
                        repo.transaction(move |_| -> bookshelf::Result<()> {
                            let _ = held.send(());
                            let _ = released.recv();
                            Ok(())
                        })
                        .await
                    }
                });
                holding.await?;
                let start = Instant::now();
                expect_err!(repo.author(AuthorId(1)).await, Error::Pool(_));
                let waited_in_queue = start.elapsed();
                release.send(())?;
                holder.await??;

                // Each waited its timeout once, not a wait for a place and then another
                // for a connection.
                for waited in [waited_in_pool, waited_in_queue] {
                    assert!(waited >= timeout && waited < timeout * 9 / 5, "waited {waited:?}");
                }
                assert_eq!(repo.count_books().await?, 0);
                settled(&repo).await
            })
        }

        /// A panic in a transaction closure rolls the transaction back on its thread,
        /// resumes in the caller's task, and gives the connection back.
        fn a_panic_in_a_closure_rolls_back_and_resumes_in_the_caller(backend: Backend) -> TestResult {
            let db = TestDb::open(backend)?;
            let repo = AsyncRepository::from(db.repo.clone());
            runtime()?.block_on(async move {
                let call = tokio::spawn({
                    let repo = repo.clone();
                    async move {
                        #[allow(clippy::panic)] // the panic is what this test is about
                        repo.transaction(|tx| -> bookshelf::Result<()> {
                            tx.create_author(&NewAuthor::new("Written, then undone"))?;
                            panic!("the closure panics");
                        })
                        .await
                    }
                });
                let joined = call.await;
                assert!(joined.as_ref().is_err_and(|error| error.is_panic()), "{joined:?}");
                assert_eq!(repo.count_authors().await?, 0);
                settled(&repo).await
            })
        }

        /// `retry_transaction` runs the closure again after a retryable error, each run
        /// in a transaction of its own whose writes go when it fails.
        fn retry_transaction_runs_again_after_a_retryable_error(backend: Backend) -> TestResult {
            let db = TestDb::open(backend)?;
            let repo = AsyncRepository::from(db.repo.clone());
            runtime()?.block_on(async move {
                let runs = Arc::new(AtomicUsize::new(0));
                let counted = Arc::clone(&runs);
                let retry = Retry::default().attempts(5).first_pause(Duration::from_millis(1));
                let author = repo
                    .retry_transaction(retry, move |tx| {
                        let run = counted.fetch_add(1, Ordering::SeqCst) + 1;
                        let author = tx.create_author(&NewAuthor::new(format!("Run {run}")))?;
                        if run < 3 {
                            return Err(AppError::Flaky);
                        }
                        Ok(author)
                    })
                    .await;
                let author = match author {
                    Ok(author) => author,
                    Err(error) => return Err(format!("{error:?}").into()),
                };
                assert_eq!((runs.load(Ordering::SeqCst), author.name.as_str()), (3, "Run 3"));
                assert_eq!(repo.count_authors().await?, 1);
                let never = repo
                    .retry_transaction(Retry::default().attempts(2).first_pause(Duration::ZERO), |_| {
                        Err::<(), _>(AppError::Store(Error::TransactionAborted))
                    })
                    .await;
                assert!(matches!(never, Err(AppError::Store(Error::TransactionAborted))));
                Ok(())
            })
        }

        /// The book stream yields every book by id, as `list_books` does; dropped
        /// mid-way, it gives its place and its connection back.
        fn the_book_stream_yields_every_book_and_lets_go_when_dropped(backend: Backend) -> TestResult {
            let db = TestDb::open_with(backend, |config| config.max_size(2))?;
            common::seed(&db.repo, 300, 10)?;
            let repo = AsyncRepository::from(db.repo.clone());
            let sync = db.repo.clone();
            runtime()?.block_on(async move {
                let mut stream = repo.stream_books();
                let mut streamed = Vec::new();
                while let Some(book) = stream.next().await {
                    streamed.push(book?);
                }
                assert_eq!(streamed, sync.list_books(Page::all())?);
                assert!(stream.next().await.is_none(), "an ended stream stays ended");

                // Not polled: nothing runs.
                let idle = repo.stream_books();
                assert_eq!(repo.calls_in_flight(), 0);
                drop(idle);

                // Read one book, then stop reading: the scan waits on the full channel
                // and keeps its place (without back-pressure it would read all 3,000
                // books at once and end).
                let mut stream = repo.stream_books();
                let first = stream.next().await.ok_or("no first book")??;
                assert_eq!(first, streamed[0]);
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(repo.calls_in_flight(), 1, "the scan ran ahead of its reader");
                drop(stream);
                settled(&repo).await?;
                assert_eq!(repo.count_books().await?, 3000);
                Ok(())
            })
        }
    }

    /// The handle and the futures of its calls can go to any thread: `tokio::spawn`
    /// takes them.
    #[test]
    fn the_handle_its_futures_and_the_stream_cross_threads() -> TestResult {
        fn shared<T: Clone + Send + Sync + 'static>(_: &T) {}
        fn sent<T: Send>(_: &T) {}
        fn stream<
            T: futures_core::Stream<Item = bookshelf::Result<bookshelf::Book>> + Send + Unpin,
        >(
            _: &T,
        ) {
        }
        let db = TestDb::new()?;
        let repo = AsyncRepository::from(db.repo.clone());
        shared(&repo);
        sent(&repo.create_author(NewAuthor::new("Sent")));
        sent(&repo.search_books(BookFilter::new()));
        sent(&repo.transaction(|tx| tx.count_books()));
        sent(&repo.retry_transaction(Retry::default(), |tx| tx.count_books()));
        sent(&repo.for_each_book(|_| {}));
        sent(&repo.close());
        stream(&AsyncRepository::from(db.repo.clone()).stream_books());
        Ok(())
    }

    /// Every connection of `repo` is back in the pool.
    fn settled_now(repo: &Repository) -> TestResult {
        let stats = repo.stats();
        assert_eq!(stats.pool_idle_connections, stats.pool_connections);
        Ok(())
    }

    /// A call whose future is dropped while it waits for a place in the queue never
    /// runs.
    #[test]
    fn a_call_dropped_in_the_queue_never_runs() -> TestResult {
        let db = TestDb::open_with(Backend::Sqlite, |config| config.max_size(1))?;
        let repo = AsyncRepository::from(db.repo.clone());
        runtime()?.block_on(async move {
            let (release, released) = mpsc::channel::<()>();
            let (held, holding) = tokio::sync::oneshot::channel::<()>();
            let holder = tokio::spawn({
                let repo = repo.clone();
                async move {
                    repo.transaction(move |_| -> bookshelf::Result<()> {
                        let _ = held.send(());
                        let _ = released.recv();
                        Ok(())
                    })
                    .await
                }
            });
            holding.await?;
            let queued = repo.create_author(NewAuthor::new("Never written"));
            let dropped = tokio::time::timeout(Duration::from_millis(50), queued).await;
            assert!(dropped.is_err(), "the call did not wait in the queue");
            release.send(())?;
            holder.await??;
            settled(&repo).await?;
            assert_eq!(repo.count_authors().await?, 0);
            Ok(())
        })
    }

    /// A call whose future is dropped after it got a place, but before a blocking
    /// thread picked it up, never runs: the thread sees nobody waits for it.
    #[test]
    fn a_call_dropped_before_a_thread_picked_it_up_never_runs() -> TestResult {
        let db = TestDb::new()?;
        let repo = AsyncRepository::from(db.repo.clone());
        // One blocking thread, kept busy, so the call waits for it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let (release, released) = mpsc::channel::<()>();
            let busy = tokio::task::spawn_blocking(move || released.recv());
            let call = repo.create_author(NewAuthor::new("Never written"));
            let dropped = tokio::time::timeout(Duration::from_millis(50), call).await;
            assert!(dropped.is_err(), "the call ran at once");
            assert_eq!(
                repo.calls_in_flight(),
                1,
                "the call has its place, and waits for a thread"
            );
            release.send(())?;
            busy.await??;
            settled(&repo).await?;
            assert_eq!(repo.count_authors().await?, 0);
            Ok(())
        })
    }

    /// A call made on a runtime that has shut down is `Error::RuntimeShutdown`, and
    /// writes nothing.
    #[test]
    fn a_call_on_a_runtime_that_shut_down_is_a_typed_error() -> TestResult {
        let db = TestDb::new()?;
        let repo = AsyncRepository::from(db.repo.clone());
        let runtime = runtime()?;
        let handle = runtime.handle().clone();
        runtime.shutdown_timeout(Duration::from_secs(5));
        let result = handle.block_on(repo.create_author(NewAuthor::new("Late")));
        expect_err!(result, Error::RuntimeShutdown);
        assert_eq!(db.repo.count_authors()?, 0);
        Ok(())
    }

    /// Opened directly, on the blocking pool, with the sync API's errors.
    #[test]
    fn opens_directly_with_the_sync_errors() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("direct.db");
        runtime()?.block_on(async move {
            let repo = AsyncRepository::open_path(&path).await?;
            repo.create_author(NewAuthor::new("Opened")).await?;
            assert_eq!(repo.count_authors().await?, 1);
            repo.close().await.map_err(|_| "still shared")?;
            let reopened = bookshelf::Config::for_path(&path).open_async().await?;
            assert_eq!(reopened.count_authors().await?, 1);
            expect_err!(
                AsyncRepository::open("mongodb://nowhere/db").await,
                Error::UnsupportedUrl(_)
            );
            expect_err!(
                bookshelf::Config::new(":memory:")
                    .max_size(0)
                    .open_async()
                    .await,
                Error::Config {
                    setting: "max_size",
                    ..
                }
            );
            let memory = AsyncRepository::in_memory().await?;
            assert_eq!(memory.count_books().await?, 0);
            Ok(())
        })
    }
}
