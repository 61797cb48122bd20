//! The Management API client: token caching, coalescing, 401 handling, calls and errors.

use std::time::Duration;

use authgate::auth0::{CreateUser, ManagementError, TicketRequest};
use authgate::secret::Secret;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::helpers::*;

fn user_json(id: &str) -> serde_json::Value {
    json!({
        "user_id": id, "email": "ada@example.com", "email_verified": false,
        "identities": [{"connection": "Username-Password-Authentication", "user_id": "63d1", "provider": "auth0", "isSocial": false}],
        "name": "ada@example.com", "nickname": "ada", "created_at": "2024-01-01T00:00:00.000Z"
    })
}

/// Mounts the client-credentials token endpoint answering `token`, expecting `n` calls.
async fn mount_token(server: &MockServer, token: &str, n: u64) {
    let audience = format!("{}/api/v2/", server.uri());
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("audience", &audience),
        ]))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"access_token": token, "expires_in": 86400, "token_type": "Bearer"}),
                )
                // Slow enough that concurrent callers overlap.
                .set_delay(Duration::from_millis(100)),
        )
        .expect(n)
        .mount(server)
        .await;
}

#[tokio::test]
async fn token_is_cached_across_50_calls() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt-1", 1).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C63d1"))
        .and(header("authorization", "Bearer mgmt-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json("auth0|63d1")))
        .expect(50)
        .mount(&server)
        .await;
    let m = management(&server);
    for _ in 0..50 {
        let u = m.get_user("auth0|63d1").await.unwrap();
        assert_eq!(u.user_id, "auth0|63d1");
        assert_eq!(u.other["identities"][0]["provider"], "auth0");
    }
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt-1", 1).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C63d1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json("auth0|63d1")))
        .expect(50)
        .mount(&server)
        .await;
    let m = management(&server);
    let calls = (0..50).map(|_| {
        let m = m.clone();
        tokio::spawn(async move { m.get_user("auth0|63d1").await })
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap().unwrap();
    }
}

#[tokio::test]
async fn token_is_renewed_after_expiry_minus_margin() {
    let server = MockServer::start().await;
    // A lifetime shorter than the margin is used for half of it: 0s → never cached.
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "short", "expires_in": 0, "token_type": "Bearer"}),
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/users/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json("x")))
        .expect(2)
        .mount(&server)
        .await;
    let m = management(&server);
    m.get_user("x").await.unwrap();
    m.get_user("x").await.unwrap();
}

