//! identify → `['identify', props]`.

use crate::prelude::*;

use super::flatten::{FlattenRules, flatten_into};
use super::{Knobs, Names, ReservedTraits};
use crate::command::Command;
use crate::diagnostic::Diagnostic;
use crate::event::Event;
use crate::text::{is_email, is_loosely, trim, trimmed_text};
use crate::value::{Map, Value};

/// The visitor's email (rule 1): `traits.email` under any case or separator variant (`Email`,
/// `EMAIL`, `e-mail`, `e_mail`), else `userId` when it is an email; trimmed of white space and
/// zero-width characters. Returns the email and the trait key it came from.
pub fn find_email<'a>(traits: &'a Map, user_id: Option<&str>) -> Option<(String, Option<&'a str>)> {
    // A loop and a return, not `find_map` + `or_else`: their closures cost the wasm more.
    for (k, v) in traits.iter() {
        let Some(s) = v.as_str().map(trim) else {
            continue;
        };
        if is_loosely(k, "email") && !s.is_empty() {
            return Some((s.to_owned(), Some(k)));
        }
    }
    let id = trim(user_id?);
    is_email(id).then(|| (id.to_owned(), None))
}

/// Maps an identify of `traits` (the event's own, or its `context.traits`). `None` (with a
/// diagnostic) when there is no email: HubSpot identifies visitors by email and ignores an
/// identify without one. Consumes `traits` (see [`super::flatten_properties`]).
pub fn map_identify(
    event: &Event,
    traits: Map,
    knobs: &Knobs,
    diags: &mut Vec<Diagnostic>,
) -> Option<Command> {
    let Some((email, email_key)) = find_email(&traits, event.user_id.as_deref()) else {
        diags.push(Diagnostic::IdentifyWithoutEmail);
        return None;
    };
    let email_key = email_key.map(str::to_owned);
    let rules = &knobs.traits;

    // Names, company and address are read before the traits are consumed and added after them,
    // in the order (and with the diagnostics' order) of adding them straight to `out`.
    let names = knobs.names != Names::AsSent;
    // Sized for both names and the five address fields, and `out` for all it usually gets: a
    // map that grows copies every entry it has.
    let mut later = Map::with_capacity(8);
    if names {
        add_names(&traits, &mut later);
    }
    let mut later_diags = Vec::new();
    reserved_traits(&traits, knobs, &mut later, &mut later_diags);

    let mut out = Map::with_capacity(traits.len() + later.len() + 2);
    // Their places first; their values last (below), over any trait that formats to them.
    out.insert("email", Value::Null);
    let user_id = event
        .user_id
        .as_deref()
        .map(trim)
        .filter(|id| !id.is_empty());
    if user_id.is_some() {
        out.insert("id", Value::Null);
    }
    for (key, value) in traits {
        let kept_name =
            knobs.names == Names::MappedKeepingSnakeCase && SNAKE_CASE_NAMES.contains(&&*key);
        if kept_name || !is_reserved_trait(&key, email_key.as_deref(), names) {
            flatten_into(&mut out, key, value, rules, 0, diags);
        }
    }
    for (key, value) in later {
        out.insert(key, value);
    }
    diags.append(&mut later_diags);
    // Keys the mapping sets itself: a trait formatting to one of them does not override it
    // (setting them again keeps their place at the front).
    out.insert("email", email.into());
    if let Some(id) = user_id {
        out.insert("id", id.into());
    }
    Some(Command::Identify(out))
}

/// The trait spellings of a first name, in order of preference.
const FIRST_NAME_TRAITS: [&str; 2] = ["firstName", "first_name"];
/// The trait spellings of a last name, in order of preference.
const LAST_NAME_TRAITS: [&str; 2] = ["lastName", "last_name"];
/// The name spellings [`Names::MappedKeepingSnakeCase`] also sends as they came.
const SNAKE_CASE_NAMES: [&str; 2] = [FIRST_NAME_TRAITS[1], LAST_NAME_TRAITS[1]];

