//! The Source's tables, written once for both destinations over [`Sql`] (see [`super::db`]).
//!
//! CRM object tables: `id` key, `created_at`, `updated_at`, `is_deleted`, `merged_into`,
//! `properties` (JSON), `received_at`, and one typed `property_<name>` column per synced
//! property (number → REAL / double precision, bool → INTEGER 0/1 / boolean, date/datetime →
//! ISO-8601 text / timestamptz, else text). Columns are added when the portal defines a new
//! property; none is ever dropped.

use std::collections::BTreeMap;

use hubspot_core::date::format_iso_ms;
use serde_json::Value;

use super::db::{DbError, Dialect, Kind, Param, Sql, quote, time_ms};
use crate::client::{AssociationLink, ContactList, CrmOwner, IdentityProfile, SourceRecord};
use crate::mapping::{PropertyDefinition, PropertyType};
use crate::sql_params;

/// What an upsert did to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// A new row.
    Inserted,
    /// An existing row that changed (a newer modified time, or deleted state).
    Updated,
    /// An existing row re-read unchanged (the trailing window re-reads on purpose); it is
    /// still rewritten, so columns added since are filled.
    Unchanged,
}

impl Written {
    /// What writing a row did, from the row it replaced (`None`: there was none) and whether
    /// that row already held what was written.
    pub fn from_before<T>(before: Option<T>, same: impl FnOnce(T) -> bool) -> Written {
        match before.map(same) {
            None => Written::Inserted,
            Some(true) => Written::Unchanged,
            Some(false) => Written::Updated,
        }
    }
}

/// A table's typed property columns, by property name.
pub type Columns = BTreeMap<String, PropertyType>;

/// The column kind of a property type.
fn kind(t: PropertyType) -> Kind {
    match t {
        PropertyType::Number => Kind::Float,
        PropertyType::Bool => Kind::Bool,
        PropertyType::Date | PropertyType::DateTime => Kind::Time,
        PropertyType::Text => Kind::Text,
    }
}

/// Creates `table` if needed and adds a column for each definition it lacks; answers the
/// table's property columns.
pub async fn ensure_table(
    sql: Sql<'_>,
    table: &str,
    definitions: &[PropertyDefinition],
) -> Result<Columns, DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} (
            id TEXT PRIMARY KEY,
            created_at {time},
            updated_at {time},
            is_deleted {deleted},
            merged_into TEXT,
            properties {json} NOT NULL,
            received_at {time} NOT NULL
        )",
        quote(table),
        time = d.ty(Kind::Time),
        deleted = d.deleted_flag(),
        json = d.ty(Kind::Json),
    ))
    .await?;
    let existing = sql.columns(table).await?;
    let mut columns = Columns::new();
    for def in definitions {
        let column = format!("property_{}", def.name);
        if !existing.contains(&column) {
            sql.batch(&d.add_column(&quote(table), &quote(&column), kind(def.kind)))
                .await?;
        }
        columns.insert(def.name.clone(), def.kind);
    }
    Ok(columns)
}

/// A property value as its column stores it.
fn typed(kind: PropertyType, value: Option<&Value>) -> Param {
    let text = match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    match kind {
        PropertyType::Number => Param::Float(text.and_then(|t| t.trim().parse::<f64>().ok())),
        PropertyType::Bool => Param::Bool(text.map(|t| t.eq_ignore_ascii_case("true"))),
        // HubSpot answers dates as ISO text in v3 and epoch ms elsewhere; store ISO either way.
        PropertyType::Date | PropertyType::DateTime => {
            Param::Time(text.map(|t| time_ms(&t).map_or(t, format_iso_ms)))
        }
        PropertyType::Text => Param::Text(text),
    }
}

