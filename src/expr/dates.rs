//! Date parts and calendar arithmetic behind `DATEADD`, `DATEDIFF`,
//! `DATEPART`, `DATENAME` and `DATETIMEFROMPARTS` (ASA-SEMANTICS.md §6
//! Date/time). All datetimes are UTC [`DateTime`] ticks (100 ns).
//!
//! The ASA reference gives names and return types only; the arithmetic
//! follows T-SQL, which ASA's date functions are modelled on:
//! - `DATEADD` adds calendar months for year/quarter/month (the day is
//!   clamped to the end of a shorter month: Jan 31 + 1 month = Feb 28/29),
//!   whole days for day/dayofyear/weekday, 7 days for week, and fixed tick
//!   counts for the time parts (nanoseconds are truncated to 100 ns ticks).
//! - `DATEDIFF` counts boundaries crossed from `a` to `b` (b − a, signed):
//!   year/quarter/month boundaries of the calendar, midnights for
//!   day/dayofyear/weekday, Sundays for week (Sunday starts a week, as in
//!   T-SQL regardless of `DATEFIRST`), and multiples of the unit since the
//!   epoch for the time parts.
//! - `DATEPART(week, d)` is the T-SQL week of the year: January 1 is in
//!   week 1 and each Sunday starts a new week. `DATEPART(weekday, d)` is
//!   1 for Sunday through 7 for Saturday. `millisecond`, `microsecond` and
//!   `nanosecond` give the fraction of the second in that unit.
//! - `DATENAME` gives English month and weekday names, and the number as
//!   text for every other part.
//!
//! # Contract
//! Nothing here panics; results outside the datetime range (about ±29,000
//! years around 1970 in 100 ns ticks) are `None`.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::types::{DateTime, TICKS_PER_SECOND};

const TICKS_PER_MICROSECOND: i64 = 10;
const TICKS_PER_MILLISECOND: i64 = 10_000;
const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;

/// A date part, as written in `DATEADD(part, …)` and friends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatePart {
    /// `year`, `yy`, `yyyy`.
    Year,
    /// `quarter`, `qq`, `q`.
    Quarter,
    /// `month`, `mm`, `m`.
    Month,
    /// `dayofyear`, `dy`, `y`.
    DayOfYear,
    /// `day`, `dd`, `d`.
    Day,
    /// `week`, `wk`, `ww`.
    Week,
    /// `weekday`, `dw`, `w`.
    Weekday,
    /// `hour`, `hh`.
    Hour,
    /// `minute`, `mi`, `n`.
    Minute,
    /// `second`, `ss`, `s`.
    Second,
    /// `millisecond`, `ms`.
    Millisecond,
    /// `microsecond`, `mcs`.
    Microsecond,
    /// `nanosecond`, `ns`.
    Nanosecond,
}

