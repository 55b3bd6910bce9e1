//! A generated portal: many records with realistic, deterministic data, built straight into the
//! store (no HTTP, no validation pass), so a sync can be tested and benchmarked against a portal
//! of 100,000 contacts in seconds.
//!
//! What makes it a test and not just volume: modified times spread over two years with one bulk
//! update that gives more than 10,000 contacts the same millisecond (HubSpot's own batch jobs do
//! this, and a search cursor on the modified time alone loops or skips on it), lists of every
//! processing type, email events across a look-back window with the subscription changes they
//! caused, and form submissions.
//!
//! Architecture invariant: the data is a function of the seed, the sizes and the anchor time
//! only; generating twice with the same three gives identical portals.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, json};

use crate::associations::{Association, default_type};
use crate::dates::{self, DAY_MS};
use crate::lists::Lists;
use crate::marketing::{
    EmailCampaign, EmailEvent, Form, FormSubmission, Marketing, SubscriptionChange, TimelineItem,
    guid,
};
use crate::portal::{DEAL_STAGES, Owner, TICKET_STAGES};
use crate::store::{LIFECYCLE_STAGES, Store};

/// How much of each kind a generated portal has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortalSizes {
    /// Contacts.
    pub contacts: usize,
    /// Companies; each contact belongs to one when there are any.
    pub companies: usize,
    /// Deals, each linked to a contact and its company.
    pub deals: usize,
    /// Tickets, each linked to a contact.
    pub tickets: usize,
    /// Contact lists, cycling MANUAL, SNAPSHOT, DYNAMIC.
    pub lists: usize,
    /// Email events (campaigns: one per 500 events, at least one).
    pub email_events: usize,
    /// Forms.
    pub forms: usize,
    /// Form submissions, spread over the forms.
    pub submissions: usize,
    /// Owners (added to the configured ones).
    pub owners: usize,
    /// Contacts sharing one modified millisecond (a bulk update); `None`: 10,001 when there
    /// are more than 10,000 contacts (so the 10,000-result search cap bites), else a tenth.
    pub bulk: Option<usize>,
}

impl PortalSizes {
    /// How many contacts the bulk update touches.
    pub fn bulk_contacts(&self) -> usize {
        let default = if self.contacts > 10_000 {
            10_001
        } else {
            self.contacts / 10
        };
        self.bulk.unwrap_or(default).min(self.contacts)
    }
}

impl FromStr for PortalSizes {
    type Err = String;

    /// `contacts=100000,companies=20000,deals=5000,lists=20,email_events=50000`.
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut sizes = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part}: expected name=count"))?;
            let n: usize = value
                .trim()
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{part}: {value} is not a count"))?;
            match name.trim() {
                "contacts" => sizes.contacts = n,
                "companies" => sizes.companies = n,
                "deals" => sizes.deals = n,
                "tickets" => sizes.tickets = n,
                "lists" => sizes.lists = n,
                "email_events" => sizes.email_events = n,
                "forms" => sizes.forms = n,
                "submissions" => sizes.submissions = n,
                "owners" => sizes.owners = n,
                "bulk" => sizes.bulk = Some(n),
                other => {
                    return Err(format!(
                        "unknown kind {other}: contacts, companies, deals, tickets, lists, \
                         email_events, forms, submissions, owners, bulk"
                    ));
                }
            }
        }
        Ok(sizes)
    }
}

/// A portal to generate at start and on every reset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedPortal {
    /// The seed: same seed, sizes and anchor, same portal.
    pub seed: u64,
    /// How much to generate.
    pub sizes: PortalSizes,
    /// Every generated time is before this (epoch ms); `None`: the start of the current UTC
    /// day, so the data is recent enough for look-back windows yet stable through a day.
    pub anchor_ms: Option<i64>,
}

impl GeneratedPortal {
    /// The anchor in effect.
    pub fn anchor(&self) -> i64 {
        self.anchor_ms
            .unwrap_or_else(|| dates::now_ms().div_euclid(DAY_MS) * DAY_MS)
    }

    /// The modified millisecond of the bulk update: three days before the anchor.
    pub fn bulk_ms(&self) -> i64 {
        self.anchor() - 3 * DAY_MS + 123
    }

    /// The owners this portal adds to the configured ones.
    pub(crate) fn owners(&self) -> Vec<Owner> {
        (0..self.sizes.owners)
            .map(|i| {
                let (first, last) = name(i as u64);
                Owner {
                    created_at: self.anchor() - 800 * DAY_MS,
                    ..Owner::new(
                        6_001 + i as u64,
                        &format!("owner{i}@example.com"),
                        first,
                        last,
                    )
                }
            })
            .collect()
    }
}

