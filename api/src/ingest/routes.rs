//! HTTP handlers of the ingestion endpoints: `/v1/events` (native) and the Segment-compatible
//! paths of Segment's browser and server SDKs (`/v1/track` … `/v1/batch`, and the short
//! `/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`, `/v1/g`, `/v1/a`, `/v1/b`), with CORS for web pages.

use super::{Report, envelope, ingest, segment, write_keys};
use crate::error::{ApiError, Code};
use crate::state::AppState;
use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use std::collections::HashMap;

fn error(status: StatusCode, code: Code, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code.as_str(), "message": message } })),
    )
        .into_response()
}

fn api_error(e: &ApiError) -> Response {
    if let ApiError::Internal(detail) = e {
        tracing::error!(error = %detail, "ingestion failed");
    }
    error(e.code().http_status(), e.code(), &e.to_string())
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `POST /v1/events`: a JSON array (or one object) or NDJSON of native events.
pub async fn events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = content_type(&headers);
    let ndjson = ct.starts_with("application/x-ndjson") || ct.starts_with("application/ndjson");
    if !ndjson && !ct.starts_with("application/json") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadUserInput,
            "Content-Type: must be application/json or application/x-ndjson",
        );
    }
    let key = match state
        .write_keys
        .authenticate(&state.db, write_keys::presented(&headers))
        .await
    {
        Ok(k) => k,
        Err(e) => return api_error(&e),
    };
    let values = match envelope::split(&body, ndjson) {
        Ok(v) => v,
        Err(e @ envelope::BodyError::TooMany(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BadUserInput,
                &e.to_string(),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, Code::BadUserInput, &e.to_string()),
    };
    match ingest(&state, &key, values, HashMap::new()).await {
        Ok(report) => {
            let status = if report.rejected == 0 {
                StatusCode::ACCEPTED
            } else {
                StatusCode::MULTI_STATUS
            };
            (status, Json(report)).into_response()
        }
        Err(e) => api_error(&e),
    }
}

/// Content types the Segment endpoints take: JSON, and `text/plain` (what the browser SDK sends
/// so that no CORS preflight is needed); an absent type is read as JSON.
fn segment_content_type(headers: &HeaderMap) -> bool {
    let ct = content_type(headers).to_ascii_lowercase();
    ct.is_empty() || ct.starts_with("application/json") || ct.starts_with("text/plain")
}

/// The write key of a Segment request: `Authorization` (basic user or bearer), else `writeKey`
/// in the body (top level, or the first batch message's), as the browser SDK sends it.
fn segment_key(headers: &HeaderMap, body: &Value) -> (Option<String>, bool) {
    if let Some(k) = write_keys::presented(headers) {
        return (Some(k), false);
    }
    let in_body = body
        .get("writeKey")
        .or_else(|| body.pointer("/batch/0/writeKey"))
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    (in_body, true)
}

