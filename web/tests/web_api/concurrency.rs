//! Under contention: a pool timeout, a full queue, shutdown with a request in flight, and
//! a bounded load run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bookshelf::{AuthorId, BookId, Config};
use reqwest::StatusCode;
use serde_json::json;

use crate::app::AppConfig;
use crate::support::{name_of, titles, web_tests, Holder, Server, TestResult, CREATED, OK};

web_tests! {
    async fn pool_timeout_is_503(backend: Backend) -> TestResult {
        let one_connection = |config: Config| {
            config
                .max_size(1)
                .connection_timeout(Duration::from_millis(200))
        };
        let server = Server::with(backend, one_connection, AppConfig::new()).await?;
        let holder = Holder::hold(&server.repo).await?;
        let reply = server.get("/authors").await?;
        assert_eq!(reply.header("retry-after"), Some("1"));
        reply.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;
        let health = server.get("/health").await?;
        health.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;
        let post = server
            .json("POST", "/authors", json!({ "name": "Ann" }))
            .await?;
        post.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;
        holder.release().await?;
        server.create("/authors", json!({ "name": "Bo" })).await?;
        assert!(server.repo.authors_by_name("Ann")?.is_empty());
        assert_eq!(server.repo.count_authors()?, 1);
        server.stop().await
    }
}

web_tests! {
    async fn a_full_queue_is_503_and_shutdown_finishes_requests_in_flight(
        backend: Backend,
    ) -> TestResult {
        let one_connection = |config: Config| config.max_size(1);
        let config = AppConfig::new()
            .max_db_calls(1)
            .db_queue_timeout(Duration::from_millis(100));
        let mut server = Server::with(backend, one_connection, config).await?;
        let holder = Holder::hold(&server.repo).await?;
        // This request takes the one slot, then waits for the held connection.
        let patient = server
            .request("POST", "/authors")?
            .json(&json!({ "name": "Patient" }));
        let in_flight = tokio::spawn(Server::call(patient));
        let mut polls = 0;
        while server.state.db_calls_in_flight() == 0 && polls < 2000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            polls += 1;
        }
        assert_eq!(server.state.db_calls_in_flight(), 1);
        let queued = server.get("/authors").await?;
        queued.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;

        server.stop_listening();
        holder.release().await?;
        in_flight.await??.ok(CREATED)?;
        let task = server.task.take().ok_or("no server task")?;
        tokio::time::timeout(Duration::from_secs(30), task).await???;
        assert!(
            server.get("/health").await.is_err(),
            "the listener is closed"
        );
        assert_eq!(server.repo.authors_by_name("Patient")?.len(), 1);
        Ok(())
    }
}

/// What one load client wrote: author id and name, book id and year.
type Written = Vec<(i64, String, i64, i32)>;

/// One round of a load client: create an author and a book, read them back three ways,
/// and every fifth round change the book's year.
async fn load_round(
    server: &Server,
    client: usize,
    i: usize,
) -> TestResult<(i64, String, i64, i32)> {
    let name = format!("Author {client}-{i:06}");
    let author = server.create("/authors", json!({ "name": name })).await?;
    let mut year = 1900 + i32::try_from(i % 100)?;
    let title = format!("Title {client}-{i:06}");
    let book_json = json!({ "author_id": author, "title": title, "published_year": year });
    let book = server.create("/books", book_json).await?;
    let read = server.get(&format!("/books/{book}")).await?.ok(OK)?;
    let page = server
        .get(&format!("/authors?after={}&limit=10", author - 1))
        .await?
        .ok(OK)?;
    let mine = server
        .get(&format!("/books?author_id={author}"))
        .await?
        .ok(OK)?;
    if read["title"] != title
        || page["items"][0]["name"] != name
        || titles(&mine["items"]) != [title]
    {
        return Err(format!("round {client}-{i} read back {read}, {page}, {mine}").into());
    }
    if i % 5 == 0 {
        year += 1;
        let changes = json!({ "published_year": year });
        server
            .json("PATCH", &format!("/books/{book}"), changes)
            .await?
            .ok(OK)?;
    }
    Ok((author, name, book, year))
}

web_tests! {
    worker_threads = 4;
    async fn bounded_load_run_has_no_errors_and_every_write_is_visible(
        backend: Backend,
    ) -> TestResult {
        let server = Arc::new(Server::start(backend).await?);
        let until = Instant::now() + Duration::from_secs(2);
        let clients = (0..4).map(|client| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let (mut written, mut errors) = (Written::new(), Vec::new());
                for i in 0..5_000 {
                    if Instant::now() >= until || errors.len() >= 10 {
                        break;
                    }
                    match load_round(&server, client, i).await {
                        Ok(entry) => written.push(entry),
                        Err(error) => errors.push(format!("client {client} round {i}: {error}")),
                    }
                }
                (written, errors)
            })
        });
        let (mut written, mut errors) = (Written::new(), Vec::new());
        for client in clients.collect::<Vec<_>>() {
            let (w, e) = client.await?;
            written.extend(w);
            errors.extend(e);
        }
        assert!(errors.is_empty(), "{errors:#?}");
        eprintln!(
            "load run: {} rounds of 5 or 6 requests in 2 s",
            written.len()
        );
        let count = i64::try_from(written.len())?;
        assert!(count > 0);
        assert_eq!(
            (server.repo.count_authors()?, server.repo.count_books()?),
            (count, count)
        );
        for (author, name, book, year) in &written {
            assert_eq!(name_of(&server.repo, *author)?.as_ref(), Some(name));
            let stored = server
                .repo
                .book(BookId(*book))?
                .ok_or("a written book is missing")?;
            assert_eq!(
                (stored.author_id, stored.published_year),
                (AuthorId(*author), Some(*year))
            );
        }
        Ok(())
    }
}
