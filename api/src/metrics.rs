//! Prometheus metrics. Every family is described here (`# HELP`) and listed in the README; labels
//! are bounded — routes, templates, connectors, contracts, statuses — never an event, contact or
//! instance id.
//!
//! The recorder is process-global (the `metrics` facade allows one); tests that start several
//! routers in one process share it.

use axum::{extract::MatchedPath, extract::Request, middleware::Next, response::Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Event-to-destination latency reaches minutes when retries are involved.
const DELIVERY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 7200.0,
];

/// Every metric family: (name, kind, help). The README's "Metrics" table lists the same.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "switchyard_http_requests_total",
        "counter",
        "HTTP requests by route, method and status.",
    ),
    (
        "switchyard_http_request_duration_seconds",
        "histogram",
        "HTTP request duration by route.",
    ),
    (
        "switchyard_events_total",
        "counter",
        "Ingested events by contract and outcome (accepted, duplicate, rejected).",
    ),
    (
        "switchyard_runs_total",
        "counter",
        "Workflow runs recorded, by template and status.",
    ),
    (
        "switchyard_delivery_attempts_total",
        "counter",
        "Delivery attempts recorded, by connector and outcome (delivered, retrying, dead).",
    ),
    (
        "switchyard_delivery_latency_seconds",
        "histogram",
        "From event accepted to destination acknowledged, by connector.",
    ),
    (
        "switchyard_duplicates_suppressed_total",
        "counter",
        "Runs ended as duplicates by a dedupe step.",
    ),
    (
        "switchyard_destinations_parked_total",
        "counter",
        "Times a failing destination was parked by its circuit breaker.",
    ),
    (
        "switchyard_worker_restarts_total",
        "counter",
        "Times a consumer lost the queue and was restarted, by consumer.",
    ),
    (
        "switchyard_alerts_total",
        "counter",
        "Alert changes by the evaluator: opened, escalated, resolved.",
    ),
];

/// Installs the recorder on first use and returns its handle.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("switchyard_http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("switchyard_delivery_latency_seconds".into()),
                        DELIVERY_BUCKETS,
                    )
                })
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            for (name, kind, help) in FAMILIES {
                match *kind {
                    "histogram" => metrics::describe_histogram!(*name, *help),
                    "gauge" => metrics::describe_gauge!(*name, *help),
                    _ => metrics::describe_counter!(*name, *help),
                }
            }
            handle
        })
        .clone()
}

/// Route-level middleware recording one count and one latency sample per request.
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("switchyard_http_requests_total",
        "route" => route.clone(), "method" => method, "status" => status)
    .increment(1);
    metrics::histogram!("switchyard_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}
