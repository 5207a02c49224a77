//! Under contention: a pool timeout, a full queue, shutdown with a request in flight,
//! many requests on a small pool, a runtime that shuts down, and a bounded load run.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use bookshelf::{AuthorId, BookId, Config};
use reqwest::StatusCode;
use serde_json::json;

use crate::app::{ApiError, AppConfig};
use crate::support::{
    name_of, titles, web_tests, Holder, Reply, Server, SlowCall, TestResult, CREATED, OK,
};

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
    async fn a_full_queue_is_503_after_the_connection_timeout(backend: Backend) -> TestResult {
        let timeout = Duration::from_millis(300);
        let two_connections = move |config: Config| config.max_size(2).connection_timeout(timeout);
        let server = Server::with(backend, two_connections, AppConfig::new()).await?;
        // A slow call takes one of the queue's two places; `/health` takes the other.
        let first = SlowCall::start(server.state.repo()).await?;
        assert_eq!(server.state.repo().calls_in_flight(), 1);
        let health = server.get("/health").await?.ok(OK)?;
        assert_eq!(health["db_calls_in_flight"], 1, "{health}");
        // With both places taken, a request waits the whole timeout for one, then is 503.
        let second = SlowCall::start(server.state.repo()).await?;
        assert_eq!(server.state.repo().calls_in_flight(), 2);
        let started = Instant::now();
        let queued = server.get("/authors").await?;
        let waited = started.elapsed();
        assert_eq!(queued.header("retry-after"), Some("1"));
        queued.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;
        assert!(waited >= timeout, "answered after {waited:?}");
        let post = server
            .json("POST", "/authors", json!({ "name": "Ann" }))
            .await?;
        post.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;

        first.release().await?;
        second.release().await?;
        let health = server.get("/health").await?.ok(OK)?;
        assert_eq!(health["db_calls_in_flight"], 0, "{health}");
        server.create("/authors", json!({ "name": "Bo" })).await?;
        assert!(server.repo.authors_by_name("Ann")?.is_empty());
        assert_eq!(server.repo.count_authors()?, 1);
        server.stop().await
    }
}

web_tests! {
    async fn shutdown_finishes_the_requests_in_flight(backend: Backend) -> TestResult {
        let one_connection = |config: Config| config.max_size(1);
        let mut server = Server::with(backend, one_connection, AppConfig::new()).await?;
        let holder = Holder::hold(&server.repo).await?;
        // This request takes the queue's one place, then waits for the held connection.
        let patient = server
            .request("POST", "/authors")?
            .json(&json!({ "name": "Patient" }));
        let in_flight = tokio::spawn(Server::call(patient));
        let mut polls = 0;
        while server.state.repo().calls_in_flight() == 0 && polls < 2000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            polls += 1;
        }
        assert_eq!(server.state.repo().calls_in_flight(), 1);

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
        assert_eq!(server.state.repo().calls_in_flight(), 0);
        Ok(())
    }
}

web_tests! {
    worker_threads = 4;
    async fn many_concurrent_requests_on_a_pool_of_two_all_succeed(backend: Backend) -> TestResult {
        let two_connections = |config: Config| {
            config
                .max_size(2)
                .connection_timeout(Duration::from_secs(20))
        };
        let server = Arc::new(Server::with(backend, two_connections, AppConfig::new()).await?);
        // How many calls ran at once, sampled every millisecond while the requests run.
        let (peak, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let sampler = {
            let (server, peak, done) = (Arc::clone(&server), Arc::clone(&peak), Arc::clone(&done));
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(server.state.repo().calls_in_flight(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let requests = (0..48).map(|i| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let name = format!("Crowd {i:02}");
                let id = server.create("/authors", json!({ "name": name })).await?;
                let read = server.get(&format!("/authors/{id}")).await?.ok(OK)?;
                let books = server.get(&format!("/authors/{id}/books")).await?.ok(OK)?;
                if read["name"] != name || books["items"] != json!([]) {
                    return Err(format!("request {i} read back {read}, {books}").into());
                }
                TestResult::Ok(())
            })
        });
        let mut errors = Vec::new();
        for request in requests.collect::<Vec<_>>() {
            if let Err(error) = request.await? {
                errors.push(error.to_string());
            }
        }
        done.store(true, Ordering::Relaxed);
        sampler.await?;
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(server.repo.count_authors()?, 48);
        let peak = peak.load(Ordering::Relaxed);
        assert!((1..=2).contains(&peak), "{peak} calls in flight at once");
        Ok(())
    }
}

/// A call refused because the runtime is shutting down is 503 `unavailable`, with
/// `Retry-After` and the body of every error.
#[tokio::test]
async fn runtime_shutdown_is_503() -> TestResult {
    let response = ApiError::from(bookshelf::Error::RuntimeShutdown).into_response();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    let reply = Reply {
        status,
        headers,
        body: serde_json::from_slice(&body)?,
    };
    assert_eq!(reply.header("retry-after"), Some("1"));
    let message = reply.error(StatusCode::SERVICE_UNAVAILABLE, "unavailable")?;
    assert!(message.contains("shutting down"), "{message}");
    Ok(())
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