#[tokio::test]
async fn a_401_drops_the_cached_token_and_retries_once() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "old", "expires_in": 86400, "token_type": "Bearer"}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "new", "expires_in": 86400, "token_type": "Bearer"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/users/u1"))
        .and(header("authorization", "Bearer old"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/users/u1"))
        .and(header("authorization", "Bearer new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json("u1")))
        .expect(2)
        .mount(&server)
        .await;
    let m = management(&server);
    m.get_user("u1").await.unwrap();
    // The new token is cached.
    m.get_user("u1").await.unwrap();
}

#[tokio::test]
async fn a_second_401_is_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "t", "expires_in": 86400, "token_type": "Bearer"}),
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/users/u1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"statusCode": 401, "error": "Unauthorized", "message": "Expired token received for JSON Web Token validation", "attributes": {"error": "jwt expired"}})))
        .expect(2)
        .mount(&server)
        .await;
    let e = management(&server).get_user("u1").await.unwrap_err();
    match e {
        ManagementError::Unauthorized { message } => {
            assert_eq!(
                message,
                "Expired token received for JSON Web Token validation"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn token_endpoint_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"error": "access_denied", "error_description": "Unauthorized"}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = management(&server).get_user("u1").await.unwrap_err();
    assert!(
        matches!(e, ManagementError::Misconfigured { ref error, .. } if error == "access_denied"),
        "{e:?}"
    );

    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let e = management(&server).get_user("u1").await.unwrap_err();
    assert!(matches!(e, ManagementError::Unavailable { .. }), "{e:?}");
}

#[tokio::test]
async fn create_user_sends_the_invitation_shape() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt", 1).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .and(header("authorization", "Bearer mgmt"))
        .and(body_json(json!({
            "connection": "Username-Password-Authentication",
            "email": "ada@example.com",
            "password": "random-unknown-pw",
            "email_verified": false,
            "verify_email": false,
            "name": "Ada",
            "app_metadata": {"invitedBy": "auth0|admin"}
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(user_json("auth0|63d1")))
        .expect(1)
        .mount(&server)
        .await;
    let user = management(&server)
        .create_user(&CreateUser {
            connection: "Username-Password-Authentication".into(),
            email: "ada@example.com".into(),
            password: Secret::new("random-unknown-pw"),
            email_verified: false,
            verify_email: false,
            name: Some("Ada".into()),
            user_metadata: None,
            app_metadata: Some(
                json!({"invitedBy": "auth0|admin"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        })
        .await
        .unwrap();
    assert_eq!(user.user_id, "auth0|63d1");
    assert_eq!(user.nickname.as_deref(), Some("ada"));
}

#[tokio::test]
async fn users_by_email_and_search() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt", 1).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users-by-email"))
        .and(query_param("email", "ada+x@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([user_json("auth0|1")])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users-by-email"))
        .and(query_param("email", "nobody@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users"))
        .and(query_param("q", "email:\"ada@example.com\""))
        .and(query_param("search_engine", "v3"))
        .and(query_param("page", "2"))
        .and(query_param("per_page", "10"))
        .and(query_param("include_totals", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"users": [user_json("auth0|1")], "start": 20, "limit": 10, "length": 1, "total": 21})))
        .expect(1)
        .mount(&server)
        .await;
    let m = management(&server);
    assert_eq!(
        m.users_by_email("ada+x@example.com").await.unwrap().len(),
        1
    );
    assert!(m
        .users_by_email("nobody@example.com")
        .await
        .unwrap()
        .is_empty());
    let page = m
        .search_users("email:\"ada@example.com\"", 2, 10)
        .await
        .unwrap();
    assert_eq!(page.total, 21);
    assert_eq!(page.users[0].user_id, "auth0|1");
}

#[tokio::test]
async fn list_roles_pages_through_everything() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt", 1).await;
    let first: Vec<_> = (0..100)
        .map(|i| json!({"id": format!("rol_{i}"), "name": format!("role {i}"), "description": "d"}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/v2/roles"))
        .and(query_param("name_filter", "role"))
        .and(query_param("page", "0"))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"roles": first, "start": 0, "limit": 100, "total": 101})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/roles"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"roles": [{"id": "rol_last", "name": "role last"}], "start": 100, "limit": 100, "total": 101})))
        .expect(1)
        .mount(&server)
        .await;
    let roles = management(&server).list_roles(Some("role")).await.unwrap();
    assert_eq!(roles.len(), 101);
    assert_eq!(roles[100].id, "rol_last");
    assert_eq!(roles[100].description, None);
}

