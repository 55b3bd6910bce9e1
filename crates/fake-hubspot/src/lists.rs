//! Lists (`/crm/v3/lists`): list definitions and their memberships, with HubSpot's paging and
//! the rule that only MANUAL and SNAPSHOT lists take membership edits through the API.
//!
//! Architecture invariant: lists hold record ids only; whether a member is live (not archived or
//! merged away) is asked of the store at read time, so archiving a contact drops it from every
//! list it is in and restoring it brings it back.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dates;
use crate::errors::ApiError;

/// A list: a MANUAL, SNAPSHOT or DYNAMIC set of records of one object type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList {
    /// HubSpot's `listId` (the ILS id).
    pub id: u64,
    /// Name, unique among lists.
    pub name: String,
    /// `MANUAL`, `SNAPSHOT` or `DYNAMIC`.
    pub processing_type: String,
    /// The members' object type (canonical name, `contacts` for contact lists).
    pub object_type: String,
    /// Creation, epoch ms.
    pub created_at: i64,
    /// Last change to the definition (name, filters), epoch ms; membership changes leave it.
    pub updated_at: i64,
    /// When the list was deleted, epoch ms.
    pub deleted_at: Option<i64>,
    /// Member record id → when it joined, epoch ms.
    pub members: BTreeMap<u64, i64>,
    /// When a record last joined, epoch ms.
    pub last_added_at: Option<i64>,
    /// When a record last left, epoch ms.
    pub last_removed_at: Option<i64>,
}

/// The processing types a list may have.
pub const PROCESSING_TYPES: [&str; 3] = ["MANUAL", "SNAPSHOT", "DYNAMIC"];

impl ObjectList {
    /// Whether the API may edit memberships (HubSpot evaluates DYNAMIC lists itself).
    fn editable(&self) -> bool {
        self.processing_type != "DYNAMIC"
    }

    /// The list in the shape of `POST /crm/v3/lists/search` (the size among the additional
    /// properties, with the `requested` ones) or, `with_size`, of `GET /crm/v3/lists/{id}`.
    /// `size` counts the live members.
    pub(crate) fn json(&self, size: usize, with_size: bool, requested: &[String]) -> Value {
        let mut extra = serde_json::Map::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                extra.insert(name.into(), json!(value));
            }
        };
        put("hs_list_size", Some(size.to_string()));
        put(
            "hs_last_record_added_at",
            self.last_added_at.map(|t| t.to_string()),
        );
        put(
            "hs_last_record_removed_at",
            self.last_removed_at.map(|t| t.to_string()),
        );
        put("hs_list_reference_count", Some("0".into()));
        for name in requested {
            match name.as_str() {
                "hs_lastmodifieddate" => put(name, Some(self.updated_at.to_string())),
                "hs_createdate" => put(name, Some(self.created_at.to_string())),
                "hs_object_type_id" => put(name, Some(type_id(&self.object_type).into())),
                _ => {}
            }
        }
        let created = dates::iso_from_ms(self.created_at);
        let updated = dates::iso_from_ms(self.updated_at);
        let mut list = json!({
            "listId": self.id.to_string(),
            "listVersion": 1,
            "name": self.name,
            "objectTypeId": type_id(&self.object_type),
            "processingStatus": "COMPLETE",
            "processingType": self.processing_type,
            "createdAt": created,
            "updatedAt": updated,
            "filtersUpdatedAt": created,
            "createdById": "1",
            "updatedById": "1",
        });
        if with_size {
            list["size"] = json!(size);
        } else {
            list["additionalProperties"] = Value::Object(extra);
        }
        if let Some(at) = self.deleted_at {
            list["deletedAt"] = json!(dates::iso_from_ms(at));
        }
        list
    }
}

fn type_id(ty: &str) -> &str {
    match ty {
        "contacts" => "0-1",
        "companies" => "0-2",
        "deals" => "0-3",
        "tickets" => "0-5",
        other => other,
    }
}

/// What an add or remove did, in HubSpot's answer shape.
#[derive(Debug, Default)]
pub(crate) struct MembershipChange {
    pub(crate) added: Vec<u64>,
    pub(crate) removed: Vec<u64>,
    pub(crate) missing: Vec<String>,
}

impl MembershipChange {
    pub(crate) fn json(&self) -> Value {
        let ids = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>();
        // `recordsIdsAdded` is HubSpot's own spelling in its schema.
        json!({
            "recordsIdsAdded": ids(&self.added),
            "recordIdsRemoved": ids(&self.removed),
            "recordIdsMissing": self.missing,
        })
    }
}

/// Every list of the portal.
#[derive(Debug)]
pub(crate) struct Lists {
    lists: BTreeMap<u64, ObjectList>,
    next_id: u64,
}

impl Default for Lists {
    fn default() -> Self {
        Self {
            lists: BTreeMap::new(),
            next_id: 1,
        }
    }
}

fn list_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("List {id} does not exist"))
}

