// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    authors (id) {
        id -> Int8,
        name -> Text,
        version -> Int8,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Tsvector;

    books (id) {
        id -> Int8,
        title -> Text,
        author_id -> Int8,
        isbn -> Nullable<Text>,
        published_year -> Nullable<Int4>,
        version -> Int8,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        title_search -> Nullable<Tsvector>,
    }
}

diesel::joinable!(books -> authors (author_id));

diesel::allow_tables_to_appear_in_same_query!(authors, books,);
