//! Per-destination isolation. Every connection is a lane with its own limit of attempts in
//! flight (`per_destination_concurrency`), so a destination that hangs holds at most that many
//! of the process's slots while the others keep flowing. Each lane has a circuit breaker:
//! after `breaker_failures` consecutive failed attempts the destination is parked — its
//! deliveries wait in the queue, untried and without spending attempts — and probed with one
//! attempt after 1 s, 2 s, 4 s … (at most `breaker_max_probe_seconds`). When a probe succeeds the
//! lane closes and every delivery waiting for it, retries scheduled minutes ahead included, is
//! made due at once: a destination that comes back gets its backlog in seconds.
//!
//! State is per process; lanes of other processes learn on their own.

use crate::config::ExecutionConfig;
use crate::engine::lock;
use crate::queue::Claimed;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed {
        failures: u32,
    },
    /// Parked until `until` (epoch ms); the next wait is `wait_ms`.
    Open {
        until: i64,
        wait_ms: i64,
    },
    /// One probe attempt is being made.
    Probing {
        wait_ms: i64,
    },
}

struct Lane {
    in_flight: usize,
    queued: VecDeque<Claimed>,
    breaker: Breaker,
}

impl Default for Lane {
    fn default() -> Self {
        Self {
            in_flight: 0,
            queued: VecDeque::new(),
            breaker: Breaker::Closed { failures: 0 },
        }
    }
}

/// How an attempt went, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The destination answered (delivered, or refused for good: it is up).
    Up,
    /// Timeout, connection error, 5xx, 429.
    Down,
    /// No attempt was made.
    Unknown,
}

/// What the caller must do after a lane changed state.
#[derive(Debug, Default)]
pub struct Change {
    /// The lane was parked: give these queued jobs back, due at `until`.
    pub parked: Option<(Vec<Claimed>, i64)>,
    /// A probe succeeded: make the lane's waiting deliveries due now.
    pub reopened: Option<String>,
}

pub struct Lanes {
    inner: Mutex<HashMap<String, Lane>>,
    cap: usize,
    failures: u32,
    max_wait_ms: i64,
}

impl Lanes {
    pub fn new(cfg: &ExecutionConfig) -> Self {
        Self {
            inner: Mutex::default(),
            cap: cfg.per_destination_concurrency,
            failures: cfg.breaker_failures,
            max_wait_ms: i64::try_from(cfg.breaker_max_probe_seconds)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        }
    }

