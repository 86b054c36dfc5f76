//! The salesforce connector against a stand-in for the REST sObject upsert: PATCH by external
//! id, bearer token, JSON body without the external id field.

use crate::support::{self, Check, Recorded, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use worker::connectors::{self, Action, Outcome};

const TOKEN: &str = "00D5g000000Abcd!AQ0AQExampleToken";
const PATH: &str = "/services/data/v60.0/sobjects/Lead/Switchyard_Email__c/";

fn salesforce_checks() -> Check {
    Arc::new(|r: &Recorded| {
        if r.header("authorization") != format!("Bearer {TOKEN}") {
            let body = json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
            return Err((401, body.to_string()));
        }
        if r.method != "PATCH" || !r.path.starts_with(PATH) {
            let body = json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]);
            return Err((404, body.to_string()));
        }
        let body: Value = serde_json::from_slice(&r.body).map_err(|_| (400, "[]".to_string()))?;
        let fields = body.as_object().ok_or((400, "[]".to_string()))?;
        if fields
            .keys()
            .any(|k| k.eq_ignore_ascii_case("Switchyard_Email__c"))
        {
            let err = json!([{"errorCode": "INVALID_FIELD",
                "message": "The field Switchyard_Email__c is the external id and cannot be in the body"}]);
            return Err((400, err.to_string()));
        }
        Ok(())
    })
}

fn salesforce(url: &str, token: &str) -> Box<dyn connectors::Connector> {
    let settings = json!({"instance_url": url, "access_token": token, "sobject": "Lead",
        "external_id_field": "Switchyard_Email__c", "api_version": "v60.0"});
    connectors::build("salesforce", &settings, &support::local()).expect("builds")
}

#[tokio::test]
async fn leads_are_upserted_by_external_id() {
    let created = r#"{"id":"00Q5g00000AbCdE","success":true,"errors":[],"created":true}"#;
    let server = Server::start(salesforce_checks(), "").await;
    server.push(201, &[], created);
    server.push(204, &[], "");
    let record = json!({"first_name": "Ada", "last_name": "Lovelace", "company": "Acme",
        "email": "ada@example.com", "lead_source": "Web", "Switchyard_Email__c": "ada@example.com"});
    let d = support::delivery("lead", Action::Upsert, record);
    let sf = salesforce(&server.url, TOKEN);
    assert_eq!(
        sf.deliver(&d).await,
        Outcome::Delivered { status: Some(201) }
    );
    assert_eq!(
        sf.deliver(&d).await,
        Outcome::Delivered { status: Some(204) }
    );
    let req = &server.requests()[0];
    assert_eq!(req.path, format!("{PATH}ada@example.com"));
    assert_eq!(
        req.json(),
        json!({"FirstName": "Ada", "LastName": "Lovelace", "Company": "Acme",
               "Email": "ada@example.com", "LeadSource": "Web"})
    );
}

#[tokio::test]
async fn salesforce_errors_carry_the_error_code() {
    let server = Server::start(salesforce_checks(), "").await;
    let missing = json!([{"message": "Required fields are missing: [Company]",
        "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Company"]}]);
    server.push(400, &[], &missing.to_string());
    let d = support::delivery("lead", Action::Upsert, json!({"last_name": "Lovelace"}));
    let outcome = salesforce(&server.url, TOKEN).deliver(&d).await;
    let Outcome::Permanent {
        status: Some(400),
        error,
    } = outcome
    else {
        panic!("400 is permanent, got {outcome:?}");
    };
    assert!(error.contains("REQUIRED_FIELD_MISSING"), "{error}");

    let outcome = salesforce(&server.url, "expired").deliver(&d).await;
    let Outcome::Permanent {
        status: Some(401),
        error,
    } = outcome
    else {
        panic!("401 is permanent, got {outcome:?}");
    };
    assert!(error.contains("INVALID_SESSION_ID"), "{error}");

    server.push(503, &[], "Service Unavailable");
    let outcome = salesforce(&server.url, TOKEN).deliver(&d).await;
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                status: Some(503),
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_key_with_a_slash_stays_one_path_segment() {
    let server = Server::start(salesforce_checks(), "").await;
    server.push(204, &[], "");
    let mut d = support::delivery("lead", Action::Upsert, json!({"last_name": "X"}));
    d.business_key = "a/b c".into();
    assert_eq!(
        salesforce(&server.url, TOKEN).deliver(&d).await,
        Outcome::Delivered { status: Some(204) }
    );
    assert_eq!(server.requests()[0].path, format!("{PATH}a%2Fb%20c"));
}
