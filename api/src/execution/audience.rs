//! Audience sync: segment membership is a CEL predicate over the contact store
//! (`params_segment in event.segment_ids`, per contact); each sync sends only the difference
//! from what the destination last acknowledged — adds and removes — as one delivery per
//! segment. Membership and audience size are updated when that delivery is delivered, so a
//! failed sync is simply retried (or replayed) with the same difference.

use super::runner::idempotency_key;
use super::steps::{self, Flow, RunState};
use super::{Engine, Plan, cel_eval};
use crate::audit::now_string;
use entity::{audience_member, contact, delivery, instance, run, sync_state};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Segment membership, evaluated per contact with `params.segment` bound to the segment id.
const MEMBERSHIP: &str = "params.segment in event.segment_ids";

/// The contact store, read once per sync, as run-state events (traits plus email).
async fn contacts(engine: &Engine) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut pages = contact::Entity::find().paginate(&engine.db, 1000);
    while let Some(rows) = pages.fetch_and_next().await? {
        for c in rows {
            let mut traits: Map<String, Value> =
                serde_json::from_str(&c.traits).unwrap_or_default();
            if let Some(email) = &c.email {
                traits
                    .entry("email")
                    .or_insert(Value::String(email.clone()));
            }
            out.push(Value::Object(traits));
        }
    }
    Ok(out)
}

/// The contacts of `segment_id`.
fn members(all: &[Value], segment_id: &str) -> Vec<Value> {
    let p = json!({ "segment": segment_id });
    all.iter()
        .filter(|c| cel_eval::condition(MEMBERSHIP, c, &p).unwrap_or(false))
        .cloned()
        .collect()
}

