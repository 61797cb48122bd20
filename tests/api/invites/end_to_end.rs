//! An admin invites through the gateway; the invitee follows the link, sets a
//! password and logs in with the role's permissions.

use serde_json::json;

use super::*;

#[tokio::test]
async fn invitee_sets_a_password_and_logs_in_with_the_roles_permissions() {
    let w = world_with(admin_grants_all()).await;
    let r = w.invite("ada@example.org", &["admin"], Some("admin")).await;
    let link = data(&r, "inviteUser")["ticketUrl"]
        .as_str()
        .unwrap()
        .to_owned();

    // The emulator's test endpoint saw the same ticket (without our UI hint).
    let last = last_ticket(&w.idp, "ada@example.org").await;
    assert_eq!(
        format!("{}type=invite", last["url"].as_str().unwrap()),
        link
    );

    // Before the password is set, nobody can log in.
    assert!(w
        .login("ada@example.org", "Ada-L0velace-1815")
        .await
        .is_err());

    let ticket = ticket_of(&link);
    let resp = w.set_password(&ticket, "Ada-L0velace-1815").await;
    assert!(
        resp.status().is_success() || resp.status().is_redirection(),
        "{}",
        resp.status()
    );

    let claims = w
        .login("ada@example.org", "Ada-L0velace-1815")
        .await
        .unwrap();
    let perms: Vec<&str> = claims["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(perms.contains(&"create:invitations"), "{claims}");
    assert!(perms.contains(&"write:orders"), "{claims}");
    let u = &w.mgmt.users_by_email("ada@example.org").await.unwrap()[0];
    assert!(u.email_verified, "the ticket marks the email verified");

    // The ticket is single use, the user is active: no more invitations.
    let again = w.set_password(&ticket, "Another-Passw0rd").await;
    assert!(again.status().is_client_error());
    let r = w
        .app
        .gql(RESEND, json!({"email": "ada@example.org"}), Some("admin"))
        .await;
    assert_eq!(r.code(0), "USER_EXISTS");
    let r = w.app.gql(LIST, json!({}), Some("admin")).await;
    assert_eq!(data(&r, "invitations")["total"], 0);
}
