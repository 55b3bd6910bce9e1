//! Settings in two stages: what the site passed ([`RawSettings`], every field optional, every
//! spelling the reference integrations use) and what the module runs with ([`Settings`], complete
//! and checked), joined by one pure function, [`RawSettings::resolve`].

use crate::text::{parse_number, quote};
use crate::value::{Map, Value, format_number};
use std::fmt;

/// Which integration's `_hsq` output to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// This project's behaviour (device-mode spec, section 5).
    Default,
    /// Segment's analytics.js "HubSpot" integration, for sites migrating from it.
    Classic,
    /// Segment's "HubSpot Web (Actions)" destination, for sites migrating from it.
    Actions,
}

/// Whether the visitor allows HubSpot tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    /// Load HubSpot and forward calls.
    Granted,
    /// Hold calls (bounded) and load nothing until granted or denied.
    Pending,
    /// Load nothing, drop held and later calls; tell a loaded tracker `doNotTrack`.
    Denied,
}

impl Consent {
    /// Parses `'granted' | 'pending' | 'denied'` (any case).
    pub fn parse(s: &str) -> Option<Consent> {
        match s.to_ascii_lowercase().as_str() {
            "granted" => Some(Consent::Granted),
            "pending" => Some(Consent::Pending),
            "denied" => Some(Consent::Denied),
            _ => None,
        }
    }
}

/// Settings as given: every field optional. Built from a JavaScript/JSON object by
/// [`RawSettings::from_value`], which accepts every alias in [`SETTING_NAMES`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawSettings {
    /// Hub ID (`portalId`, `hubId`, `hubID`, `portalID`): digits, as a string or a number.
    pub portal_id: Option<String>,
    /// Use HubSpot's EU hosts for tracking and forms.
    pub enable_european_data_center: Option<bool>,
    /// Also load the Forms SDK (`loadFormsSDK`, `loadFormsSdk`).
    pub load_forms_sdk: Option<bool>,
    /// Turn track names into `pe<portalId>_<name>`.
    pub format_custom_behavioral_event_names: Option<bool>,
    /// Segment event name → HubSpot internal event name.
    pub event_names: Option<Vec<(String, String)>>,
    /// Push a page view right after every transmitted identify.
    pub flush_identify_immediately: Option<bool>,
    /// Push a page view if an accepted identify is still pending after this many ms.
    pub identify_flush_ms: Option<f64>,
    /// `'default' | 'classic' | 'actions'`.
    pub compat: Option<Profile>,
    /// Initial consent state.
    pub consent: Option<Consent>,
    /// CSP nonce for injected scripts.
    pub nonce: Option<String>,
    /// How long to wait for HubSpot's script.
    pub load_timeout_ms: Option<f64>,
    /// Calls held before HubSpot can take them.
    pub max_queue: Option<f64>,
    /// Forget the visitor on `reset()`.
    pub reset_clears_visitor: Option<bool>,
    /// Log decisions to the console.
    pub debug: Option<bool>,
    /// Load HubSpot's tracking code from this URL instead (a first-party proxy, or a stand-in).
    pub tracking_script_url: Option<String>,
    /// Load the Forms SDK from this URL instead.
    pub forms_script_url: Option<String>,
    /// Keys that matched no setting (ignored; reported once in debug mode).
    pub unknown_keys: Vec<String>,
}

/// Every setting with the spellings accepted for it (first = canonical, used in errors).
pub const SETTING_NAMES: &[&[&str]] = &[
    &["portalId", "portalID", "hubId", "hubID"],
    &["enableEuropeanDataCenter"],
    &["loadFormsSDK", "loadFormsSdk"],
    &["formatCustomBehavioralEventNames"],
    &["eventNames"],
    &["flushIdentifyImmediately"],
    &["identifyFlushMs"],
    &["compat"],
    &["consent"],
    &["nonce"],
    &["loadTimeoutMs"],
    &["maxQueue"],
    &["resetClearsVisitor"],
    &["debug"],
    &["trackingScriptUrl"],
    &["formsScriptUrl"],
];

/// A setting that cannot be used, named as the site would look for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// The setting's canonical name (`portalId`, `consent`, …).
    pub setting: &'static str,
    /// What is wrong, in words a site developer understands.
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubSpot settings: `{}` {}", self.setting, self.problem)
    }
}

