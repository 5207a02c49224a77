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

impl<DB: Backend> FromSql<Timestamp, DB> for DbTime
where
    NaiveDateTime: FromSql<Timestamp, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        NaiveDateTime::from_sql(bytes).map(Self)
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
