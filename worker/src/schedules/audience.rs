//! Audience sync: segment membership is a CEL predicate over the contact store
//! (`params.segment in event.segment_ids`, per contact). Each sync sends only the difference
//! from what the destination last acknowledged — adds and removes — as one delivery per segment.
//!
//! The steps run through the one interpreter: the steps before the first `suppress` or `map`
//! step judge each segment, the steps from there to the `deliver` step judge and map each member,
//! and the one field rule decides what of each member leaves. What the destination holds is
//! learned from delivered syncs: each sync first applies the adds and removes of segment
//! deliveries delivered since the last one (`applied_through`), so a failed sync is simply sent
//! again as part of the next difference.

use crate::engine::Engine;
use crate::queue::{self, NewJob};
use crate::runs::fields;
use crate::runs::interpret::{self, Destination, Input, delivery_row, idempotency_key};
use crate::runs::plan::Plan;
use crate::runs::steps::RunState;
use entity::documents::record::{Decision, DeliveryFields, RunRecord, StepDecision};
use entity::documents::template::StepKind;
use entity::status::{DeliveryStatus, RunStatus};
use entity::{audience_member, contact, delivery, instance, sync_state};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Segment membership, evaluated per contact with `params.segment` bound to the segment id.
const MEMBERSHIP: &str = "params.segment in event.segment_ids";

/// The contact store, read once per sync, as inputs (traits plus email).
async fn contacts(engine: &Engine) -> Result<Vec<Value>, DbErr> {
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

/// Applies delivered segment deliveries not applied yet to the instance's membership.
async fn reconcile(engine: &Engine, instance_id: i64) -> Result<(), DbErr> {
    let tx = crate::db::begin_write(&engine.db).await?;
    let state = sync_state::Entity::find_by_id(instance_id).one(&tx).await?;
    let applied = state.as_ref().and_then(|s| s.applied_through).unwrap_or(0);
    let delivered = delivery::Entity::find()
        .filter(delivery::Column::InstanceId.eq(instance_id))
        .filter(delivery::Column::Object.eq("segment"))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Delivered.as_str()))
        .filter(delivery::Column::Id.gt(applied))
        .order_by_asc(delivery::Column::Id)
        .all(&tx)
        .await?;
    let Some(last) = delivered.last() else {
        return tx.commit().await;
    };
    let (last_id, last_at) = (last.id, last.updated_at.clone());
    for d in &delivered {
        let record: Value = serde_json::from_str(&d.record).unwrap_or(Value::Null);
        let adds: Vec<audience_member::ActiveModel> = record["add"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("member_key").and_then(Value::as_str))
            .map(|k| audience_member::ActiveModel {
                instance_id: Set(instance_id),
                member_key: Set(k.to_string()),
                added_at: Set(entity::clock::now_string()),
                ..Default::default()
            })
            .collect();
        for chunk in adds.chunks(500) {
            audience_member::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([
                    audience_member::Column::InstanceId,
                    audience_member::Column::MemberKey,
                ])
                .exec_without_returning(&tx)
                .await?;
        }
        let removes: Vec<String> = record["remove"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        if !removes.is_empty() {
            audience_member::Entity::delete_many()
                .filter(audience_member::Column::InstanceId.eq(instance_id))
                .filter(audience_member::Column::MemberKey.is_in(removes))
                .exec(&tx)
                .await?;
        }
    }
    let size = audience_member::Entity::find()
        .filter(audience_member::Column::InstanceId.eq(instance_id))
        .count(&tx)
        .await?;
    let row = sync_state::ActiveModel {
        instance_id: Set(instance_id),
        last_success_at: Set(Some(last_at)),
        audience_size: Set(i64::try_from(size).unwrap_or(i64::MAX)),
        last_run_id: Set(state.as_ref().and_then(|s| s.last_run_id)),
        updated_at: Set(entity::clock::now_string()),
        applied_through: Set(Some(last_id)),
    };
    sync_state::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(sync_state::Column::InstanceId)
                .update_columns([
                    sync_state::Column::LastSuccessAt,
                    sync_state::Column::AudienceSize,
                    sync_state::Column::UpdatedAt,
                    sync_state::Column::AppliedThrough,
                ])
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
    tx.commit().await
}

/// What one segment's sync decided.
struct Segment {
    decision: StepDecision,
    delivery: Option<delivery::ActiveModel>,
    /// What the steps after the audience delivery decided for the segment (say, an `emit` of
    /// `event.audience_published`), their deliveries and emitted events.
    after: Vec<StepDecision>,
    extra: Vec<delivery::ActiveModel>,
    emits: Vec<crate::runs::emit::Emitted>,
}

impl Segment {
    fn only(decision: StepDecision) -> Self {
        Self {
            decision,
            delivery: None,
            after: Vec::new(),
            extra: Vec::new(),
            emits: Vec::new(),
        }
    }
}

