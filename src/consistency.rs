//! What a read must see: [`Consistency`], and the [`Token`] that carries a write's
//! position from the request that wrote to the request that reads.
//!
//! They matter on PostgreSQL with read replicas ([`Config::read_replica`]): a replica
//! replays the primary's write-ahead log some milliseconds behind it, so a read there
//! may miss a write that has just committed. Every write a repository makes records the
//! primary's log position after it; a read that must see it goes to a replica only once
//! that replica has replayed that far (waiting at most [`Config::replica_wait`]), and to
//! the primary otherwise. Without replicas (and on SQLite) every read sees every
//! committed write, whatever the consistency asked.
//!
//! [`Config::read_replica`]: crate::Config::read_replica
//! [`Config::replica_wait`]: crate::Config::replica_wait

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A position in the primary's write-ahead log: a read asked to see it
/// ([`Consistency::AtLeast`]) sees every write committed before the token was taken.
///
/// [`Repository::write_token`](crate::Repository::write_token) gives the position after
/// the repository's latest write. It prints as PostgreSQL prints a log position
/// (`pg_lsn`, two hexadecimal halves: `0/16B3748`) and parses back, so an application
/// can hand it to a client (a response header, a cookie) and honour it on the client's
/// next request, wherever that lands.
///
/// ```
/// use bookshelf::Token;
///
/// let token: Token = "0/16B3748".parse()?;
/// assert_eq!(token.to_string(), "0/16B3748");
/// assert!("16B3748".parse::<Token>().is_err());
/// # Ok::<(), bookshelf::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Token(pub(crate) u64);

impl Token {
    /// The position as a byte offset in the log.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for Token {
    fn from(position: u64) -> Self {
        Token(position)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Token {
    type Err = Error;

    /// Parses `HIGH/LOW`, each 1 to 8 hexadecimal digits, as PostgreSQL writes a
    /// `pg_lsn`.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] on the field `token` for anything else.
    fn from_str(text: &str) -> Result<Self, Error> {
        let half = |part: &str| {
            let hex = !part.is_empty()
                && part.len() <= 8
                && part.bytes().all(|byte| byte.is_ascii_hexdigit());
            hex.then(|| u64::from_str_radix(part, 16).ok()).flatten()
        };
        let parsed = text
            .split_once('/')
            .and_then(|(high, low)| Some((half(high)?, half(low)?)));
        match parsed {
            Some((high, low)) => Ok(Token(high << 32 | low)),
            None => Err(Error::Validation {
                field: "token",
                message: format!(
                    "{:?} is not a log position (two hexadecimal halves, such as 0/16B3748)",
                    text.chars().take(40).collect::<String>()
                ),
            }),
        }
    }
}

/// Which server a read may be served by, given the replicas of the repository. See
/// [`Repository::reading`](crate::Repository::reading).
///
/// ```
/// # fn main() -> bookshelf::Result<()> {
/// use bookshelf::{Consistency, NewAuthor, Repository};
///
/// let repo = Repository::in_memory()?;
/// let author = repo.create_author(&NewAuthor::new("Ada Palmer"))?;
/// // A token from another request: at least its writes, and this repository's own.
/// let token = repo.write_token().unwrap_or_default();
/// let fresh = repo.reading(Consistency::AtLeast(token)).author(author.id)?;
/// assert!(fresh.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Consistency {
    /// The default: a read sees every write this repository (any clone of it) made
    /// before the read began. It goes to a replica that has replayed past the latest
    /// such write, or to the primary.
    #[default]
    Session,
    /// As [`Session`](Consistency::Session), and also every write before the token.
    AtLeast(Token),
    /// Any replica within the lag budget ([`Config::replica_max_lag`]): the read may
    /// miss writes of the last moments, even this repository's own.
    ///
    /// [`Config::replica_max_lag`]: crate::Config::replica_max_lag
    Any,
    /// The primary, always.
    Primary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_print_as_postgresql_prints_a_log_position_and_parse_back() {
        for (position, text) in [
            (0, "0/0"),
            (0x16B_3748, "0/16B3748"),
            (0x1_0000_0000, "1/0"),
            (u64::MAX, "FFFFFFFF/FFFFFFFF"),
        ] {
            assert_eq!(Token(position).to_string(), text);
            assert_eq!(text.parse::<Token>().ok(), Some(Token(position)));
        }
        assert_eq!("a/b".parse::<Token>().ok(), Some(Token(0xA_0000_000B)));
    }

    #[test]
    fn anything_else_is_a_validation_error() {
        for text in [
            "",
            "/",
            "0/",
            "/0",
            "0",
            "0/0/0",
            "g/0",
            "0/x",
            "+1/0",
            "0/-1",
            " 0/0",
            "100000000/0",
            "0/123456789",
            "0/0 ",
        ] {
            let parsed = text.parse::<Token>();
            assert!(
                matches!(parsed, Err(Error::Validation { field: "token", .. })),
                "{text:?}: {parsed:?}"
            );
        }
    }
}
