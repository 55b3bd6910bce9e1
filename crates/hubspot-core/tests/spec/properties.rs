//! Rules that must hold for every input: mapping never panics and the default profile only
//! produces lowercase keys; the text writers and key rules agree with their definitions.

use crate::support::*;
use hubspot_core::mapping::{Knobs, map_identify, map_track};
use hubspot_core::{Command, Event, Input, Machine, Map, Profile, Value};
use proptest::prelude::*;
use serde_json::json;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(Value::Number),
        (-1e13f64..1e13).prop_map(Value::Date),
        "\\PC{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2020-01-01"),
            Just("2020"),
            Just("123456"),
            Just(" a@b.co "),
            Just("\u{200B}"),
            Just("$1,000")
        ]
        .prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,10}",
        Just("email".to_owned()),
        Just("E-Mail".to_owned()),
        Just("company".to_owned()),
        Just("address".to_owned()),
        Just("name".to_owned()),
        Just("firstName".to_owned()),
        Just("id".to_owned()),
        Just("A.B C".to_owned())
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map>())),
        ]
    })
}

fn message() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just("identify"),
        Just("track"),
        Just("page"),
        Just("group"),
        Just("screen"),
        Just("x")
    ];
    (kind, value(), value(), value(), value(), value()).prop_map(
        |(kind, user_id, traits, props, ctx, event)| {
            let mut m = Map::new();
            m.insert("type", kind.into());
            m.insert("userId", user_id);
            m.insert("traits", traits);
            m.insert("properties", props);
            m.insert("context", ctx);
            m.insert("event", event);
            Value::Object(m)
        },
    )
}

fn keys_of(cmd: &Command) -> Vec<String> {
    match cmd {
        Command::Identify(m) | Command::TrackCustomBehavioralEvent { properties: m, .. } => {
            m.keys().map(str::to_owned).collect()
        }
        _ => vec![],
    }
}

