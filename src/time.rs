//! Times and dates, in one place: how the command line's times, days and
//! months are read, how stored times are read back, and how times are
//! written (RFC 3339 in UTC, as events and ClickHouse hold them).
//!
//! Owns: the spellings `2026-11-23T08:00:00Z` (a time), `2026-11-23` (a
//! day, midnight UTC) and `2026-11` (a month); day numbers ([`Day`], days
//! since 1970-01-01); the event encoder's timestamp ([`push_rfc3339_millis`],
//! written by hand, once a click, without allocating).
//!
//! Everything else is `humantime`'s: parsing RFC 3339 and writing it
//! outside the request path.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC date as days since 1970-01-01.
pub(crate) type Day = i64;

/// One day.
pub(crate) const DAY: Duration = Duration::from_secs(86_400);

/// Input that is not the time, day or month it should be.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum TimeError {
    #[error("{given:?} is not a time like 2026-11-23 or 2026-11-23T08:00:00Z: {why}")]
    NotATime {
        given: String,
        why: humantime::TimestampError,
    },
    #[error("{given:?}: write a day as YYYY-MM-DD")]
    NotADay { given: String },
    #[error("{given:?}: before 1970")]
    BeforeEpoch { given: String },
    #[error("--month {given:?}: write YYYY-MM, e.g. 2026-10")]
    NotAMonth { given: String },
}

/// Accepts RFC 3339 (`2026-11-23T08:00:00Z`) or a date (`2026-11-23`, midnight UTC).
pub(crate) fn parse_time(s: &str) -> Result<SystemTime, TimeError> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    };
    humantime::parse_rfc3339_weak(full.trim_end_matches('Z')).map_err(|why| TimeError::NotATime {
        given: s.to_string(),
        why,
    })
}

/// A stored event's `ts` (strict RFC 3339); `None` when it is not one.
pub(crate) fn parse_rfc3339(ts: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(ts).ok()
}

/// A stored event's `ts` as Unix milliseconds; `None` when it is not a
/// time or is before 1970.
pub(crate) fn rfc3339_ms(ts: &str) -> Option<i64> {
    let t = parse_rfc3339(ts)?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// `2026-11-23T08:00:00Z`: whole seconds, UTC.
pub(crate) fn rfc3339(t: SystemTime) -> impl fmt::Display {
    humantime::format_rfc3339(t)
}

/// `2026-11-23T08:00:00.123Z`: milliseconds, UTC, as events hold `ts`
/// (so such times sort as text).
pub(crate) fn rfc3339_millis(t: SystemTime) -> impl fmt::Display {
    humantime::format_rfc3339_millis(t)
}

/// Unix seconds; 0 before 1970.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Unix milliseconds; 0 before 1970.
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Unix nanoseconds; 0 before 1970.
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `YYYY-MM-DD` to a day number.
pub(crate) fn parse_day(s: &str) -> Result<Day, TimeError> {
    let not_a_day = || TimeError::NotADay {
        given: s.to_string(),
    };
    if s.len() != 10 {
        return Err(not_a_day());
    }
    let t = parse_time(s).map_err(|_| not_a_day())?;
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| TimeError::BeforeEpoch {
            given: s.to_string(),
        })?;
    Ok(since.as_secs() as i64 / 86_400)
}

/// The UTC day a time falls on (1970-01-01 for any time before it).
pub(crate) fn day_of(t: SystemTime) -> Day {
    (unix_secs(t) / 86_400) as Day
}

/// A day's first instant, midnight UTC.
pub(crate) fn day_start(d: Day) -> SystemTime {
    UNIX_EPOCH + DAY * u32::try_from(d.max(0)).unwrap_or(u32::MAX)
}

