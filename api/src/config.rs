//! One typed configuration, assembled from defaults ← config file (TOML) ← environment ← flags.
//!
//! Every subcommand builds the same `Config`, so `switchyard token --data-dir D` signs with the
//! key `switchyard serve --data-dir D` verifies with. `Config::describe` prints it with secrets
//! masked; nothing else in the code base formats a secret.

use serde::Deserialize;
use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// Options shared by every subcommand (flags and environment variables; see `cli`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "SWITCHYARD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and development keys (created if missing).
    #[arg(long, env = "SWITCHYARD_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    /// Default: the SQLite file `<data-dir>/switchyard.db`.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory holding the casbin policy (`model.conf`, `policy.csv`, `tests.csv`).
    #[arg(long, env = "SWITCHYARD_POLICY_DIR", global = true)]
    pub policy_dir: Option<PathBuf>,
    /// Directory holding the built-in catalog (`connectors/`, `contracts/`, `templates/`).
    #[arg(long, env = "SWITCHYARD_CATALOG_DIR", global = true)]
    pub catalog_dir: Option<PathBuf>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "SWITCHYARD_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A secret value: compared and used, never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

/// JWT verification settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// HS256 shared secret (`SWITCHYARD_JWT_SECRET`). When neither this nor a public key is set,
    /// a development secret is generated into `<data-dir>/jwt-hs256.secret` (mode 0600).
    pub hs256_secret: Option<Secret>,
    /// PEM public key file for RS256, ES256 or EdDSA tokens issued by an identity provider.
    pub public_key_file: Option<PathBuf>,
    /// Algorithm of `public_key_file`: `RS256`, `ES256` or `EdDSA`.
    pub public_key_alg: Option<String>,
    /// The identity provider's JWKS URL (`SWITCHYARD_JWKS_URL`): keys picked by `kid`; https
    /// unless on loopback.
    pub jwks_url: Option<String>,
    /// Fewest seconds between two fetches of the JWKS triggered by an unknown `kid`.
    pub jwks_min_refresh_seconds: u64,
    /// The JWKS is fetched again when older than this.
    pub jwks_max_age_seconds: u64,
    /// Where roles are in a token: `roles`, `realm_access.roles` (Keycloak), `groups` (Okta),
    /// or a namespaced claim such as `https://example.com/roles` (Auth0).
    pub roles_claim: String,
    /// Identity-provider role or group name → Switchyard role. When set, names it does not
    /// list grant nothing.
    pub role_map: BTreeMap<String, String>,
    /// Where the team is in a token (a string, or the first of a list).
    pub team_claim: String,
    /// Clock-skew allowance for `exp`/`nbf`, seconds.
    pub leeway_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "switchyard".into(),
            audience: "switchyard".into(),
            hs256_secret: None,
            public_key_file: None,
            public_key_alg: None,
            jwks_url: None,
            jwks_min_refresh_seconds: 10,
            jwks_max_age_seconds: 900,
            roles_claim: "roles".into(),
            role_map: BTreeMap::new(),
            team_claim: "team".into(),
            leeway_seconds: 30,
        }
    }
}

/// Guards on the GraphQL endpoint (async-graphql sets none of these by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlLimits {
    /// Nesting on the data graph; introspection (`__schema`, `__type`) is bounded separately
    /// (`graphql::guard`), so standard clients can load the schema.
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_directives: usize,
    pub max_batch: usize,
    pub max_body_bytes: usize,
    /// Longest `String`/`ID` argument, in characters (`search`, `description` and `notes` have
    /// their own limits; see `graphql::guard`).
    pub max_string_length: usize,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 2_000,
            max_directives: 8,
            max_batch: 10,
            max_body_bytes: 256 * 1024,
            max_string_length: 1_000,
        }
    }
}

/// The config file's shape: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    policy_dir: Option<PathBuf>,
    catalog_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
    audit_key_file: Option<PathBuf>,
    checkpoint_interval_seconds: Option<u64>,
    auth: Option<AuthConfig>,
    graphql: Option<GraphqlLimits>,
    segment: Option<crate::ingest::segment::SegmentConfig>,
    execution: Option<ExecutionConfig>,
    teams: Option<BTreeMap<String, String>>,
    rate_limit: Option<crate::ratelimit::RateLimitConfig>,
    retention: Option<crate::governance::retention::RetentionConfig>,
    approvals: Option<crate::governance::approvals::ApprovalConfig>,
}