/// JavaScript's `\s` per character, from the byte rule (`text`'s own tests check it against the
/// list of characters, one by one).
fn is_js_whitespace(c: char) -> bool {
    hubspot_core::text::js_space_len(c.encode_utf8(&mut [0; 4]).as_bytes(), 0) > 0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mapping_never_panics_and_default_keys_are_lowercase(msg in message()) {
        let event = Event::from_value(msg.clone());
        for profile in [Profile::Default, Profile::Classic, Profile::Actions] {
            let mut s = settings(json!({"portalId": "1"}));
            s.profile = profile;
            let knobs = Knobs::for_profile(profile);
            let mut diags = vec![];
            let identify = map_identify(&event, event.traits.clone(), &knobs, &mut diags);
            let track = map_track(&event, event.properties.clone(), &s, &knobs, &mut diags);
            if profile == Profile::Default {
                for cmd in identify.iter().chain(track.iter()) {
                    for k in keys_of(cmd) {
                        prop_assert_eq!(k.to_lowercase(), k.clone());
                    }
                }
            }
            if let Some(Command::Identify(m)) = &identify {
                prop_assert!(matches!(m.get("email"), Some(Value::String(e)) if !e.is_empty()));
            }
        }
    }

    #[test]
    fn the_machine_never_panics_and_never_pushes_trackpageview_before_load(
        msgs in prop::collection::vec(message(), 0..12),
        consent in prop_oneof![Just("granted"), Just("pending")],
        load_at in 0usize..12,
    ) {
        let mut m = Machine::new(settings(json!({"portalId": "1", "consent": consent, "maxQueue": 5})));
        let mut loaded = false;
        let mut out = m.handle(Input::Start { existing: hubspot_core::Existing::None, forms_present: false }, 0.0);
        for (i, msg) in msgs.iter().enumerate() {
            if i == load_at {
                out.extend(m.handle(Input::SetConsent(hubspot_core::Consent::Granted), i as f64));
                out.extend(m.handle(Input::TrackerReady, i as f64));
                loaded = m.tracker() == hubspot_core::Tracker::Ready;
            }
            out.extend(m.handle(Input::Call(Event::from_value(msg.clone())), i as f64));
            out.extend(m.handle(Input::TaskBoundary, i as f64));
            if !loaded {
                prop_assert!(!out.iter().any(|a| matches!(a, hubspot_core::Action::Push(Command::TrackPageView))));
            }
            prop_assert!(m.held_len() <= 5);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The core's JSON writer (run-copying escapes) against serde_json: any text as keys and
    /// values, control characters and non-ASCII included (numbers are `format_number`'s tests').
    #[test]
    fn json_text_reads_back_as_serde_writes_it(
        strings in prop::collection::vec(any::<String>(), 0..6),
        items in prop::collection::vec(any::<String>(), 0..4),
    ) {
        let mut m: Map = strings.iter().map(|s| (s.as_str(), Value::from(s.as_str()))).collect();
        m.insert("nested", Value::Array(items.into_iter().map(Value::from).collect()));
        let v = Value::Object(m);
        let back: serde_json::Value = serde_json::from_str(&v.to_json()).expect("valid JSON");
        prop_assert_eq!(back, serde_json::to_value(&v).expect("serializable"));
    }

    /// Safe integers are written digit by digit in the core, as Rust's (and JavaScript's) own
    /// formatting writes them.
    #[test]
    fn safe_integers_format_as_decimal(n in -9_007_199_254_740_991i64..=9_007_199_254_740_991) {
        prop_assert_eq!(hubspot_core::value::format_number(n as f64), n.to_string());
    }

    /// Key formatting, byte by byte and a run at a time, against the rule written per character.
    #[test]
    fn keys_format_as_the_per_character_rule_says(key in "[ .\t\r\n\u{0B}\u{0C}\u{A0}\u{3000}aB_é-]{0,12}|\\PC{0,12}") {
        use hubspot_core::text::{KeyStyle, format_key};
        let per_char: String = key
            .chars()
            .map(|c| if matches!(c, ' ' | '.' | '\t' | '\r' | '\n' | '\u{0B}' | '\u{0C}') { '_' } else { c })
            .collect();
        prop_assert_eq!(format_key(key.clone(), KeyStyle::PerChar), per_char.to_lowercase());
        let mut runs = String::new();
        let mut after_sep = false;
        for c in key.chars() {
            let sep = c == '.' || is_js_whitespace(c);
            if !(sep && after_sep) {
                runs.push(if sep { '_' } else { c });
            }
            after_sep = sep;
        }
        prop_assert_eq!(format_key(key.clone(), KeyStyle::Runs), runs.to_lowercase());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The email test's byte checks on the domain say what "two or more labels, none empty" says.
    #[test]
    fn email_domains_need_two_non_empty_labels(s in "[a.]{0,2}@[ab.@]{0,6}|\\PC{0,10}") {
        let labels = |d: &str| d.split('.').count() >= 2 && d.split('.').all(|l| !l.is_empty());
        let reference = match s.split_once('@') {
            Some((local, domain)) => !local.is_empty() && !domain.contains('@') && labels(domain)
                && !s.chars().any(|c| is_js_whitespace(c) || c.is_control()),
            None => false,
        };
        prop_assert_eq!(hubspot_core::text::is_email(&s), reference);
    }

    /// The email lookup's non-allocating key test agrees with the normalised key it stands for.
    #[test]
    fn loose_key_test_matches_the_normalised_key(key in "[-_. ]?[eE][-_. ]?[mMnN][-_. ]?[aA][-_. ]?[iI][-_. ]?[lL1][-_. ]?|\\PC{0,8}") {
        use hubspot_core::text::{is_loosely, loose_key};
        prop_assert_eq!(is_loosely(&key, "email"), loose_key(&key) == "email");
    }

    /// `trim`'s two walks trim what `str::trim_matches` with the same characters trims.
    #[test]
    fn trim_agrees_with_trim_matches(s in "[ \t\n\u{0B}\u{0C}\r\u{A0}\u{1680}\u{2000}-\u{200D}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{FEFF}\u{200E}aé🍱]{0,8}|\\PC{0,8}") {
        use hubspot_core::text::trim;
        let reference = s.trim_matches(|c| is_js_whitespace(c) || matches!(c, '\u{200B}'..='\u{200D}' | '\u{FEFF}'));
        prop_assert_eq!(trim(&s), reference);
    }

    /// `name` split at its first space by a byte search gives what `splitn(2, ' ')` gives.
    #[test]
    fn names_split_at_the_first_space(name in "[ a\u{A0}\u{200B}é]{0,8}|\\PC{0,8}") {
        use hubspot_core::text::trim;
        let traits: Map = [("name".to_owned(), Value::from(name.as_str()))].into_iter().collect();
        let whole = trim(&name);
        let mut parts = whole.splitn(2, ' ');
        let first = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
        let last = parts.next().map(trim).filter(|s| !s.is_empty()).map(str::to_owned);
        prop_assert_eq!(hubspot_core::mapping::contact_names(&traits), (first, last));
    }

    /// The byte test of internal event names agrees with the character rule it stands for.
    #[test]
    fn internal_event_names_as_the_character_rule_says(name in "[a-z0-9_-]{45,55}|[a-z_é🍱-]{0,52}|\\PC{0,12}") {
        let reference = name.chars().count() <= 50
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        prop_assert_eq!(hubspot_core::text::is_valid_internal_event_name(&name), reference);
    }
}
