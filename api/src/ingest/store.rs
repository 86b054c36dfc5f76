//! Writing requests' accepted events, their run jobs, audit entries, drift counters and contact
//! upserts in one transaction (group commit). The caller answers only after `commit` returned,
//! so an acknowledged event is on disk.

use crate::db::begin_write;
use entity::{contact, event};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    TryInsertResult,
};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub use worker::drift::{Drift, observe};

/// One request's writes, waiting for the group commit.
pub struct Batch {
    pub rows: Vec<event::ActiveModel>,
    pub drift: Drift,
    /// Contact upserts by the id of the identify event carrying them: applied only when that
    /// event is new, so a duplicate identify changes nothing.
    pub contacts: Vec<(String, super::ContactUpsert)>,
    pub source: crate::audit::Actor,
    /// W3C traceparent of the request (when traces are exported): its runs continue the trace.
    pub trace: Option<String>,
}

type Reply = oneshot::Sender<Result<HashSet<String>, String>>;

/// Most events committed in one transaction.
const GROUP_EVENTS: usize = 5_000;

/// Group commit for ingestion: concurrent requests share one transaction (and, on SQLite, one
/// fsync); each is answered only after that transaction committed, so an acknowledged event is
/// on disk. A request waits for no one: the committer takes whatever arrived while the previous
/// transaction committed. A transaction that fails is retried request by request, so one bad
/// request cannot fail the others.
pub struct Committer {
    tx: mpsc::UnboundedSender<(Batch, Reply)>,
}

