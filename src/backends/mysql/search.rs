//! Full-text search on MySQL: migration 3's generated column `books.title_search` (the
//! title in a case- and accent-insensitive collation, apostrophes as spaces) and its
//! InnoDB `FULLTEXT` index, queried in boolean mode with every word required.
//!
//! What differs from the other backends: InnoDB indexes no word shorter than the
//! server's `innodb_ft_min_token_size` (3 by default), so shorter words of a search are
//! left out of it (a search of only such words finds nothing); and InnoDB applies a
//! transaction's changes to the index when it commits, so a search inside a
//! transaction does not see the titles that transaction wrote.

use diesel::mysql::{Mysql, MysqlConnection};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double};

use crate::backend::Backend;
use crate::models::Book;
use crate::query::filtered::{book_conditions, book_order, Criteria, FilteredBooks, RankedSearch};
use crate::query::search::Search;
use crate::query::{BookOrder, Direction};
use crate::schema::books;
use crate::sql::bound_text;

/// The shortest word InnoDB indexes by default (`innodb_ft_min_token_size`).
const MIN_WORD_CHARS: usize = 3;

/// The search condition around its bound query.
const MATCHES: (&str, &str) = (
    "(MATCH (`books`.`title_search`) AGAINST (",
    " IN BOOLEAN MODE) > 0)",
);

/// The relevance around its bound query: larger for a better match.
const RANK: (&str, &str) = (
    "MATCH (`books`.`title_search`) AGAINST (",
    " IN BOOLEAN MODE)",
);

/// The words as a boolean-mode query: each one a required phrase (`+"word"`), so that
/// nothing in it acts as an operator (a `"` inside a word becomes a space, which splits
/// it as InnoDB's parser splits titles); `None` when no word is long enough to be
/// indexed.
fn boolean_query(search: &Search) -> Option<String> {
    let mut query = String::new();
    for word in search.words() {
        if word.chars().filter(|c| c.is_alphanumeric()).count() < MIN_WORD_CHARS {
            continue;
        }
        if !query.is_empty() {
            query.push(' ');
        }
        query.push_str("+\"");
        query.push_str(&word.replace('"', " "));
        query.push('"');
    }
    (!query.is_empty()).then_some(query)
}

/// The books whose titles hold every word of `search`, with the rest of `criteria`,
/// best first.
fn ranked(criteria: &Criteria<'_>, query: String) -> FilteredBooks<Mysql> {
    let mut books_query = books::table
        .select(Book::as_select())
        .into_boxed()
        .filter(bound_text::<Bool>(MATCHES.0, query.clone(), MATCHES.1));
    book_conditions!(
        books_query,
        criteria,
        <MysqlConnection as Backend>::title_like
    );
    let rank = || bound_text::<Double>(RANK.0, query.clone(), RANK.1);
    match (criteria.filter.order, criteria.filter.direction) {
        (BookOrder::Relevance, Direction::Ascending) => {
            books_query.order((rank().desc(), books::id.asc()))
        }
        (BookOrder::Relevance, Direction::Descending) => {
            books_query.order((rank().asc(), books::id.desc()))
        }
        _ => {
            let mut books_query = books_query;
            book_order!(books_query, criteria.filter);
            books_query
        }
    }
}

impl RankedSearch for MysqlConnection {
    fn ranked_books(
        &mut self,
        criteria: &Criteria<'_>,
        search: &Search,
    ) -> crate::error::Result<Vec<Book>> {
        match boolean_query(search) {
            Some(query) => Ok(ranked(criteria, query).load(self)?),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_long_enough_word_is_a_required_phrase() {
        let query = Search::parse("L'École \"des\" -femmes* le x")
            .and_then(|search| boolean_query(&search));
        assert_eq!(query.as_deref(), Some(r#"+"L'École" +" des " +"-femmes*""#));
        assert_eq!(Search::parse("le à").and_then(|s| boolean_query(&s)), None);
    }
}
