//! One e-mail rule: an address an admin may invite is one the invitee can
//! sign up and log in with, and what one refuses, all refuse.

use serde_json::json;

use super::*;
use crate::helpers::spawn_full;

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }";
const SIGNUP: &str =
    "mutation($e: String!, $p: String!) { signup(input: {email: $e, password: $p}) { email } }";
const RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) { ok } }";

#[tokio::test]
async fn what_invite_accepts_login_and_signup_accept_and_the_same_is_refused() {
    let app = spawn_full(|s| s.invites = admin_grants_all()).await;
    let admin = app
        .gql(
            LOGIN,
            json!({"e": "admin@example.com", "p": "Admin-Passw0rd!"}),
            None,
        )
        .await;
    let admin = admin.body["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", admin.body))
        .to_owned();

    for (raw, stored) in [
        ("O'Brien+Tag@Example.ie", "o'brien+tag@example.ie"),
        ("jörg@bücher.de", "jörg@bücher.de"),
        ("x_y{1}|~@sub.example.co.uk", "x_y{1}|~@sub.example.co.uk"),
    ] {
        let r = app
            .gql(
                INVITE,
                json!({"input": {"email": raw, "roles": ["user"]}}),
                Some(&admin),
            )
            .await;
        assert_eq!(data(&r, "inviteUser")["email"], stored, "{raw}");
        // the invitee's address is a login address (a wrong password, not bad input)
        let r = app
            .gql(LOGIN, json!({"e": raw, "p": "Wrong-Passw0rd1"}), None)
            .await;
        assert_eq!(r.code(0), "INVALID_CREDENTIALS", "{raw}: {}", r.body);
        // …and the same shape of address signs up
        let fresh = format!("new.{raw}");
        let r = app
            .gql(SIGNUP, json!({"e": fresh, "p": "Str0ng-Passw0rd"}), None)
            .await;
        assert_eq!(
            r.body["data"]["signup"]["email"],
            fresh.to_lowercase(),
            "{raw}: {}",
            r.body
        );
    }

    for bad in [
        "a..b@example.com",
        "ada@127.0.0.1",
        "\"quoted\"@example.com",
        "ada@ex_ample.com",
        "ada@example",
    ] {
        let r = app
            .gql(
                INVITE,
                json!({"input": {"email": bad, "roles": []}}),
                Some(&admin),
            )
            .await;
        assert_eq!(r.code(0), "BAD_USER_INPUT", "invite {bad}: {}", r.body);
        for (q, vars) in [
            (LOGIN, json!({"e": bad, "p": "Str0ng-Passw0rd"})),
            (SIGNUP, json!({"e": bad, "p": "Str0ng-Passw0rd"})),
            (RESET, json!({"e": bad})),
        ] {
            let r = app.gql(q, vars, None).await;
            assert_eq!(r.code(0), "BAD_USER_INPUT", "{bad}: {}", r.body);
        }
    }
}

/// The emulator (like Auth0 behind the gateway) refuses what the gateway refuses.
#[tokio::test]
async fn the_emulator_follows_the_same_rule() {
    let w = world().await;
    let http = reqwest::Client::new();
    for (email, ok) in [
        ("ada@example.com", true),
        ("a..b@example.com", false),
        ("ada@127.0.0.1", false),
        ("ada@ex_ample.com", false),
    ] {
        let resp = http
            .post(w.url("dbconnections/signup"))
            .json(&json!({
                "client_id": CLIENT_ID, "connection": "Username-Password-Authentication",
                "email": email, "password": "Str0ng-Passw0rd",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().is_success(), ok, "{email}: {}", resp.status());
    }
}
