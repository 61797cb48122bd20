//! The password-reset page a ticket link opens: `GET/POST /u/reset-password`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::db::hash_password;
use super::http_util::{
    db_error, db_error_body, html_escape, now_secs, ok_json, token_hash, Params,
};
use super::{policy, Emulator};

const INVALID_TICKET: &str = "This ticket is invalid, expired or already used.";

fn page(status: StatusCode, title: &str, message: Option<&str>, ticket: Option<&str>) -> Response {
    // an error is an alert; a success (2xx) is a plain status message
    let (class, role) = if status.is_success() {
        ("success", "status")
    } else {
        ("error", "alert")
    };
    let message = message
        .map(|m| {
            format!(
                "<p class=\"{class}\" role=\"{role}\">{}</p>",
                html_escape(m).replace('\n', "<br>")
            )
        })
        .unwrap_or_default();
    let form = ticket
        .map(|t| {
            format!(
                r#"<form method="post" action="/u/reset-password">
<input type="hidden" name="ticket" value="{}">
<label>New password <input type="password" name="password" autocomplete="new-password" required></label>
<label>Confirm new password <input type="password" name="confirm_password" autocomplete="new-password"></label>
<button type="submit">Reset password</button>
</form>"#,
                html_escape(t)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><p><strong>authgate Auth0 emulator — development only</strong></p><h1>{title}</h1>{message}{form}</body></html>"
    );
    (status, Html(body)).into_response()
}

fn ticket_valid(emu: &Emulator, ticket: &str) -> bool {
    emu.lock()
        .tickets
        .get(&token_hash(ticket))
        .is_some_and(|t| !t.used && t.exp > now_secs())
}

pub(crate) async fn page_get(
    State(emu): State<Arc<Emulator>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match q.get("ticket") {
        Some(t) if ticket_valid(&emu, t) => {
            page(StatusCode::OK, "Change your password", None, Some(t))
        }
        _ => page(
            StatusCode::BAD_REQUEST,
            "Change your password",
            Some(INVALID_TICKET),
            None,
        ),
    }
}

pub(crate) use page_get as page_handler;

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

pub(crate) async fn submit(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_out = wants_json(&headers);
    let fail = |code: &str, message: &str, ticket: Option<&str>| {
        if json_out {
            db_error(code, message)
        } else {
            page(
                StatusCode::BAD_REQUEST,
                "Change your password",
                Some(message),
                ticket,
            )
        }
    };
    let Ok(p) = Params::parse(&headers, &body) else {
        return fail("invalid_body", "Invalid form body", None);
    };
    let Some(ticket) = p.str("ticket") else {
        return fail("invalid_ticket", INVALID_TICKET, None);
    };
    if !ticket_valid(&emu, &ticket) {
        return fail("invalid_ticket", INVALID_TICKET, None);
    }
    let Some(password) = p.str("password") else {
        return fail("invalid_body", "Missing password", Some(&ticket));
    };
    if p.str("confirm_password").is_some_and(|c| c != password) {
        return fail("invalid_body", "Passwords don't match", Some(&ticket));
    }
    if let Err(failure) = policy::check(
        emu.settings.password_policy,
        emu.settings.password_dictionary,
        &password,
    ) {
        return if json_out {
            db_error_body(failure.db_body())
        } else {
            page(
                StatusCode::BAD_REQUEST,
                "Change your password",
                Some(&failure.human()),
                Some(&ticket),
            )
        };
    }
    let hashing = emu.settings.password_hashing;
    let hash = match tokio::task::spawn_blocking(move || hash_password(&password, hashing)).await {
        Ok(Ok(h)) => h,
        _ => return fail("server_error", "Internal error", Some(&ticket)),
    };
    let outcome = {
        let mut db = emu.lock();
        let key = token_hash(&ticket);
        match db
            .tickets
            .get(&key)
            .cloned()
            .filter(|t| !t.used && t.exp > now_secs())
        {
            None => None,
            Some(record) => {
                if let Some(t) = db.tickets.get_mut(&key) {
                    t.used = true;
                }
                let email = db
                    .user_by_user_id(&record.user_id)
                    .map(|u| (u.id.clone(), u.email.clone()));
                if let Some((id, _)) = &email {
                    if let Some(u) = db.users.get_mut(id) {
                        u.password_hash = hash;
                        u.updated_at = super::http_util::timestamp();
                        if record.mark_email_as_verified {
                            u.email_verified = true;
                        }
                    }
                }
                emu.persist(&db);
                Some((record, email.map(|(_, e)| e)))
            }
        }
    };
    let Some((record, email)) = outcome else {
        return fail("invalid_ticket", INVALID_TICKET, None);
    };
    let Some(email) = email else {
        return fail("invalid_ticket", "The user does not exist.", None);
    };
    emu.brute_reset_email(Some(&email));
    tracing::info!("password changed through a ticket");
    if let Some(mut url) = record
        .result_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
    {
        if record.include_email_in_redirect {
            url.query_pairs_mut().append_pair("email", &email);
        }
        if json_out {
            return ok_json(StatusCode::OK, json!({"result_url": url.as_str()}));
        }
        let mut res = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(url.as_str()) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        return res;
    }
    if json_out {
        return ok_json(StatusCode::OK, json!({"message": "Password changed."}));
    }
    page(
        StatusCode::OK,
        "Password changed",
        Some("Your password has been changed successfully."),
        None,
    )
}