/// Writes `record` as a live (`deleted` false) or archived row.
pub async fn upsert(
    sql: Sql<'_>,
    table: &str,
    columns: &Columns,
    record: &SourceRecord,
    deleted: bool,
    received_at: &str,
) -> Result<Written, DbError> {
    let before = sql
        .query_opt(
            &format!(
                "SELECT updated_at, is_deleted FROM {} WHERE id = ?1",
                quote(table)
            ),
            sql_params![&record.id],
        )
        .await?
        .map(|r| (r.text(0), r.flag(1)));
    let mut names = vec![
        "id".to_owned(),
        "created_at".into(),
        "updated_at".into(),
        "is_deleted".into(),
        "properties".into(),
        "received_at".into(),
    ];
    let mut values = vec![
        Param::from(&record.id),
        Param::time(record.created_at.as_deref()),
        Param::time(record.updated_at.as_deref()),
        Param::from(deleted),
        Param::Json(Value::Object(record.properties.clone())),
        Param::time(Some(received_at)),
    ];
    for (name, kind) in columns {
        names.push(format!("property_{name}"));
        values.push(typed(*kind, record.properties.get(name)));
    }
    let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
    let marks: Vec<String> = (1..=names.len()).map(|k| format!("?{k}")).collect();
    let updates: Vec<String> = quoted[1..]
        .iter()
        .map(|n| format!("{n} = excluded.{n}"))
        .collect();
    let statement = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
        quote(table),
        quoted.join(", "),
        marks.join(", "),
        updates.join(", ")
    );
    sql.execute(&statement, &values).await?;
    let now = sql.dialect().stored_time(record.updated_at.as_deref());
    Ok(Written::from_before(before, |(updated_at, was_deleted)| {
        updated_at == now && was_deleted == deleted
    }))
}

/// Whether `table` has a row for `id`.
pub async fn exists(sql: Sql<'_>, table: &str, id: &str) -> Result<bool, DbError> {
    Ok(sql
        .query_opt(
            &format!("SELECT 1 FROM {} WHERE id = ?1", quote(table)),
            sql_params![id],
        )
        .await?
        .is_some())
}

/// Marks archived ids `is_deleted`; answers how many rows changed.
pub async fn mark_deleted(
    sql: Sql<'_>,
    table: &str,
    id: &str,
    received_at: &str,
) -> Result<u64, DbError> {
    sql.execute(
        &format!(
            "UPDATE {} SET is_deleted = TRUE, received_at = ?2 WHERE id = ?1 AND is_deleted = FALSE",
            quote(table)
        ),
        sql_params![id, Param::time(Some(received_at))],
    )
    .await
}

/// Points the rows of ids merged into `survivor` at it.
pub async fn mark_merged(
    sql: Sql<'_>,
    table: &str,
    old_id: &str,
    survivor: &str,
    received_at: &str,
) -> Result<u64, DbError> {
    sql.execute(
        &format!(
            "UPDATE {} SET merged_into = ?2, received_at = ?3
             WHERE id = ?1 AND merged_into IS DISTINCT FROM ?2",
            quote(table)
        ),
        sql_params![old_id, survivor, Param::time(Some(received_at))],
    )
    .await
}

/// The first column of each row, as text.
async fn ids(sql: Sql<'_>, statement: &str, params: &[Param]) -> Result<Vec<String>, DbError> {
    Ok(sql
        .query(statement, params)
        .await?
        .iter()
        .filter_map(|r| r.text(0))
        .collect())
}

/// Ids of rows marked deleted (not merged away), to check whether they were restored.
pub async fn deleted_ids(sql: Sql<'_>, table: &str) -> Result<Vec<String>, DbError> {
    ids(
        sql,
        &format!(
            "SELECT id FROM {} WHERE is_deleted = TRUE AND merged_into IS NULL ORDER BY id",
            quote(table)
        ),
        &[],
    )
    .await
}

