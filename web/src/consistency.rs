//! Read-your-writes across requests and servers: the `Consistency-Token` header.
//!
//! On PostgreSQL with read replicas, a read may be served by a replica a few
//! milliseconds behind the primary. Every response carries `Consistency-Token`: after a
//! write, the primary's log position past it ([`AsyncRepository::write_token`]); after a
//! read, the token the request came with. A client sends the last token it got back on
//! its next requests, and each read of such a request sees at least what that token
//! saw ([`Consistency::AtLeast`]), on whichever instance of this server it lands:
//! a client always sees its own writes. Without replicas (and on SQLite) every read sees
//! every committed write, no token is sent, and one sent is checked and has no effect.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bookshelf::{AsyncRepository, Consistency, Token};

use crate::error::{ApiError, Kind};
use crate::AppState;

/// The header, in requests and responses.
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("consistency-token");

tokio::task_local! {
    /// The token of the request being handled, for [`AppState::repo`].
    static READ_AT: Option<Token>;
}

/// Reads the request's token (400 for one that is not a token), runs the request with
/// it, and sets the response's.
pub(crate) async fn carry_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let token = match request.headers().get(TOKEN_HEADER) {
        None => None,
        Some(value) => match value.to_str().ok().map(str::parse::<Token>) {
            Some(Ok(token)) => Some(token),
            _ => {
                return ApiError::new(
                    Kind::InvalidToken,
                    "invalid Consistency-Token: send back the header's value as it came",
                )
                .into_response()
            }
        },
    };
    let reads_only = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let mut response = READ_AT.scope(token, next.run(request)).await;
    let after = if reads_only {
        token
    } else {
        // At least this request's write (the latest of this server's, in fact).
        state.repo().write_token().max(token)
    };
    if let Some(value) = after.and_then(|token| HeaderValue::from_str(&token.to_string()).ok()) {
        response.headers_mut().insert(TOKEN_HEADER, value);
    }
    response
}

/// `repo`, reading at least what the current request's token says.
pub(crate) fn for_this_request(repo: &AsyncRepository) -> AsyncRepository {
    match READ_AT.try_with(|token| *token).ok().flatten() {
        Some(token) => repo.reading(Consistency::AtLeast(token)),
        None => repo.clone(),
    }
}
