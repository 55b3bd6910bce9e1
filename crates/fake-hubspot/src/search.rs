//! CRM search (`POST /crm/v3/objects/{type}/search`): HubSpot's request shape and limits, the
//! filter operators, sorting and paging, compiled once per request and evaluated over record
//! views the store hands in.
//!
//! Architecture invariant: this module knows the search language and its limits but not how
//! records are stored or indexed; the store decides which records are candidates (and which
//! version of each the index shows) and this module decides which of them match and in what
//! order.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::dates;
use crate::errors::ApiError;
use crate::store::{PropertyDefinition, scalar_text};

/// Most filter groups in one search.
pub const MAX_FILTER_GROUPS: usize = 5;
/// Most filters in one filter group.
pub const MAX_FILTERS_PER_GROUP: usize = 10;
/// Most filters, over all groups, in one search.
pub const MAX_FILTERS: usize = 25;
/// Largest `limit` a search accepts.
pub const MAX_SEARCH_LIMIT: u64 = 200;
/// Most results one query can page through: `after + limit` beyond this is a 400.
pub const MAX_SEARCH_RESULTS: usize = 10_000;

/// Body of `POST /crm/v3/objects/{type}/search`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SearchRequest {
    filter_groups: Vec<FilterGroup>,
    /// A bare filter list outside any group: HubSpot still accepts it (some connectors send it)
    /// and treats it as one group.
    filters: Vec<Filter>,
    sorts: Vec<SortSpec>,
    pub(crate) properties: Vec<String>,
    limit: Option<Value>,
    after: Option<Value>,
    query: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FilterGroup {
    filters: Vec<Filter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Filter {
    property_name: String,
    operator: String,
    value: Option<Value>,
    values: Option<Vec<Value>>,
    high_value: Option<Value>,
}

/// A sort: `{"propertyName": "createdate", "direction": "DESCENDING"}`, or just the name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SortSpec {
    Name(String),
    Full {
        #[serde(rename = "propertyName")]
        property_name: String,
        #[serde(default)]
        direction: Option<String>,
    },
}

/// What a filter or sort reads from a record.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Id,
    Created,
    Modified,
    Property(String),
}

/// A record as the search index shows it (possibly an older version than the stored one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) id: u64,
    pub(crate) properties: &'a BTreeMap<String, String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl View<'_> {
    fn number(&self, field: &Field) -> Option<f64> {
        // Ids and epoch ms fit an f64 exactly.
        match field {
            Field::Id => Some(self.id as f64),
            Field::Created => Some(self.created_at as f64),
            Field::Modified => Some(self.updated_at as f64),
            Field::Property(name) => self.properties.get(name).and_then(|v| as_number(v)),
        }
    }

    /// Whether the record has a value for the field (system fields always do).
    fn has(&self, field: &Field) -> bool {
        match field {
            Field::Property(name) => self.properties.get(name).is_some_and(|v| !v.is_empty()),
            _ => true,
        }
    }

    fn text(&self, field: &Field) -> Option<Cow<'_, str>> {
        match field {
            Field::Property(name) => self
                .properties
                .get(name)
                .filter(|v| !v.is_empty())
                .map(|v| Cow::Borrowed(v.as_str())),
            other => self.number(other).map(|n| Cow::Owned(n.to_string())),
        }
    }
}

/// A filter value, parsed once.
#[derive(Debug, Clone)]
struct Wanted {
    text: String,
    number: Option<f64>,
}

