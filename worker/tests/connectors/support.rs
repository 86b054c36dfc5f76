//! Test helpers: a local HTTP server that records every request and answers from a script (a
//! stand-in for a vendor API that checks requests the way the vendor would), a server that
//! never answers, a TCP listener that counts connections, and delivery builders.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use worker::connectors::{Action, Delivery};
use worker::net::NetPolicy;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, as sent (still percent-encoded).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// The vendor's checks: `Err((status, body))` is answered instead of the scripted reply.
pub type Check = Arc<dyn Fn(&Recorded) -> Result<(), (u16, String)> + Send + Sync>;

struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Clone)]
struct Shared {
    check: Check,
    seen: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Canned>>>,
    default_body: String,
}

/// A running scripted server on 127.0.0.1.
pub struct Server {
    pub url: String,
    pub port: u16,
    shared: Shared,
}

impl Server {
    /// Starts a server on `ip` (a loopback address); unscripted requests get 200 and
    /// `default_body`.
    pub async fn start_on(ip: &str, check: Check, default_body: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind test server");
        let port = listener.local_addr().expect("address").port();
        let shared = Shared {
            check,
            seen: Arc::default(),
            script: Arc::default(),
            default_body: default_body.to_string(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://{ip}:{port}"),
            port,
            shared,
        }
    }

    pub async fn start(check: Check, default_body: &str) -> Self {
        Self::start_on("127.0.0.1", check, default_body).await
    }

    /// A server that accepts every request.
    pub async fn open() -> Self {
        Self::start(Arc::new(|_: &Recorded| Ok(())), "ok").await
    }

    /// Queues the next reply.
    pub fn push(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.shared
            .script
            .lock()
            .expect("script lock")
            .push_back(Canned {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
                body: body.to_string(),
            });
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.seen.lock().expect("seen lock").clone()
    }
}

async fn handle(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let rec = Recorded {
        method,
        path,
        headers,
        body,
    };
    let verdict = (s.check)(&rec);
    s.seen.lock().expect("seen lock").push(rec);
    if let Err((status, body)) = verdict {
        let status = StatusCode::from_u16(status).expect("status");
        return (status, body).into_response();
    }
    let canned = s.script.lock().expect("script lock").pop_front();
    let Some(c) = canned else {
        return (StatusCode::OK, s.default_body.clone()).into_response();
    };
    let mut resp = (StatusCode::from_u16(c.status).expect("status"), c.body).into_response();
    for (k, v) in c.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            v.parse().expect("header value"),
        );
    }
    resp
}

/// A server on 127.0.0.1 that accepts connections and never answers.
pub async fn silent() -> String {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A TCP listener on 127.0.0.1 counting the connections it accepts.
pub async fn counting() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, count)
}

/// Waits a moment for stray connections, then reads the count.
pub async fn connections_after_a_moment(count: &AtomicUsize) -> usize {
    tokio::time::sleep(Duration::from_millis(200)).await;
    count.load(Ordering::SeqCst)
}

/// The policy tests run with: loopback 127.0.0.1 allowed, nothing else.
pub fn local() -> NetPolicy {
    NetPolicy::new(&["127.0.0.1".to_string()]).expect("valid allow-list")
}

pub fn delivery(object: &str, action: Action, record: Value) -> Delivery {
    Delivery {
        idempotency_key: "dlv_01J9ZK3Q7Y2B".into(),
        business_key: "ada@example.com".into(),
        object: object.into(),
        action,
        record,
        attempted_at: chrono::Utc::now(),
    }
}
