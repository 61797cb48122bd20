//! Each identity mode, and client-sent identity headers never forwarded.

use std::collections::BTreeMap;

use authgate::datasources::{ClaimsHeaders, ClientCredentials, IdentityMode, ServiceTokenSettings};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{gateway, gateway_with_tokens, source};

const SDL: &str = r#"
extend type Query {
  me2: JSON @rest(source: "svc", path: "/me")
}
"#;

async fn upstream() -> MockServer {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&up)
        .await;
    up
}

/// Calls `me2` as `token`, with spoofed identity headers from the client.
async fn call(g: &super::Gateway, token: Option<&str>) -> serde_json::Value {
    let mut req = g
        .app
        .client
        .post(g.app.url("/graphql"))
        .header("x-user-id", "evil")
        .header("x-user-permissions", "admin:everything")
        .header("x-forwarded-user", "evil")
        .header("cookie", "session=stolen")
        .json(&json!({"query": "{ me2 }"}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let body: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
    assert_eq!(body["data"]["me2"], json!({"ok": true}), "{body}");
    body
}

fn header_of(req: &wiremock::Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn assert_no_client_headers(req: &wiremock::Request) {
    for h in ["x-forwarded-user", "cookie"] {
        assert_eq!(header_of(req, h), None, "{h} leaked");
    }
}

#[tokio::test]
async fn none_sends_no_identity_at_all() {
    let up = upstream().await;
    let g = gateway(SDL, vec![("svc", source(&up.uri()))]).await;
    call(&g, Some("user")).await;
    let req = &up.received_requests().await.unwrap()[0];
    assert_eq!(header_of(req, "authorization"), None);
    assert_eq!(header_of(req, "x-user-id"), None);
    assert_eq!(header_of(req, "x-user-permissions"), None);
    assert_no_client_headers(req);
    assert!(header_of(req, "x-request-id").is_some());
}

#[tokio::test]
async fn forward_token_sends_the_callers_token_only() {
    let up = upstream().await;
    let mut s = source(&up.uri());
    s.identity = IdentityMode::ForwardToken;
    s.headers.insert("x-api-version".into(), "2".into());
    let g = gateway(SDL, vec![("svc", s)]).await;
    call(&g, Some("user")).await;
    call(&g, None).await;
    let reqs = up.received_requests().await.unwrap();
    assert_eq!(
        header_of(&reqs[0], "authorization").as_deref(),
        Some("Bearer token-auth0|user")
    );
    assert_eq!(header_of(&reqs[0], "x-api-version").as_deref(), Some("2"));
    assert_eq!(header_of(&reqs[0], "x-user-id"), None);
    assert_no_client_headers(&reqs[0]);
    // anonymous: no token at all (not the client's `Authorization` either)
    assert_eq!(header_of(&reqs[1], "authorization"), None);
}

#[tokio::test]
async fn claims_headers_replace_spoofed_ones() {
    let up = upstream().await;
    let mut s = source(&up.uri());
    s.identity = IdentityMode::ClaimsHeaders(ClaimsHeaders {
        headers: BTreeMap::from([
            ("x-user-id".to_owned(), "sub".to_owned()),
            ("x-user-permissions".to_owned(), "permissions".to_owned()),
            ("x-user-email".to_owned(), "email".to_owned()),
        ]),
    });
    let g = gateway(SDL, vec![("svc", s)]).await;
    call(&g, Some("admin")).await;
    call(&g, None).await;
    let reqs = up.received_requests().await.unwrap();
    let got: Vec<String> = reqs[0]
        .headers
        .get_all("x-user-id")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, vec!["auth0|admin".to_owned()]);
    assert_eq!(
        header_of(&reqs[0], "x-user-permissions").as_deref(),
        Some("create:invitations,read:orders")
    );
    assert_eq!(
        header_of(&reqs[0], "x-user-email").as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(header_of(&reqs[0], "authorization"), None);
    assert_no_client_headers(&reqs[0]);
    // anonymous: none of the identity headers, spoofed or not
    assert_eq!(header_of(&reqs[1], "x-user-id"), None);
    assert_eq!(header_of(&reqs[1], "x-user-permissions"), None);
}

#[tokio::test]
async fn service_token_is_fetched_once_and_cached() {
    let idp = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(json!({
            "grant_type": "client_credentials",
            "client_id": "gw",
            "client_secret": "s3cret",
            "audience": "https://orders.internal"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "svc-token-1", "expires_in": 86400, "token_type": "Bearer"}),
        ))
        .expect(1)
        .mount(&idp)
        .await;
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(header("authorization", "Bearer svc-token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(5)
        .mount(&up)
        .await;
    let mut s = source(&up.uri());
    s.identity = IdentityMode::ServiceToken(ServiceTokenSettings {
        audience: "https://orders.internal".into(),
        token_url: None,
        client_id: None,
        client_secret: None,
    });
    // the default token source, as the lead wires it to the Auth0 settings
    let default_source = ClientCredentials::new(
        reqwest::Client::new(),
        format!("{}/oauth/token", idp.uri()).parse().unwrap(),
        "gw".into(),
        authgate::secret::Secret::new("s3cret"),
    );
    let g = gateway_with_tokens(
        SDL,
        vec![("svc", s)],
        Some(std::sync::Arc::new(default_source)),
    )
    .await;
    // concurrent first calls share one token fetch
    let calls = (0..4).map(|_| call(&g, Some("user")));
    futures::future::join_all(calls).await;
    call(&g, None).await;
    let reqs = up.received_requests().await.unwrap();
    assert!(reqs.iter().all(|r| header_of(r, "x-user-id").is_none()));
}

#[tokio::test]
async fn service_token_failure_is_upstream_unavailable_and_hides_the_secret() {
    let idp = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "access_denied"})))
        .mount(&idp)
        .await;
    let up = upstream().await;
    let mut s = source(&up.uri());
    s.identity = IdentityMode::ServiceToken(ServiceTokenSettings {
        audience: "https://orders.internal".into(),
        token_url: Some(format!("{}/oauth/token", idp.uri()).parse().unwrap()),
        client_id: Some("gw".into()),
        client_secret: Some(authgate::secret::Secret::new("s3cret")),
    });
    assert!(!format!("{s:?}").contains("s3cret"));
    let g = gateway(SDL, vec![("svc", s)]).await;
    let r = g.app.gql("{ me2 }", json!({}), Some("user")).await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE");
    assert!(!r.body.to_string().contains("s3cret"));
    assert!(up.received_requests().await.unwrap().is_empty());
}
