//! Settings in two stages: what the site passed ([`RawSettings`], every field optional, every
//! spelling the reference integrations use) and what the module runs with ([`Settings`], complete
//! and checked), joined by one pure function, [`RawSettings::resolve`].

use crate::prelude::*;

use crate::text::{concat, parse_number, quote, trim};
use crate::value::{Map, Value, format_number};
use core::fmt;

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

impl Profile {
    /// In the order of [`PROFILE_WORDS`].
    const ALL: [Profile; 3] = [Profile::Default, Profile::Classic, Profile::Actions];
}

/// `compat`'s words, the default first.
const PROFILE_WORDS: &[&str] = &["default", "classic", "actions"];

impl Consent {
    /// In the order of [`CONSENT_WORDS`].
    const ALL: [Consent; 3] = [Consent::Granted, Consent::Pending, Consent::Denied];

    /// Parses `'granted' | 'pending' | 'denied'` (any case).
    pub fn parse(s: &str) -> Option<Consent> {
        let i = CONSENT_WORDS
            .iter()
            .position(|w| w.eq_ignore_ascii_case(s))?;
        Some(Consent::ALL[i])
    }
}

/// `consent`'s words, the default first.
const CONSENT_WORDS: &[&str] = &["granted", "pending", "denied"];

/// How a setting's value is read, with its default where the type has one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// The Hub ID: digits, as a string or a number. Required.
    PortalId,
    /// `true`/`false` (or those words as strings).
    Bool(bool),
    /// A non-negative number (or a string of one); `None`: off unless given.
    Number(Option<f64>),
    /// A string; absent or blank means the behaviour the table's `default` describes.
    Text,
    /// One of these words, any case; the first is the default.
    Choice(&'static [&'static str]),
    /// `eventNames`: an object of names, or Segment's list of `{key, value}` pairs.
    EventNames,
}

/// How one setting is spelled and read (its default and meaning are in [`SETTING_DOCS`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    /// Every spelling the reference integrations use; the first is canonical (used in errors).
    pub names: &'static [&'static str],
    /// How its value is read.
    pub kind: Kind,
}

/// The one settings table: parsing reads [`SETTINGS`], the TypeScript declarations
/// ([`typescript`]) and the README's table (checked by a test) follow it. The words are a second
/// array, so the wasm carries only what parsing needs.
macro_rules! settings_table {
    ($({ id: $id:ident, names: $names:expr, kind: $kind:expr, default: $default:literal, doc: $doc:literal $(,)? }),* $(,)?) => {
        /// A setting by its position in [`SETTINGS`]: resolving looks settings up by index, not
        /// by comparing names (which cost the wasm a string compare per lookup).
        #[derive(Clone, Copy)]
        enum SettingId { $($id),* }
        /// Every setting, in the README's order.
        pub const SETTINGS: &[Setting] = &[$(Setting { names: $names, kind: $kind }),*];
        /// Each setting's default, as the README's table states it, and what it does (the
        /// TypeScript doc comment), in the order of [`SETTINGS`].
        pub const SETTING_DOCS: &[(&str, &str)] = &[$(($default, $doc)),*];
    };
}

