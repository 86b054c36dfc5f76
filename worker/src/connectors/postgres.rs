//! The `postgres` connector: upserts each record as a row of one table of an external
//! PostgreSQL (a warehouse or reporting database), matched on `key_column`, so retries and
//! replays never add a second row; `Remove` deletes the row with that key.
//!
//! Only columns that exist in the table and in the record (and in `columns`, when set) are
//! written, plus the key column, whose value is the delivery's business key (else its
//! idempotency key). Values travel as one JSON parameter that PostgreSQL itself turns into the
//! table's row type (`json_populate_record`), so column types are PostgreSQL's business and no
//! value is ever spliced into SQL; identifiers are quoted.
//!
//! The DSN's host is resolved and checked by the network guard before connecting, and the
//! pool connects to the checked address (`hostaddr`), so a DNS answer cannot change between
//! the check and the connection — except with `sslmode=verify-full`, which needs the name.
//! Pools are cached per DSN, process-wide, with few connections. It must never log the DSN
//! (it holds the password) nor put values in error texts: PostgreSQL's messages are cut
//! before the quoted value they may end with.

use super::{Action, Connector, Delivery, Outcome, SettingsError, setting};
use crate::net::{Blocked, NetPolicy};
use futures::future::BoxFuture;
use reqwest::Url;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    Statement,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

const MAX_CONNECTIONS: u32 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

static POOLS: LazyLock<Mutex<HashMap<String, DatabaseConnection>>> = LazyLock::new(Mutex::default);

/// A configured table.
pub struct Postgres {
    dsn: String,
    /// `"schema"."table"` or `"table"`, quoted.
    table: String,
    key_column: String,
    columns: Option<Vec<String>>,
    net: NetPolicy,
}

