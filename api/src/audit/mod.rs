//! The tamper-evident audit log: appending entries inside business transactions, verifying the
//! hash chain, signed checkpoints, and export.
//!
//! Every mutation calls [`record`] inside its own write transaction, so the change and its entry
//! commit or roll back together. [`record`] first bumps the single `audit_head` row, which takes a
//! row lock on PostgreSQL (and the database write lock on SQLite): concurrent writers, in one
//! process or many, append one at a time and the chain stays linear. Each entry records the
//! policy version in force (the newest row of `policy_versions`, read under that lock). Denied
//! attempts are recorded by [`record_denied`] in a transaction of their own. Signed checkpoints
//! live in `checkpoint`.

mod checkpoint;

pub use checkpoint::{Checkpoint, Signer, checkpoint, key_id, verify_checkpoint};

use crate::error::{ApiError, ApiResult};
use entity::chain::{EntryFields, canonical_json};
use entity::{audit_entry, audit_head};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, Statement,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who performed an action, as recorded.
#[derive(Debug, Clone)]
pub struct Actor {
    pub sub: String,
    pub roles: Vec<String>,
    /// The caller's team, for ownership scopes (not part of the recorded entry).
    pub team: Option<String>,
    pub request_id: String,
}

impl Actor {
    /// The actor of a request by an authenticated subject.
    pub fn new(subject: &crate::auth::Subject, request_id: &str) -> Self {
        Self {
            sub: subject.sub.clone(),
            roles: subject.roles.clone(),
            team: subject.team.clone(),
            request_id: request_id.to_string(),
        }
    }

    /// The subject to ask the policy about.
    pub fn subject(&self) -> crate::auth::Subject {
        crate::auth::Subject {
            sub: self.sub.clone(),
            roles: self.roles.clone(),
            team: self.team.clone(),
        }
    }

    /// An actor for work the system does on its own (seeding the catalog, migrations).
    pub fn system(name: &str) -> Self {
        Self {
            sub: format!("system:{name}"),
            roles: Vec::new(),
            team: None,
            request_id: uuid::Uuid::now_v7().to_string(),
        }
    }
}

/// What changed: `before`/`after` are the target's state around the change.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Current time as stored in the log (fixed width, so text order is time order).
pub fn now_string() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Appends an allowed change to the chain, inside the caller's transaction.
pub async fn record(tx: &DatabaseTransaction, actor: &Actor, change: Change) -> Result<i64, DbErr> {
    append(tx, actor, change, "allowed").await
}

/// Records an attempt that policy denied, in its own transaction.
pub async fn record_denied(
    db: &DatabaseConnection,
    actor: &Actor,
    action: &str,
    target: &str,
) -> Result<i64, DbErr> {
    let tx = crate::db::begin_write(db).await?;
    let change = Change {
        action: action.to_string(),
        target: target.to_string(),
        before: None,
        after: None,
    };
    let seq = append(&tx, actor, change, "denied").await?;
    tx.commit().await?;
    Ok(seq)
}

/// Records a refused change with what was refused (`after`), in its own transaction.
pub async fn record_refused(
    db: &DatabaseConnection,
    actor: &Actor,
    change: Change,
) -> Result<i64, DbErr> {
    let tx = crate::db::begin_write(db).await?;
    let seq = append(&tx, actor, change, "denied").await?;
    tx.commit().await?;
    Ok(seq)
}

async fn append(
    tx: &DatabaseTransaction,
    actor: &Actor,
    change: Change,
    outcome: &str,
) -> Result<i64, DbErr> {
    let seqs = append_many(tx, vec![(actor, change)], outcome).await?;
    Ok(seqs.first().copied().unwrap_or_default())
}

/// Appends several allowed changes in one go, inside the caller's transaction: the chain head is
/// locked and moved once for all of them (ingestion records one entry per request, and commits
/// many requests together).
pub async fn record_many(
    tx: &DatabaseTransaction,
    entries: Vec<(&Actor, Change)>,
) -> Result<Vec<i64>, DbErr> {
    append_many(tx, entries, "allowed").await
}

