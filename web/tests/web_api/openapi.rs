//! The OpenAPI document: the checked-in copy is the generated one, the server serves it,
//! it names only components that exist, and its operations are exactly the router's
//! routes (read from the router itself, and probed over HTTP).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::Value;

use crate::app::{self, Kind};
use crate::common::Backend;
use crate::support::{Server, TestResult, OK};

/// Where the checked-in copy lives, from this crate's directory.
const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");

/// Set to `1` to write the generated document to `docs/openapi.json` instead of
/// comparing (`BOOKSHELF_WRITE_OPENAPI=1 cargo test -p bookshelf-web openapi`).
const WRITE_VAR: &str = "BOOKSHELF_WRITE_OPENAPI";

/// Every method a route can have; HEAD is answered wherever GET is.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

fn document() -> TestResult<Value> {
    Ok(app::openapi()?)
}

#[test]
fn the_checked_in_document_is_the_generated_one() -> TestResult {
    let generated = app::openapi_json()?;
    if std::env::var(WRITE_VAR).is_ok_and(|value| value == "1") {
        std::fs::write(CHECKED_IN, &generated)?;
        eprintln!("wrote {CHECKED_IN}");
        return Ok(());
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json is not what the code generates: regenerate it with \
         `{WRITE_VAR}=1 cargo test -p bookshelf-web --test web_api openapi` (or \
         `cargo run -p bookshelf-web --bin web_api -- --print-openapi > docs/openapi.json`)"
    );
    let doc: Value = serde_json::from_str(&checked_in)?;
    assert_eq!(doc["openapi"], "3.1.0");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_document() -> TestResult {
    let server = Server::start(Backend::Sqlite).await?;
    let reply = server.get("/openapi.json").await?;
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let served = reply.ok(OK)?;
    assert_eq!(
        served,
        serde_json::from_str::<Value>(&app::openapi_json()?)?
    );
    server.stop().await
}

/// Every `"$ref"` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("$ref", Value::String(reference)) => found.push(reference),
                    _ => refs(field, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_every_error_kind_is_described() -> TestResult {
    let doc = document()?;
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "{} references", found.len());
    for reference in found {
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("{reference} is not in the document"))?;
        assert!(doc.pointer(pointer).is_some(), "{reference} names nothing");
    }
    // Each kind is described by the response of its status, with its title and type.
    let responses = &doc["components"]["responses"];
    for kind in Kind::ALL {
        let described = responses
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, response)| {
                let narrowed =
                    &response["content"][app::PROBLEM_JSON]["schema"]["allOf"][1]["properties"];
                narrowed["status"]["enum"][0] == kind.status().as_u16()
                    && narrowed["kind"]["enum"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k == kind.as_str()))
                    && narrowed["type"]["enum"]
                        .as_array()
                        .is_some_and(|uris| uris.iter().any(|uri| *uri == kind.type_uri()))
            });
        assert!(described, "{kind} is in no response of the document");
    }
    // Every link names an operation of the document, in OpenAPI's spelling.
    let operation_ids: BTreeSet<&str> = operations(&doc)
        .values()
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    assert_eq!(
        operation_ids.len(),
        operations(&doc).len(),
        "operation ids are unique"
    );
    let mut links = 0;
    for operation in operations(&doc).values() {
        for response in operation["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
        {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"]
                    .as_str()
                    .ok_or_else(|| format!("{name}: {link}"))?;
                assert!(operation_ids.contains(target), "{name} links to {target}");
                assert!(link.get("operation_id").is_none(), "{name}: {link}");
                links += 1;
            }
        }
    }
    assert!(links >= 8, "{links} links");
    // Every operation answers its middleware's errors: 400 for a bad token, 500, and
    // 401 on writes.
    for ((path, method), operation) in operations(&doc) {
        let statuses = &operation["responses"];
        for status in ["400", "500"] {
            assert!(
                statuses.get(status).is_some(),
                "{method} {path}: no {status}"
            );
        }
        let write = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
        assert_eq!(statuses.get("401").is_some(), write, "{method} {path}: 401");
    }
    Ok(())
}

/// Every operation of the document, by path template and method (upper case).
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                operations.insert((path.clone(), method.to_uppercase()), operation);
            }
        }
    }
    operations
}