/// Rows in `table` (0 when it does not exist yet).
pub async fn row_count(sql: Sql<'_>, table: &str) -> Result<i64, DbError> {
    if !sql.table_exists(table).await? {
        return Ok(0);
    }
    Ok(sql
        .query_opt(&format!("SELECT count(*) FROM {}", quote(table)), &[])
        .await?
        .and_then(|r| r.int(0))
        .unwrap_or_default())
}

/// Creates `associations` if needed: one row per link type between two records, as read from
/// the `from` record's side.
pub async fn ensure_associations(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS associations (
            from_type TEXT NOT NULL,
            from_id TEXT NOT NULL,
            to_type TEXT NOT NULL,
            to_id TEXT NOT NULL,
            type_id {int} NOT NULL,
            label TEXT,
            is_deleted {deleted},
            received_at {time} NOT NULL,
            PRIMARY KEY (from_type, from_id, to_type, to_id, type_id)
        )",
        int = d.ty(Kind::Int),
        deleted = d.deleted_flag(),
        time = d.ty(Kind::Time),
    ))
    .await
}

/// What replacing a set of records' associations changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinksWritten {
    /// New rows.
    pub inserted: u64,
    /// Rows that came back (were `is_deleted`) or changed label.
    pub updated: u64,
    /// Rows newly marked `is_deleted`: no longer answered.
    pub deleted: u64,
}

/// Makes the `from_type → to_type` rows of `from_ids` what `links` says: answered links live,
/// every other row of those records `is_deleted`. `links` must be the complete answer for
/// `from_ids` (every page), or links still in HubSpot would be marked deleted.
pub async fn replace_links(
    sql: Sql<'_>,
    from_type: &str,
    to_type: &str,
    from_ids: &[String],
    links: &[AssociationLink],
    received_at: &str,
) -> Result<LinksWritten, DbError> {
    let mut written = LinksWritten::default();
    let mut live = std::collections::HashSet::new();
    for l in links {
        live.insert((l.from_id.as_str(), l.to_id.as_str(), l.type_id));
        let before = sql
            .query_opt(
                "SELECT label, is_deleted FROM associations WHERE from_type = ?1 AND from_id = ?2
                 AND to_type = ?3 AND to_id = ?4 AND type_id = ?5",
                sql_params![from_type, &l.from_id, to_type, &l.to_id, l.type_id],
            )
            .await?
            .map(|r| (r.text(0), r.flag(1)));
        match before {
            None => written.inserted += 1,
            Some((label, deleted)) if deleted || label != l.label => written.updated += 1,
            Some(_) => {}
        }
        sql.execute(
            "INSERT INTO associations (from_type, from_id, to_type, to_id, type_id, label,
                is_deleted, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, FALSE, ?7)
             ON CONFLICT (from_type, from_id, to_type, to_id, type_id) DO UPDATE SET
                label = excluded.label, is_deleted = FALSE, received_at = excluded.received_at",
            sql_params![
                from_type,
                &l.from_id,
                to_type,
                &l.to_id,
                l.type_id,
                &l.label,
                Param::time(Some(received_at))
            ],
        )
        .await?;
    }
    for from_id in from_ids {
        let held = sql
            .query(
                "SELECT to_id, type_id FROM associations
                 WHERE from_type = ?1 AND from_id = ?2 AND to_type = ?3 AND is_deleted = FALSE",
                sql_params![from_type, from_id, to_type],
            )
            .await?;
        for row in held {
            let (Some(to_id), Some(type_id)) = (row.text(0), row.int(1)) else {
                continue;
            };
            if live.contains(&(from_id.as_str(), to_id.as_str(), type_id)) {
                continue;
            }
            written.deleted += sql
                .execute(
                    "UPDATE associations SET is_deleted = TRUE, received_at = ?6
                     WHERE from_type = ?1 AND from_id = ?2 AND to_type = ?3 AND to_id = ?4
                     AND type_id = ?5",
                    sql_params![
                        from_type,
                        from_id,
                        to_type,
                        &to_id,
                        type_id,
                        Param::time(Some(received_at))
                    ],
                )
                .await?;
        }
    }
    Ok(written)
}