async fn append_many(
    tx: &DatabaseTransaction,
    entries: Vec<(&Actor, Change)>,
    outcome: &str,
) -> Result<Vec<i64>, DbErr> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let n = entries.len();
    let backend = tx.get_database_backend();
    // Lock the head first — every appender queues here, in any process — and read it with the
    // policy version in force, in one statement.
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    let head = tx
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE audit_head SET seq = seq + {} WHERE id = 1 RETURNING seq, hash, \
                 (SELECT version FROM policy_versions ORDER BY id DESC LIMIT 1) AS policy_version",
                if backend == DbBackend::Postgres {
                    "$1"
                } else {
                    "?"
                }
            ),
            [count.into()],
        ))
        .await?
        .ok_or_else(|| {
            DbErr::RecordNotFound("audit_head row 1 (migrations not applied?)".into())
        })?;
    let head_seq: i64 = head.try_get("", "seq")?;
    let head_hash: String = head.try_get("", "hash")?;
    let policy_version: Option<String> = head.try_get("", "policy_version")?;
    let first = head_seq - count + 1;
    let mut prev = head_hash;
    let mut rows = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let at = now_string();
    for (i, (actor, change)) in entries.into_iter().enumerate() {
        let seq = first + i64::try_from(i).unwrap_or(i64::MAX);
        let roles = canonical_json(&Value::from(actor.roles.clone()));
        let before = change.before.as_ref().map(canonical_json);
        let after = change.after.as_ref().map(canonical_json);
        let fields = EntryFields {
            seq,
            at: &at,
            actor: &actor.sub,
            roles: &roles,
            action: &change.action,
            target: &change.target,
            outcome,
            before: before.as_deref(),
            after: after.as_deref(),
            request_id: &actor.request_id,
            prev_hash: &prev,
            policy_version: policy_version.as_deref(),
        };
        let hash = fields.hash();
        rows.push(audit_entry::ActiveModel {
            seq: Set(seq),
            at: Set(at.clone()),
            actor: Set(actor.sub.clone()),
            roles: Set(roles.clone()),
            action: Set(change.action.clone()),
            target: Set(change.target.clone()),
            outcome: Set(outcome.to_string()),
            before: Set(before.clone()),
            after: Set(after.clone()),
            request_id: Set(actor.request_id.clone()),
            prev_hash: Set(prev.clone()),
            hash: Set(hash.clone()),
            policy_version: Set(policy_version.clone()),
        });
        prev = hash;
        seqs.push(seq);
    }
    // The entries and the new head hash; the last chunk of entries and the head go in one
    // round trip on PostgreSQL (`Writes`). `rows` is not empty (`entries` was not).
    let mut chunks: Vec<&[audit_entry::ActiveModel]> = rows.chunks(200).collect();
    let last = chunks.pop().unwrap_or_default();
    for chunk in chunks {
        audit_entry::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(tx)
            .await?;
    }
    let mut writes = worker::db::Writes::default();
    writes.push(audit_entry::Entity::insert_many(last.to_vec()).build(backend));
    let set_hash = match backend {
        DbBackend::Postgres => "UPDATE audit_head SET hash = $1 WHERE id = 1",
        _ => "UPDATE audit_head SET hash = ? WHERE id = 1",
    };
    writes.push(Statement::from_sql_and_values(
        backend,
        set_hash,
        [prev.into()],
    ));
    writes.run(tx).await?;
    Ok(seqs)
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: i64,
    /// The first inconsistency: the entry's seq and what is wrong with it.
    pub problem: Option<(i64, String)>,
}

