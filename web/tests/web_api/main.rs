//! The web example over real HTTP: each test serves the example's router on
//! `127.0.0.1:0` over a database of its own, drives it with reqwest, and checks the
//! database afterwards through the [`Repository`](bookshelf::Repository). Tests defined
//! with [`web_tests!`](support::web_tests) run on SQLite, and on PostgreSQL too with the
//! `postgres` feature and `BOOKSHELF_TEST_POSTGRES_URL` set (see `tests/common`).

use bookshelf_web as app;
#[path = "../../../tests/common/mod.rs"]
mod common;

mod concurrency;
mod errors;
mod openapi;
#[cfg(feature = "postgres")]
#[path = "../../../tests/common/pg_pair.rs"]
mod pg_pair;
#[cfg(feature = "postgres")]
mod replicas;
mod routes;
mod support;
