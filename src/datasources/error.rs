//! What can go wrong calling a datasource, and how the client sees it.

use crate::error::ApiError;

/// A datasource call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DatasourceError {
    /// The upstream did not answer within the timeout (or the request's deadline).
    #[error("the {source_name} service did not answer in time")]
    Timeout { source_name: String },
    /// The connection failed (refused, reset, DNS…).
    #[error("the {source_name} service could not be reached: {detail}")]
    Connect { source_name: String, detail: String },
    /// Too many recent failures: calls are refused until a probe succeeds.
    #[error("the {source_name} service is failing; calls are paused (circuit open)")]
    CircuitOpen { source_name: String },
    /// The upstream answered with a status authgate maps to an error.
    #[error("the {source_name} service answered {status}")]
    Status {
        source_name: String,
        status: u16,
        /// the upstream's short `message` / `error`, when it sent one
        message: Option<String>,
    },
    /// The answer was not the JSON expected.
    #[error("the {source_name} service sent an invalid answer: {detail}")]
    InvalidAnswer { source_name: String, detail: String },
    /// The answer was larger than `max_response_bytes`.
    #[error("the {source_name} service sent an answer larger than {limit} bytes")]
    TooLarge { source_name: String, limit: usize },
    /// The service token could not be obtained.
    #[error("no service token for the {source_name} service: {detail}")]
    ServiceToken { source_name: String, detail: String },
    /// A template value cannot be placed in the request (`..` as a path segment…).
    #[error("{0}")]
    BadValue(String),
    /// The field needs the caller's claims, and there is no caller.
    #[error("authentication required")]
    Unauthenticated,
}

impl DatasourceError {
    /// Whether a GET may be retried after this error.
    pub fn retryable(&self) -> bool {
        match self {
            DatasourceError::Timeout { .. } | DatasourceError::Connect { .. } => true,
            DatasourceError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether this counts as a failure of the upstream for its circuit breaker.
    pub fn is_upstream_failure(&self) -> bool {
        match self {
            DatasourceError::Timeout { .. }
            | DatasourceError::Connect { .. }
            | DatasourceError::InvalidAnswer { .. }
            | DatasourceError::TooLarge { .. } => true,
            DatasourceError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The client's view (DESIGN.md codes). A 404 on a nullable field never
    /// gets here: it is `null`.
    pub fn to_api(&self) -> ApiError {
        match self {
            DatasourceError::Timeout { .. } => ApiError::UpstreamUnavailable {
                message: self.to_string(),
                reason: Some("UPSTREAM_TIMEOUT"),
            },
            DatasourceError::Connect { source_name, .. } => ApiError::UpstreamUnavailable {
                message: format!("the {source_name} service could not be reached"),
                reason: Some("UPSTREAM_UNREACHABLE"),
            },
            DatasourceError::CircuitOpen { .. } => ApiError::UpstreamUnavailable {
                message: self.to_string(),
                reason: Some("CIRCUIT_OPEN"),
            },
            DatasourceError::InvalidAnswer { source_name, .. } => ApiError::UpstreamUnavailable {
                message: format!("the {source_name} service sent an invalid answer"),
                reason: Some("UPSTREAM_INVALID_RESPONSE"),
            },
            DatasourceError::TooLarge { source_name, .. } => ApiError::UpstreamUnavailable {
                message: format!("the {source_name} service sent an answer that is too large"),
                reason: Some("UPSTREAM_RESPONSE_TOO_LARGE"),
            },
            DatasourceError::ServiceToken { source_name, .. } => ApiError::UpstreamUnavailable {
                message: format!("the {source_name} service cannot be called: no service token"),
                reason: Some("SERVICE_TOKEN_UNAVAILABLE"),
            },
            DatasourceError::Status {
                source_name,
                status,
                message,
            } => match *status {
                401 | 403 => ApiError::Forbidden(
                    message
                        .clone()
                        .unwrap_or_else(|| format!("the {source_name} service refused access")),
                ),
                400..=499 => ApiError::bad_input(message.clone().unwrap_or_else(|| {
                    format!("the {source_name} service refused the request ({status})")
                })),
                _ => ApiError::UpstreamUnavailable {
                    message: format!("the {source_name} service failed ({status})"),
                    reason: Some("UPSTREAM_ERROR"),
                },
            },
            DatasourceError::BadValue(m) => ApiError::bad_input(m.clone()),
            DatasourceError::Unauthenticated => ApiError::Unauthenticated(None),
        }
    }
}

/// The upstream's `message` or `error` (or `error_description`), when the
/// body is JSON and it is a short string: safe enough to show.
pub(crate) fn upstream_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["message", "error_description", "error"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(|m| m.as_str()))
        .find(|m| !m.is_empty() && m.len() <= 200 && !m.contains('\n'))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_only() {
        assert_eq!(
            upstream_message(br#"{"message":"quantity must be positive"}"#).as_deref(),
            Some("quantity must be positive")
        );
        assert_eq!(
            upstream_message(br#"{"error":"nope"}"#).as_deref(),
            Some("nope")
        );
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(300));
        assert_eq!(upstream_message(long.as_bytes()), None);
        assert_eq!(upstream_message(b"<html>"), None);
        assert_eq!(upstream_message(br#"{"message":{"a":1}}"#), None);
    }
}
