//! A local HTTP destination for delivery tests: records every request (method, path, headers,
//! body) and answers from a script — e.g. 500 then 200, 410, or a hang — so tests see exactly
//! what a real receiver would.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::IntoResponse,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// What to answer next.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Wait this long, then answer 200.
    Hang(Duration),
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    script: VecDeque<Reply>,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    _method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let reply = {
        let mut g = inner.lock().expect("receiver lock");
        g.seen.push(Seen {
            path: uri.path().to_string(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        });
        g.script.pop_front().unwrap_or(Reply::Status(200))
    };
    let status = match reply {
        Reply::Status(s) => s,
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            200
        }
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    (code, "{\"status\":\"ok\"}")
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1; `script` answers the first requests, then 200.
    pub async fn start(script: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            seen: Vec::new(),
            script: script.into(),
        }));
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self { addr, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().expect("receiver lock").seen.clone()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().expect("receiver lock").seen.len()
    }

    /// Distinct values of header `name` over all requests.
    pub fn distinct(&self, name: &str) -> std::collections::BTreeSet<String> {
        self.seen()
            .iter()
            .filter_map(|s| {
                s.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .collect()
    }
}
