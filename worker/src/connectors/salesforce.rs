//! The `salesforce` connector: REST sObject upsert by external id —
//! `PATCH {instance_url}/services/data/{api_version}/sobjects/{sobject}/{external_id_field}/{key}`
//! with the integration user's bearer token and the record's fields as Salesforce field API
//! names. Matching on the external id makes retries and replays update the same record.
//!
//! Record fields are mapped from snake_case ([`LEAD_FIELDS`], [`CONTACT_FIELDS`]); fields that
//! already look like custom field API names (`…__c`) pass through; others are dropped, since
//! Salesforce refuses a body naming a field the object lacks. The external id field is never
//! in the body (Salesforce refuses it there: it is in the URL). 201 created, 204 / 200
//! updated; `[{"message", "errorCode"}]` errors are permanent except `REQUEST_LIMIT_EXCEEDED`.
//! It must never log the token or record contents, nor put the key in an error text.

use super::http::{self, DEFAULT_TIMEOUT, Reply};
use super::{Action, Connector, Delivery, Outcome, SettingsError, setting};
use crate::net::NetPolicy;
use futures::future::BoxFuture;
use reqwest::Url;
use serde_json::{Map, Value};
use std::time::Duration;

/// API version when the settings do not name one.
pub const DEFAULT_API_VERSION: &str = "v60.0";

/// Record field → Lead field.
pub const LEAD_FIELDS: &[(&str, &str)] = &[
    ("first_name", "FirstName"),
    ("last_name", "LastName"),
    ("company", "Company"),
    ("email", "Email"),
    ("title", "Title"),
    ("job_title", "Title"),
    ("phone", "Phone"),
    ("country", "Country"),
    ("lead_source", "LeadSource"),
    ("status", "Status"),
    ("lead_status", "Status"),
    // The queue or team lead routing chose (a custom Lead field; create it in Salesforce).
    ("owner_queue", "Owner_Queue__c"),
    ("priority", "Rating"),
];

/// Record field → Contact field (Contacts have no Company or Status; the country is the
/// mailing country).
pub const CONTACT_FIELDS: &[(&str, &str)] = &[
    ("first_name", "FirstName"),
    ("last_name", "LastName"),
    ("email", "Email"),
    ("title", "Title"),
    ("job_title", "Title"),
    ("phone", "Phone"),
    ("country", "MailingCountry"),
    ("lead_source", "LeadSource"),
];

/// A configured Salesforce org.
pub struct Salesforce {
    /// `…/sobjects/{sobject}/{external_id_field}`; the key is appended per delivery.
    upsert_base: Url,
    access_token: String,
    external_id_field: String,
    fields: &'static [(&'static str, &'static str)],
    timeout: Duration,
    net: NetPolicy,
}

