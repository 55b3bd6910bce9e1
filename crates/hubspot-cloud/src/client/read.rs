//! The read side the HubSpot Source uses: CRM search, the archived listing and batch read by
//! record id. Inherent on [`HubSpotClient`] because delivery never reads this way; calls are
//! still made through the portal's [`crate::delivery::Pacer`] by the caller.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::HubSpotClient;
use super::error::ApiError;

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
    /// `POST /crm/v4/associations/{from}/{to}/batch/read` for `inputs` (`(id, after)`, ≤
    /// [`super::MAX_ASSOCIATION_READ_INPUTS`]). Ids with no link answer a per-input error, not a failure: they
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
