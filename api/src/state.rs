//! What every request handler shares: the database, the policy, the token verifier, the
//! configuration, the metrics handle and the caches of what was read from this database.
//! Cheap to clone.

use crate::auth::Authenticator;
use crate::config::Config;
use crate::policy::Policy;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub policy: Arc<Policy>,
    pub auth: Arc<Authenticator>,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    /// Catalog listing pages and item versions recently read from this database.
    pub catalog: Arc<crate::catalog::pages::CatalogPages>,
    /// Compiled contract validators, by contract version.
    pub validators: Arc<crate::ingest::validate::ValidatorCache>,
    /// Seals connection secrets at rest.
    pub secrets: Arc<worker::secrets::SecretBox>,
    /// Segment message → contract mapping.
    pub segment: Arc<crate::ingest::segment::SegmentConfig>,
    /// Which addresses connectors may reach (checked when a connection is created).
    pub net: Arc<worker::net::NetPolicy>,
    /// Group commit of ingestion requests.
    pub ingest: Arc<crate::ingest::store::Committer>,
    /// This process's workers, when they run here (`serve` without `--no-workers`).
    pub engine: Option<Arc<worker::Engine>>,
    /// Changes to runs and deliveries, for subscriptions.
    pub changes: Arc<worker::changes::Bus>,
    /// Write keys recently found active.
    pub write_keys: Arc<crate::ingest::write_keys::KeyCache>,
    /// Requests per write key and per subject.
    pub limits: Arc<crate::ratelimit::RateLimits>,
}
