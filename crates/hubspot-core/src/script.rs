//! Which HubSpot scripts to load, from where, and how to recognise HubSpot already on a page.

use crate::prelude::*;
use crate::text::concat;

use crate::mapping::{Knobs, ScriptStyle};
use crate::settings::Settings;

/// What a script tag is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptRole {
    /// HubSpot's tracking code (drives `_hsq`).
    Tracking,
    /// The Forms SDK (`hbspt.forms`); never gates tracking.
    Forms,
}

/// A script tag to inject (`async`, `type="text/javascript"`, the nonce, before the first
/// `<script>` or into `<head>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// What it is for.
    pub role: ScriptRole,
    /// Its `src`.
    pub url: String,
    /// Its `id`, which HubSpot's own code looks for to avoid loading twice.
    pub id: Option<&'static str>,
}

/// Ids of the tags HubSpot's embed code and the reference integrations use.
pub const HUBSPOT_TAG_IDS: [&str; 2] = ["hs-script-loader", "hs-analytics"];

/// Classic's cache buster: the epoch ms rounded up to the next multiple of five minutes.
pub fn cache_buster(now_ms: f64) -> u64 {
    // Ceiling from `trunc` (std's `f64::ceil` is not in `core`): up one when a fraction was cut.
    let q = now_ms / 300_000.0;
    let t = crate::value::trunc(q);
    let up = if t < q { t + 1.0 } else { t };
    (up * 300_000.0) as u64
}

/// The tracking script for these settings (`now_ms` only matters to classic's cache buster).
pub fn tracking_script(settings: &Settings, knobs: &Knobs, now_ms: f64) -> Script {
    let id = &settings.portal_id;
    let eu = settings.european_data_center;
    let (url, tag_id) = match knobs.scripts {
        ScriptStyle::ClassicFormsFirst => {
            let host = if eu {
                "js-eu1.hs-analytics.net"
            } else {
                "js.hs-analytics.net"
            };
            (
                {
                    let mut buster = String::new();
                    crate::text::push_decimal(&mut buster, cache_buster(now_ms), 1);
                    concat(&["https://", host, "/analytics/", &buster, "/", id, ".js"])
                },
                "hs-analytics",
            )
        }
        ScriptStyle::LoaderFormsParallel | ScriptStyle::LoaderFormsAfter => {
            let host = if eu {
                "js-eu1.hs-scripts.com"
            } else {
                "js.hs-scripts.com"
            };
            (
                concat(&["https://", host, "/", id, ".js"]),
                "hs-script-loader",
            )
        }
    };
    Script {
        role: ScriptRole::Tracking,
        // A match, not `clone().unwrap_or()`: smaller in the wasm.
        url: match &settings.tracking_script_url {
            Some(u) => u.clone(),
            None => url,
        },
        id: Some(tag_id),
    }
}

/// The Forms SDK script, when `loadFormsSDK` is on.
pub fn forms_script(settings: &Settings, knobs: &Knobs) -> Option<Script> {
    if !settings.load_forms_sdk {
        return None;
    }
    let url = match knobs.scripts {
        ScriptStyle::ClassicFormsFirst => "https://js.hsforms.net/forms/shell.js",
        _ if settings.european_data_center => "https://js-eu1.hsforms.net/forms/v2.js",
        _ => "https://js.hsforms.net/forms/v2.js",
    };
    Some(Script {
        role: ScriptRole::Forms,
        url: match &settings.forms_script_url {
            Some(u) => u.clone(),
            None => url.to_owned(),
        },
        id: None,
    })
}

/// Whether `src` is HubSpot's tracking code for this portal (any of HubSpot's script hosts,
/// `http`, `https` or protocol-relative).
pub fn is_hubspot_tracking_url(src: &str, portal_id: &str) -> bool {
    // On bytes, by positions: `str` slices and `strip_prefix`/`strip_suffix` cost the wasm
    // `str::get`'s char-boundary checks and their `Option`s through memory (every byte sought
    // is ASCII); `get`, not indexing, whose panic would link core::fmt.
    let b = src.as_bytes();
    let scheme = if b.starts_with(b"https:") {
        6
    } else if b.starts_with(b"http:") {
        5
    } else {
        0
    };
    let Some(rest) = b.get(scheme..).filter(|r| r.starts_with(b"//")) else {
        return false;
    };
    let rest = rest.get(2..).unwrap_or_default();
    let slash = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
    let host = rest.get(..slash).unwrap_or_default();
    let path = rest.get(slash + 1..).unwrap_or_default();
    let end = path
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .unwrap_or(path.len());
    let path = path.get(..end).unwrap_or_default();
    // `host` is a HubSpot domain or a subdomain of one; `path` ends in `<portal>.js`, after
    // nothing or a `/`.
    let hubspot_host = [&b"hs-scripts.com"[..], b"hs-analytics.net"]
        .iter()
        .any(|d| suffix_after(host, &[d], b'.'));
    hubspot_host && suffix_after(path, &[portal_id.as_bytes(), b".js"], b'/')
}

