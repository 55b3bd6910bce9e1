//! The in-memory CRM: object records, property definitions and their validation, search and
//! associations.
//!
//! Architecture invariant: this module knows HubSpot's data rules (validation, uniqueness, the
//! lifecycle-stage ratchet, search visibility) but nothing about HTTP routing, auth or limits.
//! Errors are returned as [`ApiError`] because HubSpot's status and category are part of the rule.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::FakeConfig;
use crate::associations::{Association, Associations, LinkType};
use crate::dates;
use crate::errors::ApiError;
use crate::portal::{CustomObject, custom_aliases};
use crate::search::{SearchRequest, View};

/// HubSpot's default lifecycle stages, in order: a move to an earlier one is ignored.
pub const LIFECYCLE_STAGES: [&str; 8] = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];

/// Most inputs one CRM batch request may carry.
pub const MAX_BATCH_INPUTS: usize = 100;

/// The fake's name for an object type: HubSpot's aliases (`contact`, `0-1`, …) map to the plural
/// name; any other name (`p_cars`, `2-123`) is a custom object type, kept as given.
pub fn canonical_type(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "contacts" | "contact" | "0-1" => "contacts".into(),
        "companies" | "company" | "0-2" => "companies".into(),
        "deals" | "deal" | "0-3" => "deals".into(),
        "tickets" | "ticket" | "0-5" => "tickets".into(),
        _ => name.to_string(),
    }
}

/// HubSpot's object type id (`0-1` for contacts, …), as association answers report it.
pub(crate) fn object_type_id(ty: &str) -> String {
    match ty {
        "contacts" => "0-1".into(),
        "companies" => "0-2".into(),
        "deals" => "0-3".into(),
        "tickets" => "0-5".into(),
        other => other.to_string(),
    }
}

fn singular(ty: &str) -> &'static str {
    match ty {
        "contacts" => "Contact",
        "companies" => "Company",
        "deals" => "Deal",
        "tickets" => "Ticket",
        _ => "Object",
    }
}

/// A property definition, in the shape of `GET /crm/v3/properties/{type}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PropertyDefinition {
    /// Internal name, used in `properties` maps.
    pub name: String,
    /// Display label.
    pub label: String,
    /// Value type: `string`, `number`, `date`, `datetime`, `enumeration`, `bool`, `phone_number`.
    #[serde(rename = "type")]
    pub kind: String,
    /// UI field type: `text`, `textarea`, `number`, `date`, `select`, `radio`, `checkbox`,
    /// `booleancheckbox`, `phonenumber`, …; `checkbox` enumerations take `;`-separated values.
    pub field_type: String,
    /// Property group (`contactinformation`, `companyinformation`, …).
    pub group_name: String,
    /// Help text.
    pub description: String,
    /// Whether values are unique per object type: duplicates conflict (409) and the property can
    /// be an upsert `idProperty`.
    pub has_unique_value: bool,
    /// Hidden in HubSpot's UI.
    pub hidden: bool,
    /// Allowed values of an enumeration, in order (the order matters for lifecycle stages).
    pub options: Vec<PropertyOption>,
}

/// One allowed value of an enumeration property.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PropertyOption {
    /// Display label.
    pub label: String,
    /// Stored value.
    pub value: String,
    /// Position in the list.
    pub display_order: i32,
    /// Hidden in HubSpot's UI.
    pub hidden: bool,
}

impl PropertyDefinition {
    /// A definition with the given type and field type; the label is the name.
    pub fn new(name: &str, kind: &str, field_type: &str, group_name: &str) -> Self {
        Self {
            name: name.into(),
            label: name.into(),
            kind: kind.into(),
            field_type: field_type.into(),
            group_name: group_name.into(),
            ..Self::default()
        }
    }

    /// A single-line text property.
    pub fn string(name: &str, group_name: &str) -> Self {
        Self::new(name, "string", "text", group_name)
    }

    /// A number property.
    pub fn number(name: &str, group_name: &str) -> Self {
        Self::new(name, "number", "number", group_name)
    }

    /// A date property (midnight UTC only).
    pub fn date(name: &str, group_name: &str) -> Self {
        Self::new(name, "date", "date", group_name)
    }

    /// A datetime property (epoch ms or ISO-8601).
    pub fn datetime(name: &str, group_name: &str) -> Self {
        Self::new(name, "datetime", "date", group_name)
    }

    /// A boolean checkbox (`true`/`false`).
    pub fn boolean(name: &str, group_name: &str) -> Self {
        Self::new(name, "bool", "booleancheckbox", group_name).with_options(&["true", "false"])
    }

    /// A single-choice enumeration with these option values, in order.
    pub fn enumeration(name: &str, group_name: &str, values: &[&str]) -> Self {
        Self::new(name, "enumeration", "radio", group_name).with_options(values)
    }

    /// Replaces the options with these values, in order.
    pub fn with_options(mut self, values: &[&str]) -> Self {
        self.options = values
            .iter()
            .zip(0..)
            .map(|(value, order)| PropertyOption {
                label: (*value).into(),
                value: (*value).into(),
                display_order: order,
                hidden: false,
            })
            .collect();
        self
    }

    /// Marks the property `hasUniqueValue: true`.
    pub fn unique(mut self) -> Self {
        self.has_unique_value = true;
        self
    }

    fn option_index(&self, value: &str) -> Option<usize> {
        self.options.iter().position(|o| o.value == value)
    }
}

