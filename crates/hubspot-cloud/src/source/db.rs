//! The Source's two destinations behind one SQL surface, so each table's SQL is written once:
//!
//! - [`Db`]: the destination, a SQLite file or a PostgreSQL schema;
//! - [`Tx`]: one of its transactions (a page's rows and the cursor covering them);
//! - [`Sql`]: what store functions take, either of the two; statements use `?1, ?2, …`
//!   placeholders (rewritten to `$1, $2, …` for PostgreSQL) and values as [`Param`]s, which
//!   carry their column kind so each side binds its own type;
//! - [`Dialect`]: where the two differ (column types, column listing, `ADD COLUMN`).
//!
//! Column kinds ([`Kind`]) map to SQLite's types as they always were (booleans `INTEGER` 0/1,
//! timestamps ISO-8601 `TEXT`, numbers `REAL`, JSON `TEXT`) and to PostgreSQL's own (`boolean`,
//! `timestamptz`, `double precision`, `jsonb`, `bigint`, `text`).
//!
//! Both sides run on the caller's task: SQLite calls block it (as they always did: `serve` runs
//! a sync on a thread of its own), PostgreSQL calls are awaited on the connection's task. The
//! PostgreSQL side is one pooled connection (deadpool's statement cache), held for the sync: its
//! session holds the sync's advisory lock ([`Db::lock_sync`]).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::error::Error as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, RecyclingMethod};
use hubspot_core::date::{format_iso_ms, parse_iso_date_ms};
use rusqlite::types::{ToSqlOutput, ValueRef};
use tokio_postgres::NoTls;
use tokio_postgres::types::{ToSql as PgToSql, Type};

/// Why a destination call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The SQLite file.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL server (the whole cause chain: the server's own message included).
    #[error("PostgreSQL: {}", chain(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// Connecting to PostgreSQL, or a value it answered that the Source cannot read.
    #[error("PostgreSQL: {0}")]
    Connect(String),
    /// Another sync holds the portal's lock.
    #[error("{0}")]
    Busy(String),
}

/// An error and its causes, one line.
fn chain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let line = s.to_string();
        // tokio-postgres may repeat the cause in its own text.
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = s.source();
    }
    text
}

/// Which SQL a destination speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// What a column holds, whatever the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// A whole number.
    Int,
    /// A number (HubSpot's number properties): `REAL` / `double precision`.
    Float,
    /// A boolean: `INTEGER` 0/1 / `boolean`.
    Bool,
    /// A point in time: ISO-8601 UTC `TEXT` / `timestamptz`.
    Time,
    /// A JSON document: `TEXT` / `jsonb`.
    Json,
}

impl Dialect {
    /// The column type of `kind`.
    pub fn ty(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (_, Kind::Text) => "TEXT",
            (Dialect::Sqlite, Kind::Int | Kind::Bool) => "INTEGER",
            (Dialect::Sqlite, Kind::Float) => "REAL",
            (Dialect::Sqlite, Kind::Time | Kind::Json) => "TEXT",
            (Dialect::Postgres, Kind::Int) => "BIGINT",
            (Dialect::Postgres, Kind::Bool) => "BOOLEAN",
            (Dialect::Postgres, Kind::Float) => "DOUBLE PRECISION",
            (Dialect::Postgres, Kind::Time) => "TIMESTAMPTZ",
            (Dialect::Postgres, Kind::Json) => "JSONB",
        }
    }

    /// `is_deleted`'s column definition: a boolean, false unless written.
    pub fn deleted_flag(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER NOT NULL DEFAULT 0",
            Dialect::Postgres => "BOOLEAN NOT NULL DEFAULT FALSE",
        }
    }

    /// The statement adding column `column` of `kind` to `table` (both quoted already).
    pub fn add_column(self, table: &str, column: &str, kind: Kind) -> String {
        let if_missing = match self {
            // SQLite has no `IF NOT EXISTS` here; the caller added only missing columns.
            Dialect::Sqlite => "",
            // A column another writer added in between is left alone.
            Dialect::Postgres => "IF NOT EXISTS ",
        };
        format!(
            "ALTER TABLE {table} ADD COLUMN {if_missing}{column} {}",
            self.ty(kind)
        )
    }

    /// A timestamp written as `text`, as it reads back: SQLite keeps the text, PostgreSQL the
    /// instant (printed as ISO-8601 UTC with milliseconds; `None` for text that is no time).
    /// Compares what a row holds with what HubSpot answers now.
    pub fn stored_time(self, text: Option<&str>) -> Option<String> {
        match self {
            Dialect::Sqlite => text.map(str::to_owned),
            Dialect::Postgres => text.and_then(time_ms).map(format_iso_ms),
        }
    }
}

