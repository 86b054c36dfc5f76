//! The engine: what every job handler shares — the execution database pool, the secret box,
//! the network guard, the retry schedule, the caches (prepared template versions, built
//! connectors), the per-destination lanes, the jobs this process holds, and its health.
//!
//! One `Engine` per process. `serve` and `switchyard worker` both build it and call
//! [`crate::run`]; the API side only talks to it to hand over jobs it staged already claimed
//! (so its own consumer runs them without a claim query) and to ask whether it is healthy.

use crate::config::ExecutionConfig;
use crate::deliveries::{connectors::ConnectorCache, lanes::Lanes, record::Recorder};
use crate::net::NetPolicy;
use crate::queue::{Claimed, wake::Wake};
use crate::retry::Schedule;
use crate::runs::plan::PlanCache;
use crate::secrets::SecretBox;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What went wrong while building the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

pub struct Engine {
    /// The pool job state is written through (see `api::db::connect_execution`).
    pub db: DatabaseConnection,
    pub secrets: Arc<SecretBox>,
    pub net: NetPolicy,
    pub schedule: Schedule,
    pub cfg: ExecutionConfig,
    /// This process's name in `work_queue.claimed_by`; unique per process start.
    pub node: String,
    pub wake: Arc<Wake>,
    pub plans: PlanCache,
    pub connectors: ConnectorCache,
    pub lanes: Lanes,
    pub recorder: Recorder,
    pub health: Health,
    /// Changes to runs and deliveries, for live views.
    pub changes: Arc<crate::changes::Bus>,
    /// The policy version in force, as last read from the database.
    pub policy: crate::policy::PolicyClock,
    /// Jobs this process holds (queued locally, waiting or running): id → (claims, lease end).
    held: Mutex<HashMap<i64, (i32, i64)>>,
    /// Steps jobs staged claimed by this process, waiting for its run consumer.
    handed_over: Mutex<Vec<Claimed>>,
    /// Deliveries just created by a run in this process, so their first attempt needs no read.
    fresh: Mutex<HashMap<i64, entity::delivery::Model>>,
    /// Whether the consumers run in this process (jobs may be staged claimed for it).
    running: AtomicBool,
}

impl Engine {
    pub fn new(
        db: DatabaseConnection,
        secrets: Arc<SecretBox>,
        cfg: ExecutionConfig,
    ) -> Result<Arc<Self>, EngineError> {
        cfg.check_invariants().map_err(EngineError::Config)?;
        let net = NetPolicy::new(&cfg.outbound_allow).map_err(EngineError::Config)?;
        let schedule = Schedule::parse(&cfg.retry_schedule).map_err(EngineError::Config)?;
        let lanes = Lanes::new(&cfg);
        Ok(Arc::new(Self {
            recorder: Recorder::default(),
            changes: crate::changes::Bus::new(&db),
            db,
            secrets,
            net,
            schedule,
            node: node_name(),
            wake: Arc::default(),
            plans: PlanCache::new(cfg.max_chain_depth),
            connectors: ConnectorCache::default(),
            lanes,
            health: Health::default(),
            policy: crate::policy::PolicyClock::default(),
            held: Mutex::default(),
            handed_over: Mutex::default(),
            fresh: Mutex::default(),
            running: AtomicBool::new(false),
            cfg,
        }))
    }

    /// When the consumers run here: the claim (node, lease end) under which the API may stage
    /// jobs for this process to run without a claim query.
    pub fn local_claim(&self) -> Option<(String, i64)> {
        self.running
            .load(Ordering::Relaxed)
            .then(|| (self.node.clone(), self.lease_until()))
    }

    /// Hands steps jobs staged claimed by this process (after their transaction committed).
    pub fn hand_over(&self, jobs: Vec<Claimed>) {
        if jobs.is_empty() {
            return;
        }
        self.hold(jobs.iter().map(|j| (j.id, j.claims)));
        lock(&self.handed_over).extend(jobs);
        self.wake.runs.notify_one();
    }

    pub(crate) fn take_handed_over(&self, max: usize) -> Vec<Claimed> {
        let mut q = lock(&self.handed_over);
        let n = q.len().min(max);
        q.drain(..n).collect()
    }

