//! Email and form data behind HubSpot's legacy (v1) read endpoints and the v3 forms list:
//! email campaigns and their events, the subscription timeline, forms and their submissions.
//!
//! The v1 endpoints use epoch milliseconds and page with an opaque `offset` (`hasMore`); the
//! fake's offsets are keyset positions (the last item's time and id), so items added while a
//! client pages never shift a page.
//!
//! Architecture invariant: this module holds the data and its paging rules; it knows nothing of
//! HTTP or of CRM records (a recipient is an email address, not a contact).

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::dates;
use crate::errors::ApiError;

/// An email campaign (one send of a marketing email).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailCampaign {
    /// Campaign id (`emailCampaignId` of its events).
    pub id: u64,
    /// The app that sent it (`appId`; marketing email is 113).
    pub app_id: u64,
    /// `appName` (`Batch`, `Automated`, …).
    pub app_name: String,
    /// Name.
    pub name: String,
    /// Subject line.
    pub subject: String,
    /// `type` (`BATCH_EMAIL`, `AB_EMAIL`, `AUTOMATED_EMAIL`, …).
    pub kind: String,
    /// The marketing email it sent (`contentId`).
    pub content_id: u64,
    /// `lastUpdatedTime`, epoch ms.
    pub last_updated_at: i64,
}

/// One email event (`SENT`, `DELIVERED`, `OPEN`, `CLICK`, `BOUNCE`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailEvent {
    /// Event id.
    pub id: String,
    /// `type`.
    pub kind: String,
    /// Recipient email address.
    pub recipient: String,
    /// `created`, epoch ms.
    pub created_at: i64,
    /// `emailCampaignId`.
    pub campaign_id: u64,
    /// The `SENT` event this one follows (`sentBy`: id and time).
    pub sent_by: Option<(String, i64)>,
    /// The type's own fields (`url` of a click, `category` of a bounce, …).
    pub fields: Map<String, Value>,
}

/// One change in a recipient's subscription state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionChange {
    /// `change`: `SUBSCRIBED`, `UNSUBSCRIBED`, `BOUNCED`, `UNBOUNCED`, `REPORTED_SPAM`, …
    pub change: String,
    /// `changeType`: `SUBSCRIPTION_STATUS`, `PORTAL_STATUS`, `PORTAL_BOUNCE`, `PORTAL_SPAM`.
    pub change_type: String,
    /// `source`: `SOURCE_RECIPIENT`, `SOURCE_NON_DELIVERY_REPORT`, `SOURCE_IMPORT`, …
    pub source: String,
    /// `subscriptionId` of a `SUBSCRIPTION_STATUS` change.
    pub subscription_id: Option<u64>,
    /// The email event that caused it (`causedByEvent`: id and time).
    pub caused_by: Option<(String, i64)>,
}

/// A timeline item: the changes to one recipient at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineItem {
    /// Recipient email address.
    pub recipient: String,
    /// When, epoch ms.
    pub timestamp: i64,
    /// What changed.
    pub changes: Vec<SubscriptionChange>,
}

/// A form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Form {
    /// The form's guid.
    pub id: String,
    /// Name.
    pub name: String,
    /// Contact properties the form asks for.
    pub fields: Vec<String>,
    /// Creation and last update, epoch ms.
    pub created_at: i64,
}

/// One submission of a form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormSubmission {
    /// `conversionId`: unique per submission.
    pub conversion_id: String,
    /// `submittedAt`, epoch ms.
    pub submitted_at: i64,
    /// The page it was submitted on.
    pub page_url: String,
    /// Field name → value, in the form's order.
    pub values: Vec<(String, String)>,
}

