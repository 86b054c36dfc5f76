//! HTTP handlers of the ingestion endpoints: `/v1/events` (native) and the Segment-compatible
//! `/v1/track`, `/v1/identify`, `/v1/batch`.

use super::{Report, envelope, ingest, segment, write_keys};
use crate::error::{ApiError, Code};
use crate::state::AppState;
use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
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

async fn segment_request(
    state: AppState,
    headers: HeaderMap,
    body: Bytes,
    kind: Option<&str>,
) -> Response {
    if !content_type(&headers).starts_with("application/json") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadUserInput,
            "Content-Type: must be application/json",
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
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                &format!("body: not JSON: {e}"),
            );
        }
    };
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
                return error(StatusCode::PAYLOAD_TOO_LARGE, Code::BadUserInput, &msg);
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
    let (events, contacts, mut rejected) = segment::map_all(&state.segment, messages, kind);
    let report = if events.is_empty() {
        Report::from_results(Vec::new())
    } else {
        match ingest(&state, &key, events, contacts).await {
            Ok(r) => r,
            Err(e) => return api_error(&e),
        }
    };
    let mut results = report.results;
    results.append(&mut rejected);
    let report = Report::from_results(results);
    // Segment clients treat any non-2xx as retryable; per-message outcomes are in the body.
    (
        StatusCode::OK,
        Json(
            json!({ "success": report.rejected == 0, "accepted": report.accepted,
        "duplicate": report.duplicate, "rejected": report.rejected, "results": report.results }),
        ),
    )
        .into_response()
}

/// `POST /v1/track`.
pub async fn track(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    segment_request(state, headers, body, Some("track")).await
}

/// `POST /v1/identify`.
pub async fn identify(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    segment_request(state, headers, body, Some("identify")).await
}

/// `POST /v1/batch`.
pub async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    segment_request(state, headers, body, None).await
}
