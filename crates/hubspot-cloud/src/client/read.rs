//! The read side the HubSpot Source uses: CRM search, the archived listing and batch read by
//! record id. Inherent on [`HubSpotClient`] because delivery never reads this way; calls are
//! still made through the portal's [`crate::delivery::Pacer`] by the caller.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::HubSpotClient;
use super::error::{ApiError, ErrorKind};

/// A CRM record as search, list and batch read return it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceRecord {
    /// HubSpot's record id.
    pub id: String,
    /// `createdAt` (ISO-8601).
    pub created_at: Option<String>,
    /// `updatedAt` (ISO-8601): the modified time search filters on.
    pub updated_at: Option<String>,
    /// The properties returned (values as HubSpot's text).
    pub properties: Map<String, Value>,
}

/// One page of records and the cursor of the next, if any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectPage {
    /// The records, in HubSpot's order.
    pub records: Vec<SourceRecord>,
    /// `paging.next.after`.
    pub after: Option<String>,
}

impl HubSpotClient {
    /// `POST /crm/v3/objects/{type}/search` with a body built by the caller.
    pub async fn search_objects(
        &self,
        object_type: &str,
        body: &Value,
    ) -> Result<ObjectPage, ApiError> {
        let (_, json) = self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object_type}/search"),
                Some(body),
            )
            .await?;
        Ok(page(&json))
    }

    /// `GET /crm/v3/objects/{type}?archived=true`: one page (100) of archived records.
    pub async fn list_archived(
        &self,
        object_type: &str,
        after: Option<&str>,
    ) -> Result<ObjectPage, ApiError> {
        let mut path = format!("/crm/v3/objects/{object_type}?archived=true&limit=100");
        if let Some(a) = after {
            path.push_str("&after=");
            path.push_str(
                &percent_encoding::utf8_percent_encode(a, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        Ok(page(&json))
    }

    /// `POST /crm/v3/objects/{type}/batch/read` by record id (≤ 100): the live records found.
    /// A merged id answers the record it was merged into, under that record's id.
    pub async fn read_by_ids(
        &self,
        object_type: &str,
        ids: &[String],
        properties: &[String],
    ) -> Result<Vec<SourceRecord>, ApiError> {
        let inputs: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let (_, json) = self
            .call(
                Method::POST,
                &format!("/crm/v3/objects/{object_type}/batch/read"),
                Some(&json!({ "inputs": inputs, "properties": properties })),
            )
            .await?;
        Ok(page(&json).records)
    }
}

fn page(json: &Value) -> ObjectPage {
    let records = json["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| {
                    Some(SourceRecord {
                        id: match &r["id"] {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            _ => return None,
                        },
                        created_at: r["createdAt"].as_str().map(str::to_owned),
                        updated_at: r["updatedAt"].as_str().map(str::to_owned),
                        properties: r["properties"].as_object().cloned().unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let after = match &json["paging"]["next"]["after"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    ObjectPage { records, after }
}

/// One link of a record as v4 reads it from the record's side.
#[derive(Clone, Debug, PartialEq)]
pub struct AssociationLink {
    /// The record the link was read from.
    pub from_id: String,
    /// The record at the other end.
    pub to_id: String,
    /// The link type as read from `from_id`'s side (279 contact→company, 280 the other way).
    pub type_id: i64,
    /// The type's label (`None` for the unlabeled default type).
    pub label: Option<String>,
}

/// One v4 batch read of associations: the links found, and the inputs HubSpot pages
/// (a record with more links than one answer holds) with the `after` to ask again with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssociationPage {
    /// Every link answered, each type of a pair its own link.
    pub links: Vec<AssociationLink>,
    /// `(from id, after)` of inputs that have more links.
    pub more: Vec<(String, String)>,
}

impl HubSpotClient {
    /// `POST /crm/v4/associations/{from}/{to}/batch/read` for `inputs` (`(id, after)`, ≤ 100
    /// by the caller's choice). Ids with no link answer a per-input error, not a failure: they
    /// are simply absent from the links.
    pub async fn read_associations(
        &self,
        from_type: &str,
        to_type: &str,
        inputs: &[(String, Option<String>)],
    ) -> Result<AssociationPage, ApiError> {
        let inputs: Vec<Value> = inputs
            .iter()
            .map(|(id, after)| match after {
                Some(a) => json!({ "id": id, "after": a }),
                None => json!({ "id": id }),
            })
            .collect();
        let (_, json) = self
            .call(
                Method::POST,
                &format!("/crm/v4/associations/{from_type}/{to_type}/batch/read"),
                Some(&json!({ "inputs": inputs })),
            )
            .await?;
        let mut page = AssociationPage::default();
        for result in json["results"].as_array().into_iter().flatten() {
            let Some(from_id) = id_text(&result["from"]["id"]) else {
                continue;
            };
            for to in result["to"].as_array().into_iter().flatten() {
                let Some(to_id) = id_text(&to["toObjectId"]) else {
                    continue;
                };
                for t in to["associationTypes"].as_array().into_iter().flatten() {
                    let Some(type_id) = t["typeId"].as_i64() else {
                        continue;
                    };
                    page.links.push(AssociationLink {
                        from_id: from_id.clone(),
                        to_id: to_id.clone(),
                        type_id,
                        label: t["label"].as_str().map(str::to_owned),
                    });
                }
            }
            if let Some(after) = id_text(&result["paging"]["next"]["after"]) {
                page.more.push((from_id, after));
            }
        }
        Ok(page)
    }
}

/// An id HubSpot answers as a string or a number.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A contact list as `POST /crm/v3/lists/search` answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactList {
    /// `listId`.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `processingType`: MANUAL, SNAPSHOT or DYNAMIC.
    pub processing_type: Option<String>,
    /// Live members (`additionalProperties.hs_list_size`).
    pub size: Option<i64>,
    /// `createdAt` (ISO-8601).
    pub created_at: Option<String>,
    /// `updatedAt` (ISO-8601): moves with the definition, not with memberships.
    pub updated_at: Option<String>,
}

/// One page of the lists search and the offset of the next, if any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListPage {
    /// The lists, in `listId` order.
    pub lists: Vec<ContactList>,
    /// The `offset` to ask for next, when `hasMore`.
    pub next_offset: Option<u64>,
}

/// One page of a list's memberships: `(contact id, added at)` and the next `after`, if any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MembershipPage {
    /// Members and when they joined (`membershipTimestamp`, ISO-8601).
    pub members: Vec<(String, Option<String>)>,
    /// `paging.next.after`.
    pub after: Option<String>,
}

/// Lists per search page (HubSpot's most).
const LIST_PAGE: u64 = 500;
/// Memberships per page (HubSpot's most).
const MEMBERSHIP_PAGE: u64 = 250;

impl HubSpotClient {
    /// `POST /crm/v3/lists/search` for contact lists (`objectTypeId` `0-1`), one page from
    /// `offset`. Deleted lists are not answered.
    pub async fn search_contact_lists(&self, offset: u64) -> Result<ListPage, ApiError> {
        let body = json!({ "objectTypeId": "0-1", "count": LIST_PAGE, "offset": offset });
        let (_, json) = self
            .call(Method::POST, "/crm/v3/lists/search", Some(&body))
            .await?;
        let lists = json["lists"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                Some(ContactList {
                    id: id_text(&l["listId"])?,
                    name: l["name"].as_str().map(str::to_owned),
                    processing_type: l["processingType"].as_str().map(str::to_owned),
                    size: id_text(&l["additionalProperties"]["hs_list_size"])
                        .and_then(|s| s.parse().ok()),
                    created_at: l["createdAt"].as_str().map(str::to_owned),
                    updated_at: l["updatedAt"].as_str().map(str::to_owned),
                })
            })
            .collect();
        let next_offset = if json["hasMore"].as_bool() == Some(true) {
            json["offset"].as_u64()
        } else {
            None
        };
        Ok(ListPage { lists, next_offset })
    }

    /// `GET /crm/v3/lists/{listId}/memberships`, one page from `after`.
    pub async fn list_memberships(
        &self,
        list_id: &str,
        after: Option<&str>,
    ) -> Result<MembershipPage, ApiError> {
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut path = format!(
            "/crm/v3/lists/{}/memberships?limit={MEMBERSHIP_PAGE}",
            encode(list_id)
        );
        if let Some(a) = after {
            path.push_str("&after=");
            path.push_str(&encode(a));
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let members = json["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some((
                    id_text(&m["recordId"])?,
                    m["membershipTimestamp"].as_str().map(str::to_owned),
                ))
            })
            .collect();
        Ok(MembershipPage {
            members,
            after: id_text(&json["paging"]["next"]["after"]),
        })
    }
}

