//! `Consistency-Token` over HTTP with a real replica: a client writes through one
//! instance of the server and reads through another; with the token it sees its write
//! even while the standby is paused, and without it the read is served (stale) by the
//! standby. Needs PostgreSQL's server programs (see `tests/replicas.rs`).

use std::time::Duration;

use bookshelf::Config;
use serde_json::json;

use crate::app::{AppConfig, TOKEN_HEADER};
use crate::pg_pair::{self, Pair, TEST_DB};
use crate::support::{Server, TestResult, CREATED, OK};

/// A primary and a standby, or `None` when the server programs are missing and not
/// required (`BOOKSHELF_TEST_CLUSTERS` or `CI`).
fn pair() -> TestResult<Option<Pair>> {
    if !pg_pair::programs_present("the web replica test")? {
        return Ok(None);
    }
    Ok(Some(Pair::start()?))
}

async fn instance(pair: &Pair) -> TestResult<Server> {
    let config = Config::new(pair.primary.url(TEST_DB))
        .read_replica(pair.standby.url(TEST_DB))
        .replica_max_lag(Duration::from_secs(3600))
        .connection_timeout(Duration::from_secs(5));
    let repo = tokio::task::spawn_blocking(move || config.open()).await??;
    Server::serving(repo, AppConfig::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_carrying_the_token_sees_its_write_on_another_instance() -> TestResult {
    let Some(pair) = tokio::task::spawn_blocking(pair)
        .await?
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let writer = instance(&pair).await?;
    let reader = instance(&pair).await?;
    let (standby, wait) = (&pair.standby, pair.wait_replayed());
    wait.map_err(|e| e.to_string())?;
    standby.pause_replay().map_err(|e| e.to_string())?;

    let created = writer
        .json("POST", "/authors", json!({"name": "Written here"}))
        .await?;
    let token = created
        .headers
        .get(TOKEN_HEADER)
        .ok_or("no Consistency-Token on a write")?
        .to_str()?
        .to_owned();
    let id = created.ok(CREATED)?["id"].as_i64().ok_or("no id")?;
    let path = format!("/authors/{id}");

    // Without the token, the other instance's read lands on the paused standby.
    let stale = reader.get(&path).await?;
    assert_eq!(
        stale.status, 404,
        "served by the standby, which has not replayed it"
    );
    // With it, the read waits for the standby, then goes to the primary.
    let fresh = Server::call(reader.request("GET", &path)?.header(TOKEN_HEADER, &token)).await?;
    assert_eq!(
        fresh
            .headers
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(token.as_str()),
        "a read hands the token back"
    );
    assert_eq!(fresh.ok(OK)?["name"], "Written here");

    standby.resume_replay().map_err(|e| e.to_string())?;
    // A token that is not one is refused, not ignored.
    let bad = Server::call(
        reader
            .request("GET", &path)?
            .header(TOKEN_HEADER, "yesterday"),
    )
    .await?;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["kind"], "invalid_token");
    writer.stop().await?;
    reader.stop().await
}
