//! The fixture: the app served over a temporary database file, a client, and helpers to
//! read replies.

use std::sync::mpsc;
use std::time::Duration;

use bookshelf::{AuthorId, Config, Repository};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{self, AppConfig, AppState};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type TestResult<T = ()> = Result<T, BoxError>;

pub(crate) const OK: StatusCode = StatusCode::OK;
pub(crate) const CREATED: StatusCode = StatusCode::CREATED;
pub(crate) const GONE: StatusCode = StatusCode::NO_CONTENT;
pub(crate) const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// The app serving a fresh database file; stops when dropped.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) client: Client,
    pub(crate) repo: Repository,
    pub(crate) state: AppState,
    pub(crate) shutdown: Option<oneshot::Sender<()>>,
    pub(crate) task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Server {
    pub(crate) async fn start() -> TestResult<Self> {
        Self::with(Config::new, AppConfig::new()).await
    }

    pub(crate) async fn with(
        config: fn(String) -> Config,
        app_config: AppConfig,
    ) -> TestResult<Self> {
        let dir = tempfile::tempdir()?;
        let url = dir
            .path()
            .join("web.db")
            .to_str()
            .ok_or("non-UTF-8 path")?
            .to_owned();
        let repo = tokio::task::spawn_blocking(move || config(url).open()).await??;
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
            _dir: dir,
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

    /// The error message, if the status, the kind and the shape are right and the body
    /// shows nothing of the server's insides.
    pub(crate) fn error(self, status: StatusCode, kind: &str) -> TestResult<String> {
        let body = &self.body;
        let shape_ok = body.as_object().is_some_and(|o| o.len() == 1)
            && body["error"].as_object().is_some_and(|o| o.len() == 2)
            && body["error"]["message"].is_string();
        if self.status != status || body["error"]["kind"] != kind || !shape_ok {
            return Err(format!("expected {status} {kind}, got {} {body}", self.status).into());
        }
        let text = body.to_string();
        let temp = std::env::temp_dir().to_string_lossy().into_owned();
        for leak in [
            &*temp,
            "SELECT",
            "INSERT",
            "sqlite",
            "no such table",
            "no such column",
            "diesel",
            ".db",
        ] {
            if text.contains(leak) {
                return Err(format!("{body} shows `{leak}`").into());
            }
        }
        Ok(body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
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
