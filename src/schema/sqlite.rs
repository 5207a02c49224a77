// @generated automatically by Diesel CLI.

diesel::table! {
    authors (id) {
        id -> BigInt,
        name -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    books (id) {
        id -> BigInt,
        title -> Text,
        author_id -> BigInt,
        isbn -> Nullable<Text>,
        published_year -> Nullable<Integer>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(books -> authors (author_id));

diesel::allow_tables_to_appear_in_same_query!(authors, books,);
