//! The identity provider's side of the tests: signing keys (RSA, P-256, Ed25519) with their
//! public JWKs, and a JWKS endpoint on loopback that serves the published keys and counts
//! fetches.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A signing key and its public JWK.
#[derive(Clone)]
pub struct IdpKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl IdpKey {
    pub fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK");
        jwk.common.key_id = Some(kid.to_string());
        let jwk = serde_json::to_value(jwk).expect("JWK as JSON");
        Self {
            kid: kid.to_string(),
            alg,
            encoding,
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// RSA key pairs take a moment to make: two per test run, shared.
pub fn rsa(n: usize) -> EncodingKey {
    static KEYS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        (0..2)
            .map(|_| {
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA");
                key.to_pkcs1_der().expect("PKCS#1").as_bytes().to_vec()
            })
            .collect()
    });
    EncodingKey::from_rsa_der(&keys[n])
}

pub fn ec() -> EncodingKey {
    use p256::pkcs8::EncodePrivateKey as _;
    let secret = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).expect("P-256 key");
    EncodingKey::from_ec_der(secret.to_pkcs8_der().expect("PKCS#8").as_bytes())
}

pub fn ed() -> EncodingKey {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&rand::random::<[u8; 32]>());
    EncodingKey::from_ed_der(&der)
}

/// The identity provider's JWKS endpoint: serves the published keys, counts fetches.
pub struct JwksServer {
    pub url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(keys: &[&IdpKey]) -> Self {
        let published: Arc<Mutex<Vec<Value>>> =
            Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (p, f) = (Arc::clone(&published), Arc::clone(&fetches));
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let (p, f) = (Arc::clone(&p), Arc::clone(&f));
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let keys = p.lock().map(|k| k.clone()).unwrap_or_default();
                    axum::Json(json!({ "keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await.ok() });
        Self {
            url: format!("http://{addr}/.well-known/jwks.json"),
            keys: published,
            fetches,
        }
    }

    pub fn publish(&self, keys: &[&IdpKey]) {
        if let Ok(mut k) = self.keys.lock() {
            *k = keys.iter().map(|k| k.jwk.clone()).collect();
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
