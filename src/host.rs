//! The page's own text operations, lent to the core (see `hubspot_core::host`): the browser
//! already has Unicode case tables and number formatting, so the wasm need not carry them.

use alloc::string::String;

use hubspot_core::host::{HostText, install};
use js_sys::{JsString, Number};

/// The page's implementations, in a `static` because the core keeps a reference to them.
static PAGE_TEXT: HostText = HostText {
    lowercase: |s| String::from(JsString::from(s).to_lower_case()),
    number_to_string: |n| {
        Number::from(n)
            .to_string_with_radix(10)
            .map(String::from)
            .unwrap_or_default()
    },
    parse_decimal: |s| Some(js_sys::parse_float(s)).filter(|n| !n.is_nan()),
};

/// Installs the page's implementations; repeated calls are no-ops.
pub fn install_page_text() {
    install(&PAGE_TEXT);
}