/// Epoch milliseconds of a HubSpot time: epoch ms (v1 and some properties) or ISO-8601 text.
pub fn time_ms(text: &str) -> Option<i64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| parse_iso_date_ms(text).map(|ms| ms as i64))
}

/// Quotes an SQL identifier (table and property names come from the portal).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A value bound to a statement, with the kind of the column it goes to.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// Text, or NULL (of any column: a JSON column left empty too).
    Text(Option<String>),
    /// A whole number, or NULL.
    Int(Option<i64>),
    /// A number, or NULL.
    Float(Option<f64>),
    /// A boolean, or NULL.
    Bool(Option<bool>),
    /// A time as HubSpot answered it (ISO-8601 or epoch ms text), or NULL. SQLite stores the
    /// text as given; PostgreSQL the instant (NULL if the text is no time).
    Time(Option<String>),
    /// A JSON document.
    Json(serde_json::Value),
}

impl Param {
    /// A time column's value.
    pub fn time(text: Option<&str>) -> Param {
        Param::Time(text.map(str::to_owned))
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(Some(v.to_owned()))
    }
}

impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(Some(v))
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Param {
        Param::Text(Some(v.clone()))
    }
}

impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Param {
        Param::Text(v.clone())
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Param {
        Param::Text(v)
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Param {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Param {
        Param::Int(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Param {
        Param::Bool(Some(v))
    }
}

/// `[Param::from(a), Param::from(b), …]`.
#[macro_export]
macro_rules! sql_params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::source::db::Param::from($v)),*][..]
    };
}

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value;
        Ok(match self {
            Param::Text(Some(s)) | Param::Time(Some(s)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            Param::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(*v)),
            Param::Float(Some(v)) => ToSqlOutput::Owned(Value::Real(*v)),
            Param::Bool(Some(v)) => ToSqlOutput::Owned(Value::Integer(i64::from(*v))),
            Param::Json(v) => ToSqlOutput::Owned(Value::Text(v.to_string())),
            Param::Text(None)
            | Param::Time(None)
            | Param::Int(None)
            | Param::Float(None)
            | Param::Bool(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// The instant `ms` after the epoch.
fn system_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// `p` as tokio-postgres binds it to a parameter of type `ty`.
fn pg_value(p: &Param, ty: &Type) -> Box<dyn PgToSql + Sync + Send> {
    match p {
        // No document (`Param::Text(None)`): tokio-postgres checks a NULL's type too, so a NULL
        // of the JSON column's own.
        Param::Text(None) if *ty == Type::JSON || *ty == Type::JSONB => {
            Box::new(None::<serde_json::Value>)
        }
        Param::Text(v) => Box::new(v.clone()),
        Param::Int(v) => Box::new(*v),
        Param::Float(v) => Box::new(*v),
        Param::Bool(v) => Box::new(*v),
        Param::Time(v) => Box::new(v.as_deref().and_then(time_ms).map(system_time)),
        Param::Json(v) => Box::new(v.clone()),
    }
}

/// `params` bound to `stmt`'s parameters (a count that differs is left for tokio-postgres to
/// refuse).
fn pg_values(
    stmt: &tokio_postgres::Statement,
    params: &[Param],
) -> Vec<Box<dyn PgToSql + Sync + Send>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| pg_value(p, stmt.params().get(i).unwrap_or(&Type::TEXT)))
        .collect()
}

/// `?N` placeholders as PostgreSQL's `$N` (the Source's SQL has no `?` elsewhere).
fn pg_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One value read back.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// An integer (SQLite's booleans too).
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text (PostgreSQL's JSON as its text).
    Text(String),
    /// A PostgreSQL boolean.
    Bool(bool),
    /// A PostgreSQL timestamp, epoch ms.
    Time(i64),
}

/// One row read back, its cells in the statement's column order.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> &Cell {
        self.0.get(i).unwrap_or(&Cell::Null)
    }

    /// Column `i` as text (numbers printed; times as ISO-8601 UTC).
    pub fn text(&self, i: usize) -> Option<String> {
        match self.cell(i) {
            Cell::Null => None,
            Cell::Text(s) => Some(s.clone()),
            Cell::Int(v) => Some(v.to_string()),
            Cell::Float(v) => Some(v.to_string()),
            Cell::Bool(v) => Some(v.to_string()),
            Cell::Time(ms) => Some(format_iso_ms(*ms)),
        }
    }

    /// Column `i` as a whole number (booleans 0/1).
    pub fn int(&self, i: usize) -> Option<i64> {
        match self.cell(i) {
            Cell::Int(v) | Cell::Time(v) => Some(*v),
            Cell::Bool(v) => Some(i64::from(*v)),
            Cell::Float(v) => Some(*v as i64),
            Cell::Text(s) => s.parse().ok(),
            Cell::Null => None,
        }
    }

    /// Column `i` as a boolean (NULL false).
    pub fn flag(&self, i: usize) -> bool {
        self.int(i).is_some_and(|v| v != 0)
    }

    /// Column `i` as a boolean, NULL kept apart (a flag HubSpot may not answer).
    pub fn opt_flag(&self, i: usize) -> Option<bool> {
        self.int(i).map(|v| v != 0)
    }

    /// Column `i` as JSON (text that is no JSON as a JSON string): compares a stored document
    /// with a new one whatever the destination did to its text (`jsonb` reorders keys).
    pub fn json(&self, i: usize) -> Option<serde_json::Value> {
        self.text(i)
            .map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
    }
}

