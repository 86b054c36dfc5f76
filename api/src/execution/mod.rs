//! Workflow execution: how an accepted event becomes deliveries at destinations.
//!
//! ingestion ─(same transaction)→ outbox ─dispatcher→ apalis queue ─worker→ runner (steps)
//!   → deliveries ─connector→ destination; failed attempts stage their retry in the outbox;
//!   exhausted ones become dead letters (`replay` brings them back after re-checking policy).
//!
//! `serve` runs all of it in-process; `worker` runs the dispatcher, the scheduler and the
//! workers without the API (scale-out on PostgreSQL). Policy is never consulted here, except by
//! `replay` (a person's mutation): what may flow where was decided at instantiation and is
//! stored with the instance.

pub mod audience;
pub mod cel_eval;
pub mod deliver;
pub mod dispatch;
pub mod outbox;
pub mod queue;
pub mod replay;
pub mod runner;
pub mod schedule;
pub mod steps;

use crate::catalog::{
    self,
    definitions::{ContractDef, Kind, TemplateDef, Trigger, typed},
};
use crate::config::ExecutionConfig;
use crate::connections::secret_box::SecretBox;
use apalis::prelude::*;
use entity::{connection, instance};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker::jobs::{Job, JobV1};
use worker::net::NetPolicy;
use worker::retry::Schedule;

/// A template version prepared for running: its definition and the key fields of the
/// contracts it reads and writes.
pub struct Plan {
    pub def: TemplateDef,
    pub trigger_contract: Option<String>,
    pub trigger_key_fields: Vec<String>,
    /// Object (contract name) → key fields, for the business key sent to destinations.
    pub object_keys: HashMap<String, Vec<String>>,
}

/// A bound slot as a run sees it.
pub struct Destination {
    pub connection: i64,
    pub connector: String,
    /// Source field → class as sent: what policy let reach this slot.
    pub allowed: BTreeMap<String, String>,
}

/// What jobs need: the database, the secret box, the network guard and the retry schedule.
pub struct Engine {
    pub db: DatabaseConnection,
    pub secrets: Arc<SecretBox>,
    pub net: NetPolicy,
    pub schedule: Schedule,
    /// Longest one connector call may take (connectors have their own, shorter timeouts).
    pub attempt_timeout: Duration,
    /// Longest one job may take before apalis retries it.
    pub job_timeout: Duration,
    plans: Mutex<HashMap<(String, String), Arc<Plan>>>,
}

impl Engine {
    pub fn new(
        db: DatabaseConnection,
        secrets: Arc<SecretBox>,
        cfg: &ExecutionConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            secrets,
            net: NetPolicy::new(&cfg.outbound_allow).map_err(anyhow::Error::msg)?,
            schedule: Schedule::parse(&cfg.retry_schedule).map_err(anyhow::Error::msg)?,
            attempt_timeout: Duration::from_secs(30),
            job_timeout: Duration::from_secs(cfg.job_timeout_seconds),
            plans: Mutex::default(),
        })
    }

    async fn key_fields(&self, contract: &str) -> anyhow::Result<Vec<String>> {
        let version = catalog::current(&self.db, Kind::Contract, contract).await?;
        Ok(version
            .and_then(|v| typed::<ContractDef>(&v.definition).ok())
            .map(|d| d.key_fields)
            .unwrap_or_default())
    }

    /// The prepared template version (cached: published versions never change).
    pub async fn plan(&self, template: &str, version: &str) -> anyhow::Result<Arc<Plan>> {
        let cache_key = (template.to_string(), version.to_string());
        if let Ok(plans) = self.plans.lock()
            && let Some(p) = plans.get(&cache_key)
        {
            return Ok(Arc::clone(p));
        }
        let row = catalog::version(&self.db, Kind::Template, template, version)
            .await?
            .ok_or_else(|| anyhow::anyhow!("template {template} {version} is gone"))?;
        let def: TemplateDef = typed(&row.definition)?;
        let trigger_contract = match &def.trigger {
            Trigger::Event { contract, .. } => Some(contract.clone()),
            _ => def.reads.first().map(|r| r.contract.clone()),
        };
        let trigger_key_fields = match &trigger_contract {
            Some(c) => self.key_fields(c).await?,
            None => vec![],
        };
        let mut object_keys = HashMap::new();
        for step in &def.steps {
            if let Some(object) = step.config.get("object").and_then(Value::as_str)
                && !object_keys.contains_key(object)
            {
                object_keys.insert(object.to_string(), self.key_fields(object).await?);
            }
        }
        let plan = Arc::new(Plan {
            def,
            trigger_contract,
            trigger_key_fields,
            object_keys,
        });
        if let Ok(mut plans) = self.plans.lock() {
            plans.insert(cache_key, Arc::clone(&plan));
        }
        Ok(plan)
    }

    /// Where each bound slot of `inst` leads: the connection, its connector, and the fields
    /// the stored flow decision lets reach it (one query, read once per run).
    pub async fn destinations(
        &self,
        inst: &instance::Model,
    ) -> anyhow::Result<BTreeMap<String, Destination>> {
        let bindings: BTreeMap<String, i64> = serde_json::from_str(&inst.bindings)?;
        let mut flows: BTreeMap<String, crate::instances::flows::Flow> =
            serde_json::from_str(&inst.flows).unwrap_or_default();
        let ids: Vec<i64> = bindings.values().copied().collect();
        let rows = connection::Entity::find()
            .filter(connection::Column::Id.is_in(ids))
            .all(&self.db)
            .await?;
        Ok(bindings
            .into_iter()
            .filter_map(|(slot, id)| {
                let row = rows.iter().find(|r| r.id == id)?;
                let allowed = flows.remove(&slot).map(|f| f.fields).unwrap_or_default();
                Some((
                    slot,
                    Destination {
                        connection: id,
                        connector: row.connector.clone(),
                        allowed,
                    },
                ))
            })
            .collect())
    }

    /// Runs one job.
    pub async fn handle(&self, job: Job) -> anyhow::Result<()> {
        match job {
            Job::V1(JobV1::Run {
                instance_id,
                event_id,
                from_step,
            }) => runner::run_event(self, instance_id, &event_id, from_step).await,
            Job::V1(JobV1::Deliver {
                delivery_id,
                attempt,
            }) => deliver::attempt(self, delivery_id, attempt).await,
            Job::V1(JobV1::Tick { instance_id, tick }) => {
                schedule::run_tick(self, instance_id, &tick).await
            }
        }
    }
}

