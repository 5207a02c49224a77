//! The web example's application: state, router, and one handler per route. The
//! binary (`src/main.rs`) serves it; the tests (`tests/web_api/`) serve exactly the same
//! router over HTTP.

mod conditional;
mod config;
mod consistency;
mod error;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bookshelf::{
    AsyncRepository, AuthorId, Book, BookChanges, BookFilter, BookId, BookOrder, Direction,
    Missing, NewAuthor, NewBook, Page,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use conditional::{none_match, not_modified, tagged, IfMatch};
pub use config::{AppConfig, Settings};
pub use consistency::TOKEN_HEADER;
pub use error::{ApiError, Json, Path, Query};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest `limit` a list route accepts; a larger one is refused with 422.
pub const MAX_LIMIT: u32 = 1000;
/// The `limit` of a list route that names none.
pub const DEFAULT_LIMIT: u32 = 100;

/// The router's state: the repository and the limits around it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    repo: AsyncRepository,
    config: Arc<AppConfig>,
}

impl AppState {
    /// State serving `repo` (an [`AsyncRepository`], or the
    /// [`Repository`](bookshelf::Repository) to make one of) under `config`. The
    /// repository's own queue bounds the database calls: at most one running per pooled
    /// connection ([`max_size`](bookshelf::Config::max_size)), and a call that gets no
    /// place and connection within the
    /// [`connection_timeout`](bookshelf::Config::connection_timeout) is answered 503.
    pub fn new(repo: impl Into<AsyncRepository>, config: AppConfig) -> Self {
        Self {
            repo: repo.into(),
            config: Arc::new(config),
        }
    }

    /// The repository served. Inside a request, its reads see at least what the
    /// request's `Consistency-Token` saw.
    pub fn repo(&self) -> AsyncRepository {
        consistency::for_this_request(&self.repo)
    }
}

/// The API over `state`: every route, the token check on writes, the body limit and
/// request tracing.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/authors", get(list_authors).post(create_author))
        .route(
            "/authors/{id}",
            get(author).patch(rename_author).delete(delete_author),
        )
        .route("/authors/{id}/books", get(books_of_author))
        .route("/books", get(search_books).post(create_book))
        .route(
            "/books/{id}",
            get(book).patch(update_book).delete(delete_book),
        )
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            consistency::carry_token,
        ))
        // A panic in a handler (or in a repository call, which resumes it in the handler)
        // is a 500 of the usual shape, not a dropped connection.
        .layer(CatchPanicLayer::custom(|_panic| {
            tracing::error!("a request handler panicked");
            ApiError::internal().into_response()
        }))
        .layer(
            // Spans carry the method, URI and HTTP version; headers (the token) are not logged.
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// With a token configured, every request that is not a read needs it.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = state.config.api_token.as_deref() else {
        return next.run(request).await;
    };
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    // Constant time in the token's content; only its length can show.
    let allowed =
        presented.is_some_and(|token| bool::from(token.as_bytes().ct_eq(expected.as_bytes())));
    if allowed {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

async fn no_such_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept this method",
    )
}

/// The page size asked for, defaulted and checked against [`MAX_LIMIT`].
fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if limit <= MAX_LIMIT => Ok(limit),
        Some(limit) => Err(ApiError::validation(format!(
            "invalid limit: {limit} is more than {MAX_LIMIT}"
        ))),
    }
}

/// A keyset page: `next_after` is the `after` of the next page, `null` on the last.
#[derive(Debug, Serialize)]
struct KeysetPage<T> {
    items: Vec<T>,
    next_after: Option<i64>,
}

impl<T> KeysetPage<T> {
    fn new(items: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Self {
        let full = items.len() == limit as usize;
        let next_after = items.last().filter(|_| full).map(id);
        Self { items, next_after }
    }
}

/// An offset page: `next_offset` is the `offset` of the next page, `null` on the last.
#[derive(Debug, Serialize)]
struct OffsetPage<T> {
    items: Vec<T>,
    next_offset: Option<u32>,
}

impl<T> OffsetPage<T> {
    fn new(items: Vec<T>, limit: u32, offset: u32) -> Self {
        let full = limit > 0 && items.len() == limit as usize;
        let next_offset = full.then(|| offset.checked_add(limit)).flatten();
        Self { items, next_offset }
    }
}

async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let repo = state.repo();
    let migrations = repo.applied_migrations().await?;
    let stats = repo.stats();
    let body = serde_json::json!({
        "status": "ok",
        "pool": {
            "connections": stats.pool_connections,
            "idle_connections": stats.pool_idle_connections,
        },
        "statements": stats.statements,
        "db_calls_in_flight": repo.calls_in_flight(),
        "migrations": migrations,
    });
    Ok(Json(body).into_response())
}

/// `?include=books`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Include {
    Books,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorsQuery {
    after: Option<AuthorId>,
    limit: Option<u32>,
    include: Option<Include>,
}

async fn list_authors(
    State(state): State<AppState>,
    Query(query): Query<AuthorsQuery>,
) -> Result<Response, ApiError> {
    let limit = page_size(query.limit)?;
    let page = Page {
        after: query.after,
        limit: Some(limit),
    };
    Ok(match query.include {
        None => {
            let authors = state.repo().list_authors(page).await?;
            Json(KeysetPage::new(authors, limit, |author| author.id.0)).into_response()
        }
        Some(Include::Books) => {
            let shelf = state.repo().authors_with_books(page).await?;
            Json(KeysetPage::new(shelf, limit, |entry| entry.author.id.0)).into_response()
        }
    })
}

async fn create_author(
    State(state): State<AppState>,
    Json(new): Json<NewAuthor>,
) -> Result<Response, ApiError> {
    let author = state.repo().create_author(new).await?;
    let location = format!("/authors/{}", author.id);
    Ok(created(location, author.version, author))
}

