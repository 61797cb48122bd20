//! Management API writes to one user: `PATCH` and `DELETE /api/v2/users/{id}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value};

use super::db::{picture_for, Db, UserRecord};
use super::http_util::{ok_json, timestamp, Params};
use super::mgmt::{
    authorize, authorized_body, bad_request, checked_hash, user_not_found, wrong_type, Answer,
};
use super::Emulator;

/// The root properties Auth0 lets a PATCH name (the others are refused as
/// "additional properties").
const PATCHABLE: &[&str] = &[
    "app_metadata",
    "blocked",
    "client_id",
    "connection",
    "email",
    "email_verified",
    "family_name",
    "given_name",
    "name",
    "nickname",
    "password",
    "phone_number",
    "phone_verified",
    "picture",
    "user_metadata",
    "username",
    "verify_email",
    "verify_phone_number",
];

/// A profile string a PATCH may set, or unset with `null`.
type Field = Option<Option<String>>;

/// A validated PATCH body. No `Debug`: it may hold a password.
#[derive(Default)]
struct UserPatch {
    blocked: Option<bool>,
    email_verified: Option<bool>,
    email: Option<String>,
    password: Option<String>,
    name: Field,
    nickname: Field,
    picture: Field,
    given_name: Field,
    family_name: Field,
    username: Field,
    user_metadata: Option<Map<String, Value>>,
    app_metadata: Option<Map<String, Value>>,
}

fn invalid(message: &str) -> axum::response::Response {
    bad_request(
        &format!("Payload validation error: {message}."),
        "invalid_body",
    )
}

fn boolean(key: &str, v: &Value) -> Result<bool, axum::response::Response> {
    v.as_bool().ok_or_else(|| wrong_type(key, "boolean", v))
}

/// A string within Auth0's length bounds for that property.
fn text(key: &str, v: &Value, max: usize) -> Result<String, axum::response::Response> {
    let s = v.as_str().ok_or_else(|| wrong_type(key, "string", v))?;
    let chars = s.chars().count();
    if chars == 0 {
        return Err(invalid(&format!(
            "'String is too short (0 chars), minimum 1' on property {key}"
        )));
    }
    if chars > max {
        return Err(invalid(&format!(
            "'String is too long ({chars} chars), maximum {max}' on property {key}"
        )));
    }
    Ok(s.to_string())
}

fn nullable_text(key: &str, v: &Value, max: usize) -> Result<Field, axum::response::Response> {
    match v {
        Value::Null => Ok(Some(None)),
        v => text(key, v, max).map(|s| Some(Some(s))),
    }
}

/// Metadata: an object, or `null` (which, like `{}`, clears it).
fn metadata(key: &str, v: &Value) -> Result<Map<String, Value>, axum::response::Response> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        v => Err(wrong_type(key, "object", v)),
    }
}

impl UserPatch {
    fn parse(p: &Params, connection: &str) -> Result<Self, axum::response::Response> {
        if p.0.is_empty() {
            return Err(invalid("'Too few properties defined (0), minimum 1'"));
        }
        if let Some(key) = p.0.keys().find(|k| !PATCHABLE.contains(&k.as_str())) {
            return Err(invalid(&format!(
                "'Additional properties not allowed: {key}'"
            )));
        }
        let mut patch = UserPatch::default();
        for (key, v) in &p.0 {
            let key = key.as_str();
            match key {
                "blocked" => patch.blocked = Some(boolean(key, v)?),
                "email_verified" => patch.email_verified = Some(boolean(key, v)?),
                // accepted; the emulator sends no e-mail to verify
                "verify_email" => {
                    boolean(key, v)?;
                }
                "email" => {
                    let raw = text(key, v, 512)?;
                    let email = crate::email::Email::parse(&raw).map_err(|_| {
                        invalid(
                            "'Object didn't pass validation for format email' on property email",
                        )
                    })?;
                    patch.email = Some(email.into_string());
                }
                "password" => patch.password = Some(text(key, v, 1024)?),
                "name" => patch.name = nullable_text(key, v, 300)?,
                "nickname" => patch.nickname = nullable_text(key, v, 300)?,
                "picture" => patch.picture = nullable_text(key, v, 2048)?,
                "given_name" => patch.given_name = nullable_text(key, v, 150)?,
                "family_name" => patch.family_name = nullable_text(key, v, 150)?,
                "username" => patch.username = nullable_text(key, v, 128)?,
                "user_metadata" => patch.user_metadata = Some(metadata(key, v)?),
                "app_metadata" => patch.app_metadata = Some(metadata(key, v)?),
                "connection" => {
                    if text(key, v, 128)? != connection {
                        return Err(bad_request(
                            "The connection does not exist.",
                            "inexistent_connection",
                        ));
                    }
                }
                "client_id" => {
                    text(key, v, 128)?;
                }
                // phone_number, phone_verified, verify_phone_number
                _ => {
                    return Err(bad_request(
                        "The emulator's database connection has no phone numbers.",
                        "operation_not_supported",
                    ))
                }
            }
        }
        Ok(patch)
    }

