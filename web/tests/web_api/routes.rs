//! Every route, used as intended: CRUD, pages, search, eager loading, health, settings.

use bookshelf::BookId;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::app::Settings;
use crate::support::{content, name_of, titles, web_tests, Server, TestResult, CREATED, GONE, OK};

web_tests! {
    async fn authors_crud_and_keyset_pages(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let reply = server
            .json("POST", "/authors", json!({ "name": "Author 000001" }))
            .await?;
        let location = reply.header("location").map(str::to_owned);
        let first = reply.ok(CREATED)?["id"].as_i64().ok_or("no id")?;
        assert_eq!(location, Some(format!("/authors/{first}")));
        let second = server
            .create("/authors", json!({ "name": "Author 000002" }))
            .await?;
        let third = server
            .create("/authors", json!({ "name": "Author 000003" }))
            .await?;

        let author = server.get(&format!("/authors/{second}")).await?.ok(OK)?;
        assert_eq!(content(author.clone()), json!({ "id": second, "name": "Author 000002" }));
        assert_eq!(author["version"], 1);
        assert!(author["created_at"].is_string() && author["created_at"] == author["updated_at"]);
        let page = server.get("/authors?limit=2").await?.ok(OK)?;
        assert_eq!(
            (page["items"][1]["id"].as_i64(), page["next_after"].as_i64()),
            (Some(second), Some(second))
        );
        let rest = server
            .get(&format!("/authors?after={second}&limit=2"))
            .await?
            .ok(OK)?;
        assert_eq!(rest["next_after"], Value::Null);
        let items = rest["items"].as_array().cloned().unwrap_or_default();
        let items: Vec<Value> = items.into_iter().map(content).collect();
        assert_eq!(items, [json!({ "id": third, "name": "Author 000003" })]);
        let all = server.get("/authors").await?.ok(OK)?;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(3));

        let rename = json!({ "name": "  Renamed " });
        let renamed = server
            .json("PATCH", &format!("/authors/{first}"), rename)
            .await?;
        assert_eq!(renamed.ok(OK)?["name"], "Renamed");
        server
            .request("DELETE", &format!("/authors/{third}"))
            .map(Server::call)?
            .await?
            .ok(GONE)?;
        let gone = format!("/authors/{third}");
        let message = server
            .get(&gone)
            .await?
            .error(StatusCode::NOT_FOUND, "not_found")?;
        assert_eq!(message, format!("author {third} not found"));
        for method in ["DELETE", "PATCH"] {
            let reply = server.json(method, &gone, json!({ "name": "x" })).await?;
            reply.error(StatusCode::NOT_FOUND, "not_found")?;
        }
        assert_eq!(server.repo.count_authors()?, 2);
        assert_eq!(name_of(&server.repo, first)?.as_deref(), Some("Renamed"));
        server.stop().await
    }
}

