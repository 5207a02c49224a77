//! The web example over real HTTP: each test serves the example's router on
//! `127.0.0.1:0` over its own temporary database file, drives it with reqwest, and checks
//! the database afterwards through the [`Repository`](bookshelf::Repository).

#[path = "../../examples/web_api/app.rs"]
mod app;

mod concurrency;
mod errors;
mod routes;
mod support;
