//! The data model's rules, checked in Rust before any SQL runs. The migrations repeat
//! them as CHECK constraints.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::models::{AuthorRow, BookChanges, BookChangeset, BookRow, NewAuthor, NewBook};

/// The longest name or title, in characters (not bytes).
pub const MAX_TEXT_CHARS: usize = 500;

/// The earliest accepted `published_year`.
pub const MIN_YEAR: i32 = -3000;

pub(crate) fn author(new: &NewAuthor) -> Result<AuthorRow> {
    Ok(AuthorRow {
        name: text("name", &new.name)?.to_owned(),
    })
}

pub(crate) fn book(new: &NewBook) -> Result<BookRow> {
    Ok(BookRow {
        author_id: new.author_id,
        title: text("title", &new.title)?.to_owned(),
        isbn: new.isbn.as_deref().map(isbn).transpose()?,
        published_year: new.published_year.map(published_year).transpose()?,
    })
}

pub(crate) fn changes(changes: &BookChanges) -> Result<BookChangeset<'_>> {
    Ok(BookChangeset {
        title: changes
            .title
            .as_deref()
            .map(|title| text("title", title))
            .transpose()?,
        isbn: match &changes.isbn {
            Some(value) => Some(value.as_deref().map(isbn).transpose()?),
            None => None,
        },
        published_year: match changes.published_year {
            Some(value) => Some(value.map(published_year).transpose()?),
            None => None,
        },
    })
}

/// A name or title: trimmed, with at least one visible character, at most
/// [`MAX_TEXT_CHARS`] characters, no NUL. Lookups by name or title normalise their input
/// with [`stored_text`], which is this function, so that whatever a write accepted the
/// lookup with the same string finds.
pub(crate) fn text<'a>(field: &'static str, value: &'a str) -> Result<&'a str> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    if is_short_printable_ascii(trimmed) {
        return Ok(trimmed);
    }
    if !trimmed.chars().any(is_visible) {
        return Err(Error::validation(
            field,
            "must hold a visible character, not only invisible ones",
        ));
    }
    if trimmed.contains('\0') {
        return Err(Error::validation(field, "must not contain NUL characters"));
    }
    if too_long(trimmed) {
        return Err(Error::validation(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(trimmed)
}

/// True for text that passes every rule of [`text`] by its bytes alone, the common
/// case, checked in one pass: printable ASCII (no NUL, no control character) whose
/// first byte, not a space once trimmed, is visible, and at most [`MAX_TEXT_CHARS`]
/// bytes, so as many characters at most.
fn is_short_printable_ascii(trimmed: &str) -> bool {
    trimmed.len() <= MAX_TEXT_CHARS && trimmed.bytes().all(|byte| matches!(byte, b' '..=b'~'))
}

/// `value` as a write would store it, or `None` when a write would refuse it (then no
/// stored name or title can equal it).
pub(crate) fn stored_text(value: &str) -> Option<&str> {
    text("text", value).ok()
}

/// False when `text` cannot occur inside any valid name or title (too long, or holding
/// a NUL).
pub(crate) fn could_be_in_text(text: &str) -> bool {
    !text.contains('\0') && !too_long(text)
}

/// A character that shows: not white space, not a control character, and not one of
/// Unicode's default-ignorable code points (zero-width spaces and joiners, word
/// joiners, the byte order mark, bidirectional controls, variation selectors, fillers,
/// tags), which render as nothing.
fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !is_default_ignorable(c)
}

/// Unicode's `Default_Ignorable_Code_Point` property (DerivedCoreProperties.txt,
/// Unicode 15), unassigned code points included.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// More than [`MAX_TEXT_CHARS`] characters. No more bytes than that means no more
/// characters, so most texts are not counted at all; counting stops early, so a
/// megabyte of input costs no more than 501 characters.
fn too_long(text: &str) -> bool {
    text.len() > MAX_TEXT_CHARS && text.chars().nth(MAX_TEXT_CHARS).is_some()
}

/// Accepts ISBN-10 or ISBN-13 with hyphens or spaces and a valid check digit; returns
/// the 13 digits of the ISBN-13.
pub(crate) fn isbn(value: &str) -> Result<String> {
    let invalid = |message: &str| Error::validation("isbn", message);
    let chars: Vec<char> = value
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match chars.len() {
        10 => {
            let mut sum = 0;
            for (position, c) in chars.iter().enumerate() {
                let digit = match (c.to_digit(10), *c) {
                    (Some(digit), _) => digit,
                    (None, 'X') if position == 9 => 10,
                    _ => return Err(invalid("an ISBN-10 has 9 digits then a digit or X")),
                };
                sum += digit * (10 - position as u32);
            }
            if sum % 11 != 0 {
                return Err(invalid("wrong check digit"));
            }
            let body = format!("978{}", chars[..9].iter().collect::<String>());
            let check = isbn13_check_digit(&body);
            Ok(format!("{body}{check}"))
        }
        13 => {
            if !chars.iter().all(char::is_ascii_digit) {
                return Err(invalid("an ISBN-13 has only digits"));
            }
            let digits: String = chars.iter().collect();
            if !digits.starts_with("978") && !digits.starts_with("979") {
                return Err(invalid("an ISBN-13 starts with 978 or 979"));
            }
            if isbn13_check_digit(&digits[..12]) != digits.as_bytes()[12] - b'0' {
                return Err(invalid("wrong check digit"));
            }
            Ok(digits)
        }
        _ => Err(invalid(
            "must have 10 or 13 characters besides hyphens and spaces",
        )),
    }
}

/// The check digit of the 12 ASCII digits in `body`.
fn isbn13_check_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// From [`MIN_YEAR`] to next year.
pub(crate) fn published_year(year: i32) -> Result<i32> {
    let max = current_year() + 1;
    if (MIN_YEAR..=max).contains(&year) {
        Ok(year)
    } else {
        Err(Error::validation(
            "published_year",
            format!("must be between {MIN_YEAR} and {max}"),
        ))
    }
}

/// The current year in UTC, from the system clock.
fn current_year() -> i32 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    civil_year(days)
}

