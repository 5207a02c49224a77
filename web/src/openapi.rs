//! The OpenAPI 3.1 document of the API, generated from the code: each handler's
//! `#[utoipa::path]` says its route, parameters, body and answers, and the router is
//! built from the same declarations (`utoipa_axum`'s `routes!`), so a route cannot be
//! served without being described. What the middleware adds to every route (the
//! `Consistency-Token` header and its 400, the bearer token and its 401 on writes, the
//! 500 of a panic) is added to every operation by [`finish`], by the same rules the
//! middleware applies.
//!
//! The models of the `bookshelf` crate carry no schema of their own, so this module
//! describes them with mirror types (`AuthorSchema` for `bookshelf::Author`, ...); the
//! tests below check each mirror's schema against what serde makes of the real type.

use std::borrow::Cow;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required};
use utoipa::{Modify, PartialSchema, ToResponse, ToSchema};

use crate::error::{Kind, PROBLEM_JSON};

/// The name of the bearer-token security scheme.
const BEARER: &str = "bearer";

/// The document's fixed parts: information, tags, the schemas and responses that the
/// handlers refer to, the security scheme. The paths come from the router.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "bookshelf web example",
        description = "A JSON API over the bookshelf repository: authors and their books. \
Errors are RFC 9457 problem details (`application/problem+json`) with the `kind` member; \
a method a path does not accept is answered 405 with `Allow` \
(`#/components/responses/MethodNotAllowed`), a path that is no route 404. List answers \
link their next page with an RFC 8288 `Link: <...>; rel=\"next\"` header besides \
`next_after` or `next_offset`. Every operation reads `Consistency-Token` (see the \
parameter); every write needs the bearer token when the server has `API_TOKEN` set.",
        license(name = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "authors", description = "Authors, and their books"),
        (name = "books", description = "Books: create, read, search, change, delete"),
        (name = "meta", description = "The server itself"),
    ),
    components(
        schemas(
            AuthorSchema,
            BookSchema,
            AuthorWithBooksSchema,
            NewAuthorSchema,
            NewBookSchema,
            BookChangesSchema,
            BookOrderSchema,
            DirectionSchema,
            AuthorPageSchema,
            ShelfPageSchema,
            AuthorListSchema,
            BookPageSchema,
            crate::AuthorChanges,
            crate::Include,
            crate::HealthBody,
            crate::PoolHealth,
            crate::error::Problem,
            Kind,
        ),
        responses(
            BadRequest,
            Unauthorized,
            NotFound,
            MethodNotAllowed,
            Conflict,
            PreconditionFailed,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            Internal,
            Unavailable,
        ),
    ),
    modifiers(&Security),
)]
pub(crate) struct ApiDoc;

/// Adds the bearer-token scheme.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "`Authorization: Bearer <API_TOKEN>` on every request other than GET, HEAD \
                 and OPTIONS, when the server has `API_TOKEN` set (compared in constant \
                 time); a server without it takes writes from anyone.",
            ))
            .build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// What the middleware adds to every operation of `openapi`, by the rules it applies:
/// the `Consistency-Token` parameter and its 400, the 500 of a panic or a failed
/// database call, and on every method other than GET, HEAD and OPTIONS the bearer token
/// and its 401.
pub(crate) fn finish(mut openapi: OpenApi) -> OpenApi {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Head, &mut item.head),
            (HttpMethod::Options, &mut item.options),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
            (HttpMethod::Trace, &mut item.trace),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let reads_only = matches!(
                    method,
                    HttpMethod::Get | HttpMethod::Head | HttpMethod::Options
                );
                finish_operation(operation, reads_only);
            }
        }
    }
    openapi
}