settings_table![
    {
        id: PortalId,
        names: &["portalId", "portalID", "hubId", "hubID"],
        kind: Kind::PortalId,
        default: "required",
        doc: "Hub ID: digits, as a string or a number.",
    },
    {
        id: EuropeanDataCenter,
        names: &["enableEuropeanDataCenter"],
        kind: Kind::Bool(false),
        default: "`false`",
        doc: "EU hosts for tracking and forms.",
    },
    {
        id: LoadFormsSdk,
        names: &["loadFormsSDK", "loadFormsSdk"],
        kind: Kind::Bool(false),
        default: "`false`",
        doc: "Also load the Forms SDK.",
    },
    {
        id: FormatEventNames,
        names: &["formatCustomBehavioralEventNames"],
        kind: Kind::Bool(true),
        default: "`true`",
        doc: "Track names become pe<portalId>_<name>.",
    },
    {
        id: EventNames,
        names: &["eventNames"],
        kind: Kind::EventNames,
        default: "`{}`",
        doc: "Segment event name → HubSpot internal event name; wins over formatting.",
    },
    {
        id: FlushIdentifyImmediately,
        names: &["flushIdentifyImmediately"],
        kind: Kind::Bool(false),
        default: "`false`",
        doc: "Push trackPageView right after each identify (after load).",
    },
    {
        id: IdentifyFlushMs,
        names: &["identifyFlushMs"],
        kind: Kind::Number(None),
        default: "off",
        doc: "Push trackPageView when an identify is still pending after this many ms.",
    },
    {
        id: Compat,
        names: &["compat"],
        kind: Kind::Choice(PROFILE_WORDS),
        default: "`'default'`",
        doc: "Reproduce a Segment integration's _hsq output.",
    },
    {
        id: Consent,
        names: &["consent"],
        kind: Kind::Choice(CONSENT_WORDS),
        default: "`'granted'`",
        doc: "Initial consent.",
    },
    {
        id: Nonce,
        names: &["nonce"],
        kind: Kind::Text,
        default: "the loading script's",
        doc: "CSP nonce for injected scripts.",
    },
    {
        id: LoadTimeoutMs,
        names: &["loadTimeoutMs"],
        kind: Kind::Number(Some(10_000.0)),
        default: "`10000`",
        doc: "Give up on HubSpot's script after this many ms.",
    },
    {
        id: MaxQueue,
        names: &["maxQueue"],
        kind: Kind::Number(Some(1000.0)),
        default: "`1000`",
        doc: "Calls held before HubSpot can take them.",
    },
    {
        id: ResetClearsVisitor,
        names: &["resetClearsVisitor"],
        kind: Kind::Bool(true),
        default: "`true`",
        doc: "reset() deletes HubSpot's visitor cookies.",
    },
    {
        id: Debug,
        names: &["debug"],
        kind: Kind::Bool(false),
        default: "`false`",
        doc: "Log each decision to the console.",
    },
    {
        id: TrackingScriptUrl,
        names: &["trackingScriptUrl"],
        kind: Kind::Text,
        default: "HubSpot's",
        doc: "Load HubSpot's tracking code from this URL instead (a first-party proxy or a stand-in).",
    },
    {
        id: FormsScriptUrl,
        names: &["formsScriptUrl"],
        kind: Kind::Text,
        default: "HubSpot's",
        doc: "Load the Forms SDK from this URL instead.",
    },
];

/// A setting's value as given, read by its [`Kind`].
#[derive(Clone, Debug, PartialEq)]
pub enum Given {
    /// [`Kind::Bool`].
    Bool(bool),
    /// [`Kind::Number`].
    Number(f64),
    /// [`Kind::PortalId`] (numbers as their digits) and [`Kind::Text`].
    Text(String),
    /// [`Kind::Choice`]: the index of the word.
    Choice(usize),
    /// [`Kind::EventNames`].
    EventNames(Vec<(String, String)>),
}

/// Settings as given: each setting of [`SETTINGS`] given or not. Built from a JavaScript/JSON
/// object by [`RawSettings::from_value`], which accepts every spelling in the table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawSettings {
    /// The value given for each setting, by its index in [`SETTINGS`]; of two spellings of one
    /// setting, the later in the object wins.
    pub given: [Option<Given>; SETTINGS.len()],
    /// Keys that matched no setting (ignored; reported once in debug mode).
    pub unknown_keys: Vec<String>,
}

/// The TypeScript declarations of the settings (`Consent` and `Settings`), from [`SETTINGS`]:
/// shipped in the npm package's `.d.ts` as `js/settings.d.ts` (a test keeps that file current).
pub fn typescript() -> String {
    let words = |words: &[&str]| {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        quoted.join(" | ")
    };
    let mut out = format!(
        "/** Consent state. */\nexport type Consent = {};\n\n\
         /** Destination settings (every spelling Segment's integrations use is accepted). */\n\
         export interface Settings {{\n",
        words(CONSENT_WORDS)
    );
    for (setting, (default, doc)) in SETTINGS.iter().zip(SETTING_DOCS) {
        let ts = match setting.kind {
            Kind::PortalId => "string | number".to_owned(),
            Kind::Bool(_) => "boolean".to_owned(),
            Kind::Number(None) => "number | null".to_owned(),
            Kind::Number(Some(_)) => "number".to_owned(),
            Kind::Text => "string".to_owned(),
            Kind::Choice(CONSENT_WORDS) => "Consent".to_owned(),
            Kind::Choice(w) => words(w),
            Kind::EventNames => {
                "Record<string, string> | Array<{ key: string; value: string }>".to_owned()
            }
        };
        let default = default.replace('`', "");
        for (i, name) in setting.names.iter().enumerate() {
            let doc = match (i, setting.kind) {
                (0, Kind::PortalId) => format!("{doc} Required."),
                (0, _) => format!("{doc} Default: {default}."),
                _ => format!("Alias of {}.", setting.names[0]),
            };
            out += &format!("  /** {doc} */\n  {name}?: {ts};\n");
        }
    }
    out + "}\n"
}

