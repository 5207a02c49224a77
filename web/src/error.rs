//! [`ApiError`], the one error response of the API: an RFC 9457 problem details object
//! (`application/problem+json`), and the extractors whose rejections become one.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{HeaderValue, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What every problem `type` URI starts with; the kind follows
/// (`https://bookshelf.example/problems/not_found`). The URIs identify the problem types
/// and are not meant to be fetched: `.example` is a reserved domain.
pub const PROBLEM_TYPE_BASE: &str = "https://bookshelf.example/problems/";

/// The machine-readable kind of an error, the `kind` member of its problem details: each
/// kind has one status, one `title` and one `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 400: a `Consistency-Token` that is not a log position.
    InvalidToken,
    /// 401: a write without the right bearer token.
    Unauthorized,
    /// 404: a missing id in the path, or no such route.
    NotFound,
    /// 405: a route that does not accept the method.
    MethodNotAllowed,
    /// 409: a duplicate ISBN, or a title the author already has.
    Conflict,
    /// 412: an `If-Match` that names no version, or one the row is not at.
    PreconditionFailed,
    /// 413: a body over [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES).
    PayloadTooLarge,
    /// 415: a body not sent as `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 422: content the data model rejects, or a `limit` over the maximum.
    Validation,
    /// 422: malformed JSON, wrong types, unknown fields, bad query or path parameters.
    InvalidRequest,
    /// 503: no database connection in time, or the server is shutting down.
    Unavailable,
    /// 500: anything else.
    Internal,
}

impl Kind {
    /// Every kind, in order of status.
    pub const ALL: [Kind; 12] = [
        Kind::InvalidToken,
        Kind::Unauthorized,
        Kind::NotFound,
        Kind::MethodNotAllowed,
        Kind::Conflict,
        Kind::PreconditionFailed,
        Kind::PayloadTooLarge,
        Kind::UnsupportedMediaType,
        Kind::Validation,
        Kind::InvalidRequest,
        Kind::Internal,
        Kind::Unavailable,
    ];

    /// The `kind` member: `not_found`, `validation`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InvalidToken => "invalid_token",
            Kind::Unauthorized => "unauthorized",
            Kind::NotFound => "not_found",
            Kind::MethodNotAllowed => "method_not_allowed",
            Kind::Conflict => "conflict",
            Kind::PreconditionFailed => "precondition_failed",
            Kind::PayloadTooLarge => "payload_too_large",
            Kind::UnsupportedMediaType => "unsupported_media_type",
            Kind::Validation => "validation",
            Kind::InvalidRequest => "invalid_request",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
        }
    }

    /// The HTTP status of every error of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::InvalidToken => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Validation | Kind::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `title` member: a short summary of the problem type, the same for every
    /// occurrence (the `detail` says what happened this time).
    pub fn title(self) -> &'static str {
        match self {
            Kind::InvalidToken => "Invalid Consistency-Token",
            Kind::Unauthorized => "Missing or wrong bearer token",
            Kind::NotFound => "Not found",
            Kind::MethodNotAllowed => "Method not allowed",
            Kind::Conflict => "Conflicts with a stored row",
            Kind::PreconditionFailed => "Precondition failed",
            Kind::PayloadTooLarge => "Request body too large",
            Kind::UnsupportedMediaType => "Unsupported media type",
            Kind::Validation => "Invalid content",
            Kind::InvalidRequest => "Malformed request",
            Kind::Unavailable => "Service unavailable",
            Kind::Internal => "Internal server error",
        }
    }

    /// The `type` member: [`PROBLEM_TYPE_BASE`] and the kind.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.as_str())
    }
}

impl Kind {
    /// When an error of this kind is sent, for the document.
    pub(crate) fn when(self) -> &'static str {
        match self {
            Kind::InvalidToken => "a `Consistency-Token` that is not a log position",
            Kind::Unauthorized => {
                "a write without the right `Authorization: Bearer` token, when the server \
                 has one (`WWW-Authenticate: Bearer`)"
            }
            Kind::NotFound => "no row has the id in the path, or the path is no route",
            Kind::MethodNotAllowed => {
                "the path does not accept the method (`Allow` lists those it does)"
            }
            Kind::Conflict => "a duplicate ISBN, or a title the author already has",
            Kind::PreconditionFailed => {
                "the `If-Match` names a version the row is not at, or no version"
            }
            Kind::PayloadTooLarge => "a body over 64 KiB (`Connection: close`)",
            Kind::UnsupportedMediaType => "a body not sent as `Content-Type: application/json`",
            Kind::Validation => {
                "content the data model rejects (an empty name, a bad ISBN, a year out of \
                 range), a `limit` over 1000, or an `author_id` that names no author"
            }
            Kind::InvalidRequest => {
                "malformed JSON, wrong types, missing or unknown fields, bad query or path \
                 parameters"
            }
            Kind::Unavailable => {
                "no database connection in time, or the server is shutting down \
                 (`Retry-After: 1`)"
            }
            Kind::Internal => {
                "anything else; the detail never carries SQL or file paths (they go to the log)"
            }
        }
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: RFC 9457 problem details, `application/problem+json`:
///
/// ```json
/// {
///   "type": "https://bookshelf.example/problems/not_found",
///   "title": "Not found",
///   "status": 404,
///   "detail": "author 7 not found",
///   "kind": "not_found"
/// }
/// ```
///
/// Built from a [`bookshelf::Error`] or from a rejected request; the detail is meant for
/// the client, so anything that could carry SQL text or file paths (a database error, a
/// failed connection) is logged in full and answered with a generic 500.
#[derive(Debug)]
pub struct ApiError {
    kind: Kind,
    detail: String,
}

/// Problem details (RFC 9457), the body of every error answer, with the `kind`
/// extension member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Problem {
    /// Identifies the problem type: `https://bookshelf.example/problems/` and the kind.
    /// An identifier, not a page to fetch.
    #[serde(rename = "type")]
    type_uri: String,
    /// A short summary of the problem type, the same for every occurrence.
    title: &'static str,
    /// The HTTP status of the answer.
    status: u16,
    /// What went wrong this time, for a person to read.
    detail: String,
    kind: Kind,
}

