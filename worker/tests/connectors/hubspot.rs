//! The hubspot connector against a stand-in for HubSpot's CRM v3 batch upsert: path, bearer
//! token, JSON, `inputs` with `idProperty`, `id` and string-valued properties.

use crate::support::{self, Check, Recorded, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use worker::connectors::{self, Action, Outcome};

const TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";

fn hubspot_checks() -> Check {
    Arc::new(|r: &Recorded| {
        let unauthorized = json!({"status": "error", "category": "INVALID_AUTHENTICATION",
            "message": "Authentication credentials not found."});
        if r.header("authorization") != format!("Bearer {TOKEN}") {
            return Err((401, unauthorized.to_string()));
        }
        let known = [
            "/crm/v3/objects/contacts/batch/upsert",
            "/crm/v3/objects/companies/batch/upsert",
        ];
        if r.method != "POST" || !known.contains(&r.path.as_str()) {
            return Err((404, "Not Found".into()));
        }
        if !r.header("content-type").starts_with("application/json") {
            return Err((415, "Unsupported Media Type".into()));
        }
        let body: Value =
            serde_json::from_slice(&r.body).map_err(|_| (400, "bad json".to_string()))?;
        let inputs = body["inputs"]
            .as_array()
            .ok_or((400, "inputs missing".to_string()))?;
        for input in inputs {
            let props = input["properties"]
                .as_object()
                .ok_or((400, "properties".to_string()))?;
            let strings = props.values().all(Value::is_string);
            if !input["idProperty"].is_string() || !input["id"].is_string() || !strings {
                return Err((
                    400,
                    json!({"status": "error", "category": "VALIDATION_ERROR",
                    "message": "Invalid input JSON"})
                    .to_string(),
                ));
            }
        }
        Ok(())
    })
}

fn hubspot(url: &str, token: &str) -> Box<dyn connectors::Connector> {
    let settings = json!({"base_url": url, "access_token": token});
    connectors::build("hubspot", &settings, &support::local()).expect("builds")
}

#[tokio::test]
async fn contacts_are_upserted_by_email_with_string_properties() {
    let server = Server::start(
        hubspot_checks(),
        r#"{"status":"COMPLETE","results":[{"id":"501"}]}"#,
    )
    .await;
    let record = json!({"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
        "job_title": "CTO", "employees": 12, "lifecycle_stage": "lead", "internal_note": "x"});
    let d = support::delivery("lead", Action::Upsert, record);
    assert_eq!(
        hubspot(&server.url, TOKEN).deliver(&d).await,
        Outcome::Delivered { status: Some(200) }
    );
    let req = &server.requests()[0];
    assert_eq!(req.path, "/crm/v3/objects/contacts/batch/upsert");
    assert_eq!(
        req.json(),
        json!({"inputs": [{"idProperty": "email", "id": "ada@example.com", "properties": {
            "email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace",
            "jobtitle": "CTO", "lifecyclestage": "lead"}}]})
    );
}

#[tokio::test]
async fn accounts_go_to_companies_by_domain() {
    let server = Server::start(hubspot_checks(), r#"{"status":"COMPLETE","results":[]}"#).await;
    let mut d = support::delivery(
        "account",
        Action::Upsert,
        json!({"company": "Acme", "domain": "acme.test", "employees": 40}),
    );
    d.business_key = "acme.test".into();
    assert_eq!(
        hubspot(&server.url, TOKEN).deliver(&d).await,
        Outcome::Delivered { status: Some(200) }
    );
    let req = &server.requests()[0];
    assert_eq!(req.path, "/crm/v3/objects/companies/batch/upsert");
    let input = &req.json()["inputs"][0];
    assert_eq!(input["idProperty"], "domain");
    assert_eq!(input["properties"]["numberofemployees"], "40");
}

#[tokio::test]
async fn errors_in_a_multi_status_reply_and_bad_tokens_are_permanent() {
    let server = Server::start(hubspot_checks(), "{}").await;
    let partial = json!({"status": "COMPLETE", "results": [], "numErrors": 1, "errors": [
        {"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid"}]});
    server.push(207, &[], &partial.to_string());
    let d = support::delivery(
        "contact",
        Action::Upsert,
        json!({"email": "ada@example.com"}),
    );
    let outcome = hubspot(&server.url, TOKEN).deliver(&d).await;
    assert_eq!(
        outcome,
        Outcome::Permanent {
            status: Some(207),
            error: "HTTP 207: VALIDATION_ERROR Property values were not valid".into()
        }
    );
    let outcome = hubspot(&server.url, "pat-wrong").deliver(&d).await;
    let Outcome::Permanent {
        status: Some(401),
        error,
    } = outcome
    else {
        panic!("401 is permanent, got {outcome:?}");
    };
    assert!(error.contains("INVALID_AUTHENTICATION"), "{error}");
    assert!(!error.contains("pat-wrong"), "{error}");
}