/// Up to `limit` ids of live rows of `table` after `after`, in id order: the full association
/// pass walks a table this way instead of holding its ids.
pub async fn live_ids_after(
    sql: Sql<'_>,
    table: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>, DbError> {
    ids(
        sql,
        &format!(
            "SELECT id FROM {} WHERE is_deleted = FALSE AND merged_into IS NULL AND id > ?1
             ORDER BY id LIMIT ?2",
            quote(table)
        ),
        sql_params![after, limit as i64],
    )
    .await
}

/// Creates `contact_lists` and `contact_list_memberships` if needed.
pub async fn ensure_lists(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS contact_lists (
            id TEXT PRIMARY KEY,
            name TEXT,
            processing_type TEXT,
            size {int},
            created_at {time},
            updated_at {time},
            is_deleted {deleted},
            received_at {time} NOT NULL
        );
        CREATE TABLE IF NOT EXISTS contact_list_memberships (
            list_id TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            added_at {time},
            is_deleted {deleted},
            received_at {time} NOT NULL,
            PRIMARY KEY (list_id, contact_id)
        )",
        int = d.ty(Kind::Int),
        deleted = d.deleted_flag(),
        time = d.ty(Kind::Time),
    ))
    .await
}

/// Writes `list` as a live row (a list answered again after being marked deleted comes back).
pub async fn upsert_list(
    sql: Sql<'_>,
    list: &ContactList,
    received_at: &str,
) -> Result<Written, DbError> {
    let before = sql
        .query_opt(
            "SELECT name, processing_type, size, updated_at, is_deleted
             FROM contact_lists WHERE id = ?1",
            sql_params![&list.id],
        )
        .await?
        .map(|r| (r.text(0), r.text(1), r.int(2), r.text(3), r.flag(4)));
    sql.execute(
        "INSERT INTO contact_lists (id, name, processing_type, size, created_at, updated_at,
            is_deleted, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, FALSE, ?7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
            processing_type = excluded.processing_type, size = excluded.size,
            created_at = excluded.created_at, updated_at = excluded.updated_at,
            is_deleted = FALSE, received_at = excluded.received_at",
        sql_params![
            &list.id,
            &list.name,
            &list.processing_type,
            list.size,
            Param::time(list.created_at.as_deref()),
            Param::time(list.updated_at.as_deref()),
            Param::time(Some(received_at))
        ],
    )
    .await?;
    let now = (
        list.name.clone(),
        list.processing_type.clone(),
        list.size,
        sql.dialect().stored_time(list.updated_at.as_deref()),
        false,
    );
    Ok(Written::from_before(before, |b| b == now))
}

/// Ids of the live rows of `contact_lists`, to find the lists HubSpot no longer answers.
pub async fn live_list_ids(sql: Sql<'_>) -> Result<Vec<String>, DbError> {
    ids(
        sql,
        "SELECT id FROM contact_lists WHERE is_deleted = FALSE ORDER BY id",
        &[],
    )
    .await
}

/// Marks list `id` deleted; answers whether it was live.
pub async fn mark_list_deleted(sql: Sql<'_>, id: &str, received_at: &str) -> Result<bool, DbError> {
    Ok(sql
        .execute(
            "UPDATE contact_lists SET is_deleted = TRUE, received_at = ?2
             WHERE id = ?1 AND is_deleted = FALSE",
            sql_params![id, Param::time(Some(received_at))],
        )
        .await?
        > 0)
}