/// An owner as `GET /crm/v3/owners` answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct CrmOwner {
    /// `id` (what `hubspot_owner_id` holds).
    pub id: String,
    /// `email`.
    pub email: Option<String>,
    /// `firstName`.
    pub first_name: Option<String>,
    /// `lastName`.
    pub last_name: Option<String>,
    /// `userId`.
    pub user_id: Option<String>,
    /// `createdAt` (ISO-8601).
    pub created_at: Option<String>,
    /// `updatedAt` (ISO-8601).
    pub updated_at: Option<String>,
    /// `archived`: the user behind the owner was deactivated.
    pub archived: bool,
}

impl HubSpotClient {
    /// `GET /crm/v3/owners` (live, or `archived` only), one page of 100 from `after`; answers
    /// the owners and the next `after`, if any.
    pub async fn list_owners(
        &self,
        archived: bool,
        after: Option<&str>,
    ) -> Result<(Vec<CrmOwner>, Option<String>), ApiError> {
        let mut path = format!("/crm/v3/owners?limit=100&archived={archived}");
        if let Some(a) = after {
            path.push_str("&after=");
            path.push_str(
                &percent_encoding::utf8_percent_encode(a, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let owners = json["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| {
                Some(CrmOwner {
                    id: id_text(&o["id"])?,
                    email: text(&o["email"]),
                    first_name: text(&o["firstName"]),
                    last_name: text(&o["lastName"]),
                    user_id: id_text(&o["userId"]),
                    created_at: text(&o["createdAt"]),
                    updated_at: text(&o["updatedAt"]),
                    archived: o["archived"].as_bool().unwrap_or(archived),
                })
            })
            .collect();
        Ok((owners, id_text(&json["paging"]["next"]["after"])))
    }
}

impl HubSpotClient {
    /// `GET /crm/v3/pipelines/{type}`: every pipeline of the type with its stages, as HubSpot
    /// answers them (`id`, `label`, `displayOrder`, `archived`, `createdAt`, `updatedAt`, and
    /// each stage's `metadata`). Not paged.
    pub async fn pipelines(&self, object_type: &str) -> Result<Vec<Value>, ApiError> {
        let (_, json) = self
            .call(
                Method::GET,
                &format!("/crm/v3/pipelines/{object_type}"),
                None,
            )
            .await?;
        Ok(json["results"].as_array().cloned().unwrap_or_default())
    }
}

/// A custom object type as `GET /crm/v3/schemas` answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectSchema {
    /// `name` (`cars`): the Source names the type's table after it.
    pub name: String,
    /// `objectTypeId` (`2-3000001`): what the Source puts in API paths.
    pub object_type_id: String,
    /// `primaryDisplayProperty`.
    pub primary_display_property: Option<String>,
    /// `requiredProperties`.
    pub required_properties: Vec<String>,
    /// `searchableProperties`.
    pub searchable_properties: Vec<String>,
}

/// One profile of a contact's identities as the v1 contacts API answers it: the contact's own,
/// or one of a contact merged into it.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentityProfile {
    /// The profile's `vid`: the contact it was made for.
    pub vid: String,
    /// The contact that answered it (`canonical-vid`): `vid` itself, or the record `vid` was
    /// merged into.
    pub canonical_vid: String,
    /// `saved-at-timestamp` (epoch ms).
    pub saved_at_ms: Option<i64>,
    /// Its identities.
    pub identities: Vec<Identity>,
}