fn sqlite_row(r: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    let mut cells = Vec::with_capacity(n);
    for i in 0..n {
        cells.push(match r.get_ref(i)? {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(v) => Cell::Int(v),
            ValueRef::Real(v) => Cell::Float(v),
            ValueRef::Text(t) | ValueRef::Blob(t) => {
                Cell::Text(String::from_utf8_lossy(t).into_owned())
            }
        });
    }
    Ok(Row(cells))
}

fn pg_row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut cells = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let ty = column.type_();
        let cell = if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?.map(Cell::Bool)
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?.map(|v| Cell::Int(v.into()))
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?.map(|v| Cell::Int(v.into()))
        } else if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
        } else if *ty == Type::FLOAT4 {
            r.try_get::<_, Option<f32>>(i)?
                .map(|v| Cell::Float(v.into()))
        } else if *ty == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?.map(Cell::Float)
        } else if *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP {
            r.try_get::<_, Option<SystemTime>>(i)?.map(|t| {
                Cell::Time(match t.duration_since(UNIX_EPOCH) {
                    Ok(d) => d.as_millis() as i64,
                    Err(e) => -(e.duration().as_millis() as i64),
                })
            })
        } else if *ty == Type::JSON || *ty == Type::JSONB {
            r.try_get::<_, Option<serde_json::Value>>(i)?
                .map(|v| Cell::Text(v.to_string()))
        } else {
            r.try_get::<_, Option<String>>(i)?.map(Cell::Text)
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(cells))
}