impl Committer {
    /// Starts the committer. With `engine` (workers in this process), the runs it stages are
    /// claimed for that engine and handed to it after the commit.
    pub fn start(db: DatabaseConnection, engine: Option<Arc<worker::Engine>>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Batch, Reply)>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut events = first.0.rows.len();
                let mut group = vec![first];
                while events < GROUP_EVENTS {
                    match rx.try_recv() {
                        Ok(next) => {
                            events += next.0.rows.len();
                            group.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let (batches, replies): (Vec<Batch>, Vec<Reply>) = group.into_iter().unzip();
                match commit_group(&db, engine.as_deref(), &batches).await {
                    Ok(existing) => {
                        for (reply, e) in replies.into_iter().zip(existing) {
                            let _ = reply.send(Ok(e));
                        }
                    }
                    Err(e) if batches.len() == 1 => {
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                    Err(_) => {
                        for (batch, reply) in batches.into_iter().zip(replies) {
                            let one = std::slice::from_ref(&batch);
                            let r = commit_group(&db, engine.as_deref(), one).await;
                            let _ = reply.send(
                                r.map(|mut v| v.pop().unwrap_or_default())
                                    .map_err(|e| e.to_string()),
                            );
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Inserts the events whose ids are new and records drift; returns the ids that already
    /// existed (duplicates), which were not written. `batch.rows` must not repeat an id.
    pub async fn commit(&self, batch: Batch) -> Result<HashSet<String>, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((batch, reply))
            .map_err(|_| DbErr::Custom("the ingestion committer has stopped".into()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("the ingestion committer has stopped".into()))?
            .map_err(DbErr::Custom)
    }
}

/// Writes several requests in one transaction: their events (new ids only), one run job per
/// matching active instance, one audit entry per request that stored events, drift counters
/// and contact upserts. Returns, per request, the ids that already existed.
async fn commit_group(
    db: &DatabaseConnection,
    engine: Option<&worker::Engine>,
    batches: &[Batch],
) -> Result<Vec<HashSet<String>>, DbErr> {
    let tx = begin_write(db).await?;
    let all: Vec<event::ActiveModel> = batches
        .iter()
        .flat_map(|b| b.rows.iter().cloned())
        .collect();
    // `ON CONFLICT DO NOTHING RETURNING id`: ids already stored — by an earlier request or by a
    // concurrent one on another connection — are skipped, never an error, and we learn which.
    let mut inserted: HashSet<String> = HashSet::new();
    for chunk in all.chunks(500) {
        let result = event::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([event::Column::Id])
            .exec_with_returning_keys(&tx)
            .await?;
        if let TryInsertResult::Inserted(keys) = result {
            inserted.extend(keys);
        }
    }
    let mut stored_per: Vec<Vec<worker::runs::fanout::Stored<'_>>> =
        Vec::with_capacity(batches.len());
    let mut existing_per = Vec::with_capacity(batches.len());
    for b in batches {
        let mut stored = Vec::new();
        let mut existing = HashSet::new();
        for r in &b.rows {
            let Some(id) = r.id.try_as_ref() else {
                continue;
            };
            if inserted.remove(id) {
                stored.push(worker::runs::fanout::Stored {
                    trace: b.trace.as_deref(),
                    id: id.as_str(),
                    contract: r.event_type.try_as_ref().map_or("", String::as_str),
                    version: r.version.try_as_ref().map_or("", String::as_str),
                    chain: &[],
                });
            } else {
                existing.insert(id.clone());
            }
        }
        stored_per.push(stored);
        existing_per.push(existing);
    }
    let claim = engine.and_then(worker::Engine::local_claim);
    let all_stored: Vec<&worker::runs::fanout::Stored<'_>> = stored_per.iter().flatten().collect();
    let (staged, claimed) = worker::runs::fanout::fan_out(&tx, &all_stored, claim.as_ref()).await?;
    let mut entries = Vec::new();
    for (b, stored) in batches.iter().zip(&stored_per) {
        if stored.is_empty() {
            continue;
        }
        let runs: usize = stored
            .iter()
            .map(|s| staged.get(s.id).copied().unwrap_or(0))
            .sum();
        entries.push((
            &b.source,
            crate::audit::Change {
                action: "events.ingest".into(),
                target: b.source.sub.clone(),
                before: None,
                after: Some(serde_json::json!({
                    "accepted": stored.len(),
                    "first_id": stored.first().map(|s| s.id),
                    "last_id": stored.last().map(|s| s.id),
                    "runs_staged": runs,
                })),
            },
        ));
    }
    crate::audit::record_many(&tx, entries).await?;
    let mut drift = Drift::new();
    for b in batches {
        for (k, (n, msg)) in &b.drift {
            let e = drift.entry(k.clone()).or_insert((0, String::new()));
            e.0 += n;
            e.1 = msg.clone();
        }
    }
    worker::drift::record(&tx, &drift).await?;
    for (b, stored) in batches.iter().zip(&stored_per) {
        for (id, (external_id, email, traits)) in &b.contacts {
            if stored.iter().any(|s| s.id == id.as_str()) {
                upsert_contact(&tx, external_id, email.as_deref(), traits).await?;
            }
        }
    }
    // Unsubscribes and consent withdrawals feed the suppression lists (`crate::suppressions`).
    let stored_ids: HashSet<&str> = stored_per.iter().flatten().map(|s| s.id).collect();
    crate::suppressions::feed_ingested(&*tx, batches, &stored_ids).await?;
    tx.commit().await?;
    if let Some(engine) = engine {
        // Runs staged unclaimed (no local claim, or a job already waiting) are in the queue.
        let unclaimed = staged.values().sum::<usize>() > claimed.len();
        // (`hand_over` wakes the run consumer for the claimed ones.)
        engine.hand_over(claimed);
        if unclaimed {
            engine.wake.runs_queued();
        }
    }
    Ok(existing_per)
}

/// Merges `traits` into the contact `external_id` (created if new).
async fn upsert_contact(
    tx: &worker::db::WriteTx,
    external_id: &str,
    email: Option<&str>,
    traits: &serde_json::Value,
) -> Result<(), DbErr> {
    let now = crate::audit::now_string();
    let found = contact::Entity::find()
        .filter(contact::Column::ExternalId.eq(external_id))
        .one(tx)
        .await?;
    match found {
        Some(row) => {
            let mut merged: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&row.traits).unwrap_or_default();
            if let Some(new) = traits.as_object() {
                merged.extend(new.clone());
            }
            let email = email.map(str::to_string).or(row.email.clone());
            let mut active: contact::ActiveModel = row.into();
            active.traits = Set(serde_json::Value::Object(merged).to_string());
            active.email = Set(email);
            active.updated_at = Set(now);
            active.update(tx).await?;
        }
        None => {
            contact::ActiveModel {
                external_id: Set(external_id.to_string()),
                email: Set(email.map(str::to_string)),
                traits: Set(traits.to_string()),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(tx)
            .await?;
        }
    }
    Ok(())
}
