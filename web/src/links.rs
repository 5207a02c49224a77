//! RFC 8288 `Link` headers: the next page of a list answer.
//!
//! The target is a relative reference, the last segment of the request's path and the
//! request's own query with the page moved on (`authors?after=100&limit=100`): resolved
//! against the request's URI, as RFC 8288 says, it names the next page wherever the API
//! is mounted, behind a proxy that serves it under `/api/` as well as at the root.

use axum::http::header::LINK;
use axum::http::HeaderValue;
use axum::response::Response;
use serde::Serialize;

/// `<{segment}?{query}>; rel="next"`, the query percent-encoded (a space as `%20`).
pub(crate) fn next(segment: &str, query: &impl Serialize) -> Option<HeaderValue> {
    let query = match serde_urlencoded::to_string(query) {
        Ok(query) => query,
        Err(error) => {
            tracing::error!(%error, "the next page's query does not serialize");
            return None;
        }
    };
    // The form encoding writes a space as `+` and a `+` as `%2B`: every `+` left is a
    // space, written `%20` as in any URI.
    let query = query.replace('+', "%20");
    HeaderValue::from_str(&format!("<{segment}?{query}>; rel=\"next\"")).ok()
}

/// `response` with the `Link` to the next page, if there is one.
pub(crate) fn with_next(mut response: Response, next: Option<HeaderValue>) -> Response {
    if let Some(link) = next {
        response.headers_mut().insert(LINK, link);
    }
    response
}
