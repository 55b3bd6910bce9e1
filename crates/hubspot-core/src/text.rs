//! String rules shared by every mapping: trimming, key and event-name formatting, email
//! detection. The browser and the server use the same functions, so a trait named the same way
//! becomes the same HubSpot property on both paths.

use crate::prelude::*;
use crate::value::Value;

/// JavaScript's `\s` class: what `String.prototype.trim` and `/\s/` treat as white space.
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// Zero-width characters that arrive with copy-pasted emails (U+200B–U+200D, U+FEFF).
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{FEFF}')
}

/// Whether [`trim`] drops `c`.
fn is_trimmed(c: char) -> bool {
    is_js_whitespace(c) || is_zero_width(c)
}

/// Trims white space and zero-width characters from both ends.
///
/// Two `char_indices` walks, not `str::trim_matches`: its generic searcher costs the wasm
/// more than these loops.
pub fn trim(s: &str) -> &str {
    let start = s
        .char_indices()
        .find(|&(_, c)| !is_trimmed(c))
        .map_or(s.len(), |(i, _)| i);
    let end = s
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_trimmed(c))
        .map_or(start, |(i, c)| i + c.len_utf8());
    s.get(start..end).unwrap_or_default()
}

/// How property keys are rewritten before they reach HubSpot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStyle {
    /// Lowercase; each space, `.`, tab, CR, LF, VT and FF becomes one `_` (what Segment documents
    /// for identify traits).
    PerChar,
    /// Lowercase; each run of white space or `.` becomes a single `_` (custom event properties).
    Runs,
    /// Leave keys as they are.
    Unchanged,
}

/// Formats one property key in the given style.
pub fn format_key(key: String, style: KeyStyle) -> String {
    let is_sep: fn(char) -> bool = match style {
        KeyStyle::Unchanged => return key,
        KeyStyle::PerChar => |c| matches!(c, ' ' | '.' | '\t' | '\r' | '\n' | '\u{0B}' | '\u{0C}'),
        KeyStyle::Runs => |c| c == '.' || is_js_whitespace(c),
    };
    // Most keys have nothing to replace: they are lowercased in place, not copied. For ASCII
    // keys both styles replace the same bytes (space, `.`, tab through CR), found without decoding.
    let replaces = if is_ascii(&key) {
        key.bytes()
            .any(|b| matches!(b, b' ' | b'.' | b'\t'..=b'\r'))
    } else {
        // `chars().any`, not `contains(is_sep)`: the pattern's searcher is larger in the wasm.
        key.chars().any(is_sep)
    };
    if !replaces {
        return lowercase(key);
    }
    lowercase(underscore(&key, style == KeyStyle::Runs, is_sep))
}

/// Replaces each character `is_sep` picks (with `collapse`, each run of them) with one `_`. Text
/// between them is copied a slice at a time, not a character at a time.
fn underscore(s: &str, collapse: bool, is_sep: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut kept_from = 0;
    let mut in_run = false;
    for (i, c) in s.char_indices() {
        let sep = is_sep(c);
        if sep {
            if !(collapse && in_run) {
                out.push_str(s.get(kept_from..i).unwrap_or_default());
                out.push('_');
            }
            kept_from = i + c.len_utf8();
        }
        in_run = sep;
    }
    out.push_str(s.get(kept_from..).unwrap_or_default());
    out
}

/// `parts` joined, without a separator: one allocation, and none of `format!`'s machinery.
pub fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// HubSpot's internal name for a custom behavioral event: `pe<portalId>_<event>` with the event
/// lowercased and each run of white space or `.` replaced by `_`.
pub fn pe_event_name(portal_id: &str, event: &str) -> String {
    concat(&[
        "pe",
        portal_id,
        "_",
        &format_key(event.to_owned(), KeyStyle::Runs),
    ])
}