impl DatePart {
    /// Parses a date part name or documented abbreviation, any case.
    pub fn parse(word: &str) -> Option<DatePart> {
        const NAMES: [(&str, DatePart); 35] = [
            ("year", DatePart::Year),
            ("yy", DatePart::Year),
            ("yyyy", DatePart::Year),
            ("quarter", DatePart::Quarter),
            ("qq", DatePart::Quarter),
            ("q", DatePart::Quarter),
            ("month", DatePart::Month),
            ("mm", DatePart::Month),
            ("m", DatePart::Month),
            ("dayofyear", DatePart::DayOfYear),
            ("dy", DatePart::DayOfYear),
            ("y", DatePart::DayOfYear),
            ("day", DatePart::Day),
            ("dd", DatePart::Day),
            ("d", DatePart::Day),
            ("week", DatePart::Week),
            ("wk", DatePart::Week),
            ("ww", DatePart::Week),
            ("weekday", DatePart::Weekday),
            ("dw", DatePart::Weekday),
            ("w", DatePart::Weekday),
            ("hour", DatePart::Hour),
            ("hh", DatePart::Hour),
            ("minute", DatePart::Minute),
            ("mi", DatePart::Minute),
            ("n", DatePart::Minute),
            ("second", DatePart::Second),
            ("ss", DatePart::Second),
            ("s", DatePart::Second),
            ("millisecond", DatePart::Millisecond),
            ("ms", DatePart::Millisecond),
            ("microsecond", DatePart::Microsecond),
            ("mcs", DatePart::Microsecond),
            ("nanosecond", DatePart::Nanosecond),
            ("ns", DatePart::Nanosecond),
        ];
        let word = word.trim();
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|(_, part)| *part)
    }

    /// The canonical name, e.g. `dayofyear`.
    pub fn name(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Quarter => "quarter",
            DatePart::Month => "month",
            DatePart::DayOfYear => "dayofyear",
            DatePart::Day => "day",
            DatePart::Week => "week",
            DatePart::Weekday => "weekday",
            DatePart::Hour => "hour",
            DatePart::Minute => "minute",
            DatePart::Second => "second",
            DatePart::Millisecond => "millisecond",
            DatePart::Microsecond => "microsecond",
            DatePart::Nanosecond => "nanosecond",
        }
    }

    /// Ticks in one unit of a fixed-length part (day and shorter, week);
    /// `None` for calendar parts and nanosecond.
    fn fixed_ticks(self) -> Option<i64> {
        Some(match self {
            DatePart::DayOfYear | DatePart::Day | DatePart::Weekday => TICKS_PER_DAY,
            DatePart::Week => 7 * TICKS_PER_DAY,
            DatePart::Hour => TICKS_PER_HOUR,
            DatePart::Minute => TICKS_PER_MINUTE,
            DatePart::Second => TICKS_PER_SECOND,
            DatePart::Millisecond => TICKS_PER_MILLISECOND,
            DatePart::Microsecond => TICKS_PER_MICROSECOND,
            _ => return None,
        })
    }
}

/// From a chrono date-time, checking the tick range instead of saturating.
fn from_naive(dt: NaiveDateTime) -> Option<DateTime> {
    let utc = dt.and_utc();
    let ticks = utc
        .timestamp()
        .checked_mul(TICKS_PER_SECOND)?
        .checked_add(i64::from(utc.timestamp_subsec_nanos() / 100))?;
    Some(DateTime(ticks))
}

/// `DATEADD(part, n, d)`; `None` when the result is out of range.
pub fn date_add(part: DatePart, n: i64, d: DateTime) -> Option<DateTime> {
    let months = match part {
        DatePart::Year => n.checked_mul(12)?,
        DatePart::Quarter => n.checked_mul(3)?,
        DatePart::Month => n,
        DatePart::Nanosecond => return d.ticks().checked_add(n / 100).map(DateTime),
        _ => {
            let unit = part.fixed_ticks()?;
            return d.ticks().checked_add(n.checked_mul(unit)?).map(DateTime);
        }
    };
    let dt = d.to_chrono()?;
    let step = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    let moved = if months >= 0 {
        dt.checked_add_months(step)?
    } else {
        dt.checked_sub_months(step)?
    };
    from_naive(moved)
}

/// `DATEDIFF(part, a, b)`: the number of `part` boundaries crossed going
/// from `a` to `b` (negative when `b` is earlier); `None` on overflow.
pub fn date_diff(part: DatePart, a: DateTime, b: DateTime) -> Option<i64> {
    let (ta, tb) = (a.ticks(), b.ticks());
    let month_index = |d: DateTime| -> Option<i64> {
        let c = d.to_chrono()?;
        Some(i64::from(c.year()) * 12 + i64::from(c.month0()))
    };
    match part {
        DatePart::Year => {
            let (ca, cb) = (a.to_chrono()?, b.to_chrono()?);
            Some(i64::from(cb.year()) - i64::from(ca.year()))
        }
        DatePart::Quarter => {
            let (ma, mb) = (month_index(a)?, month_index(b)?);
            Some(mb.div_euclid(3) - ma.div_euclid(3))
        }
        DatePart::Month => Some(month_index(b)? - month_index(a)?),
        DatePart::Week => {
            // Day 0 (1970-01-01) was a Thursday; day 3 is the first Sunday.
            let week = |t: i64| (t.div_euclid(TICKS_PER_DAY) + 4).div_euclid(7);
            Some(week(tb) - week(ta))
        }
        DatePart::Nanosecond => tb.checked_sub(ta)?.checked_mul(100),
        _ => {
            let unit = part.fixed_ticks()?;
            Some(tb.div_euclid(unit) - ta.div_euclid(unit))
        }
    }
}

