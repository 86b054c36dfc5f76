//! The `webhook` connector (also used for `ads-audience`): one JSON POST per delivery, signed
//! per the Standard Webhooks specification — `webhook-id` is the delivery's idempotency key
//! (the same on every attempt, so receivers can de-duplicate), `webhook-timestamp` the attempt
//! time, `webhook-signature` `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with
//! the base64-decoded part of the `whsec_` secret.
//!
//! It must never follow a redirect (a 3xx is permanent), never reach an address the network
//! guard refuses, and never log the secret or the body.

use super::http::{self, DEFAULT_TIMEOUT};
use super::{Connector, Delivery, Outcome, SettingsError, setting};
use crate::net::NetPolicy;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of Standard Webhooks signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// A configured webhook destination.
pub struct Webhook {
    url: String,
    mac: HmacSha256,
    timeout: Duration,
    net: NetPolicy,
}

impl Webhook {
    /// Reads `url`, `secret` (`whsec_` + base64 key) and `timeout_seconds` (default 15).
    pub fn new(settings: &Value, net: &NetPolicy) -> Result<Self, SettingsError> {
        let url = setting::url(settings, "url", None)?;
        let mac = signing_key(setting::required(settings, "secret")?)?;
        let timeout = setting::timeout(settings, "timeout_seconds", DEFAULT_TIMEOUT)?;
        Ok(Self {
            url: url.into(),
            mac,
            timeout,
            net: net.clone(),
        })
    }

    /// The same connector with another attempt timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `webhook-signature` value for one message.
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        sign(self.mac.clone(), id, timestamp, body)
    }

    async fn attempt(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        http::guard(&self.net, &self.url)?;
        let payload = json!({
            "type": format!("{}.{}", d.object, d.action.as_str()),
            "timestamp": d.attempted_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": d.record,
        });
        let body = serde_json::to_vec(&payload).map_err(|e| Outcome::Permanent {
            status: None,
            error: format!("the record cannot be serialized: {e}"),
        })?;
        let timestamp = d.attempted_at.timestamp();
        let signature = self.signature(&d.idempotency_key, timestamp, &body);
        let request = http::client(&self.net, self.timeout)?
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.idempotency_key)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        Ok(http::send(request).await?.outcome())
    }
}

/// The HMAC key of a `whsec_…` secret; the error never repeats the secret.
fn signing_key(secret: &str) -> Result<HmacSha256, SettingsError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or_else(|| SettingsError::new("secret", format!("must start with {SECRET_PREFIX}")))?;
    let key = BASE64
        .decode(encoded)
        .map_err(|_| SettingsError::new("secret", "the part after whsec_ must be base64"))?;
    if key.is_empty() {
        return Err(SettingsError::new("secret", "the key is empty"));
    }
    HmacSha256::new_from_slice(&key)
        .map_err(|_| SettingsError::new("secret", "unusable as an HMAC key"))
}

fn sign(mut mac: HmacSha256, id: &str, timestamp: i64, body: &[u8]) -> String {
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

impl Connector for Webhook {
    fn key(&self) -> &'static str {
        "webhook"
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.attempt(delivery).await.unwrap_or_else(|o| o) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // Test vector of the Standard Webhooks reference libraries.
        let hook = Webhook::new(
            &json!({
                "url": "https://example.com/hook",
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            }),
            &NetPolicy::default(),
        )
        .expect("valid settings");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            hook.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn bad_secrets_are_named_but_not_shown() {
        let net = NetPolicy::default();
        for secret in ["nope_abc", "whsec_%%%notbase64"] {
            let Err(e) = Webhook::new(&json!({"url": "https://x.test/", "secret": secret}), &net)
            else {
                panic!("{secret} must be refused");
            };
            assert_eq!(e.field, "secret");
            assert!(!e.to_string().contains(secret), "{e}");
        }
    }
}
