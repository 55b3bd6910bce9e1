//! `[portals.profiles]`: what the user typed ([`ProfilesSettings`], every field optional) and
//! what an export runs with ([`Profiles`]), resolved once by [`ProfilesSettings::resolve`],
//! whose errors name the key to set.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[portals.profiles]` as written. Its presence turns the export on for the portal.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesSettings {
    /// Base URL of a receiver of Segment's HTTP Tracking API (`…/v1/batch` is appended).
    pub endpoint: Option<String>,
    /// The receiver's write key, sent as the HTTP Basic user name (or
    /// `HUBSPOT_CLOUD_PROFILES_WRITE_KEY[_<NAME>]`).
    pub write_key: Option<String>,
    /// Contact property whose value is the identify's `userId`.
    pub user_id: Option<String>,
    /// Contact property whose value is the identify's `anonymousId`.
    pub anonymous_id: Option<String>,
    /// Company property whose value is the group's `groupId` (needed when `companies` is on).
    pub group_id: Option<String>,
    /// Export companies as group calls (default true).
    pub companies: Option<bool>,
    /// Contact property → trait name, or `"all"` (default: [`DEFAULT_CONTACT_TRAITS`]).
    pub traits: Option<TraitsSetting>,
    /// Company property → trait name, or `"all"` (default: [`DEFAULT_COMPANY_TRAITS`]).
    pub group_traits: Option<TraitsSetting>,
    /// `"ignore"` (default) or `"trait"`: an identify/group with `hubspot_deleted: true`.
    pub on_delete: Option<String>,
}

/// `traits = "all"` or `traits = { property = "traitName" }`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum TraitsSetting {
    /// `"all"`.
    Word(String),
    /// Property → trait name.
    Map(BTreeMap<String, String>),
}

impl std::fmt::Debug for ProfilesSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfilesSettings")
            .field("endpoint", &self.endpoint)
            .field("write_key", &self.write_key.as_ref().map(|_| "<redacted>"))
            .field("user_id", &self.user_id)
            .field("anonymous_id", &self.anonymous_id)
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

/// Contacts' default traits: HubSpot property → Segment trait (Segment's reserved names).
/// Address properties go into the `address` object ([`ADDRESS_TRAITS`]).
pub const DEFAULT_CONTACT_TRAITS: [(&str, &str); 7] = [
    ("email", "email"),
    ("firstname", "firstName"),
    ("lastname", "lastName"),
    ("phone", "phone"),
    ("company", "company"),
    ("website", "website"),
    ("lifecyclestage", "lifecycleStage"),
];

/// Companies' default traits.
pub const DEFAULT_COMPANY_TRAITS: [(&str, &str); 5] = [
    ("name", "name"),
    ("domain", "website"),
    ("industry", "industry"),
    ("numberofemployees", "employees"),
    ("phone", "phone"),
];

/// HubSpot's address properties (contacts and companies) → keys of Segment's `address` trait,
/// part of both default mappings.
pub const ADDRESS_TRAITS: [(&str, &str); 5] = [
    ("address", "street"),
    ("city", "city"),
    ("state", "state"),
    ("zip", "postalCode"),
    ("country", "country"),
];

/// Which properties become traits.
#[derive(Clone, Debug, PartialEq)]
pub enum Traits {
    /// Property → trait name; `address` collects [`ADDRESS_TRAITS`] when `with_address`.
    Map {
        /// Property → trait name.
        names: BTreeMap<String, String>,
        /// The defaults' `address` object.
        with_address: bool,
    },
    /// Every synced property, under its own name.
    All,
}

/// What happens to a deleted (or merged-away) record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDelete {
    /// Nothing is sent.
    Ignore,
    /// One call with the trait `hubspot_deleted: true`.
    Trait,
}

/// A record's identity: which property gives `userId`, which `anonymousId` (at least one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityMapping {
    /// Property for `userId`.
    pub user_id: Option<String>,
    /// Property for `anonymousId`.
    pub anonymous_id: Option<String>,
}

/// A resolved `[portals.profiles]`.
#[derive(Clone, PartialEq)]
pub struct Profiles {
    /// `<endpoint>/v1/batch`.
    pub batch_url: String,
    /// HTTP Basic user name.
    pub write_key: String,
    /// Contacts' identity.
    pub identity: IdentityMapping,
    /// Companies' `groupId` property; `None` when companies are not exported.
    pub group_id: Option<String>,
    /// Contacts' traits.
    pub traits: Traits,
    /// Companies' traits.
    pub group_traits: Traits,
    /// Deleted records.
    pub on_delete: OnDelete,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles")
            .field("batch_url", &self.batch_url)
            .field("write_key", &"<redacted>")
            .field("identity", &self.identity)
            .field("group_id", &self.group_id)
            .finish_non_exhaustive()
    }
}

