//! Profiles out: a portal's synced contacts and companies as Segment `identify` and `group`
//! calls, posted to any receiver of Segment's HTTP Tracking API (`/v1/batch`).
//!
//! - [`config`]: `[portals.profiles]`, resolved once; an export without an identity mapping is
//!   refused.
//! - [`calls`]: records → calls, checksums, message ids, batches (pure).
//! - [`send`]: the receiver, with retries.
//!
//! Which records are sent: every live record whose call differs from the one last accepted
//! for it, as `_profiles_export (portal, kind, record_id, checksum, sent_at)` in the sync's own
//! destination records (the first run sends everything). Each batch's rows are committed only
//! after the receiver accepted it, so a failed run sends the rest again, and the `messageId`
//! (from the checksum) lets the receiver drop what it already has. Every run reads every row
//! and hashes its call (no cursor to keep in step with the sync's; 11,000 records take about
//! 0.4 s, `bench/profiles.mjs`).
//!
//! A group call needs a user too (Segment's spec): it carries the identity of the company's
//! first associated contact (by id, as text) that has one; a company without such a contact is
//! skipped and counted with the records without an identity.

pub mod calls;
pub mod config;
pub mod send;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::source::db::{Db, DbError, Kind, Param, Sql};
use crate::sql_params;
use calls::Call;
pub use config::{Profiles, ProfilesSettings};
pub use send::{Receiver, SendError};

/// Calls per `/v1/batch` request: small enough that a receiver's retry of a failed request is
/// cheap, large enough that 1,000 profiles take a few requests.
pub const MAX_BATCH_CALLS: usize = 250;

/// A batch body's ceiling in bytes: under Segment's 500 KB whichever way a KB is counted.
pub const MAX_BATCH_BYTES: usize = 500_000;

/// What an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Calls accepted by the receiver (or printed, in a dry run), deletions included.
    pub sent: u64,
    /// Records without a value for the mapped identity: never sent.
    pub skipped_no_identity: u64,
    /// Records whose call alone is over Segment's 32 KB message limit: never sent.
    pub skipped_too_large: u64,
    /// Records whose call was accepted before, unchanged.
    pub unchanged: u64,
    /// Calls for deleted records (`on_delete = "trait"`), part of `sent`.
    pub deleted: u64,
    /// `/v1/batch` requests accepted.
    pub requests: u64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The destination.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The receiver refused a batch, or never answered.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// Where an export goes: the receiver, or (a dry run) a writer of the calls, one JSON per line.