/// The properties every portal starts with, per standard object type (custom types start empty).
pub fn default_properties(ty: &str) -> Vec<PropertyDefinition> {
    use PropertyDefinition as P;
    let text = |names: &[&str], group: &str| -> Vec<P> {
        names.iter().map(|n| P::string(n, group)).collect()
    };
    match ty {
        "contacts" => {
            let g = "contactinformation";
            let mut v = text(
                &[
                    "email",
                    "firstname",
                    "lastname",
                    "company",
                    "website",
                    "address",
                    "city",
                    "state",
                    "country",
                    "zip",
                ],
                g,
            );
            v.push(P::new("phone", "string", "phonenumber", g));
            v.push(P::new("hs_additional_emails", "string", "textarea", g));
            v.push(P::enumeration("lifecyclestage", g, &LIFECYCLE_STAGES));
            v.push(P::date("birthday", g));
            v.push(P::datetime("last_seen", g));
            v.push(P::number("score", g));
            v.push(P::boolean("vip", g));
            v.push(P::new("hs_calculated_merged_vids", "string", "text", g));
            v.push(P::new("hs_merged_object_ids", "enumeration", "checkbox", g));
            v
        }
        "companies" => {
            let g = "companyinformation";
            let mut v = text(
                &[
                    "name",
                    "domain",
                    "description",
                    "industry",
                    "city",
                    "state",
                    "country",
                    "zip",
                    "address",
                ],
                g,
            );
            v.push(P::new("phone", "string", "phonenumber", g));
            v.push(P::number("numberofemployees", g));
            v.push(P::enumeration("lifecyclestage", g, &LIFECYCLE_STAGES));
            v.push(P::new("hs_merged_object_ids", "enumeration", "checkbox", g));
            v
        }
        "deals" => {
            let g = "dealinformation";
            let mut v = text(&["dealname", "dealstage", "pipeline"], g);
            v.push(P::number("amount", g));
            v.push(P::new("hs_merged_object_ids", "enumeration", "checkbox", g));
            v
        }
        "tickets" => {
            let g = "ticketinformation";
            let mut v = text(
                &["subject", "content", "hs_pipeline", "hs_pipeline_stage"],
                g,
            );
            v.push(P::new("hs_merged_object_ids", "enumeration", "checkbox", g));
            v
        }
        _ => Vec::new(),
    }
}

/// What `GET`/batch read return when no `properties` are asked for (HubSpot's defaults).
pub(crate) fn default_read_properties(ty: &str) -> &'static [&'static str] {
    match ty {
        "contacts" => &["email", "firstname", "lastname"],
        "companies" => &["name", "domain"],
        "deals" => &["dealname", "amount", "dealstage", "pipeline"],
        "tickets" => &["subject", "content", "hs_pipeline", "hs_pipeline_stage"],
        _ => &[],
    }
}

/// One stored CRM record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    /// Numeric id, as a string (HubSpot's wire form).
    pub id: String,
    /// Property values, normalized as HubSpot stores them (all strings; emails lowercased,
    /// dates `YYYY-MM-DD`, datetimes ISO-8601). Cleared properties are absent.
    pub properties: BTreeMap<String, String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last write, epoch ms.
    pub updated_at: i64,
    /// When the record was archived (epoch ms). Archived records are left out of search, lists
    /// and reads unless archived ones are asked for; archiving does not move `updated_at`.
    #[serde(default)]
    pub archived_at: Option<i64>,
    /// The id of the record this one was merged into; reads of this id answer that record.
    #[serde(default)]
    pub merged_into: Option<String>,
}

/// A record as written at one moment: what the search index may still show.
#[derive(Debug, Clone)]
struct Version {
    properties: BTreeMap<String, String>,
    updated_at: i64,
}

/// A record plus the versions search may still show (see [`Store::search`]).
#[derive(Debug)]
struct Record {
    /// `object.id` as a number, kept so hot paths (a search visits every candidate) need not
    /// parse it.
    rid: u64,
    object: StoredObject,
    /// `(written at, version)`, oldest first, while some write is younger than the search lag:
    /// the newest version already visible (`None`: indexed before the lag began to matter),
    /// then the ones written after it. Empty when search shows `object` itself, which keeps a
    /// settled portal at one copy of each record.
    versions: Vec<(Option<Instant>, Version)>,
}

impl Record {
    fn new(object: StoredObject) -> Self {
        Self {
            rid: object.id.parse().unwrap_or_default(),
            object,
            versions: Vec::new(),
        }
    }

    fn rid(&self) -> u64 {
        self.rid
    }

    /// Whether search, list and reads by id treat the record as current.
    fn live(&self) -> bool {
        self.object.archived_at.is_none() && self.object.merged_into.is_none()
    }

    /// The record as search sees it at `now`, or `None` while it is too new to be indexed.
    fn visible(&self, now: Instant, lag: Duration) -> Option<View<'_>> {
        let view = |properties, updated_at| View {
            id: self.rid(),
            properties,
            created_at: self.object.created_at,
            updated_at,
        };
        if self.versions.is_empty() {
            return Some(view(&self.object.properties, self.object.updated_at));
        }
        self.versions
            .iter()
            .rev()
            .find(|(at, _)| indexed(*at, now, lag))
            .map(|(_, v)| view(&v.properties, v.updated_at))
    }

    /// What search shows before a write, to keep showing it while the write lags; `None` when
    /// versions are already kept (or there is no lag).
    fn snapshot(&self, lag: Duration) -> Option<Version> {
        (self.versions.is_empty() && !lag.is_zero()).then(|| Version {
            properties: self.object.properties.clone(),
            updated_at: self.object.updated_at,
        })
    }

    /// Remembers the current state as written at `now`, after `previous` (from
    /// [`Record::snapshot`] before the write) if search showed the record until now.
    fn push_version(&mut self, now: Instant, lag: Duration, previous: Option<Version>) {
        if lag.is_zero() {
            self.versions.clear();
            return;
        }
        if let Some(previous) = previous {
            self.versions.push((None, previous));
        }
        let version = Version {
            properties: self.object.properties.clone(),
            updated_at: self.object.updated_at,
        };
        self.versions.push((Some(now), version));
        if let Some(pos) = self
            .versions
            .iter()
            .rposition(|(at, _)| indexed(*at, now, lag))
        {
            self.versions.drain(..pos);
        }
    }
}

/// Whether a version written at `at` (`None`: long ago) is in the search index at `now`.
fn indexed(at: Option<Instant>, now: Instant, lag: Duration) -> bool {
    at.is_none_or(|at| now.saturating_duration_since(at) >= lag)
}

#[derive(Debug, Default)]
struct Table {
    defs: BTreeMap<String, PropertyDefinition>,
    /// Property group names (`contactinformation`, …): a property must name one of them.
    groups: BTreeSet<String>,
    records: BTreeMap<u64, Record>,
    /// `(property, value)` → record, for contact emails (primary and `hs_additional_emails`)
    /// and `hasUniqueValue` properties: conflicts and upserts by unique property.
    index: HashMap<(String, String), u64>,
    /// `(modified ms, id)` of every live record: lets a search bounded on the modified date
    /// read only the records in its range.
    by_modified: BTreeSet<(i64, u64)>,
    /// Records with versions search may not show yet; search checks them one by one.
    lagging: BTreeSet<u64>,
}