/// A day number to `YYYY-MM-DD` (1970-01-01 for any day before it).
pub(crate) fn show_day(d: Day) -> String {
    let (y, m, d) = civil_from_days(d.max(0) as u64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM` to the month's first instant and the next month's.
pub(crate) fn month_range(month: &str) -> Result<(SystemTime, SystemTime), TimeError> {
    let bad = || TimeError::NotAMonth {
        given: month.to_string(),
    };
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (u32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if month.len() != 7 || !(1..=12).contains(&m) || !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let start = parse_time(&format!("{y:04}-{m:02}-01")).map_err(|_| bad())?;
    let end = parse_time(&format!("{ny:04}-{nm:02}-01")).map_err(|_| bad())?;
    Ok((start, end))
}

/// Appends `2023-11-14T22:13:20.123Z`: UTC, milliseconds, as RFC 3339
/// writes it (the same bytes as [`rfc3339_millis`], which a test checks).
/// A time before 1970 (a clock gone wrong) is written as 1970's start.
///
/// Written by hand for the event encoder, which calls it once a click:
/// no allocation, no formatting machinery.
#[inline]
pub(crate) fn push_rfc3339_millis(out: &mut Vec<u8>, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let two = |out: &mut Vec<u8>, n: u64| {
        out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8])
    };
    two(out, y / 100);
    two(out, y % 100);
    out.push(b'-');
    two(out, m);
    out.push(b'-');
    two(out, d);
    out.push(b'T');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    let ms = u64::from(since.subsec_millis());
    out.extend_from_slice(&[b'.', b'0' + (ms / 100) as u8]);
    two(out, ms % 100);
    out.push(b'Z');
}

/// (year, month, day) of a day count since 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, for days >= 0).
#[inline]
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn times_are_written_as_humantime_writes_them(ms in 0u64..253_402_300_800_000) {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let mut mine = Vec::new();
            push_rfc3339_millis(&mut mine, t);
            proptest::prop_assert_eq!(
                String::from_utf8(mine).unwrap(),
                humantime::format_rfc3339_millis(t).to_string()
            );
        }

        #[test]
        fn a_day_is_shown_as_humantime_dates_it(d in 0i64..2_932_896) {
            proptest::prop_assert_eq!(
                show_day(d),
                humantime::format_rfc3339(day_start(d)).to_string()[..10].to_string()
            );
        }
    }

    #[test]
    fn a_time_is_a_date_or_rfc_3339() {
        assert!(parse_time("2026-11-23").is_ok());
        assert!(parse_time("2026-11-23T08:00:00Z").is_ok());
        assert!(matches!(
            parse_time("yesterday"),
            Err(TimeError::NotATime { given, .. }) if given == "yesterday"
        ));
    }

    #[test]
    fn days_are_read_and_shown_as_yyyy_mm_dd() {
        let day = |s: &str| parse_day(s).unwrap();
        assert_eq!(show_day(day("2026-11-30")), "2026-11-30");
        assert_eq!(
            day_start(day("2026-11-30")),
            parse_time("2026-11-30").unwrap()
        );
        assert_eq!(
            day_of(parse_time("2026-11-30T23:59:59Z").unwrap()),
            day("2026-11-30")
        );
        assert!(matches!(
            parse_day("2026-11"),
            Err(TimeError::NotADay { .. })
        ));
        assert!(matches!(
            parse_day("yesterday"),
            Err(TimeError::NotADay { .. })
        ));
    }

    #[test]
    fn a_month_is_its_first_instant_to_the_next_ones() {
        let (start, end) = month_range("2026-12").unwrap();
        assert_eq!(start, parse_time("2026-12-01").unwrap());
        assert_eq!(end, parse_time("2027-01-01").unwrap());
        for bad in ["2026-13", "2026-1", "26-10", "1969-12", "october"] {
            assert_eq!(
                month_range(bad),
                Err(TimeError::NotAMonth { given: bad.into() }),
                "{bad}"
            );
        }
        assert_eq!(
            month_range("2026-13").unwrap_err().to_string(),
            "--month \"2026-13\": write YYYY-MM, e.g. 2026-10"
        );
    }
}
