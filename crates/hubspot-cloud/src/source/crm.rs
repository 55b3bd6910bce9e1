//! One CRM object type streamed into its table. Search is the only way to read changes by
//! modified time, and it answers at most 10,000 results per query, so the stream pages on a
//! keyset (modified ms, `hs_object_id`):
//!
//! 1. `modified GT t`, sorted by modified, paged with `after` until the next page would cross
//!    the cap; every page commits the cursor (its last modified ms, to be drained by id);
//! 2. the last millisecond is drained with `modified EQ t AND hs_object_id GT id` sorted by id,
//!    restarting that query from the last id before it reaches the cap, so any number of
//!    records sharing one millisecond (bulk updates) is read once, without looping;
//! 3. then `GT t` again, until a query ends before the cap.
//!
//! Each run starts `lag` before the previous run started, because search shows a write only
//! some time after it happened; upserts make the overlap harmless. Archived records never show
//! in search, so the archived listing is read every run, and rows marked deleted that it no
//! longer lists are read by id and restored.

use hubspot_core::date::parse_iso_date_ms;
use serde_json::{Value, json};
use std::collections::HashSet;

use super::associations::Related;
use super::db::Db;
use super::state::{self, SyncState};
use super::store::{self, Columns, Written};
use super::{Ctx, SyncError, TableReport};
use crate::client::{HubSpotApi, MAX_BATCH_INPUTS, ObjectPage, SourceRecord};
use crate::config::ObjectProperties;
use crate::mapping::PropertyDefinition;

/// Records per search page (HubSpot's most).
const PAGE: u64 = 200;
/// Most results one search query can page through.
const SEARCH_CAP: u64 = 10_000;

/// `properties = "default"`: these standard properties of each object, where the portal
/// defines them (plus the modified time, create date and merge ids, always read).
pub const DEFAULT_PROPERTIES: &[(&str, &[&str])] = &[
    (
        "contacts",
        &[
            "email",
            "firstname",
            "lastname",
            "phone",
            "company",
            "jobtitle",
            "lifecyclestage",
            "hs_lead_status",
            "hubspot_owner_id",
        ],
    ),
    (
        "companies",
        &[
            "name",
            "domain",
            "industry",
            "phone",
            "city",
            "country",
            "numberofemployees",
            "annualrevenue",
            "lifecyclestage",
            "hubspot_owner_id",
        ],
    ),
    (
        "deals",
        &[
            "dealname",
            "amount",
            "dealstage",
            "pipeline",
            "closedate",
            "hubspot_owner_id",
        ],
    ),
    (
        "tickets",
        &[
            "subject",
            "content",
            "hs_pipeline",
            "hs_pipeline_stage",
            "hs_ticket_priority",
            "hubspot_owner_id",
        ],
    ),
];

/// The property search filters and sorts by modified time on: contacts have their own name.
pub fn modified_property(object_type: &str) -> &'static str {
    if object_type == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

/// Streams one object type of one portal into its table.
pub(super) struct CrmStream<'a> {
    pub ctx: &'a Ctx<'a>,
    /// The type's table, collection and `_sync_state` name (`contacts`, a custom object's).
    pub object_type: &'a str,
    /// What API paths name it by: the same for the standard objects, a custom object's
    /// `objectTypeId`.
    pub api_type: &'a str,
    /// A custom object's default properties (from its schema); `None` for the standard
    /// objects, whose defaults are [`DEFAULT_PROPERTIES`].
    pub schema_defaults: Option<&'a [String]>,
}

/// Where the keyset walk is.
enum Step {
    /// Drain `modified EQ ms AND hs_object_id GT id`.
    Drain { ms: i64, id: u64 },
    /// Page `modified GT ms`.
    After { ms: i64 },
}

