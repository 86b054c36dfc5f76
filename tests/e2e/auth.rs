//! Bearer-token authentication on `POST /graphql`: one valid token gets through, every kind of
//! bad token is refused with HTTP 401 and `UNAUTHENTICATED`, and no refusal echoes the token.

use crate::helpers::*;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const ME: &str = "{ me { sub roles } }";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The development HS256 secret the app generated into its data dir.
fn dev_secret(app: &TestApp) -> Vec<u8> {
    let path = app.dir.path().join("jwt-hs256.secret");
    std::fs::read_to_string(&path)
        .expect("the app wrote its development secret into the data dir")
        .trim()
        .as_bytes()
        .to_vec()
}

/// Claims the server accepts: right issuer and audience, valid now, with a subject and roles.
fn good_claims() -> Value {
    let now = now();
    json!({
        "sub": "mallory",
        "iss": "switchyard",
        "aud": "switchyard",
        "iat": now,
        "nbf": now - 1,
        "exp": now + 600,
        "roles": ["platform_admin"],
    })
}

/// `claims` with `changes` applied; a `null` value removes the claim.
fn claims_with(changes: Value) -> Value {
    let mut claims = good_claims();
    let map = claims.as_object_mut().expect("claims are an object");
    for (k, v) in changes.as_object().expect("changes are an object") {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    claims
}

fn sign(claims: &Value, secret: &[u8]) -> String {
    sign_alg(Algorithm::HS256, claims, secret)
}

fn sign_alg(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret))
        .expect("encode a test token")
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Sends `{ me }` with the given Authorization header value (or none).
async fn me_with_header(app: &TestApp, authorization: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": ME }));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Asserts the request with `token` was refused as unauthenticated without echoing the token.
async fn assert_refused(app: &TestApp, token: &str, case: &str) {
    let (status, body) = app.gql_raw(Some(token), json!({ "query": ME })).await;
    assert_refusal(status, &body, token, case);
}

fn assert_refusal(status: u16, body: &Value, token: &str, case: &str) {
    assert_eq!(status, 401, "{case}: HTTP status, body {body}");
    assert_eq!(error_code(body), Some("UNAUTHENTICATED"), "{case}: {body}");
    assert!(
        body["data"].is_null(),
        "{case}: no data for a refused request: {body}"
    );
    let message = error_message(body);
    assert!(!message.is_empty(), "{case}: the refusal explains itself");
    let text = body.to_string();
    for part in token.split('.').filter(|p| p.len() >= 16) {
        assert!(
            !text.contains(part),
            "{case}: the response echoes part of the token: {text}"
        );
    }
}

#[tokio::test]
async fn a_request_without_authorization_is_unauthenticated() {
    let app = spawn_app().await;
    let (status, body) = me_with_header(&app, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
    assert!(
        error_message(&body).contains("Bearer"),
        "the message says what is expected: {body}"
    );
}

#[tokio::test]
async fn a_valid_token_identifies_the_caller_and_roles() {
    let app = spawn_app().await;
    let token = app.token("alice", &["marketer", "viewer"]);
    let (status, body) = app.gql_raw(Some(&token), json!({ "query": ME })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["me"]["sub"], "alice");
    assert_eq!(body["data"]["me"]["roles"], json!(["marketer", "viewer"]));
}

#[tokio::test]
async fn a_hand_signed_token_with_the_dev_secret_is_accepted() {
    // Proves the crafted tokens below differ from a good one only in the part under test.
    let app = spawn_app().await;
    let token = sign(&good_claims(), &dev_secret(&app));
    let (status, body) = app.gql_raw(Some(&token), json!({ "query": ME })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["sub"], "mallory");
    assert_eq!(body["data"]["me"]["roles"], json!(["platform_admin"]));
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let claims = claims_with(json!({ "exp": now() - 3600, "nbf": now() - 7200 }));
    let token = sign(&claims, &dev_secret(&app));
    assert_refused(&app, &token, "expired").await;
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let app = spawn_app().await;
    let claims = claims_with(json!({ "nbf": now() + 3600, "exp": now() + 7200 }));
    let token = sign(&claims, &dev_secret(&app));
    assert_refused(&app, &token, "nbf in the future").await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let app = spawn_app().await;
    let other = b"0123456789abcdef0123456789abcdef-not-the-server-key";
    let token = sign(&good_claims(), other);
    assert_refused(&app, &token, "foreign HS256 secret").await;
}

#[tokio::test]
async fn a_token_with_a_different_hmac_algorithm_is_refused() {
    let app = spawn_app().await;
    let token = sign_alg(Algorithm::HS512, &good_claims(), &dev_secret(&app));
    assert_refused(&app, &token, "HS512 instead of the pinned HS256").await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let app = spawn_app().await;
    let header = json!({ "alg": "none", "typ": "JWT" });
    let token = format!("{}.{}.", b64(&header), b64(&good_claims()));
    assert_refused(&app, &token, "alg none").await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let app = spawn_app().await;
    let token = sign(
        &claims_with(json!({ "aud": "some-other-service" })),
        &dev_secret(&app),
    );
    assert_refused(&app, &token, "wrong aud").await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let app = spawn_app().await;
    let token = sign(
        &claims_with(json!({ "iss": "https://evil.example" })),
        &dev_secret(&app),
    );
    assert_refused(&app, &token, "wrong iss").await;
}

#[tokio::test]
async fn tokens_missing_a_required_claim_are_refused() {
    let app = spawn_app().await;
    let secret = dev_secret(&app);
    for claim in ["sub", "exp", "iss", "aud"] {
        let token = sign(&claims_with(json!({ claim: null })), &secret);
        assert_refused(&app, &token, &format!("missing `{claim}`")).await;
    }
}

#[tokio::test]
async fn a_token_without_nbf_is_accepted_as_identity_providers_issue_them() {
    // Auth0 and Okta access tokens usually carry no `nbf`; when present it is checked.
    let app = spawn_app().await;
    let token = sign(&claims_with(json!({ "nbf": null })), &dev_secret(&app));
    let (status, body) = app.gql_raw(Some(&token), json!({ "query": ME })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["sub"], "mallory", "{body}");
}

#[tokio::test]
async fn a_refusal_names_the_missing_claim() {
    let app = spawn_app().await;
    let secret = dev_secret(&app);
    for claim in ["exp", "sub"] {
        let token = sign(&claims_with(json!({ claim: null })), &secret);
        let (status, body) = app.gql_raw(Some(&token), json!({ "query": ME })).await;
        assert_refusal(status, &body, &token, claim);
        assert!(
            error_message(&body).contains(&format!("`{claim}`")),
            "the message names the missing `{claim}` claim: {body}"
        );
    }
}

#[tokio::test]
async fn an_audience_list_naming_switchyard_is_accepted() {
    // RFC 7519 §4.1.3: `aud` is a string or an array of strings; identity providers send arrays.
    let app = spawn_app().await;
    let claims = claims_with(json!({ "aud": ["crm-gateway", "switchyard"] }));
    let token = sign(&claims, &dev_secret(&app));
    let (status, body) = app.gql_raw(Some(&token), json!({ "query": ME })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["sub"], "mallory", "{body}");
    let others = claims_with(json!({ "aud": ["crm-gateway", "billing"] }));
    assert_refused(
        &app,
        &sign(&others, &dev_secret(&app)),
        "aud list without us",
    )
    .await;
}

#[tokio::test]
async fn a_token_with_an_empty_subject_is_refused() {
    let app = spawn_app().await;
    let token = sign(&claims_with(json!({ "sub": "  " })), &dev_secret(&app));
    assert_refused(&app, &token, "blank sub").await;
}

#[tokio::test]
async fn time_claims_given_as_strings_are_refused() {
    // Earlier jsonwebtoken releases skipped `exp`/`nbf` checks when they were strings.
    let app = spawn_app().await;
    let secret = dev_secret(&app);
    let expired_as_string = claims_with(json!({ "exp": (now() - 3600).to_string() }));
    assert_refused(&app, &sign(&expired_as_string, &secret), "exp as string").await;
    let far_future_as_string = claims_with(json!({ "exp": "99999999999" }));
    assert_refused(
        &app,
        &sign(&far_future_as_string, &secret),
        "far-future exp as string",
    )
    .await;
    let nbf_as_string = claims_with(json!({ "nbf": (now() + 3600).to_string() }));
    assert_refused(&app, &sign(&nbf_as_string, &secret), "nbf as string").await;
}

#[tokio::test]
async fn garbage_tokens_are_refused() {
    let app = spawn_app().await;
    for token in [
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0",
        "....",
    ] {
        assert_refused(&app, token, &format!("garbage `{token}`")).await;
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let app = spawn_app().await;
    let token = app.token("alice", &["viewer"]);
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    parts[1] = b64(&claims_with(
        json!({ "sub": "alice", "roles": ["platform_admin"] }),
    ));
    assert_refused(&app, &parts.join("."), "payload swapped, signature kept").await;
}

#[tokio::test]
async fn the_basic_scheme_is_not_a_bearer_token() {
    let app = spawn_app().await;
    let token = app.token("alice", &["marketer"]);
    let credentials = base64::engine::general_purpose::STANDARD.encode("alice:hunter2");
    for value in [format!("Basic {credentials}"), format!("Basic {token}")] {
        let (status, body) = me_with_header(&app, Some(&value)).await;
        assert_refusal(status, &body, &token, "Basic scheme");
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }
}

#[tokio::test]
async fn a_validly_signed_token_over_8_kib_is_refused() {
    let app = spawn_app().await;
    let padding = "x".repeat(9 * 1024);
    let token = sign(&claims_with(json!({ "pad": padding })), &dev_secret(&app));
    assert!(token.len() > 8 * 1024);
    assert_refused(&app, &token, "oversized token").await;
    let message =
        error_message(&app.gql_raw(Some(&token), json!({ "query": ME })).await.1).to_string();
    assert!(message.contains("8 KiB"), "says why: {message}");
}

#[tokio::test]
async fn health_endpoints_need_no_token() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let resp = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
}
