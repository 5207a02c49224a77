//! A JSON API over the repository with axum on tokio: the data layer integrated into a
//! web service.
//!
//! ```text
//! cargo run --bin web_api                          # 127.0.0.1:3000, ./bookshelf.db
//! cargo run --bin web_api -- 127.0.0.1:8080 /var/lib/bookshelf/books.db
//! BIND_ADDR=127.0.0.1:8080 DATABASE_URL=books.db API_TOKEN=s3cret \
//!     RUST_LOG=info,bookshelf::sql=debug cargo run --bin web_api
//! DATABASE_URL=postgres://127.0.0.1/test cargo run --features postgres --bin web_api
//! DATABASE_URL=postgres://db-primary/app READ_REPLICA_URLS="postgres://db-replica/app" \
//!     cargo run --features postgres --bin web_api
//! ```
//!
//! Arguments win over `BIND_ADDR` and `DATABASE_URL`. `RUST_LOG` filters the log (default
//! `info`: one line per request); `bookshelf::sql=debug` adds every SQL statement, without
//! its bound values. Ctrl-C or SIGTERM stops accepting connections, lets the requests in
//! flight finish, then exits.
//!
//! # Routes
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /authors?after=&limit=` | `{"items": [author], "next_after": id or null}` |
//! | `GET /authors?include=books&after=&limit=` | the same with `{"author", "books"}` items, in 2 queries |
//! | `POST /authors` `{"name"}` | 201, the author, `Location` |
//! | `GET`, `DELETE /authors/{id}`; `PATCH` `{"name"}` | the author; 204 for a delete (their books go too) |
//! | `GET /authors/{id}/books?limit=&offset=` | `{"items": [book], "next_offset": n or null}`, by title |
//! | `POST /books` `{"author_id", "title", "isbn"?, "published_year"?}` | 201, the book, `Location` |
//! | `GET`, `DELETE /books/{id}`; `PATCH` `{"title"?, "isbn"?, "published_year"?}` | the book; in a `PATCH` an absent field stays, `null` clears it |
//! | `GET /books?title=&author_id=&year_from=&year_to=&order=&direction=&limit=&offset=` | `{"items", "next_offset"}`; `order` is `id`, `title` or `published_year`, `direction` `ascending` or `descending` |
//! | `GET /health` | pool state, statement count, applied migrations |
//! | `GET /openapi.json` | the OpenAPI 3.1 document of these routes |
//!
//! Lists return 100 rows unless `limit` says otherwise, and at most 1,000: a larger
//! `limit` is a 422, not silently cut. Unknown query parameters and unknown body fields
//! are 422 too, so a misspelt filter never silently matches everything.
//!
//! Every error is RFC 9457 problem details, `application/problem+json`: `{"type":
//! "https://bookshelf.example/problems/not_found", "title", "status", "detail", "kind"}`,
//! with `kind` one of 404 `not_found`, 405 `method_not_allowed`, 409 `conflict`, 412
//! `precondition_failed`, 422 `validation` (rejected by the data model, or an
//! `author_id` that does not exist) or `invalid_request` (malformed JSON, a body that
//! is not an object, wrong types, unknown fields, bad query or path parameters), 413
//! `payload_too_large` (bodies over 64 KiB; with `Connection: close`), 415 without
//! `Content-Type: application/json`, 401 `unauthorized`, 503 `unavailable` (no
//! database connection in time; with `Retry-After`), and 500 `internal`, whose detail
//! never carries SQL or file paths (those go to the log). List answers link their next
//! page with `Link: <...>; rel="next"`.
//!
//! `GET /openapi.json` serves the OpenAPI 3.1 document of every route;
//! `web_api --print-openapi` prints it (`docs/openapi.json` is a copy).
//!
//! # Read replicas and `Consistency-Token`
//!
//! With `READ_REPLICA_URLS` (PostgreSQL; URLs separated by spaces), reads outside a
//! transaction may be served by a replica. Every response to a write carries
//! `Consistency-Token: <log position>`, every response to a read the token it came with;
//! a client that sends the last token it got back on its next requests sees its own
//! writes on every read, on whichever instance of the server the request lands, while
//! other clients' reads keep going to the replicas. A token that is not one is 400
//! `invalid_token`. Without replicas no token is sent, and one sent has no effect.
//!
//! # Safe defaults
//!
//! With `API_TOKEN` set, every request other than GET, HEAD and OPTIONS needs
//! `Authorization: Bearer <token>`, compared in constant time; without it the server
//! logs a warning at startup, since anyone who can reach it can write. The token is read
//! from the environment only: command-line arguments are visible to every local user.
//! Diesel is synchronous, so each repository call runs on tokio's blocking threads
//! ([`bookshelf::AsyncRepository`]), at most 16 at once (one per pooled connection); a
//! request that waits 10 seconds for one is answered 503. There is no CORS layer:
//! browsers on other origins cannot call the API unless you add one (`tower_http::cors`)
//! listing the origins you trust.
//!
//! # Behind a reverse proxy
//!
//! Serve it as the backend of nginx, Caddy or a cloud load balancer: keep the default
//! bind address `127.0.0.1` (or a private interface) so that only the proxy reaches it,
//! and let the proxy terminate TLS — the bearer token must never cross a network in
//! clear text — and apply rate limits, connection and request timeouts, and its own body
//! limit. For example, with nginx:
//!
//! ```text
//! location /api/ {
//!     proxy_pass http://127.0.0.1:3000/;
//!     client_max_body_size 64k;
//!     limit_req zone=api burst=20;
//! }
//! ```

use std::error::Error;
use std::io::IsTerminal;
use std::time::Duration;

use bookshelf::Config;
use tracing_subscriber::EnvFilter;

use bookshelf_web::{app, AppConfig, AppState, Settings};

/// Pool connections, and as many concurrent repository calls (the `AsyncRepository`'s
/// queue has a place per connection): requests beyond that queue as cheap futures rather
/// than as blocked threads each waiting for a connection.
const DB_CONNECTIONS: u32 = 16;
/// How long a repository call waits for its place in the queue and its connection,
/// together, before its request is answered 503.
const WAIT_FOR_DATABASE: Duration = Duration::from_secs(10);

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--print-openapi") {
        return print_openapi();
    }
    match serve() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The error and its causes, as a person reads them (not `Debug`).
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// `web_api --print-openapi`: the OpenAPI document on stdout, as `docs/openapi.json`
/// holds it.
fn print_openapi() -> std::process::ExitCode {
    match bookshelf_web::openapi_json() {
        Ok(text) => {
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: the OpenAPI document does not serialize: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve() -> Result<(), Box<dyn Error + Send + Sync>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a terminal: a log file or a journal gets plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && std::io::stdout().is_terminal())
        .init();

    let settings = Settings::parse(std::env::args().skip(1), |key| std::env::var(key).ok())?;
    let mut config = Config::new(settings.database_url.clone())
        .max_size(DB_CONNECTIONS)
        .connection_timeout(WAIT_FOR_DATABASE)
        .log_queries(true);
    for replica in &settings.read_replicas {
        config = config.read_replica(replica);
    }
    // Opening runs the migrations: blocking work, kept off the async workers too.
    let repo = config.open_async().await?;

    let listener = tokio::net::TcpListener::bind(settings.bind_addr).await?;
    let address = listener.local_addr()?;
    if settings.api_token.is_none() {
        tracing::warn!(%address, "API_TOKEN is not set: anyone who can reach the server can write");
    }
    tracing::info!(%address, database = %settings.database_url, "listening");

    let config = AppConfig::new().api_token(settings.api_token);
    let state = AppState::new(repo, config);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C, or on SIGTERM (what `docker stop` and systemd send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