fn is_api_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Salesforce {
    /// Reads `instance_url`, `access_token`, `sobject` (`Lead` or `Contact`, default `Lead`),
    /// `external_id_field` and `api_version` (default [`DEFAULT_API_VERSION`]).
    pub fn new(settings: &Value, net: &NetPolicy) -> Result<Self, SettingsError> {
        let instance = setting::url(settings, "instance_url", None)?;
        let access_token = setting::required(settings, "access_token")?.to_string();
        let sobject = setting::optional(settings, "sobject")?.unwrap_or("Lead");
        let fields = match sobject {
            "Lead" => LEAD_FIELDS,
            "Contact" => CONTACT_FIELDS,
            _ => return Err(SettingsError::new("sobject", "must be Lead or Contact")),
        };
        let external_id_field = setting::required(settings, "external_id_field")?;
        if !is_api_name(external_id_field) {
            return Err(SettingsError::new(
                "external_id_field",
                "must be a field API name such as Switchyard_Email__c",
            ));
        }
        let version = setting::optional(settings, "api_version")?.unwrap_or(DEFAULT_API_VERSION);
        let version_ok = version
            .strip_prefix('v')
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'));
        if !version_ok {
            return Err(SettingsError::new("api_version", "must look like v60.0"));
        }
        let mut upsert_base = instance;
        upsert_base.set_query(None);
        upsert_base.set_fragment(None);
        upsert_base
            .path_segments_mut()
            .map_err(|()| SettingsError::new("instance_url", "must be an http(s) address"))?
            .pop_if_empty()
            .extend(["services", "data", version, "sobjects", sobject])
            .push(external_id_field);
        Ok(Self {
            upsert_base,
            access_token,
            external_id_field: external_id_field.to_string(),
            fields,
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

    /// The upsert URL for one key, percent-encoded as one path segment.
    pub fn upsert_url(&self, key: &str) -> Url {
        let mut url = self.upsert_base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(key);
        }
        url
    }

    /// The request body: mapped fields, custom fields as they are, never the external id.
    pub fn body(&self, record: &Value) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(fields) = record.as_object() else {
            return out;
        };
        for (field, value) in fields {
            let name = match self.fields.iter().find(|(f, _)| f == field) {
                Some((_, name)) => (*name).to_string(),
                None if field.ends_with("__c") && is_api_name(field) => field.clone(),
                None => continue,
            };
            if !name.eq_ignore_ascii_case(&self.external_id_field) {
                out.insert(name, value.clone());
            }
        }
        out
    }

    async fn attempt(&self, d: &Delivery) -> Result<Outcome, Outcome> {
        if !matches!(d.action, Action::Upsert | Action::Append) {
            return Err(Outcome::Permanent {
                status: None,
                error: format!(
                    "Salesforce connector only upserts; `{}` is not supported",
                    d.action.as_str()
                ),
            });
        }
        let url = self.upsert_url(d.key());
        http::guard(&self.net, url.as_str())?;
        let request = http::client(&self.net, self.timeout)?
            .patch(url)
            .bearer_auth(&self.access_token)
            .json(&self.body(&d.record));
        Ok(judge(&http::send(request).await?))
    }
}

/// Salesforce's verdict. Error bodies are `[{"message", "errorCode", "fields"}]`; the API's
/// daily limit (`403 REQUEST_LIMIT_EXCEEDED`) passes, so it is retried.
fn judge(reply: &Reply) -> Outcome {
    let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let first = body.as_array().and_then(|errs| errs.first());
    let code = first
        .and_then(|e| e.get("errorCode"))
        .and_then(Value::as_str);
    let detail = first.map(|e| {
        let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
        http::snippet(&format!("{} {message}", code.unwrap_or_default()))
    });
    match (reply.status, code) {
        (300, _) => Outcome::Permanent {
            status: Some(300),
            error: "HTTP 300: more than one record has this external id".into(),
        },
        (403, Some("REQUEST_LIMIT_EXCEEDED")) => Outcome::Retry {
            status: Some(403),
            error: format!("HTTP 403: {}", detail.unwrap_or_default()),
            retry_after: reply.retry_after,
        },
        _ => reply.outcome_with(detail),
    }
}

impl Connector for Salesforce {
    fn key(&self) -> &'static str {
        "salesforce"
    }

    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.attempt(delivery).await.unwrap_or_else(|o| o) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn org(sobject: &str) -> Salesforce {
        Salesforce::new(
            &json!({
                "instance_url": "https://acme.my.salesforce.com/",
                "access_token": "00D!token",
                "sobject": sobject,
                "external_id_field": "Switchyard_Email__c",
            }),
            &NetPolicy::default(),
        )
        .expect("valid settings")
    }

    #[test]
    fn url_has_the_key_as_one_encoded_segment() {
        let url = org("Lead").upsert_url("ada+x/y@example.com");
        assert_eq!(
            url.as_str(),
            "https://acme.my.salesforce.com/services/data/v60.0/sobjects/Lead/\
             Switchyard_Email__c/ada+x%2Fy@example.com"
        );
    }

    #[test]
    fn body_maps_fields_and_never_holds_the_external_id() {
        let record = json!({
            "first_name": "Ada", "last_name": "Lovelace", "company": "Acme",
            "country": "UK", "score": 3, "Switchyard_Email__c": "ada@example.com",
            "Region__c": "EMEA",
        });
        let lead = Value::Object(org("Lead").body(&record));
        assert_eq!(
            lead,
            json!({"FirstName": "Ada", "LastName": "Lovelace", "Company": "Acme",
                   "Country": "UK", "Region__c": "EMEA"})
        );
        let contact = Value::Object(org("Contact").body(&record));
        assert_eq!(contact["MailingCountry"], "UK");
        assert!(contact.get("Company").is_none());
    }

    #[test]
    fn error_codes_decide() {
        let reply = |status, body: &str| Reply {
            status,
            retry_after: None,
            body: body.into(),
        };
        let bad = r#"[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]"#;
        let Outcome::Permanent { error, .. } = judge(&reply(400, bad)) else {
            panic!("400 is permanent");
        };
        assert!(
            error.starts_with("HTTP 400: REQUIRED_FIELD_MISSING"),
            "{error}"
        );
        let limit =
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert!(matches!(judge(&reply(403, limit)), Outcome::Retry { .. }));
        let session =
            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(matches!(
            judge(&reply(401, session)),
            Outcome::Permanent { .. }
        ));
        assert!(matches!(judge(&reply(204, "")), Outcome::Delivered { .. }));
    }
}
