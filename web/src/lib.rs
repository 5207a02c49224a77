//! The web example's application: state, router, and one handler per route. The
//! binary (`src/main.rs`) serves it; the tests (`tests/web_api/`) serve exactly the same
//! router over HTTP.

mod conditional;
mod config;
mod consistency;
mod error;
mod links;
mod openapi;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bookshelf::{
    AsyncRepository, AuthorId, BookChanges, BookFilter, BookId, BookOrder, Direction, Missing,
    NewAuthor, NewBook, Page,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::{IntoParams, OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use conditional::{none_match, not_modified, tagged, IfMatch};
pub use config::{AppConfig, Settings};
pub use consistency::TOKEN_HEADER;
pub use error::{ApiError, Json, Kind, Path, Query, PROBLEM_JSON, PROBLEM_TYPE_BASE};

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

/// The routes and the OpenAPI document, from one set of declarations: each handler's
/// `#[utoipa::path]` gives its path, method, parameters and answers both to the router
/// and to the document.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(list_authors, create_author))
        .routes(routes!(author, rename_author, delete_author))
        .routes(routes!(books_of_author))
        .routes(routes!(search_books, create_book))
        .routes(routes!(book, update_book, delete_book))
        .routes(routes!(health))
        .routes(routes!(openapi_document))
}

/// The OpenAPI 3.1 document of [`app`] as JSON: every route, parameter, body and
/// answer. The server serves it at `GET /openapi.json`; `docs/openapi.json` is a copy.
///
/// # Errors
///
/// Should the document fail to serialize (it is built by code, so this is a bug).
pub fn openapi() -> Result<serde_json::Value, serde_json::Error> {
    let mut document = serde_json::to_value(openapi::finish(api().into_openapi()))?;
    openapi::camel_case_links(&mut document);
    Ok(document)
}

/// [`openapi`] as pretty-printed JSON with a final newline, as served and as checked in.
///
/// # Errors
///
/// Should the document fail to serialize (it is built by code, so this is a bug).
pub fn openapi_json() -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&openapi()?).map(|mut text| {
        text.push('\n');
        text
    })
}

/// The API over `state`: every route, the token check on writes, the body limit and
/// request tracing.
pub fn app(state: AppState) -> Router {
    let (router, _document) = api().split_for_parts();
    router
        // On the routes only (`route_layer`): a path that is no route is 404 and a method
        // a path does not take 405 before any header is looked at. Outermost first: the
        // token check on writes, then `Consistency-Token`, then the body limit.
        .route_layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            consistency::carry_token,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
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
    ApiError::new(Kind::NotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Kind::MethodNotAllowed,
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

/// The answer of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Health)]
struct HealthBody {
    status: HealthStatus,
    pool: PoolHealth,
    /// Statements run since the server started.
    statements: u64,
    /// Repository calls running or queued now.
    db_calls_in_flight: usize,
    /// The applied migrations, oldest first.
    migrations: Vec<String>,
}

/// `ok`: the server reached its database.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum HealthStatus {
    Ok,
}

/// The connection pool of the primary.
#[derive(Debug, Serialize, ToSchema)]
struct PoolHealth {
    /// Open connections.
    connections: u32,
    /// Open connections not in use.
    idle_connections: u32,
}

/// Pool state, statement count, repository calls in flight and the applied migrations.
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    responses(
        (status = 200, description = "The server reached its database.", body = HealthBody),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn health(State(state): State<AppState>) -> Result<Json<HealthBody>, ApiError> {
    let repo = state.repo();
    let migrations = repo.applied_migrations().await?;
    let stats = repo.stats();
    Ok(Json(HealthBody {
        status: HealthStatus::Ok,
        pool: PoolHealth {
            connections: stats.pool_connections,
            idle_connections: stats.pool_idle_connections,
        },
        statements: stats.statements,
        db_calls_in_flight: repo.calls_in_flight(),
        migrations,
    }))
}

/// This document, OpenAPI 3.1.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object, content_type = "application/json"),
    )
)]
async fn openapi_document() -> Response {
    static DOCUMENT: std::sync::LazyLock<Option<String>> =
        std::sync::LazyLock::new(|| openapi_json().ok());
    match DOCUMENT.as_deref() {
        Some(text) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
        None => {
            tracing::error!("the OpenAPI document does not serialize");
            ApiError::internal().into_response()
        }
    }
}

/// `?include=books`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Include {
    /// Each author with all of their books, by title (two queries for the page).
    Books,
}

/// The query of `GET /authors`.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuthorsQuery {
    /// Keyset pagination: the authors with an id above this one. Pass the previous
    /// page's `next_after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i64>)]
    after: Option<AuthorId>,
    /// Rows per page: 100 when absent, at most 1000 (a larger one is 422).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<u32>,
    /// `books`: each author with their books.
    #[serde(skip_serializing_if = "Option::is_none")]
    include: Option<Include>,
}

