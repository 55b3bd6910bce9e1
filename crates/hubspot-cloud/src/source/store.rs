//! The SQLite tables of CRM objects: `id` key, `created_at`, `updated_at`, `is_deleted`,
//! `merged_into`, `properties` (JSON), `received_at`, and one typed `property_<name>` column per
//! synced property (number → REAL, bool → INTEGER, date/datetime → ISO-8601 text, else TEXT).
//! Columns are added when the portal defines a new property; none is ever dropped.

use std::collections::BTreeMap;

use hubspot_core::date::{format_iso_ms, parse_iso_date_ms};
use rusqlite::{Connection, OptionalExtension, ToSql, params};
use serde_json::Value;

use crate::client::{AssociationLink, ContactList, CrmOwner, IdentityProfile, SourceRecord};
use crate::mapping::{PropertyDefinition, PropertyType};

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

/// A table's typed property columns, by property name.
pub type Columns = BTreeMap<String, PropertyType>;

/// Quotes an SQL identifier (property names come from the portal).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_type(kind: PropertyType) -> &'static str {
    match kind {
        PropertyType::Number => "REAL",
        PropertyType::Bool => "INTEGER",
        PropertyType::Date | PropertyType::DateTime | PropertyType::Text => "TEXT",
    }
}

/// Creates `table` if needed and adds a column for each definition it lacks; answers the
/// table's property columns.
pub fn ensure_table(
    conn: &Connection,
    table: &str,
    definitions: &[PropertyDefinition],
) -> rusqlite::Result<Columns> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} (
            id TEXT PRIMARY KEY,
            created_at TEXT,
            updated_at TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            merged_into TEXT,
            properties TEXT NOT NULL,
            received_at TEXT NOT NULL
        )",
        quote(table)
    ))?;
    let mut existing = std::collections::BTreeSet::new();
    {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quote(table)))?;
        let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
        for n in names {
            existing.insert(n?);
        }
    }
    let mut columns = Columns::new();
    for d in definitions {
        let column = format!("property_{}", d.name);
        if !existing.contains(&column) {
            conn.execute_batch(&format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                quote(table),
                quote(&column),
                sql_type(d.kind)
            ))?;
        }
        columns.insert(d.name.clone(), d.kind);
    }
    Ok(columns)
}

/// A property value as its column stores it.
fn typed(kind: PropertyType, value: &Value) -> Option<Box<dyn ToSql>> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) if s.is_empty() => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match kind {
        PropertyType::Number => Box::new(text.trim().parse::<f64>().ok()?),
        PropertyType::Bool => Box::new(i64::from(text.eq_ignore_ascii_case("true"))),
        // HubSpot answers dates as ISO text in v3 and epoch ms elsewhere; store ISO either way.
        PropertyType::Date | PropertyType::DateTime => match text.trim().parse::<i64>() {
            Ok(ms) => Box::new(format_iso_ms(ms)),
            Err(_) => {
                Box::new(parse_iso_date_ms(&text).map_or(text, |ms| format_iso_ms(ms as i64)))
            }
        },
        PropertyType::Text => Box::new(text),
    })
}