web_tests! {
    async fn books_crud_search_and_eager_loading(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let herbert = server
            .create("/authors", json!({ "name": "Frank Herbert" }))
            .await?;
        let butler = server
            .create("/authors", json!({ "name": "Octavia E. Butler" }))
            .await?;
        let book = |author: i64, title: &str, year: i32| json!({ "author_id": author, "title": title, "published_year": year });
        let mut dune_json = book(herbert, "Dune", 1965);
        dune_json["isbn"] = json!("0-441-17271-7");
        let dune = server.create("/books", dune_json).await?;
        let messiah = server
            .create("/books", book(herbert, "Dune Messiah", 1969))
            .await?;
        server
            .create("/books", book(butler, "Kindred", 1979))
            .await?;

        let read = server.get(&format!("/books/{dune}")).await?.ok(OK)?;
        assert_eq!(read["isbn"], "9780441172719");
        // In a PATCH an absent field stays, `null` clears it.
        let changes = json!({ "isbn": null, "published_year": 1966 });
        let patched = server
            .json("PATCH", &format!("/books/{dune}"), changes)
            .await?
            .ok(OK)?;
        let expected = json!({ "id": dune, "title": "Dune", "author_id": herbert, "isbn": null, "published_year": 1966 });
        assert_eq!(content(patched.clone()), expected);
        assert_eq!((&read["version"], &patched["version"]), (&json!(1), &json!(2)));
        let unchanged = server
            .json("PATCH", &format!("/books/{dune}"), json!({}))
            .await?
            .ok(OK)?;
        assert_eq!(unchanged, patched, "an empty PATCH writes nothing");

        let by_butler = format!("author_id={butler}");
        let searches = [
            (
                "title=DUNE&order=published_year&direction=descending",
                vec!["Dune Messiah", "Dune"],
            ),
            (by_butler.as_str(), vec!["Kindred"]),
            ("year_from=1967&year_to=1970", vec!["Dune Messiah"]),
            ("order=title&limit=2", vec!["Dune", "Dune Messiah"]),
            ("order=title&limit=2&offset=2", vec!["Kindred"]),
            // q= is the ranked full-text search, combinable with the other parameters.
            ("q=DUNE", vec!["Dune", "Dune Messiah"]),
            ("q=dune&order=title&direction=descending", vec!["Dune Messiah", "Dune"]),
            ("q=messiah&title=dune", vec!["Dune Messiah"]),
            ("q=dune&year_from=1967", vec!["Dune Messiah"]),
            ("q=%22dune%22%20*%20(", vec!["Dune", "Dune Messiah"]),
            ("q=dune%20NEAR", vec![]),
            ("q=kindred&limit=1&offset=1", vec![]),
            ("updated_since=1970-01-01T00:00:00Z&order=title&limit=1", vec!["Dune"]),
            ("updated_since=9999-01-01T00:00:00%2B00:00", vec![]),
        ];
        for (query, expected) in searches {
            let found = server.get(&format!("/books?{query}")).await?.ok(OK)?;
            assert_eq!(titles(&found["items"]), expected, "{query}");
        }
        let first = server.get("/books?limit=2").await?.ok(OK)?;
        assert_eq!(first["next_offset"], 2);
        let of_herbert = server
            .get(&format!("/authors/{herbert}/books"))
            .await?
            .ok(OK)?;
        assert_eq!(
            (titles(&of_herbert["items"]), &of_herbert["next_offset"]),
            (vec!["Dune", "Dune Messiah"], &Value::Null)
        );
        server
            .get("/authors/999/books")
            .await?
            .error(StatusCode::NOT_FOUND, "not_found")?;

        let before = server.repo.stats().statements;
        let shelf = server.get("/authors?include=books").await?.ok(OK)?;
        assert_eq!(
            server.repo.stats().statements - before,
            2,
            "eager loading takes two queries"
        );
        assert_eq!(shelf["items"][0]["author"]["name"], "Frank Herbert");
        assert_eq!(
            titles(&shelf["items"][0]["books"]),
            ["Dune", "Dune Messiah"]
        );
        assert_eq!(titles(&shelf["items"][1]["books"]), ["Kindred"]);

        let messiah_path = format!("/books/{messiah}");
        server
            .request("DELETE", &messiah_path)
            .map(Server::call)?
            .await?
            .ok(GONE)?;
        server
            .get(&messiah_path)
            .await?
            .error(StatusCode::NOT_FOUND, "not_found")?;
        let patch = server.json("PATCH", &messiah_path, json!({})).await?;
        patch.error(StatusCode::NOT_FOUND, "not_found")?;
        server
            .request("DELETE", &format!("/authors/{herbert}"))
            .map(Server::call)?
            .await?
            .ok(GONE)?;
        assert_eq!(
            server.repo.count_books()?,
            1,
            "the author's books went with them"
        );
        assert!(server.repo.book(BookId(dune))?.is_none());
        server.stop().await
    }
}

