//! Streaming every book with `for_each_book`.

mod common;

use bookshelf::Page;
use common::{backend_tests, seed, TestDb};

backend_tests! {
    fn for_each_book_visits_every_book_once_in_id_order_in_one_statement(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        seed(&db.repo, 300, 10)?;
        let listed = db.repo.list_books(Page::all())?;
        let before = db.repo.stats().statements;
        let mut visited = Vec::with_capacity(listed.len());
        let count = db.repo.for_each_book(|book| visited.push(book))?;
        assert_eq!(db.repo.stats().statements - before, 1);
        assert_eq!(count, 3_000);
        assert_eq!(visited, listed);
        Ok(())
    }
}

backend_tests! {
    fn for_each_book_on_an_empty_catalog_visits_nothing(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let mut called = false;
        assert_eq!(db.repo.for_each_book(|_| called = true)?, 0);
        assert!(!called);
        Ok(())
    }
}

backend_tests! {
    fn for_each_book_works_inside_a_transaction_and_sees_its_writes(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let seen = db.repo.test_transaction(|tx| -> bookshelf::Result<_> {
            let author = tx.create_author(&bookshelf::NewAuthor::new("Inside"))?;
            tx.create_book(&bookshelf::NewBook::new(author.id, "Uncommitted"))?;
            let mut titles = Vec::new();
            tx.for_each_book(|book| titles.push(book.title))?;
            Ok(titles)
        })?;
        assert_eq!(seen, ["Uncommitted"]);
        assert_eq!(db.repo.count_books()?, 0);
        Ok(())
    }
}
