//! Refresh-token rotation, reuse detection, reuse interval, rotation off.

use std::time::Duration;

use serde_json::Value;

use super::*;

async fn refresh(idp: &Idp, rt: &str) -> reqwest::Response {
    idp.token(&[
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", rt),
    ])
    .await
}

async fn ok(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn rotation_issues_new_tokens_and_reuse_revokes_the_family() {
    let idp = spawn().await;
    let first = idp.login_full(USER.0, USER.1).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let second = ok(refresh(&idp, &rt1).await).await;
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    let claims = idp
        .verify(second["access_token"].as_str().unwrap(), API)
        .await;
    assert_eq!(claims["gty"], "refresh_token");
    assert!(second["id_token"].is_string());
    let third = ok(refresh(&idp, &rt2).await).await;
    let rt3 = third["refresh_token"].as_str().unwrap().to_string();

    // Reusing rt1 (already rotated) is a breach: the family is revoked...
    oauth_refused(
        refresh(&idp, &rt1).await,
        403,
        "invalid_grant",
        "Unknown or invalid refresh token.",
    )
    .await;
    // ...so even the newest token no longer works.
    oauth_err(refresh(&idp, &rt3).await, 403, "invalid_grant").await;
    // Another login starts a new family.
    let again = idp.login_full(USER.0, USER.1).await;
    ok(refresh(&idp, again["refresh_token"].as_str().unwrap()).await).await;
}

#[tokio::test]
async fn reuse_interval_allows_only_the_immediately_previous_token() {
    let idp = spawn_with(|s| s.reuse_interval = Duration::from_secs(60)).await;
    let first = idp.login_full(USER.0, USER.1).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let second = ok(refresh(&idp, &rt1).await).await;
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    // rt1 is the immediately previous token and rt2 is unused: allowed inside the window.
    let sibling = ok(refresh(&idp, &rt1).await).await;
    assert!(sibling["refresh_token"].is_string());
    // Once rt2 is used, rt1 is no longer the immediately previous token: breach.
    let third = ok(refresh(&idp, &rt2).await).await;
    oauth_err(refresh(&idp, &rt1).await, 403, "invalid_grant").await;
    oauth_err(
        refresh(&idp, third["refresh_token"].as_str().unwrap()).await,
        403,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn rotation_off_keeps_the_token_and_returns_none() {
    let idp = spawn_with(|s| s.refresh_token_rotation = false).await;
    let first = idp.login_full(USER.0, USER.1).await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let body = ok(refresh(&idp, &rt).await).await;
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert!(body["access_token"].is_string());
    }
}

#[tokio::test]
async fn refresh_scope_may_only_shrink_and_other_clients_cannot_use_it() {
    let idp = spawn().await;
    let first = idp.login_full(ADMIN.0, ADMIN.1).await;
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let res = idp
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", &rt),
            ("scope", "openid write:orders"),
        ])
        .await;
    oauth_err(res, 403, "invalid_scope").await;
    let res = idp
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", &rt),
            ("scope", "openid"),
        ])
        .await;
    let body = ok(res).await;
    assert_eq!(body["scope"], "openid");
    oauth_err(refresh(&idp, "v1.made-up").await, 403, "invalid_grant").await;
}
