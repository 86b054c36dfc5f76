//! Tokens from identity providers, verified through a JWKS served by a real local HTTP server:
//! access tokens in the shapes Auth0 (RS256, namespaced roles claim, no `nbf`), Okta (RS256,
//! `groups` mapped to roles) and Keycloak (ES256 and EdDSA, `realm_access.roles`) issue; key
//! rotation (a new `kid` appears, the old one goes); an unknown `kid`, whose refetches are rate
//! limited; and algorithm confusion, still refused.

mod idp;

use crate::helpers::*;
use idp::{IdpKey, JwksServer, ec, ed, rsa};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn app_for(jwks: &JwksServer, auth: api::config::AuthConfig) -> TestApp {
    spawn_with(Setup {
        auth: Some(api::config::AuthConfig {
            jwks_url: Some(jwks.url.clone()),
            ..auth
        }),
        ..Default::default()
    })
    .await
}

async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    app.gql_raw(Some(token), json!({ "query": "{ me { sub roles } }" }))
        .await
}

/// An Auth0 access token for an API: `aud` lists the API and userinfo, roles and team come
/// from namespaced custom claims (set by an Auth0 Action), and there is no `nbf`.
fn auth0_claims() -> Value {
    json!({
        "iss": "https://switchyard-test.eu.auth0.com/",
        "sub": "auth0|64f1c2d0e4b0a1b2c3d4e5f6",
        "aud": ["https://api.switchyard.example", "https://switchyard-test.eu.auth0.com/userinfo"],
        "iat": now(), "exp": now() + 3600,
        "azp": "Xq3bW8a1c9JkLmNoPqRsTuVw", "scope": "openid profile email",
        "permissions": ["read:catalog"],
        "https://switchyard.example/roles": ["marketer"],
        "https://switchyard.example/team": "emea-marketing",
    })
}

#[tokio::test]
async fn an_auth0_token_signs_in_with_its_namespaced_roles_and_team() {
    let key = IdpKey::new("auth0-2026-01", Algorithm::RS256, rsa(0));
    let jwks = JwksServer::start(&[&key]).await;
    let app = app_for(
        &jwks,
        api::config::AuthConfig {
            issuer: "https://switchyard-test.eu.auth0.com/".into(),
            audience: "https://api.switchyard.example".into(),
            roles_claim: "https://switchyard.example/roles".into(),
            team_claim: "https://switchyard.example/team".into(),
            ..Default::default()
        },
    )
    .await;
    let token = key.sign(&auth0_claims());
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["sub"], "auth0|64f1c2d0e4b0a1b2c3d4e5f6");
    assert_eq!(body["data"]["me"]["roles"], json!(["marketer"]));
    let subject = app.state.auth.verify(&token).await.expect("verifies");
    assert_eq!(subject.team.as_deref(), Some("emea-marketing"));
    let mut late = auth0_claims();
    late["nbf"] = json!(now() + 3600);
    let (status, body) = me(&app, &key.sign(&late)).await;
    assert_eq!(status, 401, "an `nbf` present is checked: {body}");
    assert!(error_message(&body).contains("nbf"), "{body}");
}

/// An Okta custom authorization server's access token: `groups` (a claim Okta adds for the
/// group filter), `scp`, `cid`, `uid`, no `nbf`.
fn okta_claims(groups: &[&str]) -> Value {
    json!({
        "ver": 1, "jti": "AT.8rV4n6cJ3J2X0kMZqCw1m9sY",
        "iss": "https://dev-31415926.okta.com/oauth2/default", "aud": "api://default",
        "iat": now(), "exp": now() + 3600,
        "cid": "0oa1b2c3d4e5F6g7h8i9", "uid": "00u1a2b3c4D5e6F7g8h9",
        "scp": ["openid", "profile"], "auth_time": now() - 60,
        "sub": "ana.ops@example.com", "groups": groups,
    })
}

