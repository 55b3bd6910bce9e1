//! Associations between records: typed (HubSpot's `associationTypeId`, category, label), read
//! from either side, and kept apart from the records so that adding or removing one never
//! touches a record's modified time, as on HubSpot.
//!
//! Architecture invariant: this module stores links between (type, id) pairs and knows
//! HubSpot's default type ids; whether the records exist or are live is the store's business.

use std::collections::{BTreeMap, HashMap};

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

/// A link as stored under its `from` side. Type names and categories are interned (`u16`
/// indexes into [`Associations::names`]): a portal of 100,000 contacts has hundreds of
/// thousands of links, and strings per link would dwarf the records themselves.
#[derive(Clone, Debug)]
struct Edge {
    to_type: u16,
    to_id: u64,
    type_id: u32,
    inverse_type_id: u32,
    category: u16,
    label: Option<Box<str>>,
}

/// `(type, id)` of one side.
type Side = (String, u64);

/// `(interned type, id)` of one side.
type Key = (u16, u64);

/// Every link, indexed from both sides.
#[derive(Debug, Default)]
pub(crate) struct Associations {
    /// Interned type names and categories.
    names: Vec<String>,
    /// Links by the side they were created from.
    from: HashMap<Key, Vec<Edge>>,
    /// `(from type, from id, type id)` of the links pointing at a side: the same links, found
    /// from the other side.
    to: HashMap<Key, Vec<(u16, u64, u32)>>,
}