/// splitmix64: small, fast and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A time in `[from, to)`.
    fn between(&mut self, from: i64, to: i64) -> i64 {
        from + self.below(u64::try_from(to - from).unwrap_or(1).max(1)) as i64
    }
}

const FIRST_NAMES: [&str; 16] = [
    "Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Milo",
    "Nia", "Omar", "Pia",
];
const LAST_NAMES: [&str; 12] = [
    "Ahn", "Berg", "Costa", "Diaz", "Eng", "Falk", "Gray", "Hale", "Ito", "Jara", "Kim", "Lund",
];
const INDUSTRIES: [&str; 6] = [
    "SOFTWARE",
    "RETAIL",
    "FINANCE",
    "HEALTH",
    "MANUFACTURING",
    "EDUCATION",
];

fn name(i: u64) -> (&'static str, &'static str) {
    (
        FIRST_NAMES[(i % 16) as usize],
        LAST_NAMES[(i / 16 % 12) as usize],
    )
}

/// Email event types and their share (per thousand).
const EVENT_MIX: [(&str, u64); 10] = [
    ("SENT", 300),
    ("DELIVERED", 280),
    ("OPEN", 200),
    ("CLICK", 80),
    ("PROCESSED", 50),
    ("BOUNCE", 30),
    ("DEFERRED", 20),
    ("DROPPED", 20),
    ("SPAMREPORT", 10),
    ("STATUSCHANGE", 10),
];

/// What was generated, for the log line and the control's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Generated {
    /// Records per object type.
    pub records: Vec<(String, usize)>,
    /// The bulk update's millisecond and how many contacts share it.
    pub bulk_ms: i64,
    /// Contacts sharing `bulk_ms`.
    pub bulk_contacts: usize,
    /// Associations stored.
    pub associations: usize,
    /// Lists and memberships.
    pub lists: usize,
    /// Memberships over all lists.
    pub memberships: usize,
    /// Email campaigns and events.
    pub campaigns: usize,
    /// Email events.
    pub email_events: usize,
    /// Forms and submissions.
    pub forms: usize,
    /// Form submissions.
    pub submissions: usize,
}