    /// Another user already has the new e-mail or username.
    fn conflict(&self, db: &Db, internal_id: &str) -> Result<(), axum::response::Response> {
        let others = || db.users.values().filter(|u| u.id != internal_id);
        if let Some(email) = &self.email {
            if others().any(|u| &u.email == email) {
                return Err(bad_request(
                    "The specified new email already exists",
                    "email_exists",
                ));
            }
        }
        if let Some(Some(username)) = &self.username {
            if others().any(|u| u.username.as_ref() == Some(username)) {
                return Err(bad_request(
                    "The username provided is in use already.",
                    "username_exists",
                ));
            }
        }
        Ok(())
    }

    fn apply(self, user: &mut UserRecord, password_hash: Option<String>) {
        if let Some(email) = self.email {
            if email != user.email {
                user.email = email;
                // a new address is unverified unless the same call says otherwise
                user.email_verified = false;
            }
        }
        if let Some(v) = self.email_verified {
            user.email_verified = v;
        }
        if let Some(v) = self.blocked {
            user.blocked = v;
        }
        if let Some(hash) = password_hash {
            user.password_hash = hash;
        }
        // unset profile strings fall back to what a new user gets
        if let Some(v) = self.name {
            user.name = v.unwrap_or_else(|| user.email.clone());
        }
        if let Some(v) = self.nickname {
            user.nickname =
                v.unwrap_or_else(|| user.email.split('@').next().unwrap_or_default().to_string());
        }
        if let Some(v) = self.picture {
            user.picture = v.unwrap_or_else(|| picture_for(&user.email));
        }
        for (field, v) in [
            (&mut user.given_name, self.given_name),
            (&mut user.family_name, self.family_name),
            (&mut user.username, self.username),
        ] {
            if let Some(v) = v {
                *field = v;
            }
        }
        if let Some(m) = self.user_metadata {
            merge_metadata(&mut user.user_metadata, m);
        }
        if let Some(m) = self.app_metadata {
            merge_metadata(&mut user.app_metadata, m);
        }
        user.updated_at = timestamp();
    }
}

/// Auth0's metadata merge: top-level keys are merged (a nested object is
/// replaced whole), a key set to `null` is removed, and an empty object clears
/// the metadata.
fn merge_metadata(into: &mut Map<String, Value>, patch: Map<String, Value>) {
    if patch.is_empty() {
        into.clear();
        return;
    }
    for (k, v) in patch {
        if v.is_null() {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

/// `PATCH /api/v2/users/{id}` → 200 and the updated user.
pub(crate) async fn update_user(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Answer {
    let p = authorized_body(&emu, &headers, &["update:users"], &body)?;
    let mut patch = UserPatch::parse(&p, &emu.settings.connection)?;
    // an unknown user is answered before a password is hashed for it
    if emu.lock().user_by_user_id(&id).is_none() {
        return Err(user_not_found());
    }
    let hash = match patch.password.take() {
        Some(password) => Some(checked_hash(&emu, password).await?),
        None => None,
    };
    let mut db = emu.lock();
    let internal = db
        .user_by_user_id(&id)
        .map(|u| u.id.clone())
        .ok_or_else(user_not_found)?;
    patch.conflict(&db, &internal)?;
    let user = db.users.get_mut(&internal).ok_or_else(user_not_found)?;
    patch.apply(user, hash);
    let out = user.to_json(&emu.settings.connection);
    emu.persist(&db);
    Ok(ok_json(StatusCode::OK, out))
}

/// `DELETE /api/v2/users/{id}` → 204, also for a user that does not exist
/// (Auth0 answers a repeated delete the same way). The user's refresh tokens,
/// opaque tokens and unused tickets go with it, so an invitation link dies
/// with the invited account.
pub(crate) async fn delete_user(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    authorize(&emu, &headers, &["delete:users"])?;
    let removed = {
        let mut db = emu.lock();
        let found = db
            .user_by_user_id(&id)
            .map(|u| (u.id.clone(), u.user_id(), u.email.clone()));
        if let Some((internal, user_id, _)) = &found {
            db.users.remove(internal);
            db.refresh_tokens.retain(|_, r| &r.user_id != user_id);
            db.opaque_tokens.retain(|_, t| &t.user_id != user_id);
            db.tickets.retain(|_, t| &t.user_id != user_id);
            emu.persist(&db);
        }
        found
    };
    if let Some((_, _, email)) = removed {
        emu.brute_reset_email(Some(&email));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