impl Lists {
    /// Creates a list; 400 for an unknown processing type, 409 for a name in use.
    pub(crate) fn create(
        &mut self,
        name: &str,
        processing_type: &str,
        object_type: &str,
        at_ms: i64,
    ) -> Result<u64, ApiError> {
        if !PROCESSING_TYPES.contains(&processing_type) {
            return Err(ApiError::validation(format!(
                "processingType must be one of {}",
                PROCESSING_TYPES.join(", ")
            )));
        }
        if self
            .lists
            .values()
            .any(|l| l.deleted_at.is_none() && l.name == name)
        {
            return Err(ApiError::conflict(format!(
                "A list named {name} already exists"
            )));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.lists.insert(
            id,
            ObjectList {
                id,
                name: name.to_string(),
                processing_type: processing_type.to_string(),
                object_type: object_type.to_string(),
                created_at: at_ms,
                updated_at: at_ms,
                deleted_at: None,
                members: BTreeMap::new(),
                last_added_at: None,
                last_removed_at: None,
            },
        );
        Ok(id)
    }

    /// A list that is not deleted, by its id as a path gives it.
    pub(crate) fn get(&self, id: &str) -> Result<&ObjectList, ApiError> {
        id.trim()
            .parse::<u64>()
            .ok()
            .and_then(|id| self.lists.get(&id))
            .filter(|l| l.deleted_at.is_none())
            .ok_or_else(|| list_not_found(id))
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut ObjectList, ApiError> {
        id.trim()
            .parse::<u64>()
            .ok()
            .and_then(|id| self.lists.get_mut(&id))
            .filter(|l| l.deleted_at.is_none())
            .ok_or_else(|| list_not_found(id))
    }

    /// Lists that are not deleted, in id order.
    pub(crate) fn live(&self) -> impl Iterator<Item = &ObjectList> {
        self.lists.values().filter(|l| l.deleted_at.is_none())
    }

    /// Deletes a list (HubSpot keeps it restorable; the fake only hides it).
    pub(crate) fn delete(&mut self, id: &str, at_ms: i64) -> Result<(), ApiError> {
        self.get_mut(id)?.deleted_at = Some(at_ms);
        Ok(())
    }

    /// Adds records (`exists` says which ids are live records of the list's type). With
    /// `api`, DYNAMIC lists refuse, as HubSpot's API does.
    pub(crate) fn add(
        &mut self,
        id: &str,
        records: &[String],
        exists: impl Fn(&str, &str) -> bool,
        at_ms: i64,
        api: bool,
    ) -> Result<MembershipChange, ApiError> {
        let list = self.get_mut(id)?;
        check_editable(list, api)?;
        let mut change = MembershipChange::default();
        for record in records {
            let rid = record.trim().parse::<u64>().ok();
            match rid.filter(|_| exists(&list.object_type, record)) {
                None => change.missing.push(record.clone()),
                Some(rid) => {
                    // Already a member: ignored, the original join time stands.
                    if let Entry::Vacant(slot) = list.members.entry(rid) {
                        slot.insert(at_ms);
                        change.added.push(rid);
                    }
                }
            }
        }
        if !change.added.is_empty() {
            list.last_added_at = Some(at_ms);
        }
        Ok(change)
    }

    /// Removes records; ids that are not members are reported missing.
    pub(crate) fn remove(
        &mut self,
        id: &str,
        records: &[String],
        at_ms: i64,
        api: bool,
    ) -> Result<MembershipChange, ApiError> {
        let list = self.get_mut(id)?;
        check_editable(list, api)?;
        let mut change = MembershipChange::default();
        for record in records {
            let rid = record.trim().parse::<u64>().ok();
            match rid.filter(|rid| list.members.remove(rid).is_some()) {
                Some(rid) => change.removed.push(rid),
                None => change.missing.push(record.clone()),
            }
        }
        if !change.removed.is_empty() {
            list.last_removed_at = Some(at_ms);
        }
        Ok(change)
    }

    /// After a merge of `old` records of `ty` into `new`: `new` takes their memberships (the
    /// earliest join time), the old ids leave.
    pub(crate) fn merged(&mut self, ty: &str, old: &[u64], new: u64) {
        for list in self.lists.values_mut().filter(|l| l.object_type == ty) {
            let joined = old.iter().filter_map(|rid| list.members.remove(rid)).min();
            if let Some(at) = joined {
                let slot = list.members.entry(new).or_insert(at);
                *slot = (*slot).min(at);
            }
        }
    }

    /// Every list, deleted ones included.
    pub(crate) fn all(&self) -> Vec<ObjectList> {
        self.lists.values().cloned().collect()
    }
}

fn check_editable(list: &ObjectList, api: bool) -> Result<(), ApiError> {
    if api && !list.editable() {
        return Err(ApiError::validation(format!(
            "List {} is DYNAMIC: only MANUAL and SNAPSHOT lists accept membership changes",
            list.id
        )));
    }
    Ok(())
}
