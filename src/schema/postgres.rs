// @generated automatically by Diesel CLI.

diesel::table! {
    authors (id) {
        id -> Int8,
        name -> Text,
    }
}

diesel::table! {
    books (id) {
        id -> Int8,
        title -> Text,
        author_id -> Int8,
        isbn -> Nullable<Text>,
        published_year -> Nullable<Int4>,
    }
}

diesel::joinable!(books -> authors (author_id));

diesel::allow_tables_to_appear_in_same_query!(authors, books,);
