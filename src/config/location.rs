//! Where a [`Config`](super::Config) opens its database, and how it is shown.

/// Where a [`Config`] opens its database.
#[derive(Clone)]
pub(crate) enum Location {
    Url(String),
    Path(std::path::PathBuf),
}

/// A URL's password is not printed: a `Config` in a log line must not leak it.
impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Url(url) => f.debug_tuple("Url").field(&redacted(url)).finish(),
            Location::Path(path) => f.debug_tuple("Path").field(path).finish(),
        }
    }
}

/// A server's URL (a read replica's), shown without its password.
#[derive(Clone)]
pub(crate) struct ServerUrl(pub(crate) String);

impl std::fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

/// `url` with the password of its user information (`scheme://user:PASSWORD@host`) and
/// the value of a `password` parameter replaced by `***`.
pub(crate) fn redacted(url: &str) -> String {
    let mut text = url.to_owned();
    if let Some(start) = text.find("://").map(|at| at + 3) {
        let authority_end = text[start..]
            .find(['/', '?', '#'])
            .map_or(text.len(), |at| start + at);
        if let Some(at) = text[start..authority_end].rfind('@').map(|at| start + at) {
            if let Some(colon) = text[start..at].find(':').map(|colon| start + colon) {
                text.replace_range(colon + 1..at, "***");
            }
        }
    }
    if let Some(query) = text.find('?') {
        let mut out = text[..=query].to_owned();
        let params: Vec<String> = text[query + 1..]
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
        text = out;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_debug_config_hides_passwords() {
        for (url, shown) in [
            (
                "postgres://ann:s3cret@db.example/app",
                "postgres://ann:***@db.example/app",
            ),
            (
                "postgres://ann:p@ss@db/app?sslmode=require",
                "postgres://ann:***@db/app?sslmode=require",
            ),
            (
                "postgres://db/app?user=ann&password=s3cret",
                "postgres://db/app?user=ann&password=***",
            ),
            ("postgres://ann@db/app", "postgres://ann@db/app"),
            ("library.db", "library.db"),
            ("file:data.db?mode=ro", "file:data.db?mode=ro"),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
        let config = format!(
            "{:?}",
            crate::config::Config::new("postgres://ann:s3cret@db/app")
        );
        assert!(!config.contains("s3cret"), "{config}");
    }
}