#[tokio::test]
async fn okta_groups_map_to_switchyard_roles_and_unmapped_groups_grant_nothing() {
    let key = IdpKey::new("okta-k1", Algorithm::RS256, rsa(1));
    let jwks = JwksServer::start(&[&key]).await;
    let app = app_for(
        &jwks,
        api::config::AuthConfig {
            issuer: "https://dev-31415926.okta.com/oauth2/default".into(),
            audience: "api://default".into(),
            roles_claim: "groups".into(),
            role_map: [
                ("Switchyard Sales Ops", "sales_ops"),
                ("Switchyard Platform", "platform_engineer"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
            ..Default::default()
        },
    )
    .await;
    let token = key.sign(&okta_claims(&["Everyone", "Switchyard Sales Ops"]));
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["roles"], json!(["sales_ops"]), "{body}");
    let everyone = key.sign(&okta_claims(&["Everyone", "platform_admin"]));
    let (_, body) = me(&app, &everyone).await;
    assert_eq!(body["data"]["me"]["roles"], json!([]), "{body}");
}

/// A Keycloak access token: realm roles under `realm_access.roles`, client roles under
/// `resource_access`, groups as full paths (group mapper), `typ: Bearer`.
fn keycloak_claims(username: &str, roles: &[&str]) -> Value {
    json!({
        "exp": now() + 300, "iat": now(), "auth_time": now() - 10,
        "jti": "onrtro:6f1c2d0e-4b0a-41b2-93d4-e5f6a7b8c9d0",
        "iss": "https://keycloak.example/realms/switchyard", "aud": ["switchyard-api", "account"],
        "sub": "f3c1b2a0-9d8e-4f7a-b6c5-d4e3f2a1b0c9", "typ": "Bearer", "azp": "switchyard-web",
        "sid": "3f4e5d6c-7b8a-4968-8776-655443322110", "acr": "1",
        "realm_access": { "roles": roles },
        "resource_access": { "account": { "roles": ["manage-account", "view-profile"] } },
        "scope": "openid email profile", "email_verified": true,
        "preferred_username": username, "groups": ["/compliance/emea"],
    })
}

#[tokio::test]
async fn keycloak_tokens_signed_with_es256_and_eddsa_carry_realm_roles() {
    let es = IdpKey::new("kc-es256", Algorithm::ES256, ec());
    let ed = IdpKey::new("kc-eddsa", Algorithm::EdDSA, ed());
    let jwks = JwksServer::start(&[&es, &ed]).await;
    let app = app_for(
        &jwks,
        api::config::AuthConfig {
            issuer: "https://keycloak.example/realms/switchyard".into(),
            audience: "switchyard-api".into(),
            roles_claim: "realm_access.roles".into(),
            team_claim: "groups".into(),
            ..Default::default()
        },
    )
    .await;
    for key in [&es, &ed] {
        let token = key.sign(&keycloak_claims(
            "carol",
            &["offline_access", "uma_authorization", "compliance"],
        ));
        let body = app
            .gql(
                &token,
                "{ me { roles } auditLog(first: 1) { edges { node { seq } } } }",
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "{:?}: {body}", key.alg);
        assert!(
            body["data"]["me"]["roles"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("compliance"))),
            "{body}"
        );
        let subject = app.state.auth.verify(&token).await.expect("verifies");
        assert_eq!(subject.team.as_deref(), Some("/compliance/emea"));
    }
    assert_eq!(jwks.fetches(), 1, "one fetch served both keys");
}