/// Opens the execution pool (see `db::connect_execution`) and the queue on it.
pub async fn prepare(
    config: &crate::config::Config,
    secrets: Arc<SecretBox>,
) -> anyhow::Result<(Arc<Engine>, queue::Queue)> {
    let db = crate::db::connect_execution(&config.database_url).await?;
    let engine = Arc::new(Engine::new(db.clone(), secrets, &config.execution)?);
    let queue = queue::Queue::open(&db, &config.database_url, &config.execution).await?;
    Ok((engine, queue))
}

async fn handle_job(job: Job, engine: Data<Arc<Engine>>) -> Result<(), BoxDynError> {
    let limit = engine.job_timeout;
    match tokio::time::timeout(limit, engine.handle(job.clone())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(job = ?job, error = %e, "job failed; apalis will retry it");
            Err(e.into())
        }
        Err(_) => {
            tracing::warn!(job = ?job, "job exceeded {} s; apalis will retry it", limit.as_secs());
            Err(format!("job exceeded {} s", limit.as_secs()).into())
        }
    }
}

/// A worker name unique to this process start: apalis tells dead workers by their
/// heartbeats, and a reused name would hide a dead process's jobs.
fn worker_name(i: usize) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let start = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "switchyard-{host}-{}-{}-{i}",
        std::process::id(),
        &start[..12]
    )
}

/// Everything that runs jobs: the dispatcher, the scheduler and the apalis workers, until
/// `shutdown` resolves; in-flight jobs then get `grace` to finish.
pub async fn run(
    engine: Arc<Engine>,
    queue: queue::Queue,
    cfg: ExecutionConfig,
    shutdown: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) -> anyhow::Result<()> {
    let dispatcher = tokio::spawn(dispatch::run(
        engine.db.clone(),
        queue.clone(),
        shutdown.clone(),
    ));
    let poll = Duration::from_millis(cfg.poll_ms);
    let concurrency = cfg.concurrency;
    let mut stop = shutdown.clone();
    let signal = async move {
        let _ = stop.wait_for(|s| *s).await;
        Ok(())
    };
    let scheduler_engine = Arc::clone(&engine);
    let monitor = Monitor::new().register(move |_| {
        WorkerBuilder::new("switchyard-scheduler")
            .backend(apalis_cron::CronScheduler::new(
                schedule::every_quarter_minute(),
            ))
            .data(Arc::clone(&scheduler_engine))
            .build(schedule::on_tick)
    });
    let monitor = match queue {
        queue::Queue::Sqlite(storage) => monitor.register(move |i| {
            WorkerBuilder::new(worker_name(i))
                .backend(storage.clone().poll_with_strategy(queue::Every::new(poll)))
                .data(Arc::clone(&engine))
                .concurrency(concurrency)
                .build(handle_job)
        }),
        queue::Queue::Postgres(storage) => monitor.register(move |i| {
            WorkerBuilder::new(worker_name(i))
                .backend(storage.clone().poll_with_strategy(queue::Every::new(poll)))
                .data(Arc::clone(&engine))
                .concurrency(concurrency)
                .build(handle_job)
        }),
    };
    let result = monitor
        .shutdown_timeout(grace)
        .run_with_signal(signal)
        .await;
    dispatcher.abort();
    result.map_err(|e| anyhow::anyhow!("workers: {e}"))
}
