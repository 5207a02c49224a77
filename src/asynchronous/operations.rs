//! The operations of [`AsyncRepository`], each a one-line delegation to the
//! [`Repository`] method of the same name on a blocking thread.

use super::{AsyncRepository, BookStream};
use crate::error::{Error, Result};
use crate::models::{Author, AuthorId, AuthorWithBooks, Book, BookChanges, BookId, Version};
use crate::models::{NewAuthor, NewBook};
use crate::query::{BookFilter, Page};
use crate::raw::RawConnection;
#[allow(unused_imports)] // for doc links
use crate::repository::Repository;
use crate::retry::{Retry, Retryable};
use crate::tx::Tx;

/// The operations, each running the [`Repository`] method of the same name on a
/// blocking thread: see there for what each does and the errors it returns.
impl AsyncRepository {
    /// [`Repository::create_author`].
    ///
    /// # Errors
    ///
    /// As [`Repository::create_author`].
    pub async fn create_author(&self, new: NewAuthor) -> Result<Author> {
        self.run(move |repo| repo.create_author(&new)).await
    }

    /// [`Repository::create_authors`].
    ///
    /// # Errors
    ///
    /// As [`Repository::create_authors`].
    pub async fn create_authors(&self, new: Vec<NewAuthor>) -> Result<Vec<Author>> {
        self.run(move |repo| repo.create_authors(&new)).await
    }

    /// [`Repository::author`].
    ///
    /// # Errors
    ///
    /// As [`Repository::author`].
    pub async fn author(&self, id: AuthorId) -> Result<Option<Author>> {
        self.run(move |repo| repo.author(id)).await
    }

    /// [`Repository::authors_by_name`].
    ///
    /// # Errors
    ///
    /// As [`Repository::authors_by_name`].
    pub async fn authors_by_name(&self, name: impl Into<String>) -> Result<Vec<Author>> {
        let name = name.into();
        self.run(move |repo| repo.authors_by_name(&name)).await
    }

    /// [`Repository::list_authors`].
    ///
    /// # Errors
    ///
    /// As [`Repository::list_authors`].
    pub async fn list_authors(&self, page: Page<AuthorId>) -> Result<Vec<Author>> {
        self.run(move |repo| repo.list_authors(page)).await
    }

    /// [`Repository::rename_author`].
    ///
    /// # Errors
    ///
    /// As [`Repository::rename_author`].
    pub async fn rename_author(&self, id: AuthorId, name: impl Into<String>) -> Result<Author> {
        let name = name.into();
        self.run(move |repo| repo.rename_author(id, &name)).await
    }

    /// [`Repository::rename_author_if`].
    ///
    /// # Errors
    ///
    /// As [`Repository::rename_author_if`].
    pub async fn rename_author_if(
        &self,
        id: AuthorId,
        expected: Version,
        name: impl Into<String>,
    ) -> Result<Author> {
        let name = name.into();
        self.run(move |repo| repo.rename_author_if(id, expected, &name))
            .await
    }

    /// [`Repository::delete_author`].
    ///
    /// # Errors
    ///
    /// As [`Repository::delete_author`].
    pub async fn delete_author(&self, id: AuthorId) -> Result<()> {
        self.run(move |repo| repo.delete_author(id)).await
    }

    /// [`Repository::delete_author_if`].
    ///
    /// # Errors
    ///
    /// As [`Repository::delete_author_if`].
    pub async fn delete_author_if(&self, id: AuthorId, expected: Version) -> Result<()> {
        self.run(move |repo| repo.delete_author_if(id, expected))
            .await
    }

    /// [`Repository::count_authors`].
    ///
    /// # Errors
    ///
    /// As [`Repository::count_authors`].
    pub async fn count_authors(&self) -> Result<i64> {
        self.run(|repo| repo.count_authors()).await
    }

    /// [`Repository::create_book`].
    ///
    /// # Errors
    ///
    /// As [`Repository::create_book`].
    pub async fn create_book(&self, new: NewBook) -> Result<Book> {
        self.run(move |repo| repo.create_book(&new)).await
    }

