//! The HTTP surface: routes, the GraphQL endpoint, health, metrics and the web UI, with the
//! layers every request passes through (request id, tracing, metrics, body size limit).

use crate::audit::Actor;
use crate::error::{ApiError, Code};
use crate::graphql;
use crate::ingest;
use crate::state::AppState;
use async_graphql::{BatchRequest, BatchResponse, ErrorExtensions as _};
use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures::StreamExt as _;
use serde_json::json;
use std::sync::Arc;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

pub const REQUEST_ID: &str = "x-request-id";

/// What the GraphQL, health and metrics routes share; behind one `Arc`, so a request clones a
/// pointer, not every handle of the state.
struct Ctx {
    state: AppState,
    graphql: graphql::Graphql,
}

#[derive(Clone, Copy, Default)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// Builds the application router.
pub fn router(state: AppState, schemas: graphql::Graphql) -> Router {
    let max_body = state.config.graphql.max_body_bytes;
    let mut ingestion = Router::new().route(
        "/v1/events",
        post(ingest::routes::events).options(preflight),
    );
    for (long, short, handler) in ingest::routes::segment_paths() {
        let handler = handler.options(preflight);
        ingestion = ingestion.route(long, handler.clone()).route(short, handler);
    }
    let ingestion = ingestion
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::ingestion,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            ingest::routes::cors,
        ))
        .route_layer(middleware::from_fn(crate::metrics::track))
        .layer(RequestBodyLimitLayer::new(ingest::MAX_BODY_BYTES))
        // Segment SDKs may gzip their batches; the limit above applies to the inflated body.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state.clone());
    let ui = crate::ui::routes(state.clone());
    let ctx = Arc::new(Ctx {
        state,
        graphql: schemas,
    });
    let request_id = header::HeaderName::from_static(REQUEST_ID);
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn(crate::metrics::track))
        .layer(RequestBodyLimitLayer::new(max_body))
        .fallback(web_asset)
        .with_state(ctx)
        .merge(ingestion)
        .merge(ui)
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, NewRequestId))
}

/// `OPTIONS` on the ingestion paths; the CORS middleware answers it before it gets here.
async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// A GraphQL-shaped error response with an HTTP status.
fn error_response(status: StatusCode, code: Code, message: &str) -> Response {
    (
        status,
        Json(
            json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] }),
        ),
    )
        .into_response()
}

/// GraphiQL, from the files embedded in the binary (`web/static/graphiql/`): no CDN, so it works
/// offline, and the CSP keeps the page from reaching any other host.
async fn graphiql() -> Response {
    const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                       img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    match web::Assets::get("graphiql/index.html") {
        Some(file) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            file.data.into_owned(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "GraphiQL is not built into this binary",
        )
            .into_response(),
    }
}

async fn graphql(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadUserInput,
            "Content-Type: must be application/json",
        );
    }
    // The web UI signs in by cookie; such requests must carry the CSRF header (`ui`).
    let subject = match bearer(&headers) {
        Some(token) => ctx.state.auth.verify(token).await,
        None => match crate::ui::cookie_token(&headers) {
            Some(Ok(token)) => ctx.state.auth.verify(token).await,
            Some(Err(e)) => {
                return error_response(StatusCode::FORBIDDEN, Code::Forbidden, &e.to_string());
            }
            None => Err(ApiError::Unauthenticated(
                "Authorization: a `Bearer <JWT>` header is required".into(),
            )),
        },
    };
    let mut subject = match subject {
        Ok(s) => s,
        Err(e) => {
            return error_response(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                &e.to_string(),
            );
        }
    };
    // The team: the token's claim, else the `[teams]` configuration.
    if subject.team.is_none() {
        subject.team = ctx.state.config.team_of(&subject.sub);
    }
    if let Err(wait) = ctx.state.limits.check_subject(&subject.sub) {
        return crate::ratelimit::graphql_refusal(wait);
    }
    // A catalog listing this caller asked for before, still current (`graphql::listings`).
    if let Some(answer) = ctx.graphql.kept_answer(&subject, &body) {
        return json_answer(answer);
    }
    let batch: BatchRequest = match parse_batch(&body) {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                &format!("body: not a GraphQL request ({e})"),
            );
        }
    };
    let max_batch = ctx.state.config.graphql.max_batch;
    if let BatchRequest::Batch(items) = &batch
        && (items.is_empty() || items.len() > max_batch)
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            &format!(
                "body: a batch holds 1 to {max_batch} operations, got {}",
                items.len()
            ),
        );
    }
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let actor = Actor::new(&subject, &request_id);
    let response = match batch {
        BatchRequest::Single(request) => {
            match ctx
                .graphql
                .execute_single(&subject, &body, request.data(actor))
                .await
            {
                Ok(answer) => return json_answer(answer),
                Err(response) => BatchResponse::Single(response),
            }
        }
        BatchRequest::Batch(requests) => {
            // Concurrently, in order, as async-graphql runs a batch.
            let responses: futures::stream::FuturesOrdered<_> = requests
                .into_iter()
                .map(|request| ctx.graphql.execute(request.data(actor.clone())))
                .collect();
            BatchResponse::Batch(responses.collect().await)
        }
    };
    Json(with_codes(response)).into_response()
}