#[tokio::test]
async fn roles_of_a_user_and_assignment_use_encoded_ids() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt", 1).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/auth0%7C63d1/roles"))
        .and(body_json(json!({"roles": ["rol_NHBmr6NkzbRcHob1"]})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/auth0%7C63d1/roles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!([{"id": "rol_NHBmr6NkzbRcHob1", "name": "admin", "description": "Admins"}]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let m = management(&server);
    m.assign_roles("auth0|63d1", &["rol_NHBmr6NkzbRcHob1".to_owned()])
        .await
        .unwrap();
    let roles = m.user_roles("auth0|63d1").await.unwrap();
    assert_eq!(roles[0].name, "admin");
}

#[tokio::test]
async fn password_change_ticket() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt", 1).await;
    Mock::given(method("POST"))
        .and(path("/api/v2/tickets/password-change"))
        .and(body_json(json!({
            "user_id": "auth0|63d1",
            "result_url": "https://app.example.com/welcome",
            "ttl_sec": 86400,
            "mark_email_as_verified": true
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"ticket": "https://acme.eu.auth0.com/u/reset-password?ticket=vCXr123#"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let m = management(&server);
    let url = m
        .create_password_change_ticket(&TicketRequest {
            user_id: "auth0|63d1".into(),
            result_url: Some("https://app.example.com/welcome".parse().unwrap()),
            client_id: None,
            ttl_sec: 86400,
            mark_email_as_verified: true,
        })
        .await
        .unwrap();
    assert_eq!(url.query(), Some("ticket=vCXr123"));
    assert_eq!(url.fragment(), Some(""));

    let e = m
        .create_password_change_ticket(&TicketRequest {
            user_id: "auth0|63d1".into(),
            result_url: Some("https://app.example.com/".parse().unwrap()),
            client_id: Some("cid".into()),
            ..TicketRequest::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, ManagementError::BadRequest(_)), "{e:?}");
}

#[tokio::test]
async fn management_errors_map_to_variants() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    type Check = fn(&ManagementError) -> bool;
    let cases: Vec<(ResponseTemplate, Check)> = vec![
        (
            ResponseTemplate::new(409).set_body_json(json!({"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"})),
            |e| matches!(e, ManagementError::Conflict { message } if message == "The user already exists."),
        ),
        (
            ResponseTemplate::new(404).set_body_json(json!({"statusCode":404,"error":"Not Found","message":"The user does not exist.","errorCode":"inexistent_user"})),
            |e| matches!(e, ManagementError::NotFound { message } if message == "The user does not exist."),
        ),
        (
            ResponseTemplate::new(403).set_body_json(json!({"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: read:users","errorCode":"insufficient_scope"})),
            |e| matches!(e, ManagementError::Forbidden { error_code, .. } if error_code == "insufficient_scope"),
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({"statusCode":400,"error":"Bad Request","message":"PasswordStrengthError: Password is too weak"})),
            |e| matches!(e, ManagementError::BadRequest(m) if m == "PasswordStrengthError: Password is too weak"),
        ),
        (
            ResponseTemplate::new(429)
                .set_body_json(json!({"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}))
                .insert_header("x-ratelimit-reset", (now + 10).to_string().as_str()),
            |e| matches!(e, ManagementError::RateLimited { retry_after: Some(d) } if *d <= Duration::from_secs(10) && *d >= Duration::from_secs(8)),
        ),
        (
            ResponseTemplate::new(404).set_body_string("<html>nope</html>"),
            |e| matches!(e, ManagementError::NotFound { .. }),
        ),
        (
            ResponseTemplate::new(200).set_body_string("garbage"),
            |e| matches!(e, ManagementError::Unavailable { .. }),
        ),
    ];
    for (template, check) in cases {
        let server = MockServer::start().await;
        mount_token(&server, "mgmt", 1).await;
        Mock::given(path("/api/v2/users/u1"))
            .respond_with(template)
            .expect(1)
            .mount(&server)
            .await;
        let e = management(&server).get_user("u1").await.unwrap_err();
        assert!(check(&e), "{e:?}");
    }
}

#[tokio::test]
async fn reads_retry_5xx_but_writes_do_not() {
    let server = MockServer::start().await;
    mount_token(&server, "mgmt", 1).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/u1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/u1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user_json("u1")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let m = management(&server);
    m.get_user("u1").await.unwrap();
    let e = m
        .create_user(&CreateUser {
            connection: "c".into(),
            email: "e@example.com".into(),
            password: Secret::new("p"),
            email_verified: false,
            verify_email: false,
            name: None,
            user_metadata: None,
            app_metadata: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, ManagementError::Unavailable { .. }), "{e:?}");
}