/// Runs one sync of `inst` for `tick`.
pub async fn sync(
    engine: &Engine,
    job: (i64, i32),
    inst: &instance::Model,
    plan: &Plan,
    trigger_key: &str,
    tick: &str,
) -> Result<(), DbErr> {
    reconcile(engine, inst.id).await?;
    let dests = interpret::destinations(&engine.db, inst).await?;
    let steps = &plan.def.steps;
    let Some(at) = steps.iter().position(
        |s| matches!(&s.kind, StepKind::Deliver(c) if c.object.as_deref() == Some("segment")),
    ) else {
        return Ok(());
    };
    let split = steps[..at]
        .iter()
        .position(|s| matches!(s.kind, StepKind::Suppress(_) | StepKind::Map(_)))
        .unwrap_or(at);
    let params: Value = serde_json::from_str(&inst.params).unwrap_or(Value::Null);
    let segment_ids: Vec<String> = params["segment_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let mut segments = Vec::new();
    if let Some(dest) = dests.get(steps[at].kind.slot().unwrap_or_default()) {
        let everyone = contacts(engine).await?;
        for segment_id in &segment_ids {
            let ctx = Ctx {
                engine,
                inst,
                plan,
                dests: &dests,
                dest,
                at,
                split,
                tick,
                params: &params,
            };
            segments.push(one_segment(&ctx, segment_id, &everyone).await?);
        }
    }
    let tx = crate::db::begin_write(&engine.db).await?;
    if queue::finish(&tx, &engine.node, &[job]).await?.is_empty() {
        return tx.commit().await;
    }
    let Some(run) = super::new_run(&tx, inst, trigger_key, None).await? else {
        return tx.commit().await;
    };
    let mut record = RunRecord::default();
    let mut rows = Vec::new();
    let mut emitted = Vec::new();
    for s in segments {
        record.steps.push(s.decision);
        record.steps.extend(s.after);
        for mut d in s.delivery.into_iter().chain(s.extra) {
            d.run_id = Set(run.id);
            rows.push(d);
        }
        emitted.extend(s.emits.into_iter().map(|e| (run.id, e)));
    }
    let created = match delivery::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([delivery::Column::IdempotencyKey])
        .exec_with_returning_many(&tx)
        .await?
    {
        sea_orm::TryInsertResult::Inserted(m) => m,
        _ => Vec::new(),
    };
    let lease = engine.lease_until();
    let jobs: Vec<NewJob> = created
        .iter()
        .map(|d| {
            let j = NewJob::deliver(d.id, 1, d.connection_id, chrono::Utc::now());
            if engine.lanes.has_room(&j.lane) {
                j.claimed(&engine.node, lease)
            } else {
                j
            }
        })
        .collect();
    let claimed = queue::stage(&tx, jobs).await?;
    let detail = if record.steps.is_empty() {
        "no segment to sync (none chosen, or the audience slot is not bound)".to_string()
    } else {
        record
            .steps
            .iter()
            .map(|s| s.detail.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    super::end_run(&tx, &run, RunStatus::Succeeded, &detail, &record).await?;
    let started = crate::runs::emit::record(&tx, &emitted, engine.local_claim().as_ref()).await?;
    tx.commit().await?;
    engine.hand_over(started);
    crate::runs::commit::hand_over_deliveries(engine, created, claimed);
    Ok(())
}

struct Ctx<'a> {
    engine: &'a Engine,
    inst: &'a instance::Model,
    plan: &'a Plan,
    dests: &'a interpret::Destinations,
    dest: &'a Destination,
    at: usize,
    split: usize,
    tick: &'a str,
    params: &'a Value,
}

async fn one_segment(
    ctx: &Ctx<'_>,
    segment_id: &str,
    everyone: &[Value],
) -> Result<Segment, DbErr> {
    let (engine, inst, plan) = (ctx.engine, ctx.inst, ctx.plan);
    let step = &plan.def.steps[ctx.at];
    let input = |payload: Value| Input {
        payload,
        accepted_at: entity::clock::now_string(),
        event_id: None,
        trigger_key: format!("tick:{}", ctx.tick),
        chain: Vec::new(),
    };
    let p = json!({ "segment": segment_id });
    let people: Vec<&Value> = everyone
        .iter()
        .filter(|c| crate::runs::cel::condition(MEMBERSHIP, c, &p).unwrap_or(false))
        .collect();
    let seg_input = json!({"segment_id": segment_id, "name": segment_id, "status": "active",
                           "member_count": people.len()});
    let mut seg = RunState {
        event: seg_input.clone(),
        params: ctx.params.clone(),
        record: None,
    };
    let judged = interpret::run_steps(
        &engine.db,
        plan,
        inst,
        ctx.dests,
        &input(seg_input),
        0,
        0..ctx.split,
        &mut seg,
    )
    .await?;
    if judged.status != RunStatus::Succeeded {
        return Ok(Segment::only(decision(
            step,
            Decision::Skipped,
            format!(
                "{segment_id}: {} ({} people)",
                judged.detail.unwrap_or_default(),
                people.len()
            ),
            json!({"segment": segment_id}),
        )));
    }
    let mut desired: BTreeMap<String, Value> = BTreeMap::new();
    let mut fields = DeliveryFields {
        policy_version: ctx.dest.policy_version.clone(),
        ..DeliveryFields::default()
    };
    for person in people {
        let mut st = RunState {
            event: person.clone(),
            params: ctx.params.clone(),
            record: None,
        };
        let o = interpret::run_steps(
            &engine.db,
            plan,
            inst,
            ctx.dests,
            &input(person.clone()),
            0,
            ctx.split..ctx.at,
            &mut st,
        )
        .await?;
        if o.status != RunStatus::Succeeded || o.resume.is_some() {
            continue;
        }
        let (mut out, f) = fields::outgoing(&ctx.dest.flow, st.record.as_ref(), &st.event);
        out.retain(|_, v| *v != Value::String(String::new()));
        fields.sent.extend(f.sent);
        fields.withheld.extend(f.withheld);
        fields.sources.extend(f.sources);
        let identifiers = match &step.kind {
            StepKind::Deliver(c) if !c.identifiers.is_empty() => c.identifiers.clone(),
            _ => vec!["email_sha256".into(), "phone_sha256".into()],
        };
        let key = identifiers
            .iter()
            .find_map(|k| out.get(k).and_then(Value::as_str).map(str::to_string));
        if let Some(key) = key {
            desired.insert(format!("{segment_id}:{key}"), Value::Object(out));
        }
    }
    let current: BTreeSet<String> = audience_member::Entity::find()
        .filter(audience_member::Column::InstanceId.eq(inst.id))
        .filter(audience_member::Column::MemberKey.starts_with(format!("{segment_id}:")))
        .all(&engine.db)
        .await?
        .into_iter()
        .map(|m| m.member_key)
        .collect();
    let remove_departed = match &step.kind {
        StepKind::Deliver(c) => c
            .remove_departed
            .as_deref()
            .is_none_or(|e| crate::runs::cel::condition(e, &seg.event, ctx.params).unwrap_or(true)),
        _ => true,
    };
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
    let detail = format!(
        "{segment_id}: {} members, {} to add, {} to remove",
        desired.len(),
        adds.len(),
        removes.len()
    );
    let data = json!({"segment": segment_id, "members": desired.len(), "adds": adds.len(), "removes": removes.len()});
    if adds.is_empty() && removes.is_empty() {
        return Ok(Segment::only(decision(
            step,
            Decision::Passed,
            detail,
            data,
        )));
    }
    let audience_name = match &step.kind {
        StepKind::Deliver(c) => c
            .audience_name
            .as_deref()
            .and_then(|e| crate::runs::cel::eval(e, &seg.event, ctx.params).ok()),
        _ => None,
    }
    .and_then(|v| v.as_str().map(str::to_string))
    .unwrap_or_else(|| segment_id.to_string());
    let record = json!({
        "audience_name": audience_name,
        "segment_id": segment_id,
        "add": adds,
        "remove": removes,
        "audience_size": desired.len(),
    });
    let slot = step.kind.slot().unwrap_or_default();
    let row = delivery_row(
        inst,
        &step.id,
        slot,
        ctx.dest,
        (
            idempotency_key(inst.id, &format!("{segment_id}@{}", ctx.tick), &step.id),
            segment_id.to_string(),
        ),
        "segment".into(),
        "upsert",
        record,
        fields.to_json(),
        &entity::clock::now_string(),
    );
    let mut out = Segment::only(decision(step, Decision::Delivery, detail, data));
    out.delivery = Some(row);
    let rest = ctx.at + 1..plan.def.steps.len();
    if !rest.is_empty() {
        // The steps after the audience delivery see the segment as synced.
        if let Some(obj) = seg.event.as_object_mut() {
            obj.insert("audience_name".into(), Value::String(audience_name));
            obj.insert("audience_size".into(), Value::from(desired.len()));
            obj.insert("added".into(), Value::from(adds.len()));
            obj.insert("removed".into(), Value::from(removes.len()));
            obj.insert(
                "published_at".into(),
                Value::String(entity::clock::now_string()),
            );
        }
        let after = Input {
            trigger_key: format!("tick:{}#{segment_id}", ctx.tick),
            ..input(seg.event.clone())
        };
        let o = interpret::run_steps(&engine.db, plan, inst, ctx.dests, &after, 0, rest, &mut seg)
            .await?;
        out.after = o.record.steps;
        out.extra = o.deliveries;
        out.emits = o.emits;
    }
    Ok(out)
}

fn decision(
    step: &entity::documents::template::Step,
    d: Decision,
    detail: String,
    data: Value,
) -> StepDecision {
    StepDecision {
        step: step.id.clone(),
        kind: step.kind.name().to_string(),
        decision: d,
        detail,
        data,
    }
}
