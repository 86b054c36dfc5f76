//! Test harness: starts the real router on 127.0.0.1:0 against a fresh database — a new SQLite
//! file by default, or a new PostgreSQL database when `DATABASE_URL` points at a PostgreSQL
//! server — and talks to it over HTTP like any client.

use api::config::{CommonArgs, Config};
use api::state::AppState;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn policy_dir() -> PathBuf {
    repo_root().join("policies")
}

pub fn catalog_dir() -> PathBuf {
    repo_root().join("api/catalog")
}

/// A database URL for a database nobody else uses: a SQLite file in `dir`, or, when
/// `DATABASE_URL` is a PostgreSQL URL, a newly created database on that server.
pub async fn fresh_database_url(dir: &Path) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            use sea_orm::ConnectionTrait;
            let name = format!("sy_test_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(&url)
                .await
                .expect("DATABASE_URL points at a reachable PostgreSQL server");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create a test database");
            admin.close().await.ok();
            let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("switchyard.db").display()),
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub config: Config,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    /// Dropping it stops the server and its workers; held, never read.
    #[allow(dead_code)]
    pub stop_workers: Option<tokio::sync::watch::Sender<bool>>,
}

/// Options for [`spawn_with`].
#[derive(Default)]
pub struct Setup {
    pub policy_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// Token verification settings (e.g. a public key) instead of the development secret.
    pub auth: Option<api::config::AuthConfig>,
    /// Run the workers in-process, as `serve` does, with [`test_execution`] settings.
    pub workers: bool,
    /// Execution settings instead of [`test_execution`].
    pub execution: Option<api::config::ExecutionConfig>,
    /// A TOML configuration file, read as `--config` is.
    pub config_file: Option<PathBuf>,
    /// Rate limits instead of the defaults.
    pub rate_limit: Option<api::ratelimit::RateLimitConfig>,
}

/// Execution settings for tests: loopback destinations allowed, a compressed retry schedule
/// (four attempts: now, +1 s, +1 s, +1 s).
pub fn test_execution() -> api::config::ExecutionConfig {
    api::config::ExecutionConfig {
        outbound_allow: vec!["127.0.0.1".into()],
        retry_schedule: "0s,1s,1s,1s".into(),
        ..Default::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Setup::default()).await
}

pub async fn spawn_with(setup: Setup) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = match setup.database_url {
        Some(url) => url,
        None => fresh_database_url(dir.path()).await,
    };
    let args = CommonArgs {
        data_dir: Some(dir.path().to_path_buf()),
        database_url: Some(database_url),
        policy_dir: Some(setup.policy_dir.unwrap_or_else(policy_dir)),
        catalog_dir: Some(catalog_dir()),
        config: setup.config_file,
        ..Default::default()
    };
    let mut config = Config::load(&args, None).expect("config");
    if let Some(auth) = setup.auth {
        config.auth = auth;
    }
    if let Some(limits) = setup.rate_limit {
        config.rate_limit = limits;
    }
    config.execution = setup.execution.unwrap_or_else(test_execution);
    // The same assembly and the same run loop as `switchyard serve`.
    let app = api::server::build(config.clone(), setup.workers)
        .await
        .expect("build app");
    let state = app.state.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(api::server::run(
        listener,
        app,
        rx,
        std::time::Duration::from_secs(2),
    ));
    TestApp {
        addr,
        state,
        config,
        dir,
        client: reqwest::Client::new(),
        stop_workers: Some(tx),
    }
}

impl TestApp {
    /// Waits until the workers have nothing left to do now (no job due or in flight; retries
    /// scheduled later do not count). Panics after `deadline`: tests drive the queue to idle
    /// instead of sleeping.
    pub async fn drain(&self, deadline: std::time::Duration) {
        let engine = self
            .state
            .engine
            .as_ref()
            .expect("drain needs the workers (Setup { workers: true, .. })");
        let until = std::time::Instant::now() + deadline;
        // Idle twice in a row: a job finishing can stage the next one.
        let mut calm = 0;
        loop {
            if engine.idle().await.unwrap_or(false) {
                calm += 1;
                if calm >= 2 {
                    return;
                }
            } else {
                calm = 0;
            }
            assert!(
                std::time::Instant::now() < until,
                "the queue did not become idle within {deadline:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits until the queue in the database has no job due or held (for workers running in
    /// other processes). Panics after `deadline`.
    pub async fn settled(&self, deadline: std::time::Duration) {
        let until = std::time::Instant::now() + deadline;
        let mut calm = 0;
        loop {
            if worker::queue::busy(&self.state.db).await.unwrap_or(1) == 0 {
                calm += 1;
                if calm >= 3 {
                    return;
                }
            } else {
                calm = 0;
            }
            assert!(
                std::time::Instant::now() < until,
                "the queue did not settle within {deadline:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A valid token for `sub` with `roles`, signed with the app's key.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        self.state.auth.mint(sub, &roles, 3600).expect("mint token")
    }

    /// A valid token for `sub` with `roles` and a `team` claim.
    pub fn token_in(&self, sub: &str, roles: &[&str], team: &str) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        self.state
            .auth
            .mint_with_team(sub, &roles, Some(team), 3600)
            .expect("mint token")
    }

    /// POSTs a GraphQL operation; returns the HTTP status and the JSON body.
    pub async fn gql_raw(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.client.post(self.url("/graphql")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Runs a query as `token`; returns the whole response body.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.gql_raw(
            Some(token),
            json!({ "query": query, "variables": variables }),
        )
        .await
        .1
    }

    /// Runs the real `switchyard` binary with this app's data dir, database and policy.
    ///
    /// It blocks the calling thread: a test that calls it while the app runs must use the
    /// multi-threaded runtime, or a server task caught holding a SQLite write transaction
    /// stays frozen and the command waits out its busy timeout ("database is locked").
    pub fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--database-url")
            .arg(&self.config.database_url)
            .arg("--policy-dir")
            .arg(&self.config.policy_dir)
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .expect("run switchyard")
    }
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// The message of the first error, or "".
pub fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or("")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits until `check` returns true or `deadline` passes; false on timeout.
pub async fn eventually<F, Fut>(deadline: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = std::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() > until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Audit entries (actor, action, outcome) as compliance reads them.
pub async fn audit_entries(app: &TestApp, action: &str) -> Vec<Value> {
    let carol = app.token("carol", &["compliance"]);
    let body = app
        .gql(
            &carol,
            "query($a: String!) { auditLog(first: 100, filter: {action: $a}) { edges { node { actor action target outcome after } } } }",
            json!({ "a": action }),
        )
        .await;
    body["data"]["auditLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("auditLog: {body}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}
