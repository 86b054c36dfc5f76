//! The apalis side: two apalis workers per process — one evaluating steps (a task is a batch of
//! run jobs, recorded in one transaction), one making delivery attempts (a task is one attempt)
//! — fed from `work_queue` through apalis custom backends.
//!
//! A *feeder* task per worker talks to the queue: it takes jobs this process staged claimed
//! (handed over after their commit), claims due jobs (`FOR UPDATE SKIP LOCKED` on PostgreSQL),
//! and passes them to the apalis worker through a bounded channel, so it claims only what the
//! worker has room for. The delivery feeder claims per lane (`deliveries::lanes`): never from a
//! full or parked destination, and it probes parked ones. Feeders sleep until woken by new work
//! (this process, or PostgreSQL NOTIFY), the next due time, or `poll_ms`.
//!
//! When the queue cannot be reached, a feeder logs it, counts a restart
//! (`switchyard_worker_restarts_total`), waits (250 ms doubling to 10 s) and starts over; jobs in
//! flight are not lost — their leases keep them until they are recorded or run out. A
//! heartbeat renews the leases of everything this process holds.

use crate::engine::Engine;
use crate::jobs::Kind;
use crate::queue::{self, Claimed, Lanes};
use apalis::prelude::*;
use futures::{SinkExt, StreamExt, stream::BoxStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};

/// A channel-fed apalis backend.
pub type Fed<T> = CustomBackend<
    T,
    Arc<AsyncMutex<mpsc::Receiver<T>>>,
    BoxStream<'static, Result<Option<Task<T>>, BoxDynError>>,
    futures::sink::SinkMapErr<
        futures::sink::Drain<Task<T>>,
        fn(std::convert::Infallible) -> BoxDynError,
    >,
>;

fn never(e: std::convert::Infallible) -> BoxDynError {
    match e {}
}

/// An apalis backend yielding what the feeder sends into `rx`. Rebuilt on every worker
/// (re)start; the receiver outlives the worker.
pub fn fed<T: Send + 'static>(rx: Arc<AsyncMutex<mpsc::Receiver<T>>>) -> Fed<T> {
    let built = BackendBuilder::new()
        .database(rx)
        .fetcher(
            |rx: &mut Arc<AsyncMutex<mpsc::Receiver<T>>>, _: &(), _: &WorkerContext| {
                futures::stream::unfold(Arc::clone(rx), |rx| async move {
                    let next = rx.lock().await.recv().await?;
                    Some((Ok(Some(TaskBuilder::new(next).build())), rx))
                })
                .boxed()
            },
        )
        .sink(|_: &mut Arc<AsyncMutex<mpsc::Receiver<T>>>, _: &()| {
            futures::sink::drain()
                .sink_map_err(never as fn(std::convert::Infallible) -> BoxDynError)
        })
        .build();
    match built {
        Ok(b) => b,
        // All four parts are given above; building cannot fail.
        Err(e) => unreachable!("custom backend: {e}"),
    }
}

/// Waits after the `failures`-th consecutive failure: 250 ms doubling, at most 10 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(10))
}

/// When the next job of a kind is due, as last read from the queue. A feeder goes idle after
/// every burst of work (on a busy queue, after every event); reading `MIN(run_at)` each time
/// cost a scan per event, so the answer is kept for [`NEXT_DUE_TTL`]. New work due now wakes
/// the feeder anyway, and it never sleeps longer than `poll_ms`, so a stale answer costs at
/// most that much latency for work staged due later by another process.
#[derive(Default)]
struct NextDue {
    read: Option<(Instant, Option<i64>)>,
}

const NEXT_DUE_TTL: Duration = Duration::from_millis(250);

/// Below this gap, a claim that just came back empty is not repeated, whatever woke the feeder:
/// for deliveries only while some destination is excluded (full or parked: the claim then reads
/// every due row of that destination's backlog to skip it), for runs only while this process's
/// own hand-overs (which come claimed) keep the worker busy. Work from another process waits at
/// most this much longer. A claim that skips excluded lanes by index, not by reading them, would
/// make this unnecessary.
const EMPTY_CLAIM_GAP: Duration = Duration::from_millis(10);