/// Writes `record` as a live (`deleted` false) or archived row.
pub fn upsert(
    conn: &Connection,
    table: &str,
    columns: &Columns,
    record: &SourceRecord,
    deleted: bool,
    received_at: &str,
) -> rusqlite::Result<Written> {
    let before: Option<(Option<String>, bool)> = conn
        .query_row(
            &format!(
                "SELECT updated_at, is_deleted FROM {} WHERE id = ?1",
                quote(table)
            ),
            [&record.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let mut names = vec![
        "id".to_owned(),
        "created_at".into(),
        "updated_at".into(),
        "is_deleted".into(),
        "properties".into(),
        "received_at".into(),
    ];
    let mut values: Vec<Box<dyn ToSql>> = vec![
        Box::new(record.id.clone()),
        Box::new(record.created_at.clone()),
        Box::new(record.updated_at.clone()),
        Box::new(i64::from(deleted)),
        Box::new(Value::Object(record.properties.clone()).to_string()),
        Box::new(received_at.to_owned()),
    ];
    for (name, kind) in columns {
        names.push(format!("property_{name}"));
        values.push(
            record
                .properties
                .get(name)
                .and_then(|v| typed(*kind, v))
                .unwrap_or_else(|| Box::new(rusqlite::types::Null)),
        );
    }
    let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
    let marks: Vec<String> = (1..=names.len()).map(|k| format!("?{k}")).collect();
    let updates: Vec<String> = quoted[1..]
        .iter()
        .map(|n| format!("{n} = excluded.{n}"))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
        quote(table),
        quoted.join(", "),
        marks.join(", "),
        updates.join(", ")
    );
    let refs: Vec<&dyn ToSql> = values.iter().map(|v| v.as_ref()).collect();
    conn.execute(&sql, refs.as_slice())?;
    Ok(match before {
        None => Written::Inserted,
        Some((updated_at, was_deleted))
            if updated_at == record.updated_at && was_deleted == deleted =>
        {
            Written::Unchanged
        }
        Some(_) => Written::Updated,
    })
}

/// Whether `table` has a row for `id`.
pub fn exists(conn: &Connection, table: &str, id: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            &format!("SELECT 1 FROM {} WHERE id = ?1", quote(table)),
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Marks archived ids `is_deleted`; answers how many rows changed.
pub fn mark_deleted(
    conn: &Connection,
    table: &str,
    id: &str,
    received_at: &str,
) -> rusqlite::Result<usize> {
    conn.execute(
        &format!(
            "UPDATE {} SET is_deleted = 1, received_at = ?2 WHERE id = ?1 AND is_deleted = 0",
            quote(table)
        ),
        params![id, received_at],
    )
}

/// Points the rows of ids merged into `survivor` at it.
pub fn mark_merged(
    conn: &Connection,
    table: &str,
    old_id: &str,
    survivor: &str,
    received_at: &str,
) -> rusqlite::Result<usize> {
    conn.execute(
        &format!(
            "UPDATE {} SET merged_into = ?2, received_at = ?3
             WHERE id = ?1 AND merged_into IS NOT ?2",
            quote(table)
        ),
        params![old_id, survivor, received_at],
    )
}

/// Ids of rows marked deleted (not merged away), to check whether they were restored.
pub fn deleted_ids(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id FROM {} WHERE is_deleted = 1 AND merged_into IS NULL ORDER BY id",
        quote(table)
    ))?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    ids.collect()
}

/// Rows in `table` (0 when it does not exist yet).
pub fn row_count(conn: &Connection, table: &str) -> rusqlite::Result<i64> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    conn.query_row(&format!("SELECT count(*) FROM {}", quote(table)), [], |r| {
        r.get(0)
    })
}