impl std::error::Error for SettingsError {}

fn err(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        setting,
        problem: problem.into(),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {}", format_number(*n)),
        Value::String(s) => format!("the string {}", quote(s)),
        Value::Date(_) => "a Date".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl RawSettings {
    /// Reads settings from an object. `null` means "not given". A wrong type is an error that
    /// names the setting; unknown keys are collected in `unknown_keys`.
    pub fn from_value(value: &Value) -> Result<RawSettings, SettingsError> {
        let obj = match value {
            Value::Object(m) => m,
            Value::Null => return Ok(RawSettings::default()),
            other => {
                return Err(err(
                    "settings",
                    format!("must be an object, got {}", describe(other)),
                ));
            }
        };
        let mut raw = RawSettings::default();
        for (key, v) in obj.iter() {
            let Some(names) = SETTING_NAMES.iter().find(|names| names.contains(&key)) else {
                raw.unknown_keys.push(key.to_owned());
                continue;
            };
            if matches!(v, Value::Null) {
                continue;
            }
            raw.set(names[0], v)?;
        }
        Ok(raw)
    }

    fn set(&mut self, name: &'static str, v: &Value) -> Result<(), SettingsError> {
        let boolean = |v: &Value| match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            other => Err(err(
                name,
                format!("must be true or false, got {}", describe(other)),
            )),
        };
        let number = |v: &Value| match v {
            Value::Number(n) if n.is_finite() && *n >= 0.0 => Ok(*n),
            Value::String(s) if parse_number(s).is_some_and(|n| n.is_finite() && n >= 0.0) => {
                Ok(parse_number(s).unwrap_or_default())
            }
            other => Err(err(
                name,
                format!("must be a non-negative number, got {}", describe(other)),
            )),
        };
        let string = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(err(
                name,
                format!("must be a string, got {}", describe(other)),
            )),
        };
        match name {
            "portalId" => {
                self.portal_id = Some(match v {
                    Value::Number(n) => format_number(*n),
                    other => string(other)?,
                })
            }
            "enableEuropeanDataCenter" => self.enable_european_data_center = Some(boolean(v)?),
            "loadFormsSDK" => self.load_forms_sdk = Some(boolean(v)?),
            "formatCustomBehavioralEventNames" => {
                self.format_custom_behavioral_event_names = Some(boolean(v)?)
            }
            "eventNames" => self.event_names = Some(event_names(v)?),
            "flushIdentifyImmediately" => self.flush_identify_immediately = Some(boolean(v)?),
            "identifyFlushMs" => self.identify_flush_ms = Some(number(v)?),
            "compat" => {
                let s = string(v)?;
                self.compat = Some(match s.to_ascii_lowercase().as_str() {
                    "default" => Profile::Default,
                    "classic" => Profile::Classic,
                    "actions" => Profile::Actions,
                    _ => {
                        return Err(err(
                            name,
                            format!(
                                "must be 'default', 'classic' or 'actions', got {}",
                                quote(&s)
                            ),
                        ));
                    }
                })
            }
            "consent" => {
                let s = string(v)?;
                self.consent = Some(Consent::parse(&s).ok_or_else(|| {
                    err(
                        name,
                        format!(
                            "must be 'granted', 'pending' or 'denied', got {}",
                            quote(&s)
                        ),
                    )
                })?)
            }
            "nonce" => self.nonce = Some(string(v)?),
            "loadTimeoutMs" => self.load_timeout_ms = Some(number(v)?),
            "maxQueue" => self.max_queue = Some(number(v)?),
            "resetClearsVisitor" => self.reset_clears_visitor = Some(boolean(v)?),
            "debug" => self.debug = Some(boolean(v)?),
            "trackingScriptUrl" => self.tracking_script_url = Some(string(v)?),
            "formsScriptUrl" => self.forms_script_url = Some(string(v)?),
            _ => unreachable!("every name in SETTING_NAMES is handled"),
        }
        Ok(())
    }

    /// Resolves into complete settings, or says which setting is wrong.
    pub fn resolve(&self) -> Result<Settings, SettingsError> {
        let portal_id = match self.portal_id.as_deref().map(str::trim) {
            None | Some("") => return Err(err("portalId", "is required (your HubSpot Hub ID)")),
            Some(p) if p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit()) => p.to_owned(),
            Some(p) => {
                return Err(err(
                    "portalId",
                    format!("must be the digits of your Hub ID, got {}", quote(p)),
                ));
            }
        };
        let load_timeout_ms = self.load_timeout_ms.unwrap_or(10_000.0);
        if load_timeout_ms == 0.0 {
            return Err(err("loadTimeoutMs", "must be greater than 0"));
        }
        let max_queue = self.max_queue.unwrap_or(1000.0);
        if max_queue.fract() != 0.0 {
            return Err(err("maxQueue", "must be a whole number"));
        }
        let nonce = match self.nonce.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(n) => Some(n.to_owned()),
        };
        Ok(Settings {
            portal_id,
            european_data_center: self.enable_european_data_center.unwrap_or(false),
            load_forms_sdk: self.load_forms_sdk.unwrap_or(false),
            format_event_names: self.format_custom_behavioral_event_names.unwrap_or(true),
            event_names: self.event_names.clone().unwrap_or_default(),
            flush_identify_immediately: self.flush_identify_immediately.unwrap_or(false),
            identify_flush_ms: self.identify_flush_ms,
            profile: self.compat.unwrap_or(Profile::Default),
            consent: self.consent.unwrap_or(Consent::Granted),
            nonce,
            load_timeout_ms,
            max_queue: max_queue as usize,
            reset_clears_visitor: self.reset_clears_visitor.unwrap_or(true),
            debug: self.debug.unwrap_or(false),
            tracking_script_url: self
                .tracking_script_url
                .clone()
                .filter(|u| !u.trim().is_empty()),
            forms_script_url: self
                .forms_script_url
                .clone()
                .filter(|u| !u.trim().is_empty()),
        })
    }
}