/// Where statements run: a destination's connection outside a transaction, or inside one.
/// Store functions take this, so each is written once for both destinations.
#[derive(Clone, Copy)]
pub enum Sql<'a> {
    /// A SQLite connection (a transaction derefs to one).
    Sqlite(&'a rusqlite::Connection),
    /// A PostgreSQL connection, outside a transaction.
    Postgres(&'a deadpool_postgres::Object),
    /// A PostgreSQL transaction.
    PostgresTx(&'a deadpool_postgres::Transaction<'a>),
}

impl Sql<'_> {
    /// Which SQL this destination speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Sql::Sqlite(_) => Dialect::Sqlite,
            Sql::Postgres(_) | Sql::PostgresTx(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement; answers the rows it changed.
    pub async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        match self {
            Sql::Sqlite(c) => {
                Ok(c.prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(params))? as u64)
            }
            Sql::Postgres(c) => pg_execute(*c, sql, params).await,
            Sql::PostgresTx(t) => pg_execute(*t, sql, params).await,
        }
    }

    /// Runs one query; answers its rows.
    pub async fn query(&self, sql: &str, params: &[Param]) -> Result<Vec<Row>, DbError> {
        match self {
            Sql::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let n = stmt.column_count();
                let rows =
                    stmt.query_map(rusqlite::params_from_iter(params), |r| sqlite_row(r, n))?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            Sql::Postgres(c) => pg_query(*c, sql, params).await,
            Sql::PostgresTx(t) => pg_query(*t, sql, params).await,
        }
    }

    /// The first row of a query, if any.
    pub async fn query_opt(&self, sql: &str, params: &[Param]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs statements without parameters (schema changes).
    pub async fn batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Sql::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Sql::Postgres(c) => Ok(c.batch_execute(sql).await?),
            Sql::PostgresTx(t) => Ok(t.batch_execute(sql).await?),
        }
    }

    /// The column names of `table` (none when it does not exist).
    pub async fn columns(&self, table: &str) -> Result<BTreeSet<String>, DbError> {
        let rows = match self.dialect() {
            Dialect::Sqlite => {
                self.query(
                    &format!(
                        "SELECT name FROM pragma_table_info({})",
                        quote_literal(table)
                    ),
                    &[],
                )
                .await?
            }
            Dialect::Postgres => {
                self.query(
                    "SELECT column_name::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = ?1",
                    crate::sql_params![table],
                )
                .await?
            }
        };
        Ok(rows.iter().filter_map(|r| r.text(0)).collect())
    }

    /// Whether `table` exists.
    pub async fn table_exists(&self, table: &str) -> Result<bool, DbError> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1"
            }
            Dialect::Postgres => {
                "SELECT count(*) > 0 FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = ?1"
            }
        };
        Ok(self
            .query_opt(sql, crate::sql_params![table])
            .await?
            .is_some_and(|r| r.flag(0)))
    }
}

/// A string literal (for SQLite's `pragma_table_info`, which takes no parameter there).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn pg_execute<C: GenericClient>(c: &C, sql: &str, params: &[Param]) -> Result<u64, DbError> {
    let stmt = c.prepare_cached(&pg_sql(sql)).await?;
    let values = pg_values(&stmt, params);
    let refs: Vec<&(dyn PgToSql + Sync)> = values.iter().map(|v| v.as_ref() as _).collect();
    Ok(c.execute(&stmt, &refs).await?)
}

async fn pg_query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[Param],
) -> Result<Vec<Row>, DbError> {
    let stmt = c.prepare_cached(&pg_sql(sql)).await?;
    let values = pg_values(&stmt, params);
    let refs: Vec<&(dyn PgToSql + Sync)> = values.iter().map(|v| v.as_ref() as _).collect();
    c.query(&stmt, &refs).await?.iter().map(pg_row).collect()
}

/// One transaction of a destination: what it writes commits together or not at all.
pub enum Tx<'a> {
    /// SQLite's.
    Sqlite(rusqlite::Transaction<'a>),
    /// PostgreSQL's.
    Postgres(deadpool_postgres::Transaction<'a>),
}

impl Tx<'_> {
    /// Statements inside the transaction.
    pub fn sql(&self) -> Sql<'_> {
        match self {
            Tx::Sqlite(t) => Sql::Sqlite(t),
            Tx::Postgres(t) => Sql::PostgresTx(t),
        }
    }

    /// Commits (dropping a `Tx` rolls it back).
    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(t) => Ok(t.commit()?),
            Tx::Postgres(t) => Ok(t.commit().await?),
        }
    }
}

/// A destination: a SQLite file, or one schema of a PostgreSQL database.
pub enum Db {
    /// A SQLite file.
    Sqlite(rusqlite::Connection),
    /// A PostgreSQL schema, through one connection.
    Postgres(PgDb),
}

/// A PostgreSQL destination: one connection whose `search_path` is the schema.
pub struct PgDb {
    // Declared first, so the connection goes back to its pool before the pool closes it: the
    // session ends and its advisory lock with it.
    client: deadpool_postgres::Object,
    _pool: deadpool_postgres::Pool,
    schema: String,
}

