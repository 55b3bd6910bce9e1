//! Segment's event model (the spec's `page`, `identify`, `track`, `group`, `alias`, `screen`),
//! read leniently: real payloads carry numeric user ids, miss fields and add their own. Nothing
//! is rejected here; mapping decides what HubSpot can use.

use crate::prelude::*;

use crate::value::{Map, Value};

/// The call type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `page()`
    Page,
    /// `identify()`
    Identify,
    /// `track()`
    Track,
    /// `group()`
    Group,
    /// `alias()`
    Alias,
    /// `screen()`
    Screen,
    /// Any other `type`, kept as given.
    Other(String),
}

impl EventType {
    /// Parses Segment's `type` field.
    pub fn parse(s: &str) -> EventType {
        match s {
            "page" => EventType::Page,
            "identify" => EventType::Identify,
            "track" => EventType::Track,
            "group" => EventType::Group,
            "alias" => EventType::Alias,
            "screen" => EventType::Screen,
            other => EventType::Other(other.to_owned()),
        }
    }

    /// Segment's name for the type.
    pub fn as_str(&self) -> &str {
        match self {
            EventType::Page => "page",
            EventType::Identify => "identify",
            EventType::Track => "track",
            EventType::Group => "group",
            EventType::Alias => "alias",
            EventType::Screen => "screen",
            EventType::Other(s) => s,
        }
    }
}

/// A Segment message.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Call type.
    pub kind: EventType,
    /// `userId`; numbers become their decimal string.
    pub user_id: Option<String>,
    /// `anonymousId`.
    pub anonymous_id: Option<String>,
    /// `messageId`.
    pub message_id: Option<String>,
    /// `timestamp` as sent (ISO-8601 string, or a `Date` in the browser).
    pub timestamp: Option<Value>,
    /// Track's `event` name.
    pub event: Option<String>,
    /// Page/screen `name`.
    pub name: Option<String>,
    /// Page `category`.
    pub category: Option<String>,
    /// Group's `groupId`.
    pub group_id: Option<String>,
    /// Alias's `previousId`.
    pub previous_id: Option<String>,
    /// `properties` (track, page, screen); a non-object becomes empty.
    pub properties: Map,
    /// `traits` (identify, group); a non-object becomes empty.
    pub traits: Map,
    /// `context.traits`.
    pub context_traits: Map,
    /// The whole `context` object as received (unknown fields kept). The browser shell passes only
    /// what its mappings read, per call type (no top-level extras either): a browser mapping that
    /// needs more must add it to `encodeEvent` in `js/tape.js`.
    pub context: Map,
    /// Top-level fields this model has no field for, kept as received.
    pub extra: Map,
}

impl Event {
    /// An event of `kind` with nothing else set.
    pub fn new(kind: EventType) -> Event {
        Event {
            kind,
            user_id: None,
            anonymous_id: None,
            message_id: None,
            timestamp: None,
            event: None,
            name: None,
            category: None,
            group_id: None,
            previous_id: None,
            properties: Map::new(),
            traits: Map::new(),
            context_traits: Map::new(),
            context: Map::new(),
            extra: Map::new(),
        }
    }

    /// Reads a Segment message, taking its parts without copying them. Anything that is not an
    /// object becomes an event of type `Other("")` with nothing set, which every mapping ignores.
    pub fn from_value(value: Value) -> Event {
        let obj = object(value);
        let kind = EventType::parse(obj.get("type").and_then(Value::as_str).unwrap_or(""));
        let mut e = Event::new(kind);
        for (key, v) in obj {
            // The text fields pick their slot and are read by one `id_string` call below.
            let text = match key.as_str() {
                "userId" => &mut e.user_id,
                "anonymousId" => &mut e.anonymous_id,
                "messageId" => &mut e.message_id,
                "event" => &mut e.event,
                "name" => &mut e.name,
                "category" => &mut e.category,
                "groupId" => &mut e.group_id,
                "previousId" => &mut e.previous_id,
                "type" => continue,
                "timestamp" => {
                    e.timestamp = (!matches!(v, Value::Null)).then_some(v);
                    continue;
                }
                "properties" => {
                    e.properties = object(v);
                    continue;
                }
                "traits" => {
                    e.traits = object(v);
                    continue;
                }
                "context" => {
                    e.context = object(v);
                    if let Some(traits) = e.context.get("traits").and_then(Value::as_object) {
                        e.context_traits = traits.clone();
                    }
                    continue;
                }
                _ => {
                    e.extra.insert(key, v);
                    continue;
                }
            };
            *text = id_string(v);
        }
        e
    }

