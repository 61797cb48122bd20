//! Who may grant which role: the inviter's own permissions, or
//! `invites.grantable_roles`; and accounts an invitation did not create.

use authgate::auth0::CreateUser;
use authgate::secret::Secret;
use serde_json::json;

use super::*;

fn message(r: &Gql) -> &str {
    r.body["errors"][0]["message"].as_str().unwrap_or("")
}

/// The status of `GET /emulator/tickets/last` for `email` (404: no link issued).
async fn last_link_status(w: &World, email: &str) -> u16 {
    w.http
        .get(w.url("emulator/tickets/last"))
        .query(&[("email", email)])
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn role_names(w: &World, email: &str) -> Vec<String> {
    let u = &w.mgmt.users_by_email(email).await.unwrap()[0];
    w.role_names(&u.user_id).await
}

// The static `admin` token is a support agent: it may invite
// (`create:invitations`) and holds `read:orders`, but not the admin role's
// `write:orders` and `read:users`.
#[tokio::test]
async fn a_support_agent_cannot_grant_a_role_it_does_not_hold() {
    let w = world().await;
    let r = w
        .invite("second.mailbox@example.com", &["admin"], Some("admin"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert!(r.body["data"]["inviteUser"].is_null());
    assert!(message(&r).contains("`admin`"), "{}", message(&r));
    let r = w
        .invite(
            "second.mailbox@example.com",
            &["user", "admin"],
            Some("admin"),
        )
        .await;
    assert_eq!(r.code(0), "FORBIDDEN");
    assert!(message(&r).contains("`admin`") && !message(&r).contains("`user`"));
    // nothing was created
    assert!(w
        .mgmt
        .users_by_email("second.mailbox@example.com")
        .await
        .unwrap()
        .is_empty());
    // a role whose permissions it holds is fine
    let r = w
        .invite("second.mailbox@example.com", &["user"], Some("admin"))
        .await;
    assert_eq!(data(&r, "inviteUser")["roles"], json!(["user"]));
}

#[tokio::test]
async fn grantable_roles_decide_for_the_inviters_roles() {
    // listed: only what the list names, whatever the permissions say
    let mut only_users = InviteSettings::default();
    only_users
        .grantable_roles
        .insert("admin".into(), vec!["user".into()]);
    let w = world_with(only_users).await;
    data(
        &w.invite("u1@example.com", &["user"], Some("admin")).await,
        "inviteUser",
    );
    let r = w.invite("u2@example.com", &["admin"], Some("admin")).await;
    assert_eq!(r.code(0), "FORBIDDEN");

    // `*`: any role, as config/development.toml says for the seeded admin
    let w = world_with(admin_grants_all()).await;
    let r = w.invite("u3@example.com", &["admin"], Some("admin")).await;
    assert_eq!(data(&r, "inviteUser")["roles"], json!(["admin"]));
}

#[tokio::test]
async fn an_account_not_created_by_an_invitation_is_never_changed_nor_linked() {
    // the seeded user has never logged in, and no invitation created it
    let w = world_with(admin_grants_all()).await;
    let r = w
        .invite("user@example.com", &["admin"], Some("admin"))
        .await;
    assert_eq!(r.code(0), "USER_EXISTS", "{}", r.body);
    assert!(r.body["data"]["inviteUser"].is_null());
    let r = w
        .app
        .gql(RESEND, json!({"email": "user@example.com"}), Some("admin"))
        .await;
    assert_eq!(r.code(0), "USER_EXISTS", "{}", r.body);
    assert_eq!(role_names(&w, "user@example.com").await, ["user"]);
    assert_eq!(last_link_status(&w, "user@example.com").await, 404);
}

#[tokio::test]
async fn a_pending_invitation_is_relinked_only_by_who_may_grant_its_roles() {
    let w = world().await;
    // an admin with every permission invited someone as an admin
    let admin_role = w
        .mgmt
        .list_roles(None)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "admin")
        .unwrap();
    let mut app_metadata = serde_json::Map::new();
    for (k, v) in [
        ("invited", json!(true)),
        ("invited_by", json!("auth0|boss")),
        ("invited_at", json!("2026-01-01T00:00:00Z")),
        ("invitation_roles", json!(["admin"])),
    ] {
        app_metadata.insert(k.into(), v);
    }
    let user = w
        .mgmt
        .create_user(&CreateUser {
            connection: "Username-Password-Authentication".into(),
            email: "pending.admin@example.com".into(),
            password: Secret::new("Unkn0wn-Passw0rd!"),
            email_verified: false,
            verify_email: false,
            name: None,
            user_metadata: None,
            app_metadata: Some(app_metadata),
        })
        .await
        .unwrap();
    w.mgmt
        .assign_roles(&user.user_id, &[admin_role.id])
        .await
        .unwrap();

    // the support agent may not hand out a link to that account
    let r = w
        .app
        .gql(
            RESEND,
            json!({"email": "pending.admin@example.com"}),
            Some("admin"),
        )
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert!(message(&r).contains("`admin`"));
    let r = w
        .invite("pending.admin@example.com", &["user"], Some("admin"))
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert_eq!(last_link_status(&w, "pending.admin@example.com").await, 404);
    assert_eq!(role_names(&w, "pending.admin@example.com").await, ["admin"]);
}

#[tokio::test]
async fn the_per_invitee_limit_counts_only_authorised_attempts() {
    let w = world_custom(InviteSettings::default(), |s| {
        s.limits.invite_user.per_account = Some(2);
    })
    .await;
    // refused grants and callers without the permission: never counted
    for _ in 0..3 {
        let r = w
            .invite("victim@example.com", &["admin"], Some("admin"))
            .await;
        assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
        let r = w
            .invite("victim@example.com", &["user"], Some("user"))
            .await;
        assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    }
    let r = w
        .invite("victim@example.com", &["user"], Some("admin"))
        .await;
    assert_eq!(data(&r, "inviteUser")["resent"], false);
    data(
        &w.invite("victim@example.com", &["user"], Some("admin"))
            .await,
        "inviteUser",
    );
    let r = w
        .invite("victim@example.com", &["user"], Some("admin"))
        .await;
    assert_eq!(r.code(0), "RATE_LIMITED", "{}", r.body);
}

#[tokio::test]
async fn resending_has_its_own_limit() {
    let w = world_custom(InviteSettings::default(), |s| {
        s.limits.resend_invitation.per_account = Some(1);
    })
    .await;
    data(
        &w.invite("again@example.com", &["user"], Some("admin"))
            .await,
        "inviteUser",
    );
    let resend = || {
        w.app
            .gql(RESEND, json!({"email": "again@example.com"}), Some("admin"))
    };
    let r = resend().await;
    assert_eq!(data(&r, "resendInvitation")["resent"], true);
    let r = resend().await;
    assert_eq!(r.code(0), "RATE_LIMITED", "{}", r.body);
    // the invitation's own budget is untouched
    let r = w
        .invite("again@example.com", &["user"], Some("admin"))
        .await;
    assert_eq!(data(&r, "inviteUser")["resent"], true);
}
