//! String rules shared by every mapping: trimming, key and event-name formatting, email
//! detection. The browser and the server use the same functions, so a trait named the same way
//! becomes the same HubSpot property on both paths.

use crate::prelude::*;
use crate::value::Value;

/// The byte length of the JavaScript white-space character (`\s`: what `String.prototype.trim`
/// and `/\s/` treat as white space) at byte `i` of `b`, 0 if none: tab through CR, space,
/// U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and U+FEFF.
///
/// Matched on UTF-8 bytes, and asked at any byte: every character here starts with ASCII or a
/// lead byte, which no other character has inside it. The text rules work on bytes, not
/// `char`s: decoding (`Chars`, `CharIndices`, `next_code_point`) costs the wasm ~600 B of code.
///
/// The rules that find characters take `(text, index)`, here and in [`replace`]: as function
/// pointers, a `fn(&[u8]) -> usize` would share its wasm type with `Display::fmt`, and one
/// `call_indirect` of that type keeps `core::fmt`'s padding and counting code in the wasm.
pub fn js_space_len(b: &[u8], i: usize) -> usize {
    match b.get(i..).unwrap_or_default() {
        [b'\t'..=b'\r' | b' ', ..] => 1,
        [0xC2, 0xA0, ..] => 2,
        [0xE1, 0x9A, 0x80, ..]
        | [0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF, ..]
        | [0xE2, 0x81, 0x9F, ..]
        | [0xE3, 0x80, 0x80, ..]
        | [0xEF, 0xBB, 0xBF, ..] => 3,
        _ => 0,
    }
}

/// The byte length of the character [`trim`] drops at byte `i` of `b`, 0 if none: JavaScript
/// white space ([`js_space_len`]) and the zero-width characters that arrive with copy-pasted
/// emails (U+200B–U+200D; U+FEFF is white space).
fn trimmed_len(b: &[u8], i: usize) -> usize {
    match b.get(i..).unwrap_or_default() {
        [0xE2, 0x80, 0x8B..=0x8D, ..] => 3,
        _ => js_space_len(b, i),
    }
}

/// How many bytes at the start of `b` are characters `len_at` finds (see [`js_space_len`]).
fn skip(b: &[u8], len_at: fn(&[u8], usize) -> usize) -> usize {
    let mut i = 0;
    loop {
        match len_at(b, i) {
            0 => return i,
            n => i += n,
        }
    }
}

/// Trims white space and zero-width characters from both ends.
pub fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let start = skip(b, trimmed_len);
    let mut end = b.len();
    while end > start {
        // The last character starts at the last byte before `end` that is not a continuation
        // byte (`10xxxxxx`); it goes when it is one to drop, whole.
        let mut last = end - 1;
        while last > start && b.get(last).is_some_and(|c| c & 0xC0 == 0x80) {
            last -= 1;
        }
        if trimmed_len(b, last) != end - last {
            break;
        }
        end = last;
    }
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
    let sep_len: fn(&[u8], usize) -> usize = match style {
        KeyStyle::Unchanged => return key,
        KeyStyle::PerChar => {
            |b, i| usize::from(matches!(b.get(i), Some(b' ' | b'.' | b'\t'..=b'\r')))
        }
        KeyStyle::Runs => |b, i| match b.get(i) {
            Some(b'.') => 1,
            _ => js_space_len(b, i),
        },
    };
    // Most keys have nothing to replace: they are lowercased in place, not copied. A tight byte
    // loop finds them (keys are formatted per property of every call): no separator's first byte
    // (space, `.`, tab through CR) and no non-ASCII byte, which may start white space.
    if !key
        .bytes()
        .any(|b| matches!(b, b' ' | b'.' | b'\t'..=b'\r' | 0x80..))
    {
        return lowercase(key);
    }
    lowercase(replace(&key, sep_len, "_", style == KeyStyle::Runs))
}

