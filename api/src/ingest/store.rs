//! Writing one request's accepted events and drift counters in one transaction. The caller
//! answers only after `commit` returned, so an acknowledged event is on disk.

use super::Violation;
use crate::db::begin_write;
use entity::{contact, contract_drift, event};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Set, TryInsertResult,
    sea_query::{Expr, ExprTrait},
};
use std::collections::{BTreeMap, HashSet};

/// Most distinct drift rows kept per contract; beyond it new kinds of violation are only counted
/// in existing rows.
const MAX_DRIFT_ROWS_PER_CONTRACT: u64 = 500;

/// A drift observation: (contract, version, rule, pointer) → (count, last message).
pub type Drift = BTreeMap<(String, String, String, String), (i64, String)>;

/// Adds `violations` of an event of `contract`/`version` to `drift`, folding array indices.
pub fn observe(drift: &mut Drift, contract: &str, version: &str, violations: &[Violation]) {
    for v in violations {
        let pointer: String = v
            .pointer
            .split('/')
            .map(|s| {
                if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
                    "*"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let pointer: String = pointer.chars().take(300).collect();
        let entry = drift
            .entry((
                contract.to_string(),
                version.to_string(),
                v.rule.clone(),
                pointer,
            ))
            .or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = v.message.chars().take(500).collect();
    }
}

/// Inserts the events whose ids are new and records drift; returns the ids that already
/// existed (duplicates), which were not written. `rows` must not repeat an id.
///
/// In the same transaction: a run is staged in the outbox for every active instance each new
/// event triggers, and one audit entry records what the source's request added.
pub async fn commit(
    db: &DatabaseConnection,
    rows: Vec<event::ActiveModel>,
    drift: &Drift,
    contacts: &[super::ContactUpsert],
    source: &crate::audit::Actor,
) -> Result<HashSet<String>, DbErr> {
    let tx = begin_write(db).await?;
    let ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.id.try_as_ref().cloned())
        .collect();
    // `ON CONFLICT DO NOTHING RETURNING id`: ids already stored — by an earlier request or by a
    // concurrent one on another connection — are skipped, never an error, and we learn which.
    let mut inserted: HashSet<String> = HashSet::new();
    for chunk in rows.chunks(500) {
        let result = event::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([event::Column::Id])
            .exec_with_returning_keys(&tx)
            .await?;
        if let TryInsertResult::Inserted(keys) = result {
            inserted.extend(keys);
        }
    }
    let existing: HashSet<String> = ids
        .into_iter()
        .filter(|id| !inserted.contains(id))
        .collect();
    let stored: Vec<crate::execution::outbox::Stored<'_>> = rows
        .iter()
        .filter_map(|r| {
            let id = r.id.try_as_ref()?;
            inserted.contains(id).then_some(())?;
            Some(crate::execution::outbox::Stored {
                id: id.as_str(),
                contract: r.event_type.try_as_ref()?.as_str(),
                version: r.version.try_as_ref()?.as_str(),
            })
        })
        .collect();
    let staged = crate::execution::outbox::fan_out(&tx, &stored).await?;
    if !stored.is_empty() {
        crate::audit::record(
            &tx,
            source,
            crate::audit::Change {
                action: "events.ingest".into(),
                target: source.sub.clone(),
                before: None,
                after: Some(serde_json::json!({
                    "accepted": stored.len(),
                    "first_id": stored.first().map(|s| s.id),
                    "last_id": stored.last().map(|s| s.id),
                    "runs_staged": staged,
                })),
            },
        )
        .await?;
    }
    let now = crate::audit::now_string();
    for ((contract, version, rule, pointer), (count, message)) in drift {
        let updated = contract_drift::Entity::update_many()
            .col_expr(
                contract_drift::Column::Count,
                Expr::col(contract_drift::Column::Count).add(*count),
            )
            .col_expr(contract_drift::Column::LastSeenAt, Expr::value(now.clone()))
            .col_expr(
                contract_drift::Column::LastMessage,
                Expr::value(message.clone()),
            )
            .filter(contract_drift::Column::Contract.eq(contract.as_str()))
            .filter(contract_drift::Column::Version.eq(version.as_str()))
            .filter(contract_drift::Column::Rule.eq(rule.as_str()))
            .filter(contract_drift::Column::Pointer.eq(pointer.as_str()))
            .exec(&tx)
            .await?;
        if updated.rows_affected > 0 {
            continue;
        }
        let rows_for_contract = contract_drift::Entity::find()
            .filter(contract_drift::Column::Contract.eq(contract.as_str()))
            .count(&tx)
            .await?;
        if rows_for_contract >= MAX_DRIFT_ROWS_PER_CONTRACT {
            continue;
        }
        contract_drift::ActiveModel {
            contract: Set(contract.clone()),
            version: Set(version.clone()),
            rule: Set(rule.clone()),
            pointer: Set(pointer.clone()),
            count: Set(*count),
            first_seen_at: Set(now.clone()),
            last_seen_at: Set(now.clone()),
            last_message: Set(message.clone()),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
    }
    for (external_id, email, traits) in contacts {
        upsert_contact(&tx, external_id, email.as_deref(), traits).await?;
    }
    crate::execution::outbox::commit(tx).await?;
    Ok(existing)
}

/// Merges `traits` into the contact `external_id` (created if new).
async fn upsert_contact(
    tx: &sea_orm::DatabaseTransaction,
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
