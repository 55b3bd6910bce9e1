//! Associations between records: typed (HubSpot's `associationTypeId`, category, label), read
//! from either side, and kept apart from the records so that adding or removing one never
//! touches a record's modified time, as on HubSpot.
//!
//! Architecture invariant: this module stores links between (type, id) pairs and knows
//! HubSpot's default type ids; whether the records exist or are live is the store's business.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A stored association between two records, as created (one entry per link type).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Association {
    /// Object type of the `from` side (canonical name).
    pub from_type: String,
    /// Record id of the `from` side.
    pub from_id: String,
    /// Object type of the `to` side.
    pub to_type: String,
    /// Record id of the `to` side.
    pub to_id: String,
    /// HubSpot's `typeId` read from the `from` side (279: contact to company, unlabeled).
    pub type_id: u32,
    /// The `typeId` of the same link read from the `to` side (280).
    pub inverse_type_id: u32,
    /// `HUBSPOT_DEFINED` or `USER_DEFINED`.
    pub category: String,
    /// The label; `None` for the unlabeled default type.
    pub label: Option<String>,
}

/// One type of a link as read from one side: what v4 answers list in `associationTypes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkType {
    pub(crate) type_id: u32,
    pub(crate) category: String,
    pub(crate) label: Option<String>,
}

/// HubSpot's default (unlabeled) type ids for a pair of types, read from the `from` side and
/// from the `to` side. Pairs HubSpot does not define (custom objects) get 1 both ways.
pub(crate) fn default_type(from: &str, to: &str) -> (u32, u32) {
    match (from, to) {
        ("contacts", "companies") => (279, 280),
        ("companies", "contacts") => (280, 279),
        ("deals", "contacts") => (3, 4),
        ("contacts", "deals") => (4, 3),
        ("contacts", "tickets") => (15, 16),
        ("tickets", "contacts") => (16, 15),
        ("tickets", "companies") => (339, 340),
        ("companies", "tickets") => (340, 339),
        ("deals", "companies") => (341, 342),
        ("companies", "deals") => (342, 341),
        ("deals", "tickets") => (27, 28),
        ("tickets", "deals") => (28, 27),
        _ => (1, 1),
    }
}

/// The category, label and inverse of a link, stored once under its `from` side.
#[derive(Clone, Debug)]
struct Link {
    inverse_type_id: u32,
    category: String,
    label: Option<String>,
}

/// `(type, id)` of one side.
type Side = (String, u64);

/// Every link, indexed from both sides.
#[derive(Debug, Default)]
pub(crate) struct Associations {
    /// `(from type, from id)` → `(to type, to id, type id)` → link.
    from: BTreeMap<Side, BTreeMap<(String, u64, u32), Link>>,
    /// `(to type, to id)` → `(from type, from id, type id)`: the same links, found from the
    /// other side.
    to: BTreeMap<Side, BTreeSet<(String, u64, u32)>>,
}

impl Associations {
    /// Stores a link (one type); returns whether it is new.
    pub(crate) fn add(&mut self, association: &Association) -> bool {
        let (Ok(from_id), Ok(to_id)) = (
            association.from_id.trim().parse::<u64>(),
            association.to_id.trim().parse::<u64>(),
        ) else {
            return false;
        };
        let key = (association.to_type.clone(), to_id, association.type_id);
        let links = self
            .from
            .entry((association.from_type.clone(), from_id))
            .or_default();
        let new = !links.contains_key(&key);
        links.insert(
            key,
            Link {
                inverse_type_id: association.inverse_type_id,
                category: association.category.clone(),
                label: association.label.clone(),
            },
        );
        self.to
            .entry((association.to_type.clone(), to_id))
            .or_default()
            .insert((association.from_type.clone(), from_id, association.type_id));
        new
    }

    /// Removes every link between two records, whichever side it was stored from; returns how
    /// many went.
    pub(crate) fn remove_pair(&mut self, a: &Side, b: &Side) -> usize {
        self.remove_where(a, b, |_| true) + self.remove_where(b, a, |_| true)
    }

    /// Removes the links stored from `from` to `to` whose type id (read from `from`) passes
    /// `remove`.
    fn remove_where(&mut self, from: &Side, to: &Side, remove: impl Fn(u32) -> bool) -> usize {
        let Some(links) = self.from.get_mut(from) else {
            return 0;
        };
        let doomed: Vec<(String, u64, u32)> = links
            .keys()
            .filter(|(ty, id, type_id)| ty == &to.0 && *id == to.1 && remove(*type_id))
            .cloned()
            .collect();
        for key in &doomed {
            links.remove(key);
            if let Some(back) = self.to.get_mut(to) {
                back.remove(&(from.0.clone(), from.1, key.2));
                if back.is_empty() {
                    self.to.remove(to);
                }
            }
        }
        if links.is_empty() {
            self.from.remove(from);
        }
        doomed.len()
    }

    /// Removes one type of link between two records, given as read from `a`; returns whether
    /// one went.
    pub(crate) fn remove_type(&mut self, a: &Side, b: &Side, type_id: u32) -> bool {
        // Stored from `a` with this id, or stored from `b` with it as the inverse.
        let from_a = self.remove_where(a, b, |t| t == type_id);
        let inverse: Vec<u32> = self
            .from
            .get(b)
            .map(|links| {
                links
                    .iter()
                    .filter(|((ty, id, _), link)| {
                        ty == &a.0 && *id == a.1 && link.inverse_type_id == type_id
                    })
                    .map(|((_, _, t), _)| *t)
                    .collect()
            })
            .unwrap_or_default();
        let from_b = self.remove_where(b, a, |t| inverse.contains(&t));
        from_a + from_b > 0
    }

