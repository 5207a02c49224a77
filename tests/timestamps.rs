//! What the database keeps for every row besides its data: the times it was created and
//! last updated (UTC, set by the database for every writer), and an id that is never
//! handed out again, even after the newest row is deleted.

mod common;

use bookshelf::{BookChanges, NewAuthor, NewBook, Page, Repository};
use chrono::{TimeDelta, Utc};
use common::{backend_tests, TestDb};

/// How far the database's clock may be from this process's: the same machine, so a
/// wrong time zone (hours) shows, and a slow test machine does not.
const CLOCK_SLACK: TimeDelta = TimeDelta::minutes(10);

backend_tests! {
    fn the_database_sets_both_times_in_utc(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let before = Utc::now() - CLOCK_SLACK;
        let author = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
        let book = db.repo.create_book(&NewBook::new(author.id, "Dune"))?;
        let bulk = db.repo.create_books(&[
            NewBook::new(author.id, "Dune Messiah"),
            NewBook::new(author.id, "Children of Dune"),
        ])?;
        let authors = db.repo.create_authors(&[NewAuthor::new("A"), NewAuthor::new("B")])?;
        let after = Utc::now() + CLOCK_SLACK;
        for (created, updated) in [
            (author.created_at, author.updated_at),
            (book.created_at, book.updated_at),
            (bulk[0].created_at, bulk[0].updated_at),
            (authors[1].created_at, authors[1].updated_at),
        ] {
            assert_eq!(created, updated);
            assert!(before <= created && created <= after, "{created} not near {before}");
        }
        // One bulk insert, one time for all its rows.
        assert_eq!(bulk[0].created_at, bulk[1].created_at);
        assert_eq!(authors[0].created_at, authors[1].created_at);
        // What the creates returned is what is stored, to the last digit kept.
        assert_eq!(db.repo.list_books(Page::all())?, [vec![book], bulk].concat());
        let stored = db.repo.list_authors(Page::all())?;
        assert_eq!(stored, [vec![author], authors].concat());
        Ok(())
    }
}

backend_tests! {
    fn an_update_moves_updated_at_and_keeps_created_at(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
        let book = db.repo.create_book(&NewBook::new(author.id, "Dune"))?;
        // Past SQLite's millisecond, so the new time differs.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let updated = db.repo.update_book(book.id, &BookChanges::new().published_year(1965))?;
        assert_eq!(updated.created_at, book.created_at);
        assert!(updated.updated_at > book.updated_at, "{updated:?} after {book:?}");
        let renamed = db.repo.rename_author(author.id, "F. Herbert")?;
        assert!(renamed.updated_at > author.updated_at);
        assert_eq!(renamed.created_at, author.created_at);
        // Another writer's update moves it too.
        std::thread::sleep(std::time::Duration::from_millis(5));
        db.execute_raw(&format!("UPDATE books SET title = 'Dune!' WHERE id = {}", book.id))?;
        let touched = db.repo.book(book.id)?.ok_or("the book is gone")?;
        assert!(touched.updated_at > updated.updated_at);
        assert_eq!(db.repo.book(book.id)?, Some(touched));
        Ok(())
    }
}

/// On PostgreSQL the times are UTC whatever the session's time zone.
#[cfg(feature = "postgres")]
#[test]
fn postgres_times_are_utc_in_any_session_time_zone() -> common::TestResult {
    if common::postgres::server_url()?.is_none() {
        common::say_skipped(format_args!(
            "{} not set: the PostgreSQL time zone test is skipped",
            common::POSTGRES_URL_VAR
        ));
        return Ok(());
    }
    // Set on the database: a client cannot send it through a pooler, which ignores
    // (or refuses) `options=-ctimezone=..`. (diesel's connections then `SET TIME ZONE
    // 'UTC'` when they open, as they did over the `options` of the URL before.)
    let db = TestDb::open_postgres_with_settings(&[("TimeZone", "Asia/Tokyo")])?;
    let repo = &db.repo;
    let before = Utc::now() - CLOCK_SLACK;
    let author = repo.create_author(&NewAuthor::new("Haruki Murakami"))?;
    let authors = repo.create_authors(&[NewAuthor::new("Banana Yoshimoto")])?;
    let renamed = repo.rename_author(author.id, "村上春樹")?;
    let after = Utc::now() + CLOCK_SLACK;
    for time in [author.created_at, authors[0].created_at, renamed.updated_at] {
        assert!(before <= time && time <= after, "{time} is not UTC");
    }
    Ok(())
}

