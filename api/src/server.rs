//! Assembling and running the service: connect, migrate, seed, load policy and keys, build the
//! router and (unless disabled) the engine; then serve until shutdown with the background work
//! alongside. `serve` and the end-to-end tests both go through [`build`] and [`run`], so the
//! server a test talks to is the server `serve` starts.

use crate::audit::{self, Signer};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::policy::Policy;
use crate::state::AppState;
use crate::{catalog, db, graphql, http};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A built application: its shared state and its router.
pub struct App {
    pub state: AppState,
    pub router: axum::Router,
}

/// How long in-flight jobs get to finish after SIGTERM before the process exits; an
/// unfinished job is picked up again by another worker when its lease runs out.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Connects, migrates, seeds the built-in catalog into an empty database, loads the policy and
/// the token key, builds the engine when `workers` (jobs run in this process), and the router.
pub async fn build(config: Config, workers: bool) -> anyhow::Result<App> {
    let db = db::connect(&config.database_url).await?;
    db::migrate(&db).await?;
    let policy = Policy::load(&config.policy_dir).await.map_err(|e| {
        anyhow::anyhow!(
            "policy in {}: {e:#} (run from the repository root or pass --policy-dir)",
            config.policy_dir.display()
        )
    })?;
    // The version in force is recorded before anything else is audited under it.
    crate::governance::startup(&db, &policy).await?;
    if let Some(report) = catalog::seed::seed_if_empty(&db, config.catalog_dir.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("seeding the built-in catalog: {e}"))?
    {
        tracing::info!(
            versions = report.created.len(),
            "seeded the built-in catalog"
        );
    }
    let auth = Authenticator::from_config(&config)?;
    let secrets = Arc::new(crate::connections::load_secret_box(&config.data_dir)?);
    let net = worker::net::NetPolicy::new(&config.execution.outbound_allow)
        .map_err(|e| anyhow::anyhow!("execution.outbound_allow: {e}"))?;
    let engine = if workers {
        Some(engine(&config, Arc::clone(&secrets)).await?)
    } else {
        None
    };
    let changes = match &engine {
        Some(e) => Arc::clone(&e.changes),
        None => worker::changes::Bus::new(&db),
    };
    let limits =
        crate::ratelimit::RateLimits::new(&config.rate_limit, crate::ui::development_mode(&config));
    let state = AppState {
        ingest: Arc::new(crate::ingest::store::Committer::start(
            db.clone(),
            engine.clone(),
        )),
        db,
        policy: Arc::new(policy),
        auth: Arc::new(auth),
        metrics: crate::metrics::handle(),
        catalog: Arc::default(),
        validators: Arc::default(),
        write_keys: Arc::default(),
        secrets,
        segment: Arc::new(config.segment.clone()),
        net: Arc::new(net),
        changes,
        engine,
        config: Arc::new(config),
        limits: Arc::new(limits),
    };
    let graphql = graphql::Graphql::build(state.clone(), &state.config.graphql).await?;
    let router = http::router(state.clone(), graphql);
    Ok(App { state, router })
}

/// The engine on the execution pool (see `db::connect_execution`).
pub async fn engine(
    config: &Config,
    secrets: Arc<worker::secrets::SecretBox>,
) -> anyhow::Result<Arc<worker::Engine>> {
    let db = db::connect_execution(&config.database_url).await?;
    worker::Engine::new(db, secrets, config.execution.clone()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Serves `app` on `listener` until `shutdown` turns true: the API, the governance loop (policy
/// reloads and versions), and —
/// when the app has an engine — the workers and the audit checkpointer. In-flight requests
/// finish; in-flight jobs get `grace`.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> anyhow::Result<()> {
    let state = app.state.clone();
    crate::governance::spawn(state.clone());
    let execution = match &state.engine {
        Some(engine) => {
            let signer = Signer::load_or_create(&state.config.audit_key_file)?;
            spawn_checkpointer(
                state.db.clone(),
                signer,
                state.config.checkpoint_interval_seconds,
            );
            Some(tokio::spawn(worker::run(
                Arc::clone(engine),
                shutdown.clone(),
                grace,
            )))
        }
        None => None,
    };
    let mut http_stop = shutdown.clone();
    axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        })
        .await?;
    if let Some(handle) = execution {
        tracing::info!("draining in-flight jobs (up to {} s)", grace.as_secs());
        match handle.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "workers stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "workers stopped with an error"),
            Ok(Ok(())) => {}
        }
    }
    Ok(())
}

