//! The invitation lifecycle against wiremock doubles speaking Auth0's wire
//! format: statuses in listings, cancelling, and role changes. Every refusal
//! is decided before any Management API write.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::doubles::{
    answer, double, listing_double, perms, roles, token, untouched_double, writes, USER_ID,
};
use super::*;

fn ago(days: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(days * 86_400))
        .to_string()
}

fn ahead(days: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(days * 86_400))
        .to_string()
}

/// A user as the Management API answers it, created by an invitation.
fn invited(id: &str, email: &str, logins: u64, invited_at: &str, expires_at: &str) -> Value {
    json!({
        "user_id": id, "email": email, "email_verified": logins > 0,
        "identities": [{"connection": "Username-Password-Authentication", "user_id": id.trim_start_matches("auth0|"), "provider": "auth0", "isSocial": false}],
        "logins_count": logins,
        "created_at": invited_at,
        "app_metadata": {
            "invited": true, "invited_by": "auth0|boss", "invited_by_email": "boss@example.com",
            "invited_at": invited_at, "invitation_expires_at": expires_at,
            "invitation_roles": ["user"]
        }
    })
}

fn by_email(user: Value, expect: u64) -> Mock {
    answer("GET", "/api/v2/users-by-email", 200, json!([user])).expect(expect)
}

fn user_roles(id_path: &str, roles: Value) -> Mock {
    answer(
        "GET",
        &format!("/api/v2/users/{id_path}/roles"),
        200,
        json!({
            "roles": roles, "start": 0, "limit": 100,
            "total": roles.as_array().map_or(0, Vec::len)
        }),
    )
}

/// `GET /api/v2/users/{id_path}`, answered `status` with `body`.
fn user_at(id_path: &str, status: u16, body: Value) -> Mock {
    answer("GET", &format!("/api/v2/users/{id_path}"), status, body)
}

/// A `m` (POST adds, DELETE removes) of exactly `roles` to the colleague, answered 204.
fn colleague_role_write(m: &str, roles: &[&str]) -> Mock {
    Mock::given(method(m))
        .and(path("/api/v2/users/auth0%7Ccolleague/roles"))
        .and(body_json(json!({ "roles": roles })))
        .respond_with(ResponseTemplate::new(204))
}

/// The token, the role listing and both roles' permissions for the role-change
/// tests: `admin` holds `read:users` besides what the support agent has.
async fn role_catalogue(server: &MockServer) {
    token(1).mount(server).await;
    roles().mount(server).await;
    perms(
        "rol_admin",
        &[
            "create:invitations",
            "read:orders",
            "write:orders",
            "read:users",
        ],
    )
    .mount(server)
    .await;
    perms("rol_user", &["read:orders"]).mount(server).await;
}