/// Appends `n` in decimal, zero-padded to at least `min_digits` digits (`{n:0min_digits$}`).
///
/// Text the browser wasm builds avoids `format!` and `to_string` on numbers: they link
/// `core::fmt` (its `write`, `Formatter::pad` and the integer `Display`s, about 1 KB brotli).
pub fn push_decimal(out: &mut String, n: u64, min_digits: usize) {
    // The higher digits (and padding) first, by recursion: no digit buffer, so no index and no
    // bounds-check panic path in the wasm; at most 20 levels deep for a `u64` (or `min_digits`).
    if n >= 10 || min_digits > 1 {
        push_decimal(out, n / 10, min_digits.saturating_sub(1));
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Whether HubSpot accepts `name` as an internal event name: at most 50 characters of
/// `[a-z0-9_-]`.
pub fn is_valid_internal_event_name(name: &str) -> bool {
    // Every allowed character is one byte, so bytes are characters here.
    name.len() <= 50
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no white space.
/// (HubSpot validates for real; this only decides whether a userId is meant as an email.)
pub fn is_email(s: &str) -> bool {
    // Byte loops, not `split_once('@')`, `<[u8]>::contains` or `windows`: their searchers and
    // adapters cost the wasm more, and an email is short.
    let b = s.as_bytes();
    let Some(at) = b.iter().position(|&c| c == b'@') else {
        return false;
    };
    // At least two `.`-separated labels, none empty: a dot, but none first, last or doubled;
    // no second `@`. One pass over the domain, remembering the byte before.
    let d = b.get(at + 1..).unwrap_or_default();
    let (mut prev, mut dot) = (b'.', false);
    for &c in d {
        if c == b'@' || (c == b'.' && prev == b'.') {
            return false;
        }
        dot |= c == b'.';
        prev = c;
    }
    at > 0 && dot && prev != b'.' && !s.chars().any(|c| is_js_whitespace(c) || c.is_control())
}

/// Whether `key` is `word` (lowercase ASCII) under [`loose_key`]: without allocating for ASCII
/// keys, which is nearly every key of every payload (the email lookup tries each trait).
pub fn is_loosely(key: &str, word: &str) -> bool {
    if !is_ascii(key) {
        return loose_key(key) == word;
    }
    // A loop, not `filter().map().eq()`: the adapters cost the wasm more.
    let mut want = word.bytes();
    for b in key.bytes() {
        if !matches!(b, b'-' | b'_' | b' ' | b'.') && want.next() != Some(b.to_ascii_lowercase()) {
            return false;
        }
    }
    want.next().is_none()
}

/// The text of a value as `String(value)` gives it, trimmed (see [`trim`]): `None` for objects,
/// arrays and `null`. One allocation.
pub fn trimmed_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(trim(s).to_owned()),
        // Numbers and booleans have no white space to trim.
        other => other.to_js_string(),
    }
}

/// Normalises a key for case- and separator-insensitive lookup (`E-mail`, `e_mail` → `email`).
pub fn loose_key(key: &str) -> String {
    lowercase(
        key.chars()
            .filter(|c| !matches!(c, '-' | '_' | ' ' | '.'))
            .collect(),
    )
}

/// Whether `s` is all ASCII: a byte loop, not `str::is_ascii`, whose word-at-a-time version costs
/// the wasm more code (and is inlined where it is called); the texts tested are short.
pub fn is_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii())
}

/// Lowercases as JavaScript's `toLowerCase` does: ASCII in place, other text by the host (see
/// [`crate::host`]).
pub fn lowercase(mut s: String) -> String {
    if is_ascii(&s) {
        s.make_ascii_lowercase();
        s
    } else {
        (crate::host::host().lowercase)(&s)
    }
}

/// Quotes a page-supplied string for a message: `"…"`, with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// JavaScript's `parseFloat`: the longest numeric prefix after leading white space.
pub fn js_parse_float(s: &str) -> Option<f64> {
    let s = s.trim_start_matches(is_js_whitespace);
    let len = numeric_prefix_len(s);
    if len == 0 {
        return None;
    }
    // `get`, not `[..]`: a slice that can panic links core::fmt's Debug machinery into the wasm.
    (crate::host::host().parse_decimal)(s.get(..len)?)
}

