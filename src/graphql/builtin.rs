//! Resolvers that ship with authgate, bound to `schema/auth.graphql` by name.

use std::time::{Duration, UNIX_EPOCH};

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{Name, Value};

use super::{strings, Bindings};
use crate::auth::User;
use crate::error::ApiError;

/// The provider-backed operations, answered "not configured" until a
/// provider is wired in (they are replaced by name when one is; the session
/// service answers `Query.me`, whose viewer [`viewer_fields`] builds).
pub const AUTH_OPERATIONS: &[&str] = &[
    "Query.me",
    "Mutation.signup",
    "Mutation.login",
    "Mutation.refreshToken",
    "Mutation.logout",
    "Mutation.requestPasswordReset",
    "Mutation.mfaEnroll",
    "Mutation.mfaChallenge",
    "Mutation.mfaVerify",
    "Mutation.mfaPoll",
    "Mutation.inviteUser",
    "Mutation.resendInvitation",
    "Mutation.cancelInvitation",
    "Mutation.updateUserRoles",
    "Query.invitations",
];

/// Placeholders for the provider-backed operations.
pub fn builtin_bindings() -> Bindings {
    let mut b = Bindings::default();
    for op in AUTH_OPERATIONS {
        b.bind(op, |_ctx: ResolverContext<'_>| {
            FieldFuture::new(async move {
                Err::<Option<FieldValue>, _>(
                    ApiError::UpstreamUnavailable {
                        message: "no identity provider is configured for this operation".into(),
                        reason: Some("NOT_CONFIGURED"),
                    }
                    .into(),
                )
            })
        });
    }
    b
}

/// RFC 3339 (UTC, seconds) of a Unix time.
pub fn rfc3339(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix)).to_string()
}

/// The `Viewer` object of a verified user; `profile` (ID-token or
/// `/userinfo` claims) fills the profile fields when given.
pub fn viewer_value(
    u: &User,
    profile: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Value {
    viewer_fields(u, profile, |_| true)
}

/// [`viewer_value`] with only the fields `wanted` says the query selects
/// (`Query.me` builds no `claims` copy for `{ me { id } }`).
pub fn viewer_fields(
    u: &User,
    profile: Option<&serde_json::Map<String, serde_json::Value>>,
    wanted: impl Fn(&str) -> bool,
) -> Value {
    let claim = |k: &str| -> Value {
        profile
            .and_then(|p| p.get(k))
            .or_else(|| u.claims.get(k))
            .and_then(|v| Value::from_json(v.clone()).ok())
            .unwrap_or(Value::Null)
    };
    let fields: [(&str, &dyn Fn() -> Value); 11] = [
        ("id", &|| Value::String(u.subject.clone())),
        ("scopes", &|| strings(&u.scopes)),
        ("permissions", &|| strings(&u.permissions)),
        ("roles", &|| strings(&u.roles)),
        ("expiresAt", &|| Value::String(rfc3339(u.expires_at))),
        ("claims", &|| {
            Value::from_json(serde_json::Value::Object(u.claims.clone())).unwrap_or(Value::Null)
        }),
        ("email", &|| claim("email")),
        ("emailVerified", &|| claim("email_verified")),
        ("name", &|| claim("name")),
        ("nickname", &|| claim("nickname")),
        ("picture", &|| claim("picture")),
    ];
    Value::Object(
        fields
            .into_iter()
            .filter(|(k, _)| wanted(k))
            .map(|(k, v)| (Name::new(k), v()))
            .collect(),
    )
}
