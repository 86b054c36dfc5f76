//! The web UI's session and pages. Sign-in turns a JWT — a pasted one, or in development mode a
//! seeded demo user's — into an `HttpOnly; SameSite=Strict` cookie, plus a readable CSRF cookie
//! (`sy_csrf`) that the page copies into the `x-csrf-token` header. `POST /graphql` accepts the
//! session cookie in place of an `Authorization` header only with that header matching
//! ([`cookie_token`]), so the UI goes through the same GraphQL, policy and audit path as every
//! other client. The UI's page paths (`/catalog`, `/templates/lead-capture`…) all serve
//! `index.html`; the page's own router draws them.
//!
//! Never: accept a cookie without the matching CSRF header, mint demo tokens when a real key is
//! configured, or log a token.

mod demo_users;

pub use demo_users::DEMO_USERS;

use crate::auth::Subject;
use crate::config::Config;
use crate::error::{ApiError, Code};
use crate::state::AppState;
use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;

/// The HttpOnly cookie holding the JWT.
pub const SESSION_COOKIE: &str = "sy_session";
/// The readable cookie holding the CSRF token.
pub const CSRF_COOKIE: &str = "sy_csrf";
/// The header the page echoes the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Lifetime of a demo user's token.
const DEMO_TTL_SECONDS: i64 = 8 * 3600;
/// Largest sign-in body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Page paths of the UI; each serves `index.html`.
const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/catalog",
    "/connectors/{*rest}",
    "/templates/{*rest}",
    "/contracts",
    "/contracts/{*rest}",
    "/workflows",
    "/workflows/{*rest}",
    "/alerts",
    "/compliance",
    "/compliance/{*rest}",
    "/platform",
];

/// The UI's routes: the session endpoints and the page paths.
pub fn routes(state: AppState) -> Router {
    let mut router =
        Router::new().route("/ui/session", get(current).post(sign_in).delete(sign_out));
    for page in PAGES {
        router = router.route(page, get(index));
    }
    router
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .with_state(state)
}

/// Development mode: no key is configured, so the server signs with the HS256 secret it
/// generated itself (the same test `Authenticator::from_config` makes).
pub fn development_mode(config: &Config) -> bool {
    config.auth.hs256_secret.is_none()
        && config.auth.public_key_file.is_none()
        && config.auth.jwks_url.is_none()
}

