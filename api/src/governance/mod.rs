//! Governance that holds while the system runs: policy versions and what each change does to
//! live workflows, policy-driven approvals, retention and erasure.
//!
//! The policy in force is a version recorded in the database (`versions`); a reload of the files
//! is an *activation*: one transaction records the new version, an audit entry with its content
//! hash and the diff, and what it does to every live workflow (re-evaluated, paused or narrowed,
//! owners notified). Every process converges on the newest version within a poll — API
//! processes adopt a version another process activated (`spawn`), workers compare each
//! delivery's decision with it (`worker::policy`). A proposal can be previewed first
//! (`impact`). Never edits the policy files; never decides outside `policy`.

pub mod apply;
pub mod approvals;
pub mod erasure;
pub mod evaluate;
pub mod impact;
pub mod rebind;
pub mod retention;
pub mod versions;

use crate::audit::{self, Actor, Change};
use crate::error::ApiResult;
use crate::policy::{Policy, Refused};
use crate::state::AppState;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use std::time::Duration;

/// The actor of activations and of the work governance does on its own.
pub fn system() -> Actor {
    Actor::system("policy")
}

/// Makes `proposed` the policy in force: recorded in the database with an audit entry naming
/// its content hash and the diff against `before` (the policy it replaces), then installed into
/// `live` (this process's policy). A version already in force (activated by another process with
/// the same files) is only installed.
pub async fn activate(
    db: &DatabaseConnection,
    live: &Policy,
    before: &Policy,
    proposed: &Policy,
    source: &str,
) -> ApiResult<()> {
    let diff = impact::impact(Some(db), before, proposed).await?;
    let evals = reevaluate(db, proposed, &evaluate::live(db).await?).await;
    let required = requirements(db, before, proposed, &evals).await;
    let tx = crate::db::begin_write(db).await?;
    let newest = versions::newest_hash(&tx).await?;
    if newest.as_ref().map(|(_, h)| h.as_str()) == Some(proposed.hash().as_str()) {
        tx.commit().await?;
        live.install_from(proposed);
        return Ok(());
    }
    let previous = versions::active_version(&tx).await?;
    let (model, rules) = proposed.texts();
    let summary = json!({
        "model_changed": diff.model_changed,
        "rules_added": diff.rules_added,
        "rules_removed": diff.rules_removed,
    });
    versions::insert(
        &tx,
        versions::NewVersion {
            version: &proposed.version(),
            hash: &proposed.hash(),
            model: &model,
            policy: &rules,
            activated_by: "system:policy",
            source,
            previous: previous.as_deref(),
            summary: Some(summary.clone()),
        },
    )
    .await?;
    let mut after = json!({
        "version": proposed.version(), "hash": proposed.hash(), "source": source,
        "diff": summary,
        "rights": diff.rights,
    });
    if let Some(map) = after.as_object_mut() {
        map.insert(
            "instances".into(),
            serde_json::to_value(&diff.instances).unwrap_or(Value::Null),
        );
    }
    let applied = apply::apply(&tx, &system(), &proposed.version(), &evals).await?;
    let mut pending = Vec::new();
    for (id, now, new) in &required {
        let Some(inst) = entity::instance::Entity::find_by_id(*id).one(&tx).await? else {
            continue;
        };
        let change = approvals::PolicyChange { now, new };
        if approvals::revalidate(&tx, &inst, Some(change)).await? {
            pending.push(*id);
        }
    }
    if let Some(map) = after.as_object_mut() {
        map.insert("paused".into(), json!(applied.paused));
        map.insert("narrowed".into(), json!(applied.narrowed));
        map.insert("awaiting_approval".into(), json!(pending));
    }
    audit::record(
        &tx,
        &system(),
        Change {
            action: "policy.reload".into(),
            target: "policy:files".into(),
            before: Some(json!({ "version": previous, "hash": before.hash() })),
            after: Some(after),
        },
    )
    .await?;
    tx.commit().await?;
    live.install_from(proposed);
    tracing::info!(version = %proposed.version(), source, "policy version activated");
    Ok(())
}