web_tests! {
    async fn conflicts_are_409(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let author = server
            .create("/authors", json!({ "name": "Frank Herbert" }))
            .await?;
        let dune = json!({ "author_id": author, "title": "Dune", "isbn": "9780441172719" });
        server.create("/books", dune).await?;
        let other = server
            .create(
                "/books",
                json!({ "author_id": author, "title": "Children" }),
            )
            .await?;
        let other_path = format!("/books/{other}");
        let clashes = [
            (
                "POST",
                "/books",
                json!({ "author_id": author, "title": "Dune 2", "isbn": "0-441-17271-7" }),
            ),
            (
                "POST",
                "/books",
                json!({ "author_id": author, "title": "Dune" }),
            ),
            ("PATCH", other_path.as_str(), json!({ "title": "Dune" })),
            (
                "PATCH",
                other_path.as_str(),
                json!({ "isbn": "978-0-441-17271-9" }),
            ),
        ];
        for (method, path, body) in clashes {
            let reply = server.json(method, path, body).await?;
            reply.error(StatusCode::CONFLICT, "conflict")?;
        }
        assert_eq!(server.repo.count_books()?, 2);
        let stored = server.repo.book(BookId(other))?.ok_or("book gone")?;
        assert_eq!((stored.title.as_str(), stored.isbn), ("Children", None));
        server.stop().await
    }
}

web_tests! {
    async fn health_reports_pool_and_migrations(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let health = server.get("/health").await?.ok(OK)?;
        assert_eq!(health["status"], "ok");
        assert_eq!(
            health["migrations"],
            json!(server.repo.applied_migrations()?)
        );
        assert!(
            health["pool"]["connections"]
                .as_u64()
                .is_some_and(|n| n >= 1),
            "{health}"
        );
        assert!(health["pool"]["idle_connections"].is_u64(), "{health}");
        assert!(health["statements"].is_u64(), "{health}");
        assert_eq!(health["db_calls_in_flight"], 0);
        server.stop().await
    }
}

#[test]
fn settings_come_from_arguments_then_environment() -> TestResult {
    let env = |key: &str| match key {
        "BIND_ADDR" => Some("127.0.0.1:8080".to_owned()),
        "DATABASE_URL" => Some("env.db".to_owned()),
        "API_TOKEN" => Some("t0ken".to_owned()),
        "READ_REPLICA_URLS" => Some(" postgres://r1/app  postgres://r2/app ".to_owned()),
        _ => None,
    };
    let none = |_: &str| None;
    let args = |args: &[&str]| args.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
    let defaults = Settings::parse(args(&[]), none)?;
    assert_eq!(defaults.bind_addr.to_string(), "127.0.0.1:3000");
    assert_eq!(
        (defaults.database_url.as_str(), defaults.api_token),
        ("bookshelf.db", None)
    );
    let from_env = Settings::parse(args(&[]), env)?;
    assert_eq!(
        (from_env.bind_addr.port(), from_env.database_url.as_str()),
        (8080, "env.db")
    );
    assert_eq!(from_env.api_token.as_deref(), Some("t0ken"));
    assert_eq!(
        from_env.read_replicas,
        ["postgres://r1/app", "postgres://r2/app"]
    );
    assert!(defaults.read_replicas.is_empty());
    assert!(
        !format!("{from_env:?}").contains("t0ken"),
        "Debug hides the token"
    );
    let from_args = Settings::parse(args(&["127.0.0.1:9000", "arg.db"]), env)?;
    assert_eq!(
        (from_args.bind_addr.port(), from_args.database_url.as_str()),
        (9000, "arg.db")
    );
    assert!(Settings::parse(args(&["nonsense"]), none).is_err());
    assert!(Settings::parse(args(&["127.0.0.1:1", "a.db", "extra"]), none).is_err());
    let empty_token = |key: &str| (key == "API_TOKEN").then(String::new);
    assert!(Settings::parse(args(&[]), empty_token).is_err());
    Ok(())
}

