//! Production tokens: an EdDSA public key from configuration replaces the development secret;
//! only tokens signed by the matching private key, with that one algorithm, are accepted.

use crate::helpers::*;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// PKCS#8 DER of an Ed25519 private key from its 32-byte seed (RFC 8410).
fn private_der(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

/// SubjectPublicKeyInfo PEM of an Ed25519 public key (RFC 8410).
fn public_pem(public: &[u8; 32]) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(public);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

fn sign(seed: &[u8; 32], sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": sub, "iss": "switchyard", "aud": "switchyard", "exp": now + 600, "nbf": now - 5, "iat": now, "roles": ["marketer"] });
    jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &EncodingKey::from_ed_der(&private_der(seed)),
    )
    .expect("sign EdDSA token")
}

#[tokio::test]
async fn an_eddsa_public_key_from_configuration_verifies_production_tokens() {
    let seed = [7u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let keydir = tempfile::tempdir().expect("tempdir");
    let pem_path = keydir.path().join("idp.pem");
    std::fs::write(&pem_path, public_pem(&public)).expect("write pem");
    let auth = api::config::AuthConfig {
        public_key_file: Some(pem_path),
        public_key_alg: Some("EdDSA".into()),
        ..Default::default()
    };
    let app = spawn_with(Setup {
        auth: Some(auth),
        ..Default::default()
    })
    .await;

    let query = json!({ "query": "{ me { sub roles } }" });
    let (status, body) = app
        .gql_raw(Some(&sign(&seed, "idp-user")), query.clone())
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["sub"], "idp-user");

    let (status, _) = app
        .gql_raw(Some(&sign(&[9u8; 32], "mallory")), query.clone())
        .await;
    assert_eq!(status, 401, "a token from another key is refused");

    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "x", "iss": "switchyard", "aud": "switchyard", "exp": chrono::Utc::now().timestamp() + 60, "nbf": 0 }),
        &EncodingKey::from_secret(&public),
    )
    .expect("sign HS256");
    let (status, body) = app.gql_raw(Some(&hs), query).await;
    assert_eq!(
        status, 401,
        "HS256 signed with the public key bytes is refused: {body}"
    );

    assert!(
        app.state.auth.mint("x", &["marketer".into()], 60).is_err(),
        "no dev tokens with a public key"
    );
}
