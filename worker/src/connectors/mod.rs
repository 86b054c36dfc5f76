//! One trait, one file per connector. A connector turns a [`Delivery`] — an already mapped,
//! policy-filtered record plus its idempotency key — into exactly one effect at the destination,
//! however often it is called with the same key, and says how the attempt went ([`Outcome`]).
//!
//! Connectors never log record contents or settings (settings carry secrets).

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use std::time::Duration;

pub mod email;
pub mod file;
pub mod http;
pub mod hubspot;
pub mod postgres;
pub mod salesforce;
pub mod setting;
pub mod slack;
pub mod webhook;

use crate::net::NetPolicy;

/// What to do with the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create or update the record identified by the idempotency key / business key.
    Upsert,
    /// Remove the record (audience sync removes members that left a segment). Connectors that
    /// cannot remove answer `Outcome::Permanent`.
    Remove,
    /// Post a human-readable message (slack, notify steps).
    Message,
    /// Append the record (file exports).
    Append,
}

impl Action {
    /// Lower-case name, as in event types (`lead.upsert`) and delivery rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upsert => "upsert",
            Action::Remove => "remove",
            Action::Message => "message",
            Action::Append => "append",
        }
    }
}

/// One delivery attempt's input.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Stable across retries, re-ingestion and crashes: the `webhook-id`, the SQL upsert key
    /// value when the record has no key field, the file de-duplication key.
    pub idempotency_key: String,
    /// Business key value (e.g. the email) used as CRM external id / SQL key value; falls back
    /// to `idempotency_key` when empty.
    pub business_key: String,
    /// Object kind: `lead`, `contact`, `account`, `segment`, an event type, or `message`.
    pub object: String,
    pub action: Action,
    /// The record: a JSON object of fields already filtered to what policy lets flow. For
    /// `Action::Message` it holds `{"text": "...", "blocks": [...]?}`.
    pub record: Value,
    /// When this attempt is made (webhook-timestamp).
    pub attempted_at: DateTime<Utc>,
}

impl Delivery {
    /// The key the destination matches on: `business_key`, or `idempotency_key` when empty.
    pub fn key(&self) -> &str {
        if self.business_key.trim().is_empty() {
            &self.idempotency_key
        } else {
            &self.business_key
        }
    }
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The destination has the effect. `status` is the HTTP status when there is one.
    Delivered { status: Option<u16> },
    /// Try again later: 5xx, 408, 429, timeouts, connection errors. `retry_after` honours the
    /// destination's `Retry-After` header when it sent one.
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// Never going to work: 4xx other than 408/429, refused address, bad configuration.
    Permanent { status: Option<u16>, error: String },
    /// Not attempted: the policy in force keeps its data from the destination (never a
    /// connector's answer; see `crate::policy`).
    Refused { error: String },
}

/// A configured destination.
pub trait Connector: Send + Sync {
    /// Connector key as in the catalog (`webhook`, `postgres`, …).
    fn key(&self) -> &'static str;
    /// Makes one attempt. Must be idempotent per `delivery.idempotency_key`.
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome>;
}

/// A connection's settings are unusable; `field` names the setting.
#[derive(Debug, Clone, thiserror::Error)]
#[error("settings.{field}: {message}")]
pub struct SettingsError {
    pub field: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Builds the connector `key` from decrypted `settings` (already validated against the
/// connector's settings schema). Cheap: no I/O.
pub fn build(
    key: &str,
    settings: &Value,
    net: &NetPolicy,
) -> Result<Box<dyn Connector>, SettingsError> {
    match key {
        // An ad audience endpoint speaks the same signed JSON as a webhook.
        "webhook" | "ads-audience" => Ok(Box::new(webhook::Webhook::new(settings, net)?)),
        "postgres" => Ok(Box::new(postgres::Postgres::new(settings, net)?)),
        "file" => Ok(Box::new(file::FileExport::new(settings)?)),
        "slack" => Ok(Box::new(slack::Slack::new(settings, net)?)),
        "email" => Ok(Box::new(email::Email::new(settings, net)?)),
        "hubspot" => Ok(Box::new(hubspot::Hubspot::new(settings, net)?)),
        "salesforce" => Ok(Box::new(salesforce::Salesforce::new(settings, net)?)),
        other => Err(SettingsError::new(
            "connector",
            format!("no built-in implementation for connector `{other}`"),
        )),
    }
}

/// Checks made when a connection is created, with I/O: the postgres table and columns exist,
/// the file directory exists and is writable, URLs pass the network guard. Returns the first
/// problem, naming the setting.
pub async fn check(key: &str, settings: &Value, net: &NetPolicy) -> Result<(), SettingsError> {
    match key {
        "postgres" => postgres::check(settings, net).await,
        "file" => file::check(settings).await,
        "email" => {
            build(key, settings, net)?;
            check_smtp_host(settings, net)
        }
        "webhook" | "ads-audience" | "slack" | "hubspot" | "salesforce" => {
            build(key, settings, net)?;
            check_address(key, settings, net)
        }
        other => Err(SettingsError::new(
            "connector",
            format!("no built-in implementation for connector `{other}`"),
        )),
    }
}

/// The network guard applied to an SMTP host given as an IP literal (names are checked when
/// resolved at delivery); `security: none` only towards internal addresses the operator allows.
fn check_smtp_host(settings: &Value, net: &NetPolicy) -> Result<(), SettingsError> {
    let host = setting::required(settings, "host")?;
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok();
    if let Some(ip) = ip {
        net.check_ip(ip)
            .map_err(|r| SettingsError::new("host", r.0))?;
    }
    if setting::optional(settings, "security")? == Some("none")
        && !ip.is_some_and(|ip| crate::net::classify(ip).is_some() && net.check_ip(ip).is_ok())
    {
        return Err(SettingsError::new(
            "security",
            "none (no TLS) only towards an internal IP address the operator allows; use starttls or tls",
        ));
    }
    Ok(())
}

/// The network guard applied to an HTTP connector's address setting when a connection is
/// created (IP-literal hosts; names are checked when resolved at delivery).
fn check_address(key: &str, settings: &Value, net: &NetPolicy) -> Result<(), SettingsError> {
    let (field, default) = match key {
        "webhook" | "ads-audience" => ("url", None),
        "slack" => ("webhook_url", None),
        "hubspot" => ("base_url", Some(hubspot::DEFAULT_BASE_URL)),
        "salesforce" => ("instance_url", None),
        _ => return Ok(()),
    };
    let url = setting::url(settings, field, default)?;
    net.check_url(url.as_str())
        .map_err(|message| SettingsError::new(field, message))?;
    // Plain http only towards internal addresses the operator allows (a receiver on the same
    // host or network): secrets and personal data never cross the internet in clear text.
    if url.scheme() == "http" {
        let inside = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| crate::net::classify(ip).is_some() && net.check_ip(ip).is_ok());
        if !inside {
            return Err(SettingsError::new(
                field,
                "must use https:// (plain http:// only to internal addresses the operator allows)",
            ));
        }
    }
    Ok(())
}