web_tests! {
    /// Versions over HTTP: every single-row answer has an `ETag`; `If-None-Match` on a
    /// `GET` is answered `304`; `PATCH` and `DELETE` with `If-Match` write only at that
    /// version; of two clients that read one version and both `PATCH`, exactly one
    /// wins and the other gets `412`; without `If-Match` a write still works.
    async fn versions_are_etags_and_if_match_makes_writes_conditional(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let author = server.create("/authors", json!({ "name": "Frank Herbert" })).await?;
        let created = server
            .json("POST", "/books", json!({ "author_id": author, "title": "Dune" }))
            .await?;
        assert_eq!(created.header("etag"), Some("\"1\""));
        let id = created.ok(CREATED)?["id"].as_i64().ok_or("no id")?;
        let path = format!("/books/{id}");

        let read = server.get(&path).await?;
        assert_eq!(read.header("etag"), Some("\"1\""));
        let cached = Server::call(server.request("GET", &path)?.header("if-none-match", "\"1\"")).await?;
        assert_eq!((cached.status, cached.header("etag")), (StatusCode::NOT_MODIFIED, Some("\"1\"")));
        let changed = Server::call(server.request("GET", &path)?.header("if-none-match", "\"7\"")).await?;
        assert_eq!(changed.status, OK);

        // Two clients at version 1, at once: one wins, one is told it is too late.
        let patch = |title: &str| -> TestResult<_> {
            Ok(server
                .request("PATCH", &path)?
                .header("if-match", "\"1\"")
                .json(&json!({ "title": title })))
        };
        let (first, second) = tokio::join!(Server::call(patch("Dune I")?), Server::call(patch("Dune II")?));
        let (first, second) = (first?, second?);
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(statuses, [OK, StatusCode::PRECONDITION_FAILED], "{first:?} {second:?}");
        let (winner, loser) = if first.status == OK { (first, second) } else { (second, first) };
        assert_eq!(winner.header("etag"), Some("\"2\""));
        let title = winner.body["title"].as_str().map(str::to_owned);
        let message = loser.error(StatusCode::PRECONDITION_FAILED, "precondition_failed")?;
        assert!(message.contains("version 2, not 1"), "{message}");
        let stored = server.get(&path).await?.ok(OK)?;
        assert_eq!(stored["title"].as_str().map(str::to_owned), title);

        // Weak, listed or malformed tags are no version to write at.
        for tag in ["W/\"2\"", "\"1\", \"2\"", "2", "\"two\""] {
            let reply = Server::call(
                server.request("PATCH", &path)?.header("if-match", tag).json(&json!({ "published_year": 1965 })),
            )
            .await?;
            reply.error(StatusCode::PRECONDITION_FAILED, "precondition_failed")?;
        }
        // `*`, or no If-Match at all, writes at any version.
        let any = Server::call(server.request("PATCH", &path)?.header("if-match", "*").json(&json!({ "published_year": 1965 }))).await?;
        assert_eq!(any.header("etag"), Some("\"3\""));
        let plain = server.json("PATCH", &path, json!({ "published_year": 1966 })).await?;
        assert_eq!(plain.header("etag"), Some("\"4\""));

        // DELETE: a stale version deletes nothing, the current one deletes.
        let stale = Server::call(server.request("DELETE", &path)?.header("if-match", "\"3\"")).await?;
        stale.error(StatusCode::PRECONDITION_FAILED, "precondition_failed")?;
        server.get(&path).await?.ok(OK)?;
        Server::call(server.request("DELETE", &path)?.header("if-match", "\"4\"")).await?.ok(GONE)?;
        server.get(&path).await?.error(StatusCode::NOT_FOUND, "not_found")?;

        // Authors too.
        let author_path = format!("/authors/{author}");
        assert_eq!(server.get(&author_path).await?.header("etag"), Some("\"1\""));
        let renamed = Server::call(server.request("PATCH", &author_path)?.header("if-match", "\"1\"").json(&json!({ "name": "F. Herbert" }))).await?;
        assert_eq!(renamed.header("etag"), Some("\"2\""));
        let stale = Server::call(server.request("DELETE", &author_path)?.header("if-match", "\"1\"")).await?;
        stale.error(StatusCode::PRECONDITION_FAILED, "precondition_failed")?;
        assert_eq!(server.repo.count_authors()?, 1);
        server.stop().await
    }
}

