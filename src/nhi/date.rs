//! Calendar dates and rotation periods for the identity inventory.
//!
//! Only whole days matter for rotation and expiry, so a date is a day count; the conversions are
//! Howard Hinnant's `days_from_civil` / `civil_from_days`, which are exact for the proleptic
//! Gregorian calendar without any table or date crate.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar date (proleptic Gregorian, UTC), enough for rotation and expiry arithmetic.
///
/// Years are kept within 0000..=9999 because dates are written back as TOML dates and
/// `YYYY-MM-DD`, which have four-digit years; arithmetic that would leave that range saturates at
/// its ends instead of failing, so no input can make it panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i64,
}

const MIN_YEAR: i64 = 0;
const MAX_YEAR: i64 = 9999;
/// 0000-01-01.
const MIN_DAYS: i64 = -719_528;
/// 9999-12-31.
const MAX_DAYS: i64 = 2_932_896;

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let m = i64::from(m);
    let d = i64::from(d);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both are small positive numbers by construction (1..=31 and 1..=12).
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Date {
    fn from_days(days: i64) -> Date {
        Date { days: days.clamp(MIN_DAYS, MAX_DAYS) }
    }

    /// `None` for an impossible date (Feb 30, month 13, …) or a year outside 0000..=9999.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Date> {
        let y = i64::from(y);
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Date { days: days_from_civil(y, m, d) })
    }

    /// Parses `YYYY-MM-DD`, or the date part of an RFC 3339 date-time
    /// (`2024-05-01T12:00:00+02:00` gives 2024-05-01: the date as written, not converted to UTC,
    /// because that is the day the person or tool meant). The time part must still be well formed
    /// so that arbitrary text after a date is not taken for a timestamp; the offset may be left
    /// out, as TOML and many tools write local date-times.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = digits(&b[0..4])?;
        let m = digits(&b[5..7])?;
        let d = digits(&b[8..10])?;
        let date = Date::from_ymd(i32::try_from(y).ok()?, m, d)?;
        match b.get(10) {
            None => Some(date),
            Some(b'T' | b't' | b' ') if valid_time(&b[11..]) => Some(date),
            Some(_) => None,
        }
    }

    /// The UTC date of a Unix timestamp, rounding towards the past so that -1 is 1969-12-31.
    pub fn from_unix(secs: i64) -> Date {
        Date::from_days(secs.div_euclid(86_400))
    }

    /// Today's date in UTC.
    pub fn today() -> Date {
        let secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            // A clock set before 1970 is odd but not a reason to fail.
            Err(e) => {
                let d = e.duration();
                let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                -whole - i64::from(d.subsec_nanos() > 0)
            }
        };
        Date::from_unix(secs)
    }

    pub fn days_since_epoch(self) -> i64 {
        self.days
    }

    pub fn add_days(self, n: i64) -> Date {
        Date::from_days(self.days.saturating_add(n))
    }

    /// Moves by calendar months, clamping the day to the target month's length
    /// (Jan 31 + 1 month is Feb 28, or Feb 29 in a leap year), as a "monthly" rotation means.
    pub fn add_months(self, n: i32) -> Date {
        let (y, m, d) = self.ymd();
        let index = i64::from(y) * 12 + i64::from(m - 1) + i64::from(n);
        let ny = index.div_euclid(12);
        if ny < MIN_YEAR {
            return Date::from_days(MIN_DAYS);
        }
        if ny > MAX_YEAR {
            return Date::from_days(MAX_DAYS);
        }
        // rem_euclid(12) is in 0..12.
        let nm = index.rem_euclid(12) as u32 + 1;
        Date { days: days_from_civil(ny, nm, d.min(days_in_month(ny, nm))) }
    }

    /// `later - self` in days; negative when `later` is earlier.
    pub fn days_until(self, later: Date) -> i64 {
        later.days - self.days
    }

    /// Year (0..=9999), month (1..=12), day (1..=31).
    pub fn ymd(self) -> (i32, u32, u32) {
        let (y, m, d) = civil_from_days(self.days);
        // The day count is clamped to years 0..=9999, which fit.
        (y as i32, m, d)
    }
}

/// An ASCII decimal number made only of digits (no sign, no spaces).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
}

