//! `Repository::transaction`, `Tx::transaction` savepoints and `test_transaction`.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use bookshelf::Page;
use bookshelf::{AuthorId, BookChanges, BookFilter, BookId, Error, Missing, NewAuthor, NewBook};
use common::{backend_tests, Backend, TestDb};

/// The error a closure returns to make its transaction roll back.
fn abort() -> Error {
    Error::NotFound(Missing::Book(BookId(-1)))
}

fn is_abort(error: &Error) -> bool {
    matches!(error, Error::NotFound(Missing::Book(BookId(-1))))
}

backend_tests! {
    fn commits_on_ok(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let (author, titles) = repo.transaction(|tx| -> bookshelf::Result<_> {
            let author = tx.create_author(&NewAuthor::new("Author 000001"))?;
            let books = tx.create_books(&[
                NewBook::new(author.id, "Title 000001-01"),
                NewBook::new(author.id, "Title 000001-02"),
            ])?;
            Ok((author, books.len()))
        })?;
        assert_eq!(titles, 2);
        assert_eq!(repo.author(author.id)?, Some(author.clone()));
        assert_eq!(repo.books_by_author(author.id)?.len(), 2);
        Ok(())
    }
}

backend_tests! {
    fn rolls_back_on_err(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let kept = repo.create_author(&NewAuthor::new("Author 000001"))?;
        let result: bookshelf::Result<()> = repo.transaction(|tx| {
            let author = tx.create_author(&NewAuthor::new("Author 000002"))?;
            tx.create_book(&NewBook::new(author.id, "Title 000002-01"))?;
            tx.create_book(&NewBook::new(kept.id, "Title 000001-01"))?;
            tx.rename_author(kept.id, "Renamed")?;
            assert_eq!(tx.count_authors()?, 2);
            Err(abort())
        });
        assert!(
            matches!(&result, Err(error) if is_abort(error)),
            "{result:?}"
        );
        assert_eq!(repo.count_authors()?, 1);
        assert_eq!(repo.count_books()?, 0);
        assert_eq!(repo.author(kept.id)?, Some(kept));
        assert!(repo.authors_by_name("Author 000002")?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn a_single_connection_is_clean_after_a_rollback(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, |config| config.max_size(1))?;
        let repo = &db.repo;
        for round in 0..3 {
            let result: bookshelf::Result<()> = repo.transaction(|tx| {
                tx.create_author(&NewAuthor::new(format!("Undone {round}")))?;
                Err(abort())
            });
            assert!(result.is_err());
            // The same (only) connection: a new transaction must begin, and see nothing.
            repo.transaction(|tx| -> bookshelf::Result<_> {
                assert_eq!(tx.count_authors()?, round);
                tx.create_author(&NewAuthor::new(format!("Kept {round}")))?;
                Ok(())
            })?;
        }
        assert_eq!(repo.count_authors()?, 3);
        assert_eq!(repo.stats().connections_opened, 1);
        Ok(())
    }
}

backend_tests! {
    #[allow(clippy::panic)]
    fn rolls_back_on_panic(backend: Backend) -> TestResult {
        for max_size in [1, 4] {
            let db = TestDb::open_with(backend, |config| config.max_size(max_size))?;
            let repo = &db.repo;
            let kept = repo.create_author(&NewAuthor::new("Author 000001"))?;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                repo.transaction(|tx| -> bookshelf::Result<()> {
                    let author = tx.create_author(&NewAuthor::new("Author 000002"))?;
                    tx.create_book(&NewBook::new(author.id, "Title 000002-01"))?;
                    tx.delete_author(kept.id)?;
                    panic!("boom inside the transaction");
                })
            }));
            assert!(outcome.is_err(), "the panic must propagate");
            assert_eq!(repo.count_authors()?, 1);
            assert_eq!(repo.count_books()?, 0);
            assert_eq!(repo.author(kept.id)?, Some(kept.clone()));
            // The repository still works, with transactions too.
            let again = repo.transaction(|tx| -> bookshelf::Result<_> {
                let author = tx.create_author(&NewAuthor::new("Author 000003"))?;
                tx.create_book(&NewBook::new(author.id, "Title 000003-01"))?;
                Ok(author)
            })?;
            assert_eq!(repo.books_by_author(again.id)?.len(), 1);
            assert_eq!(repo.count_authors()?, 2);
        }
        Ok(())
    }
}

