//! Authentication: a bearer JWT becomes a [`Subject`] (who, with which roles), or the request is
//! refused as `UNAUTHENTICATED`.
//!
//! One algorithm is pinned per key: HS256 with a shared secret (configured, or generated into the
//! data dir for development), or RS256/EdDSA with a configured public key. `exp`, `nbf`, `iss`,
//! `aud` and `sub` are all required and checked; a claim of the wrong type is an error, not a
//! skipped check (jsonwebtoken ≥ 10.3). This module never logs a token or a key.

use crate::config::{AuthConfig, Config};
use crate::error::{ApiError, ApiResult};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File in the data dir holding the generated development HS256 secret.
pub const DEV_SECRET_FILE: &str = "jwt-hs256.secret";
/// Tokens larger than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub sub: String,
    pub roles: Vec<String>,
    /// The caller's team: the token's `team` claim, else the `[teams]` configuration.
    pub team: Option<String>,
}

/// Token claims. The registered claims are optional here so that a missing or mistyped one is
/// reported by jsonwebtoken's own required-claim checks (naming the claim), not as a generic
/// parse error; they are all required by [`validation`]. `aud` may be a string or a list.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    nbf: Option<serde_json::Value>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    roles: Vec<String>,
    /// The caller's team (a top-level string claim); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    team: Option<String>,
}

pub struct Authenticator {
    algorithm: Algorithm,
    decoding: DecodingKey,
    /// Present only for HS256: the server can mint development tokens.
    encoding: Option<EncodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    /// Where the key came from, for the start-up banner.
    pub key_source: String,
}

impl Authenticator {
    /// Loads the verification key named by the configuration, generating the development secret
    /// on first use when no key is configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let (algorithm, decoding, encoding, key_source) =
            match (&auth.hs256_secret, &auth.public_key_file) {
                (Some(secret), _) => {
                    anyhow::ensure!(
                        secret.expose().len() >= 32,
                        "auth.hs256_secret: must be at least 32 bytes"
                    );
                    let bytes = secret.expose().as_bytes();
                    (
                        Algorithm::HS256,
                        DecodingKey::from_secret(bytes),
                        Some(EncodingKey::from_secret(bytes)),
                        "HS256 secret from configuration".to_string(),
                    )
                }
                (None, Some(path)) => {
                    let pem = std::fs::read(path).map_err(|e| {
                        anyhow::anyhow!("auth.public_key_file {}: cannot read: {e}", path.display())
                    })?;
                    let (alg, key) = match auth.public_key_alg.as_deref().unwrap_or("RS256") {
                        "RS256" => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)?),
                        "EdDSA" => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)?),
                        other => anyhow::bail!(
                            "auth.public_key_alg: `{other}` is not supported; use RS256 or EdDSA"
                        ),
                    };
                    (
                        alg,
                        key,
                        None,
                        format!("{alg:?} public key {}", path.display()),
                    )
                }
                (None, None) => {
                    let path = config.data_dir.join(DEV_SECRET_FILE);
                    let secret = load_or_create_secret(&path)?;
                    (
                        Algorithm::HS256,
                        DecodingKey::from_secret(&secret),
                        Some(EncodingKey::from_secret(&secret)),
                        format!("HS256 development secret {}", path.display()),
                    )
                }
            };
        Ok(Self {
            algorithm,
            decoding,
            encoding,
            validation: validation(algorithm, auth),
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            key_source,
        })
    }

    /// Verifies a bearer token and returns its subject.
    pub fn verify(&self, token: &str) -> ApiResult<Subject> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::Unauthenticated(
                "token is larger than 8 KiB".into(),
            ));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::Unauthenticated(describe(e.kind())))?;
        let claims = data.claims;
        let sub = claims.sub.unwrap_or_default();
        if sub.trim().is_empty() {
            return Err(ApiError::Unauthenticated(
                "token `sub` claim is empty".into(),
            ));
        }
        Ok(Subject {
            sub,
            roles: claims.roles,
            team: claims.team.filter(|t| !t.trim().is_empty()),
        })
    }

    /// Mints a token (development and automation). Only possible with an HS256 key.
    pub fn mint(&self, sub: &str, roles: &[String], ttl_seconds: i64) -> anyhow::Result<String> {
        self.mint_with_team(sub, roles, None, ttl_seconds)
    }

    /// Mints a token carrying a `team` claim as well.
    pub fn mint_with_team(
        &self,
        sub: &str,
        roles: &[String],
        team: Option<&str>,
        ttl_seconds: i64,
    ) -> anyhow::Result<String> {
        let key = self.encoding.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "tokens for a {:?} public key are issued by your identity provider; \
                 `switchyard token` only signs with an HS256 secret",
                self.algorithm
            )
        })?;
        anyhow::ensure!(!sub.trim().is_empty(), "--sub: must not be empty");
        anyhow::ensure!(ttl_seconds > 0, "--ttl: must be positive");
        for role in roles {
            anyhow::ensure!(
                !role.is_empty()
                    && role
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()),
                "--role: `{role}` must be lowercase letters, digits and `_`"
            );
        }
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: Some(sub.to_string()),
            iss: Some(self.issuer.clone()),
            aud: Some(self.audience.clone().into()),
            exp: Some((now + ttl_seconds).into()),
            nbf: Some((now - 1).into()),
            iat: Some(now),
            roles: roles.to_vec(),
            team: team.map(str::to_string),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(self.algorithm),
            &claims,
            key,
        )?)
    }
}

fn validation(algorithm: Algorithm, auth: &AuthConfig) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    v.set_issuer(&[auth.issuer.as_str()]);
    v.set_audience(&[auth.audience.as_str()]);
    v.validate_exp = true;
    v.validate_nbf = true;
    v.leeway = auth.leeway_seconds.min(120);
    v
}

/// A client-facing reason, without echoing the token.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token has expired (`exp`)".into(),
        ErrorKind::ImmatureSignature => "token is not valid yet (`nbf`)".into(),
        ErrorKind::InvalidIssuer => "token `iss` is not the expected issuer".into(),
        ErrorKind::InvalidAudience => "token `aud` is not the expected audience".into(),
        ErrorKind::InvalidSignature => "token signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => "token algorithm is not accepted for this key".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("token is missing the `{c}` claim"),
        ErrorKind::InvalidClaimFormat(c) => format!("token claim `{c}` has the wrong type"),
        _ => "token is malformed".into(),
    }
}

/// Reads the development secret, creating 32 random bytes (hex, mode 0600) on first use.
fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let secret = text.trim().as_bytes().to_vec();
        anyhow::ensure!(
            secret.len() >= 32,
            "{}: development secret is shorter than 32 bytes",
            path.display()
        );
        return Ok(secret);
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    crate::fsutil::write_private(path, secret.as_bytes())?;
    Ok(secret.into_bytes())
}