backend_tests! {
    /// A client holding `/authors/5` never sees another author there: ids of deleted
    /// rows, the newest included, are never handed out again — by single or bulk
    /// creates, before or after the database is opened again.
    fn ids_are_never_handed_out_again(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let authors = db.repo.create_authors(&[NewAuthor::new("A"), NewAuthor::new("B")])?;
        let newest_author = authors[1].id;
        let books = db.repo.create_books(&[
            NewBook::new(authors[0].id, "One"),
            NewBook::new(authors[0].id, "Two"),
        ])?;
        let newest_book = books[1].id;
        db.repo.delete_author(newest_author)?;
        db.repo.delete_book(newest_book)?;

        let single = db.repo.create_author(&NewAuthor::new("C"))?;
        assert!(single.id > newest_author, "{single:?}");
        let book = db.repo.create_book(&NewBook::new(authors[0].id, "Three"))?;
        assert!(book.id > newest_book, "{book:?}");

        db.repo.delete_author(single.id)?;
        db.repo.delete_book(book.id)?;
        let bulk = db.repo.create_authors(&[NewAuthor::new("D")])?;
        assert!(bulk[0].id > single.id, "{bulk:?}");
        let bulk_books = db.repo.create_books(&[NewBook::new(authors[0].id, "Four")])?;
        assert!(bulk_books[0].id > book.id, "{bulk_books:?}");

        // Opened again, the database still knows the largest id it gave.
        db.repo.delete_author(bulk[0].id)?;
        db.repo.delete_book(bulk_books[0].id)?;
        let reopened = Repository::open(db.url())?;
        let again = reopened.create_author(&NewAuthor::new("E"))?;
        assert!(again.id > bulk[0].id, "{again:?}");
        let again_book = reopened.create_books(&[NewBook::new(authors[0].id, "Five")])?;
        assert!(again_book[0].id > bulk_books[0].id, "{again_book:?}");
        // And every returned id is the stored one.
        assert_eq!(reopened.author(again.id)?, Some(again));
        assert!(reopened.author(newest_author)?.is_none());
        assert!(reopened.book(newest_book)?.is_none());
        Ok(())
    }
}

backend_tests! {
    /// `updated_since` finds the books written at or after a time, oldest first with
    /// `BookOrder::UpdatedAt`: what a sync client asks for. The time compares exactly
    /// whatever digits it carries (SQLite keeps milliseconds, PostgreSQL microseconds).
    fn updated_since_finds_what_changed_at_or_after_a_time(backend: Backend) -> TestResult {
        use bookshelf::{BookFilter, BookOrder, Direction};
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Frank Herbert"))?;
        let books = db.repo.create_books(&[
            NewBook::new(author.id, "Dune"),
            NewBook::new(author.id, "Dune Messiah"),
            NewBook::new(author.id, "Children of Dune"),
        ])?;
        std::thread::sleep(std::time::Duration::from_millis(5));
        let changed = db.repo.update_book(books[1].id, &BookChanges::new().published_year(1969))?;
        std::thread::sleep(std::time::Duration::from_millis(5));
        let later = db.repo.update_book(books[0].id, &BookChanges::new().published_year(1965))?;
        let titles = |filter: BookFilter| -> bookshelf::Result<Vec<String>> {
            let found = db.repo.search_books(&filter)?;
            Ok(found.into_iter().map(|book| book.title).collect())
        };
        let since = |time| BookFilter::new().updated_since(time).order_by(BookOrder::UpdatedAt, Direction::Ascending);
        assert_eq!(titles(since(books[0].created_at))?, ["Children of Dune", "Dune Messiah", "Dune"]);
        assert_eq!(titles(since(changed.updated_at))?, ["Dune Messiah", "Dune"]);
        // A microsecond after the stored time is after it.
        assert_eq!(titles(since(changed.updated_at + TimeDelta::microseconds(1)))?, ["Dune"]);
        assert_eq!(titles(since(later.updated_at + TimeDelta::microseconds(1)))?, Vec::<String>::new());
        let newest_first = since(changed.updated_at).order_by(BookOrder::UpdatedAt, Direction::Descending);
        assert_eq!(titles(newest_first)?, ["Dune", "Dune Messiah"]);
        // Combined with the other criteria, and at the edges of time.
        assert_eq!(titles(since(changed.updated_at).title_contains("messiah"))?, ["Dune Messiah"]);
        let far = chrono::DateTime::<Utc>::MAX_UTC;
        assert!(titles(BookFilter::new().updated_since(far))?.is_empty());
        let long_ago = chrono::DateTime::<Utc>::MIN_UTC;
        assert_eq!(titles(BookFilter::new().updated_since(long_ago))?.len(), 3);
        Ok(())
    }
}