    /// `context.page`'s `key` (`path`, `search`, …) as `String(value)` gives it: read when a
    /// mapping asks, not copied out of every event (allocations are most of a call's cost).
    pub fn page_field(&self, key: &str) -> Option<String> {
        let page = self.context.get("page").and_then(Value::as_object)?;
        page.get(key).and_then(Value::to_js_string)
    }

    /// Writes the message back as Segment's JSON shape (unknown fields included).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type", self.kind.as_str().into());
        let strings = [
            ("userId", &self.user_id),
            ("anonymousId", &self.anonymous_id),
            ("messageId", &self.message_id),
            ("event", &self.event),
            ("name", &self.name),
            ("category", &self.category),
            ("groupId", &self.group_id),
            ("previousId", &self.previous_id),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                m.insert(k, v.as_str().into());
            }
        }
        if let Some(t) = &self.timestamp {
            m.insert("timestamp", t.clone());
        }
        if !self.properties.is_empty() {
            m.insert("properties", self.properties.clone().into());
        }
        if !self.traits.is_empty() {
            m.insert("traits", self.traits.clone().into());
        }
        if !self.context.is_empty() {
            m.insert("context", self.context.clone().into());
        }
        for (k, v) in self.extra.iter() {
            m.insert(k, v.clone());
        }
        Value::Object(m)
    }
}

impl<'de> serde::Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Event::from_value(Value::deserialize(d)?))
    }
}

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// Ids and names: strings as given, numbers and booleans as their string; others are absent.
/// A string field's text (a string is moved, not copied); numbers and booleans as `String(v)`.
fn id_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        other => other.to_js_string(),
    }
}

fn object(v: Value) -> Map {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn lenient_reading() {
        let e = parse(
            r#"{"type":"identify","userId":12345,"traits":{"email":"a@b.co"},
                "context":{"page":{"path":"/x","search":"?q=1"},"traits":{"plan":"pro"},"locale":"en"},
                "integrations":{"HubSpot":true},"sentAt":"2020-01-01"}"#,
        );
        assert_eq!(e.kind, EventType::Identify);
        assert_eq!(e.user_id.as_deref(), Some("12345"));
        assert_eq!(e.page_field("path").as_deref(), Some("/x"));
        assert_eq!(e.page_field("search").as_deref(), Some("?q=1"));
        assert_eq!(e.page_field("title"), None);
        assert_eq!(e.context_traits.get("plan"), Some(&Value::from("pro")));
        assert_eq!(e.context.get("locale"), Some(&Value::from("en")));
        assert!(e.extra.contains_key("integrations") && e.extra.contains_key("sentAt"));
    }

    #[test]
    fn missing_and_wrong_typed_fields() {
        let e = parse(r#"{"type":"track","event":null,"properties":"oops","traits":[1,2]}"#);
        assert_eq!(e.kind, EventType::Track);
        assert_eq!(e.event, None);
        assert!(e.properties.is_empty() && e.traits.is_empty());
        assert_eq!(parse("42").kind, EventType::Other(String::new()));
        assert_eq!(
            parse(r#"{"type":"flush"}"#).kind,
            EventType::Other("flush".into())
        );
    }

    /// Each text field lands in its own slot (numbers as their digits).
    #[test]
    fn every_text_field_in_its_slot() {
        let e = parse(
            r#"{"type":"alias","userId":1,"anonymousId":"a","messageId":"m","event":"e",
                "name":"n","category":"c","groupId":"g","previousId":"p"}"#,
        );
        let got = [
            &e.user_id,
            &e.anonymous_id,
            &e.message_id,
            &e.event,
            &e.name,
            &e.category,
            &e.group_id,
            &e.previous_id,
        ]
        .map(|f| f.as_deref());
        let want = ["1", "a", "m", "e", "n", "c", "g", "p"].map(Some);
        assert_eq!(got, want);
        assert!(e.extra.is_empty());
    }

    #[test]
    fn round_trips_with_unknown_fields() {
        let json = r#"{"type":"track","userId":"u1","event":"Clicked","properties":{"a":1},"context":{"ip":"1.2.3.4"},"custom":{"x":true}}"#;
        let e = parse(json);
        let back: serde_json::Value = serde_json::to_value(&e).unwrap();
        let orig: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, orig);
    }
}