/// `switchyard serve`.
pub async fn serve(config: Config, workers: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing::info!(config = %config.describe(), "starting");
    let app = build(config, workers).await?;
    let config = Arc::clone(&app.state.config);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    // One write, ignoring errors: a closed stdout (a supervisor that stopped reading) must not
    // take the server down. The "ready" line comes last, after everything else is printed.
    let banner = [
        format!("  GraphQL API   POST http://{addr}/graphql   (Authorization: Bearer <JWT>)"),
        format!("  GraphiQL      http://{addr}/graphql"),
        format!("  Web UI        http://{addr}/"),
        format!(
            "  Health        http://{addr}/healthz  http://{addr}/readyz  http://{addr}/metrics"
        ),
        format!(
            "  Database      {}",
            crate::config::mask_url(&config.database_url)
        ),
        format!("  Token key     {}", app.state.auth.key_source),
        format!("  Audit key     {}", config.audit_key_file.display()),
        "  Get a token:  switchyard token --sub alice --role marketer".to_string(),
        format!(
            "Switchyard is ready on http://{addr} ({} ms)\n",
            started.elapsed().as_millis()
        ),
    ]
    .join("\n");
    print_line(&banner);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    run(listener, app, stop_rx, SHUTDOWN_GRACE).await?;
    tracing::info!("stopped");
    Ok(())
}

/// `switchyard worker`: the workers without the API (scale-out on PostgreSQL), with a small
/// health endpoint (`/healthz`, `/readyz`, `/metrics`) on `health_listen`.
pub async fn worker(
    mut config: Config,
    concurrency: Option<usize>,
    health_listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    if let Some(n) = concurrency {
        config.execution.concurrency = n.max(1);
        config.execution.per_destination_concurrency = config
            .execution
            .per_destination_concurrency
            .min(config.execution.concurrency);
    }
    tracing::info!(config = %config.describe(), "starting worker");
    let db = db::connect(&config.database_url).await?;
    db::migrate(&db).await?;
    let secrets = Arc::new(crate::connections::load_secret_box(&config.data_dir)?);
    let engine = engine(&config, secrets).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut line = format!(
        "Switchyard worker is running ({} deliveries at once) on {}",
        config.execution.concurrency,
        crate::config::mask_url(&config.database_url)
    );
    if let Some(addr) = health_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("--health-listen {addr}: {e}"))?;
        line.push_str(&format!(
            "; health on http://{}/readyz",
            listener.local_addr()?
        ));
        let router = http::worker_router(db.clone(), Arc::clone(&engine), crate::metrics::handle());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        });
    }
    print_line(&format!("{line}\n"));
    worker::run(engine, stop_rx, SHUTDOWN_GRACE)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    tracing::info!("worker stopped");
    Ok(())
}

fn print_line(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes a signed audit checkpoint every `interval` seconds when the chain has grown.
fn spawn_checkpointer(db: sea_orm::DatabaseConnection, signer: Signer, interval: u64) {
    tokio::spawn(async move {
        let mut last_seq = -1i64;
        let mut tick = tokio::time::interval(Duration::from_secs(interval.max(1)));
        loop {
            tick.tick().await;
            let head = entity::audit_head::Entity::find_by_id(1).one(&db).await;
            let seq = match head {
                Ok(Some(h)) => h.seq,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "audit checkpoint: cannot read the chain head");
                    continue;
                }
            };
            if seq == last_seq {
                continue;
            }
            match audit::checkpoint(&db, &signer).await {
                Ok(cp) => {
                    last_seq = cp.seq;
                    tracing::info!(seq = cp.seq, "signed audit checkpoint");
                }
                Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
            }
        }
    });
}

use sea_orm::EntityTrait as _;

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
