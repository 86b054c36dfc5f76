//! Several `switchyard serve` processes on one database (the scale-out shape): audited writes
//! through both at once still form one gapless, verifiable hash chain, and each process lists
//! what the other wrote.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &std::path::Path, url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--database-url", url])
        .arg("--policy-dir")
        .arg(policy_dir())
        .args(["serve", "--no-workers", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchyard serve");
    let out = child.stdout.take().expect("stdout");
    let addr = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("ready on http://")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        })
        .expect("serve printed its address");
    Server { child, addr }
}

async fn publish(client: &reqwest::Client, addr: &str, token: &str, input: Value) -> Value {
    client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }", "variables": { "i": input } }))
        .send()
        .await
        .expect("publish")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_on_one_database_keep_one_audit_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database_url(dir.path()).await;
    let a = serve(dir.path(), &url);
    let b = serve(dir.path(), &url);
    let token_out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["token", "--sub", "pat", "--role", "platform_engineer"])
        .output()
        .expect("mint token");
    let token = stdout(&token_out).trim().to_string();
    let client = reqwest::Client::new();
    let read: Value = client
        .post(format!("http://{}/graphql", a.addr))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ template(key: \"alerting\") { name summary description category owner versions { definition } } }" }))
        .send().await.expect("read").json().await.expect("json");
    let t = read["data"]["template"].clone();
    let input = |key: String| {
        json!({
            "key": key, "version": "1.0.0", "name": t["name"], "summary": t["summary"], "description": t["description"],
            "category": t["category"], "owner": t["owner"], "definition": t["versions"][0]["definition"],
        })
    };
    let writes = (0..30).map(|i| {
        let addr = if i % 2 == 0 {
            a.addr.clone()
        } else {
            b.addr.clone()
        };
        let body = input(format!("mp-{i:02}"));
        let (client, token) = (client.clone(), token.clone());
        async move { publish(&client, &addr, &token, body).await }
    });
    for r in futures::future::join_all(writes).await {
        assert_eq!(
            r["data"]["publishTemplateVersion"]["version"], "1.0.0",
            "{r}"
        );
    }
    // b lists the templates (and keeps the answer); then only a writes: b, asked the same
    // again, lists a's write once its catalog reads expire (a second).
    let listing = json!({ "query": "{ templates(first: 100) { edges { node { key } } } }" });
    let keys_on_b = || async {
        let body: Value = client
            .post(format!("http://{}/graphql", b.addr))
            .bearer_auth(&token)
            .json(&listing)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        body["data"]["templates"]["edges"]
            .as_array()
            .map(|edges| {
                edges
                    .iter()
                    .filter_map(|e| e["node"]["key"].as_str())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let before = keys_on_b().await;
    assert!(before.contains(&"mp-29".to_string()), "{before:?}");
    let r = publish(&client, &a.addr, &token, input("mp-last".into())).await;
    assert_eq!(
        r["data"]["publishTemplateVersion"]["version"], "1.0.0",
        "{r}"
    );
    let listed = eventually(std::time::Duration::from_secs(5), || async {
        keys_on_b().await.contains(&"mp-last".to_string())
    })
    .await;
    assert!(listed, "b lists what a wrote: {:?}", keys_on_b().await);
    let verify = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--database-url", &url, "audit", "verify"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("audit verify");
    assert!(verify.status.success(), "{}", stdout(&verify));
    let catalog_files: usize = ["connectors", "contracts", "templates"]
        .iter()
        .map(|d| std::fs::read_dir(catalog_dir().join(d)).map_or(0, |r| r.count()))
        .sum();
    let seeded = catalog_files + 31;
    assert!(
        stdout(&verify).contains(&format!("ok: {seeded} entries")),
        "{}",
        stdout(&verify)
    );
    drop((a, b));
}
