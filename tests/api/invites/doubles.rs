//! Failure modes the emulator cannot produce, with wiremock doubles that answer
//! as auth0-wire.md §8 says.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::invite::{InviteInput, InviteService, InviteSettings};
use serde_json::json;
use wiremock::matchers::{any, body_partial_json, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::helpers::user;

pub(super) const USER_ID: &str = "auth0|63d1aa";

/// `m p`, answered `status` with the JSON `body`.
pub(super) fn answer(m: &str, p: &str, status: u16, body: serde_json::Value) -> Mock {
    Mock::given(method(m))
        .and(path(p))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
}

/// inviteUser of `email` with `roles`, by the caller holding `token`.
pub(super) async fn invite_as(app: &TestApp, email: &str, roles: &[&str], token: &str) -> Gql {
    app.gql(
        INVITE,
        json!({"input": {"email": email, "roles": roles}}),
        Some(token),
    )
    .await
}

/// A double that answers the Management token and the role listing, and a
/// gateway on it.
pub(super) async fn listing_double() -> (MockServer, TestApp) {
    let (server, svc) = double().await;
    let app = gateway(svc).await;
    token(1).mount(&server).await;
    roles().mount(&server).await;
    (server, app)
}

/// A double that fails the test if any request reaches it, and the service on it.
pub(super) async fn untouched_double() -> (MockServer, Arc<InviteService>) {
    let (server, svc) = double().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    (server, svc)
}

pub(super) async fn double() -> (MockServer, Arc<InviteService>) {
    let server = MockServer::start().await;
    let base: Url = format!("{}/", server.uri()).parse().unwrap();
    let svc = service(&auth0_for(base), InviteSettings::default());
    (server, svc)
}

pub(super) fn token(expect: u64) -> Mock {
    answer(
        "POST",
        "/oauth/token",
        200,
        json!({
            "access_token": "mgmt-token", "expires_in": 86400, "token_type": "Bearer"
        }),
    )
    .expect(expect)
}

pub(super) fn roles() -> Mock {
    answer(
        "GET",
        "/api/v2/roles",
        200,
        json!({
            "roles": [{"id": "rol_user", "name": "user"}, {"id": "rol_admin", "name": "admin"}],
            "start": 0, "limit": 100, "total": 2
        }),
    )
}

/// `GET /api/v2/roles/{id}/permissions` (with totals), permissions of our API.
pub(super) fn perms(role_id: &str, names: &[&str]) -> Mock {
    let items: Vec<serde_json::Value> = names
        .iter()
        .map(|n| json!({"permission_name": n, "description": "", "resource_server_name": "API", "resource_server_identifier": API}))
        .collect();
    answer(
        "GET",
        &format!("/api/v2/roles/{role_id}/permissions"),
        200,
        json!({
            "permissions": items, "start": 0, "limit": 100, "total": names.len()
        }),
    )
}

const ASSIGN_ROLES: (&str, &str) = ("POST", r"^/api/v2/users/[^/]+/roles$");
const TICKET: (&str, &str) = ("POST", r"^/api/v2/tickets/password-change$");

/// Every Management API write, each expected `n` times.
pub(super) async fn writes(server: &MockServer, n: u64) {
    let all = [
        ("POST", r"^/api/v2/users$"),
        ASSIGN_ROLES,
        TICKET,
        ("PATCH", r"^/api/v2/users/.*$"),
        ("DELETE", r"^/api/v2/users/[^/]+$"),
        ("DELETE", r"^/api/v2/users/[^/]+/roles$"),
    ];
    expect_calls(server, &all, n).await;
}

/// Each of `routes` (method, path regex), answered 500 and expected `n` times.
async fn expect_calls(server: &MockServer, routes: &[(&str, &str)], n: u64) {
    for (m, p) in routes {
        Mock::given(method(*m))
            .and(path_regex(*p))
            .respond_with(ResponseTemplate::new(500))
            .expect(n)
            .mount(server)
            .await;
    }
}

pub(super) fn created(email: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "user_id": USER_ID, "email": email, "email_verified": false,
        "identities": [{"connection": "Username-Password-Authentication", "user_id": "63d1aa", "provider": "auth0", "isSocial": false}],
        "logins_count": 0
    }))
}

/// `POST /api/v2/users`, answered as a created invitee with `email`.
pub(super) fn create_user(email: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(created(email))
}

/// Role assignment to the invitee, answered 204.
pub(super) fn assign_roles() -> Mock {
    Mock::given(method("POST"))
        .and(path("/api/v2/users/auth0%7C63d1aa/roles"))
        .respond_with(ResponseTemplate::new(204))
}

/// Auth0's 409 to a create for an address an account already holds.
pub(super) fn user_exists() -> ResponseTemplate {
    ResponseTemplate::new(409).set_body_json(json!({
        "statusCode": 409, "error": "Conflict", "message": "The user already exists.", "errorCode": "auth0_idp_error"
    }))
}

