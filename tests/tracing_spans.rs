//! Every operation is a `tracing` span named after it, with OpenTelemetry's database
//! fields, and the operations of a transaction are children of its span.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bookshelf::{Error, NewAuthor, NewBook, Page};
use common::{backend_tests, Backend, TestDb, TestResult};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as it closed: its name, its parent's name, and every field recorded on it.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: String,
    parent: Option<String>,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Collects the spans of target `bookshelf`, in the order they closed.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Seen>>>);

impl Spans {
    fn closed(&self) -> Vec<Seen> {
        self.0.lock().map(|seen| seen.clone()).unwrap_or_default()
    }

    /// Runs `f` with this collector as the thread's subscriber.
    fn around<T>(&self, f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, f)
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.metadata().target() != "bookshelf" {
            return;
        }
        let mut seen = Seen {
            name: span.name().to_owned(),
            parent: span.parent().map(|parent| parent.name().to_owned()),
            fields: BTreeMap::new(),
        };
        attrs.record(&mut Fields(&mut seen.fields));
        span.extensions_mut().insert(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(seen) = span.extensions_mut().get_mut::<Seen>() {
                values.record(&mut Fields(&mut seen.fields));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            if let Some(seen) = span.extensions_mut().remove::<Seen>() {
                if let Ok(mut closed) = self.0.lock() {
                    closed.push(seen);
                }
            }
        }
    }
}

fn db_system(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
        Backend::Mysql => "mysql",
    }
}

backend_tests! {
    /// A lookup is one span named after it, with the backend, the operation and the
    /// rows it returned.
    fn each_operation_is_a_span_with_the_database_fields(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let author = db.repo.create_author(&NewAuthor::new("Ursula K. Le Guin"))?;
        db.repo.create_books(&[
            NewBook::new(author.id, "The Dispossessed"),
            NewBook::new(author.id, "The Lathe of Heaven"),
        ])?;
        let spans = Spans::default();
        spans.around(|| -> TestResult {
            db.repo.books_by_author(author.id)?;
            db.repo.author(author.id)?;
            db.repo.list_authors(Page::first(10))?;
            Ok(())
        })?;
        let closed = spans.closed();
        let names: Vec<&str> = closed.iter().map(|seen| seen.name.as_str()).collect();
        assert_eq!(names, ["books_by_author", "author", "list_authors"]);
        for (seen, rows) in closed.iter().zip(["2", "1", "1"]) {
            assert_eq!(seen.field("db.system"), Some(db_system(backend)), "{seen:?}");
            assert_eq!(seen.field("db.operation"), Some(seen.name.as_str()), "{seen:?}");
            assert_eq!(seen.field("db.response.returned_rows"), Some(rows), "{seen:?}");
            assert_eq!(seen.field("otel.status_code"), None, "{seen:?}");
        }
        Ok(())
    }

    /// A failed operation's span says so, with the error's message.
    fn a_failed_operation_marks_its_span_as_an_error(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let spans = Spans::default();
        let result = spans.around(|| db.repo.delete_author(bookshelf::AuthorId(404)));
        assert!(matches!(result, Err(Error::NotFound { .. })), "{result:?}");
        let closed = spans.closed();
        let [seen] = closed.as_slice() else {
            return Err(format!("one span expected, got {closed:?}").into());
        };
        assert_eq!(seen.name, "delete_author");
        assert_eq!(seen.field("otel.status_code"), Some("ERROR"));
        assert_eq!(seen.field("error.message"), Some("author 404 not found"));
        assert_eq!(seen.field("db.response.returned_rows"), None);
        Ok(())
    }

    /// The operations of a transaction are children of its span.
    fn a_transactions_operations_are_its_children(backend: Backend) -> TestResult {
        let db = TestDb::open(backend)?;
        let spans = Spans::default();
        spans.around(|| {
            db.repo.transaction(|tx| {
                let author = tx.create_author(&NewAuthor::new("Octavia E. Butler"))?;
                tx.create_book(&NewBook::new(author.id, "Kindred"))?;
                tx.count_books()
            })
        })?;
        let closed = spans.closed();
        let family: Vec<(&str, Option<&str>)> = closed
            .iter()
            .map(|seen| (seen.name.as_str(), seen.parent.as_deref()))
            .collect();
        assert_eq!(
            family,
            [
                ("create_author", Some("transaction")),
                ("create_book", Some("transaction")),
                ("count_books", Some("transaction")),
                ("transaction", None),
            ]
        );
        Ok(())
    }
}
