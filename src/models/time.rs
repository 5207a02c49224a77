//! Timestamps as the columns hold them.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::sql_types::Timestamp;

/// A time as a `created_at` or `updated_at` column holds it: UTC, in diesel's
/// `Timestamp` SQL type on every backend (so that the crate's queries are written once
/// for both). The models show it as a `DateTime<Utc>`.
///
/// Each backend writes it in its own way ([`ToSql`](diesel::serialize::ToSql) is in
/// each backend's module): SQLite as the text `YYYY-MM-DD HH:MM:SS.SSS`, always to the
/// millisecond like its own clock, so that text order is time order; PostgreSQL as
/// its `timestamp`, to the microsecond.
///
/// Public only because diesel's derives name it in the models' `Queryable` and
/// `Insertable` implementations; it is not reachable by a path outside the crate.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Timestamp)]
pub struct DbTime(pub(crate) NaiveDateTime);

impl DbTime {
    /// The earliest time a column holding times to `resolution` can hold at or after
    /// `self`: `self` rounded up to a multiple of `resolution` (saturating at the end of
    /// chrono's range). A filter "at or after `t`" then compares stored values with
    /// this one exactly, whatever digits each side carries.
    pub(crate) fn ceil_to(self, resolution: TimeDelta) -> Self {
        let Some(step) = resolution.num_nanoseconds().filter(|step| *step > 1) else {
            return self;
        };
        let nanos = i64::from(self.0.and_utc().timestamp_subsec_nanos());
        let over = nanos % step;
        if over == 0 {
            return self;
        }
        let up = TimeDelta::nanoseconds(step - over);
        Self(self.0.checked_add_signed(up).unwrap_or(NaiveDateTime::MAX))
    }
}

impl From<DateTime<Utc>> for DbTime {
    fn from(time: DateTime<Utc>) -> Self {
        Self(time.naive_utc())
    }
}

impl From<DbTime> for DateTime<Utc> {
    fn from(time: DbTime) -> Self {
        time.0.and_utc()
    }
}

/// The form SQLite's columns hold times in, as chrono writes it.
const CANONICAL_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

impl DbTime {
    /// `text` in the form the crate's SQLite columns hold, `YYYY-MM-DD HH:MM:SS.SSS`,
    /// read by position; `None` for any other form (which diesel's own parser reads).
    /// Decoding a row holds two times, and chrono's format parser took as long as the
    /// rest of a book row.
    pub(crate) fn parse_canonical(text: &str) -> Option<Self> {
        let bytes: &[u8; 23] = text.as_bytes().try_into().ok()?;
        if bytes[4] != b'-'
            || bytes[7] != b'-'
            || bytes[10] != b' '
            || bytes[13] != b':'
            || bytes[16] != b':'
            || bytes[19] != b'.'
        {
            return None;
        }
        let digit = |at: usize| -> Option<u32> {
            let value = bytes[at].wrapping_sub(b'0');
            (value < 10).then_some(u32::from(value))
        };
        let two = |at: usize| Some(digit(at)? * 10 + digit(at + 1)?);
        let year = two(0)? * 100 + two(2)?;
        let millis = digit(20)? * 100 + two(21)?;
        let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, two(5)?, two(8)?)?;
        let time = chrono::NaiveTime::from_hms_milli_opt(two(11)?, two(14)?, two(17)?, millis)?;
        Some(Self(NaiveDateTime::new(date, time)))
    }

    /// `self` as SQLite's columns hold it, `YYYY-MM-DD HH:MM:SS.SSS` (to the millisecond,
    /// cut, not rounded): exactly what chrono writes for [`CANONICAL_FORMAT`], written
    /// by position. Every write binds one or two times, and chrono's formatter took
    /// about 4,000 instructions for one, a fifth of a bulk book insert. Years outside
    /// 0..=9999 and leap seconds, which chrono writes in other forms, are left to it.
    pub(crate) fn canonical_text(self) -> String {
        use chrono::{Datelike, Timelike};
        let (date, time) = (self.0.date(), self.0.time());
        let nanos = time.nanosecond();
        let year = match u32::try_from(date.year()) {
            Ok(year) if year <= 9999 && nanos < 1_000_000_000 => year,
            _ => return self.0.format(CANONICAL_FORMAT).to_string(),
        };
        let mut text = *b"0000-00-00 00:00:00.000";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for place in (at..at + width).rev() {
                // A digit is below 10: the cast keeps it whole.
                text[place] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, date.month());
        put(8, 2, date.day());
        put(11, 2, time.hour());
        put(14, 2, time.minute());
        put(17, 2, time.second());
        put(20, 3, nanos / 1_000_000);
        match std::str::from_utf8(&text) {
            Ok(text) => text.to_owned(),
            Err(_) => self.0.format(CANONICAL_FORMAT).to_string(),
        }
    }
}