impl Table {
    /// Moves a record in the modified-time index after its state changed from `before`
    /// (`(modified ms, live)`).
    fn reindex(&mut self, rid: u64, before: Option<(i64, bool)>) {
        if let Some((at, true)) = before {
            self.by_modified.remove(&(at, rid));
        }
        let Some(record) = self.records.get(&rid) else {
            self.lagging.remove(&rid);
            return;
        };
        if record.live() {
            self.by_modified.insert((record.object.updated_at, rid));
        }
        if record.versions.is_empty() || !record.live() {
            self.lagging.remove(&rid);
        } else {
            self.lagging.insert(rid);
        }
    }
}

/// A property failing validation, in the element shape of HubSpot's
/// `Property values were not valid: [...]` list.
#[derive(Clone, Debug, Serialize)]
struct PropertyError {
    #[serde(rename = "isValid")]
    is_valid: bool,
    message: String,
    error: &'static str,
    name: String,
}

/// The whole CRM of one portal.
#[derive(Debug)]
pub(crate) struct Store {
    tables: BTreeMap<String, Table>,
    next_id: u64,
    pub(crate) associations: Associations,
    /// Custom object type ids and fully qualified names → the type's `p_{name}`.
    aliases: HashMap<String, String>,
    /// How long a write stays invisible to search (HubSpot's indexing delay).
    pub(crate) search_lag: Duration,
}

/// One page of search results.
#[derive(Debug, Default)]
pub(crate) struct SearchPage {
    pub(crate) total: usize,
    pub(crate) results: Vec<StoredObject>,
    pub(crate) next_after: Option<String>,
}

/// A JSON scalar as HubSpot's string form; `null` is the empty string (clears the property);
/// arrays and objects are not scalars.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !s.chars().any(char::is_whitespace)
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(';').map(str::trim).filter(|e| !e.is_empty())
}

/// One value converted to HubSpot's stored form, or `(error code, message)`.
fn normalize(def: &PropertyDefinition, raw: &Value) -> Result<String, (&'static str, String)> {
    let text = scalar_text(raw).unwrap_or_else(|| raw.to_string());
    if text.is_empty() {
        return Ok(text);
    }
    let trimmed = text.trim();
    match def.kind.as_str() {
        "number" => match trimmed.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(trimmed.to_string()),
            _ => Err(("INVALID_DECIMAL", format!("{text} was not a valid number."))),
        },
        "bool" => match trimmed.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(b.to_string()),
            _ => Err((
                "INVALID_OPTION",
                format!("{text} was not one of the allowed options: [true, false]"),
            )),
        },
        "enumeration" => {
            let parts: Vec<&str> = if def.field_type == "checkbox" {
                split_list(&text).collect()
            } else {
                vec![trimmed]
            };
            match parts.iter().find(|p| def.option_index(p).is_none()) {
                Some(bad) => {
                    let allowed: Vec<&str> = def.options.iter().map(|o| o.value.as_str()).collect();
                    Err((
                        "INVALID_OPTION",
                        format!(
                            "{bad} was not one of the allowed options: [{}]",
                            allowed.join(", ")
                        ),
                    ))
                }
                None => Ok(parts.join(";")),
            }
        }
        "date" => {
            let ms = match trimmed.parse::<i64>() {
                Ok(ms) => ms,
                Err(_) => dates::parse_iso(trimmed)
                    .ok_or(("INVALID_DATE", format!("{text} is not a valid date")))?,
            };
            if ms.rem_euclid(dates::DAY_MS) != 0 {
                // HubSpot's own wording, which clients match on.
                return Err((
                    "INVALID_DATE",
                    format!("{text} is at {} UTC, not midnight!", dates::time_of_day(ms)),
                ));
            }
            Ok(dates::date_from_ms(ms))
        }
        "datetime" => trimmed
            .parse::<i64>()
            .ok()
            .or_else(|| dates::parse_iso(trimmed))
            .map(dates::iso_from_ms)
            .ok_or((
                "INVALID_DATETIME",
                format!("{text} is not a valid datetime"),
            )),
        _ if def.name == "email" => {
            let email = trimmed.to_lowercase();
            if valid_email(&email) {
                Ok(email)
            } else {
                Err(("INVALID_EMAIL", format!("Email address {text} is invalid")))
            }
        }
        _ if def.name == "hs_additional_emails" => {
            let emails: Vec<String> = split_list(&text).map(str::to_lowercase).collect();
            match emails.iter().find(|e| !valid_email(e)) {
                Some(bad) => Err(("INVALID_EMAIL", format!("Email address {bad} is invalid"))),
                None => Ok(emails.join(";")),
            }
        }
        _ => Ok(text),
    }
}

