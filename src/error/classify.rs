//! Where errors come from: diesel's errors classified into the crate's variants (the one
//! place that reads a database error's kind and constraint), and the copy of an error
//! that a transaction hands out twice.

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind};

use super::{Entity, Error};

impl Error {
    /// A copy of this error with the same variant, kind and message, for the one place
    /// that must hand an error out twice (to a transaction's closure, and as the result
    /// of the transaction it ended). Errors that cannot be copied exactly (a pool or
    /// connection error, a deserialization error) become an [`Error::Database`] that
    /// keeps their message.
    pub(crate) fn replicate(&self) -> Error {
        use diesel::result::Error as E;
        match self {
            Error::NotFound(missing) => Error::NotFound(*missing),
            Error::Validation { field, message } => Error::validation(field, message.clone()),
            Error::InvalidRow { index, error } => Error::InvalidRow {
                index: *index,
                error: Box::new(error.replicate()),
            },
            Error::Conflict {
                entity,
                field,
                source,
            } => Error::Conflict {
                entity: *entity,
                field,
                source: source
                    .as_deref()
                    .map(|source| Box::new(replicate_database(source))),
            },
            Error::IdsExhausted(entity) => Error::IdsExhausted(*entity),
            Error::NotWritten(entity) => Error::NotWritten(*entity),
            Error::TransactionAborted => Error::TransactionAborted,
            Error::NestedCall => Error::NestedCall,
            Error::UnsupportedUrl(message) => Error::UnsupportedUrl(message.clone()),
            Error::Database(error) => Error::Database(replicate_database(error)),
            Error::CommitUnknown(error) => Error::CommitUnknown(replicate_database(error)),
            other => Error::Database(E::QueryBuilderError(other.to_string().into())),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match error {
            E::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info) => {
                let (entity, field) = conflict_target(info.as_ref());
                Error::Conflict {
                    entity,
                    field,
                    source: Some(Box::new(error)),
                }
            }
            E::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                let (_, field) = conflict_target(info.as_ref());
                Error::validation(field, "rejected by a database CHECK constraint")
            }
            // MariaDB's CHECK failure (4025, "CONSTRAINT `books_isbn_check` failed for
            // `db`.`books`"), which diesel, knowing MySQL's number (3819) only, leaves
            // without a kind.
            E::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().starts_with("CONSTRAINT `")
                    && info.message().contains("` failed for ") =>
            {
                let (_, field) = conflict_target(info.as_ref());
                Error::validation(field, "rejected by a database CHECK constraint")
            }
            other => Error::Database(other),
        }
    }
}

impl Error {
    /// This error, with a clash on an unnamed primary key placed on `entity`: the kind
    /// of row of the one table the failed statement wrote. MariaDB's duplicate-entry
    /// message names every table's primary key alike (`for key 'PRIMARY'`), so the
    /// message alone cannot tell an author's id from a book's; the operation that ran
    /// the statement can. Any other error is returned as it is.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub(crate) fn in_table(self, entity: Entity) -> Error {
        match self {
            Error::Conflict {
                field: "id",
                source: Some(source),
                ..
            } if names_unqualified_primary_key(&source) => Error::Conflict {
                entity,
                field: "id",
                source: Some(source),
            },
            Error::InvalidRow { index, error } => Error::InvalidRow {
                index,
                error: Box::new(error.in_table(entity)),
            },
            other => other,
        }
    }
}

/// True for a duplicate-entry error on a primary key that the message does not place
/// in a table (MariaDB's `… for key 'PRIMARY'`; MySQL 8 writes `'authors.PRIMARY'`).
fn names_unqualified_primary_key(error: &diesel::result::Error) -> bool {
    match error {
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            mysql_key(info.message()) == Some("PRIMARY")
        }
        _ => false,
    }
}

impl From<r2d2::Error> for Error {
    fn from(error: r2d2::Error) -> Self {
        Error::Pool(error)
    }
}

impl From<diesel::ConnectionError> for Error {
    fn from(error: diesel::ConnectionError) -> Self {
        Error::Connection(error)
    }
}

/// A copy of a diesel error with the same kind and message (see [`Error::replicate`]).
fn replicate_database(error: &diesel::result::Error) -> diesel::result::Error {
    use diesel::result::Error as E;
    match error {
        E::DatabaseError(kind, info) => {
            E::DatabaseError(*kind, Box::new(CopiedInfo::of(info.as_ref())))
        }
        E::NotFound => E::NotFound,
        other => E::QueryBuilderError(other.to_string().into()),
    }
}

/// The details of a database error, copied (see [`Error::replicate`]).
#[derive(Debug)]
struct CopiedInfo {
    message: String,
    details: Option<String>,
    hint: Option<String>,
    table_name: Option<String>,
    column_name: Option<String>,
    constraint_name: Option<String>,
    statement_position: Option<i32>,
}

