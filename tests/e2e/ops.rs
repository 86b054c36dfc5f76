//! Operating Switchyard: health and readiness probes, Prometheus metrics, request ids, the web
//! UI, and the real binary starting, serving and stopping cleanly on SIGTERM.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::BufRead as _;
use std::process::Stdio;
use std::time::Duration;

const REQUEST_ID: &str = "x-request-id";

/// Sum of the samples of `metric` whose labels include every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(app: &TestApp) -> String {
    let resp = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.expect("metrics body")
}

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn readyz_reports_the_database_and_migrations() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("readyz JSON");
    assert_eq!(body, json!({ "database": true, "migrations": true }));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_with_a_latency_histogram() {
    let app = spawn_app().await;
    let ok = [
        "switchyard_http_requests_total",
        "route=\"/graphql\"",
        "status=\"200\"",
    ];
    let denied = [
        "switchyard_http_requests_total",
        "route=\"/graphql\"",
        "status=\"401\"",
    ];
    let before = metrics(&app).await;
    let token = app.token("olga", &["viewer"]);
    for _ in 0..3 {
        let body = app.gql(&token, "{ me { sub } }", json!({})).await;
        assert_eq!(body["data"]["me"]["sub"], "olga", "{body}");
    }
    let (status, _) = app
        .gql_raw(None, json!({ "query": "{ me { sub } }" }))
        .await;
    assert_eq!(status, 401);

    let after = metrics(&app).await;
    let grew = |labels: &[&str; 3]| {
        sample(&after, labels[0], &labels[1..]) - sample(&before, labels[0], &labels[1..])
    };
    assert!(grew(&ok) >= 3.0, "3 answered requests counted:\n{after}");
    assert!(
        grew(&denied) >= 1.0,
        "the 401 counted under its status:\n{after}"
    );
    let buckets = sample(
        &after,
        "switchyard_http_request_duration_seconds_bucket",
        &["route=\"/graphql\"", "le=\"+Inf\""],
    );
    assert!(buckets >= 4.0, "latency histogram for /graphql:\n{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_family_has_help_bounded_labels_and_a_line_in_the_readme() {
    let app = spawn_with(Setup {
        workers: true,
        ..Default::default()
    })
    .await;
    let rx = crate::receiver::Receiver::start(vec![]).await;
    crate::execution::forwarding_to(&app, &rx.url("/m"), 5).await;
    crate::execution::event_to(&app, "metrics-1", "m@example.com").await;
    assert!(
        eventually(std::time::Duration::from_secs(20), || async {
            rx.count() >= 1
        })
        .await,
        "delivered"
    );
    app.drain(std::time::Duration::from_secs(20)).await;
    let text = metrics(&app).await;
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    for (name, _, _) in api::metrics::FAMILIES {
        assert!(readme.contains(name), "the README lists {name}");
    }
    for family in [
        "switchyard_runs_total",
        "switchyard_delivery_attempts_total",
        "switchyard_events_total",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family} has HELP:\n{text}"
        );
    }
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap_or("");
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP line"
        );
        assert!(
            api::metrics::FAMILIES.iter().any(|(f, _, _)| *f == name),
            "{name} is not a documented family"
        );
    }
    // Bounded labels: no id of an instance, event or contact ever becomes a label.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for banned in ["instance=", "event_id=", "email=", "run=", "delivery="] {
            assert!(!line.contains(banned), "unbounded label in {line}");
        }
    }
    assert!(
        text.contains("connector=\"webhook\""),
        "per connector:\n{text}"
    );
    assert!(
        text.contains("template=\"form-forwarding\""),
        "per template:\n{text}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/",
        "/no-such-page",
        "/graphql",
    ] {
        let resp = app.client.get(app.url(path)).send().await.expect("GET");
        let id = resp
            .headers()
            .get(REQUEST_ID)
            .map(|v| v.to_str().map(String::from));
        let id = id
            .unwrap_or_else(|| panic!("{path} has no {REQUEST_ID}"))
            .expect("ASCII request id");
        assert!(!id.is_empty(), "{path}");
        seen.push(id);
    }
    let unauthenticated = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ me { sub } }" }))
        .send()
        .await
        .expect("POST /graphql");
    assert_eq!(unauthenticated.status().as_u16(), 401);
    assert!(
        unauthenticated.headers().contains_key(REQUEST_ID),
        "errors too"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "a new id per request");
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_recorded_in_the_audit_log() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(app.token("pat", &["platform_engineer"]))
        .header(REQUEST_ID, "e2e-trace-4711")
        .json(&json!({ "query": "mutation { setLifecycle(kind: TEMPLATE, key: \"alerting\", version: \"1.0.0\", lifecycle: DEPRECATED) { lifecycle } }" }))
        .send()
        .await
        .expect("POST /graphql");
    assert_eq!(
        resp.headers().get(REQUEST_ID).map(|v| v.as_bytes()),
        Some(&b"e2e-trace-4711"[..])
    );
    let body: Value = resp.json().await.expect("JSON");
    assert!(body["errors"].is_null(), "{body}");

    let log = app
        .gql(
            &app.token("carla", &["compliance"]),
            "{ auditLog(filter: { action: \"template.lifecycle\" }) { edges { node { requestId } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        log["data"]["auditLog"]["edges"][0]["node"]["requestId"], "e2e-trace-4711",
        "{log}"
    );
}

#[tokio::test]
async fn the_root_serves_the_web_ui() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(resp.status().as_u16(), 200);
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(kind.starts_with("text/html"), "content-type {kind}");
    let page = resp.text().await.expect("page");
    assert!(page.to_lowercase().contains("<html"), "{page}");
}

/// Kills the child process (by its pid) if the test ends before it exited.
struct Running(Option<u32>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[tokio::test]
async fn the_binary_serves_until_sigterm_and_exits_cleanly() {
    let data = tempfile::tempdir().expect("data dir");
    let url = fresh_database_url(data.path()).await;
    let log_path = data.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(data.path())
        .arg("--database-url")
        .arg(&url)
        .arg("--policy-dir")
        .arg(policy_dir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env_remove("SWITCHYARD_LISTEN")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start switchyard serve");
    let mut running = Running(Some(child.id()));
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("ready on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("no `ready on http://…` line ({e}); stderr:\n{}", logs()));

    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("GET /readyz on the real binary");
    assert_eq!(resp.status().as_u16(), 200, "{}", logs());

    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "SIGTERM delivered");
    let waited = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .unwrap_or_else(|_| panic!("still running 10 s after SIGTERM; stderr:\n{}", logs()));
    let status = waited.expect("join").expect("wait for switchyard");
    running.0 = None;
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; stderr:\n{}",
        logs()
    );

    use std::os::unix::fs::PermissionsExt as _;
    for key in ["jwt-hs256.secret", "audit-signing.key"] {
        let meta = std::fs::metadata(data.path().join(key))
            .unwrap_or_else(|e| panic!("{key} in the data dir: {e}"));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{key} mode");
    }
    if url.starts_with("sqlite:") {
        assert!(
            data.path().join("switchyard.db").is_file(),
            "SQLite file in the data dir"
        );
    }
}
