//! Cookie custody: the refresh token lives in an HttpOnly cookie, never in
//! the body.

use authgate::session::Custody;
use serde_json::json;

use super::{error, login_query, ok, refresh_query, s, LOGOUT, ME, USER};
use crate::helpers::{spawn_full, Gql, TestApp};

/// A POST with an explicit `Cookie` header (the test reads `Set-Cookie`
/// itself: a cookie jar would drop a `Secure` cookie over http).
async fn post(
    app: &TestApp,
    query: &str,
    vars: serde_json::Value,
    cookie: Option<&str>,
    bearer: Option<&str>,
) -> Gql {
    let mut req = reqwest::Client::new()
        .post(app.url("/graphql"))
        .json(&json!({"query": query, "variables": vars}));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    TestApp::read(req.send().await.unwrap()).await
}

/// The only `Set-Cookie` of a response.
fn set_cookie(g: &Gql) -> String {
    let all: Vec<_> = g.headers.get_all("set-cookie").iter().collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].to_str().unwrap().to_owned()
}

/// `name=value` of a `Set-Cookie`.
fn pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().trim()
}

fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn cookie_custody_keeps_the_refresh_token_out_of_the_body() {
    let app = spawn_full(|s| s.session.custody = Custody::Cookie).await;

    let g = post(
        &app,
        &login_query(),
        json!({"email": USER.0, "password": USER.1}),
        None,
        None,
    )
    .await;
    let p = ok(&g, "login").clone();
    assert!(p["refreshToken"].is_null(), "{p:#}");
    let c1 = set_cookie(&g);
    let attrs = attributes(&c1);
    for a in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/graphql",
        "Max-Age=2592000",
        "Secure",
    ] {
        assert!(attrs.iter().any(|x| x == a), "{a} missing in {c1}");
    }
    let cookie1 = pair(&c1).to_owned();
    let value1 = cookie1
        .strip_prefix("authgate_refresh=")
        .expect("the cookie name");
    assert!(value1.len() > 16);
    assert!(
        !g.body.to_string().contains(value1),
        "the token leaked into the body"
    );

    // refresh reads the cookie (no argument) and rotates it
    let g = post(&app, &refresh_query(), json!({}), Some(&cookie1), None).await;
    let r = ok(&g, "refreshToken").clone();
    assert!(r["refreshToken"].is_null());
    assert_eq!(r["user"]["id"], p["user"]["id"]);
    let c2 = set_cookie(&g);
    let cookie2 = pair(&c2).to_owned();
    assert_ne!(cookie1, cookie2);
    assert!(attributes(&c2).iter().any(|x| x == "HttpOnly"));
    let at = s(&r, "accessToken").to_owned();

    // logout clears the cookie
    let g = post(&app, LOGOUT, json!({}), Some(&cookie2), Some(&at)).await;
    assert_eq!(ok(&g, "logout")["ok"], true);
    let cleared = set_cookie(&g);
    assert_eq!(pair(&cleared), "authgate_refresh=");
    assert!(
        attributes(&cleared).iter().any(|x| x == "Max-Age=0"),
        "{cleared}"
    );
    assert!(
        attributes(&cleared).iter().any(|x| x == "Path=/graphql"),
        "{cleared}"
    );
    let g = post(&app, ME, json!({}), None, Some(&at)).await;
    assert_eq!(g.body["errors"][0]["extensions"]["reason"], "TOKEN_REVOKED");

    // after logout: no cookie → MISSING; the old cookie → INVALID (and cleared)
    let g = post(&app, &refresh_query(), json!({}), None, None).await;
    error(&g, "UNAUTHENTICATED");
    assert_eq!(
        g.body["errors"][0]["extensions"]["reason"],
        "REFRESH_TOKEN_MISSING"
    );
    let g = post(&app, &refresh_query(), json!({}), Some(&cookie2), None).await;
    error(&g, "UNAUTHENTICATED");
    assert_eq!(
        g.body["errors"][0]["extensions"]["reason"],
        "REFRESH_TOKEN_INVALID"
    );
    assert!(attributes(&set_cookie(&g)).iter().any(|x| x == "Max-Age=0"));
    // the rotated-away first cookie is dead too
    let g = post(&app, &refresh_query(), json!({}), Some(&cookie1), None).await;
    assert_eq!(
        g.body["errors"][0]["extensions"]["reason"],
        "REFRESH_TOKEN_INVALID"
    );
}

#[tokio::test]
async fn cookie_custody_without_secure_for_plain_http_development() {
    let app = spawn_full(|s| {
        s.session.custody = Custody::Cookie;
        s.session.cookie_secure = false;
        s.session.cookie_name = "rt".into();
    })
    .await;
    // a browser-like client with a cookie jar: the cookie round-trips by itself
    let g = app
        .gql(
            &login_query(),
            json!({"email": USER.0, "password": USER.1}),
            None,
        )
        .await;
    ok(&g, "login");
    let c = set_cookie(&g);
    assert!(c.starts_with("rt="));
    assert!(!attributes(&c).iter().any(|x| x == "Secure"), "{c}");
    let g = app.gql(&refresh_query(), json!({}), None).await;
    assert!(ok(&g, "refreshToken")["refreshToken"].is_null());
    let g = app.gql(LOGOUT, json!({}), None).await;
    ok(&g, "logout");
    let g = app.gql(&refresh_query(), json!({}), None).await;
    assert_eq!(
        g.body["errors"][0]["extensions"]["reason"],
        "REFRESH_TOKEN_MISSING"
    );
}