/// A setting that cannot be used, named as the site would look for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// The setting's canonical name (`portalId`, `consent`, …).
    pub setting: &'static str,
    /// What is wrong, in words a site developer understands.
    pub problem: String,
}

impl SettingsError {
    /// The error in words, as [`Display`](fmt::Display) writes it. Built without `core::fmt`,
    /// which the browser wasm does not link (see `crate::text::push_decimal`).
    pub fn message(&self) -> String {
        concat(&["HubSpot settings: `", self.setting, "` ", &self.problem])
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for SettingsError {}

fn err(setting: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        setting,
        problem: problem.into(),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(true) => "the boolean true".into(),
        Value::Bool(false) => "the boolean false".into(),
        Value::Number(n) => "the number ".to_owned() + &format_number(*n),
        Value::String(s) => "the string ".to_owned() + &quote(s),
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
            // Read as an empty object: one default built, not two.
            Value::Null => const { &Map::new() },
            other => {
                return Err(err(
                    "settings",
                    "must be an object, got ".to_owned() + &describe(other),
                ));
            }
        };
        let mut raw = RawSettings::default();
        for (key, v) in obj.iter() {
            // Setting and slot found together: no index, so no bounds check in the wasm.
            let found = SETTINGS
                .iter()
                .zip(&mut raw.given)
                .find(|(s, _)| s.names.contains(&key));
            let Some((setting, slot)) = found else {
                raw.unknown_keys.push(key.to_owned());
                continue;
            };
            if !matches!(v, Value::Null) {
                *slot = Some(read(setting, v)?);
            }
        }
        Ok(raw)
    }

    /// The value given for this setting, if any.
    fn get(&self, id: SettingId) -> Option<&Given> {
        self.given[id as usize].as_ref()
    }

    /// A [`Kind::Bool`] setting, its default when not given.
    fn flag(&self, id: SettingId) -> bool {
        match (self.get(id), SETTINGS[id as usize].kind) {
            (Some(Given::Bool(b)), _) => *b,
            (_, Kind::Bool(default)) => default,
            _ => false,
        }
    }

    /// A [`Kind::Number`] setting, its default when not given.
    fn number(&self, id: SettingId) -> Option<f64> {
        match (self.get(id), SETTINGS[id as usize].kind) {
            (Some(Given::Number(n)), _) => Some(*n),
            (_, Kind::Number(default)) => default,
            _ => None,
        }
    }

    /// A [`Kind::Text`] or [`Kind::PortalId`] setting, trimmed; `None` when absent or blank.
    fn text(&self, id: SettingId) -> Option<&str> {
        match self.get(id) {
            Some(Given::Text(t)) => Some(trim(t)).filter(|t| !t.is_empty()),
            _ => None,
        }
    }

    /// A [`Kind::Choice`] setting: the value of its word in `all` (the first, the default, when
    /// not given).
    fn choice<T: Copy>(&self, id: SettingId, all: [T; 3]) -> T {
        let i = match self.get(id) {
            Some(Given::Choice(i)) => *i,
            _ => 0,
        };
        // `get`, not indexing: the index comes from the words, but the wasm would keep a panic.
        all.get(i).copied().unwrap_or(all[0])
    }

