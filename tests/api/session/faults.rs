//! How Auth0's failures reach the client, against a wiremock Auth0 double
//! (and the guard double, which accepts the access token `admin`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use super::{
    double_tokens, error, form, login_query, ok, signup, spawn_double, CLIENT_ID, CLIENT_SECRET,
};
use crate::helpers::{Gql, TestApp};

const CLIENT_IP: &str = "203.0.113.7";

async fn login_as(app: &TestApp, email: &str) -> Gql {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", CLIENT_IP)
        .json(&json!({"query": login_query(), "variables": {"email": email, "password": "Any-Passw0rd"}}))
        .send()
        .await
        .unwrap();
    TestApp::read(resp).await
}

fn token_for(user: &str) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(form(&[("username", user)]))
}

#[tokio::test]
async fn auth0_failures_map_to_the_contract() {
    let server = MockServer::start().await;
    // the successful call carries everything Auth0 needs
    token_for("ok@example.com")
        .and(header("auth0-forwarded-for", CLIENT_IP))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(form(&[
            ("grant_type", "password"),
            ("password", "Any-Passw0rd"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("audience", "https://api.authgate.local"),
            ("scope", "openid profile email offline_access"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(double_tokens()))
        .expect(1)
        .mount(&server)
        .await;
    token_for("down@example.com")
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream connect error"))
        .expect(1) // a login is never retried (it would count twice for brute force)
        .mount(&server)
        .await;
    token_for("slow@example.com")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(double_tokens())
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    token_for("misconfig@example.com")
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "unauthorized_client",
            "error_description": "Grant type 'password' not allowed for the client."
        })))
        .mount(&server)
        .await;
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    token_for("busy@example.com")
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"error": "too_many_requests", "error_description": "Global limit has been reached"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/dbconnections/signup"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"))
        .mount(&server)
        .await;

    let app = spawn_double(&server, |s| {
        s.auth0.timeout = Duration::from_millis(400);
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;

    // the request Auth0 gets (matchers above) and the tokens it answers
    let g = login_as(&app, "ok@example.com").await;
    assert_eq!(ok(&g, "login")["accessToken"], "admin");

    // 5xx and timeouts: UPSTREAM_UNAVAILABLE, 503 when nothing resolved
    for who in ["down@example.com", "slow@example.com"] {
        let g = login_as(&app, who).await;
        error(&g, "UPSTREAM_UNAVAILABLE");
        assert_eq!(g.status, 503, "{who}");
        let msg = g.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            !msg.contains("upstream connect") && !msg.contains("127.0.0.1"),
            "{msg}"
        );
    }
    let g = signup(
        &app,
        json!({"email": "new@example.com", "password": "Str0ng-Passw0rd"}),
    )
    .await;
    error(&g, "UPSTREAM_UNAVAILABLE");
    assert_eq!(g.status, 503);

    // a misconfigured tenant: an internal error that says nothing of the cause
    let g = login_as(&app, "misconfig@example.com").await;
    let e = error(&g, "INTERNAL_SERVER_ERROR");
    let text = e.to_string().to_lowercase();
    for leak in ["unauthorized_client", "grant", "client", "auth0", "403"] {
        assert!(!text.contains(leak), "`{leak}` in {e:#}");
    }
    assert_eq!(g.status, 200);

    // Auth0's rate limit: RATE_LIMITED with the reset delay
    let g = login_as(&app, "busy@example.com").await;
    let e = error(&g, "RATE_LIMITED");
    let retry = e["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((25..=31).contains(&retry), "{retry}");
    assert_eq!(g.status, 429);

    server.verify().await;
}