pub enum Output<'a> {
    /// Send, and record what was accepted.
    Send(&'a Receiver),
    /// Print the calls; send and record nothing.
    DryRun(&'a mut dyn std::io::Write),
}

/// Exports `portal_id`'s changed records from `db` (a Source destination) as `profiles` says.
pub async fn export(
    db: &mut Db,
    portal_id: &str,
    profiles: &Profiles,
    output: Output<'_>,
) -> Result<ExportSummary, ExportError> {
    ensure_table(db.sql()).await?;
    let mut summary = ExportSummary::default();
    let mut calls = Vec::new();
    let contacts = records(db.sql(), "contacts").await?;
    let mut identities: HashMap<String, Map<String, Value>> = HashMap::new();
    for r in &contacts {
        let Some(identity) = calls::identity(&r.id, &r.properties, &profiles.identity) else {
            summary.skipped_no_identity += u64::from(!r.deleted || is_traced(profiles));
            continue;
        };
        if !r.deleted {
            identities.insert(r.id.clone(), identity.clone());
        }
        let mut content = Map::from_iter([("type".to_owned(), Value::from("identify"))]);
        content.extend(identity);
        content.insert("traits".into(), Value::Object(traits(r, &profiles.traits)));
        if !r.deleted || is_traced(profiles) {
            calls.push(calls::call(
                portal_id,
                "contacts",
                &r.id,
                Value::Object(content),
            ));
        }
    }
    if let Some(group_id) = &profiles.group_id {
        let members = members(db.sql()).await?;
        for r in records(db.sql(), "companies").await? {
            if r.deleted && !is_traced(profiles) {
                continue;
            }
            let user = members
                .get(&r.id)
                .and_then(|ids| ids.iter().find_map(|id| identities.get(id)));
            let (Some(group), Some(user)) = (calls::value(&r.id, &r.properties, group_id), user)
            else {
                summary.skipped_no_identity += 1;
                continue;
            };
            let mut content = Map::from_iter([("type".to_owned(), Value::from("group"))]);
            content.extend(user.clone());
            content.insert("groupId".into(), group.into());
            content.insert(
                "traits".into(),
                Value::Object(traits(&r, &profiles.group_traits)),
            );
            calls.push(calls::call(
                portal_id,
                "companies",
                &r.id,
                Value::Object(content),
            ));
        }
    }
    let sent = checksums(db.sql(), portal_id).await?;
    let mut changed = Vec::new();
    for c in calls {
        if sent.get(&(c.kind, c.record_id.clone())) == Some(&c.checksum) {
            summary.unchanged += 1;
        } else {
            changed.push(c);
        }
    }
    let (batches, too_large) = calls::batches(
        changed,
        MAX_BATCH_CALLS,
        MAX_BATCH_BYTES,
        crate::relay::MAX_MESSAGE_BYTES,
    );
    summary.skipped_too_large = too_large.len() as u64;
    summary.deleted = batches
        .iter()
        .flatten()
        .filter(|c| c.message["traits"].get(DELETED_TRAIT).is_some())
        .count() as u64;
    match output {
        Output::DryRun(out) => {
            for c in batches.iter().flatten() {
                // A closed stdout (a pager quit) is no failure of the export.
                let _ = writeln!(out, "{}", c.message);
                summary.sent += 1;
            }
        }
        Output::Send(receiver) => {
            for batch in &batches {
                receiver.send(calls::body(batch)).await?;
                record(db, portal_id, batch).await?;
                summary.sent += batch.len() as u64;
                summary.requests += 1;
            }
        }
    }
    Ok(summary)
}

/// The trait a deleted record's call carries (`on_delete = "trait"`).
pub const DELETED_TRAIT: &str = "hubspot_deleted";

fn is_traced(profiles: &Profiles) -> bool {
    profiles.on_delete == config::OnDelete::Trait
}

/// A record's traits; a deleted record's are `hubspot_deleted: true` alone.
fn traits(r: &Record, mapping: &config::Traits) -> Map<String, Value> {
    if r.deleted {
        return Map::from_iter([(DELETED_TRAIT.to_owned(), Value::Bool(true))]);
    }
    calls::traits(&r.properties, mapping)
}

/// One synced row.
struct Record {
    id: String,
    /// Archived, or merged into another record.
    deleted: bool,
    properties: Map<String, Value>,
}

/// Every row of `table` (none before its first sync).
async fn records(sql: Sql<'_>, table: &str) -> Result<Vec<Record>, DbError> {
    if !sql.table_exists(table).await? {
        return Ok(Vec::new());
    }
    let rows = sql
        .query(
            &format!(
                "SELECT id, is_deleted, merged_into, properties FROM {} ORDER BY id",
                crate::source::db::quote(table)
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Record {
                id: r.text(0)?,
                deleted: r.flag(1) || r.text(2).is_some(),
                properties: r
                    .text(3)
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// Each company's live associated contacts, in id order (as text).
async fn members(sql: Sql<'_>) -> Result<BTreeMap<String, Vec<String>>, DbError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !sql.table_exists("associations").await? {
        return Ok(out);
    }
    for r in sql
        .query(
            "SELECT from_id, to_id FROM associations
             WHERE from_type = 'companies' AND to_type = 'contacts' AND is_deleted = FALSE
             ORDER BY from_id, to_id",
            &[],
        )
        .await?
    {
        if let (Some(company), Some(contact)) = (r.text(0), r.text(1)) {
            out.entry(company).or_default().push(contact);
        }
    }
    Ok(out)
}

/// Creates `_profiles_export` if needed.
async fn ensure_table(sql: Sql<'_>) -> Result<(), DbError> {
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS _profiles_export (
            portal TEXT NOT NULL,
            kind TEXT NOT NULL,
            record_id TEXT NOT NULL,
            checksum TEXT NOT NULL,
            sent_at {time} NOT NULL,
            PRIMARY KEY (portal, kind, record_id)
        )",
        time = sql.dialect().ty(Kind::Time)
    ))
    .await
}

/// The checksum last accepted per (kind, record).
async fn checksums(
    sql: Sql<'_>,
    portal_id: &str,
) -> Result<HashMap<(&'static str, String), String>, DbError> {
    let mut out = HashMap::new();
    for r in sql
        .query(
            "SELECT kind, record_id, checksum FROM _profiles_export WHERE portal = ?1",
            sql_params![portal_id],
        )
        .await?
    {
        let kind = match r.text(0).as_deref() {
            Some("contacts") => "contacts",
            Some("companies") => "companies",
            _ => continue,
        };
        if let (Some(id), Some(sum)) = (r.text(1), r.text(2)) {
            out.insert((kind, id), sum);
        }
    }
    Ok(out)
}

/// Records an accepted batch, in one transaction.
async fn record(db: &mut Db, portal_id: &str, batch: &[Call]) -> Result<(), DbError> {
    let now = hubspot_core::date::format_iso_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    );
    let tx = db.transaction().await?;
    for c in batch {
        tx.sql()
            .execute(
                "INSERT INTO _profiles_export (portal, kind, record_id, checksum, sent_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (portal, kind, record_id) DO UPDATE SET
                    checksum = excluded.checksum, sent_at = excluded.sent_at",
                sql_params![
                    portal_id,
                    c.kind,
                    &c.record_id,
                    &c.checksum,
                    Param::time(Some(&now))
                ],
            )
            .await?;
    }
    tx.commit().await
}