/// `s` with each character `sep_len` finds (its byte length there, 0 if none; asked at every byte,
/// see [`js_space_len`]) replaced by `with`; with `collapse`, each run of them by one `with`.
/// Text between them is copied a slice at a time.
pub(crate) fn replace(
    s: &str,
    sep_len: fn(&[u8], usize) -> usize,
    with: &str,
    collapse: bool,
) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut kept_from, mut in_run) = (0, 0, false);
    while i < b.len() {
        let n = sep_len(b, i);
        if n == 0 {
            i += 1;
        } else {
            if !(collapse && in_run) {
                out.push_str(s.get(kept_from..i).unwrap_or_default());
                out.push_str(with);
            }
            i += n;
            kept_from = i;
        }
        in_run = n > 0;
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
    // No white space and no control character (C0, DEL, C1: U+0080–U+009F is C2 80–C2 9F).
    let space_or_control = |i: usize| {
        js_space_len(b, i) > 0
            || matches!(
                b.get(i..),
                Some([0..=0x1F | 0x7F, ..] | [0xC2, 0x80..=0x9F, ..])
            )
    };
    at > 0 && dot && prev != b'.' && !(0..b.len()).any(space_or_control)
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
        if !is_loose_separator(b) && want.next() != Some(b.to_ascii_lowercase()) {
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

/// The separators [`loose_key`] and [`is_loosely`] ignore: `-`, `_`, space and `.`.
fn is_loose_separator(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b' ' | b'.')
}

/// Normalises a key for case- and separator-insensitive lookup (`E-mail`, `e_mail` → `email`).
pub fn loose_key(key: &str) -> String {
    let dropped = |b: &[u8], i| usize::from(b.get(i).is_some_and(|&c| is_loose_separator(c)));
    lowercase(replace(key, dropped, "", false))
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
    // Two passes of [`replace`] (backslashes first): messages are rare, and a loop of its own
    // costs the wasm more.
    let backslash = |b: &[u8], i| usize::from(b.get(i) == Some(&b'\\'));
    let quote_mark = |b: &[u8], i| usize::from(b.get(i) == Some(&b'"'));
    let escaped = replace(
        &replace(s, backslash, "\\\\", false),
        quote_mark,
        "\\\"",
        false,
    );
    concat(&["\"", &escaped, "\""])
}

/// JavaScript's `parseFloat`: the longest numeric prefix after leading white space.
pub fn js_parse_float(s: &str) -> Option<f64> {
    let s = s
        .get(skip(s.as_bytes(), js_space_len)..)
        .unwrap_or_default();
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

    /// JavaScript's `\s` per character, as `is_js_whitespace` stated it before the rules moved
    /// to bytes: the reference for [`js_space_len`].
    fn is_js_whitespace(c: char) -> bool {
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

    /// Every character, alone and between others: the byte rules find exactly the characters
    /// of the per-character rule, at their first byte, and nothing at any other byte.
    #[test]
    fn byte_rules_find_every_character_of_the_char_rules() {
        let zero_width = |c| matches!(c, '\u{200B}'..='\u{200D}' | '\u{FEFF}');
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let text = format!("a{c}\u{A0}");
            let b = text.as_bytes();
            let len = c.len_utf8();
            let space = if is_js_whitespace(c) { len } else { 0 };
            let trimmed = if is_js_whitespace(c) || zero_width(c) {
                len
            } else {
                0
            };
            assert_eq!(js_space_len(b, 1), space, "{c:?}");
            assert_eq!(trimmed_len(b, 1), trimmed, "{c:?}");
            for i in 2..=len {
                assert_eq!(
                    (js_space_len(b, i), trimmed_len(b, i)),
                    (0, 0),
                    "{c:?} at {i}"
                );
            }
            // The end of the text, alone: what `trim` asks of its last bytes.
            assert_eq!(js_space_len(b.get(..=len).unwrap(), 1), space, "{c:?}");
        }
    }

    /// The `char_indices` form the byte loops of [`trim`] replaced.
    fn trim_by_chars(s: &str) -> &str {
        let trimmed = |c| is_js_whitespace(c) || matches!(c, '\u{200B}'..='\u{200D}' | '\u{FEFF}');
        let start = s
            .char_indices()
            .find(|&(_, c)| !trimmed(c))
            .map_or(s.len(), |(i, _)| i);
        let end = s
            .char_indices()
            .rev()
            .find(|&(_, c)| !trimmed(c))
            .map_or(start, |(i, c)| i + c.len_utf8());
        &s[start..end]
    }

    /// The `chars` form of [`quote`].
    fn quote_by_chars(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    }

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

        /// The byte loops agree with the `char` forms they replaced.
        #[test]
        fn byte_loops_agree_with_the_char_forms(s in "[ \t\u{A0}\u{2000}\u{200B}\u{202F}\u{3000}\u{FEFF}\"\\\\a._-é🍱]{0,10}|\\PC{0,10}") {
            proptest::prop_assert_eq!(trim(&s), trim_by_chars(&s));
            proptest::prop_assert_eq!(quote(&s), quote_by_chars(&s));
            let loose: String = s.chars().filter(|c| !matches!(c, '-' | '_' | ' ' | '.')).collect();
            proptest::prop_assert_eq!(loose_key(&s), lowercase(loose));
        }

        /// The email test's white-space and control check, on bytes, agrees with the `chars`
        /// form (C0, DEL and C1 controls beside white space and their UTF-8 neighbours).
        #[test]
        fn is_email_controls_agree_with_the_char_form(s in "a[\u{0}\u{1F}\u{7F}\u{80}\u{9F}\u{A0}\u{A1}\u{2000}\u{2100}é]?@b[\u{0}\u{9F}\u{A0}\u{A1}é]?[.]co|[a@.\u{0}\u{9F}\u{A1}]{0,8}") {
            proptest::prop_assert_eq!(is_email(&s), is_email_by_windows(&s));
        }

        /// The byte loop agrees with `str::is_ascii`.
        #[test]
        fn is_ascii_agrees_with_str_is_ascii(s in "[\\t -~]{0,12}|\\PC{0,12}") {
            proptest::prop_assert_eq!(is_ascii(&s), s.is_ascii());
        }
    }
}