impl Associations {
    fn name(&self, name: &str) -> Option<u16> {
        self.names
            .iter()
            .position(|n| n == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    fn intern(&mut self, name: &str) -> u16 {
        self.name(name).unwrap_or_else(|| {
            self.names.push(name.to_string());
            u16::try_from(self.names.len() - 1).unwrap_or(u16::MAX)
        })
    }

    fn key(&self, side: &Side) -> Option<Key> {
        Some((self.name(&side.0)?, side.1))
    }

    /// Stores a link (one type); returns whether it is new (an existing one takes the new
    /// label and category).
    pub(crate) fn add(&mut self, association: &Association) -> bool {
        let (Ok(from_id), Ok(to_id)) = (
            association.from_id.trim().parse::<u64>(),
            association.to_id.trim().parse::<u64>(),
        ) else {
            return false;
        };
        let from_type = self.intern(&association.from_type);
        let to_type = self.intern(&association.to_type);
        let category = self.intern(&association.category);
        let edge = Edge {
            to_type,
            to_id,
            type_id: association.type_id,
            inverse_type_id: association.inverse_type_id,
            category,
            label: association.label.as_deref().map(Box::from),
        };
        let edges = self.from.entry((from_type, from_id)).or_default();
        let existing = edges
            .iter_mut()
            .find(|e| e.to_type == to_type && e.to_id == to_id && e.type_id == association.type_id);
        if let Some(existing) = existing {
            *existing = edge;
            return false;
        }
        edges.push(edge);
        self.to.entry((to_type, to_id)).or_default().push((
            from_type,
            from_id,
            association.type_id,
        ));
        true
    }

    /// Removes every link between two records, whichever side it was stored from; returns how
    /// many went.
    pub(crate) fn remove_pair(&mut self, a: &Side, b: &Side) -> usize {
        match (self.key(a), self.key(b)) {
            (Some(a), Some(b)) => {
                self.remove_where(a, b, |_| true) + self.remove_where(b, a, |_| true)
            }
            _ => 0,
        }
    }

    /// Removes the links stored from `from` to `to` whose edge `remove` picks.
    fn remove_where(&mut self, from: Key, to: Key, remove: impl Fn(&Edge) -> bool) -> usize {
        let Some(edges) = self.from.get_mut(&from) else {
            return 0;
        };
        let mut gone = Vec::new();
        edges.retain(|e| {
            let doomed = e.to_type == to.0 && e.to_id == to.1 && remove(e);
            if doomed {
                gone.push(e.type_id);
            }
            !doomed
        });
        if edges.is_empty() {
            self.from.remove(&from);
        }
        if let Some(back) = self.to.get_mut(&to) {
            back.retain(|(ty, id, t)| !(*ty == from.0 && *id == from.1 && gone.contains(t)));
            if back.is_empty() {
                self.to.remove(&to);
            }
        }
        gone.len()
    }

    /// Removes one type of link between two records, given as read from `a`; returns whether
    /// one went.
    pub(crate) fn remove_type(&mut self, a: &Side, b: &Side, type_id: u32) -> bool {
        let (Some(a), Some(b)) = (self.key(a), self.key(b)) else {
            return false;
        };
        // Stored from `a` with this id, or stored from `b` with it as the inverse.
        let from_a = self.remove_where(a, b, |e| e.type_id == type_id);
        let from_b = self.remove_where(b, a, |e| e.inverse_type_id == type_id);
        from_a + from_b > 0
    }

    fn link_type(&self, type_id: u32, edge: &Edge) -> LinkType {
        LinkType {
            type_id,
            category: self.names[usize::from(edge.category)].clone(),
            label: edge.label.as_deref().map(str::to_string),
        }
    }

    /// The records of `to_type` linked to `side`, in id order, each with its link types as
    /// read from `side`.
    pub(crate) fn of(&self, side: &Side, to_type: &str) -> BTreeMap<u64, Vec<LinkType>> {
        let mut found: BTreeMap<u64, Vec<LinkType>> = BTreeMap::new();
        let (Some(key), Some(other)) = (self.key(side), self.name(to_type)) else {
            return found;
        };
        let mut add = |id: u64, link: LinkType| {
            let types = found.entry(id).or_default();
            if !types.iter().any(|t| t.type_id == link.type_id) {
                types.push(link);
            }
        };
        for edge in self.from.get(&key).into_iter().flatten() {
            if edge.to_type == other {
                add(edge.to_id, self.link_type(edge.type_id, edge));
            }
        }
        for (ty, id, type_id) in self.to.get(&key).into_iter().flatten() {
            if *ty != other {
                continue;
            }
            let edge = self.from.get(&(*ty, *id)).and_then(|edges| {
                edges
                    .iter()
                    .find(|e| e.to_type == key.0 && e.to_id == key.1 && e.type_id == *type_id)
            });
            if let Some(edge) = edge {
                add(*id, self.link_type(edge.inverse_type_id, edge));
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
        let Some(t) = self.name(ty) else {
            return;
        };
        let old_key = (t, old);
        let outgoing = self.from.remove(&old_key).unwrap_or_default();
        for edge in &outgoing {
            if let Some(back) = self.to.get_mut(&(edge.to_type, edge.to_id)) {
                back.retain(|(ft, fid, tid)| !(*ft == t && *fid == old && *tid == edge.type_id));
            }
        }
        let incoming = self.to.remove(&old_key).unwrap_or_default();
        let mut moved = Vec::new();
        for (from_type, from_id, type_id) in incoming {
            if let Some(edges) = self.from.get_mut(&(from_type, from_id)) {
                if let Some(pos) = edges
                    .iter()
                    .position(|e| e.to_type == t && e.to_id == old && e.type_id == type_id)
                {
                    moved.push(((from_type, from_id), edges.remove(pos)));
                }
            }
        }
        let link = |this: &Self, from: Key, edge: Edge| Association {
            from_type: this.names[usize::from(from.0)].clone(),
            from_id: from.1.to_string(),
            to_type: this.names[usize::from(edge.to_type)].clone(),
            to_id: edge.to_id.to_string(),
            type_id: edge.type_id,
            inverse_type_id: edge.inverse_type_id,
            category: this.names[usize::from(edge.category)].clone(),
            label: edge.label.map(String::from),
        };
        for edge in outgoing {
            if edge.to_type == t && (edge.to_id == old || edge.to_id == new) {
                continue;
            }
            let association = link(self, (t, new), edge);
            self.add(&association);
        }
        for (from, mut edge) in moved {
            if from.0 == t && (from.1 == old || from.1 == new) {
                continue;
            }
            edge.to_id = new;
            let association = link(self, from, edge);
            self.add(&association);
        }
        self.from.retain(|_, edges| !edges.is_empty());
        self.to.retain(|_, back| !back.is_empty());
    }

    /// Every link, as created, in a stable order.
    pub(crate) fn all(&self) -> Vec<Association> {
        let name = |i: u16| self.names[usize::from(i)].clone();
        let mut all: Vec<Association> = self
            .from
            .iter()
            .flat_map(|((from_type, from_id), edges)| {
                edges.iter().map(move |e| Association {
                    from_type: name(*from_type),
                    from_id: from_id.to_string(),
                    to_type: name(e.to_type),
                    to_id: e.to_id.to_string(),
                    type_id: e.type_id,
                    inverse_type_id: e.inverse_type_id,
                    category: name(e.category),
                    label: e.label.as_deref().map(str::to_string),
                })
            })
            .collect();
        all.sort();
        all
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
