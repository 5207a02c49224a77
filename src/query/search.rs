//! The words of a full-text search ([`BookFilter::matching`](super::BookFilter::matching)):
//! the user's text is words, never query syntax.

/// A search text beyond this many words finds nothing (a title of 500 characters holds
/// at most 250 words; the limit keeps a pasted page from becoming a huge query).
pub(crate) const MAX_WORDS: usize = 1_000;

/// The words of a search text, as each backend's full-text engine is given them.
///
/// The text is cut at white space and at control characters (NUL included, which
/// neither engine takes); each piece that holds a letter or a digit is a word. What a
/// word holds besides (quotes, `*`, `^`, `:`, `-`, parentheses) never acts as syntax:
/// SQLite gets every word as an FTS5 string (`"word"`, a `"` in it doubled), which its
/// tokenizer splits like the titles, and PostgreSQL gets the words as the plain text of
/// `plainto_tsquery`, which reads no operators. `AND`, `OR`, `NOT` and `NEAR` are words
/// like any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Search {
    words: Vec<String>,
}

impl Search {
    /// The words of `text`; `None` when it has none, has more than [`MAX_WORDS`], or
    /// has a word longer than a title can be: then no book can match.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut words: Vec<String> = Vec::new();
        for piece in text.split(|c: char| c.is_whitespace() || c.is_control()) {
            if !piece.chars().any(char::is_alphanumeric) {
                continue;
            }
            if piece.chars().count() > crate::validate::MAX_TEXT_CHARS {
                return None;
            }
            if !words.iter().any(|word| word == piece) {
                if words.len() == MAX_WORDS {
                    return None;
                }
                words.push(piece.to_owned());
            }
        }
        (!words.is_empty()).then_some(Self { words })
    }

    /// The words as an FTS5 query: each an FTS5 string, all of them required.
    pub(crate) fn fts5(&self) -> String {
        let mut query = String::new();
        for word in &self.words {
            if !query.is_empty() {
                query.push(' ');
            }
            query.push('"');
            query.push_str(&word.replace('"', "\"\""));
            query.push('"');
        }
        query
    }

    /// The words, in the order of the text, each once.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    pub(crate) fn words(&self) -> &[String] {
        &self.words
    }

    /// The words as plain text, one space between them (PostgreSQL's
    /// `plainto_tsquery` requires every word it finds in it).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn plain(&self) -> String {
        self.words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_is_quoted_and_pieces_without_letters_are_dropped() {
        let search =
            Search::parse(" \"Dune\" AND -messiah* (NEAR) ^x:y \u{0} ' -- ").map(|s| s.fts5());
        assert_eq!(
            search.as_deref(),
            Some(r#""""Dune""" "AND" "-messiah*" "(NEAR)" "^x:y""#)
        );
        let plain = Search::parse("a\u{0}b\tc  a").map(|s| s.plain());
        assert_eq!(plain.as_deref(), Some("a b c"));
    }

    #[test]
    fn a_text_of_no_words_or_too_many_finds_nothing() {
        for text in ["", "   ", "\"", "-- * ()", "\u{0}"] {
            assert_eq!(Search::parse(text), None, "{text:?}");
        }
        let many: Vec<String> = (0..=MAX_WORDS).map(|i| format!("w{i}")).collect();
        assert_eq!(Search::parse(&many.join(" ")), None);
        assert!(Search::parse(&many[..MAX_WORDS].join(" ")).is_some());
        assert_eq!(Search::parse(&"x".repeat(501)), None);
    }
}
