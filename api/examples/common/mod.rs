//! What the benchmark examples share: a GraphQL call, and the one-step forwarding workflow
//! (form submissions → a webhook) every delivery benchmark measures.

use api::config::{CommonArgs, Config};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The Standard Webhooks secret of the benchmark's webhook connection.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Runs a GraphQL operation; an answer with errors is an error.
pub async fn gql(
    client: &reqwest::Client,
    addr: &str,
    token: &str,
    q: &str,
    v: Value,
) -> anyhow::Result<Value> {
    let body: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": q, "variables": v }))
        .send()
        .await?
        .json()
        .await?;
    if !body["errors"].is_null() {
        anyhow::bail!("{q}: {body}");
    }
    Ok(body["data"].clone())
}

/// Publishes `bench-forward` (forward each form submission to a webhook), connects it to
/// `hook` and instantiates it: `(connection id, instance id)`.
pub async fn forwarding_workflow(
    client: &reqwest::Client,
    addr: &str,
    token: &str,
    hook: &str,
) -> anyhow::Result<(i64, i64)> {
    let template = json!({
        "key": "bench-forward", "name": "Bench forward", "category": "lead-management",
        "owner": "bench", "version": "1.0.0", "summary": "Forward form submissions.",
        "description": "Forward form submissions to a webhook.",
        "definition": {
            "parameters": {"type": "object", "properties": {}},
            "trigger": {"type": "event", "contract": "event.form_submitted", "versions": "^1"},
            "slots": {"hook": {"category": "generic"}},
            "reads": [{"contract": "event.form_submitted", "versions": "^1", "fields": ["email", "form_id", "company"]}],
            "steps": [{"id": "forward", "type": "deliver", "reads": ["email", "form_id", "company"],
                       "config": {"slot": "hook", "object": "event.form_submitted", "action": "send"}}]
        }
    });
    gql(
        client,
        addr,
        token,
        "mutation($i: PublishInput!) { publishTemplateVersion(input: $i) { version } }",
        json!({"i": template}),
    )
    .await?;
    let conn = gql(client, addr, token,
        "mutation($s: JSON!) { createConnection(connector: \"webhook\", name: \"bench\", settings: $s) { id } }",
        json!({"s": {"url": hook, "secret": SECRET}})).await?;
    let conn_id = conn["createConnection"]["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no connection id"))?;
    let inst = gql(client, addr, token,
        "mutation($c: Int!) { instantiateTemplate(template: \"bench-forward\", name: \"bench\", params: {}, connections: [{slot: \"hook\", connection: $c}]) { id } }",
        json!({"c": conn_id})).await?;
    let instance_id = inst["instantiateTemplate"]["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no instance id"))?;
    Ok((conn_id, instance_id))
}

/// A Switchyard API (and, when `embedded`, its workers) serving on a loopback port for a
/// benchmark, on `url` or a fresh SQLite file in `dir`.
pub struct Bench {
    pub addr: String,
    /// A platform engineer's token.
    pub token: String,
    pub db: DatabaseConnection,
    pub url: String,
    /// The configuration file worker processes are started with.
    #[allow(dead_code)] // the health benchmark starts no workers
    pub config_file: PathBuf,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Bench {
    pub async fn start(
        dir: &std::path::Path,
        url: Option<&str>,
        embedded: bool,
    ) -> anyhow::Result<Self> {
        let url = url
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
        let config_file = dir.join("bench.toml");
        // BENCH_EXECUTION: extra `[execution]` lines (e.g. `run_batch = 128`) to compare settings.
        let extra = std::env::var("BENCH_EXECUTION").unwrap_or_default();
        std::fs::write(
            &config_file,
            format!("[execution]\noutbound_allow = [\"127.0.0.1\"]\n{extra}\n"),
        )?;
        let config = Config::load(
            &CommonArgs {
                config: Some(config_file.clone()),
                data_dir: Some(dir.to_path_buf()),
                database_url: Some(url.clone()),
                ..Default::default()
            },
            None,
        )?;
        let app = api::server::build(config, embedded).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let token = app
            .state
            .auth
            .mint("bench", &["platform_engineer".into()], 3600)?;
        let db = app.state.db.clone();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(api::server::run(
            listener,
            app,
            stop_rx,
            Duration::from_secs(2),
        ));
        Ok(Self {
            addr,
            token,
            db,
            url,
            config_file,
            _stop: stop,
        })
    }
}
