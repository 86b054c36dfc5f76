//! The `slack` connector: posts one message to a Slack incoming webhook
//! (`POST {webhook_url}` with `{"text": …, "blocks": […]}`). The record holds `text` and
//! optionally `blocks`; without blocks one `section` block with the text as `mrkdwn` is sent,
//! so the message renders the same in every client and `text` remains the notification
//! fallback. Slack answers `200 ok`; errors come as short bodies (`invalid_payload`,
//! `no_service`, `channel_is_archived`) with 4xx statuses, which are permanent.
//!
//! It must never log the webhook URL (whoever holds it can post to the channel) and never
//! remove or edit messages (incoming webhooks cannot).

use super::http::{self, DEFAULT_TIMEOUT};
use super::{Action, Connector, Delivery, Outcome, SettingsError, setting};
use crate::net::NetPolicy;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::time::Duration;

/// Longest text of a `section` block Slack accepts.
const SECTION_TEXT_MAX: usize = 3000;
/// Longest top-level `text` Slack accepts.
const TEXT_MAX: usize = 40_000;

/// A configured Slack incoming webhook.
pub struct Slack {
    webhook_url: String,
    timeout: Duration,
    net: NetPolicy,
}

impl Slack {
    /// Reads `webhook_url`; `channel_label` is for display only.
    pub fn new(settings: &Value, net: &NetPolicy) -> Result<Self, SettingsError> {
        let url = setting::url(settings, "webhook_url", None)?;
        Ok(Self {
            webhook_url: url.into(),
            timeout: DEFAULT_TIMEOUT,
            net: net.clone(),
        })
    }

    /// The same connector with another attempt timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn attempt(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        if d.action == Action::Remove {
            return Err(permanent(
                "Slack messages cannot be removed by this connector",
            ));
        }
        let body = message(&d.record)?;
        http::guard(&self.net, &self.webhook_url)?;
        let request = http::client(&self.net, self.timeout)?
            .post(&self.webhook_url)
            .json(&body);
        let reply = http::send(request).await?;
        // Slack's error bodies are single words (`invalid_payload`); show them as they are.
        Ok(reply.outcome())
    }
}

fn permanent(error: &str) -> Outcome {
    Outcome::Permanent {
        status: None,
        error: error.to_string(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The Slack payload for a record `{"text": …, "blocks": […]?}`.
pub fn message(record: &Value) -> Result<Value, Outcome> {
    let text = record
        .get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| permanent("the message has no text"))?;
    let blocks = match record.get("blocks") {
        Some(Value::Array(b)) if !b.is_empty() => Value::Array(b.clone()),
        None | Some(Value::Null) | Some(Value::Array(_)) => json!([{
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX)},
        }]),
        Some(_) => return Err(permanent("the message's blocks must be a list")),
    };
    Ok(json!({"text": truncate(text, TEXT_MAX), "blocks": blocks}))
}

impl Connector for Slack {
    fn key(&self) -> &'static str {
        "slack"
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.attempt(delivery).await.unwrap_or_else(|o| o) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_a_mrkdwn_section() {
        let body = message(&json!({"text": "New lead from *Acme*"})).expect("valid");
        assert_eq!(body["text"], "New lead from *Acme*");
        assert_eq!(body["blocks"][0]["type"], "section");
        assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
        let long = "x".repeat(5000);
        let body = message(&json!({"text": long})).expect("valid");
        let section = body["blocks"][0]["text"]["text"].as_str().expect("text");
        assert_eq!(section.chars().count(), SECTION_TEXT_MAX);
    }

    #[test]
    fn given_blocks_are_kept_and_text_is_required() {
        let blocks = json!([{"type": "divider"}]);
        let body = message(&json!({"text": "t", "blocks": blocks})).expect("valid");
        assert_eq!(body["blocks"], blocks);
        assert!(matches!(
            message(&json!({"blocks": blocks})),
            Err(Outcome::Permanent { .. })
        ));
    }
}
