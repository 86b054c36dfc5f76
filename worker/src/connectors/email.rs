//! The `email` connector: sends one email per delivery over SMTP (lettre, on tokio). Messages
//! are rendered from the connection's message templates: a record names one with `template_id`
//! (lifecycle messaging's `message_template_id`), and `{{field}}` placeholders in its subject
//! and text are filled from the record's fields; the recipient is the record's `email`. A record
//! without `template_id` may carry `subject` and `text` itself. Notices (`notify` steps, action
//! `message`) go to the connection's `notify_to` address.
//!
//! Security: `starttls` (default, port 587) or `tls` (implicit TLS, port 465) through rustls with
//! the webpki roots; `none` only towards internal addresses the operator allows (like plain
//! http). The host is resolved and checked by the network guard, and lettre connects to the
//! checked address (TLS still verifies the name).
//!
//! SMTP has no idempotency key: the message carries `Message-ID: <idempotency key@switchyard>`
//! so a retry after an unclear outcome (a timeout after DATA) is recognisably the same message.
//! Replies 4xx (greylisting, mailbox busy) and connection failures are retried; 5xx (no such
//! mailbox, refused content, authentication) are permanent. It never logs the password or the
//! message, and errors carry the server's reply code and text only.

use super::{Action, Connector, Delivery, Outcome, SettingsError, setting};
use crate::net::{Blocked, NetPolicy};
use futures::future::BoxFuture;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    None,
    StartTls,
    Tls,
}

/// One message template of a connection.
#[derive(Debug, Clone)]
struct Template {
    subject: String,
    text: String,
}

/// A configured SMTP destination.
pub struct Email {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, String)>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    notify_to: Option<Mailbox>,
    templates: BTreeMap<String, Template>,
    timeout: Duration,
    net: NetPolicy,
}

fn mailbox(field: &str, text: &str, name: Option<&str>) -> Result<Mailbox, SettingsError> {
    let address = text
        .parse()
        .map_err(|_| SettingsError::new(field, "must be an email address"))?;
    Ok(Mailbox::new(name.map(str::to_string), address))
}

