//! [`ApiError`], the one error response of the API, and the extractors whose rejections
//! become one.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{HeaderValue, CONNECTION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An error answer: `{ "error": { "kind": ..., "message": ... } }` with its status.
///
/// Built from a [`bookshelf::Error`] or from a rejected request; the message is meant for
/// the client, so anything that could carry SQL text or file paths (a database error, a
/// failed connection) is logged in full and answered with a generic 500.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, machine-readable `kind` and human-readable message.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 422 with kind `validation`: the request was well-formed, its content was not.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
    }

    /// 401: a write route without the right bearer token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs `Authorization: Bearer <token>`",
        )
    }

    /// 503: no database connection (or no place in the repository's queue) in time.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is busy; try again shortly",
        )
    }

    /// 500 with a message that says nothing about the cause; log the cause first.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// Maps one of axum's rejections by its status: a body over the limit stays 413, a
    /// missing JSON content type 415; whatever else the client got wrong (syntax, types,
    /// unknown fields, query strings, path segments) is 422. A 500 rejection is a bug in
    /// the routes, not the client's doing, and is not echoed.
    fn rejected(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                "payload_too_large",
                format!(
                    "the request body is larger than {} bytes",
                    super::MAX_BODY_BYTES
                ),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                status,
                "unsupported_media_type",
                "expected `Content-Type: application/json`",
            ),
            status if status.is_server_error() => {
                tracing::error!(%status, rejection = %text, "request rejected by a route bug");
                Self::internal()
            }
            _ => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", text),
        }
    }
}

impl From<bookshelf::Error> for ApiError {
    fn from(error: bookshelf::Error) -> Self {
        use bookshelf::Error as E;
        match &error {
            E::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            E::Validation { .. } => Self::validation(error.to_string()),
            E::Conflict { .. } => Self::new(StatusCode::CONFLICT, "conflict", error.to_string()),
            // The If-Match of the request named a version the row is no longer at.
            E::Stale { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                error.to_string(),
            ),
            E::InvalidRow { .. } if error.is_conflict() => {
                Self::new(StatusCode::CONFLICT, "conflict", error.to_string())
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
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
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
        let body = serde_json::json!({
            "error": { "kind": self.kind, "message": self.message }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
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
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::from_request(request, state).await?;
        Ok(Self(value))
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
