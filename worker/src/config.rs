//! `[execution]`: how workers claim jobs, how long a claim lasts, how many deliveries run at
//! once in total and per destination, when a failing destination is parked, and which
//! addresses connectors may reach. Part of the one typed configuration the binary loads
//! (defaults ← file ← environment ← flags); `check` refuses settings that would lose or steal
//! jobs, naming the key.

use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Addresses (IPs or CIDRs) connectors may reach although they are private, loopback or
    /// link-local (SSRF guard). Env `SWITCHYARD_OUTBOUND_ALLOW` (comma-separated) adds to it.
    pub outbound_allow: Vec<String>,
    /// Delays before each delivery attempt, e.g. `"0s,5s,5m,30m,2h,5h,10h,10h"`.
    /// Env `SWITCHYARD_RETRY_SCHEDULE`.
    pub retry_schedule: String,
    /// How often a worker renews the leases of the jobs it holds.
    pub heartbeat_seconds: u64,
    /// A job whose lease was not renewed for this many beats is taken by another worker
    /// (orphan recovery after a crash): the lease is `heartbeat_seconds × missed_heartbeats`.
    pub missed_heartbeats: usize,
    /// Longest one job may run before it is abandoned and retried (a stuck-but-alive worker).
    pub job_timeout_seconds: u64,
    /// Longest an idle worker waits before asking the queue again (it is woken at once by new
    /// work in its own process and, on PostgreSQL, by NOTIFY from others).
    pub poll_ms: u64,
    /// Delivery attempts one worker process makes at once.
    pub concurrency: usize,
    /// Calls waiting for one connection at once: a destination that hangs holds at most this
    /// many of `concurrency` (an attempt leaves its lane when the destination has answered,
    /// before its outcome is recorded).
    pub per_destination_concurrency: usize,
    /// Consecutive failed attempts (timeouts, connection errors, 5xx, 429) after which a
    /// destination is parked: its deliveries wait, untried, until a probe succeeds.
    pub breaker_failures: u32,
    /// Longest wait between probes of a parked destination (waits start at 1 s and double).
    pub breaker_max_probe_seconds: u64,
    /// Runs evaluated together (one transaction records them and their deliveries).
    pub run_batch: usize,
    /// Longest chain of workflows starting one another through `emit` steps: the run that would
    /// make it longer fails and emits nothing (the loop guard; cycles are refused outright).
    pub max_chain_depth: usize,
    /// Keep the decision record (lineage), health aggregates, live-update notifications and
    /// Prometheus series as runs and attempts are recorded. `false` exists only to measure what
    /// they cost on the delivery benchmark (env `SWITCHYARD_OBSERVE=false`): health, lineage and
    /// live views then stay empty. Deliveries, their fields and attempt history are kept either
    /// way.
    pub observe: bool,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        Self {
            outbound_allow: Vec::new(),
            retry_schedule: "0s,5s,5m,30m,2h,5h,10h,10h".into(),
            heartbeat_seconds: 5,
            missed_heartbeats: 3,
            job_timeout_seconds: 60,
            poll_ms: 1000,
            concurrency: 64,
            per_destination_concurrency: 8,
            breaker_failures: 5,
            breaker_max_probe_seconds: 15,
            run_batch: 64,
            max_chain_depth: 8,
            observe: true,
        }
    }
}

impl ExecutionConfig {
    /// Refuses settings that would lose or steal jobs, naming the key (operator configuration).
    pub fn check(&self) -> Result<(), String> {
        self.check_invariants()?;
        if self.job_timeout_seconds < 20 {
            return Err(
                "execution.job_timeout_seconds: must be at least 20 (connectors wait up to 15 s)"
                    .into(),
            );
        }
        if self.max_chain_depth == 0 {
            return Err(
                "execution.max_chain_depth: must be at least 1 (a workflow's own emitted event counts)"
                    .into(),
            );
        }
        if self.per_destination_concurrency > self.concurrency {
            return Err(format!(
                "execution.per_destination_concurrency: must be between 1 and concurrency ({})",
                self.concurrency
            ));
        }
        Ok(())
    }

    /// What an engine refuses to run with: leases a live worker could lose between two beats,
    /// nothing to run with, an unreadable retry schedule or address list.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.heartbeat_seconds == 0 || self.missed_heartbeats < 2 {
            return Err(
                "execution.missed_heartbeats: must be at least 2 and heartbeat_seconds at least 1, \
                 or a live worker's jobs are taken from it between two beats"
                    .into(),
            );
        }
        if self.concurrency == 0
            || self.poll_ms == 0
            || self.run_batch == 0
            || self.job_timeout_seconds == 0
            || self.per_destination_concurrency == 0
        {
            return Err(
                "execution.concurrency, per_destination_concurrency, poll_ms, run_batch \
                 and job_timeout_seconds: must be at least 1"
                    .into(),
            );
        }
        if self.breaker_failures == 0 || self.breaker_max_probe_seconds == 0 {
            return Err(
                "execution.breaker_failures and breaker_max_probe_seconds: must be at least 1"
                    .into(),
            );
        }
        crate::retry::Schedule::parse(&self.retry_schedule)
            .map_err(|e| format!("execution.{e}"))?;
        crate::net::NetPolicy::new(&self.outbound_allow)
            .map_err(|e| format!("execution.outbound_allow: {e}"))?;
        Ok(())
    }

    /// How long a claim lasts without renewal.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds * self.missed_heartbeats as u64)
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds)
    }

    pub fn job_timeout(&self) -> Duration {
        Duration::from_secs(self.job_timeout_seconds)
    }

    pub fn idle_poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_steal_jobs_are_refused_by_name() {
        let mut c = ExecutionConfig {
            missed_heartbeats: 1,
            ..Default::default()
        };
        assert!(c.check().is_err_and(|e| e.contains("missed_heartbeats")));
        c.missed_heartbeats = 3;
        c.per_destination_concurrency = 1000;
        assert!(
            c.check()
                .is_err_and(|e| e.contains("per_destination_concurrency"))
        );
        assert!(ExecutionConfig::default().check().is_ok());
    }
}
