//! A PostgreSQL URL as the crate reads it: libpq's URL, less the one query parameter
//! that is the crate's own, `pooler`.

use crate::error::{Error, Result};

/// The crate's query parameter: `pooler=transaction` says the URL reaches PostgreSQL
/// through a pooler in transaction mode (PgBouncer's `pool_mode = transaction`), as
/// [`Config::transaction_pooler`](crate::Config::transaction_pooler) does. libpq
/// refuses parameters it does not know, so the crate removes it before libpq sees the
/// URL.
const POOLER: &str = "pooler";

/// The one value `pooler` takes.
const TRANSACTION: &str = "transaction";

/// A `postgres://` or `postgresql://` URL, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerTarget {
    /// The URL without the crate's `pooler` parameter: what libpq gets.
    pub(crate) url: String,
    /// The URL said `pooler=transaction`.
    pub(crate) transaction_pooler: bool,
}

impl ServerTarget {
    /// Reads `url`, taking out its `pooler` parameter.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (setting `"pooler"`) when `pooler` has another value than
    /// `transaction`: a misspelt value must not quietly leave the mode off.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let Some((base, query)) = url.split_once('?') else {
            return Ok(Self::direct(url));
        };
        let mut transaction_pooler = false;
        let mut kept = Vec::new();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((POOLER, TRANSACTION)) => transaction_pooler = true,
                Some((POOLER, value)) => return Err(bad_value(value)),
                None if pair == POOLER => return Err(bad_value("")),
                _ => kept.push(pair),
            }
        }
        if !transaction_pooler {
            return Ok(Self::direct(url));
        }
        let url = match kept.iter().filter(|pair| !pair.is_empty()).count() {
            0 => base.to_owned(),
            _ => format!("{base}?{}", kept.join("&")),
        };
        Ok(Self {
            url,
            transaction_pooler,
        })
    }

    /// `url` as it is, for a direct connection.
    fn direct(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            transaction_pooler: false,
        }
    }
}

fn bad_value(value: &str) -> Error {
    Error::Config {
        setting: POOLER,
        message: format!("the URL says {POOLER}={value:?}; the one value is {TRANSACTION:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::ServerTarget;

    #[test]
    fn the_pooler_parameter_is_read_and_removed() -> crate::Result<()> {
        let cases = [
            ("postgres://h/db", "postgres://h/db", false),
            (
                "postgres://h/db?pooler=transaction",
                "postgres://h/db",
                true,
            ),
            (
                "postgres://h/db?sslmode=disable&pooler=transaction&application_name=x",
                "postgres://h/db?sslmode=disable&application_name=x",
                true,
            ),
            (
                "postgres://h/db?xpooler=1",
                "postgres://h/db?xpooler=1",
                false,
            ),
            ("postgres://h/db?", "postgres://h/db?", false),
        ];
        for (url, libpq, pooled) in cases {
            let target = ServerTarget::parse(url)?;
            assert_eq!(target.url, libpq, "{url}");
            assert_eq!(target.transaction_pooler, pooled, "{url}");
        }
        Ok(())
    }

    #[test]
    fn another_pooler_value_is_a_config_error() -> Result<(), String> {
        for url in [
            "postgres://h/db?pooler=session",
            "postgres://h/db?pooler=",
            "postgres://h/db?pooler",
            "postgres://h/db?pooler=Transaction",
        ] {
            match ServerTarget::parse(url) {
                Err(crate::Error::Config {
                    setting: "pooler", ..
                }) => {}
                other => return Err(format!("{url}: {other:?}")),
            }
        }
        Ok(())
    }
}
