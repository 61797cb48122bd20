//! Local-only admin and test-support endpoints under `/emulator/…`, authenticated with a
//! configured client's credentials (HTTP Basic).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::AdminClient;
use super::http_util::{basic_credentials, missing_param, oauth_error, ok_json};
use super::Emulator;

/// The caller holds a configured client's credentials (HTTP Basic), else
/// `401 access_denied` with a `Basic` challenge (see `extract::AdminClient`).
pub(super) fn require_client(emu: &Emulator, headers: &HeaderMap) -> Result<(), Response> {
    match basic_credentials(headers) {
        Some((id, secret)) if emu.client_by_secret(&id, &secret).is_some() => Ok(()),
        _ => {
            let mut res = oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"authgate-emulator\""),
            );
            Err(res)
        }
    }
}

/// `POST /emulator/admin/rotate-keys` → `{"current_kid","next_kid","previous_kid"}`.
pub(crate) async fn rotate_keys(State(emu): State<Arc<Emulator>>, _: AdminClient) -> Response {
    if let Err(error) = emu.rotate_keys().await {
        tracing::error!(%error, "key rotation failed");
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Key rotation failed",
        );
    }
    let kids = emu.lock().keys.kids();
    ok_json(StatusCode::OK, kids)
}

/// `GET /emulator/tickets/last?email=` → the last reset/ticket link issued for the address.
pub(crate) async fn last_link(
    State(emu): State<Arc<Emulator>>,
    Query(q): Query<HashMap<String, String>>,
    _: AdminClient,
) -> Response {
    let Some(email) = q.get("email") else {
        return missing_param("email");
    };
    let email = email.trim().to_lowercase();
    match emu.lock().last_links.get(&email) {
        Some(link) => ok_json(
            StatusCode::OK,
            json!({"email": link.email, "kind": link.kind, "url": link.url, "created_at": link.created_at}),
        ),
        None => oauth_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No link was issued for this email.",
        ),
    }
}

/// `POST /emulator/brute-force/reset[?email=]` → 204; all counters without `email`.
pub(crate) async fn reset_brute_force(
    State(emu): State<Arc<Emulator>>,
    Query(q): Query<HashMap<String, String>>,
    _: AdminClient,
) -> Response {
    emu.brute_reset_email(q.get("email").map(String::as_str));
    StatusCode::NO_CONTENT.into_response()
}
