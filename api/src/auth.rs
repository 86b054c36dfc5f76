//! Authentication: a bearer JWT becomes a [`Subject`] (who, with which roles and team), or the
//! request is refused as `UNAUTHENTICATED`.
//!
//! Keys ([`keys`]): an HS256 secret (configured, or generated into the data dir for
//! development), a PEM public key (RS256, ES256, EdDSA), or the identity provider's JWKS URL
//! ([`jwks`], keys picked by `kid`). Every key verifies exactly one algorithm, which comes from
//! the key, never from the token: `alg: none` and algorithm confusion are refused. `exp`, `iss`,
//! `aud` and `sub` are required; `nbf` is checked when present (Auth0 and Okta access tokens
//! usually have none); a claim of the wrong type is an error, not a skipped check. Roles and the
//! team come from configurable claims ([`claims`]). This module never logs a token or a key.

mod claims;
mod jwks;
mod keys;

use crate::config::{AuthConfig, Config};
use crate::error::{ApiError, ApiResult};
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

pub use claims::ClaimMapping;
pub use keys::DEV_SECRET_FILE;

/// Tokens larger than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub sub: String,
    pub roles: Vec<String>,
    /// The caller's team: the configured team claim (`team` by default), else the `[teams]`
    /// configuration.
    pub team: Option<String>,
}

pub struct Authenticator {
    keys: keys::Keys,
    /// Present only for HS256: the server can mint development tokens.
    encoding: Option<EncodingKey>,
    validation: Validation,
    claims: ClaimMapping,
    issuer: String,
    audience: String,
    /// Where the key came from, for the start-up banner.
    pub key_source: String,
}

impl Authenticator {
    /// Loads the verification keys named by the configuration, generating the development
    /// secret on first use when no key is configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let (keys, encoding, key_source) = keys::load(config)?;
        Ok(Self {
            keys,
            encoding,
            validation: validation(auth),
            claims: ClaimMapping::new(&auth.roles_claim, &auth.role_map, &auth.team_claim),
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            key_source,
        })
    }

    /// Verifies a bearer token and returns its subject. With a JWKS, an unknown `kid` may
    /// fetch the provider's keys (rate-limited).
    pub async fn verify(&self, token: &str) -> ApiResult<Subject> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::Unauthenticated(
                "token is larger than 8 KiB".into(),
            ));
        }
        let header = jsonwebtoken::decode_header(token).map_err(refused)?;
        let fetched;
        let key = match &self.keys {
            keys::Keys::Static(key) => key,
            keys::Keys::Jwks(jwks) => {
                fetched = jwks
                    .key(header.kid.as_deref())
                    .await
                    .map_err(ApiError::Unauthenticated)?;
                &fetched
            }
        };
        if header.alg != key.algorithm {
            return Err(refused(ErrorKind::InvalidAlgorithm.into()));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![key.algorithm];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(refused)?
            .claims;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if sub.trim().is_empty() {
            return Err(ApiError::Unauthenticated(
                "token `sub` claim is empty".into(),
            ));
        }
        Ok(Subject {
            sub: sub.to_string(),
            roles: self.claims.roles(&claims),
            team: self.claims.team(&claims),
        })
    }

    /// Mints a token (development and automation). Only possible with an HS256 key.
    pub fn mint(&self, sub: &str, roles: &[String], ttl_seconds: i64) -> anyhow::Result<String> {
        self.mint_with_team(sub, roles, None, ttl_seconds)
    }

    /// Mints a token carrying a team as well, at the configured claims.
    pub fn mint_with_team(
        &self,
        sub: &str,
        roles: &[String],
        team: Option<&str>,
        ttl_seconds: i64,
    ) -> anyhow::Result<String> {
        let key = self.encoding.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "tokens for {} are issued by your identity provider; \
                 `switchyard token` only signs with an HS256 secret",
                self.key_source
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
        let mut claims = Map::new();
        claims.insert("sub".into(), sub.into());
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        claims.insert("exp".into(), (now + ttl_seconds).into());
        claims.insert("nbf".into(), (now - 1).into());
        claims.insert("iat".into(), now.into());
        self.claims
            .insert_roles(&mut claims, roles)
            .map_err(|e| anyhow::anyhow!(e))?;
        if let Some(team) = team {
            self.claims.insert_team(&mut claims, team);
        }
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            key,
        )?)
    }
}

fn validation(auth: &AuthConfig) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.set_issuer(&[auth.issuer.as_str()]);
    v.set_audience(&[auth.audience.as_str()]);
    v.validate_exp = true;
    v.validate_nbf = true;
    v.leeway = auth.leeway_seconds.min(120);
    v
}

/// A client-facing refusal, without echoing the token.
fn refused(e: jsonwebtoken::errors::Error) -> ApiError {
    let reason = match e.kind() {
        ErrorKind::ExpiredSignature => "token has expired (`exp`)".into(),
        ErrorKind::ImmatureSignature => "token is not valid yet (`nbf`)".into(),
        ErrorKind::InvalidIssuer => "token `iss` is not the expected issuer".into(),
        ErrorKind::InvalidAudience => "token `aud` is not the expected audience".into(),
        ErrorKind::InvalidSignature => "token signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => "token algorithm is not accepted for this key".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("token is missing the `{c}` claim"),
        ErrorKind::InvalidClaimFormat(c) => format!("token claim `{c}` has the wrong type"),
        _ => "token is malformed".into(),
    };
    ApiError::Unauthenticated(reason)
}
