//! The fixture: the app served over a database of its own on either backend (a
//! [`TestDb`] from `tests/common`), a client, helpers to read replies, and
//! [`web_tests!`], which defines an async test once and runs it on every backend.

use std::sync::mpsc;
use std::time::Duration;

use bookshelf::{AsyncRepository, AuthorId, Config, Repository};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{self, AppConfig, AppState};
use crate::common::{Backend, TestDb};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type TestResult<T = ()> = Result<T, BoxError>;

pub(crate) const OK: StatusCode = StatusCode::OK;
pub(crate) const CREATED: StatusCode = StatusCode::CREATED;
pub(crate) const GONE: StatusCode = StatusCode::NO_CONTENT;
pub(crate) const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// Defines each async test once and runs it on every backend, as `backend_tests!` does
/// for the synchronous tests: `mod name { async fn sqlite; async fn postgres }`, each a
/// `#[tokio::test]` on a multi-thread runtime with 2 workers (or as many as a leading
/// `worker_threads = N;` says, for every test of that invocation). The PostgreSQL half
/// needs the `postgres` feature and runs when `BOOKSHELF_TEST_POSTGRES_URL` is set;
/// without it, it says so on stderr and passes.
///
/// ```ignore
/// web_tests! {
///     /// What the test shows.
///     async fn creates_an_author(backend: Backend) -> TestResult {
///         let server = Server::start(backend).await?;
///         ...
///         server.stop().await
///     }
/// }
/// ```
macro_rules! web_tests {
    (worker_threads = $workers:literal; $($tests:tt)*) => {
        $crate::support::web_tests!(@workers $workers; $($tests)*);
    };
    (@workers $workers:literal; $(
        $(#[$meta:meta])*
        async fn $name:ident($backend:ident: Backend $(,)?) -> TestResult $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $crate::common::Backend) -> $crate::support::TestResult $body

            #[tokio::test(flavor = "multi_thread", worker_threads = $workers)]
            async fn sqlite() -> $crate::support::TestResult {
                run($crate::common::Backend::Sqlite).await
            }

            #[cfg(feature = "postgres")]
            #[tokio::test(flavor = "multi_thread", worker_threads = $workers)]
            async fn postgres() -> $crate::support::TestResult {
                if !$crate::support::postgres_configured(stringify!($name))? {
                    return Ok(());
                }
                run($crate::common::Backend::Postgres).await
            }
        }
    )*};
    ($(#[$meta:meta])* async fn $($tests:tt)*) => {
        $crate::support::web_tests!(@workers 2; $(#[$meta])* async fn $($tests)*);
    };
}
pub(crate) use web_tests;

/// True when the PostgreSQL server of the tests is configured; otherwise says on stderr
/// that the PostgreSQL run of `test` is skipped.
#[cfg(feature = "postgres")]
pub(crate) fn postgres_configured(test: &str) -> TestResult<bool> {
    use crate::common::{postgres, POSTGRES_URL_VAR};
    if postgres::server_url()
        .map_err(|error| error.to_string())?
        .is_some()
    {
        return Ok(true);
    }
    eprintln!("{POSTGRES_URL_VAR} not set: the PostgreSQL run of {test} is skipped");
    Ok(false)
}

/// The app serving a fresh database on one backend; stops when dropped.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) client: Client,
    pub(crate) repo: Repository,
    pub(crate) state: AppState,
    pub(crate) shutdown: Option<oneshot::Sender<()>>,
    pub(crate) task: Option<JoinHandle<std::io::Result<()>>>,
    /// The database file or schema, if the server made it; removed on drop, after the
    /// fields above (held for that alone).
    _db: Option<TestDb>,
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Server {
    /// The app with its default settings, over a fresh database on `backend` opened
    /// with the default [`Config`].
    pub(crate) async fn start(backend: Backend) -> TestResult<Self> {
        Self::start_with(backend, AppConfig::new()).await
    }

    /// The app with `app_config`, over a fresh database on `backend` opened with the
    /// default [`Config`].
    pub(crate) async fn start_with(backend: Backend, app_config: AppConfig) -> TestResult<Self> {
        Self::with(backend, |config| config, app_config).await
    }

    /// The app with `app_config`, over a fresh database on `backend` opened with the
    /// [`Config`] that `configure` makes of the default one.
    pub(crate) async fn with(
        backend: Backend,
        configure: impl FnOnce(Config) -> Config + Send + 'static,
        app_config: AppConfig,
    ) -> TestResult<Self> {
        // Opening connects and migrates: blocking work, kept off the async workers.
        let open = move || TestDb::open_with(backend, configure).map_err(|e| e.to_string());
        let db = tokio::task::spawn_blocking(open).await??;
        let repo = db.repo.clone();
        Self::serve(repo, app_config, Some(db)).await
    }

    /// The app with `app_config` over `repo`, a repository the test opened.
    #[allow(dead_code)]
    pub(crate) async fn serving(repo: Repository, app_config: AppConfig) -> TestResult<Self> {
        Self::serve(repo, app_config, None).await
    }

    async fn serve(
        repo: Repository,
        app_config: AppConfig,
        db: Option<TestDb>,
    ) -> TestResult<Self> {
        let state = AppState::new(repo.clone(), app_config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (shutdown, stop) = oneshot::channel::<()>();
        let serve = axum::serve(listener, app::app(state.clone()));
        let task = tokio::spawn(async move {
            serve
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await
        });
        let client = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        let (shutdown, task) = (Some(shutdown), Some(task));
        Ok(Self {
            base,
            client,
            repo,
            state,
            shutdown,
            task,
            _db: db,
        })
    }

    pub(crate) fn request(&self, method: &str, path: &str) -> TestResult<RequestBuilder> {
        let method = Method::from_bytes(method.as_bytes())?;
        Ok(self.client.request(method, format!("{}{path}", self.base)))
    }

    pub(crate) async fn call(request: RequestBuilder) -> TestResult<Reply> {
        let response = request.send().await?;
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub(crate) async fn get(&self, path: &str) -> TestResult<Reply> {
        Self::call(self.request("GET", path)?).await
    }

    pub(crate) async fn json(&self, method: &str, path: &str, body: Value) -> TestResult<Reply> {
        Self::call(self.request(method, path)?.json(&body)).await
    }

    /// Sends `body` as it is, labelled as JSON.
    pub(crate) async fn raw(&self, method: &str, path: &str, body: &str) -> TestResult<Reply> {
        let request = self
            .request(method, path)?
            .header("content-type", "application/json");
        Self::call(request.body(body.to_owned())).await
    }

    pub(crate) async fn create(&self, path: &str, body: Value) -> TestResult<i64> {
        let created = self.json("POST", path, body).await?.ok(CREATED)?;
        created["id"]
            .as_i64()
            .ok_or_else(|| format!("no id in {created}").into())
    }

    pub(crate) fn stop_listening(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    pub(crate) async fn stop(mut self) -> TestResult {
        self.stop_listening();
        let task = self.task.take().ok_or("already stopped")?;
        Ok(tokio::time::timeout(Duration::from_secs(30), task).await???)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_listening();
    }
}

impl Reply {
    /// The body, if the status is `status`.
    pub(crate) fn ok(self, status: StatusCode) -> TestResult<Value> {
        if self.status == status {
            Ok(self.body)
        } else {
            Err(format!("expected {status}, got {} {}", self.status, self.body).into())
        }
    }

    /// The problem's `detail`, if the status, the kind and the shape are right (RFC 9457
    /// problem details as `application/problem+json`: `type`, `title`, `status`,
    /// `detail` and `kind`, nothing else) and the body shows nothing of the server's
    /// insides.
    pub(crate) fn error(self, status: StatusCode, kind: &str) -> TestResult<String> {
        let body = &self.body;
        let content_type = self.header("content-type").unwrap_or_default();
        let members: Vec<&str> = body
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let shape_ok = members.len() == 5
            && body["type"] == format!("{}{kind}", app::PROBLEM_TYPE_BASE)
            && body["title"]
                .as_str()
                .is_some_and(|title| !title.is_empty())
            && body["status"] == status.as_u16()
            && body["detail"].is_string();
        if self.status != status || body["kind"] != kind || !shape_ok {
            return Err(format!("expected {status} {kind}, got {} {body}", self.status).into());
        }
        if content_type != app::PROBLEM_JSON {
            return Err(format!("{status} {kind} sent as {content_type:?}").into());
        }
        let text = body.to_string();
        let temp = std::env::temp_dir().to_string_lossy().into_owned();
        for leak in [
            &*temp,
            "SELECT",
            "INSERT",
            "sqlite",
            "postgres",
            "bookshelf_test",
            "search_path",
            "no such table",
            "does not exist",
            "violates",
            "no such column",
            "diesel",
            ".db",
        ] {
            if text.contains(leak) {
                return Err(format!("{body} shows `{leak}`").into());
            }
        }
        Ok(body["detail"].as_str().unwrap_or_default().to_owned())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A row as the API sends it, without what the database keeps for it (the version and
/// the times), which the tests check on their own.
pub(crate) fn content(mut row: Value) -> Value {
    if let Some(fields) = row.as_object_mut() {
        for kept in ["version", "created_at", "updated_at"] {
            fields.remove(kept);
        }
    }
    row
}

pub(crate) fn titles(books: &Value) -> Vec<&str> {
    let books = books.as_array().map(Vec::as_slice).unwrap_or_default();
    books
        .iter()
        .filter_map(|book| book["title"].as_str())
        .collect()
}

pub(crate) fn name_of(repo: &Repository, id: i64) -> TestResult<Option<String>> {
    Ok(repo.author(AuthorId(id))?.map(|author| author.name))
}

/// Holds the repository's only connection in a transaction on a thread of its own until
/// released (or for 30 seconds at most).
pub(crate) struct Holder {
    release: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bookshelf::Result<()>>,
}

impl Holder {
    pub(crate) async fn hold(repo: &Repository) -> TestResult<Self> {
        let (held, is_held) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let repo = repo.clone();
        let thread = std::thread::spawn(move || {
            repo.transaction(|_tx| {
                let _ = held.send(());
                let _ = released.recv_timeout(Duration::from_secs(30));
                Ok(())
            })
        });
        let wait = move || is_held.recv_timeout(Duration::from_secs(10));
        tokio::task::spawn_blocking(wait).await??;
        Ok(Self { release, thread })
    }

    pub(crate) async fn release(self) -> TestResult {
        let _ = self.release.send(());
        let thread = self.thread;
        let joined = tokio::task::spawn_blocking(move || thread.join()).await?;
        Ok(joined.map_err(|_| "the holder panicked")??)
    }
}

/// A slow call of the app's own [`AsyncRepository`]: it takes a place in the app's queue
/// and a connection, as a request's call does, and keeps both (outside any transaction)
/// on its blocking thread until released (or for 30 seconds at most).
pub(crate) struct SlowCall {
    release: mpsc::Sender<()>,
    call: JoinHandle<bookshelf::Result<()>>,
}

impl SlowCall {
    pub(crate) async fn start(repo: AsyncRepository) -> TestResult<Self> {
        let (held, is_held) = oneshot::channel();
        let (release, released) = mpsc::channel::<()>();
        let call = tokio::spawn(async move {
            repo.with_connection(move |_connection| {
                let _ = held.send(());
                let _ = released.recv_timeout(Duration::from_secs(30));
                Ok(())
            })
            .await
        });
        tokio::time::timeout(Duration::from_secs(10), is_held).await??;
        Ok(Self { release, call })
    }

    pub(crate) async fn release(self) -> TestResult {
        let _ = self.release.send(());
        Ok(self.call.await??)
    }
}