/// Builds the portal into empty parts. Records get ids from the store's sequence, so the ids
/// too depend only on the spec.
pub(crate) fn generate(
    spec: &GeneratedPortal,
    store: &mut Store,
    lists: &mut Lists,
    marketing: &mut Marketing,
) -> Generated {
    let sizes = &spec.sizes;
    let anchor = spec.anchor();
    let two_years = anchor - 730 * DAY_MS;
    let mut rng = Rng(spec.seed ^ 0x005e_ed0f_f4ce);
    let mut out = Generated::default();

    let mut company_ids = Vec::with_capacity(sizes.companies);
    for i in 0..sizes.companies {
        let created = rng.between(two_years, anchor - DAY_MS);
        let updated = rng.between(created, anchor);
        let props = [
            ("name", format!("Company {i}")),
            ("domain", format!("company{i}.example")),
            ("industry", INDUSTRIES[rng.below(6) as usize].to_string()),
            ("numberofemployees", (rng.below(5_000) + 1).to_string()),
            ("lifecyclestage", "customer".to_string()),
        ];
        company_ids.push(store.put_generated("companies", &props, created, updated));
    }
    out.records.push(("companies".into(), company_ids.len()));

    let bulk = sizes.bulk_contacts();
    // Spread the bulk update over the id range rather than one block of ids.
    let stride = sizes.contacts.checked_div(bulk).map_or(0, |s| s.max(1));
    let bulk_ms = spec.bulk_ms();
    let mut contacts = Vec::with_capacity(sizes.contacts);
    for i in 0..sizes.contacts {
        let in_bulk = stride > 0 && i % stride == 0 && i / stride < bulk;
        let created = rng.between(two_years, anchor - 4 * DAY_MS);
        let updated = if in_bulk {
            bulk_ms
        } else {
            rng.between(created, anchor)
        };
        let (first, last) = name(rng.next());
        let company = (!company_ids.is_empty()).then(|| i % company_ids.len());
        let domain = company.map_or_else(
            || "example.com".to_string(),
            |c| format!("company{c}.example"),
        );
        let email = format!("contact{i}@{domain}");
        let mut props = vec![
            ("email", email.clone()),
            ("firstname", first.to_string()),
            ("lastname", last.to_string()),
            (
                "lifecyclestage",
                LIFECYCLE_STAGES[rng.below(6) as usize].to_string(),
            ),
            ("score", rng.below(101).to_string()),
        ];
        if rng.below(20) == 0 {
            props.push(("hs_additional_emails", format!("alt{i}@example.net")));
        }
        if let Some(c) = company {
            props.push(("company", format!("Company {c}")));
        }
        let id = store.put_generated("contacts", &props, created, updated);
        if let Some(c) = company {
            let company_id = company_ids[c];
            out.associations += link(store, ("contacts", id), ("companies", company_id), None);
            out.associations += link(
                store,
                ("contacts", id),
                ("companies", company_id),
                Some((1, 2, "Primary")),
            );
        }
        contacts.push((id, email));
    }
    out.records.push(("contacts".into(), contacts.len()));
    out.bulk_ms = bulk_ms;
    out.bulk_contacts = bulk;

    let mut deals = 0;
    for i in 0..sizes.deals {
        let created = rng.between(two_years, anchor - DAY_MS);
        let updated = rng.between(created, anchor);
        let stage = DEAL_STAGES[rng.below(DEAL_STAGES.len() as u64) as usize].0;
        let props = [
            ("dealname", format!("Deal {i}")),
            ("amount", (rng.below(100_000) + 100).to_string()),
            ("dealstage", stage.to_string()),
            ("pipeline", "default".to_string()),
        ];
        let id = store.put_generated("deals", &props, created, updated);
        deals += 1;
        if !contacts.is_empty() {
            let c = rng.below(contacts.len() as u64) as usize;
            out.associations += link(store, ("deals", id), ("contacts", contacts[c].0), None);
            if !company_ids.is_empty() {
                let company_id = company_ids[c % company_ids.len()];
                out.associations += link(store, ("deals", id), ("companies", company_id), None);
            }
        }
    }
    out.records.push(("deals".into(), deals));

    let mut tickets = 0;
    for i in 0..sizes.tickets {
        let created = rng.between(two_years, anchor - DAY_MS);
        let updated = rng.between(created, anchor);
        let stage = TICKET_STAGES[rng.below(TICKET_STAGES.len() as u64) as usize].0;
        let props = [
            ("subject", format!("Ticket {i}")),
            ("content", "Something is not working.".to_string()),
            ("hs_pipeline", "0".to_string()),
            ("hs_pipeline_stage", stage.to_string()),
        ];
        let id = store.put_generated("tickets", &props, created, updated);
        tickets += 1;
        if !contacts.is_empty() {
            let c = rng.below(contacts.len() as u64) as usize;
            out.associations += link(store, ("tickets", id), ("contacts", contacts[c].0), None);
        }
    }
    out.records.push(("tickets".into(), tickets));

    for l in 0..sizes.lists {
        let kind = ["MANUAL", "SNAPSHOT", "DYNAMIC"][l % 3];
        let created = rng.between(two_years, anchor - DAY_MS);
        let Ok(list_id) = lists.create(&format!("List {l}"), kind, "contacts", created) else {
            continue;
        };
        let size = if contacts.is_empty() {
            0
        } else {
            rng.below((contacts.len() / 10).clamp(1, 2_000) as u64) as usize + 1
        };
        let start = if contacts.is_empty() {
            0
        } else {
            rng.below(contacts.len() as u64) as usize
        };
        let members: Vec<String> = (0..size)
            .map(|k| contacts[(start + k * 7) % contacts.len()].0.to_string())
            .collect();
        let joined = rng.between(created, anchor);
        if let Ok(change) = lists.add(&list_id.to_string(), &members, |_, _| true, joined, false) {
            out.memberships += change.added.len();
        }
        out.lists += 1;
    }

    let window_start = anchor - 60 * DAY_MS;
    if sizes.email_events > 0 {
        let campaigns = (sizes.email_events / 500).max(1);
        for c in 0..campaigns {
            let id = 70_000_001 + c as u64;
            marketing.add_campaign(EmailCampaign {
                id,
                app_id: 113,
                app_name: "Batch".into(),
                name: format!("Campaign {c}"),
                subject: format!("News #{c}"),
                kind: "BATCH_EMAIL".into(),
                content_id: id + 1_000_000,
                last_updated_at: rng.between(window_start, anchor),
            });
        }
        out.campaigns = campaigns;
        for e in 0..sizes.email_events {
            let campaign_id = 70_000_001 + rng.below(campaigns as u64);
            let recipient = if contacts.is_empty() {
                format!("someone{}@example.org", rng.below(1_000))
            } else {
                contacts[rng.below(contacts.len() as u64) as usize]
                    .1
                    .clone()
            };
            let mut pick = rng.below(1_000);
            let kind = EVENT_MIX
                .iter()
                .find(|(_, share)| {
                    let hit = pick < *share;
                    pick = pick.saturating_sub(*share);
                    hit
                })
                .map_or("SENT", |(kind, _)| kind);
            let created = rng.between(window_start, anchor);
            let id = generated_id(spec.seed, 1, e);
            let mut fields = Map::new();
            match kind {
                "CLICK" => {
                    fields.insert("url".into(), json!("https://example.com/offer"));
                }
                "OPEN" => {
                    fields.insert(
                        "browser".into(),
                        json!({ "name": "Firefox", "family": "Firefox" }),
                    );
                }
                "BOUNCE" => {
                    fields.insert("category".into(), json!("HARD_BOUNCE"));
                }
                "SENT" => {
                    fields.insert("subject".into(), json!(format!("News #{campaign_id}")));
                }
                _ => {}
            }
            let caused = match kind {
                "BOUNCE" => Some(("BOUNCED", "PORTAL_BOUNCE", "SOURCE_NON_DELIVERY_REPORT")),
                "SPAMREPORT" => Some(("REPORTED_SPAM", "PORTAL_SPAM", "SOURCE_SPAM_REPORT")),
                "STATUSCHANGE" => Some(("UNSUBSCRIBED", "PORTAL_STATUS", "SOURCE_RECIPIENT")),
                _ => None,
            };
            if let Some((change, change_type, source)) = caused {
                marketing.add_timeline(TimelineItem {
                    recipient: recipient.clone(),
                    timestamp: created,
                    changes: vec![SubscriptionChange {
                        change: change.into(),
                        change_type: change_type.into(),
                        source: source.into(),
                        subscription_id: None,
                        caused_by: Some((id.clone(), created)),
                    }],
                });
            }
            let event = EmailEvent {
                id,
                kind: kind.into(),
                recipient,
                created_at: created,
                campaign_id,
                sent_by: None,
                fields,
            };
            if marketing.add_event(event).is_ok() {
                out.email_events += 1;
            }
        }
    }

    let mut form_ids = Vec::new();
    for f in 0..sizes.forms {
        let id = generated_id(spec.seed, 2, f);
        marketing.add_form(Form {
            id: id.clone(),
            name: format!("Form {f}"),
            fields: vec!["email".into(), "firstname".into()],
            created_at: rng.between(two_years, anchor - DAY_MS),
        });
        form_ids.push(id);
    }
    out.forms = form_ids.len();
    if !form_ids.is_empty() {
        for s in 0..sizes.submissions {
            let form = &form_ids[s % form_ids.len()];
            let email = if contacts.is_empty() {
                format!("visitor{s}@example.org")
            } else {
                contacts[rng.below(contacts.len() as u64) as usize]
                    .1
                    .clone()
            };
            let submission = FormSubmission {
                conversion_id: generated_id(spec.seed, 3, s),
                submitted_at: rng.between(window_start, anchor),
                page_url: format!("https://example.com/landing/{}", s % 5),
                values: vec![
                    ("email".into(), email),
                    ("firstname".into(), name(s as u64).0.into()),
                ],
            };
            if marketing.add_submission(form, submission).is_ok() {
                out.submissions += 1;
            }
        }
    }
    out
}

