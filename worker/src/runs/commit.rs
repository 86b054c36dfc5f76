//! Recording runs. One transaction per batch of run jobs, in this order:
//!
//! 1. the jobs' queue rows are deleted, fenced on the claim — a batch that lost its lease
//!    records nothing;
//! 2. new runs are inserted (unique per instance and trigger: a repeated job finds its run and
//!    adds nothing) and resumed runs are updated only from the state they were resumed in;
//! 3. each run's dedupe keys are claimed; a run whose key an earlier run holds within the window
//!    becomes `skipped` as a duplicate and makes no deliveries;
//! 4. deliveries are inserted (unique idempotency keys) with their decision records, their first
//!    attempts staged — claimed by this process when the destination's lane has room, so they
//!    start right after the commit — and delays and approval deadlines staged;
//! 5. events emitted by `emit` steps are stored, each naming its run, and the runs they start
//!    are staged (`emit::record`).

use super::interpret::Outcome;
use crate::engine::Engine;
use crate::jobs::{Job, JobV1};
use crate::queue::{self, Claimed, NewJob};
use entity::clock;
use entity::documents::record::Decision;
use entity::status::RunStatus;
use entity::{delivery, run};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, Statement};
use std::collections::HashMap;

/// Which run a job records into.
pub enum RunRef {
    /// A run to create (an event's first job).
    New {
        instance_id: i64,
        event_id: Option<String>,
        trigger_key: String,
        accepted_at: String,
        /// The template version it runs on.
        version: String,
    },
    /// A run that exists (resumed, started by hand); updated only if still in this state.
    Existing(run::Model),
}

/// One job's result to record.
pub struct Work {
    pub job: (i64, i32),
    /// The run, what it decided, and its template (for metrics); `None`: nothing to record but
    /// the job's end.
    pub result: Option<(RunRef, Outcome, String)>,
}

impl Work {
    /// A job that ends without recording anything (a repeat, a vanished instance).
    pub fn finish_only(job: (i64, i32)) -> Self {
        Self { job, result: None }
    }
}

fn finished(status: RunStatus) -> Option<String> {
    (!status.is_parked() && status != RunStatus::Running).then(clock::now_string)
}

