//! Every error of auth0-wire.md mapped to its variant; odd bodies; retries; timeouts.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authgate::auth0::{IdentityProvider, ProviderError, SignupRequest};
use authgate::secret::Secret;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::helpers::*;

#[derive(Clone, Copy, Debug)]
enum Call {
    Login,
    Refresh,
    Signup,
    Revoke,
    Userinfo,
    Reset,
}

impl Call {
    fn path(self) -> &'static str {
        match self {
            Call::Login | Call::Refresh => "/oauth/token",
            Call::Signup => "/dbconnections/signup",
            Call::Revoke => "/oauth/revoke",
            Call::Userinfo => "/userinfo",
            Call::Reset => "/dbconnections/change_password",
        }
    }
}

async fn run(server: &MockServer, call: Call) -> Result<(), ProviderError> {
    let c = client(server);
    let cx = ctx();
    match call {
        Call::Login => c
            .password_login("ada@example.com", &Secret::new("pw"), &cx)
            .await
            .map(drop),
        Call::Refresh => c.refresh(&Secret::new("rt"), &cx).await.map(drop),
        Call::Signup => c
            .signup(
                &SignupRequest::new("ada@example.com", Secret::new("pw")),
                &cx,
            )
            .await
            .map(drop),
        Call::Revoke => c.revoke_refresh_token(&Secret::new("rt"), &cx).await,
        Call::Userinfo => c.userinfo(&Secret::new("at"), &cx).await.map(drop),
        Call::Reset => c.request_password_reset("ada@example.com", &cx).await,
    }
}

/// Answers `call` once with `template` and returns the error.
async fn error_for(call: Call, template: ResponseTemplate) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(path(call.path()))
        .respond_with(template)
        .expect(1)
        .mount(&server)
        .await;
    run(&server, call).await.expect_err("the call must fail")
}

fn json_answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

async fn oauth(call: Call, status: u16, error: &str, description: &str) -> ProviderError {
    error_for(
        call,
        json_answer(
            status,
            json!({"error": error, "error_description": description}),
        ),
    )
    .await
}

#[tokio::test]
async fn wrong_password_is_invalid_credentials() {
    let e = oauth(
        Call::Login,
        403,
        "invalid_grant",
        "Wrong email or password.",
    )
    .await;
    assert!(matches!(e, ProviderError::InvalidCredentials), "{e:?}");
    let e = oauth(
        Call::Login,
        403,
        "invalid_user_password",
        "Wrong email or password",
    )
    .await;
    assert!(matches!(e, ProviderError::InvalidCredentials), "{e:?}");
}