/// The guid of the `i`-th generated item of a kind: the kind and seed in the high bits keep
/// it apart from other kinds and from the small serials the controls number their ids with.
fn generated_id(seed: u64, kind: u64, i: usize) -> String {
    let tag = 0x8000 | (kind << 12) | (seed & 0xfff);
    guid((tag << 48) | i as u64)
}

/// Stores one link (the pair's default type, or `(type id, inverse, label)`); 1 if new.
fn link(
    store: &mut Store,
    from: (&str, u64),
    to: (&str, u64),
    labeled: Option<(u32, u32, &str)>,
) -> usize {
    let (type_id, inverse_type_id) = default_type(from.0, to.0);
    let (type_id, inverse_type_id, label) = match labeled {
        Some((t, i, label)) => (t, i, Some(label.to_string())),
        None => (type_id, inverse_type_id, None),
    };
    let new = store.associations.add(&Association {
        from_type: from.0.into(),
        from_id: from.1.to_string(),
        to_type: to.0.into(),
        to_id: to.1.to_string(),
        type_id,
        inverse_type_id,
        category: "HUBSPOT_DEFINED".into(),
        label,
    });
    usize::from(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_from_the_command_line_form() {
        let sizes: PortalSizes = "contacts=100_000, companies=20000,bulk=12000"
            .parse()
            .expect("valid");
        assert_eq!(sizes.contacts, 100_000);
        assert_eq!(sizes.companies, 20_000);
        assert_eq!(sizes.bulk_contacts(), 12_000);
        assert!("contacts".parse::<PortalSizes>().is_err());
        assert!("leads=5".parse::<PortalSizes>().is_err());
        let default: PortalSizes = "contacts=20000".parse().expect("valid");
        assert_eq!(default.bulk_contacts(), 10_001);
    }
}
