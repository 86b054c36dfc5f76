//! What the HTTP connectors share: sending a request through the guarded client, reading a
//! bounded reply, and the common rules that turn a status or an error into an [`Outcome`]
//! (2xx delivered; 408, 429, 5xx, timeouts and connection errors retried, honouring
//! `Retry-After`; redirects and other 4xx permanent; refused addresses permanent).
//!
//! Error texts never carry the request URL (it may hold a secret or a record key) nor
//! headers; they carry the status and at most the first 200 characters of the reply body.

use super::Outcome;
use crate::net::{self, NetPolicy};
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::Duration;

/// Timeout of an attempt when the settings do not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest `Retry-After` honoured; a destination asking for more is retried after a day.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Reply bytes read at most; the rest is not needed to judge the attempt.
const MAX_BODY: usize = 64 * 1024;
/// Characters of the reply body kept in an error text.
pub const SNIPPET_CHARS: usize = 200;

/// A destination's answer: status, `Retry-After`, and the (bounded) body as text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Reply {
    /// The first [`SNIPPET_CHARS`] characters of the body, on one line.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }

    /// The common rules; `detail` replaces the body snippet in the error text.
    pub fn outcome_with(&self, detail: Option<String>) -> Outcome {
        let status = Some(self.status);
        let detail = detail.unwrap_or_else(|| self.snippet());
        let error = if detail.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}: {detail}", self.status)
        };
        match self.status {
            200..=299 => Outcome::Delivered { status },
            300..=399 => Outcome::Permanent {
                status,
                error: format!("HTTP {}: redirects are not followed", self.status),
            },
            408 | 429 | 500..=599 | 100..=199 => Outcome::Retry {
                status,
                error,
                retry_after: self.retry_after,
            },
            _ => Outcome::Permanent { status, error },
        }
    }

    /// The common rules with the body snippet as detail.
    pub fn outcome(&self) -> Outcome {
        self.outcome_with(None)
    }
}

/// One line of at most [`SNIPPET_CHARS`] characters.
pub fn snippet(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(SNIPPET_CHARS).collect()
}

/// `Permanent` when the policy refuses the URL (scheme, IP-literal host) before any packet.
pub fn guard(net: &NetPolicy, url: &str) -> Result<(), Outcome> {
    net.check_url(url).map_err(|error| Outcome::Permanent {
        status: None,
        error,
    })
}

/// The guarded client for `timeout`, never following redirects.
pub fn client(net: &NetPolicy, timeout: Duration) -> Result<reqwest::Client, Outcome> {
    net.try_http_client(timeout, false)
        .map_err(|error| Outcome::Retry {
            status: None,
            error,
            retry_after: None,
        })
}

/// Sends `request` and reads the reply, or says how the attempt failed.
pub async fn send(request: reqwest::RequestBuilder) -> Result<Reply, Outcome> {
    let mut response = request.send().await.map_err(error_outcome)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers(), Utc::now());
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY.saturating_sub(bytes.len());
                bytes.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                if bytes.len() >= MAX_BODY {
                    break;
                }
            }
            Ok(None) => break,
            // The status decides the outcome; a body cut short only loses detail.
            Err(_) => break,
        }
    }
    Ok(Reply {
        status,
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The cause chain of `e`, without the URL, on one line.
pub fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    let head = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_body() || e.is_decode() {
        "reading the reply failed"
    } else {
        "request failed"
    };
    let mut text = head.to_string();
    for p in parts {
        text.push_str(": ");
        text.push_str(&p);
    }
    snippet(&text)
}

/// A transport error as an outcome: refusals and unbuildable requests are permanent, the rest
/// (timeouts, connection errors, broken replies) is retried.
pub fn error_outcome(e: reqwest::Error) -> Outcome {
    if let Some(refused) = net::refusal(&e) {
        return Outcome::Permanent {
            status: None,
            error: refused.to_string(),
        };
    }
    if e.is_builder() || e.is_redirect() {
        return Outcome::Permanent {
            status: None,
            error: describe(&e),
        };
    }
    Outcome::Retry {
        status: None,
        error: describe(&e),
        retry_after: None,
    }
}

/// `Retry-After` as seconds or as an HTTP-date, relative to `now`.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if let Ok(secs) = text.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = DateTime::parse_from_rfc2822(text).ok()?.with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:30 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn statuses_follow_the_common_rules() {
        let reply = |status| Reply {
            status,
            retry_after: None,
            body: "x".repeat(500),
        };
        assert!(matches!(reply(204).outcome(), Outcome::Delivered { .. }));
        for s in [408, 429, 500, 503] {
            assert!(matches!(reply(s).outcome(), Outcome::Retry { .. }), "{s}");
        }
        for s in [301, 400, 401, 404, 410, 422] {
            assert!(
                matches!(reply(s).outcome(), Outcome::Permanent { .. }),
                "{s}"
            );
        }
        let Outcome::Permanent { error, .. } = reply(400).outcome() else {
            panic!("400 is permanent");
        };
        assert_eq!(error.len(), "HTTP 400: ".len() + SNIPPET_CHARS);
    }
}
