// @generated automatically by Diesel CLI.

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
    books (id) {
        id -> Int8,
        title -> Text,
        author_id -> Int8,
        isbn -> Nullable<Text>,
        published_year -> Nullable<Int4>,
        version -> Int8,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(books -> authors (author_id));

diesel::allow_tables_to_appear_in_same_query!(authors, books,);