/// One identity of a profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// `type`: `EMAIL`, `LEAD_GUID`, …
    pub kind: String,
    /// `value`.
    pub value: String,
    /// `timestamp` (epoch ms).
    pub timestamp_ms: Option<i64>,
    /// `is-primary`.
    pub is_primary: bool,
    /// `is-secondary`.
    pub is_secondary: bool,
}

/// A form as `GET /marketing/v3/forms` answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketingForm {
    /// `id` (the form's guid).
    pub id: String,
    /// `name`.
    pub name: Option<String>,
}

/// One submission of a form as the v1 form-integrations API answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct FormSubmission {
    /// `submittedAt` (epoch ms).
    pub submitted_at_ms: i64,
    /// `pageUrl`.
    pub page_url: Option<String>,
    /// `pageTitle`, when answered.
    pub page_title: Option<String>,
    /// `values` (`name`, `value`), in HubSpot's order; a multi-select repeats its name.
    pub values: Vec<(String, String)>,
}

/// Most vids one `GET /contacts/v1/contact/vids/batch/` takes.
pub const MAX_VIDS: usize = 100;
/// Forms per page of `GET /marketing/v3/forms`.
const FORM_PAGE: u64 = 50;
/// Submissions per page (HubSpot's most).
const SUBMISSION_PAGE: u64 = 50;