/// Whether identify maps the trait `key` itself rather than flattening it into a property of
/// the same name: the key the email was found under, `company` and `address` (see
/// [`company_trait`], [`address_trait`]) and, when `names` is on, the first and last name
/// spellings [`contact_names`] reads. `name` is not one: it is sent as it is, and split too.
pub fn is_reserved_trait(key: &str, email_key: Option<&str>, names: bool) -> bool {
    Some(key) == email_key
        || key == "company"
        || key == "address"
        || (names && (FIRST_NAME_TRAITS.contains(&key) || LAST_NAME_TRAITS.contains(&key)))
}

/// A contact's first and last name: `firstName`/`first_name` and `lastName`/`last_name`; when
/// both are absent, `name` split at its first space. Trimmed; empty values are `None`. The
/// browser and the server name contacts by this one rule.
pub fn contact_names(traits: &Map) -> (Option<String>, Option<String>) {
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| traits.get(k).and_then(trimmed_text))
            .filter(|s| !s.is_empty())
    };
    let first = text(&FIRST_NAME_TRAITS);
    let last = text(&LAST_NAME_TRAITS);
    if first.is_some() || last.is_some() {
        return (first, last);
    }
    let Some(name) = traits.get("name").and_then(Value::as_str).map(trim) else {
        return (None, None);
    };
    // A byte search, not `splitn(2, ' ')`: its char searcher costs the wasm more.
    let space = name.bytes().position(|b| b == b' ');
    // No last name is an empty one: `owned` drops both.
    let (first, last) = match space {
        Some(i) => (
            name.get(..i).unwrap_or_default(),
            trim(name.get(i + 1..).unwrap_or_default()),
        ),
        None => (name, ""),
    };
    let owned = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    (owned(first), owned(last))
}

fn add_names(traits: &Map, out: &mut Map) {
    let (first, last) = contact_names(traits);
    if let Some(f) = first {
        out.insert("firstname", f.into());
    }
    if let Some(l) = last {
        out.insert("lastname", l.into());
    }
}

/// What a `company` or `address` trait gives HubSpot. The browser and the server read both
/// traits by [`company_trait`] and [`address_trait`].
#[derive(Clone, Debug, PartialEq)]
pub enum ReservedTrait<'a> {
    /// Properties read from an object, as trimmed text (numbers become strings; falsy and empty
    /// values are left out). Empty when the object has none: its other fields are not HubSpot's.
    Fields(Vec<(&'static str, String)>),
    /// Not an object: the company's name or the address itself, kept under its own key and
    /// cleaned like any other trait.
    Kept(&'a Value),
}

impl ReservedTrait<'_> {
    /// Adds the properties to `out`: a kept value under `key`, cleaned by `rules`.
    pub fn insert_into(
        self,
        out: &mut Map,
        key: &str,
        rules: &FlattenRules,
        diags: &mut Vec<Diagnostic>,
    ) {
        match self {
            ReservedTrait::Fields(fields) => {
                for (to, text) in fields {
                    out.insert(to, text.into());
                }
            }
            ReservedTrait::Kept(value) => {
                flatten_into(out, key.to_owned(), value.clone(), rules, 0, diags)
            }
        }
    }
}

/// The `company` trait: an object gives its `name` as `company`; any other value (a string,
/// usually) names the company itself.
pub fn company_trait(company: &Value) -> ReservedTrait<'_> {
    match company {
        Value::Object(c) => ReservedTrait::Fields(text_fields(c, &[("company", &["name"])])),
        other => ReservedTrait::Kept(other),
    }
}

/// The `address` trait: an object gives HubSpot's address properties, `street`→`address`,
/// `city`, `state`, `country`, `postalCode`|`postal_code`→`zip`; any other value (a string,
/// usually) is the address itself.
pub fn address_trait(address: &Value) -> ReservedTrait<'_> {
    match address {
        Value::Object(a) => ReservedTrait::Fields(text_fields(
            a,
            &[
                ("address", &["street"]),
                ("city", &["city"]),
                ("state", &["state"]),
                ("country", &["country"]),
                ("zip", &["postalCode", "postal_code"]),
            ],
        )),
        other => ReservedTrait::Kept(other),
    }
}

