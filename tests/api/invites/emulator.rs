//! Invitations against the in-process emulator (the production code path).

use std::time::{Duration, SystemTime};

use authgate::invite::InviteSettings;
use serde_json::{json, Value};

use super::*;

fn expires_in(v: &Value) -> Duration {
    let t = humantime::parse_rfc3339(v["expiresAt"].as_str().unwrap()).unwrap();
    t.duration_since(SystemTime::now()).unwrap_or_default()
}

#[tokio::test]
async fn admin_invites_a_new_user() {
    let w = world().await;
    let r = w
        .invite(" New.Hire@Example.com ", &["user"], Some("admin"))
        .await;
    let inv = data(&r, "inviteUser");
    assert_eq!(inv["email"], "new.hire@example.com");
    assert_eq!(inv["roles"], json!(["user"]));
    assert_eq!(inv["resent"], false);
    let link = inv["ticketUrl"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}u/reset-password?ticket=", w.idp.base_url())),
        "{link}"
    );
    assert!(link.ends_with("#type=invite"), "{link}");
    let ttl = expires_in(inv);
    assert!(ttl > Duration::from_secs(7 * 86400 - 60) && ttl <= Duration::from_secs(7 * 86400));

    // The tenant now holds an unverified user with the role and the audit trail.
    let users = w.mgmt.users_by_email("new.hire@example.com").await.unwrap();
    assert_eq!(users.len(), 1);
    let u = &users[0];
    assert_eq!(inv["userId"], u.user_id.as_str());
    assert!(!u.email_verified);
    let app = u.app_metadata.as_ref().unwrap();
    assert_eq!(app["invited_by"], "auth0|admin");
    assert_eq!(app["invitation_roles"], json!(["user"]));
    assert!(app["invited_at"].is_string());
    let roles = w.mgmt.user_roles(&u.user_id).await.unwrap();
    assert_eq!(
        roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["user"]
    );
}

#[tokio::test]
async fn name_and_metadata_are_stored() {
    let w = world().await;
    let r = w
        .app
        .gql(
            INVITE,
            json!({"input": {"email": "meta@example.com", "roles": [], "name": "Meta Person", "metadata": {"team": "ops"}}}),
            Some("admin"),
        )
        .await;
    assert_eq!(data(&r, "inviteUser")["roles"], json!([]));
    let u = &w.mgmt.users_by_email("meta@example.com").await.unwrap()[0];
    assert_eq!(u.name.as_deref(), Some("Meta Person"));
    assert_eq!(u.user_metadata.as_ref().unwrap()["team"], "ops");

    let r = w
        .app
        .gql(
            INVITE,
            json!({"input": {"email": "meta2@example.com", "roles": [], "metadata": [1, 2]}}),
            Some("admin"),
        )
        .await;
    assert_eq!(r.code(0), "BAD_USER_INPUT");
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "input.metadata");
}