/// `DATEPART(part, d)`; `None` only for datetimes chrono cannot represent.
pub fn date_part(part: DatePart, d: DateTime) -> Option<i64> {
    let c = d.to_chrono()?;
    let sub = d.ticks().rem_euclid(TICKS_PER_SECOND);
    Some(match part {
        DatePart::Year => i64::from(c.year()),
        DatePart::Quarter => i64::from(c.month0() / 3 + 1),
        DatePart::Month => i64::from(c.month()),
        DatePart::DayOfYear => i64::from(c.ordinal()),
        DatePart::Day => i64::from(c.day()),
        DatePart::Week => {
            let jan1 = NaiveDate::from_yo_opt(c.year(), 1)?;
            let offset = jan1.weekday().num_days_from_sunday();
            i64::from((c.ordinal0() + offset) / 7 + 1)
        }
        DatePart::Weekday => i64::from(c.weekday().num_days_from_sunday() + 1),
        DatePart::Hour => i64::from(c.hour()),
        DatePart::Minute => i64::from(c.minute()),
        DatePart::Second => i64::from(c.second()),
        DatePart::Millisecond => sub / TICKS_PER_MILLISECOND,
        DatePart::Microsecond => sub / TICKS_PER_MICROSECOND,
        DatePart::Nanosecond => sub * 100,
    })
}

/// `DATENAME(part, d)`: English month and weekday names, otherwise the
/// `DATEPART` number as text.
pub fn date_name(part: DatePart, d: DateTime) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let c = d.to_chrono()?;
    match part {
        DatePart::Month => MONTHS.get(c.month0() as usize).map(|s| s.to_string()),
        DatePart::Weekday => DAYS
            .get(c.weekday().num_days_from_sunday() as usize)
            .map(|s| s.to_string()),
        _ => date_part(part, d).map(|n| n.to_string()),
    }
}