/// Creates `associations` if needed: one row per link type between two records, as read from
/// the `from` record's side.
pub fn ensure_associations(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS associations (
            from_type TEXT NOT NULL,
            from_id TEXT NOT NULL,
            to_type TEXT NOT NULL,
            to_id TEXT NOT NULL,
            type_id INTEGER NOT NULL,
            label TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL,
            PRIMARY KEY (from_type, from_id, to_type, to_id, type_id)
        )",
    )
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
pub fn replace_links(
    conn: &Connection,
    from_type: &str,
    to_type: &str,
    from_ids: &[String],
    links: &[AssociationLink],
    received_at: &str,
) -> rusqlite::Result<LinksWritten> {
    let mut written = LinksWritten::default();
    let mut live = std::collections::HashSet::new();
    for l in links {
        live.insert((l.from_id.as_str(), l.to_id.as_str(), l.type_id));
        let before: Option<(Option<String>, bool)> = conn
            .query_row(
                "SELECT label, is_deleted FROM associations WHERE from_type = ?1 AND from_id = ?2
                 AND to_type = ?3 AND to_id = ?4 AND type_id = ?5",
                params![from_type, l.from_id, to_type, l.to_id, l.type_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match before {
            None => written.inserted += 1,
            Some((label, deleted)) if deleted || label != l.label => written.updated += 1,
            Some(_) => {}
        }
        conn.execute(
            "INSERT INTO associations (from_type, from_id, to_type, to_id, type_id, label,
                is_deleted, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)
             ON CONFLICT (from_type, from_id, to_type, to_id, type_id) DO UPDATE SET
                label = excluded.label, is_deleted = 0, received_at = excluded.received_at",
            params![
                from_type,
                l.from_id,
                to_type,
                l.to_id,
                l.type_id,
                l.label,
                received_at
            ],
        )?;
    }
    let mut stmt = conn.prepare(
        "SELECT to_id, type_id FROM associations
         WHERE from_type = ?1 AND from_id = ?2 AND to_type = ?3 AND is_deleted = 0",
    )?;
    for from_id in from_ids {
        let held: Vec<(String, i64)> = stmt
            .query_map(params![from_type, from_id, to_type], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        for (to_id, type_id) in held {
            if live.contains(&(from_id.as_str(), to_id.as_str(), type_id)) {
                continue;
            }
            written.deleted += conn.execute(
                "UPDATE associations SET is_deleted = 1, received_at = ?6
                 WHERE from_type = ?1 AND from_id = ?2 AND to_type = ?3 AND to_id = ?4
                 AND type_id = ?5",
                params![from_type, from_id, to_type, to_id, type_id, received_at],
            )? as u64;
        }
    }
    Ok(written)
}

/// Up to `limit` ids of live rows of `table` after `after`, in id order: the full association
/// pass walks a table this way instead of holding its ids.
pub fn live_ids_after(
    conn: &Connection,
    table: &str,
    after: &str,
    limit: usize,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id FROM {} WHERE is_deleted = 0 AND merged_into IS NULL AND id > ?1
         ORDER BY id LIMIT ?2",
        quote(table)
    ))?;
    let ids = stmt.query_map(params![after, limit as i64], |r| r.get(0))?;
    ids.collect()
}

/// Creates `contact_lists` and `contact_list_memberships` if needed.
pub fn ensure_lists(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS contact_lists (
            id TEXT PRIMARY KEY,
            name TEXT,
            processing_type TEXT,
            size INTEGER,
            created_at TEXT,
            updated_at TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS contact_list_memberships (
            list_id TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            added_at TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL,
            PRIMARY KEY (list_id, contact_id)
        )",
    )
}

/// Writes `list` as a live row (a list answered again after being marked deleted comes back).
pub fn upsert_list(
    conn: &Connection,
    list: &ContactList,
    received_at: &str,
) -> rusqlite::Result<Written> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        bool,
    );
    let before: Option<Row> = conn
        .query_row(
            "SELECT name, processing_type, size, updated_at, is_deleted
             FROM contact_lists WHERE id = ?1",
            [&list.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    conn.execute(
        "INSERT INTO contact_lists (id, name, processing_type, size, created_at, updated_at,
            is_deleted, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
            processing_type = excluded.processing_type, size = excluded.size,
            created_at = excluded.created_at, updated_at = excluded.updated_at, is_deleted = 0,
            received_at = excluded.received_at",
        params![
            list.id,
            list.name,
            list.processing_type,
            list.size,
            list.created_at,
            list.updated_at,
            received_at
        ],
    )?;
    let now = (
        list.name.clone(),
        list.processing_type.clone(),
        list.size,
        list.updated_at.clone(),
        false,
    );
    Ok(match before {
        None => Written::Inserted,
        Some(b) if b == now => Written::Unchanged,
        Some(_) => Written::Updated,
    })
}

/// Ids of the live rows of `contact_lists`, to find the lists HubSpot no longer answers.
pub fn live_list_ids(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM contact_lists WHERE is_deleted = 0 ORDER BY id")?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    ids.collect()
}

/// Marks list `id` deleted; answers whether it was live.
pub fn mark_list_deleted(conn: &Connection, id: &str, received_at: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE contact_lists SET is_deleted = 1, received_at = ?2 WHERE id = ?1 AND is_deleted = 0",
        params![id, received_at],
    )? > 0)
}