#[tokio::test]
async fn callers_without_the_permission_are_refused() {
    let w = world().await;
    let r = w.invite("x@example.com", &["user"], None).await;
    assert_eq!(r.code(0), "UNAUTHENTICATED");
    assert_eq!(r.body["errors"][0]["extensions"]["reason"], "TOKEN_MISSING");
    let r = w.invite("x@example.com", &["user"], Some("expired")).await;
    assert_eq!(r.code(0), "UNAUTHENTICATED");
    assert_eq!(r.body["errors"][0]["extensions"]["reason"], "TOKEN_EXPIRED");
    let r = w.invite("x@example.com", &["user"], Some("user")).await;
    assert_eq!(r.code(0), "FORBIDDEN");
    assert!(r.body["data"]["inviteUser"].is_null());
    let r = w.app.gql(LIST, json!({}), Some("user")).await;
    assert_eq!(r.code(0), "FORBIDDEN");
    let r = w
        .app
        .gql(RESEND, json!({"email": "x@example.com"}), Some("user"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN");
    assert!(w
        .mgmt
        .users_by_email("x@example.com")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn unknown_role_is_refused_before_any_user_is_created() {
    let w = world().await;
    let r = w
        .invite("ghosted@example.com", &["user", "ghost"], Some("admin"))
        .await;
    assert_eq!(r.code(0), "BAD_USER_INPUT");
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "input.roles");
    assert!(r.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("ghost"));
    assert!(w
        .mgmt
        .users_by_email("ghosted@example.com")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn invalid_emails_are_refused() {
    let w = world().await;
    for bad in [
        "",
        "no-at-sign",
        "a@b",
        "two@@example.com",
        "sp ace@example.com",
    ] {
        let r = w.invite(bad, &[], Some("admin")).await;
        assert_eq!(r.code(0), "BAD_USER_INPUT", "{bad}: {}", r.body);
        assert_eq!(r.body["errors"][0]["extensions"]["field"], "input.email");
    }
}

#[tokio::test]
async fn an_active_user_is_not_invited_again() {
    let w = world_with(admin_grants_all()).await;
    // The seeded user logs in once: from then on they are active.
    w.login("user@example.com", "User-Passw0rd!").await.unwrap();
    let r = w
        .invite("user@example.com", &["admin"], Some("admin"))
        .await;
    assert_eq!(r.code(0), "USER_EXISTS");
    let r = w
        .app
        .gql(RESEND, json!({"email": "user@example.com"}), Some("admin"))
        .await;
    assert_eq!(r.code(0), "USER_EXISTS");
    // …and the attempted role was not granted.
    let u = &w.mgmt.users_by_email("user@example.com").await.unwrap()[0];
    let roles = w.mgmt.user_roles(&u.user_id).await.unwrap();
    assert!(roles.iter().all(|r| r.name != "admin"));
}

#[tokio::test]
async fn a_user_who_never_logged_in_gets_a_fresh_link() {
    let w = world_with(admin_grants_all()).await;
    let first = w
        .invite("again@example.com", &["user"], Some("admin"))
        .await;
    let first = data(&first, "inviteUser").clone();
    let second = w
        .invite("again@example.com", &["user", "admin"], Some("admin"))
        .await;
    let second = data(&second, "inviteUser");
    assert_eq!(second["resent"], true);
    assert_eq!(second["userId"], first["userId"]);
    assert_ne!(second["ticketUrl"], first["ticketUrl"]);
    assert_eq!(second["roles"], json!(["user", "admin"]));
    let roles = w
        .mgmt
        .user_roles(first["userId"].as_str().unwrap())
        .await
        .unwrap();
    let mut names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["admin", "user"]);

    let r = w
        .app
        .gql(RESEND, json!({"email": "AGAIN@example.com"}), Some("admin"))
        .await;
    let resent = data(&r, "resendInvitation");
    assert_eq!(resent["resent"], true);
    assert_eq!(
        resent["roles"],
        json!(["user"]),
        "the invitation's own roles"
    );
    assert!(resent["ticketUrl"]
        .as_str()
        .unwrap()
        .ends_with("#type=invite"));
}

#[tokio::test]
async fn resending_to_an_unknown_email_is_bad_input() {
    let w = world().await;
    let r = w
        .app
        .gql(
            RESEND,
            json!({"email": "nobody@example.com"}),
            Some("admin"),
        )
        .await;
    assert_eq!(r.code(0), "BAD_USER_INPUT");
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "email");
}

#[tokio::test]
async fn concurrent_invitations_of_one_email_all_succeed() {
    let w = world().await;
    let results = futures::future::join_all(
        (0..6).map(|_| w.invite("race@example.com", &["user"], Some("admin"))),
    )
    .await;
    let invs: Vec<&Value> = results.iter().map(|r| data(r, "inviteUser")).collect();
    assert_eq!(
        invs.iter().filter(|i| i["resent"] == false).count(),
        1,
        "exactly one created the user: {invs:?}"
    );
    assert!(invs.iter().all(|i| i["userId"] == invs[0]["userId"]));
    assert_eq!(
        w.mgmt
            .users_by_email("race@example.com")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn pending_invitations_are_listed_with_paging() {
    let w = world().await;
    for e in ["p1@example.com", "p2@example.com", "p3@example.com"] {
        data(&w.invite(e, &["user"], Some("admin")).await, "inviteUser");
    }
    let r = w
        .app
        .gql(LIST, json!({"page": 0, "perPage": 2}), Some("admin"))
        .await;
    let page = data(&r, "invitations");
    assert_eq!(page["total"], 3, "seeded users were not invited: {page}");
    assert_eq!(page["perPage"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["roles"], json!(["user"]));
    assert!(page["items"][0]["ticketUrl"].is_null());
    let r = w
        .app
        .gql(LIST, json!({"page": 1, "perPage": 2}), Some("admin"))
        .await;
    let page = data(&r, "invitations");
    assert_eq!(page["page"], 1);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    for (vars, field) in [
        (json!({"perPage": 0}), "perPage"),
        (json!({"perPage": 101}), "perPage"),
        (json!({"page": -1}), "page"),
        (json!({"page": 10, "perPage": 100}), "page"),
    ] {
        let r = w.app.gql(LIST, vars.clone(), Some("admin")).await;
        assert_eq!(r.code(0), "BAD_USER_INPUT", "{vars}");
        assert_eq!(r.body["errors"][0]["extensions"]["field"], field);
    }
}

#[tokio::test]
async fn result_url_replaces_the_client_id_on_the_ticket() {
    let w = world_with(InviteSettings {
        result_url: Some("https://app.example.com/welcome".parse().unwrap()),
        ..InviteSettings::default()
    })
    .await;
    let r = w.invite("redirect@example.com", &[], Some("admin")).await;
    let link = data(&r, "inviteUser")["ticketUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = w.set_password(&ticket_of(&link), "Welcome-Passw0rd!").await;
    assert_eq!(resp.status(), 302);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("https://app.example.com/welcome"));
}
