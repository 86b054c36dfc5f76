//! An acknowledged event is never lost: the real binary is killed with SIGKILL straight after
//! answering 202, and every acknowledged event is in the database afterwards.

use crate::helpers::*;
use crate::ingest::form_submitted;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn start(dir: &std::path::Path, url: &str) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--database-url", url])
        .arg("--policy-dir")
        .arg(policy_dir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchyard serve");
    let out = child.stdout.take().expect("stdout");
    let mut addr = String::new();
    for line in BufReader::new(out).lines() {
        let line = line.expect("read stdout");
        if let Some(rest) = line.split("ready on http://").nth(1) {
            addr = rest.split_whitespace().next().unwrap_or("").to_string();
            break;
        }
    }
    assert!(!addr.is_empty(), "serve printed its address");
    (child, addr)
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9_right_after_the_response() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path()).await;
    let (mut child, addr) = start(dir.path(), &url);
    let token_out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["token", "--sub", "pat", "--role", "platform_engineer"])
        .output()
        .expect("mint token");
    let token = stdout(&token_out).trim().to_string();
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "mutation { createWriteKey(name: \"k\", eventTypes: [\"event.form_submitted\"]) { key } }" }))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("json");
    let key = created["data"]["createWriteKey"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let batch: Vec<Value> = (0..300)
        .map(|i| form_submitted(&format!("dur-{i}"), "web"))
        .collect();
    let resp = client
        .post(format!("http://{addr}/v1/events"))
        .basic_auth(&key, Some(""))
        .json(&batch)
        .send()
        .await
        .expect("post events");
    let status = resp.status().as_u16();
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert_eq!(status, 202);
    let db = api::db::connect(&url).await.expect("reopen database");
    let stored = entity::event::Entity::find()
        .count(&db)
        .await
        .expect("count");
    assert_eq!(stored, 300, "every acknowledged event is on disk");
}