impl CopiedInfo {
    fn of(info: &dyn DatabaseErrorInformation) -> Self {
        Self {
            message: info.message().to_owned(),
            details: info.details().map(str::to_owned),
            hint: info.hint().map(str::to_owned),
            table_name: info.table_name().map(str::to_owned),
            column_name: info.column_name().map(str::to_owned),
            constraint_name: info.constraint_name().map(str::to_owned),
            statement_position: info.statement_position(),
        }
    }
}

impl DatabaseErrorInformation for CopiedInfo {
    fn message(&self) -> &str {
        &self.message
    }
    fn details(&self) -> Option<&str> {
        self.details.as_deref()
    }
    fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    fn table_name(&self) -> Option<&str> {
        self.table_name.as_deref()
    }
    fn column_name(&self) -> Option<&str> {
        self.column_name.as_deref()
    }
    fn constraint_name(&self) -> Option<&str> {
        self.constraint_name.as_deref()
    }
    fn statement_position(&self) -> Option<i32> {
        self.statement_position
    }
}

/// Names the entity and field a constraint error is about. PostgreSQL reports the
/// constraint's name; SQLite only a message such as `UNIQUE constraint failed: books.isbn`,
/// so both are searched, most specific column first.
fn conflict_target(info: &dyn DatabaseErrorInformation) -> (Entity, &'static str) {
    let text = info
        .constraint_name()
        .or_else(|| mysql_key(info.message()))
        .unwrap_or_else(|| info.message());
    let entity = if text.contains("authors") {
        Entity::Author
    } else {
        Entity::Book
    };
    // A primary key: PostgreSQL names the constraint `authors_pkey`, SQLite the
    // column `authors.id`.
    let field = ["isbn", "published_year", "title", "name"]
        .into_iter()
        .find(|field| text.contains(field))
        .unwrap_or("id");
    (entity, field)
}

/// The key or constraint a MySQL message names, so that the values it quotes (a title
/// holding "isbn", say) are not searched: `… for key 'books_isbn_key'` (MySQL 8 writes
/// `'books.books_isbn_key'`), or `CONSTRAINT `books_isbn_check` failed for …`.
fn mysql_key(message: &str) -> Option<&str> {
    if let Some((_, key)) = message.rsplit_once(" for key '") {
        return key.strip_suffix('\'');
    }
    message
        .strip_prefix("CONSTRAINT `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_messages_name_their_key_not_the_values() {
        let cases = [
            (
                "Duplicate entry '7-isbn of authors' for key 'books_author_id_title_key'",
                Some("books_author_id_title_key"),
            ),
            (
                "Duplicate entry '9780306406157' for key 'books.books_isbn_key'",
                Some("books.books_isbn_key"),
            ),
            (
                "CONSTRAINT `authors_name_check` failed for `db`.`authors`",
                Some("authors_name_check"),
            ),
            ("UNIQUE constraint failed: books.isbn", None),
        ];
        for (message, key) in cases {
            assert_eq!(mysql_key(message), key, "{message}");
        }
    }

    fn duplicate(message: &str) -> Error {
        Error::from(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn an_unnamed_primary_key_clash_is_placed_on_the_table_written() {
        let entity_of = |error: Error| match error {
            Error::Conflict { entity, field, .. } => Some((entity, field)),
            Error::InvalidRow { error, .. } => match *error {
                Error::Conflict { entity, field, .. } => Some((entity, field)),
                _ => None,
            },
            _ => None,
        };
        let primary = "Duplicate entry '1' for key 'PRIMARY'";
        assert_eq!(
            entity_of(duplicate(primary).in_table(Entity::Author)),
            Some((Entity::Author, "id"))
        );
        assert_eq!(
            entity_of(duplicate(primary).in_table(Entity::Book)),
            Some((Entity::Book, "id"))
        );
        let in_a_row = Error::InvalidRow {
            index: 2,
            error: Box::new(duplicate(primary)),
        };
        assert_eq!(
            entity_of(in_a_row.in_table(Entity::Author)),
            Some((Entity::Author, "id"))
        );
        // A key the message names keeps the table it names.
        let isbn = "Duplicate entry '9780306406157' for key 'books_isbn_key'";
        assert_eq!(
            entity_of(duplicate(isbn).in_table(Entity::Author)),
            Some((Entity::Book, "isbn"))
        );
        let qualified = "Duplicate entry '1' for key 'authors.PRIMARY'";
        assert_eq!(
            entity_of(duplicate(qualified).in_table(Entity::Book)),
            Some((Entity::Author, "id"))
        );
    }
}
