//! Fan-out: inside the transaction that stores events — ingestion's, or a run's for the events
//! its `emit` steps emit — every stored event gets one run job per active instance whose trigger
//! matches it (contract and version range). An acknowledged event therefore always has its runs
//! staged. When this process runs workers, the jobs are staged already claimed for them and
//! handed over after the commit, so the first step runs without a claim query.
//!
//! Loop guard: an emitted event never starts an instance its chain already went through.

use crate::jobs::{Job, JobV1};
use crate::queue::{self, Claimed, NewJob};
use entity::instance;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use std::collections::{HashMap, HashSet};

/// An event just stored.
pub struct Stored<'a> {
    /// The request's W3C traceparent, continued by the runs.
    pub trace: Option<&'a str>,
    pub id: &'a str,
    pub contract: &'a str,
    pub version: &'a str,
    /// The instances the event's chain went through (empty for events from outside): none of
    /// them is started again.
    pub chain: &'a [i64],
}

/// Stages the runs of `events`; returns, per event id, how many runs it got, and the jobs staged
/// claimed by `claim` (node, lease end).
pub async fn fan_out<C: ConnectionTrait>(
    tx: &C,
    events: &[&Stored<'_>],
    claim: Option<&(String, i64)>,
) -> Result<(HashMap<String, usize>, Vec<Claimed>), DbErr> {
    let mut staged = HashMap::new();
    if events.is_empty() {
        return Ok((staged, Vec::new()));
    }
    let contracts: HashSet<&str> = events.iter().map(|e| e.contract).collect();
    let instances = instance::Entity::find()
        .filter(instance::Column::Status.eq("active"))
        .filter(instance::Column::TriggerContract.is_in(contracts))
        .all(tx)
        .await?;
    if instances.is_empty() {
        return Ok((staged, Vec::new()));
    }
    let mut by_contract: HashMap<&str, Vec<(&instance::Model, Option<semver::VersionReq>)>> =
        HashMap::new();
    for i in &instances {
        let req = i
            .trigger_versions
            .as_deref()
            .and_then(|v| semver::VersionReq::parse(v).ok());
        if let Some(c) = i.trigger_contract.as_deref() {
            by_contract.entry(c).or_default().push((i, req));
        }
    }
    let now = chrono::Utc::now();
    let mut jobs = Vec::new();
    for ev in events {
        let Some(candidates) = by_contract.get(ev.contract) else {
            continue;
        };
        let version = semver::Version::parse(ev.version).ok();
        for (inst, req) in candidates {
            let matches = match (req, &version) {
                (Some(req), Some(v)) => req.matches(v),
                (None, _) => true,
                (Some(_), None) => false,
            };
            if !matches || ev.chain.contains(&inst.id) {
                continue;
            }
            *staged.entry(ev.id.to_string()).or_insert(0) += 1;
            let job = NewJob::run(
                Job::V1(JobV1::Run {
                    instance_id: inst.id,
                    event_id: ev.id.to_string(),
                    from_step: None,
                }),
                now,
            )
            .traced(ev.trace.map(str::to_string));
            jobs.push(match claim {
                Some((node, until)) => job.claimed(node, *until),
                None => job,
            });
        }
    }
    let claimed = queue::stage(tx, jobs).await?;
    Ok((staged, claimed))
}