fn finish_operation(operation: &mut Operation, reads_only: bool) {
    // An optional header is absent or a string, never `null` (as utoipa writes an
    // `Option<String>`): HTTP has no null.
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.parameter_in != ParameterIn::Header {
            continue;
        }
        if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema {
            if let SchemaType::Array(types) = &object.schema_type {
                let types: Vec<Type> = types
                    .iter()
                    .filter(|t| **t != Type::Null)
                    .cloned()
                    .collect();
                if let [only] = types.as_slice() {
                    object.schema_type = SchemaType::Type(only.clone());
                }
            }
        }
    }
    let token = ParameterBuilder::new()
        .name("Consistency-Token")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Read-your-writes with read replicas: the `Consistency-Token` of the last \
             answer this client got. Every answer to a write carries one when the server \
             has read replicas (a read's answer carries the one it came with); with it, \
             every read of the request sees at least that write. Without replicas none is \
             sent and one sent changes nothing. A value that is not a log position is 400 \
             `invalid_token`.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"))
                .examples([serde_json::json!("0/16B3748")]),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(token);
    let responses = &mut operation.responses.responses;
    let mut refer = |status: StatusCode, name: &str| {
        responses
            .entry(status.as_str().to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    };
    refer(StatusCode::BAD_REQUEST, BadRequest::NAME);
    refer(StatusCode::INTERNAL_SERVER_ERROR, Internal::NAME);
    if !reads_only {
        refer(StatusCode::UNAUTHORIZED, Unauthorized::NAME);
        operation
            .security
            .get_or_insert_with(Vec::new)
            .push(SecurityRequirement::new(BEARER, Vec::<String>::new()));
    }
}

/// Renames the members of every Link Object in `document` as OpenAPI spells them:
/// utoipa 5 writes them as its Rust fields are named (`operation_id`, `operation_ref`,
/// `request_body`), not `operationId`, `operationRef`, `requestBody`.
pub(crate) fn camel_case_links(document: &mut serde_json::Value) {
    let responses = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let links = response
            .get_mut("links")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|links| links.values_mut())
            .filter_map(serde_json::Value::as_object_mut);
        for link in links {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(from) {
                    link.insert(to.to_owned(), value);
                }
            }
        }
    }
}

/// The `application/problem+json` answer for `status`: problem details whose `status`,
/// `kind`, `title` and `type` are those of the kinds with that status, and the headers
/// those kinds are sent with.
fn problem_response(status: StatusCode) -> Response {
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|kind| kind.status() == status)
        .collect();
    let strings = |member: fn(Kind) -> String| -> Vec<serde_json::Value> {
        kinds.iter().map(|&kind| member(kind).into()).collect()
    };
    let narrowed = ObjectBuilder::new()
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([status.as_u16()])),
        )
        .property(
            "kind",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(strings(|kind| kind.as_str().to_owned()))),
        )
        .property(
            "title",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(strings(|kind| kind.title().to_owned()))),
        )
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom("uri".to_owned())))
                .enum_values(Some(strings(Kind::type_uri))),
        );
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(crate::error::Problem::name()))
        .item(narrowed);
    let description = kinds
        .iter()
        .map(|kind| format!("`{kind}`: {}", kind.when()))
        .collect::<Vec<_>>()
        .join("; ");
    let mut response = ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    let string = || ObjectBuilder::new().schema_type(Type::String);
    for kind in &kinds {
        response = match kind {
            Kind::Unauthorized => response.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(string().enum_values(Some(["Bearer"])))
                    .description(Some("Always `Bearer`."))
                    .build(),
            ),
            Kind::Unavailable => response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(string().enum_values(Some(["1"])))
                    .description(Some("Seconds to wait before trying again: `1`."))
                    .build(),
            ),
            Kind::PayloadTooLarge => response.header(
                "Connection",
                HeaderBuilder::new()
                    .schema(string().enum_values(Some(["close"])))
                    .description(Some(
                        "`close`: the rest of the body is not read, and the server closes \
                         the connection after this answer.",
                    ))
                    .build(),
            ),
            Kind::MethodNotAllowed => response.header(
                "Allow",
                HeaderBuilder::new()
                    .schema(string())
                    .description(Some("The methods the path accepts."))
                    .build(),
            ),
            _ => response,
        };
    }
    response.build()
}

/// Defines the reusable problem answers, one per error status.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident => $status:ident;)*) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl $name {
            /// The name of the response in the document's components.
            pub(crate) const NAME: &'static str = stringify!($name);
        }

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (Self::NAME, RefOr::T(problem_response(StatusCode::$status)))
            }
        }
    )*};
}