backend_tests! {
    #[allow(clippy::panic)]
    fn a_panic_in_a_savepoint_undoes_only_the_savepoint(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, |config| config.max_size(1))?;
        let repo = &db.repo;
        repo.transaction(|tx| -> bookshelf::Result<_> {
            tx.create_author(&NewAuthor::new("Outer"))?;
            let inner = catch_unwind(AssertUnwindSafe(|| {
                tx.transaction(|tx| -> bookshelf::Result<()> {
                    tx.create_author(&NewAuthor::new("Inner"))?;
                    panic!("boom inside the savepoint");
                })
            }));
            assert!(inner.is_err());
            // Same connection, same outer transaction: it goes on.
            assert_eq!(tx.count_authors()?, 1);
            tx.create_author(&NewAuthor::new("After"))?;
            Ok(())
        })?;
        let names: Vec<String> = repo
            .list_authors(Page::all())?
            .into_iter()
            .map(|author| author.name)
            .collect();
        assert_eq!(names, ["Outer", "After"]);
        Ok(())
    }
}

backend_tests! {
    fn nested_err_undoes_only_the_savepoint(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let inner_result = repo.transaction(|tx| -> bookshelf::Result<_> {
            let outer = tx.create_author(&NewAuthor::new("Outer"))?;
            let inner: bookshelf::Result<()> = tx.transaction(|tx| -> bookshelf::Result<_> {
                tx.create_author(&NewAuthor::new("Inner"))?;
                tx.create_book(&NewBook::new(outer.id, "Inner book"))?;
                Err(abort())
            });
            tx.create_book(&NewBook::new(outer.id, "Outer book"))?;
            Ok(inner)
        })?;
        assert!(matches!(&inner_result, Err(error) if is_abort(error)));
        let shelf = repo.authors_with_books(Page::all())?;
        assert_eq!(shelf.len(), 1);
        assert_eq!(shelf[0].author.name, "Outer");
        let titles: Vec<&str> = shelf[0].books.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(titles, ["Outer book"]);
        Ok(())
    }
}

backend_tests! {
    fn nested_ok_is_kept_and_outer_err_undoes_both(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        repo.transaction(|tx| -> bookshelf::Result<_> {
            tx.create_author(&NewAuthor::new("Outer"))?;
            tx.transaction(|tx| tx.create_author(&NewAuthor::new("Inner")))?;
            // Two levels deep.
            tx.transaction(|tx| tx.transaction(|tx| tx.create_author(&NewAuthor::new("Deep"))))?;
            Ok(())
        })?;
        assert_eq!(repo.count_authors()?, 3);

        let result: bookshelf::Result<()> = repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Outer 2"))?;
            tx.transaction(|tx| tx.create_author(&NewAuthor::new("Inner 2")))?;
            assert_eq!(tx.count_authors()?, 5);
            Err(abort())
        });
        assert!(result.is_err());
        assert_eq!(repo.count_authors()?, 3);
        assert!(repo.authors_by_name("Inner 2")?.is_empty());
        Ok(())
    }
}

backend_tests! {
    fn test_transaction_always_rolls_back(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        repo.create_author(&NewAuthor::new("Existing"))?;
        let (seen, books) = repo.test_transaction(|tx| -> bookshelf::Result<_> {
            let author = tx.create_author(&NewAuthor::new("Temporary"))?;
            let books = tx.create_books(&[
                NewBook::new(author.id, "Title 1"),
                NewBook::new(author.id, "Title 2"),
            ])?;
            Ok((tx.count_authors()?, books))
        })?;
        assert_eq!(seen, 2);
        assert_eq!(books.len(), 2);
        assert_eq!(repo.count_authors()?, 1);
        assert_eq!(repo.count_books()?, 0);

        // An error from the closure is returned as it is, and also rolled back.
        let failed: bookshelf::Result<()> = repo.test_transaction(|tx| {
            tx.create_author(&NewAuthor::new("Temporary"))?;
            Err(abort())
        });
        assert!(
            matches!(&failed, Err(error) if is_abort(error)),
            "{failed:?}"
        );
        assert_eq!(repo.count_authors()?, 1);
        Ok(())
    }
}