/// The proleptic Gregorian year of the day `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_year(days: i64) -> i32 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let year = year_of_era + era * 400 + i64::from(month_index >= 10);
    i32::try_from(year).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbn_10_and_13_normalize_to_13_digits() {
        assert_eq!(isbn("0-441-17271-7").ok(), Some("9780441172719".into()));
        assert_eq!(isbn("978 0 441 17271 9").ok(), Some("9780441172719".into()));
        assert_eq!(isbn("0-8044-2957-x").ok(), Some("9780804429573".into()));
        assert_eq!(isbn("979-10-90636-07-1").ok(), Some("9791090636071".into()));
    }

    #[test]
    fn bad_isbns_are_rejected() {
        for bad in [
            "0-441-17271-8",
            "9780441172710",
            "12345",
            "97804411727199",
            "abcdefghij",
            "X123456789",
            "1234567890123",
            "",
        ] {
            assert!(isbn(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded_in_characters() {
        assert_eq!(text("name", "  a b \n").ok(), Some("a b"));
        assert!(text("name", " \t ").is_err());
        assert!(text("name", "a\0b").is_err());
        assert!(text("name", &"é".repeat(500)).is_ok());
        assert!(text("name", &"é".repeat(501)).is_err());
        // Padding does not count: the trimmed text is what is stored and measured.
        let padded = format!("  {}  ", "é".repeat(500));
        assert_eq!(text("name", &padded).ok(), Some("é".repeat(500).as_str()));
    }

    #[test]
    fn text_needs_a_visible_character() {
        for invisible in [
            "\u{200B}",
            " \u{2060} ",
            "\u{FEFF}\u{200D}",
            "\u{00AD}",
            "\u{E0041}\u{E007F}",
            "\u{FE0F}",
            "\u{1}\u{7F}",
            "\u{3164}",
        ] {
            assert!(
                matches!(text("name", invisible), Err(Error::Validation { .. })),
                "{invisible:?} was accepted"
            );
        }
        assert_eq!(text("name", "\u{200B}a").ok(), Some("\u{200B}a"));
        assert_eq!(text("name", "😀").ok(), Some("😀"));
    }

    #[test]
    fn the_ascii_fast_path_keeps_every_rule() {
        // The rules of `text`, written out without the fast path.
        fn by_the_rules(value: &str) -> Option<&str> {
            let trimmed = value.trim();
            let valid = !trimmed.is_empty()
                && trimmed.chars().any(is_visible)
                && !trimmed.contains('\0')
                && trimmed.chars().count() <= MAX_TEXT_CHARS;
            valid.then_some(trimmed)
        }
        let mut cases = Vec::new();
        for byte in 0_u8..=0x7F {
            let c = char::from(byte);
            cases.extend([
                c.to_string(),
                format!("a{c}"),
                format!("{c}a{c}"),
                format!(" {c} "),
                format!("{c}{c}"),
            ]);
        }
        for length in [MAX_TEXT_CHARS - 1, MAX_TEXT_CHARS, MAX_TEXT_CHARS + 1] {
            cases.push("x".repeat(length));
            cases.push(format!("  {}\t", "x".repeat(length)));
            cases.push(format!("{}é", "x".repeat(length - 1)));
        }
        for case in &cases {
            assert_eq!(text("name", case).ok(), by_the_rules(case), "{case:?}");
        }
    }

    #[test]
    fn civil_year_matches_known_dates() {
        assert_eq!(civil_year(0), 1970);
        assert_eq!(civil_year(-1), 1969);
        assert_eq!(civil_year(10_957), 2000); // 2000-01-01
        assert_eq!(civil_year(11_322), 2000); // 2000-12-31
        assert_eq!(civil_year(20_819), 2027); // 2027-01-01
        assert!(current_year() >= 2025);
    }

    #[test]
    fn years_are_bounded() {
        assert!(published_year(MIN_YEAR).is_ok());
        assert!(published_year(MIN_YEAR - 1).is_err());
        assert!(published_year(current_year() + 1).is_ok());
        assert!(published_year(current_year() + 2).is_err());
    }
}