    /// Resolves into complete settings, or says which setting is wrong.
    pub fn resolve(&self) -> Result<Settings, SettingsError> {
        let portal_id = match self.text(SettingId::PortalId) {
            None => return Err(err("portalId", "is required (your HubSpot Hub ID)")),
            Some(p) if p.len() <= 20 && p.bytes().all(|b| b.is_ascii_digit()) => p.to_owned(),
            Some(p) => {
                return Err(err(
                    "portalId",
                    "must be the digits of your Hub ID, got ".to_owned() + &quote(p),
                ));
            }
        };
        let load_timeout_ms = self.number(SettingId::LoadTimeoutMs).unwrap_or_default();
        if load_timeout_ms == 0.0 {
            return Err(err("loadTimeoutMs", "must be greater than 0"));
        }
        let max_queue = self.number(SettingId::MaxQueue).unwrap_or_default();
        if !crate::value::is_whole(max_queue) {
            return Err(err("maxQueue", "must be a whole number"));
        }
        let event_names = match self.get(SettingId::EventNames) {
            Some(Given::EventNames(names)) => names.clone(),
            _ => Vec::new(),
        };
        Ok(Settings {
            portal_id,
            european_data_center: self.flag(SettingId::EuropeanDataCenter),
            load_forms_sdk: self.flag(SettingId::LoadFormsSdk),
            format_event_names: self.flag(SettingId::FormatEventNames),
            event_names,
            flush_identify_immediately: self.flag(SettingId::FlushIdentifyImmediately),
            identify_flush_ms: self.number(SettingId::IdentifyFlushMs),
            profile: self.choice(SettingId::Compat, Profile::ALL),
            consent: self.choice(SettingId::Consent, Consent::ALL),
            nonce: self.text(SettingId::Nonce).map(str::to_owned),
            load_timeout_ms,
            max_queue: max_queue as usize,
            reset_clears_visitor: self.flag(SettingId::ResetClearsVisitor),
            debug: self.flag(SettingId::Debug),
            tracking_script_url: self.text(SettingId::TrackingScriptUrl).map(str::to_owned),
            forms_script_url: self.text(SettingId::FormsScriptUrl).map(str::to_owned),
        })
    }
}

/// Reads one setting's value by its kind; the error names the setting.
fn read(setting: &Setting, v: &Value) -> Result<Given, SettingsError> {
    // Values read return at once; every wrong one falls through to one error built below (one
    // copy of its text in the wasm, not one per kind).
    let words: String;
    let expected = match (setting.kind, v) {
        (Kind::PortalId, Value::Number(n)) => return Ok(Given::Text(format_number(*n))),
        (Kind::PortalId | Kind::Text, Value::String(s)) => return Ok(Given::Text(s.clone())),
        (Kind::PortalId | Kind::Text, _) => "a string",
        (Kind::Bool(_), Value::Bool(b)) => return Ok(Given::Bool(*b)),
        (Kind::Bool(_), Value::String(s)) if s == "true" || s == "false" => {
            return Ok(Given::Bool(s == "true"));
        }
        (Kind::Bool(_), _) => "true or false",
        (Kind::Number(_), _) => {
            let n = match v {
                Value::Number(n) => Some(*n),
                Value::String(s) => parse_number(s),
                _ => None,
            };
            match n {
                Some(n) if n.is_finite() && n >= 0.0 => return Ok(Given::Number(n)),
                _ => "a non-negative number",
            }
        }
        (Kind::Choice(choices), _) => {
            if let Value::String(s) = v {
                if let Some(i) = choices.iter().position(|w| w.eq_ignore_ascii_case(s)) {
                    return Ok(Given::Choice(i));
                }
            }
            words = one_of(choices);
            &words
        }
        (Kind::EventNames, _) => return Ok(Given::EventNames(event_names(v)?)),
    };
    // A choice's wrong word is quoted as it is; any other wrong value is described.
    let got = match (setting.kind, v) {
        (Kind::Choice(_), Value::String(s)) => quote(s),
        _ => describe(v),
    };
    Err(err(
        setting.names[0],
        concat(&["must be ", expected, ", got ", &got]),
    ))
}

/// `'a', 'b' or 'c'`.
fn one_of(words: &[&str]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        out.push_str(match i {
            0 => "'",
            _ if i + 1 == words.len() => " or '",
            _ => ", '",
        });
        out.push_str(w);
        out.push('\'');
    }
    out
}

