use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::BigInt;

/// Defines a newtype over `i64` that diesel reads and writes as `BigInt` on any
/// backend, so that an `AuthorId` can never be passed where a `BookId` (or a
/// `Version`) is meant.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = BigInt)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl<DB: Backend> ToSql<BigInt, DB> for $name
        where
            i64: ToSql<BigInt, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.0.to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<BigInt, DB> for $name
        where
            i64: FromSql<BigInt, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                i64::from_sql(bytes).map(Self)
            }
        }
    };
}

id_type! {
    /// The id of an [`Author`](crate::Author).
    ///
    /// ```
    /// use bookshelf::AuthorId;
    ///
    /// let id = AuthorId::from(7);
    /// assert_eq!(id.to_string(), "7");
    /// assert_eq!(i64::from(id), 7);
    /// ```
    AuthorId
}

id_type! {
    /// The id of a [`Book`](crate::Book).
    ///
    /// A distinct type from [`AuthorId`], so mixing the two up does not compile:
    ///
    /// ```compile_fail
    /// # fn main() -> bookshelf::Result<()> {
    /// let repo = bookshelf::Repository::in_memory()?;
    /// repo.books_by_author(bookshelf::BookId(1))?;
    /// # Ok(())
    /// # }
    /// ```
    BookId
}

id_type! {
    /// The version of a row: 1 when it is created, one more with every update (the
    /// database raises it, for every writer). Pass the version you read to an `_if`
    /// operation ([`Repository::update_book_if`](crate::Repository::update_book_if)) to
    /// write only if nobody changed the row meanwhile.
    ///
    /// ```
    /// use bookshelf::Version;
    ///
    /// let version: Version = "3".parse().map_err(|_| "not a version")?;
    /// assert_eq!(version, Version(3));
    /// assert_eq!(version.to_string(), "3");
    /// # Ok::<(), &str>(())
    /// ```
    Version
}

impl Version {
    /// The version of a row just created.
    pub const FIRST: Version = Version(1);
}
