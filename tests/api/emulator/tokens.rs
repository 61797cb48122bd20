//! /oauth/token (password, password-realm, client credentials), /userinfo, /oauth/revoke.

use serde_json::{json, Value};

use super::*;
use authgate::emulator::{ClientSettings, UserSeed};
use authgate::secret::Secret;

#[tokio::test]
async fn password_grant_with_audience_issues_auth0_shaped_tokens() {
    let idp = spawn().await;
    let res = idp
        .login(
            ADMIN.0,
            ADMIN.1,
            &[
                ("audience", API),
                ("scope", "openid profile email offline_access read:orders"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(content_type(&res), "application/json; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["pragma"], "no-cache");
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(res.headers().contains_key(h), "{h}");
    }
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(
        body["scope"],
        "openid profile email offline_access read:orders"
    );
    assert!(body["refresh_token"].is_string());

    let at = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(at).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert!(header.kid.is_some());
    let claims = idp.verify(at, API).await;
    assert_eq!(claims["iss"], idp.issuer());
    assert!(claims["sub"].as_str().unwrap().starts_with("auth0|"));
    assert_eq!(
        claims["aud"],
        json!([API, format!("{}userinfo", idp.issuer())])
    );
    assert_eq!(claims["azp"], CLIENT_ID);
    assert_eq!(claims["gty"], "password");
    assert_eq!(
        claims["scope"],
        "openid profile email offline_access read:orders"
    );
    assert_eq!(
        claims["permissions"],
        json!([
            "create:invitations",
            "read:orders",
            "read:users",
            "write:orders"
        ])
    );
    assert_eq!(claims["https://authgate.dev/roles"], json!(["admin"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        86400
    );

    let id = idp
        .verify(body["id_token"].as_str().unwrap(), CLIENT_ID)
        .await;
    assert_eq!(id["aud"], CLIENT_ID);
    assert_eq!(id["sub"], claims["sub"]);
    assert_eq!(id["email"], ADMIN.0);
    assert_eq!(id["email_verified"], true);
    for c in ["name", "nickname", "picture", "updated_at", "iat", "exp"] {
        assert!(!id[c].is_null(), "{c}");
    }
    assert!(id.get("nonce").is_none());
}

#[tokio::test]
async fn rbac_limits_scopes_and_aud_is_a_string_without_openid() {
    let idp = spawn().await;
    let res = idp
        .login(
            USER.0,
            USER.1,
            &[("audience", API), ("scope", "read:orders write:orders")],
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "read:orders");
    assert!(body.get("id_token").is_none());
    assert!(body.get("refresh_token").is_none());
    let claims = idp
        .verify(body["access_token"].as_str().unwrap(), API)
        .await;
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["permissions"], json!(["read:orders"]));
    assert_eq!(claims["https://authgate.dev/roles"], json!(["user"]));
}

#[tokio::test]
async fn no_audience_gives_an_opaque_token_usable_only_at_userinfo() {
    let idp = spawn().await;
    let res = idp.login(USER.0, USER.1, &[]).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "openid profile email address phone");
    let at = body["access_token"].as_str().unwrap();
    assert!(jsonwebtoken::decode_header(at)
        .map(|h| h.alg != jsonwebtoken::Algorithm::RS256)
        .unwrap_or(true));
    assert_eq!(at.split('.').count(), 5, "JWE-like, like Auth0");
    assert!(body["id_token"].is_string());

    let res = idp
        .http
        .get(idp.url("userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info: Value = res.json().await.unwrap();
    assert!(info["sub"].as_str().unwrap().starts_with("auth0|"));
    assert_eq!(info["email"], USER.0);
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["nickname"], "user");
    assert!(info["picture"].is_string() && info["updated_at"].is_string());

    // The opaque token is not a Management API token.
    let res = idp
        .http
        .get(idp.url("api/v2/users"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    mgmt_err(res, 401).await;
}

#[tokio::test]
async fn userinfo_accepts_jwt_with_userinfo_audience_only() {
    let idp = spawn().await;
    let full = idp.login_full(ADMIN.0, ADMIN.1).await;
    let res = idp
        .http
        .get(idp.url("userinfo"))
        .bearer_auth(full["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["email"], ADMIN.0);
    assert_eq!(info["https://authgate.dev/roles"], json!(["admin"]));

    let body: Value = idp
        .login(
            ADMIN.0,
            ADMIN.1,
            &[("audience", API), ("scope", "read:orders")],
        )
        .await
        .json()
        .await
        .unwrap();
    let res = idp
        .http
        .get(idp.url("userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    oauth_err(res, 401, "invalid_token").await;
    let res = idp.http.get(idp.url("userinfo")).send().await.unwrap();
    oauth_err(res, 401, "invalid_token").await;
    let res = idp
        .http
        .get(idp.url("userinfo"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    oauth_err(res, 401, "invalid_token").await;
}

#[tokio::test]
async fn json_body_and_basic_auth_work() {
    let idp = spawn().await;
    let res = idp
        .http
        .post(idp.url("oauth/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&json!({"grant_type": "password", "username": USER.0, "password": USER.1, "audience": API}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = idp
        .http
        .post(idp.url("oauth/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .json(&json!({"grant_type": "password", "username": USER.0, "password": USER.1}))
        .send()
        .await
        .unwrap();
    oauth_err(res, 401, "access_denied").await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_indistinguishable() {
    let idp = spawn().await;
    let a = oauth_err(
        idp.login(USER.0, "Wrong-Passw0rd!", &[]).await,
        403,
        "invalid_grant",
    )
    .await;
    let b = oauth_err(
        idp.login("nobody@example.com", "Wrong-Passw0rd!", &[])
            .await,
        403,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        a,
        json!({"error": "invalid_grant", "error_description": "Wrong email or password."})
    );
    assert_eq!(a, b);
}

#[tokio::test]
async fn password_realm_grant() {
    let idp = spawn().await;
    let base = [
        ("grant_type", REALM_GRANT),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("username", USER.0),
        ("password", USER.1),
    ];
    let mut ok = base.to_vec();
    ok.push(("realm", "Username-Password-Authentication"));
    assert_eq!(idp.token(&ok).await.status(), 200);
    let mut bad = base.to_vec();
    bad.push(("realm", "Other-Connection"));
    oauth_err(idp.token(&bad).await, 400, "invalid_request").await;
    oauth_refused(
        idp.token(&base).await,
        400,
        "invalid_request",
        "Missing required parameter: realm",
    )
    .await;
}

#[tokio::test]
async fn token_endpoint_errors() {
    let idp = spawn_with(|s| {
        s.clients.push(ClientSettings {
            client_id: "m2m-only".into(),
            client_secret: Secret::new("m2m-secret"),
            grant_types: vec!["client_credentials".into()],
            ..ClientSettings::default()
        });
    })
    .await;
    // Bad client secret.
    let res = idp
        .token(&[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
            ("username", USER.0),
            ("password", USER.1),
        ])
        .await;
    oauth_refused(res, 401, "access_denied", "Unauthorized").await;
    // Unknown client.
    let res = idp
        .token(&[
            ("grant_type", "password"),
            ("client_id", "ghost"),
            ("client_secret", "x"),
            ("username", USER.0),
            ("password", USER.1),
        ])
        .await;
    oauth_err(res, 401, "access_denied").await;
    // Grant not enabled for the client.
    let res = idp
        .token(&[
            ("grant_type", "password"),
            ("client_id", "m2m-only"),
            ("client_secret", "m2m-secret"),
            ("username", USER.0),
            ("password", USER.1),
        ])
        .await;
    oauth_refused(
        res,
        403,
        "unauthorized_client",
        "Grant type 'password' not allowed for the client.",
    )
    .await;
    // Unsupported grant.
    let res = idp
        .token(&[
            ("grant_type", "urn:nope"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    oauth_err(res, 400, "unsupported_grant_type").await;
    // Missing grant_type.
    oauth_err(
        idp.token(&[("client_id", CLIENT_ID)]).await,
        400,
        "invalid_request",
    )
    .await;
    // Unknown audience.
    let res = idp
        .login(USER.0, USER.1, &[("audience", "https://unknown.example")])
        .await;
    oauth_refused(
        res,
        403,
        "access_denied",
        "Service not enabled within domain: https://unknown.example",
    )
    .await;
    // Bad scope type (JSON).
    let res = idp
        .http
        .post(idp.url("oauth/token"))
        .json(&json!({"grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "username": USER.0, "password": USER.1, "scope": 42}))
        .send()
        .await
        .unwrap();
    oauth_err(res, 400, "invalid_scope").await;
    // Error answers are not cached either.
    let res = idp.login(USER.0, "wrong", &[]).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn mfa_and_blocked_users() {
    let idp = spawn_with(|s| {
        s.users.push(UserSeed {
            email: "mfa@example.com".into(),
            password: Secret::new("Mfa-Passw0rd!"),
            mfa: true,
            ..UserSeed::default()
        });
        s.users.push(UserSeed {
            email: "blocked@example.com".into(),
            password: Secret::new("Blocked-Passw0rd!"),
            blocked: true,
            ..UserSeed::default()
        });
    })
    .await;
    let body = oauth_refused(
        idp.login("mfa@example.com", "Mfa-Passw0rd!", &[]).await,
        403,
        "mfa_required",
        "Multifactor authentication required",
    )
    .await;
    assert!(body["mfa_token"].as_str().unwrap().len() > 20);
    oauth_refused(
        idp.login("blocked@example.com", "Blocked-Passw0rd!", &[])
            .await,
        401,
        "unauthorized",
        "user is blocked",
    )
    .await;
    // A wrong password does not reveal the block.
    oauth_err(
        idp.login("blocked@example.com", "nope", &[]).await,
        403,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn client_credentials_for_a_configured_api() {
    let idp = spawn().await;
    let res = idp
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("audience", API),
        ])
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let claims = idp
        .verify(body["access_token"].as_str().unwrap(), API)
        .await;
    assert_eq!(claims["sub"], format!("{CLIENT_ID}@clients"));
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["azp"], CLIENT_ID);
    let res = idp
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    oauth_err(res, 403, "access_denied").await;
}

#[tokio::test]
async fn revoke_refresh_token() {
    let idp = spawn().await;
    let full = idp.login_full(USER.0, USER.1).await;
    let rt = full["refresh_token"].as_str().unwrap();
    let res = idp
        .http
        .post(idp.url("oauth/revoke"))
        .json(&json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": rt}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(content_type(&res).starts_with("application/json"));
    assert_eq!(res.text().await.unwrap(), "");
    let res = idp.refresh(rt).await;
    oauth_refused(
        res,
        403,
        "invalid_grant",
        "Unknown or invalid refresh token.",
    )
    .await;
    // Unknown token: also 200.
    let res = idp
        .http
        .post(idp.url("oauth/revoke"))
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("token", "v1.unknown"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Bad client.
    let res = idp
        .http
        .post(idp.url("oauth/revoke"))
        .json(&json!({"client_id": CLIENT_ID, "client_secret": "wrong", "token": rt}))
        .send()
        .await
        .unwrap();
    oauth_err(res, 401, "invalid_client").await;
    let res = idp
        .http
        .post(idp.url("oauth/revoke"))
        .json(&json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
        .send()
        .await
        .unwrap();
    oauth_err(res, 400, "invalid_request").await;
}
