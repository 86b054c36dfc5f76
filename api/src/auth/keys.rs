//! The verification keys named by `[auth]`: exactly one of an HS256 secret (configured, or
//! generated into the data dir for development), a PEM public key (RS256, ES256 or EdDSA), or
//! the identity provider's JWKS URL. Secrets are read, never printed.

use super::jwks::{Jwks, Key};
use crate::config::Config;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use std::path::Path;
use std::time::Duration;

/// File in the data dir holding the generated development HS256 secret.
pub const DEV_SECRET_FILE: &str = "jwt-hs256.secret";

/// Where verification keys come from.
pub enum Keys {
    /// One key, pinned to one algorithm.
    Static(Key),
    /// The provider's key set, picked by `kid`.
    Jwks(Jwks),
}

/// The verification keys, the signing key (HS256 only: development tokens) and a description
/// of the source for the start-up banner.
pub fn load(config: &Config) -> anyhow::Result<(Keys, Option<EncodingKey>, String)> {
    let auth = &config.auth;
    let configured = [
        auth.hs256_secret.is_some(),
        auth.public_key_file.is_some(),
        auth.jwks_url.is_some(),
    ];
    anyhow::ensure!(
        configured.iter().filter(|c| **c).count() <= 1,
        "auth: set one of hs256_secret (SWITCHYARD_JWT_SECRET), public_key_file \
         (SWITCHYARD_JWT_PUBLIC_KEY_FILE) or jwks_url (SWITCHYARD_JWKS_URL), not several"
    );
    if let Some(secret) = &auth.hs256_secret {
        anyhow::ensure!(
            secret.expose().len() >= 32,
            "auth.hs256_secret: must be at least 32 bytes"
        );
        return Ok(hs256(
            secret.expose().as_bytes(),
            "HS256 secret from configuration".into(),
        ));
    }
    if let Some(path) = &auth.public_key_file {
        return public_key(path, auth.public_key_alg.as_deref());
    }
    if let Some(url) = &auth.jwks_url {
        let jwks = Jwks::new(
            url,
            Duration::from_secs(auth.jwks_min_refresh_seconds),
            Duration::from_secs(auth.jwks_max_age_seconds.max(1)),
        )?;
        let source = format!("JWKS {} (RS256, ES256, EdDSA keys by kid)", jwks.url());
        return Ok((Keys::Jwks(jwks), None, source));
    }
    let path = config.data_dir.join(DEV_SECRET_FILE);
    let secret = load_or_create_secret(&path)?;
    Ok(hs256(
        &secret,
        format!("HS256 development secret {}", path.display()),
    ))
}

/// A PEM public key pinned to `alg` (RS256 by default).
fn public_key(
    path: &Path,
    alg: Option<&str>,
) -> anyhow::Result<(Keys, Option<EncodingKey>, String)> {
    let pem = std::fs::read(path).map_err(|e| {
        anyhow::anyhow!("auth.public_key_file {}: cannot read: {e}", path.display())
    })?;
    let (algorithm, decoding) = match alg.unwrap_or("RS256") {
        "RS256" => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
        "ES256" => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
        "EdDSA" => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
        other => anyhow::bail!(
            "auth.public_key_alg: `{other}` is not supported; use RS256, ES256 or EdDSA"
        ),
    };
    let decoding = decoding.map_err(|e| {
        anyhow::anyhow!(
            "auth.public_key_file {}: not a {algorithm:?} public key in PEM ({e})",
            path.display()
        )
    })?;
    let source = format!("{algorithm:?} public key {}", path.display());
    Ok((
        Keys::Static(Key {
            algorithm,
            decoding,
        }),
        None,
        source,
    ))
}

fn hs256(secret: &[u8], source: String) -> (Keys, Option<EncodingKey>, String) {
    (
        Keys::Static(Key {
            algorithm: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
        }),
        Some(EncodingKey::from_secret(secret)),
        source,
    )
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