impl Email {
    /// Reads the settings: `host`, `port`, `security`, `username`/`password`, `from_address`,
    /// `from_name`, `reply_to`, `notify_to`, `templates`, `timeout_seconds`.
    pub fn new(settings: &Value, net: &NetPolicy) -> Result<Self, SettingsError> {
        let host = setting::required(settings, "host")?.trim().to_string();
        let security = match setting::optional(settings, "security")?.unwrap_or("starttls") {
            "none" => Security::None,
            "starttls" => Security::StartTls,
            "tls" => Security::Tls,
            _ => {
                return Err(SettingsError::new(
                    "security",
                    "must be none, starttls or tls",
                ));
            }
        };
        let default_port = match security {
            Security::Tls => 465,
            _ => 587,
        };
        let port = setting::integer(settings, "port")?.unwrap_or(default_port);
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| SettingsError::new("port", "must be between 1 and 65535"))?;
        let credentials = match (
            setting::optional(settings, "username")?,
            setting::optional(settings, "password")?,
        ) {
            (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
            (None, None) => None,
            _ => {
                return Err(SettingsError::new(
                    "password",
                    "username and password go together",
                ));
            }
        };
        let from = mailbox(
            "from_address",
            setting::required(settings, "from_address")?,
            setting::optional(settings, "from_name")?,
        )?;
        let reply_to = setting::optional(settings, "reply_to")?
            .map(|r| mailbox("reply_to", r, None))
            .transpose()?;
        let notify_to = setting::optional(settings, "notify_to")?
            .map(|r| mailbox("notify_to", r, None))
            .transpose()?;
        let mut templates = BTreeMap::new();
        if let Some(map) = settings.get("templates").and_then(Value::as_object) {
            for (id, t) in map {
                let field = format!("templates.{id}");
                let subject = t
                    .get("subject")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SettingsError::new(format!("{field}.subject"), "is required"))?;
                let text = t
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SettingsError::new(format!("{field}.text"), "is required"))?;
                templates.insert(
                    id.clone(),
                    Template {
                        subject: subject.to_string(),
                        text: text.to_string(),
                    },
                );
            }
        }
        let timeout =
            Duration::from_secs(setting::integer(settings, "timeout_seconds")?.unwrap_or(20));
        Ok(Self {
            host,
            port,
            security,
            credentials,
            from,
            reply_to,
            notify_to,
            templates,
            timeout,
            net: net.clone(),
        })
    }

    /// The message for `d`, or a permanent failure saying what is missing.
    fn message(&self, d: &Delivery) -> Result<Message, Outcome> {
        let fields = d.record.as_object().cloned().unwrap_or_default();
        let (to, subject, text) = match d.action {
            Action::Message => {
                let to = self.notify_to.clone().ok_or_else(|| {
                    permanent("a notice needs the connection's notify_to address")
                })?;
                let text = fields
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let subject = text.lines().next().unwrap_or("Switchyard").to_string();
                (to, truncate(&subject, 150), text)
            }
            Action::Upsert | Action::Append => {
                let email = fields
                    .get("email")
                    .and_then(Value::as_str)
                    .ok_or_else(|| permanent("the record has no email to send to"))?;
                let to = Mailbox::new(
                    fields
                        .get("first_name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.trim().is_empty())
                        .map(str::to_string),
                    email
                        .parse()
                        .map_err(|_| permanent("the record's email is not an email address"))?,
                );
                let (subject, text) = match fields.get("template_id").and_then(Value::as_str) {
                    Some(id) => {
                        let t = self.templates.get(id).ok_or_else(|| {
                            permanent(&format!("the connection has no message template `{id}`"))
                        })?;
                        (render(&t.subject, &fields), render(&t.text, &fields))
                    }
                    None => match (
                        fields.get("subject").and_then(Value::as_str),
                        fields.get("text").and_then(Value::as_str),
                    ) {
                        (Some(s), Some(t)) => (s.to_string(), t.to_string()),
                        _ => {
                            return Err(permanent(
                                "the record names no template_id and carries no subject and text",
                            ));
                        }
                    },
                };
                (to, subject, text)
            }
            Action::Remove => return Err(permanent("an email cannot be unsent")),
        };
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{}@switchyard>", d.idempotency_key)))
            .date(d.attempted_at.into());
        if let Some(r) = &self.reply_to {
            b = b.reply_to(r.clone());
        }
        b.header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| permanent(&format!("the message cannot be built: {e}")))
    }

    async fn attempt(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        let message = self.message(d)?;
        let addrs = self
            .net
            .resolve(&self.host, self.port)
            .await
            .map_err(|e| match e {
                Blocked::Refused(r) => permanent(&r.0),
                Blocked::Lookup { .. } => retry(&e.to_string()),
            })?;
        let addr = addrs
            .first()
            .ok_or_else(|| retry(&format!("{} has no address", self.host)))?;
        if self.security == Security::None && crate::net::classify(addr.ip()).is_none() {
            return Err(permanent(
                "security none (no TLS) is only allowed towards internal addresses the operator allows",
            ));
        }
        let tls = |host: &str| {
            TlsParameters::new(host.to_string())
                .map_err(|e| permanent(&format!("TLS cannot be set up: {e}")))
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
                .port(self.port)
                .timeout(Some(self.timeout));
        builder = match self.security {
            Security::None => builder.tls(Tls::None),
            Security::StartTls => builder.tls(Tls::Required(tls(&self.host)?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls(&self.host)?)),
        };
        if let Some((u, p)) = &self.credentials {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let transport = builder.build();
        let sent = tokio::time::timeout(self.timeout * 3, transport.send(message)).await;
        match sent {
            Err(_) => Err(retry("the SMTP server did not answer in time")),
            Ok(Ok(reply)) => Ok(Outcome::Delivered {
                status: Some(u16::from(reply.code())),
            }),
            Ok(Err(e)) => Err(smtp_failure(&e)),
        }
    }
}

/// An SMTP error as an outcome: 4xx and connection trouble retry, 5xx are permanent.
fn smtp_failure(e: &lettre::transport::smtp::Error) -> Outcome {
    let status = e.status().map(u16::from);
    let error = truncate(&e.to_string(), 300);
    if e.is_permanent() {
        Outcome::Permanent { status, error }
    } else {
        Outcome::Retry {
            status,
            error,
            retry_after: None,
        }
    }
}

fn permanent(error: &str) -> Outcome {
    Outcome::Permanent {
        status: None,
        error: error.to_string(),
    }
}

fn retry(error: &str) -> Outcome {
    Outcome::Retry {
        status: None,
        error: error.to_string(),
        retry_after: None,
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

/// Fills `{{field}}` placeholders from the record (`?` for a field it does not carry).
pub fn render(template: &str, fields: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match fields.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) | None => out.push('?'),
            Some(v) => out.push_str(&v.to_string()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

impl Connector for Email {
    fn key(&self) -> &'static str {
        "email"
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.attempt(delivery).await {
                Ok(o) | Err(o) => o,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn render_fills_record_fields() {
        let fields = json!({"first_name": "Ada", "n": 3})
            .as_object()
            .cloned()
            .unwrap();
        assert_eq!(
            render("Hi {{first_name}}, {{ n }} {{missing}}", &fields),
            "Hi Ada, 3 ?"
        );
    }

    #[test]
    fn settings_are_checked_by_name() {
        let net = NetPolicy::new(&[]).expect("net");
        let bad = Email::new(&json!({"host": "smtp.example.com"}), &net).err();
        assert_eq!(bad.map(|e| e.field), Some("from_address".to_string()));
        let bad = Email::new(
            &json!({"host": "smtp.example.com", "from_address": "news@example.com", "security": "ssl"}),
            &net,
        )
        .err();
        assert_eq!(bad.map(|e| e.field), Some("security".to_string()));
        let ok = Email::new(
            &json!({"host": "smtp.example.com", "from_address": "news@example.com", "security": "tls"}),
            &net,
        )
        .expect("valid");
        assert_eq!(ok.port, 465);
    }
}