/// Makes list `list_id`'s membership rows what `members` (`(contact id, added at)`) says:
/// answered members live, every other row of the list `is_deleted` (removed in HubSpot since).
/// `members` must be the list's complete answer (every page), or members still in the list
/// would be marked deleted.
pub async fn replace_memberships(
    sql: Sql<'_>,
    list_id: &str,
    members: &[(String, Option<String>)],
    received_at: &str,
) -> Result<LinksWritten, DbError> {
    let mut written = LinksWritten::default();
    let mut live = std::collections::HashSet::new();
    let dialect: Dialect = sql.dialect();
    for (contact_id, added_at) in members {
        live.insert(contact_id.as_str());
        let before = sql
            .query_opt(
                "SELECT added_at, is_deleted FROM contact_list_memberships
                 WHERE list_id = ?1 AND contact_id = ?2",
                sql_params![list_id, contact_id],
            )
            .await?
            .map(|r| (r.text(0), r.flag(1)));
        match before {
            None => written.inserted += 1,
            Some((at, deleted)) if deleted || at != dialect.stored_time(added_at.as_deref()) => {
                written.updated += 1
            }
            Some(_) => {}
        }
        sql.execute(
            "INSERT INTO contact_list_memberships (list_id, contact_id, added_at, is_deleted,
                received_at)
             VALUES (?1, ?2, ?3, FALSE, ?4)
             ON CONFLICT (list_id, contact_id) DO UPDATE SET added_at = excluded.added_at,
                is_deleted = FALSE, received_at = excluded.received_at",
            sql_params![
                list_id,
                contact_id,
                Param::time(added_at.as_deref()),
                Param::time(Some(received_at))
            ],
        )
        .await?;
    }
    let held = ids(
        sql,
        "SELECT contact_id FROM contact_list_memberships
         WHERE list_id = ?1 AND is_deleted = FALSE",
        sql_params![list_id],
    )
    .await?;
    for contact_id in held {
        if live.contains(contact_id.as_str()) {
            continue;
        }
        written.deleted += sql
            .execute(
                "UPDATE contact_list_memberships SET is_deleted = TRUE, received_at = ?3
                 WHERE list_id = ?1 AND contact_id = ?2",
                sql_params![list_id, &contact_id, Param::time(Some(received_at))],
            )
            .await?;
    }
    Ok(written)
}

/// Creates `owners` if needed.
pub async fn ensure_owners(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS owners (
            id TEXT PRIMARY KEY,
            email TEXT,
            first_name TEXT,
            last_name TEXT,
            user_id TEXT,
            created_at {time},
            updated_at {time},
            is_deleted {deleted},
            received_at {time} NOT NULL
        )",
        deleted = d.deleted_flag(),
        time = d.ty(Kind::Time),
    ))
    .await
}

/// Writes `owner`, `is_deleted` when HubSpot answers it archived.
pub async fn upsert_owner(
    sql: Sql<'_>,
    owner: &CrmOwner,
    received_at: &str,
) -> Result<Written, DbError> {
    let before = sql
        .query_opt(
            "SELECT updated_at, is_deleted FROM owners WHERE id = ?1",
            sql_params![&owner.id],
        )
        .await?
        .map(|r| (r.text(0), r.flag(1)));
    sql.execute(
        "INSERT INTO owners (id, email, first_name, last_name, user_id, created_at, updated_at,
            is_deleted, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET email = excluded.email,
            first_name = excluded.first_name, last_name = excluded.last_name,
            user_id = excluded.user_id, created_at = excluded.created_at,
            updated_at = excluded.updated_at, is_deleted = excluded.is_deleted,
            received_at = excluded.received_at",
        sql_params![
            &owner.id,
            &owner.email,
            &owner.first_name,
            &owner.last_name,
            &owner.user_id,
            Param::time(owner.created_at.as_deref()),
            Param::time(owner.updated_at.as_deref()),
            owner.archived,
            Param::time(Some(received_at))
        ],
    )
    .await?;
    let updated_at = sql.dialect().stored_time(owner.updated_at.as_deref());
    Ok(Written::from_before(before, |(before_at, deleted)| {
        before_at == updated_at && deleted == owner.archived
    }))
}