/// Records `works` in one transaction, then hands the deliveries it staged claimed to this
/// process's delivery consumer.
pub async fn record(engine: &Engine, works: Vec<Work>) -> Result<(), DbErr> {
    if works.is_empty() {
        return Ok(());
    }
    let tx = crate::db::begin_write(&engine.db).await?;
    let jobs: Vec<(i64, i32)> = works.iter().map(|w| w.job).collect();
    let owned = queue::finish(&tx, &engine.node, &jobs).await?;
    let mut news = Vec::new();
    let mut rows: Vec<(run::Model, Outcome, String, bool)> = Vec::new();
    for w in works {
        if !owned.contains(&w.job.0) {
            continue;
        }
        let Some((run_ref, outcome, template)) = w.result else {
            continue;
        };
        match run_ref {
            RunRef::New {
                instance_id,
                event_id,
                trigger_key,
                accepted_at,
                version,
            } => news.push((
                (instance_id, trigger_key.clone()),
                run::ActiveModel {
                    instance_id: Set(instance_id),
                    event_id: Set(event_id),
                    trigger_key: Set(trigger_key),
                    status: Set(outcome.status),
                    step: Set(outcome.step.clone()),
                    detail: Set(outcome.detail.clone()),
                    started_at: Set(clock::now_string()),
                    finished_at: Set(finished(outcome.status)),
                    latency_ms: Set(clock::millis_since(&accepted_at)),
                    decisions: Set(engine.cfg.observe.then(|| outcome.record.to_json())),
                    input: Set(None),
                    deadline_at: Set(outcome.deadline.map(clock::format)),
                    template_version: Set(Some(version)),
                    ..Default::default()
                },
                outcome,
                template,
            )),
            RunRef::Existing(prior) => {
                let changed = run::Entity::update_many()
                    .col_expr(run::Column::Status, Expr::value(outcome.status.as_str()))
                    .col_expr(run::Column::Step, Expr::value(outcome.step.clone()))
                    .col_expr(run::Column::Detail, Expr::value(outcome.detail.clone()))
                    .col_expr(
                        run::Column::FinishedAt,
                        Expr::value(finished(outcome.status)),
                    )
                    .col_expr(
                        run::Column::Decisions,
                        Expr::value(outcome.record.to_json()),
                    )
                    .col_expr(
                        run::Column::DeadlineAt,
                        Expr::value(outcome.deadline.map(clock::format)),
                    )
                    .filter(run::Column::Id.eq(prior.id))
                    .filter(run::Column::Status.eq(prior.status.as_str()))
                    .exec(&tx)
                    .await?
                    .rows_affected;
                if changed == 1 {
                    rows.push((prior, outcome, template, false));
                }
            }
        }
    }
    if !news.is_empty() {
        let mut keys = Vec::with_capacity(news.len());
        let mut actives = Vec::with_capacity(news.len());
        let mut rest = Vec::with_capacity(news.len());
        for (key, active, outcome, template) in news {
            keys.push(key);
            actives.push(active);
            rest.push((outcome, template));
        }
        let inserted = match run::Entity::insert_many(actives)
            .on_conflict_do_nothing_on([run::Column::InstanceId, run::Column::TriggerKey])
            .exec_with_returning_many(&tx)
            .await?
        {
            sea_orm::TryInsertResult::Inserted(models) => models,
            _ => Vec::new(),
        };
        let mut by_key: HashMap<(i64, String), run::Model> = inserted
            .into_iter()
            .map(|m| ((m.instance_id, m.trigger_key.clone()), m))
            .collect();
        for (key, (outcome, template)) in keys.into_iter().zip(rest) {
            if let Some(model) = by_key.remove(&key) {
                rows.push((model, outcome, template, true));
            }
        }
    }
    let mut deliveries = Vec::new();
    let mut traces: Vec<Option<String>> = Vec::new();
    let mut later = Vec::new();
    let mut counts: Vec<(String, RunStatus)> = Vec::new();
    let mut tally = crate::health::Tally::default();
    let mut run_changes = Vec::new();
    let mut emitted = Vec::new();
    for (run, mut outcome, template, is_new) in rows {
        run_changes.push(crate::changes::Change::run(run.instance_id, run.id));
        if let Some(holder) = claim_keys(&tx, &run, &outcome).await? {
            demote(&tx, &run, &mut outcome, holder).await?;
            tally.duplicate(run.instance_id);
        }
        tally.run(
            run.instance_id,
            outcome.status,
            is_new && run.event_id.is_some(),
        );
        emitted.extend(outcome.emits.drain(..).map(|e| (run.id, e)));
        for mut d in outcome.deliveries.drain(..) {
            d.run_id = Set(run.id);
            deliveries.push(d);
            traces.push(outcome.trace.clone());
        }
        if let Some((from_step, at)) = outcome.resume {
            later.push(NewJob::run(
                Job::V1(JobV1::Continue {
                    run_id: run.id,
                    from_step,
                }),
                at,
            ));
        }
        if let Some(at) = outcome.deadline {
            later.push(NewJob::run(Job::V1(JobV1::Expire { run_id: run.id }), at));
        }
        counts.push((template, outcome.status));
    }
    let mut created = Vec::new();
    for chunk in deliveries.chunks(200) {
        if let sea_orm::TryInsertResult::Inserted(models) =
            delivery::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([delivery::Column::IdempotencyKey])
                .exec_with_returning_many(&tx)
                .await?
        {
            created.extend(models);
        }
    }
    for d in &created {
        let fields = entity::documents::record::DeliveryFields::parse(d.fields.as_deref());
        tally.record(d.instance_id, &fields);
    }
    // `execution.observe = false` (only to measure what observation costs): no health
    // aggregates, decision records, live updates or metrics.
    let observe = engine.cfg.observe;
    let mut changes: Vec<crate::changes::Change> = Vec::new();
    if observe {
        changes = run_changes;
        changes.extend(
            created
                .iter()
                .map(|d| crate::changes::Change::delivery(d.instance_id, d.run_id, d.id)),
        );
        // Counters and live-update notices in one round trip.
        let mut writes = crate::db::Writes::default();
        tally.stage(tx.get_database_backend(), &mut writes);
        crate::changes::stage(tx.get_database_backend(), &changes, &mut writes);
        writes.run(&tx).await?;
    }
    let lease = engine.lease_until();
    let trace_of: std::collections::HashMap<&str, Option<String>> = deliveries
        .iter()
        .zip(traces)
        .filter_map(|(d, t)| Some((d.idempotency_key.try_as_ref()?.as_str(), t)))
        .collect();
    for d in &created {
        let trace = trace_of.get(d.idempotency_key.as_str()).cloned().flatten();
        let job = NewJob::deliver(d.id, 1, d.connection_id, chrono::Utc::now()).traced(trace);
        later.push(if engine.lanes.has_room(&job.lane) {
            job.claimed(&engine.node, lease)
        } else {
            job
        });
    }
    let claimed = queue::stage(&tx, later).await?;
    // Events emitted by `emit` steps, and the runs they start (workflows starting workflows).
    let started = super::emit::record(&tx, &emitted, engine.local_claim().as_ref()).await?;
    tx.commit().await?;
    engine.hand_over(started);
    engine.changes.committed(&changes);
    for (template, status) in counts.into_iter().filter(|_| observe) {
        metrics::counter!("switchyard_runs_total", "template" => template, "status" => status.as_str())
            .increment(1);
    }
    hand_over_deliveries(engine, created, claimed);
    Ok(())
}

