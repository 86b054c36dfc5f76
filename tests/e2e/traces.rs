//! Traces: with an OTLP endpoint configured, the real binary exports one trace that links the
//! ingestion request to the run and to the delivery attempt (the trace context travels with the
//! job through the queue). A local OTLP/HTTP collector receives what the exporter sends.

use crate::helpers::*;
use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A span as the collector received it: its name and trace id.
type Span = (String, Vec<u8>);

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

async fn export(State(c): State<Collector>, body: Bytes) -> &'static str {
    if let Ok(req) = ExportTraceServiceRequest::decode(body) {
        let mut spans = c.0.lock().expect("collector");
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push((s.name, s.trace_id));
                }
            }
        }
    }
    "{}"
}

struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_links_an_ingestion_request_to_its_delivery() {
    let collector = Collector::default();
    let app = Router::new()
        .route("/v1/traces", post(export))
        .with_state(collector.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let otlp = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let rx = crate::receiver::Receiver::start(vec![]).await;

    let dir = tempfile::tempdir().expect("data dir");
    let url = fresh_database_url(dir.path()).await;
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[execution]\noutbound_allow = [\"127.0.0.1\"]\n").expect("config");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([
                "--data-dir",
                dir.path().to_str().expect("utf-8"),
                "--database-url",
                &url,
            ])
            .arg("--config")
            .arg(&config)
            .arg("--policy-dir")
            .arg(policy_dir())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start switchyard serve"),
    );
    let client = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(30), || async {
            client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await,
        "the server is ready"
    );
    let token = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([
                "--data-dir",
                dir.path().to_str().expect("utf-8"),
                "--database-url",
                &url,
            ])
            .args(["token", "--sub", "pat", "--role", "platform_engineer"])
            .env_remove("DATABASE_URL")
            .output()
            .expect("token")
            .stdout,
    )
    .expect("utf-8")
    .trim()
    .to_string();
    let gql = |q: &'static str, v: Value| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let body: Value = client
                .post(format!("{base}/graphql"))
                .bearer_auth(token)
                .json(&json!({"query": q, "variables": v}))
                .send()
                .await
                .expect("graphql")
                .json()
                .await
                .expect("json");
            assert!(body["errors"].is_null(), "{q}: {body}");
            body["data"].clone()
        }
    };
    let tpl = json!({"key": "traced", "name": "Traced", "category": "lead-management", "owner": "platform-integrations",
        "version": "1.0.0", "summary": "s", "description": "d",
        "definition": {"parameters": {"type": "object", "properties": {}},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {"hook": {"category": "generic"}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1", "fields": ["email", "form_id"]}],
            "steps": [{"id": "send", "type": "deliver", "reads": ["email", "form_id"],
                       "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]}});
    gql(
        "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
        json!({"i": tpl}),
    )
    .await;
    let c = gql("mutation($s: JSON!) { createConnection(connector: \"webhook\", name: \"t\", settings: $s) { id } }",
        json!({"s": {"url": rx.url("/t"), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})).await;
    gql("mutation($c: Int!) { instantiateTemplate(template: \"traced\", name: \"t\", params: {}, connections: [{slot: \"hook\", connection: $c}]) { id } }",
        json!({"c": c["createConnection"]["id"]})).await;
    let k = gql(
        "mutation { createWriteKey(name: \"w\", eventTypes: [\"event.form_submitted\"]) { key } }",
        json!({}),
    )
    .await;
    let key = k["createWriteKey"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let ev = json!([{"id": "traced-1", "type": "event.form_submitted", "occurred_at": "2026-11-27T09:30:00Z",
        "payload": {"email": "t@example.com", "form_id": "f", "source_category": "web", "submitted_at": "2026-11-27T09:30:00Z"}}]);
    let resp = client
        .post(format!("{base}/v1/events"))
        .basic_auth(&key, Some(""))
        .json(&ev)
        .send()
        .await
        .expect("ingest");
    assert_eq!(resp.status().as_u16(), 202);
    assert!(
        eventually(Duration::from_secs(20), || async { rx.count() >= 1 }).await,
        "delivered"
    );

    let linked = eventually(Duration::from_secs(20), || async {
        let spans = collector.0.lock().expect("collector").clone();
        let attempts: Vec<&Vec<u8>> = spans
            .iter()
            .filter(|(n, _)| n == "delivery.attempt")
            .map(|(_, t)| t)
            .collect();
        let requests: Vec<&Vec<u8>> = spans
            .iter()
            .filter(|(n, _)| n == "request")
            .map(|(_, t)| t)
            .collect();
        let runs: Vec<&Vec<u8>> = spans
            .iter()
            .filter(|(n, _)| n == "run")
            .map(|(_, t)| t)
            .collect();
        attempts
            .iter()
            .any(|t| requests.contains(t) && runs.contains(t))
    })
    .await;
    let names: Vec<String> = collector
        .0
        .lock()
        .expect("collector")
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert!(
        linked,
        "a delivery attempt shares its trace with the ingestion request and the run: {names:?}"
    );
}