/// Creates `pipelines` and `pipeline_stages` if needed.
pub async fn ensure_pipelines(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS pipelines (
            id TEXT PRIMARY KEY,
            object_type TEXT NOT NULL,
            label TEXT,
            display_order {int},
            created_at {time},
            updated_at {time},
            is_deleted {deleted},
            received_at {time} NOT NULL
        );
        CREATE TABLE IF NOT EXISTS pipeline_stages (
            id TEXT PRIMARY KEY,
            pipeline_id TEXT NOT NULL,
            object_type TEXT NOT NULL,
            label TEXT,
            display_order {int},
            metadata {json},
            created_at {time},
            updated_at {time},
            is_deleted {deleted},
            received_at {time} NOT NULL
        )",
        int = d.ty(Kind::Int),
        json = d.ty(Kind::Json),
        deleted = d.deleted_flag(),
        time = d.ty(Kind::Time),
    ))
    .await
}

/// Writes one pipeline of `object_type` as `GET /crm/v3/pipelines` answers it, and its stages;
/// `archived` ones are `is_deleted`.
pub async fn upsert_pipeline(
    sql: Sql<'_>,
    object_type: &str,
    pipeline: &Value,
    received_at: &str,
) -> Result<(), DbError> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let Some(id) = text(&pipeline["id"]) else {
        return Ok(());
    };
    sql.execute(
        "INSERT INTO pipelines (id, object_type, label, display_order, created_at, updated_at,
            is_deleted, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET object_type = excluded.object_type,
            label = excluded.label, display_order = excluded.display_order,
            created_at = excluded.created_at, updated_at = excluded.updated_at,
            is_deleted = excluded.is_deleted, received_at = excluded.received_at",
        sql_params![
            &id,
            object_type,
            text(&pipeline["label"]),
            pipeline["displayOrder"].as_i64(),
            Param::Time(text(&pipeline["createdAt"])),
            Param::Time(text(&pipeline["updatedAt"])),
            pipeline["archived"].as_bool().unwrap_or(false),
            Param::time(Some(received_at))
        ],
    )
    .await?;
    for stage in pipeline["stages"].as_array().into_iter().flatten() {
        let Some(stage_id) = text(&stage["id"]) else {
            continue;
        };
        sql.execute(
            "INSERT INTO pipeline_stages (id, pipeline_id, object_type, label, display_order,
                metadata, created_at, updated_at, is_deleted, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (id) DO UPDATE SET pipeline_id = excluded.pipeline_id,
                object_type = excluded.object_type, label = excluded.label,
                display_order = excluded.display_order, metadata = excluded.metadata,
                created_at = excluded.created_at, updated_at = excluded.updated_at,
                is_deleted = excluded.is_deleted, received_at = excluded.received_at",
            sql_params![
                &stage_id,
                &id,
                object_type,
                text(&stage["label"]),
                stage["displayOrder"].as_i64(),
                Param::Json(stage["metadata"].clone()),
                Param::Time(text(&stage["createdAt"])),
                Param::Time(text(&stage["updatedAt"])),
                stage["archived"].as_bool().unwrap_or(false),
                Param::time(Some(received_at))
            ],
        )
        .await?;
    }
    Ok(())
}

/// Creates `contact_identity_profiles` (one row per profile, keyed by the contact it was made
/// for, pointing at the contact that holds it now) and `contact_identities` if needed, with the
/// index that finds an address case-insensitively (on `lower(value)`, which both destinations
/// index; SQLite's `COLLATE NOCASE` is its own).
pub async fn ensure_identities(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS contact_identity_profiles (
            contact_id TEXT PRIMARY KEY,
            canonical_contact_id TEXT NOT NULL,
            saved_at {time},
            received_at {time} NOT NULL
        );
        CREATE TABLE IF NOT EXISTS contact_identities (
            contact_id TEXT NOT NULL,
            type TEXT NOT NULL,
            value TEXT NOT NULL,
            is_primary {bool} NOT NULL,
            is_secondary {bool} NOT NULL,
            timestamp {time},
            is_deleted {deleted},
            received_at {time} NOT NULL,
            PRIMARY KEY (contact_id, type, value)
        );
        CREATE INDEX IF NOT EXISTS contact_identities_lower_value
            ON contact_identities (lower(value))",
        time = d.ty(Kind::Time),
        bool = d.ty(Kind::Bool),
        deleted = d.deleted_flag(),
    ))
    .await
}