impl CrmStream<'_> {
    /// Runs the collection: records changed since the cursor, then deletes and restores.
    pub async fn run(&self, db: &mut Db) -> Result<TableReport, SyncError> {
        let mut report = TableReport::new(self.object_type);
        let definitions = self
            .ctx
            .paced(|| self.ctx.client.properties(self.api_type))
            .await?;
        let (selected, unknown) = self.selected(&definitions);
        if !unknown.is_empty() {
            let warning = format!(
                "sync.properties.{}: {} not defined in the portal, skipped",
                self.object_type,
                unknown.join(", ")
            );
            report.warnings.push(warning);
        }
        let modified = modified_property(self.object_type);
        let mut wanted: Vec<String> = selected.iter().map(|d| d.name.clone()).collect();
        for always in [
            modified,
            "createdate",
            "hs_object_id",
            "hs_merged_object_ids",
        ] {
            if !wanted.iter().any(|w| w == always) {
                wanted.push(always.to_owned());
            }
        }
        let columns = store::ensure_table(db.sql(), self.object_type, &selected).await?;
        store::ensure_associations(db.sql()).await?;
        if self.object_type == "contacts" {
            store::ensure_identities(db.sql()).await?;
        }
        let full_links = self.full_pass_due(db).await?;
        let mut st = match state::load(db.sql(), self.ctx.portal, self.object_type).await? {
            Some(s) if !self.ctx.options.full_refresh => s,
            _ => SyncState::default(),
        };
        if st.run_started_ms.is_none() {
            // A new run: re-read the search lag before the previous run's start.
            let lag = self.ctx.options.lag.as_millis() as i64;
            if let Some(prev) = st.last_run_started_ms {
                st.cursor_ms = st.cursor_ms.min(prev - lag);
            }
            st.cursor_id = None;
            st.run_started_ms = Some(self.ctx.now_ms());
            state::save(db.sql(), self.ctx.portal, self.object_type, &st).await?;
        }
        let mut step = match st.cursor_id {
            Some(id) => Step::Drain {
                ms: st.cursor_ms,
                id,
            },
            None => Step::After {
                ms: st.cursor_ms - 1,
            },
        };
        let mut pages = 0u64;
        loop {
            if self.ctx.options.max_pages.is_some_and(|max| pages >= max) {
                return Ok(report);
            }
            pages += 1;
            match step {
                Step::Drain { ms, id } => {
                    let body = json!({
                        "filterGroups": [{ "filters": [
                            { "propertyName": modified, "operator": "EQ", "value": ms.to_string() },
                            { "propertyName": "hs_object_id", "operator": "GT", "value": id.to_string() },
                        ]}],
                        "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }],
                        "properties": wanted,
                        "limit": PAGE,
                    });
                    // Restarting from the last id each page keeps every query far from the cap.
                    let page = self
                        .ctx
                        .paced_search(|| self.ctx.client.search_objects(self.api_type, &body))
                        .await?;
                    let last = page
                        .records
                        .iter()
                        .filter_map(|r| r.id.parse::<u64>().ok())
                        .max();
                    st.cursor_ms = ms;
                    st.cursor_id = Some(last.unwrap_or(id));
                    let related = self.page_related(&page.records, full_links).await?;
                    self.commit(db, &columns, &page.records, &related, &st, &mut report)
                        .await?;
                    step = match (last, page.after) {
                        (Some(last), Some(_)) => Step::Drain { ms, id: last },
                        _ => Step::After { ms },
                    };
                }
                Step::After { ms } => {
                    let mut after: Option<String> = None;
                    let mut next_step = None;
                    loop {
                        let mut body = json!({
                            "filterGroups": [{ "filters": [
                                { "propertyName": modified, "operator": "GT", "value": ms.to_string() },
                            ]}],
                            "sorts": [{ "propertyName": modified, "direction": "ASCENDING" }],
                            "properties": wanted,
                            "limit": PAGE,
                        });
                        if let Some(a) = &after {
                            body["after"] = json!(a);
                        }
                        let page = self
                            .ctx
                            .paced_search(|| self.ctx.client.search_objects(self.api_type, &body))
                            .await?;
                        let last_ms = page
                            .records
                            .iter()
                            .filter_map(|r| modified_ms(r, modified))
                            .max();
                        if let Some(last_ms) = last_ms {
                            // Ties of the last millisecond may continue on later pages in any
                            // order: a resume drains that millisecond by id.
                            st.cursor_ms = last_ms;
                            st.cursor_id = Some(0);
                        }
                        let ObjectPage {
                            records,
                            after: next,
                        } = page;
                        let related = self.page_related(&records, full_links).await?;
                        self.commit(db, &columns, &records, &related, &st, &mut report)
                            .await?;
                        match (next, last_ms) {
                            (Some(n), Some(last_ms)) => {
                                let offset = n.parse::<u64>().unwrap_or(SEARCH_CAP);
                                if offset + PAGE > SEARCH_CAP {
                                    next_step = Some(Step::Drain { ms: last_ms, id: 0 });
                                    break;
                                }
                                after = Some(n);
                                if self.ctx.options.max_pages.is_some_and(|max| pages >= max) {
                                    return Ok(report);
                                }
                                pages += 1;
                            }
                            _ => break,
                        }
                    }
                    match next_step {
                        Some(s) => step = s,
                        None => break,
                    }
                }
            }
        }
        self.deletes(db, &columns, &wanted, &mut report).await?;
        if full_links {
            self.full_association_pass(db, &mut report).await?;
        }
        st.last_run_started_ms = st.run_started_ms.take();
        st.last_success_ms = Some(self.ctx.now_ms());
        state::save(db.sql(), self.ctx.portal, self.object_type, &st).await?;
        report.complete = true;
        Ok(report)
    }

    /// The definitions to sync under `[sync] properties`, and the listed names the portal
    /// does not define.
    fn selected(
        &self,
        definitions: &[PropertyDefinition],
    ) -> (Vec<PropertyDefinition>, Vec<String>) {
        let pick = |names: &[&str], with_times: bool| -> Vec<PropertyDefinition> {
            let modified = modified_property(self.object_type);
            definitions
                .iter()
                .filter(|d| {
                    names.contains(&d.name.as_str())
                        || (with_times && (d.name == modified || d.name == "createdate"))
                })
                .cloned()
                .collect()
        };
        match self.ctx.options.properties.for_object(self.object_type) {
            ObjectProperties::All => (definitions.to_vec(), Vec::new()),
            ObjectProperties::Default => {
                let names: Vec<&str> = match self.schema_defaults {
                    Some(defaults) => defaults.iter().map(String::as_str).collect(),
                    None => DEFAULT_PROPERTIES
                        .iter()
                        .find(|(t, _)| *t == self.object_type)
                        .map_or(Vec::new(), |(_, n)| n.to_vec()),
                };
                (pick(&names, true), Vec::new())
            }
            ObjectProperties::Named(listed) => {
                let names: Vec<&str> = listed.iter().map(String::as_str).collect();
                let unknown = listed
                    .iter()
                    .filter(|n| !definitions.iter().any(|d| &d.name == *n))
                    .cloned()
                    .collect();
                (pick(&names, false), unknown)
            }
        }
    }

    /// What is read about a page's records before the page commits, so it commits with it
    /// (their links; contacts' identities); nothing while a full association pass is due (it
    /// reads them at the end of the run).
    async fn page_related(
        &self,
        records: &[SourceRecord],
        full_pass_due: bool,
    ) -> Result<Related, SyncError> {
        if full_pass_due {
            return Ok(Related::default());
        }
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        self.read_related(&ids).await
    }

    /// Writes a page of live records, what was read about them and the cursor covering them in
    /// one transaction.
    async fn commit(
        &self,
        db: &mut Db,
        columns: &Columns,
        records: &[SourceRecord],
        related: &Related,
        st: &SyncState,
        report: &mut TableReport,
    ) -> Result<(), SyncError> {
        let tx = db.transaction().await?;
        let now = self.ctx.now_iso();
        self.write_related(tx.sql(), related, &now, report).await?;
        for r in records {
            match store::upsert(tx.sql(), self.object_type, columns, r, false, &now).await? {
                Written::Inserted => report.inserted += 1,
                Written::Updated => report.updated += 1,
                Written::Unchanged => {}
            }
            if let Some(merged) = r
                .properties
                .get("hs_merged_object_ids")
                .and_then(Value::as_str)
            {
                for old in merged
                    .split(';')
                    .map(str::trim)
                    .filter(|o| !o.is_empty() && *o != r.id)
                {
                    report.updated +=
                        store::mark_merged(tx.sql(), self.object_type, old, &r.id, &now).await?;
                }
            }
        }
        state::save(tx.sql(), self.ctx.portal, self.object_type, st).await?;
        tx.commit().await?;
        self.ctx.committed(records.len());
        Ok(())
    }

    /// Marks archived records deleted and restores rows no longer archived.
    async fn deletes(
        &self,
        db: &mut Db,
        columns: &Columns,
        wanted: &[String],
        report: &mut TableReport,
    ) -> Result<(), SyncError> {
        // The archived ids of a portal are few next to its records; holding them is cheap.
        let mut archived = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .ctx
                .paced(|| {
                    self.ctx
                        .client
                        .list_archived(self.api_type, after.as_deref())
                })
                .await?;
            let tx = db.transaction().await?;
            let now = self.ctx.now_iso();
            for r in &page.records {
                archived.insert(r.id.clone());
                if store::exists(tx.sql(), self.object_type, &r.id).await? {
                    report.deleted +=
                        store::mark_deleted(tx.sql(), self.object_type, &r.id, &now).await?;
                } else {
                    store::upsert(tx.sql(), self.object_type, columns, r, true, &now).await?;
                    report.deleted += 1;
                }
            }
            tx.commit().await?;
            self.ctx.committed(page.records.len());
            match page.after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        let restored: Vec<String> = store::deleted_ids(db.sql(), self.object_type)
            .await?
            .into_iter()
            .filter(|id| !archived.contains(id))
            .collect();
        for chunk in restored.chunks(MAX_BATCH_INPUTS) {
            let records = self
                .ctx
                .paced(|| self.ctx.client.read_by_ids(self.api_type, chunk, wanted))
                .await?;
            let tx = db.transaction().await?;
            let now = self.ctx.now_iso();
            // A merged id answers its survivor under the survivor's id: only same-id answers
            // are restores.
            for r in records.iter().filter(|r| chunk.contains(&r.id)) {
                store::upsert(tx.sql(), self.object_type, columns, r, false, &now).await?;
                report.restored += 1;
            }
            tx.commit().await?;
            self.ctx.committed(records.len());
        }
        Ok(())
    }
}

/// A record's modified time (epoch ms), from the modified property or `updatedAt`.
fn modified_ms(r: &SourceRecord, modified: &str) -> Option<i64> {
    let text = r
        .properties
        .get(modified)
        .and_then(Value::as_str)
        .or(r.updated_at.as_deref())?;
    text.parse::<i64>()
        .ok()
        .or_else(|| parse_iso_date_ms(text).map(|ms| ms as i64))
}