/// For each evaluated workflow: the approvals `proposed` requires of it, and those of them
/// `before` did not require.
async fn requirements(
    db: &DatabaseConnection,
    before: &Policy,
    proposed: &Policy,
    evals: &[evaluate::Evaluation],
) -> Vec<(
    i64,
    Vec<approvals::Requirement>,
    Vec<approvals::Requirement>,
)> {
    let mut reads = evaluate::Reads::default();
    let mut out = Vec::with_capacity(evals.len());
    for e in evals {
        let inst = &e.instance;
        let now = approvals::required_of(db, proposed, &mut reads, inst, &e.after).await;
        let was = approvals::required_of(db, before, &mut reads, inst, &e.before).await;
        let (Ok(now), Ok(was)) = (now, was) else {
            continue;
        };
        let new = now
            .iter()
            .filter(|r| !was.iter().any(|w| w.object == r.object))
            .cloned()
            .collect();
        out.push((inst.id, now, new));
    }
    out
}

/// Ends approvals that expired or whose approved inputs changed (a destination rebound, the
/// template version moved), sending their workflows back to pending.
pub async fn sweep_approvals(db: &DatabaseConnection) -> ApiResult<usize> {
    let mut due = Vec::new();
    for inst in approvals::approved_instances(db).await? {
        if approvals::stale(db, &inst).await? {
            due.push(inst);
        }
    }
    if due.is_empty() {
        return Ok(0);
    }
    let tx = crate::db::begin_write(db).await?;
    for inst in &due {
        // Read again under the write lock: the instance may have moved on.
        if let Some(fresh) = entity::instance::Entity::find_by_id(inst.id)
            .one(&tx)
            .await?
        {
            approvals::revalidate(&tx, &fresh, None).await?;
        }
    }
    tx.commit().await?;
    Ok(due.len())
}

/// `instances` evaluated under `policy` against their stored decisions; a workflow that cannot
/// be evaluated (its template version gone) is logged and left to the next sweep.
async fn reevaluate(
    db: &DatabaseConnection,
    policy: &Policy,
    instances: &[entity::instance::Model],
) -> Vec<evaluate::Evaluation> {
    let mut reads = evaluate::Reads::default();
    let mut out = Vec::with_capacity(instances.len());
    for inst in instances {
        match evaluate::evaluate(db, policy, &mut reads, inst, None).await {
            Ok(e) => out.push(e),
            Err(e) => {
                tracing::warn!(instance = inst.id, error = %e, "cannot re-evaluate a workflow's flows")
            }
        }
    }
    out
}

/// Re-decides the flows of live workflows whose decision was not made under the version in
/// force (created by a process that had not adopted it yet, or skipped by a reload), once this
/// process enforces that version.
pub async fn sweep(db: &DatabaseConnection, policy: &Policy) -> ApiResult<apply::Applied> {
    let version = policy.version();
    if versions::active_version(db).await?.as_deref() != Some(version.as_str()) {
        return Ok(apply::Applied::default());
    }
    let stale = apply::stale(db, &version, 200).await?;
    if stale.is_empty() {
        return Ok(apply::Applied::default());
    }
    let evals = reevaluate(db, policy, &stale).await;
    let tx = crate::db::begin_write(db).await?;
    let done = apply::apply(&tx, &system(), &version, &evals).await?;
    tx.commit().await?;
    Ok(done)
}