/// Gives this process's delivery consumer the deliveries it staged claimed.
pub(crate) fn hand_over_deliveries(
    engine: &Engine,
    created: Vec<delivery::Model>,
    claimed: Vec<Claimed>,
) {
    // Deliveries staged unclaimed (their lane was full) wait in the queue.
    let unclaimed = created.len() > claimed.len();
    if claimed.is_empty() {
        if unclaimed {
            engine.wake.deliveries_queued();
        }
        return;
    }
    let wanted: std::collections::HashSet<i64> = claimed
        .iter()
        .filter_map(|c| match c.job {
            Job::V1(JobV1::Deliver { delivery_id, .. }) => Some(delivery_id),
            _ => None,
        })
        .collect();
    engine.keep_fresh(created.into_iter().filter(|d| wanted.contains(&d.id)));
    engine.hold(claimed.iter().map(|c| (c.id, c.claims)));
    for c in claimed {
        engine.lanes.enqueue(c);
    }
    if unclaimed {
        engine.wake.deliveries_queued();
    } else {
        engine.wake.deliveries.notify_one();
    }
}

/// Claims the run's dedupe keys; `Some(holder)` names the run that holds one within its window.
async fn claim_keys<C: ConnectionTrait>(
    tx: &C,
    run: &run::Model,
    outcome: &Outcome,
) -> Result<Option<i64>, DbErr> {
    let backend = tx.get_database_backend();
    let p = |n: usize| match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    };
    for claim in &outcome.dedupe {
        let now = chrono::Utc::now();
        let window = chrono::Duration::minutes(
            i64::try_from(claim.window_minutes).unwrap_or(i64::MAX / 120_000),
        );
        let cutoff = clock::format(now - window);
        let sql = format!(
            "INSERT INTO dedupe_keys (instance_id, key_hash, run_id, seen_at) VALUES ({}, {}, {}, {}) \
             ON CONFLICT (instance_id, key_hash) DO UPDATE SET run_id = excluded.run_id, seen_at = excluded.seen_at \
             WHERE dedupe_keys.run_id = excluded.run_id OR dedupe_keys.seen_at < {} RETURNING run_id",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5)
        );
        let values = [
            run.instance_id.into(),
            claim.key_hash.clone().into(),
            run.id.into(),
            clock::format(now).into(),
            cutoff.into(),
        ];
        let got = tx
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        if got.is_none() {
            let holder = entity::dedupe_key::Entity::find()
                .filter(entity::dedupe_key::Column::InstanceId.eq(run.instance_id))
                .filter(entity::dedupe_key::Column::KeyHash.eq(claim.key_hash.as_str()))
                .one(tx)
                .await?
                .map_or(0, |k| k.run_id);
            return Ok(Some(holder));
        }
    }
    Ok(None)
}

/// A run whose dedupe key was taken: skipped as a duplicate of `holder`, with no deliveries.
async fn demote<C: ConnectionTrait>(
    tx: &C,
    run: &run::Model,
    outcome: &mut Outcome,
    holder: i64,
) -> Result<(), DbErr> {
    let at = outcome
        .record
        .steps
        .iter()
        .position(|s| s.kind == "dedupe" && outcome.dedupe.iter().any(|c| c.step == s.step));
    let (step, window) = match at {
        Some(i) => {
            outcome.record.steps.truncate(i + 1);
            let window = outcome.record.steps[i].data["window_minutes"]
                .as_u64()
                .unwrap_or(0);
            let s = &mut outcome.record.steps[i];
            s.decision = Decision::Deduplicated;
            s.detail = format!("duplicate of run {holder} within {window} minutes");
            if let Some(obj) = s.data.as_object_mut() {
                obj.insert("duplicate_of".into(), holder.into());
            }
            (Some(s.step.clone()), window)
        }
        None => (None, 0),
    };
    outcome.status = RunStatus::Skipped;
    outcome.detail = Some(format!("duplicate of run {holder} within {window} minutes"));
    outcome.step = step;
    outcome.deliveries.clear();
    outcome.emits.clear();
    outcome.resume = None;
    outcome.deadline = None;
    run::Entity::update_many()
        .col_expr(
            run::Column::Status,
            Expr::value(RunStatus::Skipped.as_str()),
        )
        .col_expr(run::Column::Step, Expr::value(outcome.step.clone()))
        .col_expr(run::Column::Detail, Expr::value(outcome.detail.clone()))
        .col_expr(run::Column::FinishedAt, Expr::value(clock::now_string()))
        .col_expr(
            run::Column::Decisions,
            Expr::value(outcome.record.to_json()),
        )
        .filter(run::Column::Id.eq(run.id))
        .exec(tx)
        .await?;
    metrics::counter!("switchyard_duplicates_suppressed_total").increment(1);
    Ok(())
}
