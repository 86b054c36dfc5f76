//! Assembling and running the service: connect, migrate, seed, load policy and keys, build the
//! router; then serve until SIGTERM/Ctrl-C with the background tasks alongside.

use crate::audit::{self, Signer};
use crate::auth::Authenticator;
use crate::config::Config;
use crate::policy::Policy;
use crate::state::AppState;
use crate::{catalog, db, graphql, http};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A built application: its shared state and its router.
pub struct App {
    pub state: AppState,
    pub router: axum::Router,
}

/// Connects, migrates, seeds the built-in catalog into an empty database, loads the policy and
/// the token key, and builds the router.
pub async fn build(config: Config) -> anyhow::Result<App> {
    let db = db::connect(&config.database_url).await?;
    db::migrate(&db).await?;
    if let Some(report) = catalog::seed::seed_if_empty(&db, config.catalog_dir.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("seeding the built-in catalog: {e}"))?
    {
        tracing::info!(
            versions = report.created.len(),
            "seeded the built-in catalog"
        );
    }
    let policy = Policy::load(&config.policy_dir).await.map_err(|e| {
        anyhow::anyhow!(
            "policy in {}: {e:#} (run from the repository root or pass --policy-dir)",
            config.policy_dir.display()
        )
    })?;
    let auth = Authenticator::from_config(&config)?;
    let config_segment = config.segment.clone();
    let secret_box = crate::connections::secret_box::SecretBox::load(&config.data_dir)?;
    let net = worker::net::NetPolicy::new(&config.execution.outbound_allow)
        .map_err(|e| anyhow::anyhow!("execution.outbound_allow: {e}"))?;
    let state = AppState {
        db,
        policy: Arc::new(policy),
        auth: Arc::new(auth),
        config: Arc::new(config),
        metrics: crate::metrics::handle(),
        validators: Arc::default(),
        secrets: Arc::new(secret_box),
        segment: Arc::new(config_segment),
        net: Arc::new(net),
    };
    let schema = graphql::build(Some(state.clone()), &state.config.graphql);
    let router = http::router(state.clone(), schema);
    Ok(App { state, router })
}

/// `switchyard serve`.
pub async fn serve(config: Config, workers: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing::info!(config = %config.describe(), "starting");
    let app = build(config).await?;
    let config = Arc::clone(&app.state.config);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    Arc::clone(&app.state.policy).spawn_watcher();
    if workers {
        let signer = Signer::load_or_create(&config.audit_key_file)?;
        spawn_checkpointer(
            app.state.db.clone(),
            signer,
            config.checkpoint_interval_seconds,
        );
    }
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
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let execution = if workers {
        let (engine, queue) =
            crate::execution::prepare(&config, Arc::clone(&app.state.secrets)).await?;
        Some(tokio::spawn(crate::execution::run(
            engine,
            queue,
            config.execution.clone(),
            stop_rx.clone(),
            SHUTDOWN_GRACE,
        )))
    } else {
        None
    };
    let mut http_stop = stop_rx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    axum::serve(listener, app.router)
        .with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        })
        .await?;
    if let Some(handle) = execution {
        tracing::info!(
            "draining in-flight jobs (up to {} s)",
            SHUTDOWN_GRACE.as_secs()
        );
        match handle.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "workers stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "workers stopped with an error"),
            Ok(Ok(())) => {}
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long in-flight jobs get to finish after SIGTERM before the process exits; an
/// unfinished job is picked up again by another worker (orphan recovery).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// `switchyard worker`: the dispatcher, the scheduler and `concurrency` parallel jobs, without
/// the API (scale-out on PostgreSQL).
pub async fn worker(mut config: Config, concurrency: Option<usize>) -> anyhow::Result<()> {
    if let Some(n) = concurrency {
        config.execution.concurrency = n.max(1);
    }
    tracing::info!(config = %config.describe(), "starting worker");
    let db = db::connect(&config.database_url).await?;
    db::migrate(&db).await?;
    let secrets = Arc::new(crate::connections::secret_box::SecretBox::load(
        &config.data_dir,
    )?);
    let (engine, queue) = crate::execution::prepare(&config, secrets).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    {
        use std::io::Write as _;
        let line = format!(
            "Switchyard worker is running ({} jobs at once) on {}\n",
            config.execution.concurrency,
            crate::config::mask_url(&config.database_url)
        );
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
    crate::execution::run(
        engine,
        queue,
        config.execution.clone(),
        stop_rx,
        SHUTDOWN_GRACE,
    )
    .await?;
    tracing::info!("worker stopped");
    Ok(())
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