impl Problem {
    /// The problem details of an error of `kind`.
    pub(crate) fn of(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            type_uri: kind.type_uri(),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            kind,
        }
    }
}

impl ApiError {
    /// An error of this kind (which sets its status) with a human-readable detail.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The kind of error.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// 422 with kind `validation`: the request was well-formed, its content was not.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(Kind::Validation, detail)
    }

    /// 401: a write route without the right bearer token.
    pub fn unauthorized() -> Self {
        Self::new(
            Kind::Unauthorized,
            "this route needs `Authorization: Bearer <token>`",
        )
    }

    /// 503: no database connection (or no place in the repository's queue) in time.
    pub fn unavailable() -> Self {
        Self::new(Kind::Unavailable, "the database is busy; try again shortly")
    }

    /// 500 with a detail that says nothing about the cause; log the cause first.
    pub fn internal() -> Self {
        Self::new(Kind::Internal, "internal server error")
    }

    /// Maps one of axum's rejections by its status: a body over the limit stays 413, a
    /// missing JSON content type 415; whatever else the client got wrong (syntax, types,
    /// unknown fields, query strings, path segments) is 422. A 500 rejection is a bug in
    /// the routes, not the client's doing, and is not echoed.
    fn rejected(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                Kind::PayloadTooLarge,
                format!(
                    "the request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                ),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                Kind::UnsupportedMediaType,
                "expected `Content-Type: application/json`",
            ),
            status if status.is_server_error() => {
                tracing::error!(%status, rejection = %text, "request rejected by a route bug");
                Self::internal()
            }
            _ => Self::new(Kind::InvalidRequest, text),
        }
    }
}

impl From<bookshelf::Error> for ApiError {
    fn from(error: bookshelf::Error) -> Self {
        use bookshelf::Error as E;
        match &error {
            E::NotFound { .. } => Self::new(Kind::NotFound, error.to_string()),
            E::Validation { .. } => Self::validation(error.to_string()),
            E::Conflict { .. } => Self::new(Kind::Conflict, error.to_string()),
            // The If-Match of the request named a version the row is no longer at.
            E::Stale { .. } => Self::new(Kind::PreconditionFailed, error.to_string()),
            E::InvalidRow { .. } if error.is_conflict() => {
                Self::new(Kind::Conflict, error.to_string())
            }
            E::InvalidRow { .. } => Self::validation(error.to_string()),
            E::Pool(_) => {
                tracing::warn!(error = %chain(&error), "no database connection in time");
                Self::unavailable()
            }
            // The call did not run: the server is stopping.
            E::RuntimeShutdown => {
                tracing::warn!("repository call refused: the runtime is shutting down");
                Self::new(
                    Kind::Unavailable,
                    "the server is shutting down; try again shortly",
                )
            }
            // Database, connection and migration errors carry SQL text or file paths.
            _ => {
                tracing::error!(error = %chain(&error), "repository call failed");
                Self::internal()
            }
        }
    }
}

/// `error: source: source ...`, for the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = Problem::of(self.kind, self.detail);
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match self.kind {
            Kind::Unauthorized => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Kind::Unavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Kind::PayloadTooLarge => {
                // The rest of the body stays unread, so the server closes the connection
                // after this answer; saying so keeps a client from sending its next
                // request on a connection about to close.
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::rejected(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::rejected(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::rejected(rejection.status(), rejection.body_text())
    }
}

/// [`axum::Json`], rejecting with an [`ApiError`]; also a JSON response.
///
/// As an extractor it takes a JSON object only: serde reads a struct from a JSON array
/// too, its fields by position (`["Ann"]` as `{"name": "Ann"}`), which the API does not
/// offer: an array, like any other value that is not an object, is 422
/// `invalid_request`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(Object(value)) = axum::Json::from_request(request, state).await?;
        Ok(Self(value))
    }
}

/// A `T` read from a map only (a JSON object), never from a sequence.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// [`axum::extract::Query`], rejecting with an [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// [`axum::extract::Path`], rejecting with an [`ApiError`].
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}
