//! Rate limits (`[rate_limit]`): requests per write key on the ingestion endpoints and per
//! subject on `POST /graphql`, as token buckets (GCRA, the `governor` crate), answered with
//! HTTP 429 and `Retry-After` when a bucket is empty. One caller's flood never slows another.
//!
//! Defaults: write keys 5,000 requests/s with a burst of 10,000 — five times what one machine's
//! ingestion benchmark sends, so only a runaway source meets it; subjects 50 requests/s with a
//! burst of 200 when a real key is configured, and off in development mode (the web UI's demo
//! sign-in, `switchyard token` with the generated secret) unless set explicitly. `0` turns a
//! limit off. Buckets are per process: N API processes allow N times the rate.
//!
//! Buckets are keyed by a digest of the credential, never the credential itself, and nothing
//! here logs a key or a token.

use crate::error::Code;
use crate::state::AppState;
use axum::{
    Json,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, clock::Clock as _};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets idle long enough to be full again are dropped at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// `[rate_limit]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per second per write key on `/v1/*`; 0: off.
    pub write_key_per_second: u32,
    /// Requests a write key may send at once before the rate applies.
    pub write_key_burst: u32,
    /// Requests per second per subject on `POST /graphql`; 0: off. Unset: 50 with a configured
    /// key, off in development mode.
    pub subject_per_second: Option<u32>,
    pub subject_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            write_key_per_second: 5_000,
            write_key_burst: 10_000,
            subject_per_second: None,
            subject_burst: 200,
        }
    }
}

/// The rate limiters of one process.
pub struct RateLimits {
    write_keys: Option<Limiter<[u8; 16]>>,
    subjects: Option<Limiter<String>>,
}

impl RateLimits {
    /// Limiters as configured; `development`: no token key is configured.
    pub fn new(config: &RateLimitConfig, development: bool) -> Self {
        let subject_rate = config
            .subject_per_second
            .unwrap_or(if development { 0 } else { 50 });
        Self {
            write_keys: Limiter::new(config.write_key_per_second, config.write_key_burst),
            subjects: Limiter::new(subject_rate, config.subject_burst),
        }
    }

    /// `Err(wait)` when the write key has used its requests.
    pub fn check_write_key(&self, key: &str) -> Result<(), Duration> {
        match &self.write_keys {
            Some(limiter) => {
                let digest = Sha256::digest(key.as_bytes());
                let mut id = [0u8; 16];
                id.copy_from_slice(&digest[..16]);
                limiter.check(&id)
            }
            None => Ok(()),
        }
    }

    /// `Err(wait)` when the subject has used its GraphQL requests.
    pub fn check_subject(&self, sub: &str) -> Result<(), Duration> {
        match &self.subjects {
            Some(limiter) => limiter.check(&sub.to_string()),
            None => Ok(()),
        }
    }
}

struct Limiter<K: Hash + Eq + Clone> {
    buckets: DefaultKeyedRateLimiter<K>,
    last_sweep: Mutex<Instant>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        Some(Self {
            buckets: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            last_sweep: Mutex::new(Instant::now()),
        })
    }

    fn check(&self, key: &K) -> Result<(), Duration> {
        self.sweep();
        self.buckets
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.buckets.clock().now()))
    }

    /// Drops full buckets now and then, so keys seen once do not pile up.
    fn sweep(&self) {
        if let Ok(mut last) = self.last_sweep.try_lock()
            && last.elapsed() > SWEEP_EVERY
        {
            *last = Instant::now();
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
    }
}

/// Whole seconds to wait, at least 1 (what `Retry-After` can say).
fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The GraphQL-shaped 429 for a subject over its rate.
pub fn graphql_refusal(wait: Duration) -> Response {
    let seconds = retry_after_seconds(wait);
    let message = format!(
        "rate limit: too many requests for this subject (rate_limit.subject_per_second); \
         retry after {seconds} s"
    );
    let body = json!({ "errors": [{ "message": message, "extensions": {
        "code": Code::BadUserInput.as_str(), "retryAfterSeconds": seconds } }] });
    with_retry_after(Json(body).into_response(), seconds)
}

/// The 429 for a write key over its rate, with `Retry-After`.
pub fn ingestion_refusal(wait: Duration) -> Response {
    let seconds = retry_after_seconds(wait);
    let message = format!(
        "rate limit: too many requests for this write key \
         (rate_limit.write_key_per_second); retry after {seconds} s"
    );
    let body = json!({ "error": { "code": Code::BadUserInput.as_str(), "message": message,
        "retryAfterSeconds": seconds } });
    with_retry_after(Json(body).into_response(), seconds)
}

/// Middleware on the ingestion routes: a write key presented in `Authorization` (basic user or
/// bearer) over its rate gets 429 before anything is read or written. (A key in a Segment body
/// is checked by its handler once the body is read.)
pub async fn ingestion(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(key) = crate::ingest::write_keys::presented(request.headers())
        && let Err(wait) = state.limits.check_write_key(&key)
    {
        return ingestion_refusal(wait);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_other_keys_are_unaffected() {
        let config = RateLimitConfig {
            write_key_per_second: 1,
            write_key_burst: 2,
            subject_per_second: Some(1),
            subject_burst: 1,
        };
        let limits = RateLimits::new(&config, true);
        assert!(limits.check_write_key("a").is_ok());
        assert!(limits.check_write_key("a").is_ok());
        let wait = limits
            .check_write_key("a")
            .expect_err("third within a second");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            limits.check_write_key("b").is_ok(),
            "another key has its own bucket"
        );
        assert!(limits.check_subject("alice").is_ok());
        assert!(limits.check_subject("alice").is_err());
        assert!(limits.check_subject("bob").is_ok());
    }

    #[test]
    fn subjects_are_unlimited_in_development_unless_configured() {
        let limits = RateLimits::new(&RateLimitConfig::default(), true);
        assert!((0..1000).all(|_| limits.check_subject("alice").is_ok()));
        let limits = RateLimits::new(&RateLimitConfig::default(), false);
        assert!((0..1000).any(|_| limits.check_subject("alice").is_err()));
        let off = RateLimitConfig {
            write_key_per_second: 0,
            ..RateLimitConfig::default()
        };
        let limits = RateLimits::new(&off, false);
        assert!((0..20_000).all(|_| limits.check_write_key("k").is_ok()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
    }
}