#[tokio::test]
async fn configuration_errors_are_misconfigured() {
    let cases = [
        (403, "unauthorized_client", "Grant type 'password' not allowed for the client."),
        (403, "unauthorized_client", "Grant type 'http://auth0.com/oauth/grant-type/password-realm' not allowed for the client."),
        (401, "access_denied", "Unauthorized"),
        (401, "invalid_client", "Client authentication failed"),
        (403, "access_denied", "Service not enabled within domain: https://api.example.com"),
        (400, "invalid_request", "Missing required parameter: username"),
        (400, "invalid_request", "Authorization server not configured with default connection."),
        (400, "invalid_scope", "Scope must be an array or a string"),
        (400, "unsupported_grant_type", "Grant type not supported"),
    ];
    for (status, code, description) in cases {
        let e = oauth(Call::Login, status, code, description).await;
        match &e {
            ProviderError::Misconfigured {
                error,
                description: d,
            } => {
                assert_eq!(error, code);
                assert_eq!(d, description);
            }
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn mfa_required_keeps_the_mfa_token() {
    let e = error_for(
        Call::Login,
        json_answer(
            403,
            json!({"error": "mfa_required", "error_description": "Multifactor authentication required", "mfa_token": "mfa-tok-123"}),
        ),
    )
    .await;
    match &e {
        ProviderError::MfaRequired { mfa_token } => assert_eq!(mfa_token.expose(), "mfa-tok-123"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{e:?} {e}").contains("mfa-tok-123"));
}

#[tokio::test]
async fn brute_force_and_suspicious_ip_blocks_are_too_many_attempts() {
    for description in [
        "Your account has been blocked after multiple consecutive login attempts. We've sent you an email with instructions on how to unblock it.",
        "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator.",
    ] {
        let e = error_for(
            Call::Login,
            json_answer(429, json!({"error": "too_many_attempts", "error_description": description}))
                // The endpoint's bucket, not the block: must not become retry_after.
                .insert_header("x-ratelimit-reset", "1999999999"),
        )
        .await;
        assert!(
            matches!(e, ProviderError::TooManyAttempts { retry_after: None }),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn rate_limit_reads_x_ratelimit_reset_as_epoch_seconds() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let e = error_for(
        Call::Login,
        json_answer(429, json!({"error": "too_many_requests", "error_description": "Global limit has been reached"}))
            .insert_header("x-ratelimit-limit", "10")
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", (now + 30).to_string().as_str()),
    )
    .await;
    match e {
        ProviderError::RateLimited {
            retry_after: Some(d),
        } => {
            assert!(
                d <= Duration::from_secs(30) && d >= Duration::from_secs(27),
                "{d:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    // A 429 with a text body is still a rate limit.
    let e = error_for(
        Call::Userinfo,
        ResponseTemplate::new(429).set_body_string("Too Many Requests"),
    )
    .await;
    assert!(
        matches!(e, ProviderError::RateLimited { retry_after: None }),
        "{e:?}"
    );
}

#[tokio::test]
async fn blocked_user_is_blocked_on_both_shapes() {
    let e = oauth(Call::Login, 401, "unauthorized", "user is blocked").await;
    assert!(matches!(e, ProviderError::Blocked), "{e:?}");
    let e = oauth(Call::Refresh, 403, "invalid_grant", "user is blocked").await;
    assert!(matches!(e, ProviderError::Blocked), "{e:?}");
}

#[tokio::test]
async fn leaked_password_is_password_leaked() {
    let e = oauth(Call::Login, 401, "password_leaked", "This login attempt has been blocked because the password you're using was previously disclosed through a data breach (not in this application). Please check your email for more information.").await;
    assert!(matches!(e, ProviderError::PasswordLeaked), "{e:?}");
}

#[tokio::test]
async fn refresh_token_failures_are_invalid_refresh_token() {
    for (code, description) in [
        ("invalid_grant", "Unknown or invalid refresh token."),
        (
            "invalid_grant",
            "The refresh_token was generated for a user who doesn't exist anymore.",
        ),
        ("access_denied", "Unknown or invalid refresh token"),
    ] {
        let e = oauth(Call::Refresh, 403, code, description).await;
        assert!(
            matches!(e, ProviderError::InvalidRefreshToken),
            "{description}: {e:?}"
        );
    }
    // A bad client secret on the refresh grant is a misconfiguration, not a bad token.
    let e = oauth(Call::Refresh, 401, "access_denied", "Unauthorized").await;
    assert!(matches!(e, ProviderError::Misconfigured { .. }), "{e:?}");
}

#[tokio::test]
async fn an_action_denial_is_denied() {
    let e = oauth(
        Call::Login,
        403,
        "access_denied",
        "Signups from this country are closed",
    )
    .await;
    match e {
        ProviderError::Denied { description } => {
            assert_eq!(description, "Signups from this country are closed")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn signup_duplicates_are_user_exists() {
    for body in [
        json!({"name":"BadRequestError","code":"user_exists","description":"The user already exists.","statusCode":400}),
        json!({"name":"BadRequestError","code":"invalid_signup","description":"Invalid sign up","statusCode":400}),
        json!({"name":"BadRequestError","code":"username_exists","description":"The username already exists.","statusCode":400}),
    ] {
        let e = error_for(Call::Signup, json_answer(400, body.clone())).await;
        assert!(matches!(e, ProviderError::UserExists), "{body}: {e:?}");
    }
    // The docs' 409 variant too.
    let e = error_for(
        Call::Signup,
        json_answer(409, json!({"name":"BadRequestError","code":"user_exists","description":"The user already exists.","statusCode":409})),
    )
    .await;
    assert!(matches!(e, ProviderError::UserExists), "{e:?}");
}

#[tokio::test]
async fn password_strength_error_keeps_rules_and_policy() {
    let body = json!({"name":"PasswordStrengthError","message":"Password is too weak","code":"invalid_password",
     "description":{"rules":[
       {"message":"At least %d characters in length","format":[8],"code":"lengthAtLeast","verified":true},
       {"message":"Contain at least %d of the following %d types of characters:","code":"containsAtLeast","format":[3,4],
        "items":[{"message":"lower case letters (a-z)","code":"lowerCase","verified":true},
                 {"message":"upper case letters (A-Z)","code":"upperCase","verified":false},
                 {"message":"numbers (i.e. 0-9)","code":"numbers","verified":false},
                 {"message":"special characters (e.g. !@#$%^&*)","code":"specialCharacters","verified":true}],
        "verified":false}],
      "verified":false},
     "policy":"* At least 8 characters in length\n* Contain at least 3 of the following 4 types of characters:\n * lower case letters (a-z)\n * upper case letters (A-Z)\n * numbers (i.e. 0-9)\n * special characters (e.g. !@#$%^&*)",
     "statusCode":400});
    let e = error_for(Call::Signup, json_answer(400, body.clone())).await;
    match e {
        ProviderError::PasswordPolicy {
            policy,
            rules,
            kind,
            message,
        } => {
            assert_eq!(kind, "PasswordStrengthError");
            assert_eq!(message, "Password is too weak");
            assert_eq!(rules, body["description"]);
            assert!(policy.unwrap().starts_with("* At least 8 characters"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn other_password_policy_errors_keep_their_kind() {
    for (name, message, description) in [
        (
            "PasswordDictionaryError",
            "Password is too common",
            "Password is not allowed, it might be too common.",
        ),
        (
            "PasswordNoUserInfoError",
            "Password contains user information",
            "Password is based on user information",
        ),
        (
            "PasswordHistoryError",
            "Password has previously been used",
            "Password has previously been used",
        ),
    ] {
        let e = error_for(
            Call::Signup,
            json_answer(400, json!({"name": name, "message": message, "code": "invalid_password", "description": description, "statusCode": 400})),
        )
        .await;
        match e {
            ProviderError::PasswordPolicy {
                kind,
                message: m,
                rules,
                policy,
            } => {
                assert_eq!(kind, name);
                assert_eq!(m, message);
                assert_eq!(rules, json!(description));
                assert!(policy.is_none());
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn other_signup_rejections_are_bad_request() {
    let e = error_for(
        Call::Signup,
        json_answer(400, json!({"name":"BadRequestError","code":"bad.connection","description":"Connection does not exist","statusCode":400})),
    )
    .await;
    match e {
        ProviderError::BadRequest { code, description } => {
            assert_eq!(code, "bad.connection");
            assert_eq!(description, "Connection does not exist");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn userinfo_401_is_invalid_access_token_whatever_the_body() {
    let e = error_for(
        Call::Userinfo,
        json_answer(
            401,
            json!({"error": "invalid_token", "error_description": "invalid token"}),
        ),
    )
    .await;
    assert!(matches!(e, ProviderError::InvalidAccessToken), "{e:?}");
    let e = error_for(
        Call::Userinfo,
        ResponseTemplate::new(401).set_body_string("Unauthorized"),
    )
    .await;
    assert!(matches!(e, ProviderError::InvalidAccessToken), "{e:?}");
}

#[tokio::test]
async fn revoke_errors_are_misconfigured() {
    let e = oauth(
        Call::Revoke,
        401,
        "invalid_client",
        "Client authentication failed",
    )
    .await;
    assert!(matches!(e, ProviderError::Misconfigured { .. }), "{e:?}");
    let e = oauth(
        Call::Revoke,
        400,
        "invalid_request",
        "Missing required parameter: token",
    )
    .await;
    assert!(matches!(e, ProviderError::Misconfigured { .. }), "{e:?}");
}

#[tokio::test]
async fn odd_bodies_never_panic_and_are_unavailable() {
    let bodies: Vec<(u16, ResponseTemplate)> = vec![
        (
            403,
            ResponseTemplate::new(403)
                .insert_header("content-type", "text/plain")
                .set_body_string("Origin https://evil.example is not allowed."),
        ),
        (400, ResponseTemplate::new(400)),
        (
            502,
            ResponseTemplate::new(502)
                .insert_header("content-type", "text/html")
                .set_body_string("<html><body>Bad gateway</body></html>"),
        ),
        (
            400,
            ResponseTemplate::new(400).set_body_raw(b"{\"error\": ".to_vec(), "application/json"),
        ),
        (
            400,
            ResponseTemplate::new(400)
                .set_body_raw(vec![0xff, 0xfe, 0x00, 0x01], "application/json"),
        ),
        (
            400,
            ResponseTemplate::new(400).set_body_json(json!(["not", "an", "object"])),
        ),
        (
            400,
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": 42, "error_description": {"x": 1}})),
        ),
    ];
    for (status, template) in bodies {
        for call in [Call::Login, Call::Signup] {
            let e = error_for(call, template.clone()).await;
            match e {
                ProviderError::Unavailable { reason } => {
                    assert!(reason.contains(&status.to_string()), "{call:?}: {reason}")
                }
                ProviderError::BadRequest { .. } if status == 400 => {}
                other => panic!("{call:?} {status}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn unexpected_success_bodies_are_unavailable() {
    for (call, template) in [
        (
            Call::Login,
            ResponseTemplate::new(200).set_body_string("<html>login</html>"),
        ),
        (
            Call::Login,
            ResponseTemplate::new(200).set_body_json(json!({"token_type": "Bearer"})),
        ),
        (
            Call::Login,
            ResponseTemplate::new(200).set_body_json(json!({"access_token": 7, "expires_in": 1})),
        ),
        (
            Call::Signup,
            ResponseTemplate::new(200).set_body_json(json!({"email": "a@example.com"})),
        ),
        (Call::Signup, ResponseTemplate::new(200)),
        (
            Call::Userinfo,
            ResponseTemplate::new(200).set_body_json(json!([1, 2])),
        ),
    ] {
        let e = error_for(call, template).await;
        assert!(
            matches!(e, ProviderError::Unavailable { .. }),
            "{call:?}: {e:?}"
        );
    }
}

#[tokio::test]
async fn token_and_signup_calls_are_never_retried() {
    for call in [Call::Login, Call::Refresh, Call::Signup] {
        let server = MockServer::start().await;
        Mock::given(path(call.path()))
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount(&server)
            .await;
        let e = run(&server, call).await.unwrap_err();
        assert!(matches!(e, ProviderError::Unavailable { .. }), "{e:?}");
    }
}

#[tokio::test]
async fn idempotent_calls_retry_5xx_then_succeed() {
    for call in [Call::Revoke, Call::Reset, Call::Userinfo] {
        let server = MockServer::start().await;
        Mock::given(path(call.path()))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(path(call.path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sub": "auth0|1"})))
            .expect(1)
            .mount(&server)
            .await;
        run(&server, call).await.unwrap();
    }
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3) // 1 + retries (2)
        .mount(&server)
        .await;
    let e = run(&server, Call::Revoke).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unavailable { .. }), "{e:?}");
}

#[tokio::test]
async fn a_slow_answer_is_unavailable_after_the_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("at", None))
                .set_delay(Duration::from_secs(10)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server);
    s.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let e = client_with(s)
        .password_login("a@example.com", &Secret::new("pw"), &ctx())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match e {
        ProviderError::Unavailable { reason } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut s = settings_for(format!("http://{addr}/").parse().unwrap());
    s.retries = 1;
    let c = client_with(s);
    let e = c
        .password_login("a@example.com", &Secret::new("pw"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Unavailable { .. }), "{e:?}");
    let e = c
        .revoke_refresh_token(&Secret::new("rt"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Unavailable { .. }), "{e:?}");
}
