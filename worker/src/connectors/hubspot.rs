//! The `hubspot` connector: HubSpot's CRM v3 batch upsert, one record per call —
//! `POST {base_url}/crm/v3/objects/{contacts|companies}/batch/upsert` with a private-app bearer
//! token and `{"inputs": [{"idProperty", "id", "properties"}]}`. Matching on a unique property
//! (`id_property`, default `email`) makes a retried delivery update the same HubSpot record.
//!
//! Leads and contacts become contacts; accounts become companies, matched on `domain` unless
//! `id_property` names another property than the default `email`. Record fields are mapped to
//! HubSpot's internal property names (see [`CONTACT_PROPERTIES`], [`COMPANY_PROPERTIES`]);
//! fields without a mapping are dropped, because HubSpot refuses a whole batch that names an
//! unknown property. Values are sent as strings (HubSpot's property format); null, list and
//! object values are dropped. It must never log the token or record contents.

use super::http::{self, DEFAULT_TIMEOUT, Reply};
use super::{Action, Connector, Delivery, Outcome, SettingsError, setting};
use crate::net::NetPolicy;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// HubSpot's API address.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// Record field → HubSpot contact property.
pub const CONTACT_PROPERTIES: &[(&str, &str)] = &[
    ("email", "email"),
    ("first_name", "firstname"),
    ("firstname", "firstname"),
    ("last_name", "lastname"),
    ("lastname", "lastname"),
    ("company", "company"),
    ("job_title", "jobtitle"),
    ("jobtitle", "jobtitle"),
    ("title", "jobtitle"),
    ("phone", "phone"),
    ("country", "country"),
    ("lifecycle_stage", "lifecyclestage"),
    ("lifecyclestage", "lifecyclestage"),
    ("lead_status", "hs_lead_status"),
    ("hs_lead_status", "hs_lead_status"),
    // The queue or team lead routing chose: a custom contact property to create in HubSpot.
    ("owner_queue", "switchyard_owner_queue"),
];

/// Record field → HubSpot company property.
pub const COMPANY_PROPERTIES: &[(&str, &str)] = &[
    ("name", "name"),
    ("company", "name"),
    ("domain", "domain"),
    ("website", "website"),
    ("industry", "industry"),
    ("phone", "phone"),
    ("country", "country"),
    ("city", "city"),
    ("employees", "numberofemployees"),
    ("numberofemployees", "numberofemployees"),
    ("annual_revenue", "annualrevenue"),
    ("annualrevenue", "annualrevenue"),
    ("lifecycle_stage", "lifecyclestage"),
    ("lifecyclestage", "lifecyclestage"),
];

/// A configured HubSpot account.
pub struct Hubspot {
    base_url: String,
    access_token: String,
    id_property: String,
    timeout: Duration,
    net: NetPolicy,
}