/// At start: puts `policy` (just loaded from the files) under `db`. The first start records it
/// as the first version; files that differ from the version in force are activated like a
/// reload — unless they would lock every administrator out, in which case the version in force
/// stays (and this process enforces it).
pub async fn startup(db: &DatabaseConnection, policy: &Policy) -> anyhow::Result<()> {
    policy.govern(db.clone());
    let source = policy.dir().display().to_string();
    let Some(row) = versions::newest(db).await? else {
        let (model, rules) = policy.texts();
        let tx = crate::db::begin_write(db).await?;
        if versions::newest_hash(&tx).await?.is_none() {
            versions::insert(
                &tx,
                versions::NewVersion {
                    version: &policy.version(),
                    hash: &policy.hash(),
                    model: &model,
                    policy: &rules,
                    activated_by: "system:startup",
                    source: &source,
                    previous: None,
                    summary: None,
                },
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(());
    };
    if row.hash == policy.hash() {
        return Ok(());
    }
    let stored = Policy::from_texts(policy.dir(), &row.model, &row.policy).await?;
    if let Some(why) = impact::impact(None, &stored, policy).await?.refused {
        tracing::error!(files = %source, version = %row.version, "{why}; keeping the version in force");
        refused(
            db,
            &Refused {
                version: policy.version(),
                reason: why,
            }
            .to_string(),
            &source,
        )
        .await;
        policy.install_from(&stored);
        return Ok(());
    }
    activate(db, policy, &stored, policy, &source)
        .await
        .map_err(|e| anyhow::anyhow!("activating the policy files: {e}"))
}

/// Audits a refused edit of the policy files (outcome `denied`, with the reason).
async fn refused(db: &DatabaseConnection, reason: &str, source: &str) {
    let change = Change {
        action: "policy.reload".into(),
        target: "policy:files".into(),
        before: None,
        after: Some(json!({ "refused": reason, "source": source })),
    };
    if let Err(e) = audit::record_refused(db, &system(), change).await {
        tracing::warn!(error = %e, "could not audit a refused policy edit");
    }
}

/// Adopts the newest version in the database when another process activated it.
pub async fn sync(db: &DatabaseConnection, policy: &Policy) -> anyhow::Result<bool> {
    let Some((_, hash)) = versions::newest_hash(db).await? else {
        return Ok(false);
    };
    if hash == policy.hash() {
        return Ok(false);
    }
    let Some(row) = versions::newest(db).await? else {
        return Ok(false);
    };
    let stored = Policy::from_texts(policy.dir(), &row.model, &row.policy).await?;
    policy.install_from(&stored);
    tracing::info!(version = %row.version, by = %row.activated_by, "adopted the policy version in force");
    Ok(true)
}

/// The governance loop of an API process: every second, reload the policy files if they
/// changed (activating them), adopt a version another process activated, re-decide the flows
/// of workflows still decided under an older version, end approvals that expired or whose
/// inputs changed, and purge what retention says is due.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_error: Option<String> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let source = state.policy.dir().display().to_string();
        let node = format!("api-{}", uuid::Uuid::now_v7().simple());
        loop {
            tick.tick().await;
            match state.policy.reload_if_changed().await {
                Ok(true) => last_error = None,
                Ok(false) => {}
                Err(e) => {
                    let msg = format!("{e:#}");
                    if last_error.as_deref() != Some(msg.as_str()) {
                        tracing::error!(error = %msg, "policy edit rejected; the last good policy stays in force");
                        refused(&state.db, &msg, &source).await;
                        last_error = Some(msg);
                    }
                }
            }
            if let Err(e) = sync(&state.db, &state.policy).await {
                tracing::warn!(error = %e, "could not read the policy version in force");
            }
            if let Err(e) = sweep(&state.db, &state.policy).await {
                tracing::warn!(error = %e, "could not re-evaluate workflows under the policy in force");
            }
            if let Err(e) = sweep_approvals(&state.db).await {
                tracing::warn!(error = %e, "could not check approvals for expiry and changed inputs");
            }
            let retention = &state.config.retention;
            match retention::due(&state.db, &node, retention.purge_interval_seconds).await {
                Ok(true) => match retention::purge(&state.db, retention).await {
                    Ok(p) => tracing::info!(
                        events = p.events,
                        runs = p.runs,
                        deliveries = p.deliveries,
                        contacts = p.contacts,
                        dead_letters = p.dead_letters,
                        "retention purge"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "retention purge failed; it runs again at the next interval")
                    }
                },
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not check whether the retention purge is due")
                }
            }
        }
    })
}