/// A Segment request, answered with Segment's statuses: 200 with each message's outcome in the
/// body (accepted, duplicate, or rejected with its violations), 400 for a body that is not JSON,
/// too large or has no write key, 401 for an unknown or revoked key, 429 over the key's rate.
async fn segment_request(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
    kind: Option<&str>,
) -> Response {
    if !segment_content_type(&headers) {
        return error(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "Content-Type: must be application/json or text/plain",
        );
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                "body: must be a JSON object",
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                &format!("body: not JSON: {e}"),
            );
        }
    };
    let (presented, from_body) = segment_key(&headers, &body);
    let Some(presented) = presented else {
        return error(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "writeKey: send the write key as HTTP basic user, bearer token or `writeKey` in the body",
        );
    };
    // Keys in `Authorization` were counted by the rate-limit middleware; count body keys here.
    if from_body && let Err(wait) = state.limits.check_write_key(&presented) {
        return crate::ratelimit::ingestion_refusal(wait);
    }
    let key = match state
        .write_keys
        .authenticate(&state.db, Some(presented))
        .await
    {
        Ok(k) => k,
        Err(e) => return api_error(&e),
    };
    let mut received = segment::Received::now(key.id);
    received.sent_at = body
        .get("sentAt")
        .and_then(Value::as_str)
        .map(str::to_string);
    let messages = match kind {
        Some(_) => vec![body],
        None => match body.get("batch").and_then(Value::as_array) {
            Some(b) if b.len() <= super::MAX_EVENTS => b.clone(),
            Some(b) => {
                let msg = format!(
                    "batch: at most {} messages, got {}",
                    super::MAX_EVENTS,
                    b.len()
                );
                return error(StatusCode::BAD_REQUEST, Code::BadUserInput, &msg);
            }
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Code::BadUserInput,
                    "batch: an array of messages is required",
                );
            }
        },
    };
    let (events, contacts, outcomes) =
        segment::map_all(&state.config.segment, messages, kind, &received);
    let mut stored = if events.is_empty() {
        Vec::new()
    } else {
        match ingest(&state, &key, events, contacts).await {
            Ok(r) => r.results,
            Err(e) => return api_error(&e),
        }
    }
    .into_iter()
    .map(Some)
    .collect::<Vec<_>>();
    let results: Vec<_> = outcomes
        .into_iter()
        .filter_map(|o| match o {
            segment::Outcome::Event(i) => stored.get_mut(i).and_then(Option::take),
            segment::Outcome::Rejected(r) => Some(r),
        })
        .collect();
    let report = Report::from_results(results);
    let results: Vec<Value> = report
        .results
        .iter()
        .map(|r| {
            let mut v = json!({ "messageId": r.id.as_deref().map(segment::message_id),
                "eventId": r.id, "status": r.status });
            if let Some(code) = r.code {
                v["code"] = json!(code);
            }
            if !r.violations.is_empty() {
                v["violations"] = json!(r.violations);
            }
            v
        })
        .collect();
    // Segment clients retry any non-2xx; per-message outcomes are in the body.
    (
        StatusCode::OK,
        Json(
            json!({ "success": report.rejected == 0, "accepted": report.accepted,
            "duplicate": report.duplicate, "rejected": report.rejected, "results": results }),
        ),
    )
        .into_response()
}

macro_rules! segment_endpoint {
    ($name:ident, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        pub async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            segment_request(state, headers, body, $kind).await
        }
    };
}

segment_endpoint!(track, Some("track"), "`POST /v1/track` and `/v1/t`.");
segment_endpoint!(
    identify,
    Some("identify"),
    "`POST /v1/identify` and `/v1/i`."
);
segment_endpoint!(page, Some("page"), "`POST /v1/page` and `/v1/p`.");
segment_endpoint!(screen, Some("screen"), "`POST /v1/screen` and `/v1/s`.");
segment_endpoint!(group, Some("group"), "`POST /v1/group` and `/v1/g`.");
segment_endpoint!(alias, Some("alias"), "`POST /v1/alias` and `/v1/a`.");
segment_endpoint!(batch, None, "`POST /v1/batch` and `/v1/b`.");

/// Every Segment path: (long, short, handler).
pub fn segment_paths() -> Vec<(
    &'static str,
    &'static str,
    axum::routing::MethodRouter<AppState>,
)> {
    use axum::routing::post;
    vec![
        ("/v1/track", "/v1/t", post(track)),
        ("/v1/identify", "/v1/i", post(identify)),
        ("/v1/page", "/v1/p", post(page)),
        ("/v1/screen", "/v1/s", post(screen)),
        ("/v1/group", "/v1/g", post(group)),
        ("/v1/alias", "/v1/a", post(alias)),
        ("/v1/batch", "/v1/b", post(batch)),
    ]
}

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// CORS for the ingestion endpoints (`segment.allowed_origins`): a preflight (`OPTIONS`) from an
/// allowed origin is answered 204 with what it may send; from any other origin 403. A request
/// from a web page (it has `Origin`) whose origin is not allowed is refused with 403 before
/// anything is read — a `text/plain` POST needs no preflight, so the preflight alone would not
/// stop it. Requests without `Origin` (server-side SDKs) are unaffected.
pub async fn cors(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(from) = origin(request.headers()).map(str::to_string) else {
        if request.method() == axum::http::Method::OPTIONS {
            return error(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                "Origin: a CORS preflight needs an Origin header",
            );
        }
        return next.run(request).await;
    };
    if !state.config.segment.origin_allowed(&from) {
        return error(
            StatusCode::FORBIDDEN,
            Code::Forbidden,
            "Origin: this web origin may not send events (segment.allowed_origins)",
        );
    }
    let mut response = if request.method() == axum::http::Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, Authorization, Content-Encoding"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&from) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}