impl Db {
    /// Opens (creating if needed) a SQLite file, in WAL mode.
    pub fn sqlite(path: &std::path::Path) -> Result<Db, DbError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Ok(Db::Sqlite(conn))
    }

    /// Connects to the PostgreSQL database at `url` (plain TCP) and works in `schema`,
    /// creating it if needed.
    pub async fn postgres(url: &str, schema: &str) -> Result<Db, DbError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| DbError::Connect(format!("the URL is not valid: {}", chain(&e))))?;
        if config.get_application_name().is_none() {
            config.application_name("hubspot-cloud sync");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(1)
            .build()
            .map_err(|e| DbError::Connect(format!("cannot set up the connection: {e}")))?;
        let mut client = pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => DbError::Postgres(e),
            e => DbError::Connect(format!("cannot connect: {e}")),
        })?;
        let quoted = quote(schema);
        // Two processes creating one schema at once would collide: one at a time.
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("hubspot-cloud schema {schema}")],
        )
        .await?;
        // Only when missing: `CREATE SCHEMA IF NOT EXISTS` needs the database's CREATE
        // privilege even when the schema exists, which a role given only its schema lacks.
        let exists = tx
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
            .await?
            .is_some();
        if !exists {
            tx.batch_execute(&format!("CREATE SCHEMA {quoted}")).await?;
        }
        tx.commit().await?;
        client
            .batch_execute(&format!("SET search_path TO {quoted}"))
            .await?;
        Ok(Db::Postgres(PgDb {
            client,
            _pool: pool,
            schema: schema.to_owned(),
        }))
    }

    /// Statements outside a transaction.
    pub fn sql(&self) -> Sql<'_> {
        match self {
            Db::Sqlite(c) => Sql::Sqlite(c),
            Db::Postgres(p) => Sql::Postgres(&p.client),
        }
    }

    /// Starts a transaction.
    pub async fn transaction(&mut self) -> Result<Tx<'_>, DbError> {
        Ok(match self {
            Db::Sqlite(c) => Tx::Sqlite(c.transaction()?),
            Db::Postgres(p) => Tx::Postgres(p.client.transaction().await?),
        })
    }

    /// Takes `portal`'s sync lock for as long as this `Db` lives, or fails at once with
    /// [`DbError::Busy`] if another process holds it. PostgreSQL: a session advisory lock on
    /// (schema, portal), released when the connection ends, however the process ends. SQLite:
    /// nothing (a file per portal, written by one process).
    pub async fn lock_sync(&self, portal: &str) -> Result<(), DbError> {
        let Db::Postgres(p) = self else {
            return Ok(());
        };
        let row = p
            .client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&format!("hubspot-cloud sync {} {portal}", p.schema)],
            )
            .await?;
        if row.try_get::<_, bool>(0)? {
            Ok(())
        } else {
            Err(DbError::Busy(format!(
                "another hubspot-cloud sync of portal '{portal}' is writing PostgreSQL schema '{}' (it holds the advisory lock); not starting a second one",
                p.schema
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn placeholders_become_postgres_numbered_ones() {
        assert_eq!(
            pg_sql("UPDATE t SET a = ?2 WHERE id = ?1 AND b = ?12"),
            "UPDATE t SET a = $2 WHERE id = $1 AND b = $12"
        );
        assert!(matches!(pg_sql("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn times_read_back_as_each_destination_stores_them() {
        let ms = Some("1700000000000");
        let iso = Some("2023-11-14T22:13:20Z");
        assert_eq!(Dialect::Sqlite.stored_time(ms).as_deref(), ms);
        assert_eq!(Dialect::Sqlite.stored_time(iso).as_deref(), iso);
        for text in [ms, iso] {
            assert_eq!(
                Dialect::Postgres.stored_time(text).as_deref(),
                Some("2023-11-14T22:13:20.000Z")
            );
        }
        assert_eq!(Dialect::Postgres.stored_time(Some("soon")), None);
    }

    #[test]
    fn sqlite_binds_params_as_it_always_stored_them() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = Sql::Sqlite(&conn);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt
            .block_on(sql.query_opt(
                "SELECT ?1, typeof(?1), ?2, typeof(?2), ?3, ?4, typeof(?5)",
                &[
                    Param::from(true),
                    Param::time(Some("1700000000000")),
                    Param::Json(serde_json::json!({"a": 1})),
                    Param::Float(Some(1.5)),
                    Param::Bool(None),
                ],
            ))
            .unwrap()
            .unwrap();
        assert_eq!(
            got.0,
            vec![
                Cell::Int(1),
                Cell::Text("integer".into()),
                // Time text is stored as given.
                Cell::Text("1700000000000".into()),
                Cell::Text("text".into()),
                Cell::Text(r#"{"a":1}"#.into()),
                Cell::Float(1.5),
                Cell::Text("null".into()),
            ]
        );
    }
}