/// RFC 3339 `partial-time [time-offset]`: `HH:MM:SS[.frac][Z|+HH:MM|-HH:MM]`.
fn valid_time(b: &[u8]) -> bool {
    fn two(b: &[u8], at: usize, max: u32) -> bool {
        b.get(at..at + 2).and_then(digits).is_some_and(|n| n <= max)
    }
    if b.len() < 8 || !two(b, 0, 23) || b[2] != b':' || !two(b, 3, 59) || b[5] != b':' || !two(b, 6, 60) {
        return false;
    }
    let mut rest = &b[8..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [] | [b'Z' | b'z'] => true,
        // Any two-digit offset: git keeps whatever offset the committer's tool wrote, some of them
        // out of range, and the local date in front of it is still the one that was meant.
        [b'+' | b'-', h1, h2, b':', m1, m2] => two(&[*h1, *h2], 0, 99) && two(&[*m1, *m2], 0, 99),
        _ => false,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// A rotation period: "90d", "12w", "6m", "1y" (positive integer + unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Days(u32),
    Weeks(u32),
    Months(u32),
    Years(u32),
}

impl Period {
    /// Strict on purpose: no spaces, signs or upper case, so that `"6M"` (minutes? months?) is an
    /// error the owner sees rather than a guess.
    pub fn parse(s: &str) -> Option<Period> {
        let unit = s.chars().last()?;
        let n = digits(&s.as_bytes()[..s.len() - unit.len_utf8()])?;
        if n == 0 {
            return None;
        }
        match unit {
            'd' => Some(Period::Days(n)),
            'w' => Some(Period::Weeks(n)),
            'm' => Some(Period::Months(n)),
            'y' => Some(Period::Years(n)),
            _ => None,
        }
    }

    /// The date one period after `from`; months and years clamp the day like [`Date::add_months`].
    pub fn after(self, from: Date) -> Date {
        let months = |n: u64| from.add_months(i32::try_from(n).unwrap_or(i32::MAX));
        match self {
            Period::Days(n) => from.add_days(i64::from(n)),
            Period::Weeks(n) => from.add_days(i64::from(n) * 7),
            Period::Months(n) => months(u64::from(n)),
            Period::Years(n) => months(u64::from(n) * 12),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Days(n) => write!(f, "{n}d"),
            Period::Weeks(n) => write!(f, "{n}w"),
            Period::Months(n) => write!(f, "{n}m"),
            Period::Years(n) => write!(f, "{n}y"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> Date {
        Date::from_ymd(y, m, day).expect("valid test date")
    }

    #[test]
    fn epoch_and_round_trip() {
        assert_eq!(d(1970, 1, 1).days_since_epoch(), 0);
        assert_eq!(d(2000, 3, 1).days_since_epoch(), 11_017);
        assert_eq!(d(0, 1, 1).days_since_epoch(), MIN_DAYS);
        assert_eq!(d(9999, 12, 31).days_since_epoch(), MAX_DAYS);
        // Every day across several 400-year eras converts back to itself.
        for days in (MIN_DAYS..=MAX_DAYS).step_by(97) {
            let date = Date { days };
            let (y, m, dd) = date.ymd();
            assert_eq!(Date::from_ymd(y, m, dd), Some(date), "{days}");
        }
    }

    #[test]
    fn from_ymd_rejects_impossible_dates() {
        assert!(Date::from_ymd(2024, 2, 29).is_some());
        assert!(Date::from_ymd(2000, 2, 29).is_some());
        assert!(Date::from_ymd(2023, 2, 29).is_none());
        assert!(Date::from_ymd(1900, 2, 29).is_none());
        assert!(Date::from_ymd(2024, 4, 31).is_none());
        assert!(Date::from_ymd(2024, 13, 1).is_none());
        assert!(Date::from_ymd(2024, 0, 1).is_none());
        assert!(Date::from_ymd(2024, 1, 0).is_none());
        assert!(Date::from_ymd(-1, 1, 1).is_none());
        assert!(Date::from_ymd(10_000, 1, 1).is_none());
    }

    #[test]
    fn leap_years() {
        assert_eq!(d(2024, 2, 28).add_days(1), d(2024, 2, 29));
        assert_eq!(d(2023, 2, 28).add_days(1), d(2023, 3, 1));
        assert_eq!(d(1900, 2, 28).add_days(1), d(1900, 3, 1));
        assert_eq!(d(2000, 2, 28).add_days(1), d(2000, 2, 29));
        assert_eq!(d(2024, 1, 1).days_until(d(2025, 1, 1)), 366);
        assert_eq!(d(2023, 1, 1).days_until(d(2024, 1, 1)), 365);
        assert_eq!(d(2025, 1, 1).days_until(d(2024, 1, 1)), -366);
    }

    #[test]
    fn month_arithmetic_clamps_the_day() {
        assert_eq!(d(2025, 1, 31).add_months(1), d(2025, 2, 28));
        assert_eq!(d(2024, 1, 31).add_months(1), d(2024, 2, 29));
        assert_eq!(d(2024, 3, 31).add_months(-1), d(2024, 2, 29));
        assert_eq!(d(2024, 5, 31).add_months(1), d(2024, 6, 30));
        assert_eq!(d(2024, 11, 15).add_months(2), d(2025, 1, 15));
        assert_eq!(d(2024, 1, 15).add_months(-1), d(2023, 12, 15));
        assert_eq!(d(2024, 1, 15).add_months(-25), d(2021, 12, 15));
        assert_eq!(d(2024, 2, 29).add_months(12), d(2025, 2, 28));
        assert_eq!(d(2024, 2, 29).add_months(48), d(2028, 2, 29));
    }

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        assert_eq!(d(2024, 1, 1).add_days(i64::MAX), d(9999, 12, 31));
        assert_eq!(d(2024, 1, 1).add_days(i64::MIN), d(0, 1, 1));
        assert_eq!(d(2024, 1, 1).add_months(i32::MAX), d(9999, 12, 31));
        assert_eq!(d(2024, 1, 1).add_months(i32::MIN), d(0, 1, 1));
        assert_eq!(Period::Years(u32::MAX).after(d(2024, 1, 1)), d(9999, 12, 31));
        assert_eq!(Period::Weeks(u32::MAX).after(d(2024, 1, 1)), d(9999, 12, 31));
        assert_eq!(Date::from_unix(i64::MAX), d(9999, 12, 31));
        assert_eq!(Date::from_unix(i64::MIN), d(0, 1, 1));
    }

    #[test]
    fn unix_conversion_both_signs() {
        assert_eq!(Date::from_unix(0), d(1970, 1, 1));
        assert_eq!(Date::from_unix(86_399), d(1970, 1, 1));
        assert_eq!(Date::from_unix(86_400), d(1970, 1, 2));
        assert_eq!(Date::from_unix(-1), d(1969, 12, 31));
        assert_eq!(Date::from_unix(-86_400), d(1969, 12, 31));
        assert_eq!(Date::from_unix(-86_401), d(1969, 12, 30));
        assert_eq!(Date::from_unix(951_782_400), d(2000, 2, 29));
        assert_eq!(Date::from_unix(1_714_521_600), d(2024, 5, 1));
        assert_eq!(Date::from_unix(-2_208_988_800), d(1900, 1, 1));
        let today = Date::today();
        assert!(today > d(2024, 1, 1) && today < d(9999, 1, 1));
    }

    #[test]
    fn parse_dates_and_rfc3339() {
        assert_eq!(Date::parse("2024-05-01"), Some(d(2024, 5, 1)));
        assert_eq!(Date::parse("2024-02-29"), Some(d(2024, 2, 29)));
        assert_eq!(Date::parse("2024-05-01T12:00:00+02:00"), Some(d(2024, 5, 1)));
        // The local date as written, even though this instant is already May 2 in UTC.
        assert_eq!(Date::parse("2024-05-01T23:30:00-05:00"), Some(d(2024, 5, 1)));
        assert_eq!(Date::parse("2024-05-01T00:30:00.123456Z"), Some(d(2024, 5, 1)));
        assert_eq!(Date::parse("2024-05-01t00:30:00z"), Some(d(2024, 5, 1)));
        assert_eq!(Date::parse("2024-05-01 00:30:00Z"), Some(d(2024, 5, 1)));
        assert_eq!(Date::parse("2024-05-01T00:30:00"), Some(d(2024, 5, 1)));
        assert_eq!(Date::parse("2016-12-31T23:59:60Z"), Some(d(2016, 12, 31)));
        assert_eq!(Date::parse("2024-05-01T12:00:00+59:00"), Some(d(2024, 5, 1)));
        for bad in [
            "",
            "2024",
            "2024-5-01",
            "2024-05-1",
            "24-05-01",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "+024-05-01",
            "2024/05/01",
            "2024-05-01x",
            "2024-05-01T",
            "2024-05-01T25:00:00Z",
            "2024-05-01T12:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+0200",
            "2024-05-01T12:00:00Zjunk",
            "２０２４-05-01",
            "2024-05-01T12:00:0é",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn display() {
        assert_eq!(d(2025, 1, 10).to_string(), "2025-01-10");
        assert_eq!(d(5, 12, 3).to_string(), "0005-12-03");
    }

    #[test]
    fn periods() {
        assert_eq!(Period::parse("90d"), Some(Period::Days(90)));
        assert_eq!(Period::parse("12w"), Some(Period::Weeks(12)));
        assert_eq!(Period::parse("6m"), Some(Period::Months(6)));
        assert_eq!(Period::parse("1y"), Some(Period::Years(1)));
        for bad in ["", "d", "0d", "-1d", "+1d", "1.5m", "90", "90D", " 90d", "90d ", "90x", "99999999999d", "1é"] {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
        for s in ["90d", "12w", "6m", "1y"] {
            assert_eq!(Period::parse(s).map(|p| p.to_string()).as_deref(), Some(s));
        }
        let start = d(2024, 1, 31);
        assert_eq!(Period::Days(90).after(start), d(2024, 4, 30));
        assert_eq!(Period::Weeks(2).after(start), d(2024, 2, 14));
        assert_eq!(Period::Months(1).after(start), d(2024, 2, 29));
        assert_eq!(Period::Years(1).after(d(2024, 2, 29)), d(2025, 2, 28));
    }
}