    pub(crate) fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::Relaxed);
    }

    /// The end of a lease taken now, in epoch ms.
    pub fn lease_until(&self) -> i64 {
        entity::clock::now_ms() + i64::try_from(self.cfg.lease().as_millis()).unwrap_or(i64::MAX)
    }

    pub(crate) fn hold(&self, jobs: impl IntoIterator<Item = (i64, i32)>) {
        let until = self.lease_until();
        lock(&self.held).extend(jobs.into_iter().map(|(id, claims)| (id, (claims, until))));
    }

    /// The leases of `ids` were renewed until `until`.
    pub(crate) fn renewed(&self, ids: &[i64], until: i64) {
        let mut held = lock(&self.held);
        for id in ids {
            if let Some(h) = held.get_mut(id) {
                h.1 = until;
            }
        }
    }

    /// Whether this process still holds job `id` under a lease that has not run out.
    pub(crate) fn still_holds(&self, id: i64) -> bool {
        let now = entity::clock::now_ms();
        lock(&self.held)
            .get(&id)
            .is_some_and(|(_, until)| *until > now)
    }

    /// Keeps deliveries for the attempts this process is about to make: those a run just
    /// created and handed over, and those of jobs just claimed (`attempt::preload`).
    pub(crate) fn keep_fresh(&self, rows: impl IntoIterator<Item = entity::delivery::Model>) {
        let mut fresh = lock(&self.fresh);
        if fresh.len() > 100_000 {
            fresh.clear();
        }
        fresh.extend(rows.into_iter().map(|d| (d.id, d)));
    }

    pub(crate) fn take_fresh(&self, id: i64) -> Option<entity::delivery::Model> {
        lock(&self.fresh).remove(&id)
    }

    pub(crate) fn forget_fresh(&self, ids: impl IntoIterator<Item = i64>) {
        let mut fresh = lock(&self.fresh);
        for id in ids {
            fresh.remove(&id);
        }
    }

    pub(crate) fn unhold(&self, ids: impl IntoIterator<Item = i64>) {
        let mut held = lock(&self.held);
        for id in ids {
            held.remove(&id);
        }
    }

    pub(crate) fn held_ids(&self) -> Vec<i64> {
        lock(&self.held).keys().copied().collect()
    }

    /// Nothing to do now: no job due or held in the database and none in this process. Tests
    /// wait for this instead of sleeping.
    pub async fn idle(&self) -> Result<bool, sea_orm::DbErr> {
        if !lock(&self.held).is_empty()
            || !lock(&self.handed_over).is_empty()
            || self.lanes.queued() > 0
        {
            return Ok(false);
        }
        Ok(crate::queue::busy(&self.db).await? == 0)
    }
}

/// Liveness of this process's consumers, for `/readyz`.
pub struct Health {
    /// When the engine was built (epoch ms): consumers that have not polled yet are starting.
    started: i64,
    /// Last time (epoch ms) each feeder completed a round with the queue: runs, deliveries.
    pub last_poll: [AtomicI64; 2],
    /// Times a consumer was restarted after losing the queue.
    pub restarts: AtomicU64,
    /// Set while a feeder is failing (the error, for `/readyz`).
    pub failing: Mutex<Option<String>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            started: entity::clock::now_ms(),
            last_poll: Default::default(),
            restarts: AtomicU64::new(0),
            failing: Mutex::default(),
        }
    }
}

impl Health {
    pub(crate) fn polled(&self, which: usize) {
        if let Some(slot) = self.last_poll.get(which) {
            slot.store(entity::clock::now_ms(), Ordering::Relaxed);
        }
        *lock(&self.failing) = None;
    }

    pub(crate) fn failed(&self, which: &str, error: &str) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("switchyard_worker_restarts_total", "consumer" => which.to_string())
            .increment(1);
        *lock(&self.failing) = Some(format!("{which}: {error}"));
    }

    /// `Err(reason)` when a consumer has not completed a round with the queue within `stale_ms`.
    pub fn check(&self, stale_ms: i64) -> Result<(), String> {
        let now = entity::clock::now_ms();
        for (i, name) in ["runs", "deliveries"].iter().enumerate() {
            let last = match self.last_poll[i].load(Ordering::Relaxed) {
                0 => self.started,
                t => t,
            };
            if now - last > stale_ms {
                let why = lock(&self.failing).clone().unwrap_or_default();
                return Err(format!(
                    "the {name} consumer has not reached the queue for {} s {why}",
                    (now - last) / 1000
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A name unique to this process start: leases are held in this name, and a reused name would
/// let a restarted process finish jobs its previous life held.
fn node_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let start = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &start[20..])
}
