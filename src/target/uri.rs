//! SQLite's `file:` URIs, read and written the way SQLite reads them: `%HH` escapes in
//! the name and in every query key and value, `?` before the query, `&` between
//! parameters and `=` inside one (see `sqlite3ParseUri` in sqlite3.c).

use crate::error::{Error, Result};

/// A `file:` URI (the text after `file:`), taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Uri {
    /// The file name, escapes decoded: SQLite opens exactly these bytes.
    pub(super) name: Vec<u8>,
    /// The query parameters, decoded, in the order given.
    pub(super) params: Vec<(String, String)>,
}

impl Uri {
    /// Reads the text after `file:`. `url` is the whole URL, for messages.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedUrl`] for forms SQLite would read differently from what
    /// they seem to say: a fragment (SQLite drops it, and the name with it at a `#`), a
    /// host other than `localhost`, `%00` (SQLite cuts the text there), a parameter
    /// that is not UTF-8 once decoded, or one given twice.
    pub(super) fn parse(rest: &str, url: &str) -> Result<Self> {
        if rest.contains('#') {
            return Err(refused(
                url,
                "has a fragment (#...), which SQLite ignores; write # in a file name as %23",
            ));
        }
        let (mut path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        if let Some(after) = path.strip_prefix("//") {
            let end = after.find('/').unwrap_or(after.len());
            let host = &after[..end];
            if !host.is_empty() && host != "localhost" {
                return Err(refused(
                    url,
                    &format!(
                        "names the host {host:?}; SQLite opens local files only \
                         (file:///absolute/path or file:relative/path)"
                    ),
                ));
            }
            path = &after[end..];
        }
        let name = decode(path, url)?;
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in query.into_iter().flat_map(|query| query.split('&')) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = text(decode(key, url)?, url)?;
            // SQLite skips a parameter without a name.
            if key.is_empty() {
                continue;
            }
            if params.iter().any(|(seen, _)| *seen == key) {
                return Err(refused(
                    url,
                    &format!("gives the parameter {key} twice; give it once"),
                ));
            }
            params.push((key, text(decode(value, url)?, url)?));
        }
        Ok(Self { name, params })
    }

    /// The value of the parameter `key`, if given.
    pub(super) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// `name` and `params` as a `file:` URI that SQLite reads back as exactly them.
pub(super) fn write(name: &[u8], params: &[(String, String)]) -> String {
    let mut uri = String::from("file:");
    // An empty authority, so that a name starting with `//` is not read as a host.
    if name.starts_with(b"/") {
        uri.push_str("//");
    }
    encode(&mut uri, name);
    for (index, (key, value)) in params.iter().enumerate() {
        uri.push(if index == 0 { '?' } else { '&' });
        encode(&mut uri, key.as_bytes());
        uri.push('=');
        encode(&mut uri, value.as_bytes());
    }
    uri
}

/// Appends `bytes` to `uri`, escaping every byte but the few that mean nothing to
/// SQLite's URI reader in a name, a key or a value.
fn encode(uri: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~/:".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// Decodes `%HH` escapes as SQLite does: a `%` not followed by two hex digits stays as
/// it is.
fn decode(text: &str, url: &str) -> Result<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = match (bytes.get(index + 1), bytes.get(index + 2)) {
            (Some(&high), Some(&low)) if byte == b'%' => hex(high).zip(hex(low)),
            _ => None,
        };
        match escaped {
            Some((0, 0)) => {
                return Err(refused(
                    url,
                    "holds %00, where SQLite would silently cut the text",
                ))
            }
            Some((high, low)) => {
                decoded.push(high << 4 | low);
                index += 3;
            }
            None => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    Ok(decoded)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// A decoded key or value as text.
fn text(bytes: Vec<u8>, url: &str) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|_| refused(url, "has a query parameter that is not UTF-8 once decoded"))
}

/// The error for a URL the crate will not open, with why.
pub(super) fn refused(url: &str, why: &str) -> Error {
    Error::UnsupportedUrl(format!("{url:?} {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rest: &str) -> Result<Uri> {
        Uri::parse(rest, rest)
    }

    #[test]
    fn names_and_parameters_are_decoded_as_sqlite_decodes_them() -> Result<()> {
        let uri = parse("data/a%20b%3f.db?mode=ro&cache=shared&odd%3d=1%26&flag&&")?;
        assert_eq!(uri.name, b"data/a b?.db");
        assert_eq!(
            uri.params,
            [
                ("mode".to_owned(), "ro".to_owned()),
                ("cache".to_owned(), "shared".to_owned()),
                ("odd=".to_owned(), "1&".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(parse("100%zz%4")?.name, b"100%zz%4", "a bare % stays");
        assert_eq!(parse("%ff")?.name, [0xff]);
        Ok(())
    }

    #[test]
    fn an_authority_is_localhost_or_empty() -> Result<()> {
        assert_eq!(parse("///tmp/x.db")?.name, b"/tmp/x.db");
        assert_eq!(parse("//localhost/tmp/x.db")?.name, b"/tmp/x.db");
        assert_eq!(parse("//")?.name, b"");
        assert_eq!(parse("////srv/x.db")?.name, b"//srv/x.db");
        assert!(
            matches!(parse("//server/x.db"), Err(Error::UnsupportedUrl(m)) if m.contains("host"))
        );
        Ok(())
    }

    #[test]
    fn forms_sqlite_would_read_otherwise_are_refused() -> std::result::Result<(), String> {
        for (rest, why) in [
            ("x.db#part", "fragment"),
            ("x%00y.db", "%00"),
            ("x.db?mode=ro&mode=rwc", "twice"),
            ("x.db?vfs=%ff", "UTF-8"),
        ] {
            match parse(rest) {
                Err(Error::UnsupportedUrl(message)) if message.contains(why) => {}
                other => return Err(format!("{rest}: {other:?}")),
            }
        }
        Ok(())
    }

    #[test]
    fn written_uris_read_back_as_the_same_name_and_parameters() -> Result<()> {
        let params = vec![
            ("mode".to_owned(), "ro".to_owned()),
            ("k&=".to_owned(), "v?#%".to_owned()),
        ];
        for name in [
            &b"x.db"[..],
            b"/tmp/a b?c#d%e.db",
            b"//srv/x.db",
            b"caf\xc3\xa9 \xff.db",
            b":memory:x",
        ] {
            let uri = write(name, &params);
            assert!(uri.is_ascii(), "{uri}");
            let rest = uri.strip_prefix("file:").unwrap_or_default();
            let read = parse(rest)?;
            assert_eq!(read.name, name, "{uri}");
            assert_eq!(read.params, params, "{uri}");
        }
        assert_eq!(write(b"/tmp/x.db", &[]), "file:///tmp/x.db");
        assert_eq!(write(b"data/x.db", &[]), "file:data/x.db");
        Ok(())
    }
}
