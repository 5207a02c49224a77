//! Optimistic concurrency: every row has a version, raised by every update whoever
//! writes it, and the `_if` operations write only at the version the caller read.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use bookshelf::{BookChanges, Entity, Error, Missing, NewAuthor, NewBook, Repository, Version};
use common::{backend_tests, TestDb};

backend_tests! {
    fn rows_start_at_version_one_and_every_update_raises_it(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
        let book = db.repo.create_book(&NewBook::new(author.id, "Dune"))?;
        let bulk = db.repo.create_books(&[NewBook::new(author.id, "Dune Messiah")])?;
        assert_eq!(
            (author.version, book.version, bulk[0].version),
            (Version(1), Version(1), Version(1))
        );

        let renamed = db.repo.rename_author(author.id, "F. Herbert")?;
        assert_eq!(renamed.version, Version(2));
        let once = db.repo.update_book(book.id, &BookChanges::new().published_year(1965))?;
        let twice = db.repo.update_book(book.id, &BookChanges::new().clear_published_year())?;
        assert_eq!((once.version, twice.version), (Version(2), Version(3)));
        // Empty changes write nothing, so the version stays.
        let same = db.repo.update_book(book.id, &BookChanges::new())?;
        assert_eq!(same.version, Version(3));
        // What the operations return is what is stored.
        assert_eq!(db.repo.book(book.id)?, Some(twice));
        assert_eq!(db.repo.author(author.id)?, Some(renamed));
        Ok(())
    }
}

backend_tests! {
    fn a_write_at_the_version_read_succeeds_and_a_stale_one_writes_nothing(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
        let read = db.repo.create_book(&NewBook::new(author.id, "Dune"))?;

        let updated = db.repo.update_book_if(read.id, read.version, &BookChanges::new().title("Dune I"))?;
        assert_eq!((updated.title.as_str(), updated.version), ("Dune I", Version(2)));

        // The same version again is stale now: nothing is written.
        let stale = db.repo.update_book_if(read.id, read.version, &BookChanges::new().title("Dune II"));
        match stale {
            Err(Error::Stale { entity, id, expected, actual }) => {
                assert_eq!((entity, id), (Entity::Book, read.id.0));
                assert_eq!((expected, actual), (Version(1), Version(2)));
            }
            other => return Err(format!("expected a stale version, got {other:?}").into()),
        }
        assert_eq!(db.repo.book(read.id)?, Some(updated.clone()));
        // Empty changes check the version too.
        assert!(db.repo.update_book_if(read.id, read.version, &BookChanges::new()).is_err_and(|e| e.is_stale()));
        assert_eq!(db.repo.update_book_if(read.id, updated.version, &BookChanges::new())?, updated);
        // Bad input is refused before the version matters.
        let blank = db.repo.update_book_if(read.id, updated.version, &BookChanges::new().title(" "));
        assert!(blank.is_err_and(|e| e.is_validation()));

        // Authors: rename and delete.
        let renamed = db.repo.rename_author_if(author.id, author.version, "F. Herbert")?;
        assert_eq!(renamed.version, Version(2));
        let stale = db.repo.rename_author_if(author.id, author.version, "Somebody else");
        assert!(matches!(stale, Err(Error::Stale { entity: Entity::Author, .. })), "{stale:?}");
        let stale = db.repo.delete_author_if(author.id, author.version);
        assert!(stale.is_err_and(|e| e.is_stale()));
        assert_eq!(db.repo.author(author.id)?, Some(renamed.clone()));

        // Books: a stale delete deletes nothing, the right version deletes.
        assert!(db.repo.delete_book_if(read.id, read.version).is_err_and(|e| e.is_stale()));
        assert_eq!(db.repo.count_books()?, 1);
        db.repo.delete_book_if(read.id, updated.version)?;
        assert_eq!(db.repo.count_books()?, 0);
        db.repo.delete_author_if(author.id, renamed.version)?;
        assert_eq!(db.repo.count_authors()?, 0);

        // A row that is gone is not found, whatever the version.
        assert!(matches!(
            db.repo.update_book_if(read.id, Version(1), &BookChanges::new().title("x")),
            Err(Error::NotFound(Missing::Book(id))) if id == read.id
        ));
        assert!(matches!(
            db.repo.rename_author_if(author.id, Version(1), "x"),
            Err(Error::NotFound(Missing::Author(id))) if id == author.id
        ));
        assert!(db.repo.delete_book_if(read.id, Version(1)).is_err_and(|e| e.is_not_found()));
        assert!(db.repo.delete_author_if(author.id, Version(1)).is_err_and(|e| e.is_not_found()));
        Ok(())
    }
}