backend_tests! {
    fn every_operation_works_inside_a_transaction(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let (ann, bob) = repo.transaction(|tx| -> bookshelf::Result<_> {
            let ann = tx.create_author(&NewAuthor::new("Ann"))?;
            let more = tx.create_authors(&[NewAuthor::new("Bob"), NewAuthor::new("Cy")])?;
            let (bob, cy) = (more[0].clone(), more[1].clone());
            assert_eq!(tx.author(ann.id)?, Some(ann.clone()));
            assert_eq!(tx.authors_by_name("Bob")?, vec![bob.clone()]);
            assert_eq!(tx.list_authors(Page::first(2))?.len(), 2);
            assert_eq!(tx.list_authors(Page::after(ann.id, 10))?.len(), 2);
            let cy = tx.rename_author(cy.id, "Cyril")?;
            assert_eq!(cy.name, "Cyril");

            let first = tx.create_book(&NewBook::new(ann.id, "Zebra").published_year(1990))?;
            let batch = tx.create_books(&[
                NewBook::new(ann.id, "Apple").isbn("978-0-441-47812-5"),
                NewBook::new(bob.id, "Mango").published_year(2001),
                NewBook::new(cy.id, "Kiwi"),
            ])?;
            assert_eq!(batch.len(), 3);
            assert_eq!(tx.book(first.id)?, Some(first.clone()));
            let ann_titles: Vec<String> = tx
                .books_by_author(ann.id)?
                .into_iter()
                .map(|b| b.title)
                .collect();
            assert_eq!(ann_titles, ["Apple", "Zebra"]);
            assert_eq!(tx.books_by_title("Mango")?.len(), 1);
            assert_eq!(
                tx.search_books(&BookFilter::new().year_from(1995))?.len(),
                1
            );
            assert_eq!(tx.list_books(Page::first(10))?.len(), 4);
            let updated = tx.update_book(first.id, &BookChanges::new().title("Aardvark"))?;
            assert_eq!(updated.title, "Aardvark");
            assert_eq!(tx.books_by_author(ann.id)?.len(), 2);
            let shelf = tx.authors_with_books(Page::all())?;
            assert_eq!(shelf.len(), 3);
            assert_eq!(shelf[0].books[0].title, "Aardvark");

            // A failing statement inside the transaction leaves the rest intact.
            let conflict = tx.create_book(&NewBook::new(ann.id, "Apple"));
            assert!(
                matches!(conflict, Err(Error::Conflict { .. })),
                "{conflict:?}"
            );
            let missing = tx.create_books(&[
                NewBook::new(ann.id, "Pear"),
                NewBook::new(AuthorId(9_999), "Nobody's"),
            ]);
            assert!(
                matches!(&missing, Err(Error::InvalidRow { index: 1, .. })),
                "{missing:?}"
            );
            assert_eq!(tx.count_books()?, 4);

            tx.delete_book(batch[2].id)?;
            tx.delete_author(cy.id)?;
            assert_eq!(tx.count_authors()?, 2);
            assert_eq!(tx.count_books()?, 3);
            Ok((ann, bob))
        })?;
        assert_eq!(repo.count_authors()?, 2);
        assert_eq!(repo.count_books()?, 3);
        assert_eq!(repo.books_by_author(ann.id)?.len(), 2);
        assert_eq!(repo.books_by_author(bob.id)?.len(), 1);
        assert!(repo.books_by_title("Pear")?.is_empty());
        Ok(())
    }
}

backend_tests! {
    /// A transaction that reads and then writes commits although another connection
    /// writes meanwhile. On SQLite the transaction holds the write lock from its
    /// `BEGIN IMMEDIATE`, so the writer waits for the commit and nothing gets in between
    /// the read and the write; on PostgreSQL (`READ COMMITTED`, writers side by side) the
    /// writer commits meanwhile, and the transaction's next statement sees its rows.
    fn a_read_then_write_transaction_survives_a_concurrent_writer(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        repo.create_author(&NewAuthor::new("Seed"))?;
        for round in 0..3 {
            let (started_tx, started_rx) = mpsc::channel::<()>();
            let (done_tx, done_rx) = mpsc::channel::<()>();
            let writer = {
                let repo = repo.clone();
                thread::spawn(move || -> bookshelf::Result<()> {
                    // Writes while the transaction below sits between its read and its write.
                    if started_rx.recv().is_ok() {
                        for n in 0..5 {
                            repo.create_author(&NewAuthor::new(format!("Writer {round}-{n}")))?;
                        }
                        // Only the PostgreSQL run waits for this.
                        let _ = done_tx.send(());
                    }
                    Ok(())
                })
            };
            let (before, after) = repo.transaction(|tx| -> bookshelf::Result<_> {
                let before = tx.count_authors()?;
                let _ = started_tx.send(());
                match backend {
                    Backend::Sqlite => {
                        // Best effort to let the writer try its insert now; with a deferred
                        // BEGIN it would commit first and this transaction's write would
                        // fail with SQLITE_BUSY.
                        thread::sleep(Duration::from_millis(100));
                        assert_eq!(tx.count_authors()?, before, "no write got in");
                    }
                    Backend::Postgres => {
                        // Nothing blocks the writer: wait until its five rows are committed.
                        assert!(done_rx.recv().is_ok(), "the writer failed");
                        assert_eq!(
                            tx.count_authors()?,
                            before + 5,
                            "the writer's commits are visible"
                        );
                    }
                    Backend::Mysql => {
                        // Nothing blocks the writer either, but REPEATABLE READ keeps the
                        // snapshot of the first read: its commits stay out of sight.
                        assert!(done_rx.recv().is_ok(), "the writer failed");
                        assert_eq!(tx.count_authors()?, before, "the snapshot holds");
                    }
                }
                tx.create_author(&NewAuthor::new(format!("Reader {round}")))?;
                Ok((before, tx.count_authors()?))
            })?;
            let written_meanwhile = match backend {
                Backend::Sqlite | Backend::Mysql => 0,
                Backend::Postgres => 5,
            };
            assert_eq!(after, before + written_meanwhile + 1);
            writer.join().map_err(|_| "writer thread panicked")??;
        }
        assert_eq!(repo.count_authors()?, 1 + 3 * 6);
        Ok(())
    }
}

