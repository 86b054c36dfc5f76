//! What travels through the apalis queue. Versioned and serde-tagged, so a worker started
//! after an upgrade can still read the jobs an older binary queued: add a variant or a `V2`
//! enum, never change the meaning of an existing one.
//!
//! Jobs carry ids only; the rows they point at (delivery, run, instance, event) are the truth.

use serde::{Deserialize, Serialize};

/// The single job type of the `switchyard` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum Job {
    #[serde(rename = "1")]
    V1(JobV1),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobV1 {
    /// Run an instance's steps for one accepted event.
    Run {
        instance_id: i64,
        event_id: String,
        /// Resume after a `delay` or `approve` step: steps before it are re-evaluated
        /// (they have no side effects), that step is not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_step: Option<u32>,
    },
    /// Attempt delivery `delivery_id`; `attempt` is 1-based and makes the queue's idempotency
    /// key unique per attempt.
    Deliver { delivery_id: i64, attempt: u32 },
    /// A scheduled run of an instance (audience sync, reporting export, alerting) for the tick
    /// at `tick` (RFC 3339, truncated to the schedule's period).
    Tick { instance_id: i64, tick: String },
    /// Run the steps of an existing run from `from_step`: a manual start (step 0), or a run
    /// resumed after a `delay` or an approval.
    Continue { run_id: i64, from_step: u32 },
    /// A run still waiting for approval at its deadline ends `expired`.
    Expire { run_id: i64 },
}

/// Which consumer takes a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Steps: event runs, ticks, starts, resumes, expiries.
    Run,
    /// One delivery attempt.
    Deliver,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Deliver => "deliver",
        }
    }
}

impl Job {
    /// The queue-level idempotency key: pushing the same job twice stores it once.
    pub fn idempotency_key(&self) -> String {
        match self {
            Job::V1(JobV1::Run {
                instance_id,
                event_id,
                from_step,
            }) => match from_step {
                Some(step) => format!("run:{instance_id}:{event_id}:{step}"),
                None => format!("run:{instance_id}:{event_id}"),
            },
            Job::V1(JobV1::Deliver {
                delivery_id,
                attempt,
            }) => format!("deliver:{delivery_id}:{attempt}"),
            Job::V1(JobV1::Tick { instance_id, tick }) => format!("tick:{instance_id}:{tick}"),
            Job::V1(JobV1::Continue { run_id, from_step }) => {
                format!("continue:{run_id}:{from_step}")
            }
            Job::V1(JobV1::Expire { run_id }) => format!("expire:{run_id}"),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Job::V1(JobV1::Deliver { .. }) => Kind::Deliver,
            _ => Kind::Run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_have_a_stable_wire_form() {
        let job = Job::V1(JobV1::Deliver {
            delivery_id: 7,
            attempt: 2,
        });
        let text = serde_json::to_string(&job).expect("serializes");
        assert_eq!(
            text,
            r#"{"v":"1","kind":"deliver","delivery_id":7,"attempt":2}"#
        );
        let back: Job = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, job);
        assert_eq!(back.idempotency_key(), "deliver:7:2");
    }
}