/// A query-string component, percent-encoded.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl HubSpotClient {
    /// `GET /crm/v3/schemas`: the portal's custom object types (archived ones left out).
    pub async fn schemas(&self) -> Result<Vec<ObjectSchema>, ApiError> {
        let (_, json) = self.call(Method::GET, "/crm/v3/schemas", None).await?;
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        };
        Ok(json["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["archived"].as_bool() != Some(true))
            .filter_map(|s| {
                Some(ObjectSchema {
                    name: s["name"].as_str()?.to_owned(),
                    object_type_id: s["objectTypeId"].as_str()?.to_owned(),
                    primary_display_property: s["primaryDisplayProperty"]
                        .as_str()
                        .map(str::to_owned),
                    required_properties: names(&s["requiredProperties"]),
                    searchable_properties: names(&s["searchableProperties"]),
                })
            })
            .collect())
    }

    /// `GET /contacts/v1/contact/vids/batch/?vid=…` (≤ [`MAX_VIDS`], no properties asked):
    /// every identity profile of each contact answered. A merged vid answers the contact it was
    /// merged into; archived and unknown vids answer nothing.
    pub async fn identity_profiles(
        &self,
        vids: &[String],
    ) -> Result<Vec<IdentityProfile>, ApiError> {
        let mut path = String::from("/contacts/v1/contact/vids/batch/?property=hs_object_id");
        for vid in vids {
            path.push_str("&vid=");
            path.push_str(&encode(vid));
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let mut out = Vec::new();
        for (key, contact) in json.as_object().into_iter().flatten() {
            let canonical = id_text(&contact["canonical-vid"]).unwrap_or_else(|| key.clone());
            for p in contact["identity-profiles"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let Some(vid) = id_text(&p["vid"]) else {
                    continue;
                };
                let identities = p["identities"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| {
                        Some(Identity {
                            kind: i["type"].as_str()?.to_owned(),
                            value: id_text(&i["value"])?,
                            timestamp_ms: i["timestamp"].as_i64(),
                            is_primary: i["is-primary"].as_bool().unwrap_or(false),
                            is_secondary: i["is-secondary"].as_bool().unwrap_or(false),
                        })
                    })
                    .collect();
                out.push(IdentityProfile {
                    vid,
                    canonical_vid: canonical.clone(),
                    saved_at_ms: p["saved-at-timestamp"].as_i64(),
                    identities,
                });
            }
        }
        Ok(out)
    }

    /// `GET /marketing/v3/forms`, one page from `after`: the forms and the next `after`.
    pub async fn list_forms(
        &self,
        after: Option<&str>,
    ) -> Result<(Vec<MarketingForm>, Option<String>), ApiError> {
        let mut path = format!("/marketing/v3/forms?limit={FORM_PAGE}");
        if let Some(a) = after {
            path.push_str("&after=");
            path.push_str(&encode(a));
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let forms = json["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some(MarketingForm {
                    id: id_text(&f["id"])?,
                    name: f["name"].as_str().map(str::to_owned),
                })
            })
            .collect();
        Ok((forms, id_text(&json["paging"]["next"]["after"])))
    }

    /// `GET /form-integrations/v1/submissions/forms/{formGuid}`, one page from `after`, newest
    /// first: the submissions and the next `after`.
    pub async fn form_submissions(
        &self,
        form_id: &str,
        after: Option<&str>,
    ) -> Result<(Vec<FormSubmission>, Option<String>), ApiError> {
        let mut path = format!(
            "/form-integrations/v1/submissions/forms/{}?limit={SUBMISSION_PAGE}",
            encode(form_id)
        );
        if let Some(a) = after {
            path.push_str("&after=");
            path.push_str(&encode(a));
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let submissions = json["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some(FormSubmission {
                    submitted_at_ms: s["submittedAt"].as_i64()?,
                    page_url: s["pageUrl"].as_str().map(str::to_owned),
                    page_title: s["pageTitle"].as_str().map(str::to_owned),
                    values: s["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| {
                            Some((v["name"].as_str()?.to_owned(), id_text(&v["value"])?))
                        })
                        .collect(),
                })
            })
            .collect();
        Ok((submissions, id_text(&json["paging"]["next"]["after"])))
    }
}

