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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Query {
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        updated_since: Option<&'static str>,
        limit: u32,
        offset: u32,
    }

    #[test]
    fn the_query_is_percent_encoded_and_nothing_else_is_added() {
        let query = Query {
            title: Some("a b+c&d=é/?#<>\""),
            updated_since: Some("2026-12-02T10:00:00+01:00"),
            limit: 2,
            offset: 4,
        };
        let link = next("books", &query).and_then(|value| value.to_str().ok().map(str::to_owned));
        let expected = "<books?title=a%20b%2Bc%26d%3D%C3%A9%2F%3F%23%3C%3E%22\
                        &updated_since=2026-12-02T10%3A00%3A00%2B01%3A00&limit=2&offset=4>; rel=\"next\"";
        assert_eq!(link.as_deref(), Some(expected));
        let bare = Query {
            title: None,
            updated_since: None,
            limit: 100,
            offset: 100,
        };
        let link = next("books", &bare).and_then(|value| value.to_str().ok().map(str::to_owned));
        let expected = "<books?limit=100&offset=100>; rel=\"next\"".to_owned();
        assert_eq!(link, Some(expected));
    }
}