/// `DATETIMEFROMPARTS(year, month, day, hour, minute, seconds,
/// milliseconds)`; `None` when a part is out of its range (month 1–12, day
/// valid for the month, hour 0–23, minute and second 0–59, millisecond
/// 0–999).
pub fn from_parts(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millisecond: i64,
) -> Option<DateTime> {
    let u = |v: i64| u32::try_from(v).ok();
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, u(month)?, u(day)?)?;
    let time = NaiveTime::from_hms_milli_opt(u(hour)?, u(minute)?, u(second)?, u(millisecond)?)?;
    if millisecond > 999 || second > 59 {
        // chrono accepts leap seconds (second 59, millisecond ≥ 1000); SQL does not.
        return None;
    }
    from_naive(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> DateTime {
        DateTime::parse(s).expect("test datetime parses")
    }

    #[test]
    fn parts_parse_any_case_and_abbreviation() {
        assert_eq!(DatePart::parse("MINUTE"), Some(DatePart::Minute));
        assert_eq!(DatePart::parse("mi"), Some(DatePart::Minute));
        assert_eq!(DatePart::parse("n"), Some(DatePart::Minute));
        assert_eq!(DatePart::parse("y"), Some(DatePart::DayOfYear));
        assert_eq!(DatePart::parse("Yyyy"), Some(DatePart::Year));
        assert_eq!(DatePart::parse("w"), Some(DatePart::Weekday));
        assert_eq!(DatePart::parse("mcs"), Some(DatePart::Microsecond));
        assert_eq!(DatePart::parse("ns"), Some(DatePart::Nanosecond));
        assert_eq!(DatePart::parse("fortnight"), None);
    }

    #[test]
    fn add_calendar_and_fixed_units() {
        let d = dt("2020-01-31T10:00:00.1234567Z");
        let add = |p, n| date_add(p, n, d).map(DateTime::to_iso);
        assert_eq!(
            add(DatePart::Month, 1).as_deref(),
            Some("2020-02-29T10:00:00.1234567Z")
        );
        assert_eq!(
            add(DatePart::Year, -1).as_deref(),
            Some("2019-01-31T10:00:00.1234567Z")
        );
        assert_eq!(
            add(DatePart::Quarter, 1).as_deref(),
            Some("2020-04-30T10:00:00.1234567Z")
        );
        assert_eq!(
            add(DatePart::Hour, 2).as_deref(),
            Some("2020-01-31T12:00:00.1234567Z")
        );
        assert_eq!(
            add(DatePart::Week, 1).as_deref(),
            Some("2020-02-07T10:00:00.1234567Z")
        );
        assert_eq!(
            add(DatePart::Nanosecond, 250).as_deref(),
            Some("2020-01-31T10:00:00.1234569Z")
        );
        assert_eq!(date_add(DatePart::Day, i64::MAX, d), None);
        assert_eq!(date_add(DatePart::Year, 1_000_000, d), None);
    }

    #[test]
    fn diff_counts_boundaries() {
        let a = dt("2023-12-31T23:59:59Z");
        let b = dt("2024-01-01T00:00:00Z");
        assert_eq!(date_diff(DatePart::Year, a, b), Some(1));
        assert_eq!(date_diff(DatePart::Quarter, a, b), Some(1));
        assert_eq!(date_diff(DatePart::Month, a, b), Some(1));
        assert_eq!(date_diff(DatePart::Day, a, b), Some(1));
        assert_eq!(date_diff(DatePart::Second, a, b), Some(1));
        assert_eq!(date_diff(DatePart::Minute, b, a), Some(-1));
        assert_eq!(date_diff(DatePart::Millisecond, a, b), Some(1000));
        // qp-duration-between-events: 00:00:01 → 00:00:08 is 7 seconds.
        let (s, e) = (dt("2023-01-01T00:00:01Z"), dt("2023-01-01T00:00:08Z"));
        assert_eq!(date_diff(DatePart::Second, s, e), Some(7));
        // 2024-01-06 is a Saturday, 2024-01-07 a Sunday.
        let (sat, sun) = (dt("2024-01-06T12:00:00Z"), dt("2024-01-07T01:00:00Z"));
        assert_eq!(date_diff(DatePart::Week, sat, sun), Some(1));
        assert_eq!(
            date_diff(DatePart::Week, sun, dt("2024-01-13T23:00:00Z")),
            Some(0)
        );
        assert_eq!(
            date_diff(DatePart::Nanosecond, DateTime(0), DateTime(3)),
            Some(300)
        );
        assert_eq!(
            date_diff(DatePart::Nanosecond, DateTime(i64::MIN), DateTime(i64::MAX)),
            None
        );
        // Before the epoch, boundaries are floored, not truncated.
        assert_eq!(
            date_diff(DatePart::Second, DateTime(-1), DateTime(0)),
            Some(1)
        );
    }

    #[test]
    fn parts_and_names() {
        let d = dt("2024-01-07T13:45:30.1234567Z"); // a Sunday
        assert_eq!(date_part(DatePart::Year, d), Some(2024));
        assert_eq!(date_part(DatePart::Quarter, d), Some(1));
        assert_eq!(date_part(DatePart::DayOfYear, d), Some(7));
        assert_eq!(date_part(DatePart::Weekday, d), Some(1));
        // Jan 1 2024 was a Monday: week 1 is Jan 1–6, Sunday Jan 7 starts week 2.
        assert_eq!(date_part(DatePart::Week, d), Some(2));
        assert_eq!(date_part(DatePart::Millisecond, d), Some(123));
        assert_eq!(date_part(DatePart::Microsecond, d), Some(123_456));
        assert_eq!(date_part(DatePart::Nanosecond, d), Some(123_456_700));
        assert_eq!(date_name(DatePart::Month, d).as_deref(), Some("January"));
        assert_eq!(date_name(DatePart::Weekday, d).as_deref(), Some("Sunday"));
        assert_eq!(date_name(DatePart::Hour, d).as_deref(), Some("13"));
    }

    #[test]
    fn from_parts_validates() {
        let d = from_parts(2014, 9, 10, 12, 30, 5, 250).map(DateTime::to_iso);
        assert_eq!(d.as_deref(), Some("2014-09-10T12:30:05.2500000Z"));
        assert_eq!(from_parts(2014, 2, 30, 0, 0, 0, 0), None);
        assert_eq!(from_parts(2014, 9, 10, 12, 70, 0, 0), None);
        assert_eq!(from_parts(2014, 9, 10, 12, 0, 59, 1000), None);
        assert_eq!(from_parts(2014, 9, 10, -1, 0, 0, 0), None);
    }
}