/// Validates and normalizes a `properties` map against a type's definitions. All failing
/// properties are reported together, as HubSpot does.
fn validate(
    defs: &BTreeMap<String, PropertyDefinition>,
    props: &Map<String, Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, raw) in props {
        let Some(def) = defs.get(name) else {
            errors.push(PropertyError {
                is_valid: false,
                message: format!("Property \"{name}\" does not exist"),
                error: "PROPERTY_DOESNT_EXIST",
                name: name.clone(),
            });
            continue;
        };
        match normalize(def, raw) {
            Ok(value) => {
                values.insert(name.clone(), value);
            }
            Err((error, message)) => errors.push(PropertyError {
                is_valid: false,
                message,
                error,
                name: name.clone(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        // The list travels as JSON text inside the message, exactly as HubSpot sends it.
        let list = serde_json::to_string(&errors).unwrap_or_default();
        Err(ApiError::validation(format!(
            "Property values were not valid: {list}"
        )))
    }
}

/// Index keys of a record: contact emails (primary, plus secondary when `secondary`) and
/// unique-property values.
fn index_keys(
    ty: &str,
    defs: &BTreeMap<String, PropertyDefinition>,
    props: &BTreeMap<String, String>,
    secondary: bool,
) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    let contacts = ty == "contacts";
    if contacts {
        if let Some(email) = props.get("email").filter(|e| !e.is_empty()) {
            keys.push(("email".to_string(), email.to_lowercase()));
        }
        if secondary {
            if let Some(list) = props.get("hs_additional_emails") {
                keys.extend(split_list(list).map(|e| ("email".to_string(), e.to_lowercase())));
            }
        }
    }
    for (name, value) in props {
        let unique = defs.get(name).is_some_and(|d| d.has_unique_value);
        if unique && !value.is_empty() && !(contacts && name == "email") {
            keys.push((name.clone(), value.clone()));
        }
    }
    keys
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("Object not found.  objectId are usually numeric.")
        .with("context", json!({ "id": [id] }))
}

fn is_email_key(ty: &str, id_property: &str) -> bool {
    ty == "contacts" && id_property == "email"
}

impl Store {
    /// A portal as configured: the default properties, the custom object types (whose type
    /// ids and fully qualified names become aliases of their `p_{name}`), then the extra
    /// (object type, definition) pairs.
    pub(crate) fn new(config: &FakeConfig) -> Self {
        let mut tables = BTreeMap::new();
        for ty in ["contacts", "companies", "deals", "tickets"] {
            let mut table = Table::default();
            for def in default_properties(ty) {
                table.defs.insert(def.name.clone(), def);
            }
            tables.insert(ty.to_string(), table);
        }
        let mut store = Self {
            tables,
            // HubSpot ids are large numbers; starting high also makes "id 1" an obvious miss.
            next_id: 1001,
            associations: Associations::default(),
            aliases: HashMap::new(),
            search_lag: config.search_lag,
        };
        for (index, object) in config.custom_objects.iter().enumerate() {
            store.add_custom_object(config.portal_id, index, object);
        }
        for (ty, def) in &config.extra_properties {
            let ty = store.type_of(ty);
            let table = store.table_mut(&ty);
            table.defs.insert(def.name.clone(), def.clone());
        }
        // The groups a portal starts with are the ones its properties are in.
        for table in store.tables.values_mut() {
            table.groups = table.defs.values().map(|d| d.group_name.clone()).collect();
        }
        store
    }

    /// A type's property groups, in name order.
    pub(crate) fn property_groups(&self, ty: &str) -> Vec<String> {
        self.tables
            .get(ty)
            .map(|t| t.groups.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Creates a property group; 409 when the name is taken.
    pub(crate) fn create_property_group(&mut self, ty: &str, name: &str) -> Result<(), ApiError> {
        let name_ok = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(ApiError::validation(format!(
                "Property group name {name} is invalid: use lowercase letters, digits and underscores"
            )));
        }
        if !self.table_mut(ty).groups.insert(name.to_string()) {
            return Err(ApiError::conflict(format!(
                "A property group named '{name}' already exists."
            )));
        }
        Ok(())
    }

    /// Custom properties of a type: every definition that is not one of HubSpot's own.
    pub(crate) fn custom_property_count(&self, ty: &str) -> usize {
        let own: BTreeSet<String> = default_properties(ty).into_iter().map(|d| d.name).collect();
        self.defs(ty)
            .map(|d| d.keys().filter(|n| !own.contains(*n)).count())
            .unwrap_or_default()
    }

    /// The object types that hold properties.
    pub(crate) fn object_types(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    /// Creates a property through the API: its group must exist and the type must be under
    /// its custom-property `limit`, as HubSpot checks; then as [`Store::create_property`].
    pub(crate) fn create_property_checked(
        &mut self,
        ty: &str,
        def: PropertyDefinition,
        limit: usize,
    ) -> Result<PropertyDefinition, ApiError> {
        let known_group = self
            .tables
            .get(ty)
            .is_some_and(|t| t.groups.contains(&def.group_name));
        if !def.group_name.trim().is_empty() && !known_group {
            return Err(ApiError::validation(format!(
                "Property group {} does not exist.",
                def.group_name
            )));
        }
        let exists = self.defs(ty).is_some_and(|d| d.contains_key(&def.name));
        if !exists && self.custom_property_count(ty) >= limit {
            return Err(ApiError::validation(format!(
                "You have reached your limit of {limit} custom properties for {ty}."
            )));
        }
        self.create_property(ty, def)
    }

    /// Makes `object`, the portal's `index`-th custom object type, a table with its properties,
    /// reachable by its type id and fully qualified name.
    pub(crate) fn add_custom_object(
        &mut self,
        portal_id: u64,
        index: usize,
        object: &CustomObject,
    ) {
        let table = self.table_mut(&object.type_name());
        for def in &object.properties {
            table.defs.insert(def.name.clone(), def.clone());
        }
        let (type_id, qualified) = custom_aliases(portal_id, index, object);
        self.aliases.insert(type_id, object.type_name());
        self.aliases.insert(qualified, object.type_name());
    }

    /// The store's name for an object type as a path names it: HubSpot's aliases for the
    /// standard types, a custom object's type id or fully qualified name, else the name.
    pub(crate) fn type_of(&self, raw: &str) -> String {
        let name = canonical_type(raw);
        self.aliases.get(&name).cloned().unwrap_or(name)
    }

    fn table_mut(&mut self, ty: &str) -> &mut Table {
        self.tables.entry(ty.to_string()).or_default()
    }

    fn defs(&self, ty: &str) -> Option<&BTreeMap<String, PropertyDefinition>> {
        self.tables.get(ty).map(|t| &t.defs)
    }

    /// The live record an id names: merged ids lead to the record they were merged into, as
    /// HubSpot's reads do; archived records are found only with `archived`.
    fn resolve(&self, ty: &str, rid: u64, archived: bool) -> Option<u64> {
        let table = self.tables.get(ty)?;
        let mut rid = rid;
        // Each merge makes a new record, so the chain is finite; the bound guards a corrupt one.
        for _ in 0..64 {
            let record = table.records.get(&rid)?;
            match &record.object.merged_into {
                Some(next) => rid = next.parse().ok()?,
                None if record.object.archived_at.is_some() && !archived => return None,
                None => return Some(rid),
            }
        }
        None
    }

    /// A stored record as it is, archived or merged ones included.
    pub(crate) fn record(&self, ty: &str, rid: u64) -> Option<&StoredObject> {
        Some(&self.tables.get(ty)?.records.get(&rid)?.object)
    }

    /// The live record an id leads to (through merges).
    pub(crate) fn live_record(&self, ty: &str, rid: u64) -> Option<&StoredObject> {
        self.record(ty, self.resolve(ty, rid, false)?)
    }

    /// Whether `rid` is itself a live record (not archived, not merged away).
    pub(crate) fn is_live(&self, ty: &str, rid: u64) -> bool {
        self.resolve(ty, rid, false) == Some(rid)
    }

    /// Whether a live record answers to this id.
    pub(crate) fn exists(&self, ty: &str, id: &str) -> bool {
        id.trim()
            .parse::<u64>()
            .ok()
            .and_then(|rid| self.resolve(ty, rid, false))
            .is_some()
    }

    /// The contact owning this email, primary or secondary.
    pub(crate) fn contact_id_by_email(&self, email: &str) -> Option<String> {
        let table = self.tables.get("contacts")?;
        let key = ("email".to_string(), email.trim().to_lowercase());
        let rid = *table.index.get(&key)?;
        self.resolve("contacts", rid, false)
            .map(|rid| rid.to_string())
    }

    fn check_id_property(&self, ty: &str, prop: &str) -> Result<(), ApiError> {
        if prop == "hs_object_id" || is_email_key(ty, prop) {
            return Ok(());
        }
        match self.defs(ty).and_then(|d| d.get(prop)) {
            None => Err(ApiError::validation(format!(
                "Property \"{prop}\" does not exist"
            ))),
            Some(def) if !def.has_unique_value => Err(ApiError::validation(format!(
                "{prop} is not a unique property: idProperty must be hs_object_id or a property with hasUniqueValue"
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Finds a record by id, or by the value of a unique property (`email` matches secondary
    /// emails too). Merged ids resolve to their survivor. An archived record is found by a
    /// unique value (so an upsert can restore it), and by id only when `archived`.
    fn lookup(
        &self,
        ty: &str,
        id: &str,
        id_property: Option<&str>,
        archived: bool,
    ) -> Result<Option<u64>, ApiError> {
        let prop = id_property.unwrap_or("hs_object_id");
        self.check_id_property(ty, prop)?;
        let Some(table) = self.tables.get(ty) else {
            return Ok(None);
        };
        if prop == "hs_object_id" {
            let rid = id.trim().parse::<u64>().ok();
            return Ok(rid.and_then(|rid| self.resolve(ty, rid, archived)));
        }
        let value = if is_email_key(ty, prop) {
            id.trim().to_lowercase()
        } else {
            id.to_string()
        };
        let rid = table.index.get(&(prop.to_string(), value)).copied();
        Ok(rid.and_then(|rid| self.resolve(ty, rid, true)))
    }

    fn is_archived(&self, ty: &str, rid: u64) -> bool {
        self.tables
            .get(ty)
            .and_then(|t| t.records.get(&rid))
            .is_some_and(|r| r.object.archived_at.is_some())
    }

    /// The record a create (or a write to `exclude`) with these values would collide with.
    fn conflict(
        &self,
        ty: &str,
        values: &BTreeMap<String, String>,
        exclude: Option<u64>,
    ) -> Option<ApiError> {
        let table = self.tables.get(ty)?;
        index_keys(ty, &table.defs, values, false)
            .into_iter()
            .find_map(|(prop, value)| {
                let owner = *table.index.get(&(prop.clone(), value.clone()))?;
                if Some(owner) == exclude {
                    return None;
                }
                Some(if is_email_key(ty, &prop) {
                    ApiError::conflict(format!("Contact already exists. Existing ID: {owner}"))
                } else {
                    ApiError::conflict(format!(
                        "{} with {prop}={value} already exists. Existing ID: {owner}",
                        singular(ty)
                    ))
                })
            })
    }

    /// Creates a record (the insert half of an upsert).
    pub(crate) fn create(
        &mut self,
        ty: &str,
        props: &Map<String, Value>,
        now: Instant,
    ) -> Result<StoredObject, ApiError> {
        let values = validate(&self.table_mut(ty).defs, props)?;
        if let Some(err) = self.conflict(ty, &values, None) {
            return Err(err);
        }
        Ok(self.insert(ty, values, now))
    }

    /// Updates the live record found by id or by `id_property`.
    pub(crate) fn update(
        &mut self,
        ty: &str,
        id: &str,
        id_property: Option<&str>,
        props: &Map<String, Value>,
        now: Instant,
    ) -> Result<StoredObject, ApiError> {
        let rid = self
            .lookup(ty, id, id_property, false)?
            .filter(|rid| !self.is_archived(ty, *rid))
            .ok_or_else(|| not_found(id))?;
        self.update_record(ty, rid, props, now)
    }

    /// Updates the record matching `id` on `id_property`, or creates it with
    /// `id_property = id`. Returns the record and whether it is new. An archived record found
    /// by its unique value is restored by the write, as re-creating it in HubSpot does.
    pub(crate) fn upsert(
        &mut self,
        ty: &str,
        id: &str,
        id_property: Option<&str>,
        props: &Map<String, Value>,
        now: Instant,
    ) -> Result<(StoredObject, bool), ApiError> {
        let prop = id_property.unwrap_or("hs_object_id");
        if let Some(rid) = self.lookup(ty, id, Some(prop), false)? {
            return Ok((self.update_record(ty, rid, props, now)?, false));
        }
        if prop == "hs_object_id" {
            return Err(not_found(id));
        }
        let mut props = props.clone();
        props.insert(prop.to_string(), Value::String(id.to_string()));
        Ok((self.create(ty, &props, now)?, true))
    }

    fn update_record(
        &mut self,
        ty: &str,
        rid: u64,
        props: &Map<String, Value>,
        now: Instant,
    ) -> Result<StoredObject, ApiError> {
        let values = validate(&self.table_mut(ty).defs, props)?;
        if let Some(err) = self.conflict(ty, &values, Some(rid)) {
            return Err(err);
        }
        let lag = self.search_lag;
        let table = self.table_mut(ty);
        let Table {
            defs,
            records,
            index,
            ..
        } = &mut *table;
        let record = records
            .get_mut(&rid)
            .ok_or_else(|| not_found(&rid.to_string()))?;
        let before = (record.object.updated_at, record.live());
        let previous = record.live().then(|| record.snapshot(lag)).flatten();
        let old_keys = index_keys(ty, defs, &record.object.properties, true);
        let stored = &mut record.object.properties;
        for (name, value) in values {
            if value.is_empty() {
                stored.remove(&name);
                continue;
            }
            // HubSpot ignores a lifecycle stage earlier than the current one (no error); a
            // client must clear the property first to move backwards.
            if name == "lifecyclestage" {
                let def = defs.get(&name);
                let current = stored.get(&name).and_then(|c| def?.option_index(c));
                let requested = def.and_then(|d| d.option_index(&value));
                if matches!((current, requested), (Some(c), Some(r)) if r < c) {
                    continue;
                }
            }
            stored.insert(name, value);
        }
        record.object.archived_at = None;
        record.object.updated_at = dates::now_ms().max(record.object.created_at);
        record.push_version(now, lag, previous);
        for key in old_keys {
            if index.get(&key) == Some(&rid) {
                index.remove(&key);
            }
        }
        for key in index_keys(ty, defs, &record.object.properties, true) {
            index.entry(key).or_insert(rid);
        }
        let object = record.object.clone();
        table.reindex(rid, Some(before));
        Ok(object)
    }

    fn insert(&mut self, ty: &str, values: BTreeMap<String, String>, now: Instant) -> StoredObject {
        let created = dates::now_ms();
        let object = StoredObject {
            id: self.next_id.to_string(),
            properties: values.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            created_at: created,
            updated_at: created,
            ..StoredObject::default()
        };
        self.next_id += 1;
        self.put(ty, object.clone(), Some(now));
        object
    }

    /// Stores a generated record as already indexed, with the given times; returns its id. The
    /// generator writes values in stored form, so there is no validation pass.
    pub(crate) fn put_generated(
        &mut self,
        ty: &str,
        properties: &[(&str, String)],
        created_at: i64,
        updated_at: i64,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let object = StoredObject {
            id: id.to_string(),
            properties: properties
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
            created_at,
            updated_at,
            ..StoredObject::default()
        };
        self.put(ty, object, None);
        id
    }

    /// Stores a record built elsewhere (insert, merge, the generator) under its id; `written`
    /// is when, for the search lag (`None`: already indexed).
    fn put(&mut self, ty: &str, object: StoredObject, written: Option<Instant>) {
        let lag = self.search_lag;
        let table = self.table_mut(ty);
        let rid: u64 = object.id.parse().unwrap_or_default();
        for key in index_keys(ty, &table.defs, &object.properties, true) {
            table.index.entry(key).or_insert(rid);
        }
        let mut record = Record::new(object);
        if let Some(at) = written {
            record.push_version(at, lag, None);
        }
        table.records.insert(rid, record);
        table.reindex(rid, None);
    }

    /// Reads a record by id or unique property; `Ok(None)` when absent (or archived, unless
    /// `archived`).
    pub(crate) fn read(
        &self,
        ty: &str,
        id: &str,
        id_property: Option<&str>,
        archived: bool,
    ) -> Result<Option<StoredObject>, ApiError> {
        let rid = self
            .lookup(ty, id, id_property, archived)?
            .filter(|rid| archived || !self.is_archived(ty, *rid));
        let table = self.tables.get(ty);
        Ok(rid.and_then(|rid| Some(table?.records.get(&rid)?.object.clone())))
    }

    /// Ids of a type's live records: `ids` if given (each must be live), else the first `count`
    /// by id (all when `None`).
    pub(crate) fn select(
        &self,
        ty: &str,
        ids: Option<&[String]>,
        count: Option<usize>,
    ) -> Result<Vec<u64>, ApiError> {
        let Some(table) = self.tables.get(ty) else {
            return Ok(Vec::new());
        };
        match ids {
            Some(ids) => ids
                .iter()
                .map(|id| {
                    id.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|rid| table.records.get(rid).is_some_and(Record::live))
                        .ok_or_else(|| not_found(id))
                })
                .collect(),
            None => Ok(table
                .records
                .values()
                .filter(|r| r.live())
                .take(count.unwrap_or(usize::MAX))
                .map(Record::rid)
                .collect()),
        }
    }

    /// Writes `props` (validated, may be empty) to each record and sets its modified time to
    /// `at_ms`: a bulk update landing on one millisecond, as HubSpot's own batch jobs do. With
    /// `indexed` the write is already visible to search, else it lags like any write.
    pub(crate) fn modify(
        &mut self,
        ty: &str,
        rids: &[u64],
        props: &Map<String, Value>,
        at_ms: i64,
        now: Instant,
        indexed: bool,
    ) -> Result<(), ApiError> {
        let values = validate(&self.table_mut(ty).defs, props)?;
        let lag = if indexed {
            Duration::ZERO
        } else {
            self.search_lag
        };
        let table = self.table_mut(ty);
        for &rid in rids {
            let Some(record) = table.records.get_mut(&rid) else {
                continue;
            };
            let before = (record.object.updated_at, record.live());
            let previous = record.snapshot(lag);
            for (name, value) in &values {
                if value.is_empty() {
                    record.object.properties.remove(name);
                } else {
                    record.object.properties.insert(name.clone(), value.clone());
                }
            }
            record.object.updated_at = at_ms;
            record.push_version(now, lag, previous);
            table.reindex(rid, Some(before));
        }
        Ok(())
    }

    /// One page of a type's records in id order, from id `after` on: the live ones, or with
    /// `archived` the archived ones (merged records are in neither). Returns the page and the
    /// id the next page starts at.
    pub(crate) fn list(
        &self,
        ty: &str,
        after: u64,
        limit: usize,
        archived: bool,
    ) -> (Vec<StoredObject>, Option<u64>) {
        let Some(table) = self.tables.get(ty) else {
            return (Vec::new(), None);
        };
        let mut page: Vec<StoredObject> = Vec::new();
        for record in table.records.range(after..).map(|(_, r)| r) {
            let wanted = if archived {
                record.object.archived_at.is_some() && record.object.merged_into.is_none()
            } else {
                record.live()
            };
            if !wanted {
                continue;
            }
            if page.len() == limit {
                return (page, Some(record.rid()));
            }
            page.push(record.object.clone());
        }
        (page, None)
    }

    /// Archives live records (others are left alone, as HubSpot's idempotent delete does).
    /// The modified time does not move: a cursor on it never sees an archive.
    pub(crate) fn archive(&mut self, ty: &str, rids: &[u64], at_ms: i64) {
        let Some(table) = self.tables.get_mut(ty) else {
            return;
        };
        for &rid in rids {
            let Some(record) = table.records.get_mut(&rid).filter(|r| r.live()) else {
                continue;
            };
            let before = (record.object.updated_at, true);
            record.object.archived_at = Some(at_ms);
            record.versions.clear();
            table.reindex(rid, Some(before));
        }
    }

    /// Restores archived records, as HubSpot's recycle bin does. With `touch` the restore is a
    /// write (a new modified time, lagging in search like any write); without, the record comes
    /// back with the modified time it had, which only a client reconciling ids would notice.
    pub(crate) fn restore(
        &mut self,
        ty: &str,
        rids: &[u64],
        touch: bool,
        now: Instant,
    ) -> Vec<u64> {
        let lag = self.search_lag;
        let Some(table) = self.tables.get_mut(ty) else {
            return Vec::new();
        };
        let mut restored = Vec::new();
        for &rid in rids {
            let Some(record) = table
                .records
                .get_mut(&rid)
                .filter(|r| r.object.archived_at.is_some() && r.object.merged_into.is_none())
            else {
                continue;
            };
            let before = (record.object.updated_at, false);
            record.object.archived_at = None;
            if touch {
                record.object.updated_at = dates::now_ms().max(record.object.updated_at);
                record.push_version(now, lag, None);
            }
            table.reindex(rid, Some(before));
            restored.push(rid);
        }
        restored
    }

    /// Ids of a type's archived (not merged) records among `ids`.
    pub(crate) fn archived_ids(&self, ty: &str, ids: &[String]) -> Vec<u64> {
        ids.iter()
            .filter_map(|id| id.trim().parse::<u64>().ok())
            .filter(|rid| self.is_archived(ty, *rid))
            .collect()
    }

    /// Merges two live records the way HubSpot does today: a new record with a new id takes
    /// the primary's values, filled in from the secondary's; both old ids resolve to it from
    /// then on and leave search and lists. The new record lists every id merged into it in
    /// `hs_merged_object_ids` (contacts also in `hs_calculated_merged_vids`, `id:epoch ms`),
    /// keeps the older create date and takes the secondary's email as a secondary email.
    /// Associations move to it. Returns the two old ids and the new record.
    pub(crate) fn merge(
        &mut self,
        ty: &str,
        primary: &str,
        secondary: &str,
        now: Instant,
    ) -> Result<([u64; 2], StoredObject), ApiError> {
        let live = |id: &str| {
            id.trim()
                .parse::<u64>()
                .ok()
                .and_then(|rid| self.resolve(ty, rid, false))
                .ok_or_else(|| not_found(id))
        };
        let (a, b) = (live(primary)?, live(secondary)?);
        if a == b {
            return Err(ApiError::validation(format!(
                "Cannot merge {} {primary} with itself",
                singular(ty).to_lowercase()
            )));
        }
        let at = dates::now_ms();
        let new_id = self.next_id;
        self.next_id += 1;
        let table = self.table_mut(ty);
        let mut old = Vec::new();
        for rid in [a, b] {
            let Some(record) = table.records.get_mut(&rid) else {
                return Err(not_found(&rid.to_string()));
            };
            let before = (record.object.updated_at, true);
            record.object.merged_into = Some(new_id.to_string());
            record.versions.clear();
            old.push(record.object.clone());
            table.reindex(rid, Some(before));
        }
        let (first, second) = (&old[0], &old[1]);
        for (object, rid) in old.iter().zip([a, b]) {
            for key in index_keys(ty, &table.defs, &object.properties, true) {
                if table.index.get(&key) == Some(&rid) {
                    table.index.remove(&key);
                }
            }
        }
        let mut properties = second.properties.clone();
        properties.extend(first.properties.clone());
        let list = |object: &StoredObject, name: &str| -> Vec<String> {
            object
                .properties
                .get(name)
                .map(|v| split_list(v).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let mut merged_ids: Vec<u64> = [first, second]
            .iter()
            .flat_map(|o| list(o, "hs_merged_object_ids"))
            .filter_map(|id| id.parse().ok())
            .chain([a, b])
            .collect();
        merged_ids.sort_unstable();
        merged_ids.dedup();
        let joined: Vec<String> = merged_ids.iter().map(u64::to_string).collect();
        properties.insert("hs_merged_object_ids".into(), joined.join(";"));
        if ty == "contacts" {
            let mut vids: Vec<String> = [first, second]
                .iter()
                .flat_map(|o| list(o, "hs_calculated_merged_vids"))
                .collect();
            vids.extend([format!("{a}:{at}"), format!("{b}:{at}")]);
            properties.insert("hs_calculated_merged_vids".into(), vids.join(";"));
            let email = properties.get("email").cloned().unwrap_or_default();
            let mut others: Vec<String> = [first, second]
                .iter()
                .flat_map(|o| {
                    let mut emails = list(o, "hs_additional_emails");
                    emails.extend(o.properties.get("email").cloned());
                    emails
                })
                .filter(|e| !e.eq_ignore_ascii_case(&email))
                .collect();
            let mut seen = BTreeSet::new();
            others.retain(|e| seen.insert(e.to_lowercase()));
            if !others.is_empty() {
                properties.insert("hs_additional_emails".into(), others.join(";"));
            }
        }
        let object = StoredObject {
            id: new_id.to_string(),
            properties,
            created_at: first.created_at.min(second.created_at),
            updated_at: at,
            ..StoredObject::default()
        };
        self.put(ty, object.clone(), Some(now));
        for rid in [a, b] {
            self.associations.repoint(ty, rid, new_id);
        }
        Ok(([a, b], object))
    }

    /// Makes every write visible to search now, as if the lag had passed.
    pub(crate) fn settle_search(&mut self) {
        for table in self.tables.values_mut() {
            for rid in std::mem::take(&mut table.lagging) {
                if let Some(record) = table.records.get_mut(&rid) {
                    record.versions.clear();
                }
            }
        }
    }

    /// Runs a search over what the index shows at `now`: a record written less than
    /// `search_lag` ago shows its previous version (properties and modified time), or is
    /// absent if it is new. Archived and merged records never match.
    pub(crate) fn search(
        &self,
        ty: &str,
        req: &SearchRequest,
        now: Instant,
    ) -> Result<SearchPage, ApiError> {
        let empty = BTreeMap::new();
        let query = req.compile(ty, self.defs(ty).unwrap_or(&empty))?;
        let Some(table) = self.tables.get(ty) else {
            return Ok(SearchPage::default());
        };
        let lag = self.search_lag;
        let mut hits = Vec::new();
        for rid in &table.lagging {
            let view = table.records.get(rid).and_then(|r| r.visible(now, lag));
            hits.extend(view.and_then(|v| query.hit(&v)));
        }
        let (low, high) = query.modified_range();
        if low.is_none() && high.is_none() {
            // No bound on the modified time: walk the records, skipping the index lookups.
            for record in table.records.values() {
                if record.live() && !table.lagging.contains(&record.rid) {
                    let view = record.visible(now, lag);
                    hits.extend(view.and_then(|v| query.hit(&v)));
                }
            }
        } else if low.unwrap_or(i64::MIN) <= high.unwrap_or(i64::MAX) {
            let range = (low.unwrap_or(i64::MIN), 0)..=(high.unwrap_or(i64::MAX), u64::MAX);
            for (_, rid) in table.by_modified.range(range) {
                if table.lagging.contains(rid) {
                    continue;
                }
                let view = table.records.get(rid).and_then(|r| r.visible(now, lag));
                hits.extend(view.and_then(|v| query.hit(&v)));
            }
        }
        let total = hits.len();
        let results: Vec<StoredObject> = query
            .page(&mut hits)
            .iter()
            .filter_map(|hit| {
                let record = table.records.get(&hit.id)?;
                let view = record.visible(now, lag)?;
                Some(StoredObject {
                    properties: view.properties.clone(),
                    updated_at: view.updated_at,
                    ..record.object.clone()
                })
            })
            .collect();
        let end = query.offset + results.len();
        Ok(SearchPage {
            total,
            next_after: (end < total && !results.is_empty()).then(|| end.to_string()),
            results,
        })
    }

    /// A type's property definitions.
    pub(crate) fn properties(&self, ty: &str) -> Vec<PropertyDefinition> {
        self.defs(ty)
            .map(|d| d.values().cloned().collect())
            .unwrap_or_default()
    }

    /// One property definition.
    pub(crate) fn property(&self, ty: &str, name: &str) -> Option<PropertyDefinition> {
        self.defs(ty)?.get(name).cloned()
    }

    /// Creates a property definition (409 if the name exists).
    pub(crate) fn create_property(
        &mut self,
        ty: &str,
        mut def: PropertyDefinition,
    ) -> Result<PropertyDefinition, ApiError> {
        let mut missing = Vec::new();
        for (field, value) in [
            ("name", &def.name),
            ("label", &def.label),
            ("type", &def.kind),
            ("fieldType", &def.field_type),
            ("groupName", &def.group_name),
        ] {
            if value.trim().is_empty() {
                missing.push(field);
            }
        }
        if !missing.is_empty() {
            return Err(ApiError::validation(format!(
                "Missing required fields: {}",
                missing.join(", ")
            )));
        }
        let name_ok = def.name.starts_with(|c: char| c.is_ascii_lowercase())
            && def
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(ApiError::validation(format!(
                "Property name {} is invalid: use lowercase letters, digits and underscores",
                def.name
            )));
        }
        const TYPES: [&str; 7] = [
            "string",
            "number",
            "date",
            "datetime",
            "enumeration",
            "bool",
            "phone_number",
        ];
        if !TYPES.contains(&def.kind.as_str()) {
            return Err(ApiError::validation(format!(
                "Invalid property type {}: expected one of {}",
                def.kind,
                TYPES.join(", ")
            )));
        }
        if def.kind == "bool" && def.options.is_empty() {
            def = def.with_options(&["true", "false"]);
        }
        let table = self.table_mut(ty);
        if table.defs.contains_key(&def.name) {
            return Err(ApiError::conflict(format!(
                "Property named '{}' already exists.",
                def.name
            )));
        }
        if def.has_unique_value {
            for (rid, record) in &table.records {
                if let Some(value) = record.object.properties.get(&def.name) {
                    table
                        .index
                        .entry((def.name.clone(), value.clone()))
                        .or_insert(*rid);
                }
            }
        }
        table.groups.insert(def.group_name.clone());
        table.defs.insert(def.name.clone(), def.clone());
        Ok(def)
    }

    /// The live record id an id names (merged ids resolve), or HubSpot's 404 for one side of
    /// an association.
    fn association_side(&self, ty: &str, id: &str) -> Result<u64, ApiError> {
        id.trim()
            .parse::<u64>()
            .ok()
            .and_then(|rid| self.resolve(ty, rid, false))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "No {} with ID {id} exists",
                    singular(ty).to_lowercase()
                ))
                .with("context", json!({ "id": [id], "objectType": [ty] }))
            })
    }

    /// Stores an association (one type); both records must be live. Returns whether it is new.
    /// Neither record's modified time moves.
    pub(crate) fn associate(&mut self, link: &Association) -> Result<bool, ApiError> {
        let from = self.association_side(&link.from_type, &link.from_id)?;
        let to = self.association_side(&link.to_type, &link.to_id)?;
        Ok(self.associations.add(&Association {
            from_id: from.to_string(),
            to_id: to.to_string(),
            ..link.clone()
        }))
    }

    /// Removes every association between two records, or only `type_id` (read from the
    /// `from` side). Returns how many links went; records that do not exist have none.
    pub(crate) fn dissociate(
        &mut self,
        from: (&str, &str),
        to: (&str, &str),
        type_id: Option<u32>,
    ) -> usize {
        let side = |ty: &str, id: &str| (ty.to_string(), id.trim().parse::<u64>().unwrap_or(0));
        let (a, b) = (side(from.0, from.1), side(to.0, to.1));
        match type_id {
            None => self.associations.remove_pair(&a, &b),
            Some(t) => usize::from(self.associations.remove_type(&a, &b, t)),
        }
    }

    /// The live `to_type` records associated with a record, with the link types as read from
    /// it; archived counterparts are left out (their links come back with them).
    pub(crate) fn associated(
        &self,
        from_type: &str,
        from_id: u64,
        to_type: &str,
    ) -> BTreeMap<u64, Vec<LinkType>> {
        let mut found = self
            .associations
            .of(&(from_type.to_string(), from_id), to_type);
        found.retain(|id, _| self.resolve(to_type, *id, false) == Some(*id));
        found
    }

    /// Every record, by type then id.
    pub(crate) fn objects(&self) -> BTreeMap<String, BTreeMap<String, StoredObject>> {
        self.tables
            .iter()
            .map(|(ty, table)| {
                let records = table
                    .records
                    .values()
                    .map(|r| (r.object.id.clone(), r.object.clone()))
                    .collect();
                (ty.clone(), records)
            })
            .collect()
    }

    /// Every property definition, by type.
    pub(crate) fn all_properties(&self) -> BTreeMap<String, Vec<PropertyDefinition>> {
        self.tables
            .keys()
            .map(|ty| (ty.clone(), self.properties(ty)))
            .collect()
    }

    /// Every association.
    pub(crate) fn all_associations(&self) -> Vec<Association> {
        self.associations.all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_midnight() {
        let def = PropertyDefinition::date("birthday", "g");
        assert_eq!(
            normalize(&def, &json!(1_704_067_200_000_i64)),
            Ok("2024-01-01".into())
        );
        assert_eq!(
            normalize(&def, &json!("2024-01-01")),
            Ok("2024-01-01".into())
        );
        let err = normalize(&def, &json!(1_557_926_325_000_i64)).expect_err("not midnight");
        assert_eq!(err.0, "INVALID_DATE");
        assert!(
            err.1.ends_with("is at 13:18:45.000 UTC, not midnight!"),
            "{}",
            err.1
        );
    }
}
