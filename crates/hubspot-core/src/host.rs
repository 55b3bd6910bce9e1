//! Three text operations a JavaScript engine already carries, which Rust's std would add about
//! 45 KB (15 KB brotli) of tables and code to the wasm for: Unicode lowercasing, number →
//! shortest string, and decimal string → number.
//!
//! Native builds use std's versions (feature `std-text`, on by default). The browser shell builds
//! the core without that feature and calls [`install`] with the page's own functions before the
//! first event, so the wasm carries none of those tables. (`std-text` needs only `alloc`: the
//! name says which implementations, not which library.) Callers use the rules in [`crate::text`]
//! and [`crate::value::format_number`], which keep ASCII and integers (nearly every key and
//! number) on a fast path in Rust and reach the host only for the rest.

use crate::prelude::*;
use once_cell::race::OnceRef;

/// Implementations of the host-provided operations.
#[derive(Clone, Copy, Debug)]
pub struct HostText {
    /// Unicode lowercase, as `String.prototype.toLowerCase` does. Called only for non-ASCII text.
    pub lowercase: fn(&str) -> String,
    /// JavaScript's `String(n)`. Called only for numbers that are not safe integers.
    pub number_to_string: fn(f64) -> String,
    /// The value of a decimal literal the caller has already validated
    /// (`[+-]digits[.digits][(e|E)[+-]digits]`, or `Infinity` with a sign).
    pub parse_decimal: fn(&str) -> Option<f64>,
}

/// A lock-free once-cell of a reference (std's `OnceLock` is not in `core`): the operations are
/// plain functions, so a shell keeps them in a `static` and no allocation is needed.
static HOST: OnceRef<'static, HostText> = OnceRef::new();

/// Installs the host's operations. The first call wins; later calls are ignored, so every entry
/// point of a shell may call it.
pub fn install(host: &'static HostText) {
    let _ = HOST.set(host);
}

/// The installed operations, or std's when built with `std-text` and none were installed.
pub(crate) fn host() -> &'static HostText {
    #[cfg(feature = "std-text")]
    {
        HOST.get_or_init(|| &STD)
    }
    #[cfg(not(feature = "std-text"))]
    {
        HOST.get()
            .expect("hubspot_core::host::install must run before events are mapped")
    }
}

/// Rust's std implementations, matching JavaScript for the values payloads carry.
#[cfg(feature = "std-text")]
pub const STD: HostText = HostText {
    lowercase: str::to_lowercase,
    number_to_string: std_number_to_string,
    parse_decimal: |s| s.parse().ok(),
};

#[cfg(feature = "std-text")]
fn std_number_to_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".to_owned()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        // Shortest digits that read back as `n`, padded with zeros as JavaScript pads them (2^60
        // is "1152921504606847000", not its exact "…846976"). Exponent forms still differ:
        // JavaScript uses one below 1e-6 and from 1e21.
        format!("{n}")
    }
}