impl NextDue {
    async fn get(&mut self, engine: &Engine, kind: Kind) -> Option<i64> {
        if let Some((at, next)) = self.read
            && at.elapsed() < NEXT_DUE_TTL
        {
            return next;
        }
        let next = queue::next_due(&engine.db, kind).await.ok().flatten();
        self.read = Some((Instant::now(), next));
        next
    }
}

/// How long an idle feeder sleeps: until the next due job (at least 10 ms), at most `poll_ms`.
async fn idle_wait(
    engine: &Engine,
    kind: Kind,
    next_due: &mut NextDue,
    extra: Option<i64>,
) -> Duration {
    let poll = engine.cfg.idle_poll();
    let next = next_due.get(engine, kind).await;
    let soonest = match (next, extra) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match soonest {
        Some(at) => {
            let ms = (at - entity::clock::now_ms())
                .clamp(10, i64::try_from(poll.as_millis()).unwrap_or(1000));
            Duration::from_millis(u64::try_from(ms).unwrap_or(10))
        }
        None => poll,
    }
}

/// For `poll_ms` after a claim that found runs, claims come this often whether or not anything
/// woke the feeder: a process whose runs are staged by another process it hears nothing from
/// (worker processes on SQLite, which has no `NOTIFY`) would otherwise take a steady stream of
/// them in bursts, one every `poll_ms` (about 1 s from acceptance to delivery at half the
/// batched benchmark's rate). Only when no claim has found anything for `poll_ms` does the
/// feeder go back to waiting that long.
const FOLLOW_UP: Duration = Duration::from_millis(20);