/// The router's routes, by path template and method, read from its `Debug` output (axum
/// has no other way to list them): for each route id the path of its node, and the
/// methods its method router has an endpoint for. Fails on output it cannot read,
/// rather than finding nothing.
fn routes_of(router: &axum::Router) -> TestResult<BTreeSet<(String, String)>> {
    let debug = format!("{router:?}");
    // The routes proper; the fallback router (`fallback_router: ...`) follows them.
    let routes = debug
        .split_once("fallback_router:")
        .map(|(routes, _)| routes)
        .ok_or("no `fallback_router` in the router's Debug output")?;
    let (endpoints, nodes) = routes
        .split_once("node: Node { paths: {")
        .ok_or("no `node: Node { paths: {` in the router's Debug output")?;
    let mut paths = BTreeMap::new();
    for entry in nodes.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").ok_or("unreadable node path")?;
        let (path, _) = rest.split_once('"').ok_or("unreadable node path")?;
        paths.insert(id.to_owned(), path.to_owned());
    }
    let mut routes = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for entry in endpoints.split("RouteId(").skip(1) {
        let (id, endpoint) = entry.split_once("): ").ok_or("unreadable route")?;
        let path = paths
            .get(id)
            .ok_or_else(|| format!("route {id} has no path"))?;
        if !endpoint.starts_with("MethodRouter(MethodRouter {") {
            return Err(
                format!("{path} is served by a service, not by methods: {endpoint}").into(),
            );
        }
        for method in METHODS {
            let field = format!("{}: ", method.to_lowercase());
            let (_, value) = endpoint
                .split_once(&field)
                .ok_or_else(|| format!("no `{field}` for {path}"))?;
            if !value.starts_with("None") {
                routes.insert((path.clone(), method.to_owned()));
            }
        }
        seen.insert(id.to_owned());
    }
    if seen.len() != paths.len() || paths.is_empty() {
        return Err(format!("routes {seen:?} and paths {paths:?} do not pair up").into());
    }
    Ok(routes)
}

/// `template` with every `{parameter}` replaced by `1`.
fn concrete(template: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('{') {
        path.push_str(before);
        path.push('1');
        rest = after.split_once('}').map_or("", |(_, after)| after);
    }
    path.push_str(rest);
    path
}

/// The route-coverage check, both ways and two ways each:
///
/// - the router's own routes (path and method, from the router that [`app::app`]
///   returns) are exactly the document's operations, HEAD aside (axum answers it for
///   GET; the document does not list it);
/// - over HTTP, on every path of either, each method the document lists reaches a
///   handler (neither the fallback's 404 `no such route` nor 405), and every other
///   method is 405 `method_not_allowed` (HEAD answered as GET is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_has_every_route_and_only_routes() -> TestResult {
    let server = Server::start(Backend::Sqlite).await?;
    let doc = document()?;
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    assert!(documented.len() >= 13, "{documented:?}");

    let routed = routes_of(&app::app(server.state.clone()))?;
    let routed_without_head: BTreeSet<_> = routed
        .iter()
        .filter(|(_, method)| method != "HEAD")
        .cloned()
        .collect();
    let undocumented: Vec<_> = routed_without_head.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed_without_head).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes the document lacks: {undocumented:?}; operations no route serves: {unrouted:?}"
    );

    let paths: BTreeSet<&String> = documented
        .iter()
        .chain(&routed)
        .map(|(path, _)| path)
        .collect();
    for template in paths {
        let path = concrete(template);
        for method in METHODS.into_iter().filter(|&method| method != "CONNECT") {
            let expected = if method == "HEAD" { "GET" } else { method };
            let listed = documented.contains(&(template.clone(), expected.to_owned()));
            let request = server
                .request(method, &path)?
                .header("content-type", "application/json")
                .body("{}");
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            // A HEAD answer has no body: on these paths (all routed for some method),
            // only a 405 is the fallback's.
            let fallback = match method {
                "HEAD" => status == StatusCode::METHOD_NOT_ALLOWED,
                _ => {
                    (status == StatusCode::NOT_FOUND && body["detail"] == "no such route")
                        || (status == StatusCode::METHOD_NOT_ALLOWED
                            && body["kind"] == "method_not_allowed")
                }
            };
            assert_eq!(
                !fallback, listed,
                "{method} {template} answered {status} {text}; documented: {listed}"
            );
        }
    }
    server.stop().await
}

#[test]
fn route_reading_sees_what_the_document_lacks() -> TestResult {
    // The reader itself, on a router with a route the document does not have: it must
    // find that route, or the check above could pass by reading nothing.
    let repo = bookshelf::Repository::in_memory()?;
    let state = app::AppState::new(repo, app::AppConfig::new());
    let extra = axum::Router::new()
        .route("/extra/{id}", axum::routing::put(|| async { "x" }))
        .with_state(());
    let router = app::app(state).merge(extra);
    let routes = routes_of(&router)?;
    assert!(routes.contains(&("/extra/{id}".to_owned(), "PUT".to_owned())));
    assert!(routes.contains(&("/books/{id}".to_owned(), "PATCH".to_owned())));
    assert!(!routes.contains(&("/books/{id}".to_owned(), "PUT".to_owned())));
    assert_eq!(concrete("/authors/{id}/books"), "/authors/1/books");
    Ok(())
}