/// 201 with the new resource, where it lives and its `ETag`.
fn created<T: Serialize>(location: String, version: bookshelf::Version, body: T) -> Response {
    let mut response = tagged(StatusCode::CREATED, version, body);
    if let Ok(location) = axum::http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// 200 with the row and its `ETag`, or 304 when `If-None-Match` names its version.
fn one_row<T: Serialize>(headers: &HeaderMap, version: bookshelf::Version, row: T) -> Response {
    if none_match(headers, version) {
        not_modified(version)
    } else {
        tagged(StatusCode::OK, version, row)
    }
}

async fn author(
    State(state): State<AppState>,
    Path(id): Path<AuthorId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let author = state.repo().author(id).await?;
    let author = author.ok_or(bookshelf::Error::NotFound(Missing::Author(id)))?;
    Ok(one_row(&headers, author.version, author))
}

/// The body of `PATCH /authors/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorChanges {
    name: String,
}

async fn rename_author(
    State(state): State<AppState>,
    Path(id): Path<AuthorId>,
    if_match: IfMatch,
    Json(changes): Json<AuthorChanges>,
) -> Result<Response, ApiError> {
    let repo = state.repo();
    let author = match if_match {
        IfMatch::Any => repo.rename_author(id, changes.name).await?,
        IfMatch::Version(version) => repo.rename_author_if(id, version, changes.name).await?,
    };
    Ok(tagged(StatusCode::OK, author.version, author))
}

async fn delete_author(
    State(state): State<AppState>,
    Path(id): Path<AuthorId>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let repo = state.repo();
    match if_match {
        IfMatch::Any => repo.delete_author(id).await?,
        IfMatch::Version(version) => repo.delete_author_if(id, version).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetQuery {
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn books_of_author(
    State(state): State<AppState>,
    Path(id): Path<AuthorId>,
    Query(query): Query<OffsetQuery>,
) -> Result<Json<OffsetPage<Book>>, ApiError> {
    let limit = page_size(query.limit)?;
    let offset = query.offset.unwrap_or(0);
    let filter = BookFilter::new()
        .author(id)
        .order_by(BookOrder::Title, Direction::Ascending)
        .limit(limit)
        .offset(offset);
    // Two autocommit reads: a transaction would take SQLite's write lock.
    let repo = state.repo();
    if repo.author(id).await?.is_none() {
        return Err(bookshelf::Error::NotFound(Missing::Author(id)).into());
    }
    let books = repo.search_books(filter).await?;
    Ok(Json(OffsetPage::new(books, limit, offset)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BooksQuery {
    /// Full-text search: titles holding these words, best match first.
    q: Option<String>,
    /// Substring filter: titles containing this text.
    title: Option<String>,
    author_id: Option<AuthorId>,
    year_from: Option<i32>,
    year_to: Option<i32>,
    /// RFC 3339, such as `2026-12-02T10:00:00Z` (`+` written `%2B` in a URL).
    updated_since: Option<chrono::DateTime<chrono::Utc>>,
    order: Option<BookOrder>,
    direction: Option<Direction>,
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn search_books(
    State(state): State<AppState>,
    Query(query): Query<BooksQuery>,
) -> Result<Json<OffsetPage<Book>>, ApiError> {
    let limit = page_size(query.limit)?;
    let offset = query.offset.unwrap_or(0);
    // A search ranks its results unless the client orders them otherwise.
    let order = match (&query.q, query.order) {
        (_, Some(order)) => order,
        (Some(_), None) => BookOrder::Relevance,
        (None, None) => BookOrder::default(),
    };
    let filter = BookFilter {
        matching: query.q,
        title_contains: query.title,
        author_id: query.author_id,
        year_from: query.year_from,
        year_to: query.year_to,
        updated_since: query.updated_since,
        order,
        direction: query.direction.unwrap_or_default(),
        limit: Some(limit),
        offset: Some(offset),
    };
    let books = state.repo().search_books(filter).await?;
    Ok(Json(OffsetPage::new(books, limit, offset)))
}

async fn create_book(
    State(state): State<AppState>,
    Json(new): Json<NewBook>,
) -> Result<Response, ApiError> {
    let author_id = new.author_id;
    // The route exists; what is missing is a row the body names.
    let book = state
        .repo()
        .create_book(new)
        .await
        .map_err(|error| match error {
            bookshelf::Error::NotFound(_) => {
                ApiError::validation(format!("invalid author_id: author {author_id} not found"))
            }
            error => ApiError::from(error),
        })?;
    let location = format!("/books/{}", book.id);
    Ok(created(location, book.version, book))
}

async fn book(
    State(state): State<AppState>,
    Path(id): Path<BookId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let book = state.repo().book(id).await?;
    let book = book.ok_or(bookshelf::Error::NotFound(Missing::Book(id)))?;
    Ok(one_row(&headers, book.version, book))
}

async fn update_book(
    State(state): State<AppState>,
    Path(id): Path<BookId>,
    if_match: IfMatch,
    Json(changes): Json<BookChanges>,
) -> Result<Response, ApiError> {
    let repo = state.repo();
    let book = match if_match {
        IfMatch::Any => repo.update_book(id, changes).await?,
        IfMatch::Version(version) => repo.update_book_if(id, version, changes).await?,
    };
    Ok(tagged(StatusCode::OK, book.version, book))
}

async fn delete_book(
    State(state): State<AppState>,
    Path(id): Path<BookId>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let repo = state.repo();
    match if_match {
        IfMatch::Any => repo.delete_book(id).await?,
        IfMatch::Version(version) => repo.delete_book_if(id, version).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}
