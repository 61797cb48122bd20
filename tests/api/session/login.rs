//! `login`: the payload, identical answers for wrong password and unknown
//! user, passwords sent as typed, size limits, brute-force protection, MFA
//! and blocked users.

use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{
    emulator_call, error, login, login_query, ok, s, seed, signup, spawn_double, ADMIN, USER,
};
use crate::helpers::{spawn_full, Gql, TestApp};

/// The claims of a JWT (no verification: the gateway did that).
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A login with `X-Forwarded-For` (the gateway trusts 127.0.0.0/8 here).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Gql {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", ip)
        .json(&json!({"query": login_query(), "variables": {"email": email, "password": password}}))
        .send()
        .await
        .unwrap();
    TestApp::read(resp).await
}

#[tokio::test]
async fn login_answers_as_the_contract_says() {
    let app = spawn_full(|s| {
        // Auth0's (the emulator's) brute-force protection is under test here,
        // not authgate's own limits (fleet::limits)
        s.limits.enabled = false;
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        s.emulator
            .users
            .push(seed("victim@example.com", "Victim-Passw0rd"));
        let mut mfa = seed("mfa@example.com", "Mfa-Passw0rd1");
        mfa.mfa = true;
        s.emulator.users.push(mfa);
        let mut blocked = seed("blocked@example.com", "Blocked-Passw0rd1");
        blocked.blocked = true;
        s.emulator.users.push(blocked);
    })
    .await;

    // success: tokens and the user, email from the verified ID token
    let g = login(&app, ADMIN.0, ADMIN.1).await;
    let p = ok(&g, "login");
    let at = s(p, "accessToken");
    assert_eq!(p["tokenType"], "Bearer");
    assert_eq!(p["expiresIn"], 86_400);
    assert!(s(p, "scope").split(' ').any(|x| x == "openid"), "{p:#}");
    assert!(!s(p, "refreshToken").is_empty());
    let id_claims = jwt_claims(s(p, "idToken"));
    let at_claims = jwt_claims(at);
    assert!(at_claims.get("email").is_none(), "{at_claims:#}");
    assert_eq!(id_claims["email"], ADMIN.0);
    let user = &p["user"];
    assert_eq!(user["id"], at_claims["sub"]);
    assert!(s(user, "id").starts_with("auth0|"));
    assert_eq!(user["email"], ADMIN.0);
    assert_eq!(user["roles"], json!(["admin"]));
    let perms: Vec<&str> = user["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(perms.contains(&"create:invitations"), "{perms:?}");
    // Auth0 matches emails case-insensitively: upper case logs in too
    ok(&login(&app, "ADMIN@example.com", ADMIN.1).await, "login");

    // wrong password and unknown user: the identical answer
    let wrong = login(&app, USER.0, "Wrong-Passw0rd").await;
    let unknown = login(&app, "nobody@example.com", "Wrong-Passw0rd").await;
    let e = error(&wrong, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(e["message"], "wrong email or password");
    assert!(wrong.body["data"]["login"].is_null());

    // passwords are sent exactly as typed: spaces and non-ASCII kept
    let odd = "  Pässwörd Ünïcødé 1A  ";
    let g = signup(&app, json!({"email": "odd@example.com", "password": odd})).await;
    let created = ok(&g, "signup")["userId"].clone();
    assert_eq!(
        ok(&login(&app, "odd@example.com", odd).await, "login")["user"]["id"],
        created
    );
    error(
        &login(&app, "odd@example.com", odd.trim()).await,
        "INVALID_CREDENTIALS",
    );

    // 200 characters: the emulator's policy has no maximum, the gateway's is 1024
    let long: String = "Aa1-".repeat(50);
    assert_eq!(long.chars().count(), 200);
    ok(
        &signup(&app, json!({"email": "long@example.com", "password": long})).await,
        "signup",
    );
    ok(&login(&app, "long@example.com", &long).await, "login");
    error(
        &login(&app, "long@example.com", &long[..199]).await,
        "INVALID_CREDENTIALS",
    );

    // MFA: the client gets a sealed session to continue, never the mfa_token
    let g = login(&app, "mfa@example.com", "Mfa-Passw0rd1").await;
    let e = error(&g, "MFA_REQUIRED");
    assert!(s(&e["extensions"]["mfa"], "session").starts_with("mfa1."));
    assert!(e["extensions"].get("mfaToken").is_none());

    // blocked by an administrator
    let g = login(&app, "blocked@example.com", "Blocked-Passw0rd1").await;
    let e = error(&g, "RATE_LIMITED");
    assert!(e["extensions"]["retryAfter"].as_u64().unwrap() > 0);
    assert!(!e["message"].as_str().unwrap().contains("Passw0rd"));

    // brute force: 10 failures from one address, then that address is refused,
    // even with the right password; Auth0 keys on the IP the gateway forwards
    let (victim, right) = ("victim@example.com", "Victim-Passw0rd");
    for i in 0..10 {
        let g = login_from(&app, "198.51.100.1", victim, &format!("Wrong-{i}")).await;
        error(&g, "INVALID_CREDENTIALS");
    }
    let g = login_from(&app, "198.51.100.1", victim, right).await;
    let e = error(&g, "RATE_LIMITED");
    let retry = e["extensions"]["retryAfter"].as_u64().unwrap();
    assert!(retry > 0, "{e:#}");
    assert_eq!(g.status, 429, "the whole request was refused");
    assert!(g.headers.get("set-cookie").is_none());
    // another address is not blocked
    ok(
        &login_from(&app, "198.51.100.2", victim, right).await,
        "login",
    );
    // …and the block lifts when the counters are reset
    let r = emulator_call(
        &app,
        reqwest::Method::POST,
        "/emulator/brute-force/reset?email=victim@example.com",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    ok(
        &login_from(&app, "198.51.100.1", victim, right).await,
        "login",
    );
}

#[tokio::test]
async fn absurd_passwords_are_refused_without_calling_auth0() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    // a body big enough to carry the password to the resolver (the default
    // 1 MiB body limit would refuse it earlier, with 413)
    let app = spawn_double(&server, |s| s.server.body_limit = 4 * 1024 * 1024).await;
    let huge = "A1a".repeat(700_000); // 2.1 MB
    for password in [huge.as_str(), &"x".repeat(1025)] {
        let g = login(&app, USER.0, password).await;
        let e = error(&g, "BAD_USER_INPUT");
        assert_eq!(e["extensions"]["field"], "input.password");
        assert!(e["message"].as_str().unwrap().len() < 100);
        let g = signup(
            &app,
            json!({"email": "big@example.com", "password": password}),
        )
        .await;
        assert_eq!(
            error(&g, "BAD_USER_INPUT")["extensions"]["field"],
            "input.password"
        );
    }
    // an empty password and a bad email are refused the same way
    assert_eq!(
        error(&login(&app, USER.0, "").await, "BAD_USER_INPUT")["extensions"]["field"],
        "input.password"
    );
    assert_eq!(
        error(
            &login(&app, "user at example.com", USER.1).await,
            "BAD_USER_INPUT"
        )["extensions"]["field"],
        "input.email"
    );
    // with the default body limit a 2 MB request never reaches a resolver
    let small = spawn_double(&server, |_| {}).await;
    let resp = small
        .client
        .post(small.url("/graphql"))
        .json(&json!({"query": login_query(), "variables": {"email": USER.0, "password": huge}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    server.verify().await;
}
