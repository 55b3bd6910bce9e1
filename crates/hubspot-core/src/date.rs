//! Strict ISO-8601 date strings → epoch milliseconds, with no clock and no time zone database.
//!
//! "Strict" is the grammar analytics.js has always used to decide that a string is a date
//! (`YYYY-MM-DD`, then optionally `T` or a space, `hh:mm`, `:ss`, a fraction, and `Z` or an
//! offset), so `"2020"` and `"123456"` stay strings. Out-of-range fields (`2020-13-45`) also stay
//! strings. A time without an offset is read as UTC.

use crate::prelude::*;

/// Parses a strict ISO-8601 date or date-time into epoch milliseconds.
pub fn parse_iso_date_ms(s: &str) -> Option<f64> {
    let mut p = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let year = p.digits(4)?;
    p.eat(b'-').then_some(())?;
    let month = p.digits(2)?;
    p.eat(b'-').then_some(())?;
    let day = p.digits(2)?;
    let (mut hour, mut minute, mut second, mut millis, mut offset_min) = (0, 0, 0, 0.0, 0i64);
    if p.eat(b'T') || p.eat(b' ') {
        hour = p.digits(2)?;
        p.eat(b':');
        minute = p.digits(2)?;
        if p.eat(b':') || p.peek_digit() {
            second = p.digits(2)?;
            if p.eat(b'.') || p.eat(b',') {
                let start = p.i;
                while p.peek_digit() {
                    p.i += 1;
                }
                // `get`, not indexing: a slice index's panic paths and messages cost the wasm
                // bytes (the range is always in bounds).
                let frac = p.b.get(start..p.i).unwrap_or_default();
                if frac.is_empty() {
                    return None;
                }
                // Milliseconds: the first three digits, zero-padded, the rest truncated (as
                // analytics.js does). A loop over the three places, not `chain(repeat).take(3)`:
                // the adapters cost the wasm more.
                let mut ms = 0;
                for place in 0..3 {
                    ms = ms * 10 + frac.get(place).map_or(0, |d| u32::from(d - b'0'));
                }
                millis = f64::from(ms);
            }
        }
        if p.eat(b'Z') {
        } else if let Some(sign) = p.sign() {
            let oh = p.digits(2)? as i64;
            p.eat(b':');
            let om = if p.peek_digit() {
                p.digits(2)? as i64
            } else {
                0
            };
            if oh > 23 || om > 59 {
                return None;
            }
            offset_min = sign * (oh * 60 + om);
        }
    }
    if p.i != p.b.len() {
        return None;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year as i64, month, day);
    let secs =
        days * 86_400 + hour as i64 * 3600 + minute as i64 * 60 + second as i64 - offset_min * 60;
    Some(secs as f64 * 1000.0 + millis)
}

/// Epoch milliseconds → `YYYY-MM-DDThh:mm:ss.sssZ` (UTC), the form Segment timestamps take.
pub fn format_iso_ms(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Inverse of [`days_from_civil`] (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// The `n` digits at the cursor, which then moves past them. Inlined around [`digits_at`],
    /// which takes the position by value: a call that took the cursor by reference kept it in
    /// memory, and every step of the parse loaded and stored it (about 0.2 KB of the wasm).
    #[inline(always)]
    fn digits(&mut self, n: usize) -> Option<u32> {
        let v = digits_at(self.b, self.i, n);
        if v == NOT_DIGITS {
            return None;
        }
        self.i += n;
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }
    fn peek_digit(&self) -> bool {
        self.b.get(self.i).is_some_and(u8::is_ascii_digit)
    }
    fn sign(&mut self) -> Option<i64> {
        if self.eat(b'+') {
            Some(1)
        } else if self.eat(b'-') {
            Some(-1)
        } else {
            None
        }
    }
}

/// What [`digits_at`] returns when the bytes are not `n` digits (at most 4 are read, so no
/// value is this large).
const NOT_DIGITS: u32 = u32::MAX;

/// The value of the `n` (at most 4) ASCII digits at `at`, or [`NOT_DIGITS`]: a plain `u32`, not
/// an `Option`, which the wasm would return through memory.
fn digits_at(b: &[u8], at: usize, n: usize) -> u32 {
    let Some(chunk) = b.get(at..at + n) else {
        return NOT_DIGITS;
    };
    let mut v = 0;
    for d in chunk {
        if !d.is_ascii_digit() {
            return NOT_DIGITS;
        }
        v = v * 10 + u32::from(d - b'0');
    }
    v
}

fn is_leap(y: u32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::{Cursor, format_iso_ms, parse_iso_date_ms};

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format_iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso_ms(1_582_934_400_123), "2020-02-29T00:00:00.123Z");
        for ms in [
            -86_400_001i64,
            951_782_400_000,
            4_102_444_799_999,
            1_700_000_000_007,
        ] {
            assert_eq!(
                parse_iso_date_ms(&format_iso_ms(ms)),
                Some(ms as f64),
                "{ms}"
            );
        }
    }

    #[test]
    fn strict_iso_strings() {
        let cases: [(&str, Option<f64>); 16] = [
            ("1970-01-01", Some(0.0)),
            ("2020-01-01", Some(1_577_836_800_000.0)),
            ("2020-01-01T00:00:00Z", Some(1_577_836_800_000.0)),
            ("2020-01-01T00:00:00.123Z", Some(1_577_836_800_123.0)),
            ("2020-01-01T00:00:00.1Z", Some(1_577_836_800_100.0)),
            ("2020-01-01T01:00:00+01:00", Some(1_577_836_800_000.0)),
            ("2019-12-31T23:00:00-01:00", Some(1_577_836_800_000.0)),
            ("2020-01-01 00:00", Some(1_577_836_800_000.0)),
            ("2020-02-29", Some(1_582_934_400_000.0)),
            ("2020", None),
            ("123456", None),
            ("2020-13-01", None),
            ("2019-02-29", None),
            ("2020-01-01T", None),
            ("2020-01-01T10", None),
            ("2020-01-01 is my birthday", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_iso_date_ms(input), want, "{input}");
        }
    }

    proptest::proptest! {
        /// `Cursor::digits` reads and moves as the form it replaced did (an `Option` from a
        /// method on the cursor by reference: `all`, then a `fold`).
        #[test]
        fn digits_as_the_cursor_method_read_them(
            text in "[0-9]{0,6}[-:T0-9a/]{0,3}[0-9]{0,4}|\\PC{0,8}",
            at in 0usize..10,
            n in 1usize..5,
        ) {
            let b = text.as_bytes();
            let mut old_at = at;
            let old = (|| {
                let chunk = b.get(old_at..old_at + n)?;
                if !chunk.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                old_at += n;
                Some(chunk.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
            })();
            let mut cursor = Cursor { b, i: at };
            proptest::prop_assert_eq!(cursor.digits(n), old);
            proptest::prop_assert_eq!(cursor.i, old_at);
        }

        /// The fraction's milliseconds as the `chain(repeat).take(3).fold` the loop replaced.
        #[test]
        fn fraction_millis_as_the_adapters_read_them(frac in "[0-9]{1,8}") {
            let want = frac
                .bytes()
                .chain(core::iter::repeat(b'0'))
                .take(3)
                .fold(0.0, |ms, d| ms * 10.0 + f64::from(d - b'0'));
            let got = parse_iso_date_ms(&std::format!("1970-01-01T00:00:00.{frac}Z"));
            proptest::prop_assert_eq!(got, Some(want));
        }
    }
}