problem_responses! {
    /// 400.
    BadRequest => BAD_REQUEST;
    /// 401.
    Unauthorized => UNAUTHORIZED;
    /// 404.
    NotFound => NOT_FOUND;
    /// 405.
    MethodNotAllowed => METHOD_NOT_ALLOWED;
    /// 409.
    Conflict => CONFLICT;
    /// 412.
    PreconditionFailed => PRECONDITION_FAILED;
    /// 413.
    PayloadTooLarge => PAYLOAD_TOO_LARGE;
    /// 415.
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE;
    /// 422.
    Unprocessable => UNPROCESSABLE_ENTITY;
    /// 500.
    Internal => INTERNAL_SERVER_ERROR;
    /// 503.
    Unavailable => SERVICE_UNAVAILABLE;
}

impl PartialSchema for Kind {
    fn schema() -> RefOr<Schema> {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(kinds))
            .description(Some("The machine-readable kind of the problem."))
            .into()
    }
}

impl ToSchema for Kind {}

/// An author, as stored (`bookshelf::Author`).
#[derive(ToSchema)]
#[schema(as = Author)]
#[allow(dead_code)]
pub(crate) struct AuthorSchema {
    /// Assigned by the server.
    id: i64,
    /// Trimmed, 1 to 500 characters.
    name: String,
    /// 1 when created, one more with every update, whoever writes the row; the
    /// `ETag` of the row is this number in quotes.
    #[schema(minimum = 1)]
    version: i64,
    /// When the row was created (UTC).
    created_at: DateTime<Utc>,
    /// When the row was last updated (UTC).
    updated_at: DateTime<Utc>,
}

/// A book, as stored (`bookshelf::Book`).
#[derive(ToSchema)]
#[schema(as = Book)]
#[allow(dead_code)]
pub(crate) struct BookSchema {
    /// Assigned by the server.
    id: i64,
    /// Trimmed, 1 to 500 characters, unique per author.
    title: String,
    /// The author.
    author_id: i64,
    /// Normalized ISBN-13 (13 digits, no hyphens), unique when present.
    #[schema(required = true, pattern = "^[0-9]{13}$")]
    isbn: Option<String>,
    /// Year of first publication, from -3000 to next year.
    #[schema(required = true, minimum = -3000)]
    published_year: Option<i32>,
    /// 1 when created, one more with every update, whoever writes the row; the
    /// `ETag` of the row is this number in quotes.
    #[schema(minimum = 1)]
    version: i64,
    /// When the row was created (UTC).
    created_at: DateTime<Utc>,
    /// When the row was last updated (UTC).
    updated_at: DateTime<Utc>,
}

/// An author with all of their books, by title (`bookshelf::AuthorWithBooks`).
#[derive(ToSchema)]
#[schema(as = AuthorWithBooks)]
#[allow(dead_code)]
pub(crate) struct AuthorWithBooksSchema {
    /// The author.
    author: AuthorSchema,
    /// Their books, by title.
    books: Vec<BookSchema>,
}

/// An author to create (`bookshelf::NewAuthor`).
#[derive(ToSchema)]
#[schema(as = NewAuthor, example = json!({ "name": "Ursula K. Le Guin" }))]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct NewAuthorSchema {
    /// Trimmed; 1 to 500 characters, no NUL.
    name: String,
}

/// A book to create (`bookshelf::NewBook`).
#[derive(ToSchema)]
#[schema(
    as = NewBook,
    example = json!({ "author_id": 1, "title": "Dune", "isbn": "0-441-17271-7", "published_year": 1965 })
)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct NewBookSchema {
    /// The author; one that does not exist is 422.
    author_id: i64,
    /// Trimmed; 1 to 500 characters, no NUL, unique per author (else 409).
    title: String,
    /// ISBN-10 or ISBN-13, hyphens and spaces allowed; stored as ISBN-13, unique
    /// (else 409).
    isbn: Option<String>,
    /// Year of first publication, from -3000 to next year.
    published_year: Option<i32>,
}

/// Changes to a book (`bookshelf::BookChanges`): an absent field stays as it is; `null`
/// clears `isbn` or `published_year` (and leaves `title`).
#[derive(ToSchema)]
#[schema(as = BookChanges, example = json!({ "title": "Dune Messiah", "isbn": null }))]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct BookChangesSchema {
    /// A new title.
    title: Option<String>,
    /// A new ISBN, or `null` to remove it.
    isbn: Option<String>,
    /// A new year, or `null` to remove it.
    published_year: Option<i32>,
}