/// Whether `b` ends with the concatenation of `parts`, with nothing or `sep` before it.
fn suffix_after(b: &[u8], parts: &[&[u8]], sep: u8) -> bool {
    let mut end = b.len();
    for part in parts.iter().rev() {
        let Some(start) = end.checked_sub(part.len()) else {
            return false;
        };
        if b.get(start..end) != Some(part) {
            return false;
        }
        end = start;
    }
    end == 0 || b.get(end - 1) == Some(&sep)
}

/// Whether `src` is HubSpot's Forms SDK (a `hsforms.net/forms/` URL on any of its hosts).
pub fn is_hubspot_forms_url(src: &str) -> bool {
    // A byte-window search: `str::contains(&str)` links core::fmt's Debug machinery.
    const NEEDLE: &[u8] = b"hsforms.net/forms/";
    src.as_bytes().windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_buster_rounds_up_to_five_minutes() {
        assert_eq!(cache_buster(0.0), 0);
        assert_eq!(cache_buster(1.0), 300_000);
        assert_eq!(cache_buster(300_000.0), 300_000);
        assert_eq!(cache_buster(1_700_000_000_123.0), 1_700_000_100_000);
        // The std-free ceiling agrees with std's on every edge, clamps included.
        for now in [
            -1.0,
            -300_001.0,
            0.5,
            299_999.9,
            1e300,
            f64::INFINITY,
            f64::NAN,
        ] {
            let std = ((now / 300_000.0).ceil() * 300_000.0) as u64;
            assert_eq!(cache_buster(now), std, "{now}");
        }
    }

    #[test]
    fn recognises_the_forms_sdk() {
        assert!(is_hubspot_forms_url(
            "https://js-eu1.hsforms.net/forms/v2.js"
        ));
        assert!(is_hubspot_forms_url("//js.hsforms.net/forms/shell.js"));
        assert!(!is_hubspot_forms_url("https://js.hsforms.net/v2.js"));
        assert!(!is_hubspot_forms_url("hsforms"));
    }

    /// The tracking-URL test as it was on `str` slices: the reference for the byte version.
    fn tracking_url_on_str(src: &str, portal_id: &str) -> bool {
        let rest = src
            .strip_prefix("https:")
            .or_else(|| src.strip_prefix("http:"))
            .unwrap_or(src);
        let Some(rest) = rest.strip_prefix("//") else {
            return false;
        };
        let slash = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
        let host = rest.get(..slash).unwrap_or(rest);
        let path = rest.get(slash + 1..).unwrap_or("");
        let end = path.bytes().position(|b| b == b'?' || b == b'#');
        let path = path.get(..end.unwrap_or(path.len())).unwrap_or(path);
        let hubspot_host = ["hs-scripts.com", "hs-analytics.net"].iter().any(|d| {
            host.strip_suffix(d)
                .is_some_and(|sub| sub.is_empty() || sub.ends_with("."))
        });
        let dir = path
            .strip_suffix(".js")
            .and_then(|p| p.strip_suffix(portal_id));
        hubspot_host && dir.is_some_and(|d| d.is_empty() || d.ends_with("/"))
    }

    proptest::proptest! {
        /// The byte version agrees with the `str` one on URL-shaped text and on any text.
        #[test]
        fn tracking_urls_as_the_str_rule_read_them(
            src in "(https?:)?(//)?([a-z.é]{0,4}\\.)?(js\\.)?(hs-scripts\\.com|hs-analytics\\.net|x\\.io)?/?([a-z0-9/]{0,4}/)?(12|123|1234)?(\\.js)?[?#]?[a-z/]{0,3}|\\PC{0,24}",
            portal in "12|123|1|",
        ) {
            proptest::prop_assert_eq!(
                is_hubspot_tracking_url(&src, &portal),
                tracking_url_on_str(&src, &portal)
            );
        }
    }

    #[test]
    fn recognises_hubspot_tracking_urls() {
        for yes in [
            "https://js.hs-scripts.com/123.js",
            "//js-eu1.hs-scripts.com/123.js?x=1",
            "https://js.hs-analytics.net/analytics/1700000100000/123.js",
            "http://js-na1.hs-scripts.com/123.js",
        ] {
            assert!(is_hubspot_tracking_url(yes, "123"), "{yes}");
        }
        for no in [
            "https://js.hs-scripts.com/1234.js",
            "https://evil.com/js.hs-scripts.com/123.js",
            "https://js.hsforms.net/forms/v2.js",
            "/123.js",
            "https://noths-scripts.com/123.js",
        ] {
            assert!(!is_hubspot_tracking_url(no, "123"), "{no}");
        }
    }
}