/// Double-quotes an identifier.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl Postgres {
    /// Reads `dsn`, `table` (optionally `schema.table`), `key_column` and `columns`.
    pub fn new(settings: &Value, net: &NetPolicy) -> Result<Self, SettingsError> {
        let dsn = setting::required(settings, "dsn")?.to_string();
        let table = setting::required(settings, "table")?;
        let parts: Vec<&str> = table.split('.').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(SettingsError::new(
                "table",
                "must be `table` or `schema.table`",
            ));
        }
        let table = parts.iter().map(|p| quote(p)).collect::<Vec<_>>().join(".");
        let key_column = setting::required(settings, "key_column")?.to_string();
        let columns = setting::strings(settings, "columns")?.filter(|c| !c.is_empty());
        target(&dsn)?;
        Ok(Self {
            dsn,
            table,
            key_column,
            columns,
            net: net.clone(),
        })
    }

    /// The pool for this DSN, connected to an address the guard allowed.
    async fn pool(&self) -> Result<DatabaseConnection, Failure> {
        let (mut url, host, port) = target(&self.dsn).map_err(|e| Failure::Setting(e.message))?;
        let addrs = self.net.resolve(&host, port).await.map_err(|e| match e {
            Blocked::Refused(r) => Failure::Setting(r.0),
            Blocked::Lookup { .. } => Failure::Transient(e.to_string()),
        })?;
        let addr = addrs
            .first()
            .ok_or_else(|| Failure::Transient(format!("{host} has no address")))?;
        let verify_full = url
            .query_pairs()
            .any(|(k, v)| matches!(&*k, "sslmode" | "ssl-mode") && v == "verify-full");
        if !verify_full {
            url.query_pairs_mut()
                .append_pair("hostaddr", &addr.ip().to_string());
        }
        let key = url.to_string();
        if let Some(pool) = POOLS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(pool.clone());
        }
        let mut options = ConnectOptions::new(key.clone());
        options
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(CONNECT_TIMEOUT)
            .idle_timeout(Duration::from_secs(300))
            .sqlx_logging(false);
        let pool = Database::connect(options).await.map_err(|e| classify(&e))?;
        let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(pools.entry(key).or_insert(pool).clone())
    }

    /// The table's writable columns, in table order; `None` when there is no such table.
    async fn table_columns(&self, db: &DatabaseConnection) -> Result<Option<Vec<String>>, Failure> {
        let sql = "SELECT c.relkind::text, a.attname::text \
                   FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid \
                   AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
                   WHERE c.oid = to_regclass($1) ORDER BY a.attnum";
        let stmt =
            Statement::from_sql_and_values(DbBackend::Postgres, sql, [self.table.clone().into()]);
        let rows = db.query_all_raw(stmt).await.map_err(|e| classify(&e))?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let kind: String = first.try_get_by_index(0).map_err(|e| classify(&e))?;
        if !matches!(kind.as_str(), "r" | "p") {
            return Err(Failure::Setting(format!("{} is not a table", self.table)));
        }
        let mut names = Vec::new();
        for row in &rows {
            let name: Option<String> = row.try_get_by_index(1).map_err(|e| classify(&e))?;
            names.extend(name);
        }
        Ok(Some(names))
    }

    /// Whether `key_column` alone has a usable unique index (primary key or unique
    /// constraint), as `ON CONFLICT` needs.
    async fn key_is_unique(&self, db: &DatabaseConnection) -> Result<bool, Failure> {
        let sql = "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a \
                   ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                   WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indimmediate \
                   AND i.indnkeyatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL \
                   AND a.attname = $2)";
        let values = [self.table.clone().into(), self.key_column.clone().into()];
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        let row = db.query_one_raw(stmt).await.map_err(|e| classify(&e))?;
        match row {
            Some(r) => r.try_get_by_index(0).map_err(|e| classify(&e)),
            None => Ok(false),
        }
    }

    async fn attempt(&self, d: &Delivery) -> Result<(), Failure> {
        let Some(fields) = d.record.as_object() else {
            return Err(Failure::Data("the record must be a JSON object".into()));
        };
        let db = self.pool().await?;
        let table_columns = self
            .table_columns(&db)
            .await?
            .ok_or_else(|| Failure::Setting(format!("table {} does not exist", self.table)))?;
        let mut row = fields.clone();
        row.insert(self.key_column.clone(), Value::String(d.key().to_string()));
        let wanted = |c: &String| {
            *c == self.key_column
                || (fields.contains_key(c)
                    && self.columns.as_ref().is_none_or(|list| list.contains(c)))
        };
        let cols: Vec<String> = table_columns.into_iter().filter(wanted).collect();
        if !cols.contains(&self.key_column) {
            return Err(Failure::Setting(format!(
                "key column {} is not in table {}",
                quote(&self.key_column),
                self.table
            )));
        }
        let (t, key) = (&self.table, quote(&self.key_column));
        let sql = if d.action == Action::Remove {
            format!(
                "DELETE FROM {t} WHERE {key} = (json_populate_record(NULL::{t}, $1::json)).{key}"
            )
        } else {
            let list = cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
            let updates: Vec<String> = cols
                .iter()
                .filter(|c| **c != self.key_column)
                .map(|c| format!("{0} = EXCLUDED.{0}", quote(c)))
                .collect();
            let on_conflict = if updates.is_empty() {
                "DO NOTHING".to_string()
            } else {
                format!("DO UPDATE SET {}", updates.join(", "))
            };
            format!(
                "INSERT INTO {t} ({list}) SELECT {list} FROM json_populate_record(NULL::{t}, \
                 $1::json) ON CONFLICT ({key}) {on_conflict}"
            )
        };
        let json = Value::Object(row).to_string();
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, sql, [json.into()]);
        db.execute_raw(stmt).await.map_err(|e| classify(&e))?;
        Ok(())
    }
}

/// The DSN as a URL with its effective host and port; refuses Unix sockets (not a network
/// destination the guard can judge) and DSNs without a host. Never repeats the DSN.
fn target(dsn: &str) -> Result<(Url, String, u16), SettingsError> {
    let bad = |m: &str| SettingsError::new("dsn", m);
    let url = Url::parse(dsn).map_err(|_| bad("is not a postgres:// connection string"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(bad("must start with postgres:// or postgresql://"));
    }
    let mut host = url.host_str().map(str::to_string);
    let mut port = url.port().unwrap_or(5432);
    for (k, v) in url.query_pairs() {
        match &*k {
            "host" | "hostaddr" => host = Some(v.into_owned()),
            "port" => port = v.parse().map_err(|_| bad("has an invalid port"))?,
            _ => {}
        }
    }
    let host = host
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("names no host"))?;
    if host.starts_with('/') || host.to_ascii_lowercase().starts_with("%2f") {
        return Err(bad(
            "Unix sockets are not allowed: give a host name or address",
        ));
    }
    Ok((url, host, port))
}