/// Feeds batches of steps jobs to the run worker.
pub async fn feed_runs(
    engine: Arc<Engine>,
    tx: mpsc::Sender<Vec<Claimed>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let size = engine.cfg.run_batch;
    let poll = engine.cfg.idle_poll();
    let mut failures = 0u32;
    let mut next_due = NextDue::default();
    let mut empty_claim: Option<Instant> = None;
    let mut last_claim = Instant::now();
    // When a claim last found runs (see FOLLOW_UP).
    let mut last_found: Option<Instant> = None;
    loop {
        let following = last_found.is_some_and(|t| t.elapsed() < poll);
        let every = if following { FOLLOW_UP } else { poll };
        let permit = tokio::select! {
            p = tx.reserve() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let mut batch = engine.take_handed_over(size);
        // Busy with this process's own runs, and the queue had nothing else a moment ago
        // (see EMPTY_CLAIM_GAP).
        let skip = !batch.is_empty() && empty_claim.is_some_and(|t| t.elapsed() < EMPTY_CLAIM_GAP);
        // Claim only when the queue may hold due work (see `wake`), and at least every
        // `poll_ms` whatever woke us: work staged by another process on SQLite, leases that ran out.
        let claim = batch.len() < size
            && !skip
            && (engine.wake.take_runs_due() || last_claim.elapsed() >= every);
        if claim {
            let lease = engine.lease_until();
            let asked = size - batch.len();
            last_claim = Instant::now();
            match queue::claim(
                &engine.db,
                Kind::Run,
                &engine.node,
                asked,
                lease,
                Lanes::Any,
            )
            .await
            {
                Ok(claimed) => {
                    failures = 0;
                    empty_claim = claimed.is_empty().then(Instant::now);
                    if !claimed.is_empty() {
                        last_found = Some(Instant::now());
                    }
                    if claimed.len() == asked {
                        // There may be more.
                        engine.wake.mark_runs_due();
                    }
                    engine.hold(claimed.iter().map(|c| (c.id, c.claims)));
                    batch.extend(claimed);
                    engine.health.polled(0);
                }
                Err(e) => {
                    failures += 1;
                    engine.wake.mark_runs_due();
                    tracing::warn!(error = %e, "the run consumer lost the queue; restarting it");
                    engine.health.failed("runs", &e.to_string());
                    if !batch.is_empty() {
                        permit.send(batch);
                    }
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            }
        } else {
            engine.health.polled(0);
        }
        if !batch.is_empty() {
            permit.send(batch);
            continue;
        }
        drop(permit);
        let wait = if following {
            FOLLOW_UP.saturating_sub(last_claim.elapsed())
        } else {
            idle_wait(&engine, Kind::Run, &mut next_due, None).await
        };
        tokio::select! {
            () = engine.wake.runs.notified() => {},
            () = tokio::time::sleep(wait) => engine.wake.mark_runs_due(),
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// Feeds delivery attempts to the delivery worker, lane by lane.
pub async fn feed_deliveries(
    engine: Arc<Engine>,
    tx: mpsc::Sender<Claimed>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    let limit = engine.cfg.concurrency;
    let poll = engine.cfg.idle_poll();
    let mut next_due = NextDue::default();
    let mut empty_claim: Option<Instant> = None;
    let mut last_claim = Instant::now();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut moved = 0usize;
        let result = async {
            for lane in engine.lanes.probes_due(entity::clock::now_ms()) {
                let probe = queue::claim(
                    &engine.db,
                    Kind::Deliver,
                    &engine.node,
                    1,
                    engine.lease_until(),
                    Lanes::Only(&lane),
                )
                .await?;
                if probe.is_empty() {
                    engine.lanes.nothing_to_probe(&lane);
                }
                for job in probe {
                    engine.hold([(job.id, job.claims)]);
                    engine.lanes.enqueue(job);
                }
            }
            let room = (limit * 2).saturating_sub(engine.lanes.queued() + engine.lanes.in_flight());
            let excluded = engine.lanes.excluded();
            let recently_empty =
                !excluded.is_empty() && empty_claim.is_some_and(|t| t.elapsed() < EMPTY_CLAIM_GAP);
            // As for runs: claim only when the queue may hold due work, or every `poll_ms`.
            if room > 0
                && !recently_empty
                && (engine.wake.take_deliveries_due() || last_claim.elapsed() >= poll)
            {
                let asked = room.min(256);
                last_claim = Instant::now();
                let claimed = match queue::claim(
                    &engine.db,
                    Kind::Deliver,
                    &engine.node,
                    asked,
                    engine.lease_until(),
                    Lanes::Except(&excluded),
                )
                .await
                {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        engine.wake.mark_deliveries_due();
                        return Err(e);
                    }
                };
                // More may be waiting: the claim was full, or it skipped excluded lanes (their
                // due deliveries wait for room).
                if !excluded.is_empty() || claimed.len() == asked {
                    engine.wake.mark_deliveries_due();
                }
                empty_claim = claimed.is_empty().then(Instant::now);
                moved += claimed.len();
                crate::deliveries::attempt::preload(&engine, &claimed).await;
                for job in claimed {
                    engine.hold([(job.id, job.claims)]);
                    engine.lanes.enqueue(job);
                }
            }
            Ok::<(), sea_orm::DbErr>(())
        }
        .await;
        match result {
            Ok(()) => {
                failures = 0;
                engine.health.polled(1);
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "the delivery consumer lost the queue; restarting it");
                engine.health.failed("deliveries", &e.to_string());
                tokio::time::sleep(backoff(failures)).await;
            }
        }
        for job in engine.lanes.ready(tx.capacity()) {
            moved += 1;
            if tx.send(job).await.is_err() {
                return;
            }
        }
        if moved > 0 && failures == 0 {
            continue;
        }
        let wait = idle_wait(
            &engine,
            Kind::Deliver,
            &mut next_due,
            engine.lanes.next_probe(),
        )
        .await;
        tokio::select! {
            () = engine.wake.deliveries.notified() => {},
            () = tokio::time::sleep(wait) => engine.wake.mark_deliveries_due(),
            _ = shutdown.changed() => {},
        }
    }
}

/// Renews the leases of every job this process holds, every heartbeat.
pub async fn heartbeat(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(engine.cfg.heartbeat());
    loop {
        tokio::select! {
            _ = tick.tick() => {},
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let ids = engine.held_ids();
        if ids.is_empty() {
            continue;
        }
        let until = engine.lease_until();
        match queue::renew(&engine.db, &engine.node, &ids, until).await {
            Ok(_) => engine.renewed(&ids, until),
            Err(e) => {
                tracing::warn!(error = %e, held = ids.len(), "renewing leases failed; retrying next beat")
            }
        }
    }
}