/// Makes list `list_id`'s membership rows what `members` (`(contact id, added at)`) says:
/// answered members live, every other row of the list `is_deleted` (removed in HubSpot since).
/// `members` must be the list's complete answer (every page), or members still in the list
/// would be marked deleted.
pub fn replace_memberships(
    conn: &Connection,
    list_id: &str,
    members: &[(String, Option<String>)],
    received_at: &str,
) -> rusqlite::Result<LinksWritten> {
    let mut written = LinksWritten::default();
    let mut live = std::collections::HashSet::new();
    for (contact_id, added_at) in members {
        live.insert(contact_id.as_str());
        let before: Option<(Option<String>, bool)> = conn
            .query_row(
                "SELECT added_at, is_deleted FROM contact_list_memberships
                 WHERE list_id = ?1 AND contact_id = ?2",
                params![list_id, contact_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match before {
            None => written.inserted += 1,
            Some((at, deleted)) if deleted || at != *added_at => written.updated += 1,
            Some(_) => {}
        }
        conn.execute(
            "INSERT INTO contact_list_memberships (list_id, contact_id, added_at, is_deleted,
                received_at)
             VALUES (?1, ?2, ?3, 0, ?4)
             ON CONFLICT (list_id, contact_id) DO UPDATE SET added_at = excluded.added_at,
                is_deleted = 0, received_at = excluded.received_at",
            params![list_id, contact_id, added_at, received_at],
        )?;
    }
    let held: Vec<String> = conn
        .prepare(
            "SELECT contact_id FROM contact_list_memberships
             WHERE list_id = ?1 AND is_deleted = 0",
        )?
        .query_map([list_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for contact_id in held {
        if live.contains(contact_id.as_str()) {
            continue;
        }
        written.deleted += conn.execute(
            "UPDATE contact_list_memberships SET is_deleted = 1, received_at = ?3
             WHERE list_id = ?1 AND contact_id = ?2",
            params![list_id, contact_id, received_at],
        )? as u64;
    }
    Ok(written)
}

/// Creates `owners` if needed.
pub fn ensure_owners(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS owners (
            id TEXT PRIMARY KEY,
            email TEXT,
            first_name TEXT,
            last_name TEXT,
            user_id TEXT,
            created_at TEXT,
            updated_at TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL
        )",
    )
}

/// Writes `owner`, `is_deleted` when HubSpot answers it archived.
pub fn upsert_owner(
    conn: &Connection,
    owner: &CrmOwner,
    received_at: &str,
) -> rusqlite::Result<Written> {
    let before: Option<(Option<String>, bool)> = conn
        .query_row(
            "SELECT updated_at, is_deleted FROM owners WHERE id = ?1",
            [&owner.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    conn.execute(
        "INSERT INTO owners (id, email, first_name, last_name, user_id, created_at, updated_at,
            is_deleted, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET email = excluded.email,
            first_name = excluded.first_name, last_name = excluded.last_name,
            user_id = excluded.user_id, created_at = excluded.created_at,
            updated_at = excluded.updated_at, is_deleted = excluded.is_deleted,
            received_at = excluded.received_at",
        params![
            owner.id,
            owner.email,
            owner.first_name,
            owner.last_name,
            owner.user_id,
            owner.created_at,
            owner.updated_at,
            owner.archived,
            received_at
        ],
    )?;
    Ok(match before {
        None => Written::Inserted,
        Some((updated_at, deleted))
            if updated_at == owner.updated_at && deleted == owner.archived =>
        {
            Written::Unchanged
        }
        Some(_) => Written::Updated,
    })
}

/// Creates `pipelines` and `pipeline_stages` if needed.
pub fn ensure_pipelines(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS pipelines (
            id TEXT PRIMARY KEY,
            object_type TEXT NOT NULL,
            label TEXT,
            display_order INTEGER,
            created_at TEXT,
            updated_at TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS pipeline_stages (
            id TEXT PRIMARY KEY,
            pipeline_id TEXT NOT NULL,
            object_type TEXT NOT NULL,
            label TEXT,
            display_order INTEGER,
            metadata TEXT,
            created_at TEXT,
            updated_at TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL
        )",
    )
}

/// Writes one pipeline of `object_type` as `GET /crm/v3/pipelines` answers it, and its stages;
/// `archived` ones are `is_deleted`.
pub fn upsert_pipeline(
    conn: &Connection,
    object_type: &str,
    pipeline: &Value,
    received_at: &str,
) -> rusqlite::Result<()> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let Some(id) = text(&pipeline["id"]) else {
        return Ok(());
    };
    conn.execute(
        "INSERT INTO pipelines (id, object_type, label, display_order, created_at, updated_at,
            is_deleted, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET object_type = excluded.object_type,
            label = excluded.label, display_order = excluded.display_order,
            created_at = excluded.created_at, updated_at = excluded.updated_at,
            is_deleted = excluded.is_deleted, received_at = excluded.received_at",
        params![
            id,
            object_type,
            text(&pipeline["label"]),
            pipeline["displayOrder"].as_i64(),
            text(&pipeline["createdAt"]),
            text(&pipeline["updatedAt"]),
            pipeline["archived"].as_bool().unwrap_or(false),
            received_at
        ],
    )?;
    for stage in pipeline["stages"].as_array().into_iter().flatten() {
        let Some(stage_id) = text(&stage["id"]) else {
            continue;
        };
        conn.execute(
            "INSERT INTO pipeline_stages (id, pipeline_id, object_type, label, display_order,
                metadata, created_at, updated_at, is_deleted, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (id) DO UPDATE SET pipeline_id = excluded.pipeline_id,
                object_type = excluded.object_type, label = excluded.label,
                display_order = excluded.display_order, metadata = excluded.metadata,
                created_at = excluded.created_at, updated_at = excluded.updated_at,
                is_deleted = excluded.is_deleted, received_at = excluded.received_at",
            params![
                stage_id,
                id,
                object_type,
                text(&stage["label"]),
                stage["displayOrder"].as_i64(),
                stage["metadata"].to_string(),
                text(&stage["createdAt"]),
                text(&stage["updatedAt"]),
                stage["archived"].as_bool().unwrap_or(false),
                received_at
            ],
        )?;
    }
    Ok(())
}

/// Creates `contact_identity_profiles` (one row per profile, keyed by the contact it was made
/// for, pointing at the contact that holds it now) and `contact_identities` if needed.
pub fn ensure_identities(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS contact_identity_profiles (
            contact_id TEXT PRIMARY KEY,
            canonical_contact_id TEXT NOT NULL,
            saved_at TEXT,
            received_at TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS contact_identities (
            contact_id TEXT NOT NULL,
            type TEXT NOT NULL,
            value TEXT NOT NULL,
            is_primary INTEGER NOT NULL,
            is_secondary INTEGER NOT NULL,
            timestamp TEXT,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL,
            PRIMARY KEY (contact_id, type, value)
        );
        CREATE INDEX IF NOT EXISTS contact_identities_value
            ON contact_identities (value COLLATE NOCASE)",
    )
}

/// Makes `profile`'s rows what HubSpot answered: the profile row (re)pointed at the contact that
/// holds it, its identities live, and every other identity of that profile `is_deleted`.
/// `profile` must be the complete answer for its vid.
pub fn replace_identities(
    conn: &Connection,
    profile: &IdentityProfile,
    received_at: &str,
) -> rusqlite::Result<LinksWritten> {
    let mut written = LinksWritten::default();
    conn.execute(
        "INSERT INTO contact_identity_profiles (contact_id, canonical_contact_id, saved_at,
            received_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (contact_id) DO UPDATE SET canonical_contact_id = excluded.canonical_contact_id,
            saved_at = excluded.saved_at, received_at = excluded.received_at",
        params![
            profile.vid,
            profile.canonical_vid,
            profile.saved_at_ms.map(format_iso_ms),
            received_at
        ],
    )?;
    let mut live = std::collections::HashSet::new();
    for i in &profile.identities {
        live.insert((i.kind.as_str(), i.value.as_str()));
        let timestamp = i.timestamp_ms.map(format_iso_ms);
        let before: Option<(bool, bool, Option<String>, bool)> = conn
            .query_row(
                "SELECT is_primary, is_secondary, timestamp, is_deleted FROM contact_identities
                 WHERE contact_id = ?1 AND type = ?2 AND value = ?3",
                params![profile.vid, i.kind, i.value],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        match before {
            None => written.inserted += 1,
            Some(b) if b != (i.is_primary, i.is_secondary, timestamp.clone(), false) => {
                written.updated += 1;
            }
            Some(_) => {}
        }
        conn.execute(
            "INSERT INTO contact_identities (contact_id, type, value, is_primary, is_secondary,
                timestamp, is_deleted, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)
             ON CONFLICT (contact_id, type, value) DO UPDATE SET
                is_primary = excluded.is_primary, is_secondary = excluded.is_secondary,
                timestamp = excluded.timestamp, is_deleted = 0, received_at = excluded.received_at",
            params![
                profile.vid,
                i.kind,
                i.value,
                i.is_primary,
                i.is_secondary,
                timestamp,
                received_at
            ],
        )?;
    }
    let held: Vec<(String, String)> = conn
        .prepare(
            "SELECT type, value FROM contact_identities WHERE contact_id = ?1 AND is_deleted = 0",
        )?
        .query_map([&profile.vid], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (kind, value) in held {
        if live.contains(&(kind.as_str(), value.as_str())) {
            continue;
        }
        written.deleted += conn.execute(
            "UPDATE contact_identities SET is_deleted = 1, received_at = ?4
             WHERE contact_id = ?1 AND type = ?2 AND value = ?3",
            params![profile.vid, kind, value, received_at],
        )? as u64;
    }
    Ok(written)
}

/// The contact an email address belongs to now, by the synced identities (primary or
/// secondary, case-insensitive; a merged-away contact's address answers its survivor).
pub fn contact_for_email(conn: &Connection, email: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT p.canonical_contact_id FROM contact_identities i
         JOIN contact_identity_profiles p ON p.contact_id = i.contact_id
         WHERE i.value = ?1 COLLATE NOCASE AND i.type = 'EMAIL' AND i.is_deleted = 0
         ORDER BY i.contact_id = p.canonical_contact_id DESC, i.is_primary DESC
         LIMIT 1",
        [email],
        |r| r.get(0),
    )
    .optional()
}

/// Creates `form_submissions` if needed, keyed `(form_id, submitted_at, submission_key)`.
pub fn ensure_form_submissions(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS form_submissions (
            form_id TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            submission_key TEXT NOT NULL,
            form_name TEXT,
            page_url TEXT,
            page_title TEXT,
            \"values\" TEXT NOT NULL,
            contact_email TEXT,
            contact_id TEXT,
            received_at TEXT NOT NULL,
            PRIMARY KEY (form_id, submitted_at, submission_key)
        )",
    )
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
    /// Field name → value (JSON object text).
    pub values: String,
    /// The `email` field's value.
    pub contact_email: Option<String>,
    /// The contact that email belongs to, when known.
    pub contact_id: Option<String>,
}

/// Writes a submission. The key stands for its content, so an existing row only changes when
/// the form was renamed or its contact became known.
pub fn upsert_submission(
    conn: &Connection,
    row: &SubmissionRow,
    received_at: &str,
) -> rusqlite::Result<Written> {
    let before: Option<(Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT form_name, contact_id FROM form_submissions
             WHERE form_id = ?1 AND submitted_at = ?2 AND submission_key = ?3",
            params![row.form_id, row.submitted_at, row.submission_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    // A contact found once stays: a later read that cannot place the email keeps it.
    conn.execute(
        "INSERT INTO form_submissions (form_id, submitted_at, submission_key, form_name,
            page_url, page_title, \"values\", contact_email, contact_id, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (form_id, submitted_at, submission_key) DO UPDATE SET
            form_name = excluded.form_name, page_url = excluded.page_url,
            page_title = excluded.page_title, \"values\" = excluded.\"values\",
            contact_email = excluded.contact_email,
            contact_id = coalesce(excluded.contact_id, form_submissions.contact_id),
            received_at = excluded.received_at",
        params![
            row.form_id,
            row.submitted_at,
            row.submission_key,
            row.form_name,
            row.page_url,
            row.page_title,
            row.values,
            row.contact_email,
            row.contact_id,
            received_at
        ],
    )?;
    Ok(match before {
        None => Written::Inserted,
        Some((name, contact))
            if name == row.form_name && (row.contact_id.is_none() || contact == row.contact_id) =>
        {
            Written::Unchanged
        }
        Some(_) => Written::Updated,
    })
}
