//! Calendar arithmetic for HubSpot's date rules, without a date crate.
//!
//! HubSpot stores `date` properties as midnight UTC and `datetime` properties as epoch
//! milliseconds; the fake needs only conversions between epoch ms, `YYYY-MM-DD` and ISO-8601.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds in one UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Wall-clock time as epoch milliseconds (timestamps in answers, the daily limit's day).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years, March-based years).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    // Both values are small and positive by construction.
    let day = u32::try_from(day_of_year - (153 * shifted_month + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `HH:MM:SS.mmm` of a millisecond offset into a day.
pub(crate) fn time_of_day(ms_into_day: i64) -> String {
    let ms = ms_into_day.rem_euclid(DAY_MS);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub(crate) fn date_from_ms(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// ISO-8601 with milliseconds and `Z`, the form HubSpot uses for `createdAt` and datetimes.
pub(crate) fn iso_from_ms(ms: i64) -> String {
    format!("{}T{}Z", date_from_ms(ms), time_of_day(ms))
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]` into epoch ms.
/// A bare date is midnight UTC; a missing zone means UTC.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 10 || !s.is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let mut parts = date.split('-');
    let year = digits(parts.next()?)?;
    let month = u32::try_from(digits(parts.next()?)?).ok()?;
    let day = u32::try_from(digits(parts.next()?)?).ok()?;
    if date.as_bytes()[4] != b'-' || !(1..=12).contains(&month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Rejects 2023-02-30 and the like: the round trip lands on another day.
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    let midnight = days * DAY_MS;
    if rest.is_empty() {
        return Some(midnight);
    }
    let rest = rest.strip_prefix(['T', ' '])?;
    // Split off the zone: `Z`, `+hh:mm`, `-hh:mm`, `+hhmm`.
    let (clock, offset_ms) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (clock, zone) = rest.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = zone[1..].replace(':', "");
        if zone.len() != 4 {
            return None;
        }
        let hours = digits(&zone[..2])?;
        let minutes = digits(&zone[2..])?;
        (clock, sign * (hours * 3_600_000 + minutes * 60_000))
    } else {
        (rest, 0)
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let mut fields = hms.split(':');
    let hours = digits(fields.next()?)?;
    let minutes = digits(fields.next()?)?;
    let seconds = match fields.next() {
        Some(s) => digits(s)?,
        None => 0,
    };
    if fields.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let millis = match fraction {
        Some(f) => {
            digits(f)?;
            let padded = format!("{f:0<3}");
            digits(&padded[..3])?
        }
        None => 0,
    };
    Some(midnight + hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(date_from_ms(1_704_067_200_000), "2024-01-01");
        assert_eq!(iso_from_ms(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
        assert_eq!(parse_iso("2024-01-01"), Some(1_704_067_200_000));
        assert_eq!(
            parse_iso("2024-01-01T01:00:00+01:00"),
            Some(1_704_067_200_000)
        );
        assert_eq!(parse_iso("2024-01-01T00:00:00.5Z"), Some(1_704_067_200_500));
        assert_eq!(parse_iso("2023-02-30"), None);
        assert_eq!(parse_iso("yesterday"), None);
        assert_eq!(time_of_day(1_557_926_325_000), "13:18:45.000");
    }
}