/// Why an attempt failed, before it becomes an outcome or a settings error.
#[derive(Debug)]
enum Failure {
    /// The settings do not fit the database (or the guard refuses its address).
    Setting(String),
    /// The record does not fit the table.
    Data(String),
    /// Connection trouble, DNS, locks, overload: try again.
    Transient(String),
}

impl Failure {
    fn outcome(self) -> Outcome {
        match self {
            Failure::Setting(error) | Failure::Data(error) => Outcome::Permanent {
                status: None,
                error,
            },
            Failure::Transient(error) => Outcome::Retry {
                status: None,
                error,
                retry_after: None,
            },
        }
    }
}

/// A PostgreSQL message without the quoted value it may end with.
fn redact(message: &str) -> &str {
    message.split(": \"").next().unwrap_or(message)
}

/// Connection-level SQLSTATE classes and transient conditions are retried; constraint, type
/// and permission errors are not.
fn classify(e: &DbErr) -> Failure {
    use sea_orm::sqlx::Error as SqlxError;
    let sqlx = match e {
        DbErr::Conn(RuntimeErr::SqlxError(s))
        | DbErr::Exec(RuntimeErr::SqlxError(s))
        | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        DbErr::ConnectionAcquire(a) => return Failure::Transient(format!("postgres: {a}")),
        DbErr::Conn(_) => return Failure::Transient("postgres: cannot connect".into()),
        _ => return Failure::Data("postgres: the row cannot be written".into()),
    };
    match &**sqlx {
        SqlxError::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let text = format!("postgres {code}: {}", redact(db.message()));
            let transient = matches!(code.get(..2), Some("08" | "40" | "53" | "55" | "57" | "58"));
            match code.get(..2) {
                _ if transient => Failure::Transient(text),
                Some("28" | "3D" | "42") => Failure::Setting(text),
                _ => Failure::Data(text),
            }
        }
        SqlxError::Configuration(_) => Failure::Setting("dsn: invalid connection options".into()),
        other => Failure::Transient(format!("postgres: {}", redact(&other.to_string()))),
    }
}

impl Connector for Postgres {
    fn key(&self) -> &'static str {
        "postgres"
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            if delivery.action == Action::Message {
                return Failure::Data("postgres cannot post messages".into()).outcome();
            }
            match self.attempt(delivery).await {
                Ok(()) => Outcome::Delivered { status: None },
                Err(f) => f.outcome(),
            }
        })
    }
}

/// Connects (through the guard) and checks that the table exists, that `key_column` exists
/// and is unique on its own, and that every listed column exists; names the setting at fault.
pub async fn check(settings: &Value, net: &NetPolicy) -> Result<(), SettingsError> {
    let pg = Postgres::new(settings, net)?;
    let to_dsn = |f: Failure| match f {
        Failure::Setting(m) | Failure::Data(m) | Failure::Transient(m) => {
            SettingsError::new("dsn", m)
        }
    };
    let db = pg.pool().await.map_err(to_dsn)?;
    let columns = match pg.table_columns(&db).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            let m = format!(
                "table {} does not exist or is not visible to this user",
                pg.table
            );
            return Err(SettingsError::new("table", m));
        }
        Err(Failure::Setting(m)) => return Err(SettingsError::new("table", m)),
        Err(f) => return Err(to_dsn(f)),
    };
    let key = quote(&pg.key_column);
    if !columns.contains(&pg.key_column) {
        let m = format!("column {key} does not exist in table {}", pg.table);
        return Err(SettingsError::new("key_column", m));
    }
    if !pg.key_is_unique(&db).await.map_err(to_dsn)? {
        let m = format!(
            "column {key} has no primary key or unique constraint of its own, so existing rows \
             cannot be matched"
        );
        return Err(SettingsError::new("key_column", m));
    }
    if let Some(missing) = pg.columns.iter().flatten().find(|c| !columns.contains(c)) {
        let m = format!(
            "column {} does not exist in table {}",
            quote(missing),
            pg.table
        );
        return Err(SettingsError::new("columns", m));
    }
    Ok(())
}
