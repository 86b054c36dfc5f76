//! The identity provider's JSON Web Key Set (`auth.jwks_url`): keys picked by the token's
//! `kid`, cached, refetched when they are older than `jwks_max_age_seconds` or when a token
//! names a `kid` the cache does not know (a rotation), at most once per
//! `jwks_min_refresh_seconds` so a stream of made-up `kid`s cannot turn into a stream of
//! requests to the provider. Concurrent misses share one fetch.
//!
//! Each key's algorithm comes from the key itself (`kty`/`crv`, and `alg` when given, which must
//! agree): RSA → RS256 (or the RS*/PS* it names), EC P-256 → ES256, P-384 → ES384, OKP Ed25519
//! → EdDSA. Symmetric (`oct`) keys and encryption keys are never used, so a token cannot pick
//! HMAC over a public key (algorithm confusion).
//!
//! The URL is the operator's, so the connectors' SSRF guard does not apply; it must be https
//! unless it is on loopback. Redirects are not followed. Nothing here logs a key or a token.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Largest key set accepted from the provider.
const MAX_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A verification key and the one algorithm it verifies.
#[derive(Clone)]
pub struct Key {
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Key>,
    /// Keys published without a `kid` (usable only when the set holds a single key).
    unnamed: Vec<Key>,
    fetched: Option<Instant>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<Key> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None if self.by_kid.len() + self.unnamed.len() == 1 => self
                .by_kid
                .values()
                .chain(self.unnamed.iter())
                .next()
                .cloned(),
            None => None,
        }
    }
}

pub struct Jwks {
    url: Url,
    client: reqwest::Client,
    current: RwLock<Arc<KeySet>>,
    /// When the last fetch was attempted; held across a fetch so misses share it.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    min_refresh: Duration,
    max_age: Duration,
}

impl Jwks {
    /// Checks the URL (https, or http on loopback) and prepares the client; fetches nothing yet.
    pub fn new(url: &str, min_refresh: Duration, max_age: Duration) -> anyhow::Result<Self> {
        let url = Url::parse(url)
            .map_err(|e| anyhow::anyhow!("auth.jwks_url: `{url}` is not a URL ({e})"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => anyhow::bail!(
                "auth.jwks_url: must be https (plain http only on loopback), got `{}`",
                url.scheme()
            ),
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            client,
            current: RwLock::new(Arc::new(KeySet::default())),
            last_attempt: tokio::sync::Mutex::new(None),
            min_refresh,
            max_age,
        })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The key for `kid`, refetching the set when it is stale or does not know `kid`.
    /// `Err` is a client-facing reason.
    pub async fn key(&self, kid: Option<&str>) -> Result<Key, String> {
        let cached = self.snapshot();
        let fresh = cached.fetched.is_some_and(|t| t.elapsed() < self.max_age);
        if let Some(key) = cached.find(kid) {
            // A stale set is refetched by one request; the others keep using the cached key.
            if fresh || self.last_attempt.try_lock().is_err() {
                return Ok(key);
            }
        }
        match self.refresh(cached.fetched).await {
            Ok(set) => set.find(kid).ok_or_else(|| match kid {
                Some(_) => "token `kid` is not in the identity provider's key set".to_string(),
                None => "token has no `kid` header and the key set holds several keys".to_string(),
            }),
            // The provider is unreachable: a key we already had still verifies.
            Err(reason) => cached.find(kid).ok_or(reason),
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Fetches the set unless another task already did since `seen`, or the last attempt was
    /// less than `min_refresh` ago (then the cached set is the answer).
    async fn refresh(&self, seen: Option<Instant>) -> Result<Arc<KeySet>, String> {
        let mut last = self.last_attempt.lock().await;
        let current = self.snapshot();
        if current.fetched != seen {
            return Ok(current);
        }
        if last.is_some_and(|t| t.elapsed() < self.min_refresh) {
            return Ok(current);
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                tracing::info!(url = %self.url, keys = set.by_kid.len() + set.unnamed.len(), "identity provider keys fetched");
                let set = Arc::new(set);
                match self.current.write() {
                    Ok(mut guard) => *guard = Arc::clone(&set),
                    Err(poisoned) => *poisoned.into_inner() = Arc::clone(&set),
                }
                Ok(set)
            }
            Err(reason) => {
                tracing::warn!(url = %self.url, error = %reason, "cannot fetch identity provider keys");
                Err(format!(
                    "cannot fetch the identity provider's keys: {reason}"
                ))
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let resp = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(format!("larger than {MAX_BYTES} bytes"));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if body.len() > MAX_BYTES {
            return Err(format!("larger than {MAX_BYTES} bytes"));
        }
        parse(&body)
    }
}

/// The usable keys of a JWKS document; keys of other kinds are skipped, not fatal.
fn parse(body: &[u8]) -> Result<KeySet, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc =
        serde_json::from_slice(body).map_err(|e| format!("not a JWKS document ({e})"))?;
    let mut set = KeySet {
        fetched: Some(Instant::now()),
        ..KeySet::default()
    };
    for value in doc.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(key) = verification_key(&jwk) else {
            continue;
        };
        match jwk.common.key_id {
            Some(kid) => {
                set.by_kid.insert(kid, key);
            }
            None => set.unnamed.push(key),
        }
    }
    Ok(set)
}

/// The key and its one algorithm, or `None` for keys never used to verify tokens.
fn verification_key(jwk: &Jwk) -> Option<Key> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let named = match jwk.common.key_algorithm {
        Some(alg) => Some(Algorithm::try_from(alg).ok()?),
        None => None,
    };
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match named {
            None => Algorithm::RS256,
            Some(
                a @ (Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512),
            ) => a,
            Some(_) => return None,
        },
        AlgorithmParameters::EllipticCurve(p) => {
            let by_curve = match p.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => return None,
            };
            named.is_none_or(|a| a == by_curve).then_some(by_curve)?
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => named
            .is_none_or(|a| a == Algorithm::EdDSA)
            .then_some(Algorithm::EdDSA)?,
        _ => return None,
    };
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key {
        algorithm,
        decoding,
    })
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_must_be_https_unless_loopback() {
        let d = Duration::from_secs(1);
        assert!(Jwks::new("https://idp.example.com/.well-known/jwks.json", d, d).is_ok());
        assert!(Jwks::new("http://127.0.0.1:8081/jwks", d, d).is_ok());
        assert!(Jwks::new("http://localhost/jwks", d, d).is_ok());
        assert!(Jwks::new("http://[::1]:9/jwks", d, d).is_ok());
        let err = Jwks::new("http://idp.example.com/jwks", d, d)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("auth.jwks_url") && e.contains("https")));
        assert!(Jwks::new("not a url", d, d).is_err());
    }

    #[test]
    fn symmetric_encryption_and_mismatched_keys_are_skipped() {
        let doc = serde_json::json!({ "keys": [
            { "kty": "oct", "kid": "h", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0" },
            { "kty": "OKP", "kid": "enc", "use": "enc", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "OKP", "kid": "lie", "alg": "HS256", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "weird" }
        ]});
        let set = parse(doc.to_string().as_bytes()).expect("parses");
        let kids: Vec<&String> = set.by_kid.keys().collect();
        assert_eq!(kids, ["ed"]);
        assert_eq!(
            set.find(Some("ed")).map(|k| k.algorithm),
            Some(Algorithm::EdDSA)
        );
        assert!(
            set.find(None).is_some(),
            "a single key serves tokens without kid"
        );
        assert!(parse(b"[]").is_err());
    }
}