impl Hubspot {
    /// Reads `access_token`, `base_url` (default [`DEFAULT_BASE_URL`]) and `id_property`
    /// (default `email`).
    pub fn new(settings: &Value, net: &NetPolicy) -> Result<Self, SettingsError> {
        let base_url = setting::url(settings, "base_url", Some(DEFAULT_BASE_URL))?;
        let access_token = setting::required(settings, "access_token")?.to_string();
        let id_property = setting::optional(settings, "id_property")?
            .unwrap_or("email")
            .to_string();
        Ok(Self {
            base_url: base_url.as_str().trim_end_matches('/').to_string(),
            access_token,
            id_property,
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

    /// The HubSpot object type and matching property for a record kind.
    fn target(&self, object: &str) -> Result<(&'static str, &str), Outcome> {
        match object {
            "lead" | "contact" => Ok(("contacts", &self.id_property)),
            "account" if self.id_property == "email" => Ok(("companies", "domain")),
            "account" => Ok(("companies", &self.id_property)),
            other => Err(permanent(format!("HubSpot cannot take `{other}` records"))),
        }
    }

    async fn attempt(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        if !matches!(d.action, Action::Upsert | Action::Append) {
            return Err(permanent(format!(
                "HubSpot connector only upserts; `{}` is not supported",
                d.action.as_str()
            )));
        }
        let (object_type, id_property) = self.target(&d.object)?;
        let mapping = if object_type == "contacts" {
            CONTACT_PROPERTIES
        } else {
            COMPANY_PROPERTIES
        };
        let body = json!({"inputs": [{
            "idProperty": id_property,
            "id": d.key(),
            "properties": properties(&d.record, mapping),
        }]});
        let url = format!(
            "{}/crm/v3/objects/{object_type}/batch/upsert",
            self.base_url
        );
        http::guard(&self.net, &url)?;
        let request = http::client(&self.net, self.timeout)?
            .post(&url)
            .bearer_auth(&self.access_token)
            .json(&body);
        Ok(judge(&http::send(request).await?))
    }
}

fn permanent(error: String) -> Outcome {
    Outcome::Permanent {
        status: None,
        error,
    }
}

/// HubSpot properties from a record: mapped names, string values.
pub fn properties(record: &Value, mapping: &[(&str, &str)]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(fields) = record.as_object() else {
        return out;
    };
    for (field, value) in fields {
        let Some((_, property)) = mapping.iter().find(|(f, _)| f == field) else {
            continue;
        };
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null | Value::Array(_) | Value::Object(_) => continue,
        };
        out.insert((*property).to_string(), Value::String(text));
    }
    out
}

/// HubSpot's verdict: a 2xx (200, 201, or 207 multi-status) can still carry per-input errors,
/// which are permanent; error bodies `{"category", "message"}` give the detail.
fn judge(reply: &Reply) -> Outcome {
    let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    if (200..300).contains(&reply.status) {
        let failed = body
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errs| {
                errs.iter()
                    .find(|e| e.get("status").and_then(Value::as_str) == Some("error"))
            });
        return match failed {
            Some(err) => Outcome::Permanent {
                status: Some(reply.status),
                error: format!("HTTP {}: {}", reply.status, detail(err)),
            },
            None => Outcome::Delivered {
                status: Some(reply.status),
            },
        };
    }
    let detail = body.get("message").map(|_| detail(&body));
    reply.outcome_with(detail)
}

fn detail(err: &Value) -> String {
    let text = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or_default();
    http::snippet(&format!("{} {}", text("category"), text("message")))
}

impl Connector for Hubspot {
    fn key(&self) -> &'static str {
        "hubspot"
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.attempt(delivery).await.unwrap_or_else(|o| o) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_mapped_to_string_properties() {
        let record = json!({
            "email": "ada@example.com", "first_name": "Ada", "job_title": "CTO",
            "employees": 12, "score": 80, "tags": ["a"], "phone": null,
        });
        let props = properties(&record, CONTACT_PROPERTIES);
        assert_eq!(
            Value::Object(props),
            json!({"email": "ada@example.com", "firstname": "Ada", "jobtitle": "CTO"})
        );
        let props = properties(
            &json!({"company": "Acme", "employees": 12}),
            COMPANY_PROPERTIES,
        );
        assert_eq!(
            Value::Object(props),
            json!({"name": "Acme", "numberofemployees": "12"})
        );
    }

    #[test]
    fn multi_status_errors_are_permanent() {
        let reply = Reply {
            status: 207,
            retry_after: None,
            body: json!({"status": "COMPLETE", "numErrors": 1, "errors": [
                {"status": "error", "category": "VALIDATION_ERROR", "message": "bad email"}
            ]})
            .to_string(),
        };
        let Outcome::Permanent { error, .. } = judge(&reply) else {
            panic!("207 with errors is permanent");
        };
        assert_eq!(error, "HTTP 207: VALIDATION_ERROR bad email");
        let ok = Reply {
            status: 200,
            retry_after: None,
            body: r#"{"status":"COMPLETE","results":[]}"#.into(),
        };
        assert_eq!(judge(&ok), Outcome::Delivered { status: Some(200) });
    }
}