impl<DB: Backend> FromSql<Timestamp, DB> for DbTime
where
    NaiveDateTime: FromSql<Timestamp, DB>,
    DB: TimeText,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        DB::read_time(bytes)
    }
}

/// How a backend reads a time column: SQLite's text by [`DbTime::parse_canonical`]
/// first, every other form (and PostgreSQL's binary) by diesel.
pub(crate) trait TimeText: Backend + Sized {
    fn read_time(bytes: Self::RawValue<'_>) -> deserialize::Result<DbTime>;
}

impl TimeText for diesel::sqlite::Sqlite {
    fn read_time(mut bytes: Self::RawValue<'_>) -> deserialize::Result<DbTime> {
        if let Some(time) = DbTime::parse_canonical(bytes.read_text()) {
            return Ok(time);
        }
        <NaiveDateTime as FromSql<Timestamp, Self>>::from_sql(bytes).map(DbTime)
    }
}

#[cfg(feature = "postgres")]
impl TimeText for diesel::pg::Pg {
    fn read_time(bytes: Self::RawValue<'_>) -> deserialize::Result<DbTime> {
        let diesel::pg::data_types::PgTimestamp(micros) =
            FromSql::<Timestamp, Self>::from_sql(bytes)?;
        DbTime::from_pg_micros(micros)
            .ok_or_else(|| "Tried to deserialize a timestamp that is too large for Chrono".into())
    }
}

#[cfg(feature = "postgres")]
impl DbTime {
    /// The time PostgreSQL's binary format sends as `micros`, microseconds since
    /// 2000-01-01 00:00:00, or `None` outside chrono's range (PostgreSQL's `infinity`
    /// among them), as diesel reads it. Read from the Unix time: diesel adds the
    /// microseconds to the year 2000 with chrono's `checked_add_signed`, about 260
    /// instructions a time, and every row read holds two.
    pub(crate) fn from_pg_micros(micros: i64) -> Option<Self> {
        /// 2000-01-01 00:00:00 UTC in Unix microseconds.
        const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
        let unix = micros.checked_add(PG_EPOCH_UNIX_MICROS)?;
        DateTime::from_timestamp_micros(unix).map(|time| Self(time.naive_utc()))
    }
}

#[cfg(feature = "mysql")]
impl TimeText for diesel::mysql::Mysql {
    fn read_time(bytes: Self::RawValue<'_>) -> deserialize::Result<DbTime> {
        <NaiveDateTime as FromSql<Timestamp, Self>>::from_sql(bytes).map(DbTime)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn at(micros: u32) -> DbTime {
        DbTime(
            NaiveDate::from_ymd_opt(2026, 12, 2)
                .and_then(|day| day.and_hms_micro_opt(10, 0, 0, micros))
                .unwrap_or_default(),
        )
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_times_read_as_diesel_reads_them() {
        // diesel's reading: the microseconds added to 2000-01-01 00:00:00.
        let by_diesel = |micros: i64| {
            NaiveDate::from_ymd_opt(2000, 1, 1)
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .and_then(|epoch| epoch.checked_add_signed(TimeDelta::microseconds(micros)))
                .map(DbTime)
        };
        let day: i64 = 86_400_000_000;
        let mut cases = vec![
            0,
            1,
            -1,
            999_999,
            -1_000_001,
            day - 1,
            -day,
            -946_684_800_000_000,
            849_398_400_123_456,
            i64::MAX,
            i64::MIN,
            i64::MAX - 946_684_800_000_000,
        ];
        // Around the ends of chrono's range, and a walk through it.
        for end in [NaiveDateTime::MIN, NaiveDateTime::MAX] {
            let from_2000 = by_diesel(0)
                .and_then(|epoch| end.signed_duration_since(epoch.0).num_microseconds())
                .unwrap_or_default();
            cases.extend((-2..=2).map(|step| from_2000 + step));
        }
        let mut micros: i64 = -9_000_000_000_000_000_000;
        while micros < 9_000_000_000_000_000_000 {
            cases.push(micros);
            micros += 7_777_777_777_777_777;
        }
        for micros in cases {
            assert_eq!(
                DbTime::from_pg_micros(micros),
                by_diesel(micros),
                "{micros}"
            );
        }
    }

    #[test]
    fn the_canonical_text_reads_as_diesel_reads_it_and_other_forms_are_left_to_diesel() {
        let read = DbTime::parse_canonical("2026-12-02 10:00:00.123");
        assert_eq!(read, Some(at(123_000)));
        for text in [
            "2026-12-02 10:00:00",
            "2026-12-02T10:00:00.123",
            "2026-12-02 10:00:00.123456",
            "2026-13-02 10:00:00.123",
            "2026-02-30 10:00:00.123",
            "2026-12-02 24:00:00.123",
            "+2026-12-02 10:00:00.12",
            "2026-12-02 10:00:0a.123",
        ] {
            assert_eq!(DbTime::parse_canonical(text), None, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_canonical_text_reads_as_chrono_reads_it(millis in 0_i64..253_402_300_799_999) {
            let time = chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default().naive_utc();
            let text = time.format(CANONICAL_FORMAT).to_string();
            proptest::prop_assert_eq!(DbTime::parse_canonical(&text), Some(DbTime(time)));
        }
    }

    proptest::proptest! {
        #[test]
        fn times_are_written_as_chrono_writes_them(
            seconds in -400_000_000_000_i64..400_000_000_000,
            nanos in 0_u32..2_000_000_000,
        ) {
            let Some(time) = chrono::DateTime::from_timestamp(seconds, nanos) else {
                return Ok(());
            };
            let time = time.naive_utc();
            let text = DbTime(time).canonical_text();
            proptest::prop_assert_eq!(&text, &time.format(CANONICAL_FORMAT).to_string());
            if (0..=9999).contains(&chrono::Datelike::year(&time)) && nanos < 1_000_000_000 {
                let millis = TimeDelta::nanoseconds(i64::from(nanos % 1_000_000));
                proptest::prop_assert_eq!(
                    DbTime::parse_canonical(&text),
                    time.checked_sub_signed(millis).map(DbTime)
                );
            }
        }
    }

    #[test]
    fn rounding_up_reaches_the_next_tick_only_when_between_ticks() {
        let millisecond = TimeDelta::milliseconds(1);
        assert_eq!(at(123_000).ceil_to(millisecond), at(123_000));
        assert_eq!(at(123_001).ceil_to(millisecond), at(124_000));
        assert_eq!(
            at(999_999).ceil_to(millisecond).0.to_string(),
            "2026-12-02 10:00:01"
        );
        assert_eq!(at(123_001).ceil_to(TimeDelta::microseconds(1)), at(123_001));
        assert_eq!(
            DbTime(NaiveDateTime::MAX).ceil_to(TimeDelta::seconds(7)),
            DbTime(NaiveDateTime::MAX)
        );
    }
}
