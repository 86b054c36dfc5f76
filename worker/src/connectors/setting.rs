//! Reading typed values out of a connection's settings JSON. Settings were validated against
//! the connector's schema already; these helpers still refuse a wrong type with a
//! [`SettingsError`] naming the field, so a connector never panics on settings. They never put
//! a setting's value in an error (settings carry secrets).

use super::SettingsError;
use reqwest::Url;
use serde_json::Value;

fn wrong(field: &str, what: &str) -> SettingsError {
    SettingsError::new(field, format!("must be {what}"))
}

/// A string setting that may be absent (or null).
pub fn optional<'a>(settings: &'a Value, field: &str) -> Result<Option<&'a str>, SettingsError> {
    match settings.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(wrong(field, "a string")),
    }
}

/// A non-empty string setting.
pub fn required<'a>(settings: &'a Value, field: &str) -> Result<&'a str, SettingsError> {
    match optional(settings, field)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(SettingsError::new(field, "is required")),
    }
}

/// A non-negative integer setting that may be absent.
pub fn integer(settings: &Value, field: &str) -> Result<Option<u64>, SettingsError> {
    match settings.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| wrong(field, "a non-negative integer")),
    }
}

/// A boolean setting that may be absent.
pub fn boolean(settings: &Value, field: &str) -> Result<Option<bool>, SettingsError> {
    match settings.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong(field, "true or false")),
    }
}

/// A list of strings that may be absent.
pub fn strings(settings: &Value, field: &str) -> Result<Option<Vec<String>>, SettingsError> {
    match settings.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| wrong(field, "a list of strings")),
        Some(_) => Err(wrong(field, "a list of strings")),
    }
}

/// An http(s) URL setting, `default` when absent. The network guard is applied when the
/// connection is checked and before every attempt, not here.
pub fn url(settings: &Value, field: &str, default: Option<&str>) -> Result<Url, SettingsError> {
    let text = match (optional(settings, field)?, default) {
        (Some(s), _) => s,
        (None, Some(d)) => d,
        (None, None) => return Err(SettingsError::new(field, "is required")),
    };
    let url = Url::parse(text).map_err(|e| SettingsError::new(field, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(wrong(field, "an http(s) address with a host"));
    }
    Ok(url)
}

/// A timeout in whole seconds, `default` when absent, at least one second.
pub fn timeout(
    settings: &Value,
    field: &str,
    default: std::time::Duration,
) -> Result<std::time::Duration, SettingsError> {
    match integer(settings, field)? {
        None => Ok(default),
        Some(0) => Err(wrong(field, "at least 1")),
        Some(s) => Ok(std::time::Duration::from_secs(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field_and_not_the_value() {
        let s = json!({"url": "ftp://secret-host/", "n": "x", "b": 1, "list": [1]});
        let e = url(&s, "url", None).expect_err("scheme");
        assert_eq!(e.field, "url");
        assert!(!e.to_string().contains("secret-host"), "{e}");
        assert_eq!(integer(&s, "n").expect_err("type").field, "n");
        assert_eq!(boolean(&s, "b").expect_err("type").field, "b");
        assert_eq!(strings(&s, "list").expect_err("type").field, "list");
        assert_eq!(
            required(&s, "missing").expect_err("absent").field,
            "missing"
        );
        let d = url(&json!({}), "base_url", Some("https://api.hubapi.com")).expect("default");
        assert_eq!(d.as_str(), "https://api.hubapi.com/");
    }
}