/// `eventNames` as an object (`{"Signed Up": "pe123_signup"}`) or as Segment's list of
/// `{key, value}` pairs.
fn event_names(v: &Value) -> Result<Vec<(String, String)>, SettingsError> {
    const NAME: &str = "eventNames";
    let pair = |k: &str, v: &Value| match v {
        Value::String(s) => Ok((k.to_owned(), s.clone())),
        other => Err(err(
            NAME,
            concat(&[
                "maps ",
                &quote(k),
                " to ",
                &describe(other),
                ", expected a string",
            ]),
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
                "must be an object of names, got ".to_owned() + &describe(other),
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
            assert!(e.message().contains(words), "{e}");
            assert!(e.message().contains(setting), "{e}");
        }
    }

    /// The whole text of each kind's error, as the site reads it.
    #[test]
    fn error_messages_in_full() {
        let message = |key: &str, v: Value| {
            Settings::from_value(&obj(&[("portalId", "1".into()), (key, v)]))
                .unwrap_err()
                .message()
        };
        assert_eq!(
            message("nonce", Value::Number(1.5)),
            "HubSpot settings: `nonce` must be a string, got the number 1.5"
        );
        assert_eq!(
            message("debug", "yes".into()),
            "HubSpot settings: `debug` must be true or false, got the string \"yes\""
        );
        assert_eq!(
            message("maxQueue", Value::Bool(true)),
            "HubSpot settings: `maxQueue` must be a non-negative number, got the boolean true"
        );
        assert_eq!(
            message("compat", "v\"2".into()),
            "HubSpot settings: `compat` must be 'default', 'classic' or 'actions', got \"v\\\"2\""
        );
        assert_eq!(
            message("consent", Value::Number(2.0)),
            "HubSpot settings: `consent` must be 'granted', 'pending' or 'denied', got the number 2"
        );
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

    /// `js/settings.d.ts` is [`typescript`]'s output; `UPDATE_TS=1 cargo test` rewrites it.
    #[test]
    fn typescript_declarations_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../js/settings.d.ts");
        let want = typescript();
        if std::env::var_os("UPDATE_TS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let shipped = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            shipped == want,
            "js/settings.d.ts is out of date: run UPDATE_TS=1 cargo test -p hubspot-core"
        );
    }

    /// The README's settings table lists the same settings, spellings and defaults, in order.
    #[test]
    fn readme_table_agrees_with_the_settings() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("\n## Settings\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("README has a ## Settings section");
        let rows: Vec<(Vec<&str>, &str)> = table
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                // Backticked words of the first cell: the name, then its aliases.
                let names = cells[0].split('`').skip(1).step_by(2).collect();
                (names, cells[1])
            })
            .collect();
        let ours: Vec<(Vec<&str>, &str)> = SETTINGS
            .iter()
            .zip(SETTING_DOCS)
            .map(|(s, (default, _))| (s.names.to_vec(), *default))
            .collect();
        assert_eq!(rows, ours);
    }

    #[test]
    fn table_defaults_are_the_resolved_defaults() {
        let (s, _) = Settings::from_value(&obj(&[("portalId", "1".into())])).unwrap();
        for (setting, (default, _)) in SETTINGS.iter().zip(SETTING_DOCS) {
            let shown = match setting.kind {
                Kind::Bool(b) => format!("`{b}`"),
                Kind::Number(Some(n)) => format!("`{n}`"),
                Kind::Number(None) => "off".into(),
                Kind::Choice(words) => format!("`'{}'`", words[0]),
                Kind::EventNames => "`{}`".into(),
                Kind::PortalId | Kind::Text => continue,
            };
            assert_eq!(*default, shown, "{}", setting.names[0]);
        }
        assert_eq!((s.profile, s.consent), (Profile::Default, Consent::Granted));
    }

    /// `null` settings read as an empty object: what the early return of the defaults gave.
    #[test]
    fn null_settings_are_the_defaults() {
        assert_eq!(
            RawSettings::from_value(&Value::Null),
            Ok(RawSettings::default())
        );
    }

    proptest::proptest! {
        /// Consent and `compat` words compared in any ASCII case, without a lowercased copy,
        /// agree with the lowercased-copy comparison they replaced.
        #[test]
        fn words_match_as_the_lowercased_copy_did(s in "(granted|PENDING|Denied|deNIED|default|CLASSIC|Actions|actionS)[ é]?|[aAdDeEnNgGrRtTiI\u{130}\u{212A}]{0,8}|\\PC{0,8}") {
            let lower = s.to_ascii_lowercase();
            let old_consent = CONSENT_WORDS.iter().position(|w| *w == lower).map(|i| Consent::ALL[i]);
            proptest::prop_assert_eq!(Consent::parse(&s), old_consent);
            let compat = SETTINGS.iter().find(|x| x.names == ["compat"]).unwrap();
            let old_compat = PROFILE_WORDS.iter().position(|w| *w == lower);
            let got = match read(compat, &Value::String(s.clone())) {
                Ok(Given::Choice(i)) => Some(i),
                _ => None,
            };
            proptest::prop_assert_eq!(got, old_compat);
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