/// A whole string as a decimal number (white space around it allowed), as settings accept
/// `"5000"`; `None` for anything else, including the empty string.
pub fn parse_number(s: &str) -> Option<f64> {
    let s = trim(s);
    if s.is_empty() || numeric_prefix_len(s) != s.len() {
        return None;
    }
    (crate::host::host().parse_decimal)(s)
}

/// Length of the longest prefix of `s` that is a decimal literal or a signed `Infinity`; 0 if none.
fn numeric_prefix_len(s: &str) -> usize {
    let b = s.as_bytes();
    // Bytes through `get`, so no bounds-check panic path, and one digit loop for all three parts.
    let at = |i: usize| b.get(i).copied().unwrap_or_default();
    let digits = |mut i: usize| {
        while at(i).is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(at(0), b'+' | b'-'));
    if b.get(i..).is_some_and(|rest| rest.starts_with(b"Infinity")) {
        return i + "Infinity".len();
    }
    let int_end = digits(i);
    let mut mantissa_digits = int_end - i;
    i = int_end;
    if at(i) == b'.' {
        let frac_end = digits(i + 1);
        mantissa_digits += frac_end - (i + 1);
        if mantissa_digits > 0 {
            i = frac_end;
        }
    }
    if mantissa_digits == 0 {
        return 0;
    }
    if matches!(at(i), b'e' | b'E') {
        let sign = usize::from(matches!(at(i + 1), b'+' | b'-'));
        let exp_start = i + 1 + sign;
        let exp_end = digits(exp_start);
        if exp_end > exp_start {
            i = exp_end;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_decimal_writes_what_format_writes() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            1234,
            300_000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            for width in [0, 1, 2, 3, 4, 25] {
                let mut out = "x".to_owned();
                push_decimal(&mut out, n, width);
                assert_eq!(out, format!("x{n:0width$}"));
            }
        }
    }

    #[test]
    fn trims_white_space_and_zero_width() {
        assert_eq!(trim("\u{200B} a@b.co\u{FEFF}\n"), "a@b.co");
        assert_eq!(trim("\u{200C}\u{200D}x y\u{A0}"), "x y");
        assert_eq!(trim(""), "");
    }

    #[test]
    fn key_styles() {
        let cases = [
            ("yOlO", KeyStyle::PerChar, "yolo"),
            ("a  b", KeyStyle::PerChar, "a__b"),
            ("a\tb\rc\u{0B}d\ne\u{0C}f", KeyStyle::PerChar, "a_b_c_d_e_f"),
            ("gogurts.are.life", KeyStyle::PerChar, "gogurts_are_life"),
            ("a  b", KeyStyle::Runs, "a_b"),
            ("Sides. Item 1", KeyStyle::Runs, "sides_item_1"),
            ("KeepMe", KeyStyle::Unchanged, "KeepMe"),
        ];
        for (input, style, want) in cases {
            assert_eq!(
                format_key(input.to_owned(), style),
                want,
                "{input:?} {style:?}"
            );
        }
    }

    #[test]
    fn pe_names() {
        assert_eq!(
            pe_event_name("1234", "purchased a 🍱"),
            "pe1234_purchased_a_🍱"
        );
        assert_eq!(
            pe_event_name("1", "Order  Completed.v2"),
            "pe1_order_completed_v2"
        );
        assert!(is_valid_internal_event_name("pe1_order_completed"));
        assert!(!is_valid_internal_event_name("pe1234_purchased_a_🍱"));
        assert!(!is_valid_internal_event_name(&"a".repeat(51)));
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.de", "a@b..co", "a@.co", "a@b.co.",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn whole_numbers_lowercase_and_quotes() {
        for (input, want) in [
            (" 5000 ", Some(5000.0)),
            ("1.5e3", Some(1500.0)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("12px", None),
            ("", None),
            (" ", None),
            ("e5", None),
        ] {
            assert_eq!(parse_number(input), want, "{input:?}");
        }
        assert_eq!(lowercase("Plan.TIER".into()), "plan.tier");
        assert_eq!(lowercase("ÉTÉ ΣΊΣΥΦΟΣ".into()), "été σίσυφος");
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }

    #[test]
    fn parse_float_like_javascript() {
        let cases: [(&str, Option<f64>); 11] = [
            ("13", Some(13.0)),
            ("1,000", Some(1.0)),
            (" 12.5abc", Some(12.5)),
            ("abc", None),
            ("", None),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("-2e3x", Some(-2000.0)),
            ("1e", Some(1.0)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("+.", None),
        ];
        for (input, want) in cases {
            assert_eq!(js_parse_float(input), want, "{input:?}");
        }
    }

    /// The length rule as it was first written, with indexing: the reference for the `get` form.
    fn numeric_prefix_len_indexed(s: &str) -> usize {
        let b = s.as_bytes();
        let mut i = 0;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if b[i..].starts_with(b"Infinity") {
            return i + "Infinity".len();
        }
        let digits_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let mut mantissa_digits = i - digits_start;
        if i < b.len() && b[i] == b'.' {
            let frac_start = i + 1;
            let mut j = frac_start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            mantissa_digits += j - frac_start;
            if mantissa_digits > 0 {
                i = j;
            }
        }
        if mantissa_digits == 0 {
            return 0;
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            let mut j = i + 1;
            if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                j += 1;
            }
            let exp_start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > exp_start {
                i = j;
            }
        }
        i
    }

    /// The `windows` form the one-pass [`is_email`] replaced.
    fn is_email_by_windows(s: &str) -> bool {
        let b = s.as_bytes();
        let has = |d: &[u8], byte: u8| d.contains(&byte);
        let Some(at) = b.iter().position(|&c| c == b'@') else {
            return false;
        };
        let d = b.get(at + 1..).unwrap_or_default();
        at > 0
            && !has(d, b'@')
            && !s.chars().any(|c| is_js_whitespace(c) || c.is_control())
            && has(d, b'.')
            && d.first() != Some(&b'.')
            && d.last() != Some(&b'.')
            && !d.windows(2).any(|pair| pair == b"..")
    }

    proptest::proptest! {
        #[test]
        fn numeric_prefix_len_agrees_with_the_indexed_rule(s in "[-+]?(Infinity|Inf)?[0-9]{0,3}[.]?[0-9]{0,3}([eE][-+]?[0-9]{0,2})?[x.e]?|\\PC{0,8}") {
            proptest::prop_assert_eq!(numeric_prefix_len(&s), numeric_prefix_len_indexed(&s));
        }

        #[test]
        fn is_email_agrees_with_the_windows_form(s in "[a.@ \u{a0}]{0,3}[a@]?[.]{0,2}[a]{0,2}[.@]?[a.]{0,3}|\\PC{0,10}") {
            proptest::prop_assert_eq!(is_email(&s), is_email_by_windows(&s));
        }

        /// The early returns agree with the `then(..)?` forms they replaced.
        #[test]
        fn number_readers_agree_with_the_then_forms(s in "[ \t]{0,2}[-+]?(Infinity)?[0-9]{0,3}[.]?[0-9]{0,2}[ x]?|\\PC{0,8}") {
            let host = crate::host::host();
            let trimmed = s.trim_start_matches(is_js_whitespace);
            let len = numeric_prefix_len(trimmed);
            let float = (len > 0)
                .then(|| (host.parse_decimal)(trimmed.get(..len)?))
                .flatten();
            proptest::prop_assert_eq!(js_parse_float(&s), float);
            let t = trim(&s);
            let number = (!t.is_empty() && numeric_prefix_len(t) == t.len())
                .then(|| (host.parse_decimal)(t))
                .flatten();
            proptest::prop_assert_eq!(parse_number(&s), number);
        }

        /// The recursive writer agrees with `format!` on any number and width.
        #[test]
        fn push_decimal_agrees_with_format(n: u64, width in 0usize..30) {
            let mut out = String::new();
            push_decimal(&mut out, n, width);
            proptest::prop_assert_eq!(out, format!("{n:0width$}"));
        }

        /// The byte loop agrees with `str::is_ascii`.
        #[test]
        fn is_ascii_agrees_with_str_is_ascii(s in "[\\t -~]{0,12}|\\PC{0,12}") {
            proptest::prop_assert_eq!(is_ascii(&s), s.is_ascii());
        }
    }
}