/// `eventNames` as an object (`{"Signed Up": "pe123_signup"}`) or as Segment's list of
/// `{key, value}` pairs.
fn event_names(v: &Value) -> Result<Vec<(String, String)>, SettingsError> {
    const NAME: &str = "eventNames";
    let pair = |k: &str, v: &Value| match v {
        Value::String(s) => Ok((k.to_owned(), s.clone())),
        other => Err(err(
            NAME,
            format!(
                "maps {} to {}, expected a string",
                quote(k),
                describe(other)
            ),
        )),
    };
    // Loops, not `collect::<Result<Vec<_>, _>>()`, whose adapter costs wasm bytes.
    let mut names = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter() {
                names.push(pair(k, v)?);
            }
        }
        Value::Array(items) => {
            for item in items {
                let obj = item.as_object().unwrap_or(const { &Map::new() });
                names.push(match (obj.get("key"), obj.get("value")) {
                    (Some(Value::String(k)), Some(v)) => pair(k, v)?,
                    _ => return Err(err(NAME, "list items must be {key, value} strings")),
                });
            }
        }
        other => {
            return Err(err(
                NAME,
                format!("must be an object of names, got {}", describe(other)),
            ));
        }
    }
    Ok(names)
}

/// Complete, checked settings (defaults applied). See the README's settings table.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Hub ID, digits only.
    pub portal_id: String,
    /// EU hosts for tracking and forms.
    pub european_data_center: bool,
    /// Load the Forms SDK too.
    pub load_forms_sdk: bool,
    /// `pe<portalId>_…` event names.
    pub format_event_names: bool,
    /// Explicit event-name map; wins over formatting.
    pub event_names: Vec<(String, String)>,
    /// Page view after each transmitted identify.
    pub flush_identify_immediately: bool,
    /// Page view after an identify pending this long (ms); `None` = off.
    pub identify_flush_ms: Option<f64>,
    /// Output profile.
    pub profile: Profile,
    /// Initial consent.
    pub consent: Consent,
    /// CSP nonce; `None` = the shell uses the loading script's nonce, if any.
    pub nonce: Option<String>,
    /// Give up on HubSpot's script after this long (ms).
    pub load_timeout_ms: f64,
    /// Bound on calls held before HubSpot can take them.
    pub max_queue: usize,
    /// Forget the visitor on reset.
    pub reset_clears_visitor: bool,
    /// Log decisions.
    pub debug: bool,
    /// Tracking script URL override.
    pub tracking_script_url: Option<String>,
    /// Forms SDK URL override.
    pub forms_script_url: Option<String>,
}