/// The values of cookie `name` in the request (a browser may send several `Cookie` headers).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session token of a cookie-authenticated request: `None` without a session cookie;
/// `FORBIDDEN` when the `x-csrf-token` header is missing or does not match the CSRF cookie.
pub fn cookie_token(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let token = cookie(headers, SESSION_COOKIE)?;
    let expected = cookie(headers, CSRF_COOKIE);
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    Some(match (expected, sent) {
        (Some(e), Some(s)) if constant_time_eq(e.as_bytes(), s.as_bytes()) => Ok(token),
        (_, None) => Err(ApiError::Forbidden(format!(
            "{CSRF_HEADER}: a request signed in by cookie must send the `{CSRF_COOKIE}` cookie's value in this header"
        ))),
        _ => Err(ApiError::Forbidden(format!(
            "{CSRF_HEADER}: does not match the `{CSRF_COOKIE}` cookie; sign in again"
        ))),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Cookies get `Secure` unless the page is plain HTTP on a loopback host (local development).
fn secure(headers: &HeaderMap) -> bool {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    https || !is_loopback_host(host)
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn set_cookie(
    name: &str,
    value: &str,
    http_only: bool,
    max_age: Option<i64>,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A GraphQL-shaped error, so the page handles every error the same way.
fn error(status: StatusCode, code: Code, field: &str, message: &str) -> Response {
    let mut ext = json!({ "code": code.as_str() });
    if !field.is_empty() {
        ext["field"] = json!(field);
    }
    (
        status,
        Json(
            json!({ "errors": [{ "message": format!("{field}: {message}"), "extensions": ext }] }),
        ),
    )
        .into_response()
}

fn demo_users() -> Value {
    DEMO_USERS
        .iter()
        .map(|(role, sub, team, does)| {
            json!({ "role": role, "sub": sub, "team": team, "description": does })
        })
        .collect()
}

/// `GET /ui/session`: the sign-in mode, the demo users (development only) and who is signed in.
async fn current(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let dev = development_mode(&state.config);
    let session = match cookie(&headers, SESSION_COOKIE) {
        Some(token) => state.auth.verify(token).await.ok(),
        None => None,
    }
    .map(|s| {
        let team = s.team.clone().or_else(|| state.config.team_of(&s.sub));
        json!({ "sub": s.sub, "roles": s.roles, "team": team })
    });
    Json(json!({
        "mode": if dev { "development" } else { "token" },
        "demoUsers": if dev { demo_users() } else { json!([]) },
        "session": session,
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    /// A demo user's role (development mode only).
    role: Option<String>,
    /// A JWT from the identity provider (or `switchyard token`).
    token: Option<String>,
}

/// `POST /ui/session`: `{"role": "marketer"}` (development) or `{"token": "<JWT>"}`.
async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    // JSON only: a cross-site form cannot send it, which keeps sign-in itself safe from CSRF.
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadUserInput,
            "Content-Type",
            "must be application/json",
        );
    }
    let req: SignIn = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                "body",
                &format!("expected {{\"role\": …}} or {{\"token\": …}} ({e})"),
            );
        }
    };
    let (token, max_age) = match (req.role, req.token) {
        (Some(role), None) => match demo_token(&state, &role) {
            Ok(t) => (t, Some(DEMO_TTL_SECONDS)),
            Err(r) => return *r,
        },
        (None, Some(token)) => (token.trim().to_string(), None),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                "body",
                "send exactly one of `role` or `token`",
            );
        }
    };
    // A JWT is base64url segments and dots; anything else cannot be a token or a cookie value.
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return error(
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            "token",
            "is not a JWT (three base64url parts separated by dots)",
        );
    }
    let subject: Subject = match state.auth.verify(&token).await {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                "token",
                &e.to_string(),
            );
        }
    };
    let secure = secure(&headers);
    let csrf = hex::encode(rand::random::<[u8; 32]>());
    let cookies = [
        set_cookie(SESSION_COOKIE, &token, true, max_age, secure),
        set_cookie(CSRF_COOKIE, &csrf, false, max_age, secure),
    ];
    with_cookies(
        Json(json!({ "sub": subject.sub, "roles": subject.roles, "team": subject.team }))
            .into_response(),
        &cookies,
    )
}

/// Mints a demo user's token, in development mode only.
fn demo_token(state: &AppState, role: &str) -> Result<String, Box<Response>> {
    if !development_mode(&state.config) {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            Code::Forbidden,
            "role",
            "demo users exist only in development mode (no token key configured); paste a token",
        )));
    }
    let Some((_, sub, team, _)) = DEMO_USERS.iter().find(|(r, _, _, _)| *r == role) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "role",
            &format!("`{role}` is not a demo role"),
        )));
    };
    state
        .auth
        .mint_with_team(sub, &[role.to_string()], Some(team), DEMO_TTL_SECONDS)
        .map_err(|e| {
            Box::new(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "role",
                &e.to_string(),
            ))
        })
}

/// `DELETE /ui/session`: signs out by expiring both cookies.
async fn sign_out(headers: HeaderMap) -> Response {
    let secure = secure(&headers);
    let cookies = [
        set_cookie(SESSION_COOKIE, "", true, Some(0), secure),
        set_cookie(CSRF_COOKIE, "", false, Some(0), secure),
    ];
    with_cookies(StatusCode::NO_CONTENT.into_response(), &cookies)
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Everything the page loads comes from this server; nothing inline, nothing third-party.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// `index.html` for every page path.
async fn index() -> Response {
    match web::Assets::get("index.html") {
        Some(file) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
            ],
            file.data.into_owned(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "the web UI is not built into this binary",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "localhost:8080",
            "127.0.0.1:3000",
            "[::1]:80",
            "app.localhost",
            "127.0.0.1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:8080", "[2001:db8::1]:443", ""] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn cookies_are_found_among_several() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; sy_csrf=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("sy_session=t.o.k"));
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("t.o.k"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