/// One page of a v1 listing (`/email/public/v1/...`): the items, and the `offset` to ask for
/// next while `hasMore`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct V1Page<T> {
    /// The items, newest first for events and the timeline.
    pub items: Vec<T>,
    /// The opaque `offset` of the next page, when `hasMore`. Only good for the same query,
    /// and short-lived: never a cursor to keep between runs.
    pub next_offset: Option<String>,
}

/// An email event as `GET /email/public/v1/events` answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailEvent {
    /// `id`.
    pub id: String,
    /// `type` (`SENT`, `DELIVERED`, `OPEN`, `CLICK`, `BOUNCE`, …).
    pub kind: Option<String>,
    /// `recipient`.
    pub recipient: Option<String>,
    /// `created`, epoch ms.
    pub created_ms: i64,
    /// `emailCampaignId`.
    pub campaign_id: Option<i64>,
    /// `appId`.
    pub app_id: Option<i64>,
    /// `appName`.
    pub app_name: Option<String>,
    /// `sentBy.id`: the `SENT` event this one follows.
    pub sent_by_id: Option<String>,
    /// Every other field: the type's own (`url` of a click, `category` of a bounce, `browser`
    /// of an open, …) and `sentBy`, `obsoletedBy`, `causedBy` as answered.
    pub fields: Map<String, Value>,
}

/// One change of the subscription timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionChange {
    /// `changeType`: `SUBSCRIPTION_STATUS`, `PORTAL_STATUS`, `PORTAL_BOUNCE`, `PORTAL_SPAM`.
    pub change_type: String,
    /// `change`: `SUBSCRIBED`, `UNSUBSCRIBED`, `BOUNCED`, `UNBOUNCED`, `REPORTED_SPAM`, …
    pub change: String,
    /// `source`.
    pub source: Option<String>,
    /// `subscriptionId` of a `SUBSCRIPTION_STATUS` change.
    pub subscription_id: Option<i64>,
    /// `causedByEvent.id`.
    pub caused_by_event_id: Option<String>,
    /// When, epoch ms: the change's `timestamp`, else its cause's `created`, else its item's.
    pub timestamp_ms: i64,
}

/// A timeline item: one recipient's changes at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineItem {
    /// `recipient`.
    pub recipient: String,
    /// `timestamp`, epoch ms.
    pub timestamp_ms: i64,
    /// `changes`.
    pub changes: Vec<SubscriptionChange>,
    /// `snapshot` (asked for with `includeSnapshots`): the recipient's state with this item
    /// applied, as `GET /email/public/v1/subscriptions/{email}` would have answered then.
    pub snapshot: Option<Value>,
}

/// An email campaign as `GET /email/public/v1/campaigns/{id}` answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailCampaign {
    /// `id`.
    pub id: i64,
    /// `name`.
    pub name: Option<String>,
    /// `subject`.
    pub subject: Option<String>,
    /// `type`.
    pub kind: Option<String>,
    /// `appId`.
    pub app_id: Option<i64>,
    /// `appName`.
    pub app_name: Option<String>,
    /// `contentId`.
    pub content_id: Option<i64>,
    /// `counters`: event counts by type, as answered.
    pub counters: Value,
    /// `lastUpdatedTime`, epoch ms.
    pub last_updated_ms: Option<i64>,
}

/// Events and timeline items per page (HubSpot's most).
const V1_PAGE: u64 = 1000;

/// Fields of an event that have their own column in `email_events` (or none: `portalId`).
const EVENT_COLUMNS: &[&str] = &[
    "id",
    "type",
    "recipient",
    "created",
    "emailCampaignId",
    "appId",
    "appName",
    "portalId",
];

