//! Conditional requests (RFC 9110, section 13) on a row's version: `ETag` on every
//! single-row answer, `If-None-Match` on `GET` (a match is `304 Not Modified`), and
//! `If-Match` on `PATCH` and `DELETE` (the write happens only at that version, else
//! `412 Precondition Failed`).
//!
//! The entity tag of a row is its version as a strong tag: `"3"`. `If-Match: *`, or
//! no `If-Match` at all, writes whatever the version (so a client that knows nothing
//! of versions still can); a weak tag (`W/"3"`) never matches, as strong comparison
//! requires; a list of tags, or a header that is not a tag, matches no version either:
//! `412`, once the request has passed its other checks (a bad body is still 415 or 422,
//! a missing row 404).

use axum::extract::FromRequestParts;
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bookshelf::Version;
use serde::Serialize;

use crate::error::{ApiError, Json, Kind};

/// The `ETag` of a row at `version`.
pub(crate) fn etag(version: Version) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

/// A JSON answer for one row, with its `ETag`.
pub(crate) fn tagged<T: Serialize>(status: StatusCode, version: Version, row: T) -> Response {
    (status, [(ETAG, etag(version))], Json(row)).into_response()
}

/// What a `PATCH` or `DELETE` asks of the row's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// No `If-Match`, or `If-Match: *`: write at any version.
    Any,
    /// `If-Match: "N"`: write only at version N.
    Version(Version),
    /// An `If-Match` that names no version (a weak tag, a list, not a tag): it matches
    /// no row, so the write is refused with 412, but only once the request has passed
    /// every other check: a bad body is still 415 or 422, a missing row 404 (RFC 9110,
    /// section 13.2.1: preconditions are evaluated last).
    Never,
}

/// A version no row is ever at: versions start at [`Version::FIRST`] and only grow.
/// A conditional write at it runs every check of the write and then finds the row at
/// another version.
const NO_VERSION: Version = Version(0);

/// The detail of the 412 for an `If-Match` that names no version.
const NAMES_NO_VERSION: &str =
    "If-Match matches no version: give one strong entity tag, such as \"3\", or *";

impl IfMatch {
    /// The version a conditional write must find the row at; `None` for any version.
    pub(crate) fn expected(self) -> Option<Version> {
        match self {
            IfMatch::Any => None,
            IfMatch::Version(version) => Some(version),
            IfMatch::Never => Some(NO_VERSION),
        }
    }

    /// The answer for `error` of a write conditioned on [`expected`](Self::expected):
    /// the 412 of an `If-Match` that names no version says so, not which version the
    /// row is at instead of the one no row is ever at.
    pub(crate) fn refused(self, error: bookshelf::Error) -> ApiError {
        match (self, &error) {
            (IfMatch::Never, bookshelf::Error::Stale { .. }) => {
                ApiError::new(Kind::PreconditionFailed, NAMES_NO_VERSION)
            }
            _ => ApiError::from(error),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Self, std::convert::Infallible> {
        let Some(value) = parts.headers.get(IF_MATCH) else {
            return Ok(IfMatch::Any);
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch::Any);
        }
        Ok(strong_version(text).map_or(IfMatch::Never, IfMatch::Version))
    }
}

/// The version a strong entity tag `"N"` names.
fn strong_version(tag: &str) -> Option<Version> {
    let digits = tag.strip_prefix('"')?.strip_suffix('"')?;
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// True when `If-None-Match` in `headers` matches a row at `version` (`*`, or a list
/// holding its tag, weak or strong: `If-None-Match` compares weakly).
pub(crate) fn none_match(headers: &HeaderMap, version: Version) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || strong_version(tag.trim_start_matches("W/")) == Some(version))
}

/// `304 Not Modified` for a row at `version`.
pub(crate) fn not_modified(version: Version) -> Response {
    (StatusCode::NOT_MODIFIED, [(ETAG, etag(version))]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_strong_tag_of_digits_names_a_version() {
        assert_eq!(strong_version("\"3\""), Some(Version(3)));
        for tag in [
            "3",
            "W/\"3\"",
            "\"\"",
            "\"3a\"",
            "\"-3\"",
            "\"1\", \"2\"",
            "\"99999999999999999999\"",
        ] {
            assert_eq!(strong_version(tag), None, "{tag}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"1\", W/\"3\""));
        assert!(none_match(&headers, Version(3)));
        assert!(none_match(&headers, Version(1)));
        assert!(!none_match(&headers, Version(2)));
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&headers, Version(7)));
        assert!(!none_match(&HeaderMap::new(), Version(7)));
    }
}
