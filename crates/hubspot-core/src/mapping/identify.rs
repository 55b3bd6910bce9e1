//! identify → `['identify', props]`.

use super::flatten::{clean_value, flatten_into};
use super::{Knobs, ReservedTraits};
use crate::command::Command;
use crate::diagnostic::Diagnostic;
use crate::event::Event;
use crate::text::{is_email, loose_key, trim};
use crate::value::{Map, Value};

/// The visitor's email (rule 1): `traits.email` under any case or separator variant (`Email`,
/// `EMAIL`, `e-mail`, `e_mail`), else `userId` when it is an email; trimmed of white space and
/// zero-width characters. Returns the email and the trait key it came from.
pub fn find_email<'a>(traits: &'a Map, user_id: Option<&str>) -> Option<(String, Option<&'a str>)> {
    let from_traits = traits.iter().find_map(|(k, v)| {
        let s = trim(v.as_str()?);
        (loose_key(k) == "email" && !s.is_empty()).then(|| (s.to_owned(), Some(k)))
    });
    from_traits.or_else(|| {
        let id = trim(user_id?);
        is_email(id).then(|| (id.to_owned(), None))
    })
}

/// Maps an identify. `None` (with a diagnostic) when there is no email: HubSpot identifies
/// visitors by email and ignores an identify without one.
pub fn map_identify(
    event: &Event,
    traits: &Map,
    knobs: &Knobs,
    diags: &mut Vec<Diagnostic>,
) -> Option<Command> {
    let Some((email, email_key)) = find_email(traits, event.user_id.as_deref()) else {
        diags.push(Diagnostic::IdentifyWithoutEmail);
        return None;
    };
    let rules = &knobs.traits;
    let mut out = Map::with_capacity(traits.len() + 2);
    out.insert("email", email.as_str().into());
    let user_id = event
        .user_id
        .as_deref()
        .map(trim)
        .filter(|id| !id.is_empty());
    if let Some(id) = user_id {
        out.insert("id", id.into());
    }

    let name_keys = ["firstName", "first_name", "lastName", "last_name"];
    for (key, value) in traits.iter() {
        let special = Some(key) == email_key
            || (knobs.name_fields && name_keys.contains(&key))
            || key == "company"
            || key == "address";
        if !special {
            flatten_into(&mut out, key, value, rules, 0, diags);
        }
    }
    if knobs.name_fields {
        add_names(traits, &mut out);
    }
    reserved_traits(traits, knobs, &mut out, diags);
    // Keys the mapping sets itself: a trait formatting to one of them does not override it
    // (setting them again keeps their place at the front).
    out.insert("email", email.into());
    if let Some(id) = user_id {
        out.insert("id", id.into());
    }
    Some(Command::Identify(out))
}

/// A contact's first and last name: `firstName`/`first_name` and `lastName`/`last_name`; when
/// both are absent, `name` split at its first space. Trimmed; empty values are `None`. The
/// browser and the server name contacts by this one rule.
pub fn contact_names(traits: &Map) -> (Option<String>, Option<String>) {
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| traits.get(k).and_then(Value::to_js_string))
            .map(|s| trim(&s).to_owned())
            .filter(|s| !s.is_empty())
    };
    let first = text(&["firstName", "first_name"]);
    let last = text(&["lastName", "last_name"]);
    if first.is_some() || last.is_some() {
        return (first, last);
    }
    let Some(name) = traits.get("name").and_then(Value::as_str).map(trim) else {
        return (None, None);
    };
    let mut parts = name.splitn(2, ' ');
    let first = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
    let last = parts
        .next()
        .map(trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    (first, last)
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

/// HubSpot's address properties from a Segment `address` object: `street`→`address`, `city`,
/// `state`, `country`, `postalCode`|`postal_code`→`zip`, as trimmed text (numbers become
/// strings; falsy and empty values are left out). The browser and the server map addresses by
/// this one rule.
pub fn address_fields(address: &Map) -> Vec<(&'static str, String)> {
    let fields: [(&str, &[&str]); 5] = [
        ("address", &["street"]),
        ("city", &["city"]),
        ("state", &["state"]),
        ("country", &["country"]),
        ("zip", &["postalCode", "postal_code"]),
    ];
    fields
        .into_iter()
        .filter_map(|(to, from)| {
            let v = from
                .iter()
                .find_map(|k| address.get(k).filter(|v| v.is_truthy()))?;
            let text = trim(&v.to_js_string()?).to_owned();
            (!text.is_empty()).then_some((to, text))
        })
        .collect()
}

/// `company` and `address`, per profile.
fn reserved_traits(traits: &Map, knobs: &Knobs, out: &mut Map, diags: &mut Vec<Diagnostic>) {
    let rules = &knobs.traits;
    let style = knobs.reserved_traits;
    // A non-empty string from a field, as HubSpot wants it (numbers become strings).
    let text = |m: &Map, keys: &[&str]| {
        keys.iter()
            .find_map(|k| m.get(k).filter(|v| v.is_truthy()))
            .and_then(Value::to_js_string)
            .map(|s| trim(&s).to_owned())
            .filter(|s| !s.is_empty())
    };

    match (traits.get("company"), style) {
        (Some(Value::Object(c)), _) => match text(c, &["name"]) {
            Some(name) => out.insert("company", name.into()),
            None if style == ReservedTraits::Classic => {
                flatten_into(out, "company", &Value::Object(c.clone()), rules, 0, diags)
            }
            None => {}
        },
        (Some(other), ReservedTraits::Mapped | ReservedTraits::Classic) => {
            flatten_into(out, "company", other, rules, 0, diags)
        }
        _ => {}
    }

    match traits.get("address") {
        Some(Value::Object(a)) if style == ReservedTraits::Classic => {
            // Classic copies raw values when truthy (a numeric zip stays a number), reads only
            // `postalCode`, and keeps the object when it has no street.
            for (to, from) in [
                ("city", "city"),
                ("state", "state"),
                ("country", "country"),
                ("zip", "postalCode"),
            ] {
                if let Some(v) = a.get(from).filter(|v| v.is_truthy()) {
                    out.insert(to, clean_value(v, rules, 1));
                }
            }
            match text(a, &["street"]) {
                Some(s) => out.insert("address", s.into()),
                None => out.insert("address", clean_value(&Value::Object(a.clone()), rules, 1)),
            }
        }
        Some(Value::Object(a)) => {
            for (to, v) in address_fields(a) {
                out.insert(to, v.into());
            }
        }
        Some(other) if style != ReservedTraits::FieldsOnly => {
            flatten_into(out, "address", other, rules, 0, diags)
        }
        _ => {}
    }
}