backend_tests! {
    /// A call on the repository from inside its own transaction closure, with no other
    /// connection free, fails at once instead of waiting out the connection timeout for
    /// the connection this thread holds.
    fn a_nested_call_with_no_free_connection_fails_at_once(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, |config| {
            config.max_size(1).connection_timeout(Duration::from_secs(20))
        })?;
        let repo = &db.repo;
        let nested = repo.transaction(|tx| -> bookshelf::Result<_> {
            tx.create_author(&NewAuthor::new("Inside"))?;
            let counted = repo.count_authors();
            let in_a_savepoint = repo.transaction(|_| Ok(()));
            Ok((counted, in_a_savepoint))
        })?;
        assert!(matches!(nested.0, Err(Error::NestedCall)), "{:?}", nested.0);
        assert!(matches!(nested.1, Err(Error::NestedCall)), "{:?}", nested.1);
        // The transaction itself committed, and the repository works afterwards.
        assert_eq!(repo.count_authors()?, 1);
        Ok(())
    }
}

backend_tests! {
    /// With a connection free, a call on the repository inside a transaction closure
    /// runs on that connection, outside the transaction.
    fn a_nested_call_with_a_free_connection_runs_outside_the_transaction(backend: Backend) -> TestResult {
        let db = TestDb::open_with(backend, |config| config.max_size(2))?;
        let repo = &db.repo;
        repo.create_author(&NewAuthor::new("Before"))?;
        let seen_outside = repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Inside"))?;
            repo.count_authors()
        })?;
        assert_eq!(seen_outside, 1, "the other connection does not see the transaction");
        assert_eq!(repo.count_authors()?, 2);
        Ok(())
    }
}

/// An application's own error type for transaction closures.
#[derive(Debug)]
enum AppError {
    Store(Error),
    Refused(&'static str),
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        AppError::Store(error)
    }
}

backend_tests! {
    /// A closure returning the application's error type rolls back on its error, which
    /// comes out as it went in; the crate's errors arrive through `From`; a savepoint
    /// takes the application's error type too.
    fn a_closure_may_return_the_applications_error_type(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let repo = &db.repo;
        let refused = repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Written, then undone"))?;
            Err::<(), _>(AppError::Refused("over budget"))
        });
        assert!(matches!(refused, Err(AppError::Refused("over budget"))), "{refused:?}");
        assert_eq!(repo.count_authors()?, 0);

        let store = repo.transaction(|tx| -> Result<(), AppError> {
            tx.create_author(&NewAuthor::new("   "))?;
            Ok(())
        });
        assert!(
            matches!(store, Err(AppError::Store(Error::Validation { field: "name", .. }))),
            "{store:?}"
        );

        let kept = repo.transaction(|tx| {
            tx.create_author(&NewAuthor::new("Kept"))?;
            let inner = tx.transaction(|tx| {
                tx.create_author(&NewAuthor::new("Undone"))?;
                Err::<(), _>(AppError::Refused("inner"))
            });
            assert!(matches!(inner, Err(AppError::Refused("inner"))), "{inner:?}");
            tx.count_authors().map_err(AppError::from)
        });
        assert!(matches!(kept, Ok(1)), "{kept:?}");
        assert_eq!(repo.count_authors()?, 1);
        Ok(())
    }
}