/// Each HubSpot property `to` with the text of the first truthy field of `from`, when that text
/// is not empty.
fn text_fields(m: &Map, fields: &[(&'static str, &[&str])]) -> Vec<(&'static str, String)> {
    // A loop, not `filter_map().collect()`: the adapter's `next` costs the wasm more.
    let mut out = Vec::with_capacity(fields.len());
    for &(to, from) in fields {
        if let Some(text) = text_of(m, from) {
            out.push((to, text));
        }
    }
    out
}

/// The first truthy field of `keys` as trimmed text (numbers become strings), unless empty.
fn text_of(m: &Map, keys: &[&str]) -> Option<String> {
    let v = keys
        .iter()
        .find_map(|k| m.get(k).filter(|v| v.is_truthy()))?;
    trimmed_text(v).filter(|text| !text.is_empty())
}

/// `company` and `address`, per profile.
fn reserved_traits(traits: &Map, knobs: &Knobs, out: &mut Map, diags: &mut Vec<Diagnostic>) {
    let rules = &knobs.traits;
    let style = knobs.reserved_traits;
    if let Some(company) = traits.get("company") {
        match company_trait(company) {
            // Classic keeps an object without a name nested.
            ReservedTrait::Fields(f) if f.is_empty() && style == ReservedTraits::Classic => {
                flatten_into(out, "company".into(), company.clone(), rules, 0, diags)
            }
            ReservedTrait::Kept(_) if style == ReservedTraits::FieldsOnly => {}
            reserved => reserved.insert_into(out, "company", rules, diags),
        }
    }

    match traits.get("address") {
        // Classic maps no address fields: the trait goes as it came, an object nested.
        Some(address) if style == ReservedTraits::Classic => {
            flatten_into(out, "address".into(), address.clone(), rules, 0, diags)
        }
        Some(address) => match address_trait(address) {
            ReservedTrait::Kept(_) if style == ReservedTraits::FieldsOnly => {}
            reserved => reserved.insert_into(out, "address", rules, diags),
        },
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `find_email` as it was written before the loop: `find_map`, then `or_else`.
    fn find_email_by_adapters<'a>(
        traits: &'a Map,
        user_id: Option<&str>,
    ) -> Option<(String, Option<&'a str>)> {
        let from_traits = traits.iter().find_map(|(k, v)| {
            let s = trim(v.as_str()?);
            (is_loosely(k, "email") && !s.is_empty()).then(|| (s.to_owned(), Some(k)))
        });
        from_traits.or_else(|| {
            let id = trim(user_id?);
            is_email(id).then(|| (id.to_owned(), None))
        })
    }

    /// The split name's tail as it was written before: an `Option` for the last name, then
    /// `and_then`.
    fn split_name_by_and_then(name: &str) -> (Option<String>, Option<String>) {
        let space = name.bytes().position(|b| b == b' ');
        let (first, last) = match space {
            Some(i) => (
                name.get(..i).unwrap_or_default(),
                Some(trim(name.get(i + 1..).unwrap_or_default())),
            ),
            None => (name, None),
        };
        let owned = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        (owned(first), last.and_then(owned))
    }

    proptest::proptest! {
        #[test]
        fn a_split_name_agrees_with_the_and_then_form(name in "[ab ]{0,3}[ \u{200B}]{0,2}[ab]{0,2}|\\PC{0,8}") {
            let traits: Map = [("name", Value::from(name.as_str()))].into_iter().collect();
            proptest::prop_assert_eq!(contact_names(&traits), split_name_by_and_then(trim(&name)));
        }

        #[test]
        fn find_email_agrees_with_the_adapters(
            traits in proptest::collection::vec(
                ("[eE]?[-_ ]?(mail|MAIL|x)?", proptest::option::of("[ a@b.\u{200B}]{0,6}")),
                0..5,
            ),
            user_id in proptest::option::of("[ a@b.c]{0,6}"),
        ) {
            // A `None` text is a number: a trait `find_email` must skip.
            let traits: Map = traits
                .into_iter()
                .map(|(k, v)| (k, v.map_or(Value::Number(1.0), Value::String)))
                .collect();
            proptest::prop_assert_eq!(
                find_email(&traits, user_id.as_deref()),
                find_email_by_adapters(&traits, user_id.as_deref())
            );
        }
    }
}