fn message(r: &Gql) -> String {
    r.body["errors"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Callers who may not cancel or change roles cause no Management API call
/// at all.
#[tokio::test]
async fn refused_callers_cause_no_management_call() {
    let (server, svc) = untouched_double().await;
    let app = gateway_custom(svc, |_| {}).await;
    let cancel = json!({"email": "x@example.com"});
    for (token, code) in [
        (None, "UNAUTHENTICATED"),
        (Some("expired"), "UNAUTHENTICATED"),
        (Some("user"), "FORBIDDEN"),
        (Some("client"), "FORBIDDEN"),
    ] {
        let r = app.gql(CANCEL, cancel.clone(), token).await;
        assert_eq!(r.code(0), code, "{token:?}: {}", r.body);
        assert!(r.body["data"]["cancelInvitation"].is_null());
    }
    let r = app
        .gql(CANCEL, json!({"email": "not an address"}), Some("admin"))
        .await;
    assert_eq!(r.code(0), "BAD_USER_INPUT");

    let change = json!({"userId": "auth0|other", "add": ["user"]});
    for (token, code) in [
        (None, "UNAUTHENTICATED"),
        (Some("user"), "FORBIDDEN"),
        // may invite, but lacks `update:user_roles`
        (Some("admin"), "FORBIDDEN"),
        (Some("client"), "FORBIDDEN"),
    ] {
        let r = app.gql(UPDATE_ROLES, change.clone(), token).await;
        assert_eq!(r.code(0), code, "{token:?}: {}", r.body);
    }
    let r = app.gql(UPDATE_ROLES, change, Some("admin")).await;
    assert!(message(&r).contains("`update:user_roles`"), "{}", r.body);
    // never on one's own account, whatever the roles
    let r = app
        .gql(
            UPDATE_ROLES,
            json!({"userId": "auth0|super", "add": ["admin"]}),
            Some("super"),
        )
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert!(message(&r).contains("your own account"));
    for vars in [
        json!({"userId": "auth0|other"}),
        json!({"userId": "auth0|other", "add": [], "remove": null}),
        json!({"userId": "  ", "add": ["user"]}),
        json!({"userId": "auth0|other", "add": [""]}),
    ] {
        let r = app.gql(UPDATE_ROLES, vars.clone(), Some("super")).await;
        assert_eq!(r.code(0), "BAD_USER_INPUT", "{vars}: {}", r.body);
    }
    let r = app.gql(LIST_STATUS, json!({"status": "ALL"}), None).await;
    assert_eq!(r.code(0), "UNAUTHENTICATED");
    server.verify().await;
}

#[tokio::test]
async fn a_pending_invitation_is_cancelled_by_deleting_the_user() {
    let (server, app) = listing_double().await;
    perms("rol_user", &["read:orders"])
        .expect(1)
        .mount(&server)
        .await;
    by_email(
        invited(USER_ID, "gone@example.com", 0, &ago(1), &ahead(6)),
        1,
    )
    .mount(&server)
    .await;
    user_roles(
        "auth0%7C63d1aa",
        json!([{"id": "rol_user", "name": "user", "description": ""}]),
    )
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v2/users/auth0%7C63d1aa"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let r = app
        .gql(CANCEL, json!({"email": "Gone@Example.com"}), Some("admin"))
        .await;
    let inv = data(&r, "cancelInvitation");
    assert_eq!(inv["userId"], USER_ID);
    assert_eq!(inv["email"], "gone@example.com");
    assert_eq!(inv["status"], "PENDING");
    assert_eq!(inv["roles"], json!(["user"]));
    assert_eq!(
        inv["invitedBy"],
        json!({"sub": "auth0|boss", "email": "boss@example.com"})
    );
    assert!(inv["ticketUrl"].is_null());
    server.verify().await;
}

#[tokio::test]
async fn an_accepted_or_foreign_account_is_never_deleted() {
    let (server, svc) = double().await;
    let app = gateway(svc).await;
    token(1).mount(&server).await;
    writes(&server, 0).await;
    // logged in once: the invitation was accepted
    by_email(
        invited(USER_ID, "active@example.com", 1, &ago(3), &ahead(4)),
        1,
    )
    .up_to_n_times(1)
    .with_priority(1)
    .mount(&server)
    .await;
    // signed up by itself: no invitation created it
    by_email(
        json!({
            "user_id": "auth0|self", "email": "self@example.com", "logins_count": 0,
            "identities": [{"connection": "Username-Password-Authentication"}],
            "app_metadata": {}
        }),
        1,
    )
    .up_to_n_times(1)
    .with_priority(2)
    .mount(&server)
    .await;
    answer("GET", "/api/v2/users-by-email", 200, json!([]))
        .with_priority(3)
        .expect(1)
        .mount(&server)
        .await;
    for (email, says) in [
        ("active@example.com", "already logged in"),
        ("self@example.com", "not created by an invitation"),
        ("nobody@example.com", "no invited user"),
    ] {
        let r = app
            .gql(CANCEL, json!({"email": email}), Some("admin"))
            .await;
        assert_eq!(r.code(0), "BAD_USER_INPUT", "{email}: {}", r.body);
        assert_eq!(r.body["errors"][0]["extensions"]["field"], "email");
        assert!(message(&r).contains(says), "{email}: {}", message(&r));
        assert!(r.body["data"]["cancelInvitation"].is_null());
    }
    server.verify().await;
}

#[tokio::test]
async fn only_who_could_grant_its_roles_cancels_an_invitation() {
    let (server, app) = listing_double().await;
    writes(&server, 0).await;
    // the invitee was made an admin; the support agent lacks `write:orders`
    perms(
        "rol_admin",
        &["create:invitations", "read:orders", "write:orders"],
    )
    .mount(&server)
    .await;
    perms("rol_user", &["read:orders"]).mount(&server).await;
    by_email(
        invited(USER_ID, "vip@example.com", 0, &ago(1), &ahead(6)),
        1,
    )
    .mount(&server)
    .await;
    user_roles(
        "auth0%7C63d1aa",
        json!([{"id": "rol_admin", "name": "admin", "description": ""}]),
    )
    .mount(&server)
    .await;
    let r = app
        .gql(CANCEL, json!({"email": "vip@example.com"}), Some("admin"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert!(message(&r).contains("`admin`"), "{}", message(&r));
    server.verify().await;
}

#[tokio::test]
async fn cancelling_has_its_own_limit_per_address() {
    let (server, svc) = double().await;
    let app = gateway_custom(svc, |s| {
        s.limits.cancel_invitation.per_account = Some(1);
    })
    .await;
    token(1).mount(&server).await;
    answer("GET", "/api/v2/users-by-email", 200, json!([]))
        .expect(1)
        .mount(&server)
        .await;
    let vars = json!({"email": "twice@example.com"});
    let r = app.gql(CANCEL, vars.clone(), Some("admin")).await;
    assert_eq!(r.code(0), "BAD_USER_INPUT", "{}", r.body);
    let r = app.gql(CANCEL, vars, Some("admin")).await;
    assert_eq!(r.code(0), "RATE_LIMITED", "{}", r.body);
    // a refused caller does not use up the address's budget
    let r = app
        .gql(CANCEL, json!({"email": "other@example.com"}), Some("user"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN");
    server.verify().await;
}

#[tokio::test]
async fn listings_answer_status_inviter_and_expiry_and_filter_by_status() {
    let (server, svc) = double().await;
    let app = gateway(svc).await;
    token(1).mount(&server).await;
    let pending = invited("auth0|p", "pending@example.com", 0, &ago(1), &ahead(6));
    let expired = invited("auth0|e", "expired@example.com", 0, &ago(9), &ago(2));
    let accepted = invited("auth0|a", "accepted@example.com", 3, &ago(5), &ahead(2));
    let page = |users: Vec<Value>| {
        let n = users.len();
        ResponseTemplate::new(200).set_body_json(json!({
            "users": users, "start": 0, "limit": 100, "length": n, "total": n
        }))
    };
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .and(query_param(
            "q",
            "logins_count:0 AND app_metadata.invited:true",
        ))
        .and(query_param("search_engine", "v3"))
        .and(query_param("per_page", "100"))
        .respond_with(page(vec![pending.clone(), expired.clone()]))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .and(query_param("q", "app_metadata.invited:true"))
        .respond_with(page(vec![pending, expired, accepted]))
        .expect(2)
        .mount(&server)
        .await;

    // the old query, unchanged: PENDING by default
    let r = app.gql(LIST, json!({}), Some("admin")).await;
    let p = data(&r, "invitations");
    assert_eq!(p["total"], 1, "{p}");
    assert_eq!(p["items"][0]["email"], "pending@example.com");

    let list = |status: &'static str| {
        let app = &app;
        async move {
            let r = app
                .gql(LIST_STATUS, json!({"status": status}), Some("admin"))
                .await;
            data(&r, "invitations").clone()
        }
    };
    let p = list("EXPIRED").await;
    assert_eq!(p["total"], 1);
    let e = &p["items"][0];
    assert_eq!(e["email"], "expired@example.com");
    assert_eq!(e["status"], "EXPIRED");
    assert_eq!(
        e["invitedBy"],
        json!({"sub": "auth0|boss", "email": "boss@example.com"})
    );
    assert_eq!(e["roles"], json!(["user"]));
    assert!(e["invitedAt"].as_str().unwrap().ends_with('Z'));
    assert!(e["ticketUrl"].is_null());

    let p = list("ACCEPTED").await;
    assert_eq!(p["total"], 1);
    assert_eq!(p["items"][0]["email"], "accepted@example.com");
    assert_eq!(p["items"][0]["status"], "ACCEPTED");

    let p = list("PENDING").await;
    assert_eq!(p["items"][0]["status"], "PENDING");
    let exp = humantime::parse_rfc3339(p["items"][0]["expiresAt"].as_str().unwrap()).unwrap();
    assert!(exp > SystemTime::now() + Duration::from_secs(5 * 86_400));

    // ALL, newest first, paged
    let r = app
        .gql(
            LIST_STATUS,
            json!({"status": "ALL", "page": 1, "perPage": 2}),
            Some("admin"),
        )
        .await;
    let p = data(&r, "invitations");
    assert_eq!(p["total"], 3);
    let items = p["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["email"], "expired@example.com", "oldest last");
    server.verify().await;
}

#[tokio::test]
async fn invite_and_resend_record_inviter_and_expiry_in_app_metadata() {
    let (server, app) = listing_double().await;
    perms("rol_user", &["read:orders"]).mount(&server).await;
    super::doubles::create_user("rec@example.com")
        .expect(1)
        .mount(&server)
        .await;
    super::doubles::assign_roles().mount(&server).await;
    super::doubles::ticket().expect(2).mount(&server).await;
    let r = super::doubles::invite_as(&app, "rec@example.com", &["user"], "admin").await;
    let inv = data(&r, "inviteUser");
    assert_eq!(inv["resent"], false);

    by_email(invited(USER_ID, "rec@example.com", 0, &ago(8), &ago(1)), 1)
        .mount(&server)
        .await;
    user_roles(
        "auth0%7C63d1aa",
        json!([{"id": "rol_user", "name": "user"}]),
    )
    .mount(&server)
    .await;
    answer(
        "PATCH",
        "/api/v2/users/auth0%7C63d1aa",
        200,
        invited(USER_ID, "rec@example.com", 0, &ago(8), &ahead(7)),
    )
    .expect(1)
    .mount(&server)
    .await;
    let r = app
        .gql(RESEND, json!({"email": "rec@example.com"}), Some("admin"))
        .await;
    assert_eq!(data(&r, "resendInvitation")["resent"], true);

    let requests = server.received_requests().await.unwrap();
    let body = |m: &str, p: &str| -> Value {
        let r = requests
            .iter()
            .find(|r| r.method.as_str() == m && r.url.path() == p)
            .unwrap_or_else(|| panic!("no {m} {p}"));
        serde_json::from_slice(&r.body).unwrap()
    };
    let week = |v: &Value| {
        let t = humantime::parse_rfc3339(v.as_str().unwrap()).unwrap();
        let left = t.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(6 * 86_400), "{v}");
    };
    let created = body("POST", "/api/v2/users");
    let meta = &created["app_metadata"];
    assert_eq!(meta["invited_by"], "auth0|admin");
    assert_eq!(meta["invited_by_email"], "ada@example.com");
    week(&meta["invitation_expires_at"]);
    let patched = body("PATCH", "/api/v2/users/auth0%7C63d1aa");
    let meta = patched["app_metadata"].as_object().unwrap();
    week(&meta["invitation_expires_at"]);
    assert_eq!(meta["invitation_resent_by"], "auth0|admin");
    assert!(
        !meta.contains_key("invited_by") && !meta.contains_key("invited"),
        "the original inviter is kept: {meta:?}"
    );
    // the expiry is recorded before the new link is issued
    let at = |m: &str, p: &str| {
        requests
            .iter()
            .rposition(|r| r.method.as_str() == m && r.url.path() == p)
            .unwrap()
    };
    assert!(
        at("PATCH", "/api/v2/users/auth0%7C63d1aa") < at("POST", "/api/v2/tickets/password-change")
    );
    server.verify().await;
}

#[tokio::test]
async fn role_changes_are_refused_before_any_write() {
    let (server, svc) = double().await;
    let app = gateway_custom(svc, |_| {}).await;
    role_catalogue(&server).await;
    writes(&server, 0).await;
    user_at(
        "auth0%7Ccolleague",
        200,
        json!({"user_id": "auth0|colleague", "email": "colleague@example.com", "logins_count": 4}),
    )
    .mount(&server)
    .await;
    user_at(
        "auth0%7Cghost",
        404,
        json!({
            "statusCode": 404, "error": "Not Found", "message": "The user does not exist.", "errorCode": "inexistent_user"
        }),
    )
    .mount(&server)
    .await;
    user_roles(
        "auth0%7Ccolleague",
        json!([{"id": "rol_admin", "name": "admin"}]),
    )
    .mount(&server)
    .await;

    // the support agent may grant `user` but not `admin`: it may neither
    // add nor remove `admin`, nor touch an account that holds it
    for (vars, code, says) in [
        (
            json!({"userId": "auth0|colleague", "remove": ["admin"]}),
            "FORBIDDEN",
            "`admin`",
        ),
        (
            json!({"userId": "auth0|colleague", "add": ["user"]}),
            "FORBIDDEN",
            "`admin`",
        ),
        (
            json!({"userId": "auth0|colleague", "add": ["nope"]}),
            "BAD_USER_INPUT",
            "unknown role `nope`",
        ),
        (
            json!({"userId": "auth0|colleague", "add": ["user"], "remove": ["user"]}),
            "BAD_USER_INPUT",
            "both added and removed",
        ),
        (
            json!({"userId": "auth0|ghost", "add": ["user"]}),
            "BAD_USER_INPUT",
            "no user",
        ),
    ] {
        let r = app
            .gql(UPDATE_ROLES, vars.clone(), Some("roles_admin"))
            .await;
        assert_eq!(r.code(0), code, "{vars}: {}", r.body);
        assert!(message(&r).contains(says), "{vars}: {}", message(&r));
        assert!(r.body["data"]["updateUserRoles"].is_null());
    }
    server.verify().await;
}

#[tokio::test]
async fn roles_are_added_and_removed_and_the_result_answered() {
    let (server, svc) = double().await;
    let app = gateway_custom(svc, |_| {}).await;
    role_catalogue(&server).await;
    user_at(
        "auth0%7Ccolleague",
        200,
        json!({"user_id": "auth0|colleague", "email": "colleague@example.com"}),
    )
    .expect(1)
    .mount(&server)
    .await;
    user_roles(
        "auth0%7Ccolleague",
        json!([{"id": "rol_user", "name": "user"}]),
    )
    .expect(1)
    .mount(&server)
    .await;
    colleague_role_write("POST", &["rol_admin"])
        .expect(1)
        .mount(&server)
        .await;
    colleague_role_write("DELETE", &["rol_user"])
        .expect(1)
        .mount(&server)
        .await;
    let r = app
        .gql(
            UPDATE_ROLES,
            json!({"userId": "auth0|colleague", "add": ["admin"], "remove": ["user"]}),
            Some("super"),
        )
        .await;
    let roles = data(&r, "updateUserRoles");
    assert_eq!(
        *roles,
        json!({"userId": "auth0|colleague", "roles": ["admin"]})
    );
    server.verify().await;
}