/// Walks the whole chain: sequence gaps (deleted rows), broken links (reordered or altered
/// rows), contents that no longer match their hash (edited rows), and a head that points past
/// the end of the log (truncated tail).
pub async fn verify(db: &DatabaseConnection) -> Result<VerifyReport, DbErr> {
    let mut expected_seq = 1i64;
    let mut prev_hash = entity::chain::GENESIS_HASH.to_string();
    loop {
        let page = audit_entry::Entity::find()
            .filter(audit_entry::Column::Seq.gte(expected_seq))
            .order_by_asc(audit_entry::Column::Seq)
            .limit(1000)
            .all(db)
            .await?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            let problem = if row.seq != expected_seq {
                Some(format!(
                    "entry {expected_seq} is missing: the log jumps from {} to {} (deleted?)",
                    expected_seq - 1,
                    row.seq
                ))
            } else if row.prev_hash != prev_hash {
                Some(format!(
                    "entry {} does not link to entry {}: prev_hash differs (an earlier entry was altered, or entries were reordered)",
                    row.seq,
                    row.seq - 1
                ))
            } else if EntryFields::of(row).hash() != row.hash {
                Some(format!(
                    "entry {} was edited: its contents no longer match its hash",
                    row.seq
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                return Ok(VerifyReport {
                    entries: expected_seq - 1,
                    problem: Some((expected_seq.min(row.seq), p)),
                });
            }
            prev_hash = row.hash.clone();
            expected_seq += 1;
        }
    }
    let last = expected_seq - 1;
    let head = audit_head::Entity::find_by_id(1).one(db).await?;
    if let Some(head) = head
        && (head.seq != last || head.hash != prev_hash)
    {
        return Ok(VerifyReport {
            entries: last,
            problem: Some((
                last + 1,
                format!(
                    "the chain head records {} entries but the log holds {last}: entries after {last} were removed (truncated)",
                    head.seq
                ),
            )),
        });
    }
    Ok(VerifyReport {
        entries: last,
        problem: None,
    })
}

/// One exported entry (a JSON line).
#[derive(Debug, Clone, Serialize, Deserialize, async_graphql::SimpleObject)]
pub struct ExportedEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub roles: Vec<String>,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
    /// The policy version in force when the entry was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

impl From<audit_entry::Model> for ExportedEntry {
    fn from(m: audit_entry::Model) -> Self {
        let parse = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
        Self {
            seq: m.seq,
            roles: serde_json::from_str(&m.roles).unwrap_or_default(),
            at: m.at,
            actor: m.actor,
            action: m.action,
            target: m.target,
            outcome: m.outcome,
            before: parse(m.before),
            after: parse(m.after),
            request_id: m.request_id,
            prev_hash: m.prev_hash,
            hash: m.hash,
            policy_version: m.policy_version,
        }
    }
}

/// Filters for listing the log.
#[derive(Debug, Clone, Default, async_graphql::InputObject)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Exact target, or a prefix ending in `*` (`template:lead-capture*`).
    pub target: Option<String>,
    pub outcome: Option<String>,
    /// RFC 3339 time; entries at or after it.
    pub since: Option<String>,
    /// RFC 3339 time; entries before it.
    pub until: Option<String>,
}

/// Entries matching `filter` with seq greater than `after_seq`, oldest first, at most `limit`.
pub async fn list(
    db: &DatabaseConnection,
    filter: &AuditFilter,
    after_seq: i64,
    limit: u64,
) -> ApiResult<Vec<audit_entry::Model>> {
    let mut q = audit_entry::Entity::find().filter(audit_entry::Column::Seq.gt(after_seq));
    if let Some(a) = &filter.actor {
        q = q.filter(audit_entry::Column::Actor.eq(a.as_str()));
    }
    if let Some(a) = &filter.action {
        q = q.filter(audit_entry::Column::Action.eq(a.as_str()));
    }
    if let Some(t) = &filter.target {
        q = match t.strip_suffix('*') {
            Some(prefix) => q.filter(audit_entry::Column::Target.starts_with(prefix)),
            None => q.filter(audit_entry::Column::Target.eq(t.as_str())),
        };
    }
    if let Some(o) = &filter.outcome {
        q = q.filter(audit_entry::Column::Outcome.eq(o.as_str()));
    }
    if let Some(s) = &filter.since {
        q = q.filter(audit_entry::Column::At.gte(normalize_time("filter.since", s)?));
    }
    if let Some(u) = &filter.until {
        q = q.filter(audit_entry::Column::At.lt(normalize_time("filter.until", u)?));
    }
    Ok(q.order_by_asc(audit_entry::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

/// Parses an RFC 3339 time (or a bare date) into the log's fixed-width UTC form.
pub fn normalize_time(field: &str, value: &str) -> ApiResult<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| {
            ApiError::bad_input(
                field,
                format!("`{value}` is not an RFC 3339 time (e.g. 2026-11-27T09:00:00Z) or a date"),
            )
        })?;
    Ok(parsed.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}
