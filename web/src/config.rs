//! How the server is set up: [`Settings`] from the command line and environment, and
//! [`AppConfig`] for the router.

use std::net::SocketAddr;

/// How the server is started: from the command line, then the environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where to listen: argument 1, else `BIND_ADDR`, else `127.0.0.1:3000`.
    pub bind_addr: SocketAddr,
    /// The database: argument 2, else `DATABASE_URL`, else `bookshelf.db`.
    pub database_url: String,
    /// `API_TOKEN` (never an argument: arguments are visible to every local user).
    pub api_token: Option<String>,
    /// PostgreSQL read replicas: `READ_REPLICA_URLS`, URLs separated by spaces.
    pub read_replicas: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind_addr", &self.bind_addr)
            .field("database_url", &self.database_url)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field("read_replicas", &self.read_replicas.len())
            .finish()
    }
}

impl Settings {
    /// Reads the settings from `args` (without the program name) and `env`.
    ///
    /// # Errors
    ///
    /// A message for an unparsable address, a set but empty `API_TOKEN` (refused rather
    /// than read as "no token", which would leave the writes open), or extra arguments.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut args = args.into_iter();
        let bind = args
            .next()
            .or_else(|| env("BIND_ADDR"))
            .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let database_url = args
            .next()
            .or_else(|| env("DATABASE_URL"))
            .unwrap_or_else(|| "bookshelf.db".to_owned());
        if let Some(extra) = args.next() {
            return Err(format!(
                "unexpected argument `{extra}`; usage: web_api [BIND_ADDR [DATABASE_URL]]"
            ));
        }
        let bind_addr = bind
            .parse()
            .map_err(|error| format!("invalid bind address `{bind}`: {error}"))?;
        let api_token = env("API_TOKEN");
        if api_token.as_deref().is_some_and(str::is_empty) {
            return Err("API_TOKEN is set but empty; unset it or give it a value".to_owned());
        }
        let read_replicas = env("READ_REPLICA_URLS")
            .map(|urls| urls.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Self {
            bind_addr,
            database_url,
            api_token,
            read_replicas,
        })
    }
}

/// What the router needs besides the repository. Built by value, like
/// [`bookshelf::Config`], whose `max_size` and `connection_timeout` bound the database
/// calls of the requests.
#[derive(Clone)]
pub struct AppConfig {
    pub(super) api_token: Option<String>,
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl AppConfig {
    /// No token.
    pub fn new() -> Self {
        Self { api_token: None }
    }

    /// Write routes (POST, PATCH, DELETE) require `Authorization: Bearer <token>`.
    /// Defaults to none: writes are open.
    pub fn api_token(mut self, token: Option<String>) -> Self {
        self.api_token = token;
        self
    }
}