/// What a book list is ordered by (`bookshelf::BookOrder`); ties by id.
#[derive(ToSchema)]
#[schema(as = BookOrder)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum BookOrderSchema {
    /// By id, that is, by insertion order.
    Id,
    /// By title.
    Title,
    /// By year; books without a year come last in either direction.
    PublishedYear,
    /// By the time of the last update.
    UpdatedAt,
    /// Best match first, for a search (`q`); without one, by id.
    Relevance,
}

/// Sort direction (`bookshelf::Direction`).
#[derive(ToSchema)]
#[schema(as = Direction)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum DirectionSchema {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// A page of authors, by id.
#[derive(ToSchema)]
#[schema(as = AuthorPage)]
#[allow(dead_code)]
pub(crate) struct AuthorPageSchema {
    /// The authors.
    items: Vec<AuthorSchema>,
    /// The `after` of the next page; `null` on the last page.
    #[schema(required = true)]
    next_after: Option<i64>,
}

/// A page of authors with their books (`include=books`), by author id.
#[derive(ToSchema)]
#[schema(as = ShelfPage)]
#[allow(dead_code)]
pub(crate) struct ShelfPageSchema {
    /// The authors, each with their books.
    items: Vec<AuthorWithBooksSchema>,
    /// The `after` of the next page; `null` on the last page.
    #[schema(required = true)]
    next_after: Option<i64>,
}

/// A page of books.
#[derive(ToSchema)]
#[schema(as = BookPage)]
#[allow(dead_code)]
pub(crate) struct BookPageSchema {
    /// The books.
    items: Vec<BookSchema>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true, minimum = 0, maximum = 4294967295_i64)]
    next_offset: Option<i64>,
}

/// `GET /authors`: an [`AuthorPageSchema`], or with `include=books` a
/// [`ShelfPageSchema`]. (`anyOf`, not `oneOf`: an empty page is both.)
pub(crate) struct AuthorListSchema;

impl PartialSchema for AuthorListSchema {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(AuthorPageSchema::name()))
            .item(Ref::from_schema_name(ShelfPageSchema::name()))
            .description(Some(
                "A page of authors; with `include=books`, of authors with their books.",
            ))
            .into()
    }
}

impl ToSchema for AuthorListSchema {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AuthorList")
    }
}

#[cfg(test)]
mod tests {
    //! The mirror schemas against serde's JSON of the types they describe: the same
    //! keys, the same required keys, values of the declared types, the same enum values.

    use std::collections::BTreeSet;

    use bookshelf::{
        Author, AuthorId, AuthorWithBooks, Book, BookChanges, BookId, BookOrder, Direction,
        NewAuthor, NewBook, Version,
    };
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The document, with every schema a `$ref` can name.
    fn schemas() -> Result<Value, Box<dyn std::error::Error>> {
        let doc = crate::openapi()?;
        Ok(doc["components"]["schemas"].clone())
    }