impl ProfilesSettings {
    /// The complete settings, or what to fix, naming the key (`portals.profiles.<key>`).
    pub fn resolve(&self) -> Result<Profiles, String> {
        let missing = |key: &str, why: &str| format!("[portals.profiles] needs `{key}`: {why}");
        let endpoint = self
            .endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| missing("endpoint", "the receiver's base URL"))?;
        let write_key = self
            .write_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                missing(
                    "write_key",
                    "the receiver's write key (or HUBSPOT_CLOUD_PROFILES_WRITE_KEY[_<NAME>])",
                )
            })?;
        let named = |v: &Option<String>| v.clone().filter(|p| !p.trim().is_empty());
        let identity = IdentityMapping {
            user_id: named(&self.user_id),
            anonymous_id: named(&self.anonymous_id),
        };
        if identity.user_id.is_none() && identity.anonymous_id.is_none() {
            return Err(missing(
                "user_id",
                "the contact property that identifies a profile (or `anonymous_id`); a profile is never sent without an identity",
            ));
        }
        let group_id = named(&self.group_id);
        if self.companies.unwrap_or(true) && group_id.is_none() {
            return Err(missing(
                "group_id",
                "the company property that identifies a group (or `companies = false`)",
            ));
        }
        let on_delete = match self.on_delete.as_deref() {
            None | Some("ignore") => OnDelete::Ignore,
            Some("trait") => OnDelete::Trait,
            Some(other) => {
                return Err(format!(
                    "[portals.profiles] on_delete = \"{other}\": it must be \"ignore\" or \"trait\""
                ));
            }
        };
        Ok(Profiles {
            batch_url: format!("{}/v1/batch", endpoint.trim_end_matches('/')),
            write_key,
            identity,
            group_id: self.companies.unwrap_or(true).then_some(group_id).flatten(),
            traits: traits("traits", self.traits.as_ref(), &DEFAULT_CONTACT_TRAITS)?,
            group_traits: traits(
                "group_traits",
                self.group_traits.as_ref(),
                &DEFAULT_COMPANY_TRAITS,
            )?,
            on_delete,
        })
    }
}

fn traits(
    key: &str,
    setting: Option<&TraitsSetting>,
    defaults: &[(&str, &str)],
) -> Result<Traits, String> {
    match setting {
        None => Ok(Traits::Map {
            names: defaults
                .iter()
                .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
                .collect(),
            with_address: true,
        }),
        Some(TraitsSetting::Word(w)) if w == "all" => Ok(Traits::All),
        Some(TraitsSetting::Word(w)) => Err(format!(
            "[portals.profiles] {key} = \"{w}\": it must be \"all\" or a table of property = \"trait\""
        )),
        Some(TraitsSetting::Map(names)) => Ok(Traits::Map {
            names: names.clone(),
            with_address: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ProfilesSettings {
        ProfilesSettings {
            endpoint: Some("http://collector/".into()),
            write_key: Some("wk".into()),
            user_id: Some("email".into()),
            group_id: Some("domain".into()),
            ..ProfilesSettings::default()
        }
    }

    #[test]
    fn a_config_without_an_identity_is_refused_naming_the_key() {
        let e = ProfilesSettings {
            user_id: None,
            ..settings()
        }
        .resolve()
        .unwrap_err();
        assert!(e.contains("`user_id`"), "{e}");
        let e = ProfilesSettings {
            group_id: None,
            ..settings()
        }
        .resolve()
        .unwrap_err();
        assert!(e.contains("`group_id`"), "{e}");
        let only_anonymous = ProfilesSettings {
            user_id: None,
            anonymous_id: Some("hs_object_id".into()),
            companies: Some(false),
            group_id: None,
            ..settings()
        }
        .resolve()
        .unwrap();
        assert_eq!(only_anonymous.group_id, None);
    }

    #[test]
    fn defaults_all_and_maps_resolve_and_the_key_is_redacted() {
        let p = settings().resolve().unwrap();
        assert_eq!(p.batch_url, "http://collector/v1/batch");
        assert_eq!(p.on_delete, OnDelete::Ignore);
        assert!(
            matches!(&p.traits, Traits::Map { names, with_address: true } if names["firstname"] == "firstName")
        );
        assert!(!format!("{p:?}").contains("wk"));
        let all = ProfilesSettings {
            traits: Some(TraitsSetting::Word("all".into())),
            on_delete: Some("trait".into()),
            ..settings()
        }
        .resolve()
        .unwrap();
        assert_eq!((all.traits, all.on_delete), (Traits::All, OnDelete::Trait));
        let e = ProfilesSettings {
            on_delete: Some("drop".into()),
            ..settings()
        }
        .resolve()
        .unwrap_err();
        assert!(e.contains("on_delete"), "{e}");
    }
}