/// A keyset position `(time, id)` as the opaque offset string v1 answers carry.
pub(crate) fn encode_offset(at: i64, id: &str) -> String {
    format!("{at}-{id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The position an offset string stands for; a 400 when it is not one of the fake's.
pub(crate) fn decode_offset(offset: &str) -> Result<(i64, String), ApiError> {
    let invalid = || ApiError::validation(format!("Invalid offset {offset}"));
    let bytes: Vec<u8> = (0..offset.len())
        .step_by(2)
        .map(|i| {
            offset
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('-').ok_or_else(invalid)?;
    Ok((at.parse().map_err(|_| invalid())?, id.to_string()))
}

/// A page of a v1 listing: the items, whether more follow, and the offset to continue from.
#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) has_more: bool,
    pub(crate) offset: Option<String>,
}

/// Reads, newest first, the items of `map` (keyed `(time, id)`) timed within `[start, end]` and
/// before the `offset` position, `limit` of them, keeping those `keep` accepts.
fn newest_first<'a, T>(
    map: &'a BTreeMap<(i64, String), T>,
    start: i64,
    end: i64,
    offset: Option<&str>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<&'a T>, ApiError> {
    let (upper, inclusive) = match offset {
        Some(o) => (decode_offset(o)?, false),
        None => ((end, String::from("\u{10ffff}")), true),
    };
    let lower = (start, String::new());
    // An empty window (or an offset before it) reads nothing; BTreeMap::range would panic.
    if upper < lower {
        return Ok(Page {
            items: Vec::new(),
            has_more: false,
            offset: offset.map(str::to_string),
        });
    }
    let upper = if inclusive {
        Bound::Included(upper)
    } else {
        Bound::Excluded(upper)
    };
    let lower = Bound::Included(lower);
    let mut items = Vec::new();
    let mut last = None;
    let mut matching = map
        .range((lower, upper))
        .rev()
        .filter(|((at, _), item)| *at <= end && keep(item));
    for ((at, id), item) in matching.by_ref().take(limit) {
        items.push(item);
        last = Some(encode_offset(*at, id));
    }
    let has_more = matching.next().is_some();
    Ok(Page {
        items,
        has_more,
        offset: last.or_else(|| offset.map(str::to_string)),
    })
}

/// Filters of `GET /email/public/v1/events`.
#[derive(Debug, Default)]
pub(crate) struct EventFilter {
    pub(crate) start: Option<i64>,
    pub(crate) end: Option<i64>,
    pub(crate) kind: Option<String>,
    pub(crate) recipient: Option<String>,
    pub(crate) campaign_id: Option<u64>,
}

/// The portal's email and form data.
#[derive(Debug, Default)]
pub(crate) struct Marketing {
    campaigns: BTreeMap<u64, EmailCampaign>,
    /// Events by `(created, id)`.
    events: BTreeMap<(i64, String), EmailEvent>,
    /// Per campaign, event counts by lowercased type (`counters`).
    counters: BTreeMap<u64, BTreeMap<String, u64>>,
    /// Timeline items by `(timestamp, recipient)`.
    timeline: BTreeMap<(i64, String), TimelineItem>,
    forms: BTreeMap<String, Form>,
    /// Submissions per form, by `(submittedAt, conversionId)`.
    submissions: BTreeMap<String, BTreeMap<(i64, String), FormSubmission>>,
    /// Source of ids the fake makes up (events, forms, conversions).
    next_serial: u64,
}

impl Marketing {
    /// A unique id in the shape of HubSpot's guids.
    pub(crate) fn new_guid(&mut self) -> String {
        self.next_serial += 1;
        guid(self.next_serial)
    }

    /// An id no campaign has yet.
    pub(crate) fn next_campaign_id(&self) -> u64 {
        self.campaigns
            .keys()
            .next_back()
            .map_or(70_000_001, |id| id + 1)
    }

    /// The creation time of an event, if it exists (what `causedByEvent` reports).
    pub(crate) fn event_time(&self, id: &str) -> Option<i64> {
        self.events
            .iter()
            .find(|((_, event_id), _)| event_id == id)
            .map(|((at, _), _)| *at)
    }

    /// Adds or replaces a campaign.
    pub(crate) fn add_campaign(&mut self, campaign: EmailCampaign) {
        self.campaigns.insert(campaign.id, campaign);
    }

    /// Adds an event; its campaign must exist. Late events (an old `created`) are welcome: they
    /// are what a look-back window is for.
    pub(crate) fn add_event(&mut self, event: EmailEvent) -> Result<(), ApiError> {
        if !self.campaigns.contains_key(&event.campaign_id) {
            return Err(ApiError::validation(format!(
                "No email campaign {}",
                event.campaign_id
            )));
        }
        *self
            .counters
            .entry(event.campaign_id)
            .or_default()
            .entry(event.kind.to_lowercase())
            .or_default() += 1;
        self.events
            .insert((event.created_at, event.id.clone()), event);
        Ok(())
    }

    /// A page of events, newest first.
    pub(crate) fn events(
        &self,
        filter: &EventFilter,
        offset: Option<&str>,
        limit: usize,
    ) -> Result<Page<&EmailEvent>, ApiError> {
        let recipient = filter.recipient.as_ref().map(|r| r.to_lowercase());
        newest_first(
            &self.events,
            filter.start.unwrap_or(i64::MIN),
            filter.end.unwrap_or(i64::MAX),
            offset,
            limit,
            |e| {
                filter.kind.as_ref().is_none_or(|k| &e.kind == k)
                    && recipient.as_ref().is_none_or(|r| &e.recipient == r)
                    && filter.campaign_id.is_none_or(|c| e.campaign_id == c)
            },
        )
    }

    /// An event in `GET /email/public/v1/events`' shape.
    pub(crate) fn event_json(&self, event: &EmailEvent, portal_id: u64) -> Value {
        let campaign = self.campaigns.get(&event.campaign_id);
        let mut value = json!({
            "id": event.id,
            "type": event.kind,
            "recipient": event.recipient,
            "created": event.created_at,
            "emailCampaignId": event.campaign_id,
            "appId": campaign.map(|c| c.app_id),
            "appName": campaign.map(|c| c.app_name.clone()),
            "portalId": portal_id,
        });
        if let Some((id, at)) = &event.sent_by {
            value["sentBy"] = json!({ "id": id, "created": at });
        }
        for (name, field) in &event.fields {
            value[name] = field.clone();
        }
        value
    }

    /// Campaign ids in id order after `offset` (a campaign id), `limit` of them.
    pub(crate) fn campaign_page(
        &self,
        offset: Option<u64>,
        limit: usize,
    ) -> (Vec<&EmailCampaign>, bool) {
        let start = offset.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = self
            .campaigns
            .range((start, Bound::Unbounded))
            .map(|(_, c)| c);
        let page: Vec<&EmailCampaign> = rest.by_ref().take(limit).collect();
        (page, rest.next().is_some())
    }

    /// A campaign in `GET /email/public/v1/campaigns/{id}`' shape, with its counters.
    pub(crate) fn campaign_json(&self, id: u64) -> Option<Value> {
        let c = self.campaigns.get(&id)?;
        let counters = self.counters.get(&id).cloned().unwrap_or_default();
        let sent = counters.get("sent").copied().unwrap_or(0);
        Some(json!({
            "id": c.id,
            "appId": c.app_id,
            "appName": c.app_name,
            "contentId": c.content_id,
            "name": c.name,
            "subject": c.subject,
            "type": c.kind,
            "counters": counters,
            "numIncluded": sent,
            "numQueued": 0,
            "processingState": "DONE",
            "lastUpdatedTime": c.last_updated_at,
        }))
    }

    /// Adds a timeline item (merged with one for the same recipient and moment).
    pub(crate) fn add_timeline(&mut self, item: TimelineItem) {
        let key = (item.timestamp, item.recipient.clone());
        match self.timeline.get_mut(&key) {
            Some(existing) => existing.changes.extend(item.changes),
            None => {
                self.timeline.insert(key, item);
            }
        }
    }

    /// `recipient`'s subscription state once every change up to `at` applied, in the shape of
    /// `GET /email/public/v1/subscriptions/{email}` (a timeline item's `snapshot`): the last
    /// `PORTAL_STATUS`, `PORTAL_BOUNCE` and `PORTAL_SPAM` change of each kind decides
    /// `unsubscribeFromPortal`, `bounced` and `markedAsSpam`, the last `SUBSCRIPTION_STATUS`
    /// change of each subscription its entry in `subscriptionStatuses`.
    pub(crate) fn snapshot(&self, recipient: &str, at: i64, portal_id: u64) -> Value {
        let (mut unsubscribed, mut bounced, mut spam) = (false, false, false);
        let mut subscriptions: BTreeMap<u64, bool> = BTreeMap::new();
        let upto = (
            Bound::Unbounded,
            Bound::Included((at, recipient.to_string())),
        );
        for item in self
            .timeline
            .range(upto)
            .map(|(_, item)| item)
            .filter(|item| item.recipient == recipient)
        {
            for c in &item.changes {
                match (c.change_type.as_str(), c.subscription_id) {
                    ("PORTAL_STATUS", _) => unsubscribed = c.change == "UNSUBSCRIBED",
                    ("PORTAL_BOUNCE", _) => bounced = c.change == "BOUNCED",
                    ("PORTAL_SPAM", _) => spam = c.change == "REPORTED_SPAM",
                    ("SUBSCRIPTION_STATUS", Some(id)) => {
                        subscriptions.insert(id, c.change == "SUBSCRIBED");
                    }
                    _ => {}
                }
            }
        }
        let statuses: Vec<Value> = subscriptions
            .iter()
            .map(|(id, subscribed)| json!({ "id": id, "subscribed": subscribed }))
            .collect();
        json!({
            "subscribed": !unsubscribed,
            "unsubscribeFromPortal": unsubscribed,
            "markedAsSpam": spam,
            "bounced": bounced,
            "status": if unsubscribed { "unsubscribed" } else { "subscribed" },
            "email": recipient,
            "portalId": portal_id,
            "subscriptionStatuses": statuses,
        })
    }

    /// A page of the subscription timeline, newest first.
    pub(crate) fn timeline(
        &self,
        start: Option<i64>,
        end: Option<i64>,
        offset: Option<&str>,
        limit: usize,
    ) -> Result<Page<&TimelineItem>, ApiError> {
        newest_first(
            &self.timeline,
            start.unwrap_or(i64::MIN),
            end.unwrap_or(i64::MAX),
            offset,
            limit,
            |_| true,
        )
    }

    /// Adds a form.
    pub(crate) fn add_form(&mut self, form: Form) {
        self.submissions.entry(form.id.clone()).or_default();
        self.forms.insert(form.id.clone(), form);
    }

    /// Forms in id order, from id `after` on, `limit` of them, and the id the next page starts at.
    pub(crate) fn form_page(&self, after: &str, limit: usize) -> (Vec<&Form>, Option<String>) {
        let mut rest = self
            .forms
            .range::<str, _>((Bound::Included(after), Bound::Unbounded))
            .map(|(_, f)| f);
        let page: Vec<&Form> = rest.by_ref().take(limit).collect();
        (page, rest.next().map(|f| f.id.clone()))
    }

    /// Records a submission of an existing form.
    pub(crate) fn add_submission(
        &mut self,
        form_id: &str,
        submission: FormSubmission,
    ) -> Result<(), ApiError> {
        let submissions = self
            .submissions
            .get_mut(form_id)
            .ok_or_else(|| ApiError::not_found(format!("Form {form_id} does not exist")))?;
        submissions.insert(
            (submission.submitted_at, submission.conversion_id.clone()),
            submission,
        );
        Ok(())
    }

    /// A page of a form's submissions, newest first.
    pub(crate) fn submissions(
        &self,
        form_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<&FormSubmission>, ApiError> {
        let submissions = self
            .submissions
            .get(form_id)
            .ok_or_else(|| ApiError::not_found(format!("Form {form_id} does not exist")))?;
        newest_first(submissions, i64::MIN, i64::MAX, after, limit, |_| true)
    }

    /// Snapshot parts for `FakeState`.
    pub(crate) fn campaigns(&self) -> Vec<EmailCampaign> {
        self.campaigns.values().cloned().collect()
    }

    pub(crate) fn all_events(&self) -> Vec<EmailEvent> {
        self.events.values().cloned().collect()
    }

    pub(crate) fn all_timeline(&self) -> Vec<TimelineItem> {
        self.timeline.values().cloned().collect()
    }

    pub(crate) fn forms(&self) -> Vec<Form> {
        self.forms.values().cloned().collect()
    }

    pub(crate) fn all_submissions(&self) -> BTreeMap<String, Vec<FormSubmission>> {
        self.submissions
            .iter()
            .map(|(form, subs)| (form.clone(), subs.values().cloned().collect()))
            .collect()
    }
}

/// A guid-shaped id from a number: distinct numbers give distinct ids.
pub(crate) fn guid(n: u64) -> String {
    let a = mix(n);
    let b = mix(a ^ n);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 52) & 0xfff,
        // The low bits carry `n` itself, so two numbers never share an id.
        n & 0xffff_ffff_ffff
    )
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A timeline item in `GET /email/public/v1/subscriptions/timeline`' shape, with its
/// `snapshot` when the client asked for snapshots.
pub(crate) fn timeline_json(item: &TimelineItem, portal_id: u64, snapshot: Option<Value>) -> Value {
    let changes: Vec<Value> = item
        .changes
        .iter()
        .map(|c| {
            let mut change = json!({
                "change": c.change,
                "changeType": c.change_type,
                "source": c.source,
                "portalId": portal_id,
            });
            if let Some(id) = c.subscription_id {
                change["subscriptionId"] = json!(id);
            }
            // HubSpot gives a change its own `timestamp` only when no event caused it.
            match &c.caused_by {
                Some((id, at)) => change["causedByEvent"] = json!({ "id": id, "created": at }),
                None => change["timestamp"] = json!(item.timestamp),
            }
            change
        })
        .collect();
    let mut value = json!({
        "timestamp": item.timestamp,
        "portalId": portal_id,
        "recipient": item.recipient,
        "normalizedEmailId": guid(item.recipient.bytes().fold(0_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))),
        "changes": changes,
    });
    if let Some(snapshot) = snapshot {
        value["snapshot"] = snapshot;
    }
    value
}

/// A form in `GET /marketing/v3/forms`' shape.
pub(crate) fn form_json(form: &Form) -> Value {
    let at = dates::iso_from_ms(form.created_at);
    let fields: Vec<Value> = form
        .fields
        .iter()
        .map(|name| {
            json!({
                "objectTypeId": "0-1", "name": name, "label": name, "required": name == "email",
                "hidden": false, "fieldType": if name == "email" { "email" } else { "single_line_text" },
            })
        })
        .collect();
    json!({
        "id": form.id,
        "name": form.name,
        "formType": "hubspot",
        "createdAt": at,
        "updatedAt": at,
        "archived": false,
        "fieldGroups": [{ "groupType": "default_group", "richTextType": "text", "fields": fields }],
        "configuration": { "language": "en", "createNewContactForNewEmail": false },
    })
}

/// A submission in `GET /form-integrations/v1/submissions/forms/{guid}`' shape.
pub(crate) fn submission_json(submission: &FormSubmission) -> Value {
    let values: Vec<Value> = submission
        .values
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value, "objectTypeId": "0-1" }))
        .collect();
    json!({
        "conversionId": submission.conversion_id,
        "submittedAt": submission.submitted_at,
        "values": values,
        "pageUrl": submission.page_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_reject_strangers() {
        let offset = encode_offset(1_700_000_000_000, "abc-def");
        assert_eq!(
            decode_offset(&offset).expect("ours"),
            (1_700_000_000_000, "abc-def".to_string())
        );
        assert!(decode_offset("zz").is_err());
        assert_ne!(guid(1), guid(2));
    }
}