    /// The records of `to_type` linked to `side`, in id order, each with its link types as
    /// read from `side`.
    pub(crate) fn of(&self, side: &Side, to_type: &str) -> BTreeMap<u64, Vec<LinkType>> {
        let mut found: BTreeMap<u64, Vec<LinkType>> = BTreeMap::new();
        let mut add = |id: u64, link: LinkType| {
            let types = found.entry(id).or_default();
            if !types.iter().any(|t| t.type_id == link.type_id) {
                types.push(link);
            }
        };
        if let Some(links) = self.from.get(side) {
            for ((ty, id, type_id), link) in links {
                if ty == to_type {
                    add(
                        *id,
                        LinkType {
                            type_id: *type_id,
                            category: link.category.clone(),
                            label: link.label.clone(),
                        },
                    );
                }
            }
        }
        if let Some(back) = self.to.get(side) {
            for (ty, id, type_id) in back.iter().filter(|(ty, _, _)| ty == to_type) {
                let link = self
                    .from
                    .get(&(ty.clone(), *id))
                    .and_then(|links| links.get(&(side.0.clone(), side.1, *type_id)));
                if let Some(link) = link {
                    add(
                        *id,
                        LinkType {
                            type_id: link.inverse_type_id,
                            category: link.category.clone(),
                            label: link.label.clone(),
                        },
                    );
                }
            }
        }
        for types in found.values_mut() {
            types.sort_by_key(|t| t.type_id);
        }
        found
    }

    /// Moves every link of `old` to `new` (a merge): links between the two are dropped, and a
    /// link `new` already has is kept once.
    pub(crate) fn repoint(&mut self, ty: &str, old: u64, new: u64) {
        let old_side = (ty.to_string(), old);
        let outgoing = self.from.remove(&old_side).unwrap_or_default();
        for (to_type, to_id, type_id) in outgoing.keys() {
            if let Some(back) = self.to.get_mut(&(to_type.clone(), *to_id)) {
                back.remove(&(ty.to_string(), old, *type_id));
            }
        }
        let incoming = self.to.remove(&old_side).unwrap_or_default();
        let mut moved = Vec::new();
        for (from_type, from_id, type_id) in incoming {
            let side = (from_type.clone(), from_id);
            if let Some(link) = self
                .from
                .get_mut(&side)
                .and_then(|links| links.remove(&(ty.to_string(), old, type_id)))
            {
                moved.push((side, type_id, link));
            }
        }
        for ((to_type, to_id, type_id), link) in outgoing {
            if to_type == ty && (to_id == old || to_id == new) {
                continue;
            }
            self.add(&association(
                (ty.to_string(), new),
                (to_type, to_id),
                type_id,
                link,
            ));
        }
        for (side, type_id, link) in moved {
            if side.0 == ty && (side.1 == old || side.1 == new) {
                continue;
            }
            self.add(&association(side, (ty.to_string(), new), type_id, link));
        }
        self.from.retain(|_, links| !links.is_empty());
        self.to.retain(|_, back| !back.is_empty());
    }

    /// Every link, as created.
    pub(crate) fn all(&self) -> Vec<Association> {
        let mut all = Vec::new();
        for ((from_type, from_id), links) in &self.from {
            for ((to_type, to_id, type_id), link) in links {
                all.push(association(
                    (from_type.clone(), *from_id),
                    (to_type.clone(), *to_id),
                    *type_id,
                    link.clone(),
                ));
            }
        }
        all
    }
}

fn association(from: Side, to: Side, type_id: u32, link: Link) -> Association {
    Association {
        from_type: from.0,
        from_id: from.1.to_string(),
        to_type: to.0,
        to_id: to.1.to_string(),
        type_id,
        inverse_type_id: link.inverse_type_id,
        category: link.category,
        label: link.label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(from: (&str, u64), to: (&str, u64), type_id: u32, inverse: u32) -> Association {
        Association {
            from_type: from.0.into(),
            from_id: from.1.to_string(),
            to_type: to.0.into(),
            to_id: to.1.to_string(),
            type_id,
            inverse_type_id: inverse,
            category: "HUBSPOT_DEFINED".into(),
            label: None,
        }
    }

    #[test]
    fn links_read_from_both_sides_and_follow_a_merge() {
        let mut all = Associations::default();
        assert!(all.add(&link(("contacts", 1), ("companies", 10), 279, 280)));
        assert!(!all.add(&link(("contacts", 1), ("companies", 10), 279, 280)));
        all.add(&link(("companies", 10), ("contacts", 2), 280, 279));
        let company = ("companies".to_string(), 10);
        let ids: Vec<u64> = all.of(&company, "contacts").into_keys().collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(all.of(&company, "contacts")[&1][0].type_id, 280);
        // Contacts 1 and 2 merge into 3: one link to the company remains.
        all.repoint("contacts", 1, 3);
        all.repoint("contacts", 2, 3);
        let linked = all.of(&company, "contacts");
        assert_eq!(linked.keys().copied().collect::<Vec<_>>(), [3]);
        assert_eq!(linked[&3].len(), 1);
        let contact = ("contacts".to_string(), 3);
        assert_eq!(all.of(&contact, "companies")[&10][0].type_id, 279);
        assert_eq!(
            all.remove_pair(&contact, &company),
            2,
            "one stored from each side"
        );
        assert!(all.all().is_empty());
    }
}