backend_tests! {
    /// Two handles (two repositories on one database) read the same version and both
    /// update at once: in every round exactly one wins, the other is told it is stale,
    /// and the stored row is the winner's.
    fn of_two_writers_at_one_version_exactly_one_wins(backend: Backend) -> TestResult {
        const ROUNDS: usize = 20;
        let db = TestDb::open(backend)?;
        let other = Repository::open(db.url())?;
        let author = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
        let book = db.repo.create_book(&NewBook::new(author.id, "Dune"))?;
        for round in 0..ROUNDS {
            let read = db.repo.book(book.id)?.ok_or("the book is gone")?;
            let start = Arc::new(Barrier::new(2));
            let writers: Vec<_> = [db.repo.clone(), other.clone()]
                .into_iter()
                .enumerate()
                .map(|(writer, repo)| {
                    let start = Arc::clone(&start);
                    let changes = BookChanges::new().title(format!("Dune {round} by {writer}"));
                    thread::spawn(move || {
                        start.wait();
                        repo.update_book_if(read.id, read.version, &changes)
                    })
                })
                .collect();
            let results: Vec<bookshelf::Result<bookshelf::Book>> = writers
                .into_iter()
                .map(|writer| writer.join().map_err(|_| "a writer panicked"))
                .collect::<Result<_, _>>()?;
            let winners: Vec<&bookshelf::Book> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {results:?}");
            let loser = results.iter().find_map(|r| r.as_ref().err()).ok_or("no loser")?;
            assert!(
                matches!(loser, Error::Stale { expected, actual, .. }
                    if *expected == read.version && actual.0 == read.version.0 + 1),
                "round {round}: {loser:?}"
            );
            assert_eq!(db.repo.book(book.id)?.as_ref(), Some(winners[0]));
        }
        let last = db.repo.book(book.id)?.ok_or("the book is gone")?;
        assert_eq!(last.version, Version(1 + ROUNDS as i64));
        Ok(())
    }
}

backend_tests! {
    /// The database raises the version for every writer: an update by another tool,
    /// which knows nothing of versions, makes an `_if` write at the old version stale;
    /// and a writer cannot move a version back.
    fn other_writers_raise_the_version_too(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
        let read = db.repo.create_book(&NewBook::new(author.id, "Dune"))?;
        db.execute_raw(&format!("UPDATE books SET title = 'Dune!' WHERE id = {}", read.id))?;
        db.execute_raw(&format!("UPDATE authors SET name = 'F. H.' WHERE id = {}", author.id))?;
        let book = db.repo.book(read.id)?.ok_or("the book is gone")?;
        assert_eq!((book.title.as_str(), book.version), ("Dune!", Version(2)));
        assert!(book.updated_at >= read.updated_at && book.created_at == read.created_at);
        let stale = db.repo.update_book_if(read.id, read.version, &BookChanges::new().title("Mine"));
        assert!(stale.is_err_and(|e| e.is_stale()));
        let renamed = db.repo.author(author.id)?.ok_or("the author is gone")?;
        assert_eq!(renamed.version, Version(2));

        // Setting the version back (or leaving it) still gives the next one.
        db.execute_raw(&format!("UPDATE books SET version = 1 WHERE id = {}", read.id))?;
        assert_eq!(db.repo.book(read.id)?.map(|b| b.version), Some(Version(3)));
        Ok(())
    }
}
