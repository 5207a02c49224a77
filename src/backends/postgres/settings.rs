//! How the crate's durations become PostgreSQL settings: whole milliseconds for the
//! server's timeouts, whole seconds for libpq's connect timeout. Both round up, so that
//! no limit is ever shorter than the one asked for.

use std::borrow::Cow;
use std::time::Duration;

/// The largest timeout PostgreSQL takes, in milliseconds: its settings are `int`s.
const MAX_SERVER_MILLIS: u64 = i32::MAX as u64;

/// libpq reads a `connect_timeout` of 1 as 2, and 0 as no limit; 2 says what it does.
const MIN_CONNECT_SECS: u64 = 2;

/// libpq parses `connect_timeout` as an `int`.
const MAX_CONNECT_SECS: u64 = i32::MAX as u64;

/// The URL query parameter of libpq's connect timeout.
const CONNECT_TIMEOUT: &str = "connect_timeout";

/// `timeout` as the value of a server timeout (`lock_timeout`, `statement_timeout`):
/// whole milliseconds, a fraction of one counting as one. Never 0, which the server
/// reads as "no limit": the shortest limit is 1 ms. Capped at the server's largest
/// value (about 24.8 days).
pub(crate) fn server_millis(timeout: Duration) -> u64 {
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    u64::try_from(millis)
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_SERVER_MILLIS)
}

/// `url` with libpq's `connect_timeout` set from `timeout`, in whole seconds rounded up
/// and at least 2 (libpq's own floor), unless the URL sets its own. Without it libpq
/// waits without end for a server that accepts the connection and never answers.
pub(crate) fn with_connect_timeout(url: &str, timeout: Duration) -> Cow<'_, str> {
    let query = url.split_once('?').map(|(_, query)| query);
    let sets_its_own = query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(CONNECT_TIMEOUT))
    });
    if sets_its_own {
        return Cow::Borrowed(url);
    }
    let separator = match query {
        None => "?",
        Some(query) if query.is_empty() || query.ends_with('&') => "",
        Some(_) => "&",
    };
    let secs = connect_secs(timeout);
    Cow::Owned(format!("{url}{separator}{CONNECT_TIMEOUT}={secs}"))
}

/// `timeout` in whole seconds for libpq: rounded up, at least 2, at most `i32::MAX`.
fn connect_secs(timeout: Duration) -> u64 {
    let secs = timeout
        .as_secs()
        .saturating_add(u64::from(timeout.subsec_nanos() > 0));
    secs.clamp(MIN_CONNECT_SECS, MAX_CONNECT_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timeouts_round_up_to_whole_milliseconds_and_never_mean_no_limit() {
        let cases = [
            (Duration::ZERO, 1),
            (Duration::from_nanos(1), 1),
            (Duration::from_micros(500), 1),
            (Duration::from_millis(1), 1),
            (Duration::from_micros(1_001), 2),
            (Duration::from_millis(200), 200),
            (Duration::from_secs(5), 5_000),
            (Duration::from_millis(MAX_SERVER_MILLIS), MAX_SERVER_MILLIS),
            (
                Duration::from_millis(MAX_SERVER_MILLIS + 1),
                MAX_SERVER_MILLIS,
            ),
            (Duration::MAX, MAX_SERVER_MILLIS),
        ];
        for (timeout, millis) in cases {
            assert_eq!(server_millis(timeout), millis, "{timeout:?}");
        }
    }

    #[test]
    fn the_connect_timeout_rounds_up_to_whole_seconds_and_at_least_two() {
        let cases = [
            (Duration::ZERO, 2),
            (Duration::from_millis(1), 2),
            (Duration::from_secs(2), 2),
            (Duration::from_millis(2_001), 3),
            (Duration::from_secs(30), 30),
            (Duration::MAX, MAX_CONNECT_SECS),
        ];
        for (timeout, secs) in cases {
            assert_eq!(connect_secs(timeout), secs, "{timeout:?}");
        }
    }

    #[test]
    fn the_connect_timeout_is_appended_to_urls_with_and_without_a_query() {
        let five = Duration::from_secs(5);
        let cases = [
            ("postgres://h/db", "postgres://h/db?connect_timeout=5"),
            ("postgres://h/db?", "postgres://h/db?connect_timeout=5"),
            (
                "postgres://h/db?sslmode=disable",
                "postgres://h/db?sslmode=disable&connect_timeout=5",
            ),
            (
                "postgres://h/db?sslmode=disable&",
                "postgres://h/db?sslmode=disable&connect_timeout=5",
            ),
            (
                "postgres://h/db?xconnect_timeout=1",
                "postgres://h/db?xconnect_timeout=1&connect_timeout=5",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(with_connect_timeout(url, five), expected, "{url}");
        }
    }

    #[test]
    fn a_url_that_sets_its_own_connect_timeout_keeps_it() {
        for url in [
            "postgres://h/db?connect_timeout=10",
            "postgres://h/db?sslmode=disable&connect_timeout=10",
            "postgres://h/db?connect_timeout=10&sslmode=disable",
        ] {
            assert_eq!(with_connect_timeout(url, Duration::from_secs(5)), url);
        }
    }
}
