//! The built-in alert rules, as pure functions of a workflow's [`Facts`] at an instant `now`
//! (injected, so rules are tested on histories without waiting). Each finding is a sentence
//! with counts taken from the facts, naming the business consequence.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What the rules know about one workflow.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub instance: i64,
    /// The workflow's name (`EMEA trial users`) and its template's (`Audience sync`).
    pub name: String,
    pub template_name: String,
    /// True for scheduled workflows (syncs, exports), false for event-triggered ones.
    pub scheduled: bool,
    /// The trigger (or input) contract and its freshness SLA.
    pub contract: Option<String>,
    pub sla_minutes: Option<i64>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_auth_failure_at: Option<DateTime<Utc>>,
    /// Connector and connection name of the destination that refused authentication.
    pub destination: Option<String>,
    /// Segments a sync keeps up to date (audience syncs).
    pub segments: usize,
    /// Last hour.
    pub delivered_1h: i64,
    pub failed_attempts_1h: i64,
    pub events_1h: i64,
    pub p95_ms_1h: Option<i64>,
    /// The 24 hours before the last hour (for "gone silent").
    pub events_prev_24h: i64,
    pub dead_letters_open: i64,
    /// The dead-letter count at the previous evaluation.
    pub dead_letters_before: Option<i64>,
    /// Contract violations counted for the trigger contract, now and at the previous evaluation.
    pub drift_total: i64,
    pub drift_before: Option<i64>,
    /// A deprecation of the workflow's template version: (sunset, replacement).
    pub sunset: Option<(DateTime<Utc>, Option<String>)>,
    pub template_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One rule firing.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub facts: Value,
}

fn minutes(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (b - a).num_minutes()
}

/// Latency above this (ms, p95 over the last hour) is "slow".
pub const LATENCY_LIMIT_MS: i64 = 5 * 60 * 1000;
/// A failure share above this, with at least [`MIN_FAILURES`] failures, fires.
pub const FAILURE_SHARE: f64 = 0.2;
pub const MIN_FAILURES: i64 = 5;
/// Violations in one evaluation interval that count as a spike.
pub const DRIFT_SPIKE: i64 = 10;
/// How far ahead a sunset is announced.
pub const SUNSET_DAYS: i64 = 7;