pub(super) fn ticket() -> Mock {
    answer(
        "POST",
        "/api/v2/tickets/password-change",
        201,
        json!({
            "ticket": "https://acme.eu.auth0.com/u/reset-password?ticket=vCXr123#"
        }),
    )
}

#[tokio::test]
async fn refused_callers_cause_no_management_call() {
    let (server, svc) = untouched_double().await;
    let app = gateway(svc).await;
    let vars = json!({"input": {"email": "x@example.com", "roles": ["user"]}});
    for (token, code) in [
        (None, "UNAUTHENTICATED"),
        (Some("revoked"), "UNAUTHENTICATED"),
        (Some("user"), "FORBIDDEN"),
    ] {
        let r = app.gql(INVITE, vars.clone(), token).await;
        assert_eq!(r.code(0), code, "{token:?}");
    }
    let r = app.gql(LIST, json!({}), None).await;
    assert_eq!(r.code(0), "UNAUTHENTICATED");
    let r = app
        .gql(RESEND, json!({"email": "x@example.com"}), Some("user"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN");
    server.verify().await;
}

#[tokio::test]
async fn a_retry_completes_an_invitation_that_failed_half_way() {
    let (server, svc) = double().await;
    let app = gateway(svc).await;
    token(1).mount(&server).await;
    roles().expect(1).mount(&server).await;
    perms("rol_user", &["read:orders"])
        .expect(1)
        .mount(&server)
        .await;
    answer("GET", "/api/v2/users/auth0%7C63d1aa/roles", 200, json!([]))
        .expect(1)
        .mount(&server)
        .await;
    // First creation succeeds; afterwards the user exists.
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .and(body_partial_json(json!({
            "email": "half@example.com", "email_verified": false, "verify_email": false,
            "connection": "Username-Password-Authentication",
            "app_metadata": {"invited": true, "invited_by": "auth0|admin", "invitation_roles": ["user"]}
        })))
        .respond_with(created("half@example.com"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(user_exists())
        .expect(1)
        .mount(&server)
        .await;
    // Role assignment is down once.
    Mock::given(method("POST"))
        .and(path("/api/v2/users/auth0%7C63d1aa/roles"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream connect error"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/auth0%7C63d1aa/roles"))
        .and(body_partial_json(json!({"roles": ["rol_user"]})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users-by-email"))
        .and(query_param("email", "half@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "user_id": USER_ID, "email": "half@example.com", "email_verified": false,
            "identities": [{"connection": "Username-Password-Authentication"}],
            "logins_count": 0,
            "app_metadata": {"invited": true, "invited_by": "auth0|admin",
                             "invited_at": "2026-01-01T00:00:00Z", "invitation_roles": ["user"]}
        }])))
        .expect(1)
        .mount(&server)
        .await;
    // the fresh link's expiry is recorded before the link exists
    Mock::given(method("PATCH"))
        .and(path("/api/v2/users/auth0%7C63d1aa"))
        .and(body_partial_json(json!({
            "app_metadata": {"invitation_resent_by": "auth0|admin"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "user_id": USER_ID, "email": "half@example.com", "logins_count": 0
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/tickets/password-change"))
        .and(body_partial_json(json!({
            "user_id": USER_ID, "ttl_sec": 604800, "mark_email_as_verified": true, "client_id": CLIENT_ID
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "ticket": "https://acme.eu.auth0.com/u/reset-password?ticket=vCXr123#"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let vars = json!({"input": {"email": "half@example.com", "roles": ["user"]}});
    let r = app.gql(INVITE, vars.clone(), Some("admin")).await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE", "{}", r.body);
    let r = app.gql(INVITE, vars, Some("admin")).await;
    let inv = data(&r, "inviteUser");
    assert_eq!(inv["resent"], true);
    assert_eq!(inv["userId"], USER_ID);
    assert_eq!(
        inv["ticketUrl"],
        "https://acme.eu.auth0.com/u/reset-password?ticket=vCXr123#type=invite"
    );
    server.verify().await;
}

#[tokio::test]
async fn management_rate_limit_becomes_rate_limited_with_retry_after() {
    let (server, app) = listing_double().await;
    perms("rol_user", &["read:orders"]).mount(&server).await;
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "50")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({
                    "statusCode": 429, "error": "Too Many Requests",
                    "message": "Global per second users_write group limit has been reached",
                    "errorCode": "too_many_requests"
                })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let r = invite_as(&app, "slow@example.com", &["user"], "admin").await;
    assert_eq!(r.code(0), "RATE_LIMITED", "{}", r.body);
    let retry = r.body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((25..=31).contains(&retry), "{retry}");
}

#[tokio::test]
async fn missing_management_scope_is_an_internal_error_with_nothing_leaked() {
    let (server, svc) = double().await;
    let app = gateway(svc).await;
    token(1).mount(&server).await;
    answer(
        "GET",
        "/api/v2/roles",
        403,
        json!({
            "statusCode": 403, "error": "Forbidden",
            "message": "Insufficient scope, expected any of: read:roles", "errorCode": "insufficient_scope"
        }),
    )
    .mount(&server)
    .await;
    let r = invite_as(&app, "scope@example.com", &["user"], "admin").await;
    assert_eq!(r.code(0), "INTERNAL_SERVER_ERROR");
    let msg = r.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        !msg.contains("scope") && !msg.contains("mgmt-token"),
        "{msg}"
    );
}

#[tokio::test]
async fn management_outage_is_upstream_unavailable() {
    let (server, app) = listing_double().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let r = invite_as(&app, "down@example.com", &[], "admin").await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
}

#[tokio::test]
async fn one_token_and_one_role_listing_serve_fifty_invitations() {
    let (server, svc) = double().await;
    token(1).mount(&server).await;
    roles().expect(1).mount(&server).await;
    // one fetch of the role's permissions serves every check
    perms("rol_admin", &["create:invitations"])
        .expect(1)
        .mount(&server)
        .await;
    create_user("many@example.com")
        .expect(50)
        .mount(&server)
        .await;
    assign_roles().expect(50).mount(&server).await;
    ticket().expect(50).mount(&server).await;
    let admin = user("auth0|admin", &["create:invitations"], &["admin"]);
    let results = futures::future::join_all((0..50).map(|i| {
        let svc = svc.clone();
        let admin = admin.clone();
        async move {
            svc.invite(
                &admin,
                InviteInput {
                    email: format!("many{i}@example.com"),
                    roles: vec!["admin".into()],
                    ..InviteInput::default()
                },
            )
            .await
        }
    }))
    .await;
    for r in results {
        let inv = r.unwrap();
        assert_eq!(inv.roles, ["admin"]);
        assert!(!inv.resent);
        assert!(inv.expires_at.unwrap() > SystemTime::now() + Duration::from_secs(6 * 86400));
        assert!(
            !format!("{inv:?}").contains("vCXr123"),
            "Debug hides the link"
        );
    }
    server.verify().await;
}

#[tokio::test]
async fn a_refused_grant_makes_no_management_write() {
    let (server, app) = listing_double().await;
    // the support agent (`admin` token) lacks `write:orders`
    perms(
        "rol_admin",
        &["create:invitations", "read:orders", "write:orders"],
    )
    .expect(1)
    .mount(&server)
    .await;
    // the same permission name on another API is not the one it holds
    answer(
        "GET",
        "/api/v2/roles/rol_user/permissions",
        200,
        json!([
            {"permission_name": "read:orders", "resource_server_identifier": "https://other.example.com"}
        ]),
    )
    .expect(1)
    .mount(&server)
    .await;
    writes(&server, 0).await;
    for roles in [json!(["admin"]), json!(["user"]), json!(["user", "admin"])] {
        let r = app
            .gql(
                INVITE,
                json!({"input": {"email": "mailbox2@example.com", "roles": roles}}),
                Some("admin"),
            )
            .await;
        assert_eq!(r.code(0), "FORBIDDEN", "{roles}: {}", r.body);
        assert!(r.body["data"]["inviteUser"].is_null());
    }
    server.verify().await;
}

#[tokio::test]
async fn an_account_no_invitation_created_is_never_changed() {
    let (server, app) = listing_double().await;
    perms("rol_user", &["read:orders"]).mount(&server).await;
    // the create fails: the address is taken by an account that signed up itself
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(user_exists())
        .expect(1)
        .mount(&server)
        .await;
    answer(
        "GET",
        "/api/v2/users-by-email",
        200,
        json!([{
            "user_id": USER_ID, "email": "someone@example.com", "email_verified": false,
            "identities": [{"connection": "Username-Password-Authentication"}],
            "logins_count": 0, "app_metadata": {}
        }]),
    )
    .expect(2)
    .mount(&server)
    .await;
    expect_calls(&server, &[ASSIGN_ROLES, TICKET], 0).await;
    let r = invite_as(&app, "someone@example.com", &["user"], "admin").await;
    assert_eq!(r.code(0), "USER_EXISTS", "{}", r.body);
    let r = app
        .gql(
            RESEND,
            json!({"email": "someone@example.com"}),
            Some("admin"),
        )
        .await;
    assert_eq!(r.code(0), "USER_EXISTS", "{}", r.body);
    server.verify().await;
}

#[tokio::test]
async fn a_client_causes_no_management_call() {
    let (server, svc) = untouched_double().await;
    let app = gateway_custom(svc, |_| {}).await;
    let r = invite_as(&app, "x@example.com", &[], "client").await;
    assert_eq!(r.code(0), "FORBIDDEN");
    let r = app
        .gql(RESEND, json!({"email": "x@example.com"}), Some("client"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN");
    let r = app.gql(LIST, json!({}), Some("client")).await;
    assert_eq!(r.code(0), "FORBIDDEN");
    server.verify().await;
}
