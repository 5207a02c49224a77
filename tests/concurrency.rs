//! Sharing a `Repository` between threads, and in-memory databases.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::mpsc;
use std::thread;

use bookshelf::{NewAuthor, NewBook, Page, Repository};
use tempfile::TempDir;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A repository on its own database file; the directory is removed on drop.
fn temp_repo() -> TestResult<(TempDir, Repository)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bookshelf.db");
    let repo = Repository::open(path.to_str().ok_or("temp path is not UTF-8")?)?;
    Ok((dir, repo))
}

#[test]
fn repository_is_clone_send_sync_and_debug() {
    fn assert_traits<T: Clone + Send + Sync + Debug + 'static>() {}
    assert_traits::<Repository>();
}

#[test]
fn debug_names_the_backend() -> TestResult {
    let repo = Repository::in_memory()?;
    let debug = format!("{repo:?}");
    assert!(
        debug.contains("Repository") && debug.contains("sqlite"),
        "{debug}"
    );
    Ok(())
}

#[test]
fn in_memory_repositories_are_isolated() -> TestResult {
    let first = Repository::in_memory()?;
    let second = Repository::in_memory()?;
    let third = Repository::open(":memory:")?;
    let author = first.create_author(&NewAuthor::new("Only in the first"))?;
    first.create_book(&NewBook::new(author.id, "Title"))?;
    second.create_author(&NewAuthor::new("Only in the second"))?;
    second.create_author(&NewAuthor::new("Also in the second"))?;

    assert_eq!(first.count_authors()?, 1);
    assert_eq!(second.count_authors()?, 2);
    assert_eq!(third.count_authors()?, 0);
    assert_eq!(second.count_books()?, 0);
    assert!(second.authors_by_name("Only in the first")?.is_empty());
    assert!(first.authors_by_name("Only in the second")?.is_empty());
    // A clone shares the database; a new repository does not.
    assert_eq!(first.clone().count_books()?, 1);
    assert_eq!(Repository::in_memory()?.count_books()?, 0);
    Ok(())
}

#[test]
fn an_in_memory_database_outlives_its_first_handle_while_a_clone_lives() -> TestResult {
    let repo = Repository::in_memory()?;
    let clone = repo.clone();
    repo.create_author(&NewAuthor::new("Kept"))?;
    drop(repo);
    assert_eq!(clone.count_authors()?, 1);
    Ok(())
}

/// An in-memory database has no WAL: while one connection holds a write transaction,
/// a read on another connection waits for it (within the busy timeout) and then sees
/// what it committed — the two connections share one database.
fn memory_connections_share_the_database(repo: &Repository) -> TestResult {
    repo.create_author(&NewAuthor::new("Committed"))?;
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let holder = {
        let repo = repo.clone();
        thread::spawn(move || -> bookshelf::Result<()> {
            repo.transaction(|tx| {
                tx.create_author(&NewAuthor::new("Written by the holder"))?;
                let _ = inside_tx.send(());
                thread::sleep(std::time::Duration::from_millis(100));
                Ok(())
            })
        })
    };
    inside_rx.recv()?;
    // Runs on another pooled connection while the holder's transaction is open.
    let names: Vec<String> = repo
        .list_authors(Page::all())?
        .into_iter()
        .map(|author| author.name)
        .collect();
    holder.join().map_err(|_| "holder thread panicked")??;
    assert_eq!(names, ["Committed", "Written by the holder"]);
    assert!(repo.stats().pool_connections >= 2);
    Ok(())
}

#[test]
fn open_memory_shares_one_database_between_pooled_connections() -> TestResult {
    memory_connections_share_the_database(&Repository::open(":memory:")?)
}

#[test]
fn in_memory_shares_one_database_between_pooled_connections() -> TestResult {
    memory_connections_share_the_database(&Repository::in_memory()?)
}

const THREADS: usize = 4;
const CREATES: usize = 200;

/// `THREADS` threads each create `CREATES` authors with a book each, on clones of one
/// repository; every call succeeds and nothing is lost or doubled.
fn threads_share_one_repository(repo: &Repository) -> TestResult {
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let repo = repo.clone();
            thread::spawn(move || -> bookshelf::Result<Vec<i64>> {
                let mut ids = Vec::with_capacity(CREATES);
                for n in 0..CREATES {
                    let author =
                        repo.create_author(&NewAuthor::new(format!("Author {thread}-{n:04}")))?;
                    repo.create_book(&NewBook::new(author.id, format!("Title {thread}-{n:04}")))?;
                    ids.push(author.id.0);
                }
                Ok(ids)
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for thread in threads {
        let created = thread.join().map_err(|_| "worker thread panicked")??;
        assert_eq!(created.len(), CREATES);
        ids.extend(created);
    }
    let total = THREADS * CREATES;
    assert_eq!(ids.len(), total, "every id is distinct");
    assert_eq!(usize::try_from(repo.count_authors()?)?, total);
    assert_eq!(usize::try_from(repo.count_books()?)?, total);
    let shelf = repo.authors_with_books(Page::all())?;
    assert_eq!(shelf.len(), total);
    for entry in &shelf {
        assert_eq!(entry.books.len(), 1, "{}", entry.author.name);
        let suffix = entry.author.name.trim_start_matches("Author ");
        assert_eq!(entry.books[0].title, format!("Title {suffix}"));
    }
    let names: BTreeSet<&str> = shelf.iter().map(|e| e.author.name.as_str()).collect();
    assert_eq!(names.len(), total);
    Ok(())
}

#[test]
fn threads_share_a_file_repository() -> TestResult {
    let (_dir, repo) = temp_repo()?;
    threads_share_one_repository(&repo)
}

#[test]
fn threads_share_an_in_memory_repository() -> TestResult {
    threads_share_one_repository(&Repository::in_memory()?)
}

#[test]
fn threads_run_transactions_on_a_file_repository() -> TestResult {
    let (_dir, repo) = temp_repo()?;
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let repo = repo.clone();
            thread::spawn(move || -> bookshelf::Result<()> {
                for n in 0..25 {
                    repo.transaction(|tx| {
                        // Read, then write: the count must not move under this transaction.
                        let before = tx.count_authors()?;
                        let author =
                            tx.create_author(&NewAuthor::new(format!("Author {thread}-{n}")))?;
                        tx.create_book(&NewBook::new(author.id, "Title"))?;
                        assert_eq!(tx.count_authors()?, before + 1);
                        Ok(())
                    })?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "worker thread panicked")??;
    }
    assert_eq!(repo.count_authors()?, 100);
    assert_eq!(repo.count_books()?, 100);
    Ok(())
}