impl Wanted {
    fn new(value: Option<&Value>) -> Self {
        let text = value.and_then(scalar_text).unwrap_or_default();
        let number = as_number(&text);
        Self { text, number }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

#[derive(Debug, Clone)]
struct Compiled {
    field: Field,
    op: Op,
    value: Wanted,
    high: Wanted,
    values: Vec<Wanted>,
}

/// How results are ordered: one property, ascending or not; ties in a scrambled but fixed
/// order (HubSpot promises no order among equal sort values, so a client must not lean on one).
#[derive(Debug, Clone)]
struct Sort {
    field: Field,
    ascending: bool,
    numeric: bool,
}

/// A validated search: what to match, how to order, which page.
#[derive(Debug)]
pub(crate) struct Query {
    groups: Vec<Vec<Compiled>>,
    text: Option<String>,
    sort: Sort,
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

/// The name of the modified-date property of an object type.
pub(crate) fn modified_property(ty: &str) -> &'static str {
    if ty == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

fn field_of(
    ty: &str,
    defs: &BTreeMap<String, PropertyDefinition>,
    name: &str,
) -> Result<Field, ApiError> {
    // Each type answers to its own modified-date name only, so a client that mixes them up
    // fails loudly instead of silently matching nothing.
    if name == modified_property(ty) {
        return Ok(Field::Modified);
    }
    match name {
        "hs_object_id" => Ok(Field::Id),
        "createdate" => Ok(Field::Created),
        _ if defs.contains_key(name) => Ok(Field::Property(name.to_string())),
        _ => Err(ApiError::validation(format!(
            "There was a problem with the request: property \"{name}\" does not exist"
        ))),
    }
}

fn compile_filter(
    ty: &str,
    defs: &BTreeMap<String, PropertyDefinition>,
    filter: &Filter,
) -> Result<Compiled, ApiError> {
    let field = field_of(ty, defs, &filter.property_name)?;
    let (op, needs) = match filter.operator.as_str() {
        "HAS_PROPERTY" => (Op::HasProperty, ""),
        "NOT_HAS_PROPERTY" => (Op::NotHasProperty, ""),
        "IN" => (Op::In, "values"),
        "NOT_IN" => (Op::NotIn, "values"),
        "BETWEEN" => (Op::Between, "value and highValue"),
        "EQ" => (Op::Eq, "value"),
        "NEQ" => (Op::Neq, "value"),
        "GT" => (Op::Gt, "value"),
        "GTE" => (Op::Gte, "value"),
        "LT" => (Op::Lt, "value"),
        "LTE" => (Op::Lte, "value"),
        "CONTAINS_TOKEN" => (Op::ContainsToken, "value"),
        "NOT_CONTAINS_TOKEN" => (Op::NotContainsToken, "value"),
        other => {
            return Err(ApiError::validation(format!(
                "Unsupported filter operator {other}"
            )));
        }
    };
    let present = match needs {
        "values" => filter.values.is_some(),
        "value" => filter.value.is_some(),
        "value and highValue" => filter.value.is_some() && filter.high_value.is_some(),
        _ => true,
    };
    if !present {
        return Err(ApiError::validation(format!(
            "Filter {} on {} needs {needs}",
            filter.operator, filter.property_name
        )));
    }
    Ok(Compiled {
        field,
        op,
        value: Wanted::new(filter.value.as_ref()),
        high: Wanted::new(filter.high_value.as_ref()),
        values: filter
            .values
            .iter()
            .flatten()
            .map(|v| Wanted::new(Some(v)))
            .collect(),
    })
}

fn number_param(value: Option<&Value>, default: usize, what: &str) -> Result<usize, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(v) => scalar_text(v)
            .and_then(|s| {
                if s.is_empty() {
                    Some(default)
                } else {
                    s.trim().parse::<usize>().ok()
                }
            })
            .ok_or_else(|| ApiError::validation(format!("{what} must be a number"))),
    }
}

impl SearchRequest {
    /// Checks HubSpot's limits and compiles the request against a type's properties.
    pub(crate) fn compile(
        &self,
        ty: &str,
        defs: &BTreeMap<String, PropertyDefinition>,
    ) -> Result<Query, ApiError> {
        let mut groups: Vec<&[Filter]> = self
            .filter_groups
            .iter()
            .map(|g| g.filters.as_slice())
            .collect();
        if !self.filters.is_empty() {
            groups.push(&self.filters);
        }
        if groups.len() > MAX_FILTER_GROUPS {
            return Err(ApiError::validation(format!(
                "Too many filter groups: {} > {MAX_FILTER_GROUPS}",
                groups.len()
            )));
        }
        if let Some(big) = groups.iter().find(|g| g.len() > MAX_FILTERS_PER_GROUP) {
            return Err(ApiError::validation(format!(
                "Too many filters in one filter group: {} > {MAX_FILTERS_PER_GROUP}",
                big.len()
            )));
        }
        let count: usize = groups.iter().map(|g| g.len()).sum();
        if count > MAX_FILTERS {
            return Err(ApiError::validation(format!(
                "Too many filters: {count} > {MAX_FILTERS} across all filter groups"
            )));
        }
        let groups = groups
            .into_iter()
            .map(|g| g.iter().map(|f| compile_filter(ty, defs, f)).collect())
            .collect::<Result<Vec<Vec<Compiled>>, ApiError>>()?;
        let sort = match self.sorts.as_slice() {
            [] => Sort {
                field: Field::Id,
                ascending: true,
                numeric: true,
            },
            [one] => {
                let (name, direction) = match one {
                    SortSpec::Name(name) => (name.as_str(), None),
                    SortSpec::Full {
                        property_name,
                        direction,
                    } => (property_name.as_str(), direction.as_deref()),
                };
                let ascending = match direction.unwrap_or("ASCENDING") {
                    "ASCENDING" => true,
                    "DESCENDING" => false,
                    other => {
                        return Err(ApiError::validation(format!(
                            "Invalid sort direction {other}: use ASCENDING or DESCENDING"
                        )));
                    }
                };
                let field = field_of(ty, defs, name)?;
                let numeric = match &field {
                    Field::Property(p) => defs
                        .get(p)
                        .is_some_and(|d| matches!(d.kind.as_str(), "number" | "date" | "datetime")),
                    _ => true,
                };
                Sort {
                    field,
                    ascending,
                    numeric,
                }
            }
            more => {
                return Err(ApiError::validation(format!(
                    "Only one sort is supported per search, got {}",
                    more.len()
                )));
            }
        };
        let limit = number_param(self.limit.as_ref(), 10, "limit")?;
        if limit as u64 > MAX_SEARCH_LIMIT {
            return Err(ApiError::validation(format!(
                "limit must be at most {MAX_SEARCH_LIMIT}"
            )));
        }
        let offset = number_param(self.after.as_ref(), 0, "after")?;
        if offset + limit > MAX_SEARCH_RESULTS {
            return Err(ApiError::validation(format!(
                "Search results are limited to {MAX_SEARCH_RESULTS} per query: after ({offset}) + limit ({limit}) > {MAX_SEARCH_RESULTS}. Narrow the filters to page further."
            )));
        }
        Ok(Query {
            groups,
            text: self
                .query
                .as_deref()
                .map(str::to_lowercase)
                .filter(|q| !q.is_empty()),
            sort,
            limit,
            offset,
        })
    }
}

/// The sort position of a hit.
#[derive(Debug)]
pub(crate) struct Hit {
    key: SortKey,
    tie: u64,
    pub(crate) id: u64,
}

#[derive(Debug)]
enum SortKey {
    Number(f64),
    Text(String),
    Missing,
}

impl Query {
    /// The inclusive range of modified times (epoch ms) a match can have; `None` on a side the
    /// filters leave open. Lets the store read candidates from its modified-time index.
    pub(crate) fn modified_range(&self) -> (Option<i64>, Option<i64>) {
        if self.groups.is_empty() {
            return (None, None);
        }
        let mut low: Option<i64> = Some(i64::MAX);
        let mut high: Option<i64> = Some(i64::MIN);
        for group in &self.groups {
            let (mut lo, mut hi): (Option<i64>, Option<i64>) = (None, None);
            for f in group.iter().filter(|f| f.field == Field::Modified) {
                let (Some(v), h) = (f.value.number, f.high.number) else {
                    continue;
                };
                let tighten_lo =
                    |lo: &mut Option<i64>, x: i64| *lo = Some(lo.map_or(x, |l| l.max(x)));
                let tighten_hi =
                    |hi: &mut Option<i64>, x: i64| *hi = Some(hi.map_or(x, |c| c.min(x)));
                // Modified times are whole milliseconds, so a fractional bound rounds inward.
                match f.op {
                    Op::Gt => tighten_lo(&mut lo, v.floor() as i64 + 1),
                    Op::Gte => tighten_lo(&mut lo, v.ceil() as i64),
                    Op::Lt => tighten_hi(&mut hi, v.ceil() as i64 - 1),
                    Op::Lte => tighten_hi(&mut hi, v.floor() as i64),
                    Op::Eq => {
                        tighten_lo(&mut lo, v.ceil() as i64);
                        tighten_hi(&mut hi, v.floor() as i64);
                    }
                    Op::Between => {
                        if let Some(h) = h {
                            tighten_lo(&mut lo, v.ceil() as i64);
                            tighten_hi(&mut hi, h.floor() as i64);
                        }
                    }
                    _ => {}
                }
            }
            low = match (low, lo) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            high = match (high, hi) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        (low, high)
    }

    /// The hit for a record, if it matches.
    pub(crate) fn hit(&self, view: &View<'_>) -> Option<Hit> {
        let groups_match = self.groups.is_empty()
            || self
                .groups
                .iter()
                .any(|g| g.iter().all(|f| matches(f, view)));
        let text_match = self.text.as_ref().is_none_or(|q| {
            view.properties
                .values()
                .any(|v| v.to_lowercase().contains(q.as_str()))
        });
        if !(groups_match && text_match) {
            return None;
        }
        let key = if self.sort.numeric {
            view.number(&self.sort.field)
                .map_or(SortKey::Missing, SortKey::Number)
        } else {
            view.text(&self.sort.field)
                .map_or(SortKey::Missing, |t| SortKey::Text(t.into_owned()))
        };
        Some(Hit {
            key,
            tie: scramble(view.id),
            id: view.id,
        })
    }

    /// The hits of the requested page, in answer order: by the sort key (missing values last),
    /// then ties in a fixed scrambled order. Only the hits up to the page's end are sorted, so
    /// a page near the front of 100,000 matches costs a selection, not a full sort.
    pub(crate) fn page<'h>(&self, hits: &'h mut [Hit]) -> &'h [Hit] {
        let ascending = self.sort.ascending;
        let order = |a: &Hit, b: &Hit| {
            let by_key = match (&a.key, &b.key) {
                (SortKey::Missing, SortKey::Missing) => Ordering::Equal,
                (SortKey::Missing, _) => return Ordering::Greater,
                (_, SortKey::Missing) => return Ordering::Less,
                (SortKey::Number(x), SortKey::Number(y)) => x.total_cmp(y),
                (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
                (SortKey::Number(_), SortKey::Text(_)) => Ordering::Less,
                (SortKey::Text(_), SortKey::Number(_)) => Ordering::Greater,
            };
            let by_key = if ascending { by_key } else { by_key.reverse() };
            by_key.then(a.tie.cmp(&b.tie)).then(a.id.cmp(&b.id))
        };
        let end = (self.offset + self.limit).min(hits.len());
        if end < hits.len() && end > 0 {
            hits.select_nth_unstable_by(end - 1, order);
        }
        let front = &mut hits[..end];
        front.sort_unstable_by(order);
        &front[self.offset.min(end)..]
    }
}

/// A fixed permutation of ids: orders ties so that they are neither in id order nor in
/// insertion order.
fn scramble(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A value as a number for comparisons: plain numbers, and dates/datetimes as epoch ms.
pub(crate) fn as_number(s: &str) -> Option<f64> {
    let s = s.trim();
    s.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        // Epoch ms fit an f64 exactly.
        .or_else(|| dates::parse_iso(s).map(|ms| ms as f64))
}

fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

fn contains_token(stored: &str, wanted: &str) -> bool {
    let stored = stored.to_lowercase();
    let wanted = wanted.trim().to_lowercase();
    let mut candidates = vec![stored.as_str()];
    candidates.extend(stored.split(|c: char| c.is_whitespace() || c == ';' || c == ','));
    candidates.into_iter().filter(|t| !t.is_empty()).any(|t| {
        if wanted.contains('*') {
            wildcard_match(&wanted, t)
        } else {
            t == wanted
        }
    })
}

fn matches(filter: &Compiled, view: &View<'_>) -> bool {
    let field = &filter.field;
    // Only what the operator needs is computed: this runs once per candidate record, and a
    // search over a large portal has 100,000 of them.
    let number = match filter.op {
        Op::HasProperty | Op::NotHasProperty | Op::ContainsToken | Op::NotContainsToken => None,
        _ => view.number(field),
    };
    let equal = |w: &Wanted| match (number, w.number) {
        (Some(a), Some(b)) => a == b,
        _ => view
            .text(field)
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(w.text.trim())),
    };
    let compare = |w: &Wanted, f: fn(f64, f64) -> bool| matches!((number, w.number), (Some(a), Some(b)) if f(a, b));
    let token = || {
        view.text(field)
            .is_some_and(|s| contains_token(&s, &filter.value.text))
    };
    match filter.op {
        Op::HasProperty => view.has(field),
        Op::NotHasProperty => !view.has(field),
        Op::Eq => equal(&filter.value),
        Op::Neq => !equal(&filter.value),
        Op::In => filter.values.iter().any(equal),
        Op::NotIn => !filter.values.iter().any(equal),
        Op::Gt => compare(&filter.value, |a, b| a > b),
        Op::Gte => compare(&filter.value, |a, b| a >= b),
        Op::Lt => compare(&filter.value, |a, b| a < b),
        Op::Lte => compare(&filter.value, |a, b| a <= b),
        Op::Between => {
            compare(&filter.value, |a, lo| a >= lo) && compare(&filter.high, |a, hi| a <= hi)
        }
        Op::ContainsToken => token(),
        Op::NotContainsToken => !token(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_tokens() {
        assert!(wildcard_match("*@example.com", "ann@example.com"));
        assert!(!wildcard_match("*@example.com", "ann@example.org"));
        assert!(contains_token("Big Red Car", "red"));
        assert!(contains_token("a@b.co;c@d.co", "c@d.co"));
    }

    #[test]
    fn modified_ranges_union_groups_and_stay_open_when_one_group_is() {
        let defs = BTreeMap::new();
        let request = |groups: Value| -> Query {
            let body = serde_json::json!({ "filterGroups": groups });
            let req: SearchRequest = serde_json::from_value(body).expect("request");
            req.compile("deals", &defs).expect("valid")
        };
        let f = |op: &str, v: i64| serde_json::json!({ "propertyName": "hs_lastmodifieddate", "operator": op, "value": v });
        let q = request(
            serde_json::json!([{ "filters": [f("GT", 10), f("LTE", 20)] }, { "filters": [f("EQ", 40)] }]),
        );
        assert_eq!(q.modified_range(), (Some(11), Some(40)));
        let q = request(serde_json::json!([{ "filters": [f("GTE", 10)] }, { "filters": [] }]));
        assert_eq!(q.modified_range(), (None, None));
    }
}