    /// [`Repository::create_books`].
    ///
    /// # Errors
    ///
    /// As [`Repository::create_books`].
    pub async fn create_books(&self, new: Vec<NewBook>) -> Result<Vec<Book>> {
        self.run(move |repo| repo.create_books(&new)).await
    }

    /// [`Repository::book`].
    ///
    /// # Errors
    ///
    /// As [`Repository::book`].
    pub async fn book(&self, id: BookId) -> Result<Option<Book>> {
        self.run(move |repo| repo.book(id)).await
    }

    /// [`Repository::books_by_author`].
    ///
    /// # Errors
    ///
    /// As [`Repository::books_by_author`].
    pub async fn books_by_author(&self, author_id: AuthorId) -> Result<Vec<Book>> {
        self.run(move |repo| repo.books_by_author(author_id)).await
    }

    /// [`Repository::books_by_title`].
    ///
    /// # Errors
    ///
    /// As [`Repository::books_by_title`].
    pub async fn books_by_title(&self, title: impl Into<String>) -> Result<Vec<Book>> {
        let title = title.into();
        self.run(move |repo| repo.books_by_title(&title)).await
    }

    /// [`Repository::search_books`].
    ///
    /// # Errors
    ///
    /// As [`Repository::search_books`].
    pub async fn search_books(&self, filter: BookFilter) -> Result<Vec<Book>> {
        self.run(move |repo| repo.search_books(&filter)).await
    }

    /// [`Repository::list_books`].
    ///
    /// # Errors
    ///
    /// As [`Repository::list_books`].
    pub async fn list_books(&self, page: Page<BookId>) -> Result<Vec<Book>> {
        self.run(move |repo| repo.list_books(page)).await
    }

    /// [`Repository::for_each_book`]: `f` sees every book, by id, on the blocking
    /// thread. To see them in the task instead, use
    /// [`stream_books`](AsyncRepository::stream_books).
    ///
    /// # Errors
    ///
    /// As [`Repository::for_each_book`].
    pub async fn for_each_book<F>(&self, f: F) -> Result<u64>
    where
        F: FnMut(Book) + Send + 'static,
    {
        self.run(move |repo| repo.for_each_book(f)).await
    }

    /// Every book, by id, as a [`BookStream`]: what
    /// [`for_each_book`](Repository::for_each_book) visits, read in the task, with
    /// back-pressure. Nothing runs until the stream is first polled.
    pub fn stream_books(&self) -> BookStream {
        BookStream::new(self.clone())
    }

    /// [`Repository::update_book`].
    ///
    /// # Errors
    ///
    /// As [`Repository::update_book`].
    pub async fn update_book(&self, id: BookId, changes: BookChanges) -> Result<Book> {
        self.run(move |repo| repo.update_book(id, &changes)).await
    }

    /// [`Repository::update_book_if`].
    ///
    /// # Errors
    ///
    /// As [`Repository::update_book_if`].
    pub async fn update_book_if(
        &self,
        id: BookId,
        expected: Version,
        changes: BookChanges,
    ) -> Result<Book> {
        self.run(move |repo| repo.update_book_if(id, expected, &changes))
            .await
    }

    /// [`Repository::delete_book_if`].
    ///
    /// # Errors
    ///
    /// As [`Repository::delete_book_if`].
    pub async fn delete_book_if(&self, id: BookId, expected: Version) -> Result<()> {
        self.run(move |repo| repo.delete_book_if(id, expected))
            .await
    }

    /// [`Repository::delete_book`].
    ///
    /// # Errors
    ///
    /// As [`Repository::delete_book`].
    pub async fn delete_book(&self, id: BookId) -> Result<()> {
        self.run(move |repo| repo.delete_book(id)).await
    }