web_tests! {
    /// Without read replicas there is no token to send: every read sees every write. A
    /// token a client sends is still checked (400 for one that is not a token) and then
    /// changes nothing.
    async fn consistency_tokens_without_replicas(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let created = server.json("POST", "/authors", json!({"name": "Tokenless"})).await?;
        assert!(created.headers.get(crate::app::TOKEN_HEADER).is_none());
        let id = created.ok(CREATED)?["id"].as_i64().ok_or("no id")?;
        let path = format!("/authors/{id}");
        let read = Server::call(server.request("GET", &path)?.header(crate::app::TOKEN_HEADER, "0/16B3748")).await?;
        assert_eq!(read.ok(OK)?["name"], "Tokenless");
        for bad in ["16B3748", "0/16B3748/1", "0/xyz", ""] {
            let reply = Server::call(server.request("GET", &path)?.header(crate::app::TOKEN_HEADER, bad)).await?;
            reply
                .error(StatusCode::BAD_REQUEST, "invalid_token")
                .map_err(|e| format!("{bad:?}: {e}"))?;
        }
        // Routing comes first: a method the path does not take is 405, a path that is no
        // route 404, whatever the headers say.
        for method in ["PUT", "TRACE", "OPTIONS"] {
            let reply = Server::call(server.request(method, &path)?.header(crate::app::TOKEN_HEADER, "bad")).await?;
            reply.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")?;
        }
        let nowhere = Server::call(server.request("GET", "/nowhere")?.header(crate::app::TOKEN_HEADER, "bad")).await?;
        nowhere.error(StatusCode::NOT_FOUND, "not_found")?;
        server.stop().await
    }
}

web_tests! {
    /// Preconditions are evaluated last (RFC 9110, section 13.2.1): an `If-Match` that
    /// names no version is 412 only for a request that would otherwise succeed; a body
    /// that is not JSON stays 415, a malformed or invalid one 422, a missing row 404.
    async fn an_if_match_naming_no_version_is_checked_last(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let author = server.create("/authors", json!({ "name": "Frank Herbert" })).await?;
        let book = server
            .create("/books", json!({ "author_id": author, "title": "Dune" }))
            .await?;
        let (author_path, book_path) = (format!("/authors/{author}"), format!("/books/{book}"));
        for path in [&author_path, &book_path] {
            for tag in ["", "W/\"1\"", "\"1\", \"2\"", "two"] {
                let patch = || -> TestResult<_> { Ok(server.request("PATCH", path)?.header("if-match", tag)) };
                let untyped = Server::call(patch()?.body("{}")).await?;
                untyped.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")?;
                let broken = Server::call(patch()?.header("content-type", "application/json").body("{")).await?;
                broken.error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")?;
                let field = if path == &author_path { "name" } else { "title" };
                let empty = Server::call(patch()?.json(&json!({ field: " " }))).await?;
                empty.error(StatusCode::UNPROCESSABLE_ENTITY, "validation")?;
                let good = Server::call(patch()?.json(&json!({ field: "Renamed" }))).await?;
                let message = good.error(StatusCode::PRECONDITION_FAILED, "precondition_failed")?;
                assert!(message.contains("matches no version"), "{message}");
                let delete = Server::call(server.request("DELETE", path)?.header("if-match", tag)).await?;
                delete.error(StatusCode::PRECONDITION_FAILED, "precondition_failed")?;
            }
        }
        // A missing row is 404, whatever the tag.
        for path in ["/authors/999", "/books/999"] {
            let field = if path.starts_with("/authors") { "name" } else { "title" };
            let patch = server.request("PATCH", path)?.header("if-match", "W/\"1\"").json(&json!({ field: "x" }));
            Server::call(patch).await?.error(StatusCode::NOT_FOUND, "not_found")?;
            let delete = server.request("DELETE", path)?.header("if-match", "nonsense");
            Server::call(delete).await?.error(StatusCode::NOT_FOUND, "not_found")?;
        }
        assert_eq!(name_of(&server.repo, author)?.as_deref(), Some("Frank Herbert"));
        assert_eq!(server.repo.book(BookId(book))?.map(|b| b.title).as_deref(), Some("Dune"));
        server.stop().await
    }
}

/// The target of a `Link: <target>; rel="next"` header, if the reply has one.
fn next_link(reply: &crate::support::Reply) -> TestResult<Option<String>> {
    let Some(link) = reply.header("link") else {
        return Ok(None);
    };
    let target = link
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
        .ok_or_else(|| format!("not a next link: {link}"))?;
    Ok(Some(target.to_owned()))
}

