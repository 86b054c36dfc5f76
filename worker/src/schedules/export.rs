//! Reporting export: every event of the input contract received since the last export (or
//! within `lookback_days` the first time) gets a normal run of this instance, whose steps write
//! the warehouse row and the export file. Each event is exported once per instance (its run is
//! unique per instance and event).

use crate::engine::Engine;
use crate::jobs::{Job, JobV1};
use crate::queue::{self, NewJob};
use entity::documents::record::{Decision, RunRecord, StepDecision};
use entity::status::RunStatus;
use entity::{event, instance, sync_state};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::{Value, json};

pub async fn export(
    engine: &Engine,
    job: (i64, i32),
    inst: &instance::Model,
    trigger_key: &str,
    contract: &str,
) -> Result<(), DbErr> {
    let db = &engine.db;
    let params: Value = serde_json::from_str(&inst.params).unwrap_or(Value::Null);
    let state = sync_state::Entity::find_by_id(inst.id).one(db).await?;
    let since = match state.as_ref().and_then(|s| s.last_success_at.clone()) {
        Some(t) => t,
        None => {
            let days = params
                .get("lookback_days")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            entity::clock::format(chrono::Utc::now() - chrono::Duration::days(days))
        }
    };
    let started = entity::clock::now_string();
    let ids: Vec<String> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::EventType.eq(contract))
        .filter(event::Column::ReceivedAt.gte(since.as_str()))
        .order_by_asc(event::Column::ReceivedAt)
        .limit(100_000)
        .into_tuple()
        .all(db)
        .await?;
    let now = chrono::Utc::now();
    let jobs: Vec<NewJob> = ids
        .iter()
        .map(|id| {
            NewJob::run(
                Job::V1(JobV1::Run {
                    instance_id: inst.id,
                    event_id: id.clone(),
                    from_step: None,
                }),
                now,
            )
        })
        .collect();
    let tx = crate::db::begin_write(db).await?;
    if queue::finish(&tx, &engine.node, &[job]).await?.is_empty() {
        return tx.commit().await;
    }
    let Some(run) = super::new_run(&tx, inst, trigger_key, None).await? else {
        return tx.commit().await;
    };
    queue::stage(&tx, jobs).await?;
    let row = sync_state::ActiveModel {
        instance_id: Set(inst.id),
        last_success_at: Set(Some(started)),
        audience_size: Set(state.as_ref().map_or(0, |s| s.audience_size)),
        last_run_id: Set(Some(run.id)),
        updated_at: Set(entity::clock::now_string()),
        applied_through: Set(state.as_ref().and_then(|s| s.applied_through)),
    };
    sync_state::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(sync_state::Column::InstanceId)
                .update_columns([
                    sync_state::Column::LastSuccessAt,
                    sync_state::Column::LastRunId,
                    sync_state::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
    let detail = format!(
        "{} {contract} events since {since} queued for export",
        ids.len()
    );
    let record = RunRecord {
        steps: vec![StepDecision {
            step: "export".into(),
            kind: "schedule".into(),
            decision: Decision::Passed,
            detail: detail.clone(),
            data: json!({"events": ids.len(), "since": since}),
        }],
    };
    super::end_run(&tx, &run, RunStatus::Succeeded, &detail, &record).await?;
    tx.commit().await?;
    engine.wake.runs_queued();
    Ok(())
}