/// Every rule that fires for `f` at `now`.
pub fn evaluate(f: &Facts, now: DateTime<Utc>) -> Vec<Finding> {
    [
        freshness(f, now),
        failure_rate(f),
        dead_letters(f),
        latency(f),
        drift(f),
        auth(f, now),
        sunset(f, now),
        silent(f, now),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn freshness(f: &Facts, now: DateTime<Utc>) -> Option<Finding> {
    let sla = f.sla_minutes?;
    let basis = if f.scheduled {
        f.last_success_at
    } else {
        f.last_event_at
    };
    let since = basis.or(f.created_at)?;
    let late = minutes(since, now) - sla;
    if late <= 0 {
        return None;
    }
    let message = if f.scheduled {
        format!(
            "{} '{}' is {late} minutes late; {} segments not updated",
            f.template_name,
            f.name,
            f.segments.max(1)
        )
    } else {
        format!(
            "{} '{}' is {late} minutes late: no {} for {} minutes (the SLA is {sla}); records may not be reaching their destinations",
            f.template_name,
            f.name,
            f.contract.as_deref().unwrap_or("input"),
            minutes(since, now)
        )
    };
    Some(Finding {
        rule: "freshness",
        severity: if late > sla {
            Severity::Critical
        } else {
            Severity::Warning
        },
        message,
        facts: json!({"late_minutes": late, "sla_minutes": sla, "segments": f.segments}),
    })
}

fn failure_rate(f: &Facts) -> Option<Finding> {
    let total = f.delivered_1h + f.failed_attempts_1h;
    #[allow(clippy::cast_precision_loss)]
    let share = if total > 0 {
        f.failed_attempts_1h as f64 / total as f64
    } else {
        0.0
    };
    if f.failed_attempts_1h < MIN_FAILURES || share <= FAILURE_SHARE {
        return None;
    }
    Some(Finding {
        rule: "failure_rate",
        severity: if f.delivered_1h == 0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        message: format!(
            "{} '{}' failed {} of {} delivery attempts in the last hour; {} records were delivered",
            f.template_name, f.name, f.failed_attempts_1h, total, f.delivered_1h
        ),
        facts: json!({"failed": f.failed_attempts_1h, "attempts": total, "delivered": f.delivered_1h}),
    })
}

fn dead_letters(f: &Facts) -> Option<Finding> {
    let before = f.dead_letters_before.unwrap_or(0);
    if f.dead_letters_open == 0 || f.dead_letters_open <= before {
        return None;
    }
    Some(Finding {
        rule: "dead_letters",
        severity: Severity::Warning,
        message: format!(
            "{} '{}' has {} records that did not reach their destination (up from {before}); replay them once the cause is fixed",
            f.template_name, f.name, f.dead_letters_open
        ),
        facts: json!({"open": f.dead_letters_open, "before": before}),
    })
}

fn latency(f: &Facts) -> Option<Finding> {
    let p95 = f.p95_ms_1h?;
    if p95 <= LATENCY_LIMIT_MS {
        return None;
    }
    Some(Finding {
        rule: "latency",
        severity: Severity::Warning,
        message: format!(
            "{} '{}' is slow: 5% of records took more than {} minutes to arrive in the last hour ({} delivered)",
            f.template_name,
            f.name,
            p95 / 60_000,
            f.delivered_1h
        ),
        facts: json!({"p95_ms": p95, "delivered": f.delivered_1h}),
    })
}

fn drift(f: &Facts) -> Option<Finding> {
    let before = f.drift_before?;
    let new = f.drift_total - before;
    if new < DRIFT_SPIKE {
        return None;
    }
    Some(Finding {
        rule: "drift",
        severity: Severity::Warning,
        message: format!(
            "{} '{}': {new} incoming {} broke their data contract since the last check; records may be skipped or incomplete",
            f.template_name,
            f.name,
            f.contract.as_deref().unwrap_or("events")
        ),
        facts: json!({"violations": new}),
    })
}

fn auth(f: &Facts, now: DateTime<Utc>) -> Option<Finding> {
    let at = f.last_auth_failure_at?;
    if minutes(at, now) > 60 || f.last_success_at.is_some_and(|s| s > at) {
        return None;
    }
    Some(Finding {
        rule: "auth",
        severity: Severity::Critical,
        message: format!(
            "{} refuses Switchyard's credentials (HTTP 401/403); {} '{}' cannot deliver until the connection's secret is rotated",
            f.destination.as_deref().unwrap_or("A destination"),
            f.template_name,
            f.name
        ),
        facts: json!({"since": at.to_rfc3339()}),
    })
}

fn sunset(f: &Facts, now: DateTime<Utc>) -> Option<Finding> {
    let (at, replacement) = f.sunset.clone()?;
    let days = (at - now).num_days();
    if days > SUNSET_DAYS {
        return None;
    }
    let when = if at <= now {
        "has passed its sunset".to_string()
    } else {
        format!(
            "reaches its sunset in {days} days ({})",
            at.format("%Y-%m-%d")
        )
    };
    Some(Finding {
        rule: "sunset",
        severity: if at <= now {
            Severity::Critical
        } else {
            Severity::Info
        },
        message: format!(
            "{} '{}' uses version {} which {when}; move it to {}",
            f.template_name,
            f.name,
            f.template_version,
            replacement.as_deref().unwrap_or("a newer version")
        ),
        facts: json!({"sunset": at.to_rfc3339(), "days": days}),
    })
}

fn silent(f: &Facts, now: DateTime<Utc>) -> Option<Finding> {
    if f.scheduled || f.events_1h > 0 || f.events_prev_24h < 24 {
        return None;
    }
    let since = f.last_event_at?;
    if minutes(since, now) < 60 {
        return None;
    }
    Some(Finding {
        rule: "silent",
        severity: Severity::Critical,
        message: format!(
            "{} '{}' has received no {} since {} (about {} an hour before); check the form or tracking that sends them",
            f.template_name,
            f.name,
            f.contract.as_deref().unwrap_or("events"),
            since.format("%H:%M UTC"),
            f.events_prev_24h / 24
        ),
        facts: json!({"usual_per_hour": f.events_prev_24h / 24}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn sync() -> Facts {
        Facts {
            name: "EMEA trial users".into(),
            template_name: "Audience sync".into(),
            scheduled: true,
            contract: Some("segment".into()),
            sla_minutes: Some(30),
            created_at: Some(at("2026-11-30T08:00:00Z")),
            last_success_at: Some(at("2026-11-30T09:00:00Z")),
            segments: 12,
            ..Facts::default()
        }
    }

    #[test]
    fn a_late_sync_fires_with_the_seed_sentence_and_resolves_when_it_runs() {
        let f = sync();
        let fired = evaluate(&f, at("2026-11-30T10:15:00Z"));
        let late = fired.iter().find(|x| x.rule == "freshness").expect("late");
        assert_eq!(
            late.message,
            "Audience sync 'EMEA trial users' is 45 minutes late; 12 segments not updated"
        );
        let caught_up = Facts {
            last_success_at: Some(at("2026-11-30T10:14:00Z")),
            ..f
        };
        assert!(evaluate(&caught_up, at("2026-11-30T10:15:00Z")).is_empty());
    }

    #[test]
    fn failure_rate_needs_enough_failures() {
        let mut f = Facts {
            name: "EU".into(),
            template_name: "Lead routing".into(),
            delivered_1h: 83,
            failed_attempts_1h: 37,
            ..Facts::default()
        };
        let x = failure_rate(&f).expect("fires");
        assert!(x.message.contains("failed 37 of 120"), "{}", x.message);
        f.failed_attempts_1h = 4;
        assert!(failure_rate(&f).is_none());
    }

    #[test]
    fn growing_dead_letters_drift_spikes_and_auth_failures_fire_and_clear() {
        let now = at("2026-11-30T10:00:00Z");
        let mut f = Facts {
            dead_letters_open: 3,
            dead_letters_before: Some(1),
            ..Facts::default()
        };
        assert!(dead_letters(&f).is_some());
        f.dead_letters_before = Some(3);
        assert!(dead_letters(&f).is_none(), "not growing");
        let f = Facts {
            drift_total: 50,
            drift_before: Some(10),
            contract: Some("event.form_submitted".into()),
            ..Facts::default()
        };
        assert!(
            drift(&f)
                .expect("spike")
                .message
                .contains("40 incoming event.form_submitted")
        );
        let mut f = Facts {
            last_auth_failure_at: Some(at("2026-11-30T09:50:00Z")),
            destination: Some("HubSpot 'EMEA'".into()),
            ..Facts::default()
        };
        assert!(
            auth(&f, now)
                .expect("auth")
                .message
                .starts_with("HubSpot 'EMEA' refuses")
        );
        f.last_success_at = Some(at("2026-11-30T09:55:00Z"));
        assert!(auth(&f, now).is_none(), "a later success clears it");
    }

    #[test]
    fn slow_silent_and_sunset_rules() {
        let now = at("2026-11-30T10:00:00Z");
        let f = Facts {
            p95_ms_1h: Some(12 * 60_000),
            delivered_1h: 40,
            ..Facts::default()
        };
        assert!(
            latency(&f)
                .expect("slow")
                .message
                .contains("more than 12 minutes")
        );
        let f = Facts {
            events_prev_24h: 960,
            events_1h: 0,
            last_event_at: Some(at("2026-11-30T08:30:00Z")),
            contract: Some("event.demo_requested".into()),
            ..Facts::default()
        };
        assert!(
            silent(&f, now)
                .expect("silent")
                .message
                .contains("about 40 an hour")
        );
        let f = Facts {
            sunset: Some((at("2026-12-05T00:00:00Z"), Some("2.0.0".into()))),
            template_version: "1.0.0".into(),
            ..Facts::default()
        };
        assert!(sunset(&f, now).expect("soon").message.contains("in 4 days"));
        assert!(
            sunset(&f, at("2026-11-01T00:00:00Z")).is_none(),
            "too far ahead"
        );
    }
}
