//! The invitation lifecycle against the in-process emulator: the same
//! Management API calls a real tenant answers (PATCH and DELETE users,
//! DELETE user roles).

use std::time::{Duration, SystemTime};

use authgate::auth0::CreateUser;
use authgate::secret::Secret;
use serde_json::{json, Value};

use super::*;

/// The status of the emulator's set-your-password page for `ticket`.
async fn ticket_page(w: &World, ticket: &str) -> u16 {
    w.http
        .get(w.url("u/reset-password"))
        .query(&[("ticket", ticket)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn list(w: &World, status: &str) -> Value {
    let r = w
        .app
        .gql(LIST_STATUS, json!({"status": status}), Some("admin"))
        .await;
    data(&r, "invitations").clone()
}

async fn cancel(w: &World, email: &str) -> Gql {
    w.app
        .gql(CANCEL, json!({ "email": email }), Some("admin"))
        .await
}

async fn update_roles(w: &World, vars: Value, token: &str) -> Gql {
    w.app.gql(UPDATE_ROLES, vars, Some(token)).await
}

#[tokio::test]
async fn a_cancelled_invitation_is_gone_and_its_link_no_longer_works() {
    let w = world().await;
    let r = w
        .invite("cancel.me@example.com", &["user"], Some("admin"))
        .await;
    let link = data(&r, "inviteUser")["ticketUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let ticket = ticket_of(&link);
    assert_eq!(ticket_page(&w, &ticket).await, 200);
    let p = list(&w, "PENDING").await;
    assert_eq!(p["total"], 1);
    assert_eq!(
        p["items"][0]["invitedBy"],
        json!({"sub": "auth0|admin", "email": "ada@example.com"})
    );

    let r = cancel(&w, "cancel.me@example.com").await;
    let inv = data(&r, "cancelInvitation");
    assert_eq!(inv["status"], "PENDING");
    assert_eq!(inv["roles"], json!(["user"]));

    assert!(w
        .mgmt
        .users_by_email("cancel.me@example.com")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(ticket_page(&w, &ticket).await, 400, "the link died");
    let set = w.set_password(&ticket, "Too-Late-Passw0rd").await;
    assert!(set.status().is_client_error(), "{}", set.status());
    assert_eq!(list(&w, "ALL").await["total"], 0);
    let r = cancel(&w, "cancel.me@example.com").await;
    assert_eq!(r.code(0), "BAD_USER_INPUT", "{}", r.body);
}

#[tokio::test]
async fn accepted_and_foreign_accounts_are_not_cancelled() {
    let w = world().await;
    let r = w
        .invite("joined@example.com", &["user"], Some("admin"))
        .await;
    let ticket = ticket_of(data(&r, "inviteUser")["ticketUrl"].as_str().unwrap());
    let set = w.set_password(&ticket, "Joined-Passw0rd-1").await;
    assert!(set.status().is_success() || set.status().is_redirection());
    // the password is set but nobody logged in: still pending
    assert_eq!(list(&w, "PENDING").await["total"], 1);
    w.login("joined@example.com", "Joined-Passw0rd-1")
        .await
        .unwrap();

    let p = list(&w, "ACCEPTED").await;
    assert_eq!(p["total"], 1);
    assert_eq!(p["items"][0]["email"], "joined@example.com");
    assert_eq!(p["items"][0]["status"], "ACCEPTED");
    assert_eq!(list(&w, "PENDING").await["total"], 0);

    for email in ["joined@example.com", "user@example.com"] {
        let r = cancel(&w, email).await;
        assert_eq!(r.code(0), "BAD_USER_INPUT", "{email}: {}", r.body);
        assert_eq!(w.mgmt.users_by_email(email).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_expired_invitation_is_listed_and_a_resend_revives_it() {
    let w = world().await;
    let past = |days: u64| {
        humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(days * 86_400))
            .to_string()
    };
    // an invitation issued nine days ago whose week-long link has lapsed
    let invited_at = past(9);
    let mut meta = serde_json::Map::new();
    for (k, v) in [
        ("invited", json!(true)),
        ("invited_by", json!("auth0|admin")),
        ("invited_at", json!(invited_at)),
        ("invitation_expires_at", json!(past(2))),
        ("invitation_roles", json!(["user"])),
    ] {
        meta.insert(k.into(), v);
    }
    w.mgmt
        .create_user(&CreateUser {
            connection: "Username-Password-Authentication".into(),
            email: "lapsed@example.com".into(),
            password: Secret::new("Lapsed-Passw0rd-9"),
            email_verified: false,
            verify_email: false,
            name: None,
            user_metadata: None,
            app_metadata: Some(meta),
        })
        .await
        .unwrap();
    let p = list(&w, "EXPIRED").await;
    assert_eq!(p["total"], 1, "{p}");
    assert_eq!(p["items"][0]["status"], "EXPIRED");
    assert_eq!(p["items"][0]["invitedBy"]["sub"], "auth0|admin");
    assert_eq!(list(&w, "PENDING").await["total"], 0);

    let r = w
        .app
        .gql(
            RESEND,
            json!({"email": "lapsed@example.com"}),
            Some("admin"),
        )
        .await;
    assert_eq!(data(&r, "resendInvitation")["resent"], true);
    let p = list(&w, "PENDING").await;
    assert_eq!(p["total"], 1);
    let exp = humantime::parse_rfc3339(p["items"][0]["expiresAt"].as_str().unwrap()).unwrap();
    assert!(exp > SystemTime::now() + Duration::from_secs(6 * 86_400));
    // the original inviter and time are kept
    assert_eq!(p["items"][0]["invitedAt"], invited_at);
    assert_eq!(list(&w, "EXPIRED").await["total"], 0);
}

#[tokio::test]
async fn roles_change_within_what_the_caller_could_grant() {
    let w = world().await;
    let u = w.mgmt.users_by_email("user@example.com").await.unwrap();
    let user_id = u[0].user_id.clone();
    let a = w.mgmt.users_by_email("admin@example.com").await.unwrap();
    let admin_id = a[0].user_id.clone();

    let r = update_roles(
        &w,
        json!({"userId": user_id, "add": ["admin"], "remove": ["user"]}),
        "super",
    )
    .await;
    assert_eq!(
        *data(&r, "updateUserRoles"),
        json!({"userId": user_id, "roles": ["admin"]})
    );
    assert_eq!(w.role_names(&user_id).await, ["admin"]);

    // the support agent may grant `user` only: not to an admin's account
    let r = update_roles(
        &w,
        json!({"userId": admin_id, "add": ["user"]}),
        "roles_admin",
    )
    .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert_eq!(w.role_names(&admin_id).await, ["admin"]);

    // adding a held role and removing one not held change nothing
    let r = update_roles(
        &w,
        json!({"userId": user_id, "add": ["admin"], "remove": ["user"]}),
        "super",
    )
    .await;
    assert_eq!(data(&r, "updateUserRoles")["roles"], json!(["admin"]));
    let r = update_roles(
        &w,
        json!({"userId": "auth0|doesnotexist", "add": ["user"]}),
        "super",
    )
    .await;
    assert_eq!(r.code(0), "BAD_USER_INPUT", "{}", r.body);
}