/// Makes `profile`'s rows what HubSpot answered: the profile row (re)pointed at the contact that
/// holds it, its identities live, and every other identity of that profile `is_deleted`.
/// `profile` must be the complete answer for its vid.
pub async fn replace_identities(
    sql: Sql<'_>,
    profile: &IdentityProfile,
    received_at: &str,
) -> Result<LinksWritten, DbError> {
    let mut written = LinksWritten::default();
    sql.execute(
        "INSERT INTO contact_identity_profiles (contact_id, canonical_contact_id, saved_at,
            received_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (contact_id) DO UPDATE SET canonical_contact_id = excluded.canonical_contact_id,
            saved_at = excluded.saved_at, received_at = excluded.received_at",
        sql_params![
            &profile.vid,
            &profile.canonical_vid,
            Param::Time(profile.saved_at_ms.map(format_iso_ms)),
            Param::time(Some(received_at))
        ],
    )
    .await?;
    let mut live = std::collections::HashSet::new();
    for i in &profile.identities {
        live.insert((i.kind.as_str(), i.value.as_str()));
        // Both destinations read a time back as this text.
        let timestamp = i.timestamp_ms.map(format_iso_ms);
        let before = sql
            .query_opt(
                "SELECT is_primary, is_secondary, timestamp, is_deleted FROM contact_identities
                 WHERE contact_id = ?1 AND type = ?2 AND value = ?3",
                sql_params![&profile.vid, &i.kind, &i.value],
            )
            .await?
            .map(|r| (r.flag(0), r.flag(1), r.text(2), r.flag(3)));
        match before {
            None => written.inserted += 1,
            Some(b) if b != (i.is_primary, i.is_secondary, timestamp.clone(), false) => {
                written.updated += 1;
            }
            Some(_) => {}
        }
        sql.execute(
            "INSERT INTO contact_identities (contact_id, type, value, is_primary, is_secondary,
                timestamp, is_deleted, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, FALSE, ?7)
             ON CONFLICT (contact_id, type, value) DO UPDATE SET
                is_primary = excluded.is_primary, is_secondary = excluded.is_secondary,
                timestamp = excluded.timestamp, is_deleted = FALSE,
                received_at = excluded.received_at",
            sql_params![
                &profile.vid,
                &i.kind,
                &i.value,
                i.is_primary,
                i.is_secondary,
                Param::Time(timestamp),
                Param::time(Some(received_at))
            ],
        )
        .await?;
    }
    let held = sql
        .query(
            "SELECT type, value FROM contact_identities
             WHERE contact_id = ?1 AND is_deleted = FALSE",
            sql_params![&profile.vid],
        )
        .await?;
    for row in held {
        let (Some(kind), Some(value)) = (row.text(0), row.text(1)) else {
            continue;
        };
        if live.contains(&(kind.as_str(), value.as_str())) {
            continue;
        }
        written.deleted += sql
            .execute(
                "UPDATE contact_identities SET is_deleted = TRUE, received_at = ?4
                 WHERE contact_id = ?1 AND type = ?2 AND value = ?3",
                sql_params![&profile.vid, &kind, &value, Param::time(Some(received_at))],
            )
            .await?;
    }
    Ok(written)
}