    /// [`Repository::count_books`].
    ///
    /// # Errors
    ///
    /// As [`Repository::count_books`].
    pub async fn count_books(&self) -> Result<i64> {
        self.run(|repo| repo.count_books()).await
    }

    /// [`Repository::authors_with_books`].
    ///
    /// # Errors
    ///
    /// As [`Repository::authors_with_books`].
    pub async fn authors_with_books(&self, page: Page<AuthorId>) -> Result<Vec<AuthorWithBooks>> {
        self.run(move |repo| repo.authors_with_books(page)).await
    }

    /// [`Repository::with_connection`]: `f` runs on the blocking thread.
    ///
    /// # Errors
    ///
    /// As [`Repository::with_connection`].
    pub async fn with_connection<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(RawConnection<'_>) -> diesel::QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |repo| repo.with_connection(f)).await
    }

    /// [`Repository::transaction`]: `f` runs on one blocking thread, and the transaction
    /// commits or rolls back there, whether or not the caller still waits (see
    /// [Cancellation](AsyncRepository#cancellation)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> bookshelf::Result<()> {
    /// use bookshelf::{AsyncRepository, Error, NewAuthor, NewBook};
    ///
    /// let repo = AsyncRepository::in_memory().await?;
    /// let result = repo
    ///     .transaction(|tx| -> bookshelf::Result<()> {
    ///         let author = tx.create_author(&NewAuthor::new("Mary Shelley"))?;
    ///         tx.create_book(&NewBook::new(author.id, "Frankenstein"))?;
    ///         tx.create_book(&NewBook::new(author.id, "Frankenstein"))?; // a conflict
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert!(matches!(result, Err(Error::Conflict { .. })));
    /// assert_eq!(repo.count_authors().await?, 0); // all of it rolled back
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Repository::transaction`].
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(move |repo| repo.transaction(f)).await
    }

    /// [`Repository::retry_transaction`]: each run is a
    /// [`transaction`](AsyncRepository::transaction) of its own, and the pause between
    /// two runs is an async sleep that holds no thread and no connection. Dropped
    /// between two runs, it starts no new one.
    ///
    /// # Errors
    ///
    /// As [`Repository::retry_transaction`].
    pub async fn retry_transaction<T, E, F>(&self, retry: Retry, mut f: F) -> Result<T, E>
    where
        F: FnMut(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Retryable + Send + 'static,
    {
        let mut run = 1;
        loop {
            let (back, result) = self
                .blocking(move |repo| {
                    let result = repo.transaction(&mut f);
                    (f, result)
                })
                .await?;
            f = back;
            match result.as_ref().err().and_then(|e| retry.next_pause(run, e)) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => return result,
            }
            run += 1;
        }
    }

    /// [`Repository::test_transaction`]: `f` runs on one blocking thread, and the
    /// transaction is rolled back there.
    ///
    /// # Errors
    ///
    /// As [`Repository::test_transaction`].
    pub async fn test_transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run(move |repo| repo.test_transaction(f)).await
    }

    /// [`Repository::applied_migrations`].
    ///
    /// # Errors
    ///
    /// As [`Repository::applied_migrations`].
    pub async fn applied_migrations(&self) -> Result<Vec<String>> {
        self.run(|repo| repo.applied_migrations()).await
    }

    /// [`Repository::pending_migrations`].
    ///
    /// # Errors
    ///
    /// As [`Repository::pending_migrations`].
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        self.run(|repo| repo.pending_migrations()).await
    }

    /// [`Repository::run_pending_migrations`].
    ///
    /// # Errors
    ///
    /// As [`Repository::run_pending_migrations`].
    pub async fn run_pending_migrations(&self) -> Result<Vec<String>> {
        self.run(|repo| repo.run_pending_migrations()).await
    }

    /// [`Repository::revert_last_migration`].
    ///
    /// # Errors
    ///
    /// As [`Repository::revert_last_migration`].
    pub async fn revert_last_migration(&self) -> Result<String> {
        self.run(|repo| repo.revert_last_migration()).await
    }
}