/// A number HubSpot answers as a number or as text.
fn int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// `startTimestamp`, `endTimestamp` and `offset` as a v1 query's tail.
fn window_query(start_ms: i64, end_ms: i64, offset: Option<&str>) -> String {
    let mut q = format!("startTimestamp={start_ms}&endTimestamp={end_ms}&limit={V1_PAGE}");
    if let Some(o) = offset {
        q.push_str("&offset=");
        q.push_str(
            &percent_encoding::utf8_percent_encode(o, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
    }
    q
}

/// The next offset of a v1 answer, when `hasMore`.
fn next_offset(json: &Value) -> Option<String> {
    if json["hasMore"].as_bool() == Some(true) {
        id_text(&json["offset"])
    } else {
        None
    }
}

impl HubSpotClient {
    /// `GET /email/public/v1/events` created within `[start_ms, end_ms]` (inclusive), newest
    /// first, one page of 1,000 from `offset`.
    pub async fn email_events(
        &self,
        start_ms: i64,
        end_ms: i64,
        offset: Option<&str>,
    ) -> Result<V1Page<EmailEvent>, ApiError> {
        let path = format!(
            "/email/public/v1/events?{}",
            window_query(start_ms, end_ms, offset)
        );
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let items = json["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let fields = e
                    .as_object()?
                    .iter()
                    .filter(|(k, _)| !EVENT_COLUMNS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Some(EmailEvent {
                    id: id_text(&e["id"])?,
                    kind: e["type"].as_str().map(str::to_owned),
                    recipient: e["recipient"].as_str().map(str::to_owned),
                    created_ms: int(&e["created"])?,
                    campaign_id: int(&e["emailCampaignId"]),
                    app_id: int(&e["appId"]),
                    app_name: e["appName"].as_str().map(str::to_owned),
                    sent_by_id: id_text(&e["sentBy"]["id"]),
                    fields,
                })
            })
            .collect();
        Ok(V1Page {
            items,
            next_offset: next_offset(&json),
        })
    }

    /// `GET /email/public/v1/subscriptions/timeline` items within `[start_ms, end_ms]`
    /// (inclusive), newest first, one page of 1,000 from `offset`; with each item's `snapshot`
    /// when `snapshots`.
    pub async fn subscription_timeline(
        &self,
        start_ms: i64,
        end_ms: i64,
        offset: Option<&str>,
        snapshots: bool,
    ) -> Result<V1Page<TimelineItem>, ApiError> {
        let mut path = format!(
            "/email/public/v1/subscriptions/timeline?{}",
            window_query(start_ms, end_ms, offset)
        );
        if snapshots {
            path.push_str("&includeSnapshots=true");
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let items = json["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let timestamp_ms = int(&item["timestamp"])?;
                let changes = item["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        Some(SubscriptionChange {
                            change_type: c["changeType"].as_str()?.to_owned(),
                            change: c["change"].as_str()?.to_owned(),
                            source: c["source"].as_str().map(str::to_owned),
                            subscription_id: int(&c["subscriptionId"]),
                            caused_by_event_id: id_text(&c["causedByEvent"]["id"]),
                            timestamp_ms: int(&c["timestamp"])
                                .or_else(|| int(&c["causedByEvent"]["created"]))
                                .unwrap_or(timestamp_ms),
                        })
                    })
                    .collect();
                Some(TimelineItem {
                    recipient: item["recipient"].as_str()?.to_owned(),
                    timestamp_ms,
                    changes,
                    snapshot: item.get("snapshot").filter(|s| s.is_object()).cloned(),
                })
            })
            .collect();
        Ok(V1Page {
            items,
            next_offset: next_offset(&json),
        })
    }

    /// `GET /email/public/v1/campaigns/by-id`: one page of 1,000 campaigns from `offset`, each
    /// as `(id, lastUpdatedTime)`.
    pub async fn email_campaign_ids(
        &self,
        offset: Option<&str>,
    ) -> Result<V1Page<(i64, Option<i64>)>, ApiError> {
        let mut path = format!("/email/public/v1/campaigns/by-id?limit={V1_PAGE}");
        if let Some(o) = offset {
            path.push_str("&offset=");
            path.push_str(
                &percent_encoding::utf8_percent_encode(o, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        let (_, json) = self.call(Method::GET, &path, None).await?;
        let items = json["campaigns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| Some((int(&c["id"])?, int(&c["lastUpdatedTime"]))))
            .collect();
        Ok(V1Page {
            items,
            next_offset: next_offset(&json),
        })
    }

    /// `GET /email/public/v1/campaigns/{id}` with its counters; `None` when HubSpot no longer
    /// has it (404).
    pub async fn email_campaign(&self, id: i64) -> Result<Option<EmailCampaign>, ApiError> {
        let c = match self
            .call(
                Method::GET,
                &format!("/email/public/v1/campaigns/{id}"),
                None,
            )
            .await
        {
            Ok((_, json)) => json,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(EmailCampaign {
            id: int(&c["id"]).unwrap_or(id),
            name: c["name"].as_str().map(str::to_owned),
            subject: c["subject"].as_str().map(str::to_owned),
            kind: c["type"].as_str().map(str::to_owned),
            app_id: int(&c["appId"]),
            app_name: c["appName"].as_str().map(str::to_owned),
            content_id: int(&c["contentId"]),
            counters: c["counters"].clone(),
            last_updated_ms: int(&c["lastUpdatedTime"]),
        }))
    }
}