/// The contact an email address belongs to now, by the synced identities (primary or
/// secondary, case-insensitive; a merged-away contact's address answers its survivor).
pub async fn contact_for_email(sql: Sql<'_>, email: &str) -> Result<Option<String>, DbError> {
    Ok(sql
        .query_opt(
            "SELECT p.canonical_contact_id FROM contact_identities i
             JOIN contact_identity_profiles p ON p.contact_id = i.contact_id
             WHERE lower(i.value) = lower(?1) AND i.type = 'EMAIL' AND i.is_deleted = FALSE
             ORDER BY i.contact_id = p.canonical_contact_id DESC, i.is_primary DESC
             LIMIT 1",
            sql_params![email],
        )
        .await?
        .and_then(|r| r.text(0)))
}

/// Creates `form_submissions` if needed, keyed `(form_id, submitted_at, submission_key)`.
pub async fn ensure_form_submissions(sql: Sql<'_>) -> Result<(), DbError> {
    let d = sql.dialect();
    // `values` is a keyword in both dialects: always quoted.
    sql.batch(&format!(
        "CREATE TABLE IF NOT EXISTS form_submissions (
            form_id TEXT NOT NULL,
            submitted_at {time} NOT NULL,
            submission_key TEXT NOT NULL,
            form_name TEXT,
            page_url TEXT,
            page_title TEXT,
            \"values\" {json} NOT NULL,
            contact_email TEXT,
            contact_id TEXT,
            received_at {time} NOT NULL,
            PRIMARY KEY (form_id, submitted_at, submission_key)
        )",
        time = d.ty(Kind::Time),
        json = d.ty(Kind::Json),
    ))
    .await
}

/// One `form_submissions` row.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmissionRow {
    /// The form's guid.
    pub form_id: String,
    /// ISO-8601.
    pub submitted_at: String,
    /// Stands for the submission's content (see `source::forms`).
    pub submission_key: String,
    /// The form's name when read.
    pub form_name: Option<String>,
    /// The page it was submitted on.
    pub page_url: Option<String>,
    /// That page's title, when HubSpot answers one.
    pub page_title: Option<String>,
    /// Field name → value (a JSON object).
    pub values: Value,
    /// The `email` field's value.
    pub contact_email: Option<String>,
    /// The contact that email belongs to, when known.
    pub contact_id: Option<String>,
}

/// Writes a submission. The key stands for its content, so an existing row only changes when
/// the form was renamed or its contact became known.
pub async fn upsert_submission(
    sql: Sql<'_>,
    row: &SubmissionRow,
    received_at: &str,
) -> Result<Written, DbError> {
    let before = sql
        .query_opt(
            "SELECT form_name, contact_id FROM form_submissions
             WHERE form_id = ?1 AND submitted_at = ?2 AND submission_key = ?3",
            sql_params![
                &row.form_id,
                Param::time(Some(&row.submitted_at)),
                &row.submission_key
            ],
        )
        .await?
        .map(|r| (r.text(0), r.text(1)));
    // A contact found once stays: a later read that cannot place the email keeps it.
    sql.execute(
        "INSERT INTO form_submissions (form_id, submitted_at, submission_key, form_name,
            page_url, page_title, \"values\", contact_email, contact_id, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (form_id, submitted_at, submission_key) DO UPDATE SET
            form_name = excluded.form_name, page_url = excluded.page_url,
            page_title = excluded.page_title, \"values\" = excluded.\"values\",
            contact_email = excluded.contact_email,
            contact_id = coalesce(excluded.contact_id, form_submissions.contact_id),
            received_at = excluded.received_at",
        sql_params![
            &row.form_id,
            Param::time(Some(&row.submitted_at)),
            &row.submission_key,
            &row.form_name,
            &row.page_url,
            &row.page_title,
            Param::Json(row.values.clone()),
            &row.contact_email,
            &row.contact_id,
            Param::time(Some(received_at))
        ],
    )
    .await?;
    Ok(Written::from_before(before, |(name, contact)| {
        name == row.form_name && (row.contact_id.is_none() || contact == row.contact_id)
    }))
}