/// Runs one sync of `inst` for `tick`.
pub async fn sync(
    engine: &Engine,
    inst: &instance::Model,
    plan: &Plan,
    run: &run::Model,
    tick: &str,
) -> anyhow::Result<()> {
    let params: Value = serde_json::from_str(&inst.params).unwrap_or(Value::Null);
    let mut destinations = engine.destinations(inst).await?;
    let Some(deliver) = plan.def.steps.iter().find(|s| s.step_type == "deliver") else {
        return Ok(());
    };
    let slot = deliver
        .config
        .get("slot")
        .and_then(Value::as_str)
        .unwrap_or("ads");
    let Some(dest) = destinations.remove(slot) else {
        return Ok(());
    };
    let allowed = dest.allowed;
    let split = plan
        .def
        .steps
        .iter()
        .position(|s| s.step_type == "suppress")
        .unwrap_or(0);
    let remove_departed = params
        .get("remove_departed_members")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let segment_ids: Vec<String> = params
        .get("segment_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut notes = Vec::new();
    let mut created = Vec::new();
    let everyone = contacts(engine).await?;
    for segment_id in &segment_ids {
        let people = members(&everyone, segment_id);
        let mut seg = RunState {
            event: json!({"segment_id": segment_id, "name": segment_id, "status": "active",
                          "member_count": people.len()}),
            params: params.clone(),
            record: None,
        };
        let mut skipped = None;
        for step in &plan.def.steps[..split] {
            if step.step_type == "validate"
                && let Flow::Stop { reason, .. } =
                    steps::validate(step, &seg).map_err(anyhow::Error::msg)?
            {
                skipped = Some(reason);
                break;
            }
        }
        if let Some(reason) = skipped {
            notes.push(format!("{segment_id}: {reason} ({} people)", people.len()));
            continue;
        }
        // Per person: the suppression and mapping steps; the record keeps allowed fields only.
        let mut desired: BTreeMap<String, Value> = BTreeMap::new();
        for person in people {
            let mut st = RunState {
                event: person,
                params: params.clone(),
                record: None,
            };
            let mut keep = true;
            for step in &plan.def.steps[split..] {
                let flow = match step.step_type.as_str() {
                    "suppress" => steps::suppress(&engine.db, step, &st).await?,
                    "map" => steps::map(step, &mut st).map_err(anyhow::Error::msg)?,
                    _ => Flow::Continue,
                };
                if flow != Flow::Continue {
                    keep = false;
                    break;
                }
            }
            let Some(rec) = st.record.filter(|_| keep) else {
                continue;
            };
            let mut fields = Map::new();
            for (name, value) in rec.fields {
                let ok = rec
                    .sources
                    .get(&name)
                    .is_none_or(|s| s.iter().all(|f| allowed.contains_key(f)));
                if ok && value != Value::String(String::new()) {
                    fields.insert(name, value);
                }
            }
            let key = ["email_sha256", "phone_sha256"]
                .iter()
                .find_map(|k| fields.get(*k).and_then(Value::as_str).map(str::to_string));
            if let Some(key) = key {
                desired.insert(format!("{segment_id}:{key}"), Value::Object(fields));
            }
        }
        seg.event["member_count"] = json!(desired.len());
        let current: BTreeSet<String> = audience_member::Entity::find()
            .filter(audience_member::Column::InstanceId.eq(inst.id))
            .filter(audience_member::Column::MemberKey.starts_with(format!("{segment_id}:")))
            .all(&engine.db)
            .await?
            .into_iter()
            .map(|m| m.member_key)
            .collect();
        let adds: Vec<Value> = desired
            .iter()
            .filter(|(k, _)| !current.contains(*k))
            .map(|(k, v)| json!({"member_key": k, "identifiers": v}))
            .collect();
        let removes: Vec<&String> = if remove_departed {
            current
                .iter()
                .filter(|k| !desired.contains_key(*k))
                .collect()
        } else {
            vec![]
        };
        notes.push(format!(
            "{segment_id}: {} members, {} to add, {} to remove",
            desired.len(),
            adds.len(),
            removes.len()
        ));
        if adds.is_empty() && removes.is_empty() {
            continue;
        }
        let prefix = params
            .get("audience_name_prefix")
            .and_then(Value::as_str)
            .unwrap_or("");
        let record = json!({
            "audience_name": format!("{prefix}{segment_id}"),
            "segment_id": segment_id,
            "add": adds,
            "remove": removes,
            "audience_size": desired.len(),
        });
        let now = now_string();
        created.push(delivery::ActiveModel {
            run_id: Set(run.id),
            instance_id: Set(inst.id),
            step_id: Set(deliver.id.clone()),
            slot: Set(slot.to_string()),
            connection_id: Set(dest.connection),
            connector: Set(dest.connector.clone()),
            idempotency_key: Set(idempotency_key(
                inst.id,
                &format!("{segment_id}@{tick}"),
                &deliver.id,
            )),
            business_key: Set(segment_id.clone()),
            object: Set("segment".into()),
            action: Set("upsert".into()),
            record: Set(record.to_string()),
            status: Set("pending".into()),
            attempts: Set(0),
            history: Set("[]".into()),
            accepted_at: Set(now.clone()),
            created_at: Set(now.clone()),
            updated_at: Set(now),
            replays: Set(0),
            ..Default::default()
        });
    }
    let tx = crate::db::begin_write(&engine.db).await?;
    for d in created {
        delivery::Entity::insert(d)
            .on_conflict_do_nothing_on([delivery::Column::IdempotencyKey])
            .exec_without_returning(&tx)
            .await?;
    }
    let mut active = run.clone().into_active_model();
    active.status = Set("succeeded".into());
    active.detail = Set(Some(notes.join("; ")));
    active.finished_at = Set(Some(now_string()));
    active.update(&tx).await?;
    tx.commit().await?;
    super::deliver::attempt_new(engine, run.id).await
}

/// When an audience delivery is delivered: the destination now holds the new membership.
pub async fn on_delivered(tx: &DatabaseTransaction, d: &delivery::Model) -> Result<(), DbErr> {
    if d.object != "segment" {
        return Ok(());
    }
    let record: Value = serde_json::from_str(&d.record).unwrap_or(Value::Null);
    if record.get("segment_id").and_then(Value::as_str).is_none() {
        return Ok(());
    }
    let now = now_string();
    let adds: Vec<audience_member::ActiveModel> = record
        .get("add")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("member_key").and_then(Value::as_str))
        .map(|k| audience_member::ActiveModel {
            instance_id: Set(d.instance_id),
            member_key: Set(k.to_string()),
            added_at: Set(now.clone()),
            ..Default::default()
        })
        .collect();
    for chunk in adds.chunks(500) {
        audience_member::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                audience_member::Column::InstanceId,
                audience_member::Column::MemberKey,
            ])
            .exec_without_returning(tx)
            .await?;
    }
    let removes: Vec<String> = record
        .get("remove")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if !removes.is_empty() {
        audience_member::Entity::delete_many()
            .filter(audience_member::Column::InstanceId.eq(d.instance_id))
            .filter(audience_member::Column::MemberKey.is_in(removes))
            .exec(tx)
            .await?;
    }
    let size = audience_member::Entity::find()
        .filter(audience_member::Column::InstanceId.eq(d.instance_id))
        .count(tx)
        .await?;
    let state = sync_state::ActiveModel {
        instance_id: Set(d.instance_id),
        last_success_at: Set(Some(now.clone())),
        audience_size: Set(i64::try_from(size).unwrap_or(i64::MAX)),
        last_run_id: Set(Some(d.run_id)),
        updated_at: Set(now),
    };
    sync_state::Entity::insert(state)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(sync_state::Column::InstanceId)
                .update_columns([
                    sync_state::Column::LastSuccessAt,
                    sync_state::Column::AudienceSize,
                    sync_state::Column::LastRunId,
                    sync_state::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
    Ok(())
}
