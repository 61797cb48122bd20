//! `refreshToken` and `logout` (body custody), and the whole session flow.

use serde_json::json;

use super::{error, login, logout, me, ok, refresh, s, signup, ADMIN, USER};
use crate::helpers::{spawn_full, FullApp};

fn reason(g: &crate::helpers::Gql) -> &str {
    g.body["errors"][0]["extensions"]["reason"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn refresh_rotates_detects_reuse_and_logout_revokes() {
    let app = spawn_full(|_| {}).await;

    // rotation: a new refresh token each time
    let p = ok(&login(&app, USER.0, USER.1).await, "login").clone();
    let rt1 = s(&p, "refreshToken");
    let g = refresh(&app, Some(rt1)).await;
    let r = ok(&g, "refreshToken").clone();
    let rt2 = s(&r, "refreshToken");
    assert_ne!(rt1, rt2);
    assert_ne!(s(&r, "accessToken"), s(&p, "accessToken"));
    assert_eq!(r["user"]["id"], p["user"]["id"]);
    assert_eq!(r["user"]["email"], USER.0);
    ok(&me(&app, s(&r, "accessToken")).await, "me");

    // the old one again: refused, and its whole family is revoked
    let g = refresh(&app, Some(rt1)).await;
    error(&g, "UNAUTHENTICATED");
    assert_eq!(reason(&g), "REFRESH_TOKEN_INVALID");
    let g = refresh(&app, Some(rt2)).await;
    error(&g, "UNAUTHENTICATED");
    assert_eq!(reason(&g), "REFRESH_TOKEN_INVALID");
    // a token that never existed
    assert_eq!(
        reason(&refresh(&app, Some("made-up")).await),
        "REFRESH_TOKEN_INVALID"
    );

    // no token at all: 401, "log in"
    for rt in [None, Some("")] {
        let g = refresh(&app, rt).await;
        error(&g, "UNAUTHENTICATED");
        assert_eq!(reason(&g), "REFRESH_TOKEN_MISSING");
        assert_eq!(g.status, 401);
        assert!(g.headers.get("www-authenticate").is_some());
    }

    // logout: the access token is denylisted, the refresh token revoked
    let p = ok(&login(&app, ADMIN.0, ADMIN.1).await, "login").clone();
    let (at, rt) = (s(&p, "accessToken"), s(&p, "refreshToken"));
    ok(&me(&app, at).await, "me");
    assert_eq!(
        ok(&logout(&app, Some(at), Some(rt)).await, "logout")["ok"],
        true
    );
    let g = me(&app, at).await;
    error(&g, "UNAUTHENTICATED");
    assert_eq!(reason(&g), "TOKEN_REVOKED");
    assert_eq!(g.status, 401);
    let g = refresh(&app, Some(rt)).await;
    assert_eq!(reason(&g), "REFRESH_TOKEN_INVALID");
    // twice is harmless, and so is a logout with nothing
    assert_eq!(
        ok(&logout(&app, Some(at), Some(rt)).await, "logout")["ok"],
        true
    );
    assert_eq!(ok(&logout(&app, None, None).await, "logout")["ok"], true);
    // another user's session is untouched
    let other = ok(&login(&app, USER.0, USER.1).await, "login").clone();
    ok(&me(&app, s(&other, "accessToken")).await, "me");
}

#[tokio::test]
async fn without_rotation_the_refresh_token_stays_valid() {
    let app = spawn_full(|s| s.emulator.refresh_token_rotation = false).await;
    let p = ok(&login(&app, USER.0, USER.1).await, "login").clone();
    let rt = s(&p, "refreshToken");
    for _ in 0..2 {
        let g = refresh(&app, Some(rt)).await;
        let r = ok(&g, "refreshToken");
        // the payload hands back the token that is still valid
        assert_eq!(s(r, "refreshToken"), rt);
        ok(&me(&app, s(r, "accessToken")).await, "me");
    }
}

/// The tokens and passwords a full flow handled.
pub struct Flow {
    pub secrets: Vec<String>,
}

/// signup → login → me → refresh → logout → me refused → refresh refused.
pub async fn full_flow(app: &FullApp) -> Flow {
    let mut secrets = Vec::new();
    let password = "Fl0w-Passw0rd!";
    secrets.push(password.to_owned());

    let g = signup(
        app,
        json!({"email": "flow@example.com", "password": password, "name": "Flo"}),
    )
    .await;
    let created = ok(&g, "signup").clone();
    let auth = &created["auth"];
    for k in ["accessToken", "refreshToken", "idToken"] {
        secrets.push(s(auth, k).to_owned());
    }

    let p = ok(&login(app, "flow@example.com", password).await, "login").clone();
    for k in ["accessToken", "refreshToken", "idToken"] {
        secrets.push(s(&p, k).to_owned());
    }
    assert_eq!(p["user"]["id"], created["userId"]);

    let m = me(app, s(&p, "accessToken")).await;
    let viewer = ok(&m, "me");
    assert_eq!(viewer["id"], created["userId"]);
    assert_eq!(viewer["email"], "flow@example.com");
    assert_eq!(viewer["name"], "Flo");

    let r = ok(
        &refresh(app, Some(s(&p, "refreshToken"))).await,
        "refreshToken",
    )
    .clone();
    for k in ["accessToken", "refreshToken", "idToken"] {
        secrets.push(s(&r, k).to_owned());
    }
    let (at, rt) = (s(&r, "accessToken"), s(&r, "refreshToken"));
    ok(&me(app, at).await, "me");

    assert_eq!(
        ok(&logout(app, Some(at), Some(rt)).await, "logout")["ok"],
        true
    );
    let g = me(app, at).await;
    error(&g, "UNAUTHENTICATED");
    assert_eq!(reason(&g), "TOKEN_REVOKED");
    let g = refresh(app, Some(rt)).await;
    error(&g, "UNAUTHENTICATED");
    assert_eq!(reason(&g), "REFRESH_TOKEN_INVALID");
    Flow { secrets }
}

#[tokio::test]
async fn full_session_flow() {
    let app = spawn_full(|_| {}).await;
    let flow = full_flow(&app).await;
    assert_eq!(flow.secrets.len(), 10);
}

/// Auth0's default access token has no `jti`, so a login in the same second
/// as a logout can be handed the very token just revoked: authgate asks once
/// more and answers a token that works, never an internal error.
#[tokio::test]
async fn login_right_after_logout_gets_a_working_token() {
    let app = spawn_full(|_| {}).await;
    for _ in 0..2 {
        let p = ok(&login(&app, USER.0, USER.1).await, "login").clone();
        let (at, rt) = (s(&p, "accessToken"), s(&p, "refreshToken"));
        assert_eq!(
            ok(&logout(&app, Some(at), Some(rt)).await, "logout")["ok"],
            true
        );
        let again = login(&app, USER.0, USER.1).await;
        let q = ok(&again, "login").clone();
        let fresh = s(&q, "accessToken");
        assert_ne!(fresh, at, "a revoked token was handed out");
        ok(&me(&app, fresh).await, "me");
        // the old one stays refused
        assert_eq!(reason(&me(&app, at).await), "TOKEN_REVOKED");
    }
}
