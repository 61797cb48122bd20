//! Brute-force protection: 10 consecutive failures per user + IP.

use std::time::Duration;

use super::*;
use authgate::emulator::ClientSettings;
use authgate::secret::Secret;

async fn login_from(idp: &Idp, ip: &str, password: &str) -> reqwest::Response {
    idp.http
        .post(idp.url("oauth/token"))
        .header("auth0-forwarded-for", ip)
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", USER.0),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ten_failures_block_the_user_ip_pair() {
    let idp = spawn().await;
    for _ in 0..10 {
        oauth_err(
            login_from(&idp, "203.0.113.7", "wrong").await,
            403,
            "invalid_grant",
        )
        .await;
    }
    // Blocked now, even with the right password.
    let body = oauth_err(
        login_from(&idp, "203.0.113.7", USER.1).await,
        429,
        "too_many_attempts",
    )
    .await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("blocked"));
    // Another end-user IP (the header is trusted for this client) is not blocked.
    assert_eq!(login_from(&idp, "198.51.100.1", USER.1).await.status(), 200);

    // The test API lifts the block.
    let res = idp
        .http
        .post(idp.url("emulator/brute-force/reset"))
        .query(&[("email", USER.0)])
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(login_from(&idp, "203.0.113.7", USER.1).await.status(), 200);
}

#[tokio::test]
async fn a_success_resets_the_counter() {
    let idp = spawn().await;
    for _ in 0..9 {
        login_from(&idp, "203.0.113.8", "wrong").await;
    }
    assert_eq!(login_from(&idp, "203.0.113.8", USER.1).await.status(), 200);
    for _ in 0..9 {
        login_from(&idp, "203.0.113.8", "wrong").await;
    }
    assert_eq!(login_from(&idp, "203.0.113.8", USER.1).await.status(), 200);
}

#[tokio::test]
async fn header_is_ignored_for_untrusted_clients() {
    let idp = spawn_with(|s| {
        s.clients = vec![ClientSettings {
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            trust_ip_header: false,
            ..ClientSettings::default()
        }];
    })
    .await;
    for i in 0..10 {
        login_from(&idp, &format!("203.0.113.{i}"), "wrong").await;
    }
    // All ten counted against the socket peer (127.0.0.1): any header value is blocked.
    oauth_err(
        login_from(&idp, "198.51.100.99", USER.1).await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn the_block_lifts_after_the_configured_time() {
    // The emulator's clock is the real one, so the margins are wide: the
    // block (2 s) only has to outlast one local request, and the test waits
    // for the lift by polling, up to a deadline far past the block.
    let block = Duration::from_secs(2);
    let idp = spawn_with(|s| {
        s.brute_force_threshold = 2;
        s.brute_force_block = block;
    })
    .await;
    login_from(&idp, "203.0.113.9", "wrong").await;
    let blocked_from = std::time::Instant::now();
    login_from(&idp, "203.0.113.9", "wrong").await;
    oauth_err(
        login_from(&idp, "203.0.113.9", USER.1).await,
        429,
        "too_many_attempts",
    )
    .await;
    let deadline = blocked_from + Duration::from_secs(30);
    loop {
        let status = login_from(&idp, "203.0.113.9", USER.1).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "blocked until the block lifts");
        assert!(
            std::time::Instant::now() < deadline,
            "the block never lifted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // never before the configured time (counted from before the request
    // that set the block, so this cannot fail on a slow machine)
    assert!(blocked_from.elapsed() >= block);
}
