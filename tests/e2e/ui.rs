//! The web UI's session: sign-in sets an `HttpOnly; SameSite=Strict` session cookie and a
//! readable CSRF cookie; `POST /graphql` accepts the cookie only with a matching `x-csrf-token`
//! header (queries and mutations alike), while bearer-token clients are unaffected. Also the
//! read-only governance queries the UI uses, the page paths, and (in `ui/browser.rs`) the whole
//! UI in headless Chromium.

mod browser;
mod graphiql;
mod observability;
pub mod webdriver;

use crate::helpers::*;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

/// A signed-in browser's cookies.
pub struct Session {
    pub token: String,
    pub csrf: String,
}

impl Session {
    pub fn cookie_header(&self) -> String {
        format!("sy_session={}; sy_csrf={}", self.token, self.csrf)
    }
}

/// The `Set-Cookie` header for cookie `name`.
fn set_cookie<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {:?}", resp.headers()))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

fn attrs(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

async fn sign_in_raw(app: &TestApp, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.post(app.url("/ui/session")).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("POST /ui/session")
}

/// Signs in as the demo user of `role` and returns the cookies.
pub async fn sign_in(app: &TestApp, role: &str) -> Session {
    let resp = sign_in_raw(app, json!({ "role": role }), &[]).await;
    assert_eq!(resp.status(), 200, "sign in as {role}");
    let session = Session {
        token: cookie_value(set_cookie(&resp, "sy_session")),
        csrf: cookie_value(set_cookie(&resp, "sy_csrf")),
    };
    assert!(!session.token.is_empty() && session.csrf.len() >= 32);
    session
}

/// POSTs GraphQL with the session cookies and an optional `x-csrf-token` header.
async fn gql_cookie(app: &TestApp, s: &Session, csrf: Option<&str>, query: &str) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .header(COOKIE, s.cookie_header())
        .json(&json!({ "query": query }));
    if let Some(c) = csrf {
        req = req.header("x-csrf-token", c);
    }
    let resp = req.send().await.expect("POST /graphql");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sign_in_sets_an_httponly_samesite_session_cookie_and_a_readable_csrf_cookie() {
    let app = spawn_app().await;
    let resp = sign_in_raw(&app, json!({ "role": "marketer" }), &[]).await;
    assert_eq!(resp.status(), 200);
    let session = set_cookie(&resp, "sy_session");
    let csrf = set_cookie(&resp, "sy_csrf");
    for a in ["httponly", "samesite=strict", "path=/"] {
        assert!(
            attrs(session).contains(&a.to_string()),
            "session cookie lacks {a}: {session}"
        );
    }
    assert!(
        !attrs(session).contains(&"secure".to_string()),
        "plain HTTP on loopback (development) gets no Secure flag: {session}"
    );
    assert!(
        attrs(csrf).contains(&"samesite=strict".to_string()),
        "{csrf}"
    );
    assert!(
        !attrs(csrf).contains(&"httponly".to_string()),
        "the page must read the CSRF cookie: {csrf}"
    );
    // The session cookie holds a token the API accepts, for the demo user of that role.
    let token = cookie_value(session);
    let me = app.gql(&token, "{ me { sub roles } }", json!({})).await;
    assert_eq!(me["data"]["me"]["roles"], json!(["marketer"]), "{me}");

    // Behind TLS (or on any non-loopback host) both cookies are Secure.
    for headers in [
        vec![("x-forwarded-proto", "https")],
        vec![("host", "switchyard.example.com")],
    ] {
        let resp = sign_in_raw(&app, json!({ "role": "marketer" }), &headers).await;
        assert!(
            attrs(set_cookie(&resp, "sy_session")).contains(&"secure".to_string()),
            "{headers:?}"
        );
        assert!(
            attrs(set_cookie(&resp, "sy_csrf")).contains(&"secure".to_string()),
            "{headers:?}"
        );
    }

    let out = app
        .client
        .delete(app.url("/ui/session"))
        .send()
        .await
        .expect("DELETE /ui/session");
    assert_eq!(out.status(), 204);
    assert!(attrs(set_cookie(&out, "sy_session")).contains(&"max-age=0".to_string()));
    assert!(attrs(set_cookie(&out, "sy_csrf")).contains(&"max-age=0".to_string()));
}

#[tokio::test]
async fn a_cookie_authenticated_request_needs_the_matching_csrf_header() {
    let app = spawn_app().await;
    let s = sign_in(&app, "platform_engineer").await;
    let mutation = r#"mutation { createConnection(connector: "slack", name: "csrf", settings: {webhook_url: "https://hooks.slack.com/services/T0/B0/x"}) { id } }"#;

    let (status, body) = gql_cookie(&app, &s, None, mutation).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(error_code(&body), Some("FORBIDDEN"));
    assert!(error_message(&body).contains("x-csrf-token"), "{body}");

    let (status, body) =
        gql_cookie(&app, &s, Some("0123456789abcdef0123456789abcdef"), mutation).await;
    assert_eq!(status, 403, "a wrong token is refused: {body}");

    let (status, body) = gql_cookie(&app, &s, None, "{ me { sub } }").await;
    assert_eq!(
        status, 403,
        "queries are POSTs too and need the header: {body}"
    );

    let admin = app.token("root", &["platform_admin"]);
    let log = app
        .gql(
            &admin,
            r#"{ auditLog(filter: {action: "connection.create"}) { edges { node { seq } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        log["data"]["auditLog"]["edges"],
        json!([]),
        "refused requests change nothing: {log}"
    );

    let (status, body) = gql_cookie(&app, &s, Some(&s.csrf), mutation).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["createConnection"]["id"].is_i64(), "{body}");

    // Bearer clients are unaffected, even if they happen to send cookies.
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(app.token("pat", &["platform_engineer"]))
        .header(COOKIE, "sy_session=garbage")
        .json(&json!({ "query": "{ me { sub } }" }))
        .send()
        .await
        .expect("bearer request");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn sign_in_checks_what_it_is_given() {
    let app = spawn_app().await;
    let session: Value = app
        .client
        .get(app.url("/ui/session"))
        .send()
        .await
        .expect("GET /ui/session")
        .json()
        .await
        .expect("json");
    assert_eq!(session["mode"], "development");
    let roles: Vec<&str> = session["demoUsers"]
        .as_array()
        .expect("demo users")
        .iter()
        .filter_map(|u| u["role"].as_str())
        .collect();
    for role in [
        "platform_admin",
        "platform_engineer",
        "data_engineer",
        "marketer",
        "sales_ops",
        "compliance",
        "viewer",
        "approver",
    ] {
        assert!(roles.contains(&role), "a demo user for {role}: {session}");
    }
    assert_eq!(session["session"], Value::Null);

    let token = app.token("tina", &["sales_ops"]);
    let resp = sign_in_raw(&app, json!({ "token": token }), &[]).await;
    assert_eq!(resp.status(), 200);
    let cookie = format!(
        "sy_session={}",
        cookie_value(set_cookie(&resp, "sy_session"))
    );
    let who: Value = app
        .client
        .get(app.url("/ui/session"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("GET /ui/session")
        .json()
        .await
        .expect("json");
    assert_eq!(who["session"]["sub"], "tina", "{who}");

    let bad = sign_in_raw(&app, json!({ "token": "not.a.token" }), &[]).await;
    assert_eq!(bad.status(), 401);
    let bad = sign_in_raw(&app, json!({ "token": "a b\r\nSet-Cookie: x=y" }), &[]).await;
    assert_eq!(bad.status(), 401);
    let bad = sign_in_raw(&app, json!({ "role": "emperor" }), &[]).await;
    assert_eq!(bad.status(), 400);
    let bad = app
        .client
        .post(app.url("/ui/session"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("role=marketer")
        .send()
        .await
        .expect("form post");
    assert_eq!(bad.status(), 415, "a cross-site form cannot sign anyone in");
}

#[tokio::test]
async fn demo_users_exist_only_in_development_mode() {
    let app = spawn_with(Setup {
        auth: Some(api::config::AuthConfig {
            hs256_secret: Some(api::config::Secret::new("x".repeat(40))),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let session: Value = app
        .client
        .get(app.url("/ui/session"))
        .send()
        .await
        .expect("GET /ui/session")
        .json()
        .await
        .expect("json");
    assert_eq!(session["mode"], "token");
    assert_eq!(session["demoUsers"], json!([]));
    let resp = sign_in_raw(&app, json!({ "role": "platform_admin" }), &[]).await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn ui_pages_serve_the_app_and_governance_questions_are_answered() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/catalog",
        "/templates/lead-capture",
        "/templates/lead-capture/instantiate",
        "/workflows/3",
        "/compliance/policy",
        "/platform",
    ] {
        let resp = app
            .client
            .get(app.url(path))
            .send()
            .await
            .expect("GET page");
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(
            resp.text().await.unwrap_or_default().contains("/js/app.js"),
            "{path}"
        );
    }
    let missing = app
        .client
        .get(app.url("/no-such-page"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
    let js = app
        .client
        .get(app.url("/js/app.js"))
        .send()
        .await
        .expect("GET js");
    let ct = js
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        ct.contains("javascript"),
        "modules need a JavaScript type: {ct}"
    );

    let alice = app.token("alice", &["marketer"]);
    let own = app
        .gql(&alice, r#"{ explainDecision(object: "catalog:template:lead-routing", action: "instantiate") { allowed rule rolesThatMay subjects } }"#, json!({}))
        .await;
    let x = &own["data"]["explainDecision"];
    assert_eq!(x["allowed"], false, "{own}");
    assert!(
        x["rolesThatMay"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("sales_ops"))),
        "{own}"
    );
    let other = app
        .gql(
            &alice,
            r#"{ explainDecision(object: "audit:log", action: "read", sub: "bob") { allowed } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        error_code(&other),
        Some("FORBIDDEN"),
        "explaining others needs policy:files explain"
    );
    let files = app
        .gql(&alice, "{ policyFiles { rules { line } } }", json!({}))
        .await;
    assert_eq!(error_code(&files), Some("FORBIDDEN"));

    let carol = app.token("carol", &["compliance"]);
    let q = r#"{ policyFiles { policy rules { line kind subject object action effect } }
                 auditChainStatus { ok entries problem }
                 explainDecision(object: "catalog:template:lead-capture", action: "instantiate", roles: ["marketer"]) { allowed rule } }"#;
    let body = app.gql(&carol, q, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(
        body["data"]["policyFiles"]["rules"]
            .as_array()
            .is_some_and(|r| r.len() > 20)
    );
    assert_eq!(body["data"]["auditChainStatus"]["ok"], true, "{body}");
    assert_eq!(body["data"]["explainDecision"]["allowed"], true);
    assert!(
        body["data"]["explainDecision"]["rule"]
            .as_str()
            .is_some_and(|r| r.starts_with("policy.csv:")),
        "{body}"
    );
}