/// The authors by id, a page at a time.
#[utoipa::path(
    get,
    path = "/authors",
    tag = "authors",
    params(AuthorsQuery),
    responses(
        (status = 200, description = "A page of authors; with `include=books`, each with their books.",
            body = openapi::AuthorListSchema,
            headers(("Link" = String, description = "`<authors?after=N&limit=L>; rel=\"next\"` when there is a next page: this request's query with `after` set to `next_after`, relative to the request's URI."))),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn list_authors(
    State(state): State<AppState>,
    Query(mut query): Query<AuthorsQuery>,
) -> Result<Response, ApiError> {
    let limit = page_size(query.limit)?;
    let page = Page {
        after: query.after,
        limit: Some(limit),
    };
    let (body, next_after) = match query.include {
        None => {
            let authors = state.repo().list_authors(page).await?;
            let page = KeysetPage::new(authors, limit, |author| author.id.0);
            (serde_json::to_value(&page), page.next_after)
        }
        Some(Include::Books) => {
            let shelf = state.repo().authors_with_books(page).await?;
            let page = KeysetPage::new(shelf, limit, |entry| entry.author.id.0);
            (serde_json::to_value(&page), page.next_after)
        }
    };
    let body = body.map_err(|error| {
        tracing::error!(%error, "a page does not serialize");
        ApiError::internal()
    })?;
    query.limit = Some(limit);
    let next = next_after.and_then(|after| {
        query.after = Some(AuthorId(after));
        links::next("authors", &query)
    });
    Ok(links::with_next(Json(body).into_response(), next))
}

/// Create an author.
#[utoipa::path(
    post,
    path = "/authors",
    tag = "authors",
    request_body = openapi::NewAuthorSchema,
    responses(
        (status = 201, description = "The author, created.", body = openapi::AuthorSchema,
            headers(
                ("Location" = String, description = "`/authors/{id}`."),
                ("ETag" = String, description = "The version, as a strong entity tag: `\"1\"`."),
            ),
            links(
                ("GetAuthor" = (operation_id = "get_author", parameters(("id" = "$response.body#/id")), description = "The author created.")),
                ("RenameAuthor" = (operation_id = "rename_author", parameters(("id" = "$response.body#/id")), description = "Rename the author created.")),
                ("DeleteAuthor" = (operation_id = "delete_author", parameters(("id" = "$response.body#/id")), description = "Delete the author created.")),
                ("ListBooksOfAuthor" = (operation_id = "list_books_of_author", parameters(("id" = "$response.body#/id")), description = "The books of the author created.")),
            )),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
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

/// One author.
#[utoipa::path(
    get,
    path = "/authors/{id}",
    tag = "authors",
    operation_id = "get_author",
    params(
        ("id" = i64, Path, description = "The author's id."),
        ("If-None-Match" = Option<String>, Header, description = "Entity tags (`\"3\"`, `W/\"3\"`, a list, or `*`): 304 while the row is at one of them."),
    ),
    responses(
        (status = 200, description = "The author.", body = openapi::AuthorSchema,
            headers(("ETag" = String, description = "The version, as a strong entity tag: `\"3\"`."))),
        (status = 304, description = "The row is at a version `If-None-Match` names; no body.",
            headers(("ETag" = String, description = "The version, as a strong entity tag."))),
        (status = 404, response = openapi::NotFound),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({ "name": "Ursula Le Guin" }))]
#[serde(deny_unknown_fields)]
struct AuthorChanges {
    /// The new name; trimmed, 1 to 500 characters, no NUL.
    name: String,
}

/// Rename an author; with `If-Match`, only at that version.
#[utoipa::path(
    patch,
    path = "/authors/{id}",
    tag = "authors",
    operation_id = "rename_author",
    params(
        ("id" = i64, Path, description = "The author's id."),
        ("If-Match" = Option<String>, Header, description = "One strong entity tag (`\"3\"`): write only at that version, else 412. Absent or `*`: at any version. Anything else (a weak tag, a list) matches no version: 412, once the body and the row are found good."),
    ),
    request_body = AuthorChanges,
    responses(
        (status = 200, description = "The renamed author.", body = openapi::AuthorSchema,
            headers(("ETag" = String, description = "The new version, as a strong entity tag."))),
        (status = 404, response = openapi::NotFound),
        (status = 412, response = openapi::PreconditionFailed),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn rename_author(
    State(state): State<AppState>,
    Path(id): Path<AuthorId>,
    if_match: IfMatch,
    Json(changes): Json<AuthorChanges>,
) -> Result<Response, ApiError> {
    let repo = state.repo();
    let author = match if_match.expected() {
        None => repo.rename_author(id, changes.name).await?,
        Some(version) => repo
            .rename_author_if(id, version, changes.name)
            .await
            .map_err(|error| if_match.refused(error))?,
    };
    Ok(tagged(StatusCode::OK, author.version, author))
}

/// Delete an author and their books; with `If-Match`, only at that version.
#[utoipa::path(
    delete,
    path = "/authors/{id}",
    tag = "authors",
    params(
        ("id" = i64, Path, description = "The author's id."),
        ("If-Match" = Option<String>, Header, description = "One strong entity tag (`\"3\"`): delete only at that version, else 412. Absent or `*`: at any version. Anything else (a weak tag, a list) matches no version: 412, once the row is found."),
    ),
    responses(
        (status = 204, description = "Deleted, with their books."),
        (status = 404, response = openapi::NotFound),
        (status = 412, response = openapi::PreconditionFailed),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn delete_author(
    State(state): State<AppState>,
    Path(id): Path<AuthorId>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let repo = state.repo();
    match if_match.expected() {
        None => repo.delete_author(id).await?,
        Some(version) => repo
            .delete_author_if(id, version)
            .await
            .map_err(|error| if_match.refused(error))?,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The query of `GET /authors/{id}/books`.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OffsetQuery {
    /// Rows per page: 100 when absent, at most 1000 (a larger one is 422).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<u32>,
    /// Rows to skip: 0 when absent. Pass the previous page's `next_offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    offset: Option<u32>,
}

/// An author's books, by title, a page at a time.
#[utoipa::path(
    get,
    path = "/authors/{id}/books",
    tag = "authors",
    operation_id = "list_books_of_author",
    params(("id" = i64, Path, description = "The author's id."), OffsetQuery),
    responses(
        (status = 200, description = "A page of the author's books, by title.", body = openapi::BookPageSchema,
            headers(("Link" = String, description = "`<books?limit=L&offset=N>; rel=\"next\"` when there is a next page: this request's query with `offset` set to `next_offset`, relative to the request's URI."))),
        (status = 404, response = openapi::NotFound),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn books_of_author(
    State(state): State<AppState>,
    Path(id): Path<AuthorId>,
    Query(mut query): Query<OffsetQuery>,
) -> Result<Response, ApiError> {
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
    let page = OffsetPage::new(books, limit, offset);
    query.limit = Some(limit);
    let next = page.next_offset.and_then(|next| {
        query.offset = Some(next);
        links::next("books", &query)
    });
    Ok(links::with_next(Json(page).into_response(), next))
}

/// The query of `GET /books`.
#[derive(Debug, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct BooksQuery {
    /// Full-text search: titles holding every word, ignoring case and accents, best
    /// match first (unless `order` says otherwise). Words only: quotes, `*`, `AND`,
    /// `NEAR` and the like are no query syntax.
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    /// Titles containing this text, matched literally, ignoring ASCII case.
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    /// The books of this author.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i64>)]
    author_id: Option<AuthorId>,
    /// Published in this year or later (books without a year never match).
    #[serde(skip_serializing_if = "Option::is_none")]
    year_from: Option<i32>,
    /// Published in this year or earlier (books without a year never match).
    #[serde(skip_serializing_if = "Option::is_none")]
    year_to: Option<i32>,
    /// Updated (or created) at this RFC 3339 time or later, such as
    /// `2026-12-02T10:00:00Z` (`+` written `%2B` in a URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The order: `id` by default, `relevance` with `q`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<openapi::BookOrderSchema>)]
    order: Option<BookOrder>,
    /// `ascending` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<openapi::DirectionSchema>)]
    direction: Option<Direction>,
    /// Rows per page: 100 when absent, at most 1000 (a larger one is 422).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<u32>,
    /// Rows to skip: 0 when absent. Pass the previous page's `next_offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_i64)]
    offset: Option<u32>,
}

/// Search the books.
#[utoipa::path(
    get,
    path = "/books",
    tag = "books",
    params(BooksQuery),
    responses(
        (status = 200, description = "A page of the books that match.", body = openapi::BookPageSchema,
            headers(("Link" = String, description = "`<books?...&limit=L&offset=N>; rel=\"next\"` when there is a next page: this request's query with `offset` set to `next_offset`, relative to the request's URI."))),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn search_books(
    State(state): State<AppState>,
    Query(query): Query<BooksQuery>,
) -> Result<Response, ApiError> {
    let limit = page_size(query.limit)?;
    let offset = query.offset.unwrap_or(0);
    // A search ranks its results unless the client orders them otherwise.
    let order = match (&query.q, query.order) {
        (_, Some(order)) => order,
        (Some(_), None) => BookOrder::Relevance,
        (None, None) => BookOrder::default(),
    };
    let filter = BookFilter {
        matching: query.q.clone(),
        title_contains: query.title.clone(),
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
    let page = OffsetPage::new(books, limit, offset);
    let next = page.next_offset.and_then(|next| {
        let query = BooksQuery {
            limit: Some(limit),
            offset: Some(next),
            ..query
        };
        links::next("books", &query)
    });
    Ok(links::with_next(Json(page).into_response(), next))
}

/// Create a book.
#[utoipa::path(
    post,
    path = "/books",
    tag = "books",
    request_body = openapi::NewBookSchema,
    responses(
        (status = 201, description = "The book, created.", body = openapi::BookSchema,
            headers(
                ("Location" = String, description = "`/books/{id}`."),
                ("ETag" = String, description = "The version, as a strong entity tag: `\"1\"`."),
            ),
            links(
                ("GetBook" = (operation_id = "get_book", parameters(("id" = "$response.body#/id")), description = "The book created.")),
                ("UpdateBook" = (operation_id = "update_book", parameters(("id" = "$response.body#/id")), description = "Change the book created.")),
                ("DeleteBook" = (operation_id = "delete_book", parameters(("id" = "$response.body#/id")), description = "Delete the book created.")),
                ("GetAuthor" = (operation_id = "get_author", parameters(("id" = "$response.body#/author_id")), description = "The book's author.")),
            )),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
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

/// One book.
#[utoipa::path(
    get,
    path = "/books/{id}",
    tag = "books",
    operation_id = "get_book",
    params(
        ("id" = i64, Path, description = "The book's id."),
        ("If-None-Match" = Option<String>, Header, description = "Entity tags (`\"3\"`, `W/\"3\"`, a list, or `*`): 304 while the row is at one of them."),
    ),
    responses(
        (status = 200, description = "The book.", body = openapi::BookSchema,
            headers(("ETag" = String, description = "The version, as a strong entity tag: `\"3\"`."))),
        (status = 304, description = "The row is at a version `If-None-Match` names; no body.",
            headers(("ETag" = String, description = "The version, as a strong entity tag."))),
        (status = 404, response = openapi::NotFound),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn book(
    State(state): State<AppState>,
    Path(id): Path<BookId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let book = state.repo().book(id).await?;
    let book = book.ok_or(bookshelf::Error::NotFound(Missing::Book(id)))?;
    Ok(one_row(&headers, book.version, book))
}

/// Change a book; with `If-Match`, only at that version.
#[utoipa::path(
    patch,
    path = "/books/{id}",
    tag = "books",
    params(
        ("id" = i64, Path, description = "The book's id."),
        ("If-Match" = Option<String>, Header, description = "One strong entity tag (`\"3\"`): write only at that version, else 412. Absent or `*`: at any version. Anything else (a weak tag, a list) matches no version: 412, once the body and the row are found good."),
    ),
    request_body = openapi::BookChangesSchema,
    responses(
        (status = 200, description = "The book, changed.", body = openapi::BookSchema,
            headers(("ETag" = String, description = "The new version, as a strong entity tag."))),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 412, response = openapi::PreconditionFailed),
        (status = 413, response = openapi::PayloadTooLarge),
        (status = 415, response = openapi::UnsupportedMediaType),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn update_book(
    State(state): State<AppState>,
    Path(id): Path<BookId>,
    if_match: IfMatch,
    Json(changes): Json<BookChanges>,
) -> Result<Response, ApiError> {
    let repo = state.repo();
    let book = match if_match.expected() {
        None => repo.update_book(id, changes).await?,
        Some(version) => repo
            .update_book_if(id, version, changes)
            .await
            .map_err(|error| if_match.refused(error))?,
    };
    Ok(tagged(StatusCode::OK, book.version, book))
}

/// Delete a book; with `If-Match`, only at that version.
#[utoipa::path(
    delete,
    path = "/books/{id}",
    tag = "books",
    params(
        ("id" = i64, Path, description = "The book's id."),
        ("If-Match" = Option<String>, Header, description = "One strong entity tag (`\"3\"`): delete only at that version, else 412. Absent or `*`: at any version. Anything else (a weak tag, a list) matches no version: 412, once the row is found."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, response = openapi::NotFound),
        (status = 412, response = openapi::PreconditionFailed),
        (status = 422, response = openapi::Unprocessable),
        (status = 503, response = openapi::Unavailable),
    )
)]
async fn delete_book(
    State(state): State<AppState>,
    Path(id): Path<BookId>,
    if_match: IfMatch,
) -> Result<StatusCode, ApiError> {
    let repo = state.repo();
    match if_match.expected() {
        None => repo.delete_book(id).await?,
        Some(version) => repo
            .delete_book_if(id, version)
            .await
            .map_err(|error| if_match.refused(error))?,
    }
    Ok(StatusCode::NO_CONTENT)
}