/// `[execution]`: how workers claim jobs and reach destinations (owned by the worker crate).
pub use worker::config::ExecutionConfig;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub policy_dir: PathBuf,
    /// `None`: use the catalog embedded in the binary.
    pub catalog_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    /// Ed25519 key that signs audit checkpoints; keep a copy off the database host.
    pub audit_key_file: PathBuf,
    pub checkpoint_interval_seconds: u64,
    pub auth: AuthConfig,
    pub graphql: GraphqlLimits,
    /// Segment event name → contract mapping for `/v1/track` and `/v1/batch`.
    pub segment: crate::ingest::segment::SegmentConfig,
    pub execution: ExecutionConfig,
    /// `[teams]`: user → team, for callers whose token carries no `team` claim.
    pub teams: BTreeMap<String, String>,
    /// Requests per write key and per subject (`ratelimit`).
    pub rate_limit: crate::ratelimit::RateLimitConfig,
    /// How long each data class is kept, and the shortest retention allowed.
    pub retention: crate::governance::retention::RetentionConfig,
    /// How long policy-required approvals stay valid.
    pub approvals: crate::governance::approvals::ApprovalConfig,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Config {
    /// Builds the configuration: defaults ← file ← environment/flags (`args`, `listen`).
    pub fn load(args: &CommonArgs, listen: Option<SocketAddr>) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("config file {}: cannot read: {e}", path.display())
                })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| sqlite_url(&data_dir.join("switchyard.db")));
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse()?;
        let mut auth = file.auth.unwrap_or_default();
        if let Ok(secret) = std::env::var("SWITCHYARD_JWT_SECRET") {
            auth.hs256_secret = Some(Secret::new(secret));
        }
        if let Ok(path) = std::env::var("SWITCHYARD_JWT_PUBLIC_KEY_FILE") {
            auth.public_key_file = Some(PathBuf::from(path));
        }
        if let Ok(alg) = std::env::var("SWITCHYARD_JWT_ALG") {
            auth.public_key_alg = Some(alg);
        }
        if let Ok(url) = std::env::var("SWITCHYARD_JWKS_URL") {
            auth.jwks_url = Some(url);
        }
        let catalog_dir = args.catalog_dir.clone().or(file.catalog_dir).or_else(|| {
            let default = PathBuf::from("api/catalog");
            default.is_dir().then_some(default)
        });
        Ok(Self {
            listen: listen.or(file.listen).unwrap_or(default_listen),
            database_url,
            policy_dir: args
                .policy_dir
                .clone()
                .or(file.policy_dir)
                .unwrap_or_else(|| PathBuf::from("policies")),
            catalog_dir,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            audit_key_file: std::env::var("SWITCHYARD_AUDIT_KEY_FILE")
                .map(PathBuf::from)
                .ok()
                .or(file.audit_key_file)
                .unwrap_or_else(|| data_dir.join("audit-signing.key")),
            checkpoint_interval_seconds: file.checkpoint_interval_seconds.unwrap_or(300),
            data_dir,
            auth,
            graphql: file.graphql.unwrap_or_default(),
            segment: file.segment.unwrap_or_default(),
            execution: execution_config(file.execution)?,
            teams: teams_config(file.teams.unwrap_or_default())?,
            rate_limit: file.rate_limit.unwrap_or_default(),
            retention: {
                let r = file.retention.unwrap_or_default();
                r.check().map_err(anyhow::Error::msg)?;
                r
            },
            approvals: {
                let a = file.approvals.unwrap_or_default();
                a.expire_after_seconds().map_err(anyhow::Error::msg)?;
                a
            },
        })
    }

    /// The team of user `sub` from `[teams]`, if configured.
    pub fn team_of(&self, sub: &str) -> Option<String> {
        self.teams.get(sub).cloned()
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Human-readable summary with secrets and passwords masked.
    pub fn describe(&self) -> String {
        format!(
            "listen={} database={} data_dir={} policy_dir={} catalog={} auth.issuer={} auth.audience={} auth.key={} auth.roles_claim={} teams={}",
            self.listen,
            mask_url(&self.database_url),
            self.data_dir.display(),
            self.policy_dir.display(),
            self.catalog_dir
                .as_deref()
                .map_or("embedded".into(), |p| p.display().to_string()),
            self.auth.issuer,
            self.auth.audience,
            match (
                &self.auth.hs256_secret,
                &self.auth.public_key_file,
                &self.auth.jwks_url
            ) {
                (Some(_), _, _) => "HS256 (configured secret)".to_string(),
                (None, Some(p), _) => format!("public key {}", p.display()),
                (None, None, Some(url)) => format!("JWKS {url}"),
                (None, None, None) => format!(
                    "HS256 (development secret in {})",
                    self.data_dir.join(crate::auth::DEV_SECRET_FILE).display()
                ),
            },
            self.auth.roles_claim,
            if self.teams.is_empty() {
                "none (token `team` claims only)".to_string()
            } else {
                self.teams
                    .iter()
                    .map(|(user, team)| format!("{user}:{team}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        )
    }
}

fn execution_config(file: Option<ExecutionConfig>) -> anyhow::Result<ExecutionConfig> {
    let mut execution = file.unwrap_or_default();
    if let Ok(allow) = std::env::var("SWITCHYARD_OUTBOUND_ALLOW") {
        execution.outbound_allow.extend(
            allow
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    if let Ok(schedule) = std::env::var("SWITCHYARD_RETRY_SCHEDULE") {
        execution.retry_schedule = schedule;
    }
    if let Ok(observe) = std::env::var("SWITCHYARD_OBSERVE") {
        execution.observe = match observe.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => anyhow::bail!("SWITCHYARD_OBSERVE: `{other}` is not true or false"),
        };
    }
    execution.check().map_err(anyhow::Error::msg)?;
    Ok(execution)
}

/// `[teams]` entries must name a user and a team.
fn teams_config(teams: BTreeMap<String, String>) -> anyhow::Result<BTreeMap<String, String>> {
    for (user, team) in &teams {
        anyhow::ensure!(
            !user.trim().is_empty() && !team.trim().is_empty(),
            "teams.{user}: a user and a team name are both required (e.g. alice = \"marketing\")"
        );
    }
    Ok(teams)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Replaces the password of a URL (`postgres://u:pw@h/db`) with `****`.
pub fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:****{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_database_urls() {
        assert_eq!(
            mask_url("postgres://app:hunter2@db:5432/sy"),
            "postgres://app:****@db:5432/sy"
        );
        assert_eq!(
            mask_url("postgres://postgres@db/sy"),
            "postgres://postgres@db/sy"
        );
        assert_eq!(
            mask_url("sqlite://data/x.db?mode=rwc"),
            "sqlite://data/x.db?mode=rwc"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("topsecret");
        assert!(!format!("{s:?}").contains("topsecret"));
    }
}