    /// Lanes a claim must leave alone: full, or parked, or being probed.
    pub fn excluded(&self) -> Vec<String> {
        lock(&self.inner)
            .iter()
            .filter(|(_, l)| {
                !matches!(l.breaker, Breaker::Closed { .. })
                    || l.in_flight + l.queued.len() >= self.cap
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether a new delivery for `lane` may be staged claimed by this process (it would run
    /// here soon): the lane is closed and has room.
    pub fn has_room(&self, lane: &str) -> bool {
        let inner = lock(&self.inner);
        match inner.get(lane) {
            None => true,
            Some(l) => {
                matches!(l.breaker, Breaker::Closed { .. })
                    && l.in_flight + l.queued.len() < self.cap
            }
        }
    }

    pub fn enqueue(&self, job: Claimed) {
        lock(&self.inner)
            .entry(job.lane.clone())
            .or_default()
            .queued
            .push_back(job);
    }

    /// Jobs queued here, waiting for room in their lane.
    pub fn queued(&self) -> usize {
        lock(&self.inner).values().map(|l| l.queued.len()).sum()
    }

    /// Jobs handed to the delivery worker and not done yet.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner).values().map(|l| l.in_flight).sum()
    }

    /// Up to `max` jobs that may start now (their lane has room and is not parked), taken
    /// round-robin across lanes; each counts as in flight until [`Lanes::done`].
    pub fn ready(&self, max: usize) -> Vec<Claimed> {
        let mut out = Vec::new();
        let mut inner = lock(&self.inner);
        let mut progress = true;
        while out.len() < max && progress {
            progress = false;
            for lane in inner.values_mut() {
                if out.len() >= max {
                    break;
                }
                let open = match lane.breaker {
                    Breaker::Closed { .. } => lane.in_flight < self.cap,
                    Breaker::Probing { .. } => lane.in_flight == 0,
                    Breaker::Open { .. } => false,
                };
                if open && let Some(job) = lane.queued.pop_front() {
                    lane.in_flight += 1;
                    out.push(job);
                    progress = true;
                }
            }
        }
        out
    }

    /// Parked lanes whose probe is due: each becomes `Probing` and gets one attempt.
    pub fn probes_due(&self, now_ms: i64) -> Vec<String> {
        let mut due = Vec::new();
        for (name, lane) in lock(&self.inner).iter_mut() {
            if let Breaker::Open { until, wait_ms } = lane.breaker
                && until <= now_ms
            {
                lane.breaker = Breaker::Probing { wait_ms };
                due.push(name.clone());
            }
        }
        due
    }

    /// A probe found nothing to try (no delivery waiting): the lane closes.
    pub fn nothing_to_probe(&self, lane: &str) {
        if let Some(l) = lock(&self.inner).get_mut(lane)
            && matches!(l.breaker, Breaker::Probing { .. })
            && l.in_flight == 0
        {
            l.breaker = Breaker::Closed { failures: 0 };
        }
    }

    /// The earliest time a parked lane is probed.
    pub fn next_probe(&self) -> Option<i64> {
        lock(&self.inner)
            .values()
            .filter_map(|l| match l.breaker {
                Breaker::Open { until, .. } => Some(until),
                _ => None,
            })
            .min()
    }

    /// An attempt in `lane` ended.
    pub fn done(&self, lane: &str, health: Health, now_ms: i64) -> Change {
        let mut change = Change::default();
        let mut inner = lock(&self.inner);
        let Some(l) = inner.get_mut(lane) else {
            return change;
        };
        l.in_flight = l.in_flight.saturating_sub(1);
        l.breaker = match (l.breaker, health) {
            (_, Health::Unknown) => l.breaker,
            (Breaker::Probing { .. }, Health::Up) => {
                change.reopened = Some(lane.to_string());
                Breaker::Closed { failures: 0 }
            }
            // Answering again after failures in a row (which other processes' breakers may
            // have parked, or retried minutes ahead): release the lane's waiting deliveries.
            (Breaker::Closed { failures }, Health::Up) if failures >= 2 => {
                change.reopened = Some(lane.to_string());
                Breaker::Closed { failures: 0 }
            }
            (_, Health::Up) => Breaker::Closed { failures: 0 },
            (Breaker::Probing { wait_ms }, Health::Down) => {
                let wait_ms = (wait_ms * 2).min(self.max_wait_ms);
                Breaker::Open {
                    until: now_ms + wait_ms,
                    wait_ms,
                }
            }
            (Breaker::Closed { failures }, Health::Down) if failures + 1 >= self.failures => {
                let wait_ms = 1000.min(self.max_wait_ms);
                Breaker::Open {
                    until: now_ms + wait_ms,
                    wait_ms,
                }
            }
            (Breaker::Closed { failures }, Health::Down) => Breaker::Closed {
                failures: failures + 1,
            },
            (open @ Breaker::Open { .. }, Health::Down) => open,
        };
        if let Breaker::Open { until, .. } = l.breaker
            && !l.queued.is_empty()
        {
            change.parked = Some((l.queued.drain(..).collect(), until));
        }
        // An idle, healthy lane is forgotten; one with failures is kept, so failures in a row
        // add up even when attempts come one at a time.
        if matches!(l.breaker, Breaker::Closed { failures: 0 })
            && l.in_flight == 0
            && l.queued.is_empty()
        {
            inner.remove(lane);
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{Job, JobV1};

    fn job(id: i64, lane: &str) -> Claimed {
        Claimed {
            id,
            job: Job::V1(JobV1::Deliver {
                delivery_id: id,
                attempt: 1,
            }),
            lane: lane.into(),
            claims: 1,
            trace: None,
        }
    }

    fn lanes() -> Lanes {
        Lanes::new(&ExecutionConfig {
            per_destination_concurrency: 2,
            breaker_failures: 3,
            breaker_max_probe_seconds: 4,
            ..Default::default()
        })
    }

    #[test]
    fn a_lane_never_holds_more_than_its_share() {
        let l = lanes();
        for i in 0..5 {
            l.enqueue(job(i, "c:1"));
        }
        l.enqueue(job(9, "c:2"));
        let ready = l.ready(10);
        assert_eq!(ready.iter().filter(|j| j.lane == "c:1").count(), 2);
        assert_eq!(ready.iter().filter(|j| j.lane == "c:2").count(), 1);
        assert!(l.excluded().contains(&"c:1".to_string()));
        assert!(!l.has_room("c:1"));
    }

    #[test]
    fn failures_park_a_lane_and_a_good_probe_reopens_it() {
        let l = lanes();
        for i in 0..4 {
            l.enqueue(job(i, "c:1"));
        }
        let now = 1_000_000;
        let mut parked = None;
        for _ in 0..3 {
            for _ in l.ready(1) {
                let c = l.done("c:1", Health::Down, now);
                parked = parked.or(c.parked);
            }
        }
        let (jobs, until) = parked.expect("parked after three failures");
        assert_eq!(jobs.len(), 1, "the queued job is given back");
        assert_eq!(until, now + 1000);
        assert!(l.ready(5).is_empty(), "nothing starts while parked");
        assert!(l.probes_due(now + 999).is_empty());
        assert_eq!(l.probes_due(now + 1000), vec!["c:1".to_string()]);
        l.enqueue(job(7, "c:1"));
        assert_eq!(l.ready(5).len(), 1, "one probe");
        let c = l.done("c:1", Health::Down, now + 1100);
        assert!(c.reopened.is_none());
        assert_eq!(l.next_probe(), Some(now + 1100 + 2000), "waits double");
        l.probes_due(now + 4000);
        l.enqueue(job(8, "c:1"));
        assert_eq!(l.ready(5).len(), 1);
        let c = l.done("c:1", Health::Up, now + 4100);
        assert_eq!(c.reopened.as_deref(), Some("c:1"));
        assert!(l.has_room("c:1"));
    }

    #[test]
    fn answering_again_after_failures_in_a_row_releases_waiting_deliveries() {
        let l = lanes();
        let now = 1_000_000;
        // One failure between successes: a problem with one record, nothing to release.
        l.enqueue(job(1, "c:1"));
        l.ready(1);
        assert!(l.done("c:1", Health::Down, now).reopened.is_none());
        l.enqueue(job(2, "c:1"));
        l.ready(1);
        assert!(l.done("c:1", Health::Up, now).reopened.is_none());
        // Two in a row (below the breaker's three), then an answer: the destination is back,
        // and retries another process scheduled minutes ahead are due now.
        for i in 3..5 {
            l.enqueue(job(i, "c:1"));
            l.ready(1);
            assert!(l.done("c:1", Health::Down, now).parked.is_none());
        }
        l.enqueue(job(5, "c:1"));
        l.ready(1);
        assert_eq!(
            l.done("c:1", Health::Up, now).reopened.as_deref(),
            Some("c:1")
        );
    }
}
