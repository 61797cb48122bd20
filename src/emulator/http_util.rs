//! Request parsing (JSON or form bodies), the three Auth0 error shapes, small helpers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub(crate) const JSON_UTF8: &str = "application/json; charset=utf-8";

/// A POST body read as a flat map, whatever its content type.
pub(crate) struct Params(pub Map<String, Value>);

impl Params {
    /// Parses JSON (`application/json`) or form (`application/x-www-form-urlencoded`) bodies;
    /// without a content type, JSON is tried first.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, &'static str> {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let form = |b: &[u8]| {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(b)
                .map(|pairs| {
                    Params(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect(),
                    )
                })
                .map_err(|_| "Invalid form body")
        };
        let json = |b: &[u8]| match serde_json::from_slice::<Value>(b) {
            Ok(Value::Object(m)) => Ok(Params(m)),
            _ => Err("Invalid JSON body"),
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params(Map::new()));
        }
        if ct.starts_with("application/json") {
            json(body)
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            form(body)
        } else {
            json(body).or_else(|_| form(body))
        }
    }

    /// A string parameter; numbers and booleans are accepted as their text. Empty → `None`.
    pub fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.0.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    res
}

/// 200/201 JSON.
pub(crate) fn ok_json(status: StatusCode, body: Value) -> Response {
    json_response(status, body)
}

/// OAuth-style error: `{"error","error_description"}` (+ extra fields).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    oauth_error_with(status, error, description, Map::new())
}

pub(crate) fn oauth_error_with(
    status: StatusCode,
    error: &str,
    description: &str,
    extra: Map<String, Value>,
) -> Response {
    let mut body = Map::new();
    body.insert("error".into(), Value::String(error.into()));
    body.insert(
        "error_description".into(),
        Value::String(description.into()),
    );
    body.extend(extra);
    json_response(status, Value::Object(body))
}

/// The request's parameters, or the `invalid_request` error Auth0 answers an
/// unreadable body with on `/oauth/*` and `/mfa/*` alike: one place, so the
/// endpoints cannot drift apart in that answer.
pub(crate) fn oauth_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, Response> {
    Params::parse(headers, body)
        .map_err(|m| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", m))
}

/// Auth0's answer to wrong client credentials at `/oauth/token` and `/mfa/*`.
pub(crate) fn client_denied() -> Response {
    oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
}

/// Auth0's answer to wrong client credentials at `/oauth/revoke`.
pub(crate) fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Client authentication failed.",
    )
}

/// Auth0's answer to a request without a required parameter, the same on every
/// `/oauth/*`, `/mfa/*` and emulator endpoint that uses it.
pub(crate) fn missing_param(name: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &format!("Missing required parameter: {name}"),
    )
}

/// DB-connection-style error: `{"name","code","description","statusCode"}`.
pub(crate) fn db_error(code: &str, description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"name": "BadRequestError", "code": code, "description": description, "statusCode": 400}),
    )
}

/// A DB-connection-style body already built (password errors).
pub(crate) fn db_error_body(body: Value) -> Response {
    json_response(StatusCode::BAD_REQUEST, body)
}

/// Management API error: `{"statusCode","error","message"[,"errorCode"]}`.
pub(crate) fn mgmt_error(status: StatusCode, message: &str, error_code: Option<&str>) -> Response {
    let mut body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    if let (Some(code), Some(obj)) = (error_code, body.as_object_mut()) {
        obj.insert("errorCode".into(), Value::String(code.into()));
    }
    json_response(status, body)
}

pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

pub(crate) fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn now_secs() -> u64 {
    epoch_secs(now())
}

/// `2023-06-14T21:36:26.399Z`, the Auth0 timestamp format.
pub(crate) fn timestamp() -> String {
    humantime::format_rfc3339_millis(now()).to_string()
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Only hashes of tokens are stored.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// `Authorization: Basic` credentials, if present and well-formed.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .unwrap_or_else(|_| s.to_string())
    };
    Some((dec(id), dec(secret)))
}

/// `Authorization: Bearer` token, if present.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty())
        .then(|| rest.trim().to_string())
}

/// A one-second window counter that only reports (`x-ratelimit-*`), never refuses.
pub(crate) struct RateWindow {
    window: AtomicU64,
    count: AtomicU64,
}

pub(crate) const RATE_LIMIT: u64 = 100;

impl RateWindow {
    pub fn new() -> Self {
        Self {
            window: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Returns (limit, remaining, reset epoch seconds).
    pub fn hit(&self) -> (u64, u64, u64) {
        let second = now_secs();
        if self.window.swap(second, Ordering::Relaxed) != second {
            self.count.store(0, Ordering::Relaxed);
        }
        let used = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        (RATE_LIMIT, RATE_LIMIT.saturating_sub(used), second + 1)
    }
}

pub(crate) fn add_rate_headers(
    headers: &mut HeaderMap,
    (limit, remaining, reset): (u64, u64, u64),
) {
    for (name, value) in [
        ("x-ratelimit-limit", limit),
        ("x-ratelimit-remaining", remaining),
        ("x-ratelimit-reset", reset),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

pub(crate) fn duration_secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// Minimal HTML escaping for the reset page.
pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn params_from_form_and_json() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let p = Params::parse(&h, b"a=1&b=x%20y").unwrap();
        assert_eq!(p.str("b").as_deref(), Some("x y"));
        let p = Params::parse(&HeaderMap::new(), br#"{"a":1,"b":true}"#).unwrap();
        assert_eq!(p.str("a").as_deref(), Some("1"));
        assert_eq!(p.bool("b"), Some(true));
    }
}
