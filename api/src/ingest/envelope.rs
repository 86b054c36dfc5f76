//! Parsing a request body into events: a JSON array, a single JSON object, or NDJSON; and the
//! envelope rules every event must meet before its payload is looked at.

use super::{EventResult, Incoming, MAX_DEPTH, MAX_EVENTS, Violation};
use crate::contracts::schema::depth;
use serde_json::Value;

/// Why a whole body was refused.
#[derive(Debug)]
pub enum BodyError {
    NotJson(String),
    TooMany(usize),
    Empty,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::NotJson(e) => write!(f, "body: not JSON or NDJSON: {e}"),
            BodyError::TooMany(n) => {
                write!(f, "body: at most {MAX_EVENTS} events per request, got {n}")
            }
            BodyError::Empty => write!(f, "body: no events"),
        }
    }
}

/// Splits a body into JSON values, one per event.
pub fn split(body: &[u8], ndjson: bool) -> Result<Vec<Value>, BodyError> {
    let values = if ndjson {
        let text = std::str::from_utf8(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v = serde_json::from_str(line)
                .map_err(|e| BodyError::NotJson(format!("line {}: {e}", i + 1)))?;
            out.push(v);
            if out.len() > MAX_EVENTS {
                return Err(BodyError::TooMany(text.lines().count()));
            }
        }
        out
    } else {
        match serde_json::from_slice::<Value>(body)
            .map_err(|e| BodyError::NotJson(e.to_string()))?
        {
            Value::Array(items) => items,
            obj @ Value::Object(_) => vec![obj],
            _ => return Err(BodyError::NotJson("expected an array of events".into())),
        }
    };
    if values.is_empty() {
        return Err(BodyError::Empty);
    }
    if values.len() > MAX_EVENTS {
        return Err(BodyError::TooMany(values.len()));
    }
    Ok(values)
}

const FIELDS: &[&str] = &["id", "type", "version", "occurred_at", "source", "payload"];

/// Checks one event's envelope: `{id, type, version?, occurred_at, source?, payload}`.
pub fn parse(value: Value) -> Result<Incoming, EventResult> {
    let Value::Object(mut obj) = value else {
        return Err(EventResult::rejected(
            None,
            "BAD_USER_INPUT",
            vec![Violation::new("", "type", "an event is a JSON object")],
        ));
    };
    let id = obj.get("id").and_then(Value::as_str).map(str::to_string);
    let mut v = Vec::new();
    for key in obj.keys() {
        if !FIELDS.contains(&key.as_str()) {
            v.push(Violation::new(
                &format!("/{key}"),
                "additionalProperties",
                format!("`{key}` is not an event field; use {}", FIELDS.join(", ")),
            ));
        }
    }
    let string =
        |obj: &serde_json::Map<String, Value>, k: &str, max: usize, v: &mut Vec<Violation>| {
            match obj.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= max => Some(s.clone()),
                Some(Value::String(_)) => {
                    v.push(Violation::new(
                        &format!("/{k}"),
                        "maxLength",
                        format!("`{k}` must be 1 to {max} characters"),
                    ));
                    None
                }
                Some(Value::Null) | None => None,
                Some(_) => {
                    v.push(Violation::new(
                        &format!("/{k}"),
                        "type",
                        format!("`{k}` must be a string"),
                    ));
                    None
                }
            }
        };
    let id_ok = string(&obj, "id", 128, &mut v);
    let event_type = string(&obj, "type", 128, &mut v);
    let version = string(&obj, "version", 64, &mut v);
    let occurred_at = string(&obj, "occurred_at", 40, &mut v);
    let source = string(&obj, "source", 200, &mut v);
    for (k, present) in [
        ("id", id_ok.is_some()),
        ("type", event_type.is_some()),
        ("occurred_at", occurred_at.is_some()),
    ] {
        if !present && !v.iter().any(|x| x.pointer == format!("/{k}")) {
            v.push(Violation::new(
                &format!("/{k}"),
                "required",
                format!("`{k}` is required"),
            ));
        }
    }
    if let Some(t) = &occurred_at
        && chrono::DateTime::parse_from_rfc3339(t).is_err()
    {
        v.push(Violation::new(
            "/occurred_at",
            "format",
            "`occurred_at` must be an RFC 3339 time",
        ));
    }
    let payload = obj.remove("payload").unwrap_or(Value::Null);
    if !payload.is_object() {
        v.push(Violation::new(
            "/payload",
            "type",
            "`payload` must be a JSON object",
        ));
    } else if depth(&payload) > MAX_DEPTH {
        v.push(Violation::new(
            "/payload",
            "maxDepth",
            format!("`payload` is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    match (v.is_empty(), id_ok, event_type, occurred_at) {
        (true, Some(id), Some(event_type), Some(occurred_at)) => Ok(Incoming {
            id,
            event_type,
            version,
            occurred_at,
            source,
            payload,
        }),
        _ => Err(EventResult::rejected(id, "BAD_USER_INPUT", v)),
    }
}