impl Settings {
    /// Resolves settings from a JavaScript/JSON object in one step.
    pub fn from_value(value: &Value) -> Result<(Settings, Vec<String>), SettingsError> {
        let raw = RawSettings::from_value(value)?;
        Ok((raw.resolve()?, raw.unknown_keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (*k, v.clone())).collect())
    }

    #[test]
    fn defaults() {
        let (s, unknown) = Settings::from_value(&obj(&[("portalId", "62515".into())])).unwrap();
        assert!(unknown.is_empty());
        assert_eq!(s.portal_id, "62515");
        assert!(!s.european_data_center && !s.load_forms_sdk);
        assert!(s.format_event_names);
        assert!(!s.flush_identify_immediately);
        assert_eq!(s.identify_flush_ms, None);
        assert_eq!(s.profile, Profile::Default);
        assert_eq!(s.consent, Consent::Granted);
        assert_eq!(s.load_timeout_ms, 10_000.0);
        assert_eq!(s.max_queue, 1000);
        assert!(s.reset_clears_visitor && !s.debug);
    }

    #[test]
    fn every_spelling_is_accepted() {
        for key in ["portalId", "portalID", "hubId", "hubID"] {
            let (s, _) = Settings::from_value(&obj(&[(key, Value::Number(1234.0))])).unwrap();
            assert_eq!(s.portal_id, "1234", "{key}");
        }
        for key in ["loadFormsSDK", "loadFormsSdk"] {
            let (s, _) =
                Settings::from_value(&obj(&[("portalId", "1".into()), (key, true.into())]))
                    .unwrap();
            assert!(s.load_forms_sdk, "{key}");
        }
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let (_, unknown) =
            Settings::from_value(&obj(&[("portalId", "1".into()), ("colour", "red".into())]))
                .unwrap();
        assert_eq!(unknown, ["colour"]);
    }

    #[test]
    fn errors_name_the_setting() {
        let cases: [(Value, &str, &str); 10] = [
            (obj(&[]), "portalId", "is required"),
            (obj(&[("portalId", "".into())]), "portalId", "is required"),
            (obj(&[("portalId", "abc".into())]), "portalId", "digits"),
            (obj(&[("portalId", "null".into())]), "portalId", "digits"),
            (
                obj(&[("portalId", "1".into()), ("consent", "maybe".into())]),
                "consent",
                "'granted'",
            ),
            (
                obj(&[("portalId", "1".into()), ("compat", "v2".into())]),
                "compat",
                "'classic'",
            ),
            (
                obj(&[("portalId", "1".into()), ("debug", Value::Number(1.0))]),
                "debug",
                "true or false",
            ),
            (
                obj(&[("portalId", "1".into()), ("maxQueue", Value::Number(-1.0))]),
                "maxQueue",
                "non-negative",
            ),
            (
                obj(&[
                    ("portalId", "1".into()),
                    ("loadTimeoutMs", Value::Number(0.0)),
                ]),
                "loadTimeoutMs",
                "greater than 0",
            ),
            (
                obj(&[("portalId", "1".into()), ("eventNames", "x".into())]),
                "eventNames",
                "object",
            ),
        ];
        for (input, setting, words) in cases {
            let e = Settings::from_value(&input).unwrap_err();
            assert_eq!(e.setting, setting, "{input:?}");
            assert!(e.to_string().contains(words), "{e}");
            assert!(e.to_string().contains(setting), "{e}");
        }
    }

    #[test]
    fn event_names_as_object_or_pairs() {
        let pairs = Value::Array(vec![obj(&[
            ("key", "Signed Up".into()),
            ("value", "pe1_signup".into()),
        ])]);
        for names in [obj(&[("Signed Up", "pe1_signup".into())]), pairs] {
            let (s, _) =
                Settings::from_value(&obj(&[("portalId", "1".into()), ("eventNames", names)]))
                    .unwrap();
            assert_eq!(
                s.event_names,
                [("Signed Up".to_owned(), "pe1_signup".to_owned())]
            );
        }
    }

    #[test]
    fn null_means_not_given() {
        let (s, _) =
            Settings::from_value(&obj(&[("portalId", "1".into()), ("consent", Value::Null)]))
                .unwrap();
        assert_eq!(s.consent, Consent::Granted);
    }
}