/// Every page of a list from `first`, following `Link` headers resolved against each
/// request's URL (as RFC 8288 says), checking that each agrees with the body's
/// `next_after` or `next_offset`; the items of all pages, and the links followed.
async fn follow(
    server: &Server,
    first: &str,
    cursor: &str,
) -> TestResult<(Vec<Value>, Vec<String>)> {
    let mut url = reqwest::Url::parse(&format!("{}{first}", server.base))?;
    let (mut items, mut links) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let reply = Server::call(server.client.get(url.clone())).await?;
        let link = next_link(&reply)?;
        let page = reply.ok(OK)?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        let Some(link) = link else {
            assert_eq!(page[cursor], Value::Null, "{url}: no Link, but {page}");
            return Ok((items, links));
        };
        let next = url.join(&link)?;
        let cursor_in_link = next
            .query_pairs()
            .find(|(key, _)| key == cursor.trim_start_matches("next_"))
            .map(|(_, value)| value.into_owned());
        assert_eq!(
            cursor_in_link,
            Some(page[cursor].to_string()),
            "{url}: {link} and {page}"
        );
        links.push(link);
        url = next;
    }
    Err("more than 20 pages".into())
}

web_tests! {
    /// List answers send `Link: <...>; rel="next"` (RFC 8288) while there is a next page:
    /// a relative reference, the request's query with the cursor moved on and `limit`
    /// said, which resolves against the request's URL (under a proxy's prefix too).
    async fn list_answers_link_their_next_page(backend: Backend) -> TestResult {
        let server = Server::start(backend).await?;
        let mut authors = Vec::new();
        for i in 1..=5 {
            authors.push(server.create("/authors", json!({ "name": format!("Author {i}") })).await?);
        }
        let first = authors[0];
        for title in ["a b 1", "a b 2", "a b 3", "other", "a b+4"] {
            server.create("/books", json!({ "author_id": first, "title": title })).await?;
        }

        let (items, links) = follow(&server, "/authors?limit=2", "next_after").await?;
        let ids: Vec<i64> = items.iter().filter_map(|author| author["id"].as_i64()).collect();
        assert_eq!(ids, authors);
        assert_eq!(
            links,
            [
                format!("authors?after={}&limit=2", authors[1]),
                format!("authors?after={}&limit=2", authors[3]),
            ]
        );
        let (shelf, links) = follow(&server, "/authors?include=books&limit=3", "next_after").await?;
        assert_eq!(shelf.len(), 5);
        assert_eq!(titles(&shelf[0]["books"]).len(), 5);
        assert_eq!(links, [format!("authors?after={}&limit=3&include=books", authors[2])]);

        let (books, links) = follow(&server, "/books?title=a%20b&order=title&limit=2", "next_offset").await?;
        assert_eq!(titles(&Value::from(books)), ["a b 1", "a b 2", "a b 3", "a b+4"]);
        assert_eq!(
            links,
            [
                "books?title=a%20b&order=title&limit=2&offset=2",
                "books?title=a%20b&order=title&limit=2&offset=4",
            ]
        );
        let of_first = format!("/authors/{first}/books?limit=3");
        let (books, links) = follow(&server, &of_first, "next_offset").await?;
        assert_eq!(books.len(), 5);
        assert_eq!(links, ["books?limit=3&offset=3"]);

        // One page holds them all: no link. Behind a proxy that serves the API under
        // `/api/`, the link names the next page under `/api/` too.
        let all = server.get("/books?limit=100").await?;
        assert_eq!(next_link(&all)?, None);
        let page = server.get(&format!("/authors/{first}/books?limit=1&offset=1")).await?;
        let link = next_link(&page)?.ok_or("no link")?;
        let proxied = reqwest::Url::parse(&format!("https://proxy.example/api/authors/{first}/books?limit=1&offset=1"))?;
        assert_eq!(
            proxied.join(&link)?.as_str(),
            format!("https://proxy.example/api/authors/{first}/books?limit=1&offset=2")
        );
        server.stop().await
    }
}