    fn resolve<'a>(schemas: &'a Value, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                &schemas[name]
            }
            None => schema,
        }
    }

    /// The JSON type names a schema allows (`oneOf` of a `$ref` and `null`, as utoipa
    /// writes an optional reference, allows both).
    fn allowed_types(schemas: &Value, schema: &Value) -> BTreeSet<String> {
        let schema = resolve(schemas, schema);
        let mut allowed = BTreeSet::new();
        match &schema["type"] {
            Value::String(name) => {
                allowed.insert(name.clone());
            }
            Value::Array(names) => {
                allowed.extend(names.iter().filter_map(|n| n.as_str().map(str::to_owned)));
            }
            _ => {}
        }
        for member in ["oneOf", "anyOf"] {
            for option in schema[member].as_array().into_iter().flatten() {
                allowed.extend(allowed_types(schemas, option));
            }
        }
        allowed
    }

    fn json_type(value: &Value) -> &'static str {
        match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// `value` is valid under the object schema `name`: the same keys, every required
    /// key present, every value of a declared type (and nested objects and arrays the
    /// same, through their schemas).
    fn check_value(schemas: &Value, schema: &Value, value: &Value, at: &str) -> TestResult {
        let schema = resolve(schemas, schema);
        let allowed = allowed_types(schemas, schema);
        let actual = json_type(value);
        let fits = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"));
        if !fits {
            return Err(format!("{at}: {value} is {actual}, the schema allows {allowed:?}").into());
        }
        if let Value::Object(fields) = value {
            let properties = schema["properties"]
                .as_object()
                .ok_or_else(|| format!("{at}: no properties in {schema}"))?;
            let keys: BTreeSet<&str> = fields.keys().map(String::as_str).collect();
            let declared: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
            if keys != declared {
                return Err(
                    format!("{at}: serde writes {keys:?}, the schema has {declared:?}").into(),
                );
            }
            for (key, field) in fields {
                check_value(schemas, &properties[key], field, &format!("{at}.{key}"))?;
            }
        }
        if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
            for (index, item) in items.iter().enumerate() {
                check_value(schemas, item_schema, item, &format!("{at}[{index}]"))?;
            }
        }
        Ok(())
    }

    fn required(schemas: &Value, name: &str) -> BTreeSet<String> {
        schemas[name]["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|key| key.as_str().map(str::to_owned))
            .collect()
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|fields| fields.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// An output type: `full` (every optional field set) and `bare` (every optional
    /// field `None`) fit the schema `name`, whose required keys are those serde always
    /// writes.
    fn check_output<T: Serialize>(name: &str, full: &T, bare: &T) -> TestResult {
        let schemas = schemas()?;
        let schema = &schemas[name];
        let (full, bare) = (serde_json::to_value(full)?, serde_json::to_value(bare)?);
        check_value(&schemas, schema, &full, name)?;
        check_value(&schemas, schema, &bare, name)?;
        assert_eq!(
            required(&schemas, name),
            keys(&bare),
            "{name}: required keys"
        );
        Ok(())
    }

    /// An input type: `full` (every field set, serialized by serde) fits the schema
    /// `name`; taking any one key out of it is refused by serde exactly when the
    /// schema says the key is required; an unknown key is refused exactly when the
    /// schema says `additionalProperties: false`.
    fn check_input<T: Serialize + DeserializeOwned>(name: &str, full: &T) -> TestResult {
        let schemas = schemas()?;
        let full = serde_json::to_value(full)?;
        check_value(&schemas, &schemas[name], &full, name)?;
        let required = required(&schemas, name);
        for key in keys(&full) {
            let mut without = full.clone();
            if let Some(fields) = without.as_object_mut() {
                fields.remove(&key);
            }
            let refused = serde_json::from_value::<T>(without).is_err();
            assert_eq!(refused, required.contains(&key), "{name}: without `{key}`");
        }
        let mut extra = full.clone();
        if let Some(fields) = extra.as_object_mut() {
            fields.insert("unknown_key".into(), json!(1));
        }
        let refused = serde_json::from_value::<T>(extra).is_err();
        let closed = schemas[name]["additionalProperties"] == json!(false);
        assert_eq!(refused, closed, "{name}: an unknown key");
        Ok(())
    }

    /// The variants serde knows of an enum of unit variants, from its own error message
    /// for an unknown one: every variant, even of a `#[non_exhaustive]` enum.
    fn serde_variants<T: DeserializeOwned>() -> Result<BTreeSet<String>, String> {
        let error = match serde_json::from_value::<T>(json!("no such variant")) {
            Ok(_) => return Err("an unknown variant was accepted".into()),
            Err(error) => error.to_string(),
        };
        // "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, `c`": every
        // name in backquotes after "expected".
        let (_, list) = error
            .split_once("expected ")
            .ok_or_else(|| format!("unexpected message: {error}"))?;
        let variants: BTreeSet<String> = list
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        if variants.is_empty() {
            return Err(format!("no variants in: {error}"));
        }
        Ok(variants)
    }

    fn schema_enum(schemas: &Value, name: &str) -> BTreeSet<String> {
        schemas[name]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|value| value.as_str().map(str::to_owned))
            .collect()
    }

    fn author() -> Author {
        Author {
            id: AuthorId(7),
            name: "Frank Herbert".into(),
            version: Version(2),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: Utc::now(),
        }
    }

    fn book(isbn: Option<&str>, year: Option<i32>) -> Book {
        Book {
            id: BookId(3),
            title: "Dune".into(),
            author_id: AuthorId(7),
            isbn: isbn.map(str::to_owned),
            published_year: year,
            version: Version(1),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn rows_fit_their_mirrors() -> TestResult {
        check_output("Author", &author(), &author())?;
        let full = book(Some("9780441172719"), Some(1965));
        check_output("Book", &full, &book(None, None))?;
        let shelf = AuthorWithBooks {
            author: author(),
            books: vec![full.clone()],
        };
        check_output("AuthorWithBooks", &shelf, &shelf)
    }

    #[test]
    fn pages_and_health_fit_their_schemas() -> TestResult {
        let authors = crate::KeysetPage::new(vec![author()], 1, |a| a.id.0);
        let last = crate::KeysetPage::new(vec![author()], 2, |a| a.id.0);
        check_output("AuthorPage", &authors, &last)?;
        let shelf = AuthorWithBooks {
            author: author(),
            books: vec![book(None, Some(1965))],
        };
        let full = crate::KeysetPage::new(vec![shelf.clone()], 1, |e| e.author.id.0);
        let last = crate::KeysetPage::new(vec![shelf], 2, |e| e.author.id.0);
        check_output("ShelfPage", &full, &last)?;
        let books = crate::OffsetPage::new(vec![book(None, None)], 1, 0);
        let last = crate::OffsetPage::new(vec![book(None, None)], 2, 0);
        check_output("BookPage", &books, &last)?;
        let health = crate::HealthBody {
            status: crate::HealthStatus::Ok,
            pool: crate::PoolHealth {
                connections: 2,
                idle_connections: 1,
            },
            statements: 10,
            db_calls_in_flight: 0,
            migrations: vec!["2026-01-01-000000_create".into()],
        };
        check_output("Health", &health, &health)
    }

    #[test]
    fn bodies_fit_their_mirrors() -> TestResult {
        check_input("NewAuthor", &NewAuthor::new("Ann"))?;
        let new_book = NewBook::new(AuthorId(1), "Dune")
            .isbn("0-441-17271-7")
            .published_year(1965);
        check_input("NewBook", &new_book)?;
        let changes = BookChanges::new()
            .title("Dune")
            .isbn("0-441-17271-7")
            .published_year(1965);
        check_input("BookChanges", &changes)?;
        check_input("AuthorChanges", &crate::AuthorChanges { name: "Bo".into() })?;
        // `null` clears, in the real type as in the schema (which allows it).
        let cleared: BookChanges =
            serde_json::from_value(json!({ "isbn": null, "published_year": null }))?;
        assert_eq!(
            cleared,
            BookChanges::new().clear_isbn().clear_published_year()
        );
        let schemas = schemas()?;
        for key in ["isbn", "published_year"] {
            let types = allowed_types(&schemas, &schemas["BookChanges"]["properties"][key]);
            assert!(types.contains("null"), "BookChanges.{key}: {types:?}");
        }
        Ok(())
    }

    #[test]
    fn enums_list_every_variant_serde_knows() -> TestResult {
        let schemas = schemas()?;
        assert_eq!(
            serde_variants::<BookOrder>()?,
            schema_enum(&schemas, "BookOrder")
        );
        assert_eq!(
            serde_variants::<Direction>()?,
            schema_enum(&schemas, "Direction")
        );
        assert_eq!(
            serde_variants::<crate::Include>()?,
            schema_enum(&schemas, "Include")
        );
        // And each value of the schema is one serde reads and writes back the same.
        for value in schema_enum(&schemas, "BookOrder") {
            let order: BookOrder = serde_json::from_value(json!(value))?;
            assert_eq!(serde_json::to_value(order)?, json!(value));
        }
        Ok(())
    }

    #[test]
    fn problem_schema_is_what_an_error_sends() -> TestResult {
        let schemas = schemas()?;
        let kinds = schema_enum(&schemas, "Kind");
        for kind in Kind::ALL {
            let problem = crate::error::Problem::of(kind, "what happened");
            let value = serde_json::to_value(&problem)?;
            check_value(&schemas, &schemas["Problem"], &value, "Problem")?;
            assert_eq!(required(&schemas, "Problem"), keys(&value));
            assert!(kinds.contains(kind.as_str()), "{kind}");
        }
        assert_eq!(kinds.len(), Kind::ALL.len());
        Ok(())
    }
}
