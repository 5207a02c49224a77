// @generated automatically by Diesel CLI.

diesel::table! {
    authors (id) {
        id -> Bigint,
        #[max_length = 500]
        name -> Varchar,
        version -> Bigint,
        created_at -> Datetime,
        updated_at -> Datetime,
    }
}

diesel::table! {
    books (id) {
        id -> Bigint,
        #[max_length = 500]
        title -> Varchar,
        author_id -> Bigint,
        #[max_length = 13]
        isbn -> Nullable<Varchar>,
        published_year -> Nullable<Integer>,
        version -> Bigint,
        created_at -> Datetime,
        updated_at -> Datetime,
        #[max_length = 500]
        title_search -> Nullable<Varchar>,
    }
}

diesel::joinable!(books -> authors (author_id));

diesel::allow_tables_to_appear_in_same_query!(authors, books,);