/// GraphQL subscriptions (graphql-transport-ws, and the older graphql-ws). The client
/// authenticates in `connection_init`: `{"Authorization": "Bearer <JWT>"}` (or `{"token": …}`),
/// or with the web UI's session cookie on the upgrade request.
async fn graphql_ws(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    protocol: async_graphql_axum::GraphQLProtocol,
    upgrade: axum::extract::WebSocketUpgrade,
) -> Response {
    let cookie = ws_cookie_session(&headers);
    let schema = ctx.graphql.ws.clone();
    let state = ctx.state.clone();
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            async_graphql_axum::GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload
                        .get("Authorization")
                        .or_else(|| payload.get("authorization"))
                        .and_then(|v| v.as_str())
                        .map(|v| v.trim_start_matches("Bearer ").trim().to_string())
                        .or_else(|| {
                            payload
                                .get("token")
                                .and_then(|v| v.as_str())
                                .map(str::to_string)
                        })
                        .map(Ok)
                        .or_else(|| cookie.map(|c| c.token_for(&payload)))
                        .ok_or_else(|| {
                            async_graphql::Error::new(
                                "connection_init: send {\"Authorization\": \"Bearer <JWT>\"}",
                            )
                        })?
                        .map_err(async_graphql::Error::new)?;
                    let mut subject = state
                        .auth
                        .verify(&token)
                        .await
                        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    if subject.team.is_none() {
                        subject.team = state.config.team_of(&subject.sub);
                    }
                    let mut data = async_graphql::Data::default();
                    data.insert(Actor::new(&subject, "ws"));
                    Ok(data)
                })
                .serve()
        })
}

/// The web UI's cookie session on `/graphql/ws`. A WebSocket handshake cannot carry the
/// `x-csrf-token` header, so the cookie counts only with the CSRF-equivalent checks: the
/// handshake comes from this server's own pages (its `Origin`, which browsers always send on
/// WebSockets, names the host the request was sent to), and `connection_init` carries the
/// `sy_csrf` cookie's value as `{"csrf": "…"}` — which another site's page cannot read.
struct WsCookie {
    token: String,
    csrf: Option<String>,
    same_origin: bool,
}

impl WsCookie {
    fn token_for(self, payload: &serde_json::Value) -> Result<String, String> {
        if !self.same_origin {
            // A close frame's reason holds at most 123 bytes.
            return Err(
                "Origin: cookie sessions only from this server's pages; send a Bearer token".into(),
            );
        }
        let sent = payload.get("csrf").and_then(|v| v.as_str()).unwrap_or("");
        match self.csrf {
            Some(expected)
                if !sent.is_empty()
                    && expected.len() == sent.len()
                    && expected
                        .bytes()
                        .zip(sent.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0 =>
            {
                Ok(self.token)
            }
            _ => Err(format!(
                "connection_init: a cookie session sends the {} cookie's value as csrf",
                crate::ui::CSRF_COOKIE
            )),
        }
    }
}

fn ws_cookie_session(headers: &HeaderMap) -> Option<WsCookie> {
    let token = crate::ui::cookie(headers, crate::ui::SESSION_COOKIE)?.to_string();
    let csrf = crate::ui::cookie(headers, crate::ui::CSRF_COOKIE).map(str::to_string);
    let same_origin = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = origin.split_once("://").map_or("", |(_, h)| h);
            ["host", "x-forwarded-host"].iter().any(|name| {
                headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|h| !host.is_empty() && h.eq_ignore_ascii_case(host))
            })
        }
    };
    Some(WsCookie {
        token,
        csrf,
        same_origin,
    })
}