fn rotation_config() -> api::config::AuthConfig {
    api::config::AuthConfig {
        issuer: "https://dev-31415926.okta.com/oauth2/default".into(),
        audience: "api://default".into(),
        roles_claim: "groups".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_its_kid_appears_and_the_retired_one_stops_working() {
    let old = IdpKey::new("2026-01", Algorithm::RS256, rsa(0));
    let new = IdpKey::new("2026-07", Algorithm::RS256, rsa(1));
    let jwks = JwksServer::start(&[&old]).await;
    let app = app_for(
        &jwks,
        api::config::AuthConfig {
            jwks_min_refresh_seconds: 0,
            ..rotation_config()
        },
    )
    .await;
    let claims = okta_claims(&["marketer"]);
    assert_eq!(me(&app, &old.sign(&claims)).await.0, 200);
    assert_eq!(me(&app, &old.sign(&claims)).await.0, 200);
    assert_eq!(jwks.fetches(), 1, "the key set is cached");

    jwks.publish(&[&old, &new]);
    let (status, body) = me(&app, &new.sign(&claims)).await;
    assert_eq!(status, 200, "the new kid triggers a refetch: {body}");
    assert_eq!(jwks.fetches(), 2);

    jwks.publish(&[&new]);
    assert_eq!(me(&app, &new.sign(&claims)).await.0, 200, "cached");
    let forged = IdpKey::new("2026-13", Algorithm::RS256, rsa(0));
    let (status, _) = me(&app, &forged.sign(&claims)).await;
    assert_eq!(status, 401, "an unknown kid is refused after a refetch");
    let (status, body) = me(&app, &old.sign(&claims)).await;
    assert_eq!(status, 401, "the retired key no longer verifies: {body}");
}

#[tokio::test]
async fn unknown_kids_are_refused_and_cannot_hammer_the_identity_provider() {
    let key = IdpKey::new("k1", Algorithm::RS256, rsa(0));
    let jwks = JwksServer::start(&[&key]).await;
    let app = app_for(
        &jwks,
        api::config::AuthConfig {
            jwks_min_refresh_seconds: 3600,
            ..rotation_config()
        },
    )
    .await;
    let claims = okta_claims(&["marketer"]);
    assert_eq!(me(&app, &key.sign(&claims)).await.0, 200);
    for i in 0..20 {
        let stranger = IdpKey::new(&format!("made-up-{i}"), Algorithm::RS256, rsa(1));
        let (status, body) = me(&app, &stranger.sign(&claims)).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
        assert!(error_message(&body).contains("kid"), "{body}");
    }
    assert_eq!(jwks.fetches(), 1, "refetches are rate limited");
    assert_eq!(
        me(&app, &key.sign(&claims)).await.0,
        200,
        "known keys still work"
    );
}

#[tokio::test]
async fn algorithm_confusion_and_unsigned_tokens_are_refused() {
    let rsa_key = IdpKey::new("rsa", Algorithm::RS256, rsa(0));
    let ec_key = IdpKey::new("ec", Algorithm::ES256, ec());
    let jwks = JwksServer::start(&[&rsa_key, &ec_key]).await;
    let app = app_for(&jwks, rotation_config()).await;
    let claims = okta_claims(&["platform_admin"]);
    // HS256 "signed" with what an attacker knows: the public JWK and the modulus.
    let modulus = rsa_key.jwk["n"].as_str().unwrap_or_default().to_string();
    for secret in [rsa_key.jwk.to_string(), modulus] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa".into());
        let hs = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign");
        let (status, body) = me(&app, &hs).await;
        assert_eq!(status, 401, "{body}");
        assert!(error_message(&body).contains("algorithm"), "{body}");
    }
    // The EC key's kid on an RS256 token.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ec".into());
    let crossed = jsonwebtoken::encode(&header, &claims, &rsa(0)).expect("sign");
    assert_eq!(me(&app, &crossed).await.0, 401);
    // alg: none, unsigned.
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(json!({ "alg": "none", "kid": "rsa" })),
        b64(claims.clone())
    );
    assert_eq!(me(&app, &none).await.0, 401);
    assert_eq!(
        me(&app, &rsa_key.sign(&claims)).await.0,
        200,
        "the real key works"
    );
}

#[tokio::test]
async fn an_unreachable_key_set_refuses_with_a_reason() {
    let key = IdpKey::new("k1", Algorithm::RS256, rsa(0));
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead_url = format!("http://{}/jwks", dead.local_addr().expect("addr"));
    drop(dead);
    let app = spawn_with(Setup {
        auth: Some(api::config::AuthConfig {
            jwks_url: Some(dead_url),
            jwks_min_refresh_seconds: 0,
            ..rotation_config()
        }),
        ..Default::default()
    })
    .await;
    let token = key.sign(&okta_claims(&["marketer"]));
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        error_message(&body).contains("cannot fetch the identity provider's keys"),
        "{body}"
    );
    assert!(!error_message(&body).contains(&token), "no token echoed");
}