/// A GraphQL answer already serialised: the bytes `Json` would send for it.
fn json_answer(answer: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        answer,
    )
        .into_response()
}

/// A JSON object is one operation; any JSON array (even an empty one) is a batch.
fn parse_batch(body: &[u8]) -> Result<BatchRequest, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    match value {
        serde_json::Value::Array(items) => Ok(BatchRequest::Batch(
            items
                .into_iter()
                .map(serde_json::from_value)
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(BatchRequest::Single(serde_json::from_value(other)?)),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Gives every error without a code one from the fixed set: errors raised by async-graphql
/// itself (parse, validation, limits) are the client's fault.
fn with_codes(response: BatchResponse) -> BatchResponse {
    let fix = |mut r: async_graphql::Response| {
        for e in &mut r.errors {
            let has_code = e
                .extensions
                .as_ref()
                .is_some_and(|x| x.get("code").is_some());
            if !has_code {
                // Domain errors travel as the error's source; everything else that reaches
                // here without a code was raised by async-graphql for a bad request.
                let mapped = match e.source::<ApiError>() {
                    Some(api) => api.extend(),
                    None => ApiError::bad_input("", e.message.clone()).extend(),
                };
                e.extensions = mapped.extensions;
            }
        }
        r
    };
    match response {
        BatchResponse::Single(r) => BatchResponse::Single(fix(r)),
        BatchResponse::Batch(rs) => BatchResponse::Batch(rs.into_iter().map(fix).collect()),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(ctx): State<Arc<Ctx>>) -> Response {
    ready(&ctx.state.db, ctx.state.engine.as_deref()).await
}

/// Ready when the database answers, the migrations are applied and — where workers run in the
/// process — every consumer has reached the queue recently.
async fn ready(db: &sea_orm::DatabaseConnection, engine: Option<&worker::Engine>) -> Response {
    let db_ok = db.ping().await.is_ok();
    let migrated = db_ok && crate::db::migrations_applied(db).await.unwrap_or(false);
    let workers = engine.map(|e| e.health.check(worker_stale_ms(e)));
    let workers_ok = workers.as_ref().is_none_or(Result::is_ok);
    let mut body = json!({ "database": db_ok, "migrations": migrated });
    if let Some(w) = workers {
        body["workers"] = json!(match w {
            Ok(()) => "ok".to_string(),
            Err(e) => e,
        });
    }
    let status = if db_ok && migrated && workers_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// A consumer that has not reached the queue for three idle polls and three heartbeats is
/// reported as stopped.
fn worker_stale_ms(engine: &worker::Engine) -> i64 {
    let c = &engine.cfg;
    i64::try_from(3 * c.poll_ms + 3000 * c.heartbeat_seconds).unwrap_or(i64::MAX)
}

/// The health endpoint of `switchyard worker`: `/healthz`, `/readyz`, `/metrics`.
pub fn worker_router(
    db: sea_orm::DatabaseConnection,
    engine: std::sync::Arc<worker::Engine>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> Router {
    let ready_db = db.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/readyz",
            get(move || {
                let (db, engine) = (ready_db.clone(), std::sync::Arc::clone(&engine));
                async move { ready(&db, Some(&engine)).await }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = metrics.render();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
            }),
        )
}

async fn metrics(State(ctx): State<Arc<Ctx>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ctx.state.metrics.render(),
    )
        .into_response()
}

async fn web_asset(uri: axum::http::Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    match web::Assets::get(path) {
        Some(file) => (
            [(header::CONTENT_TYPE, file.metadata.mimetype().to_string())],
            file.data.into_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
