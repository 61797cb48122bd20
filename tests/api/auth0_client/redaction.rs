//! No Debug or Display output ever contains a token, password or client secret.

use std::time::Duration;

use authgate::auth0::{CreateUser, ManagementError, ProviderError, SignupRequest, TokenSet};
use authgate::secret::Secret;
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::helpers::*;

const SECRETS: &[&str] = &[
    CLIENT_SECRET,
    "access-token-value",
    "refresh-token-value",
    "id-token-value",
    "mfa-token-value",
    "user-password-value",
];

fn assert_clean(what: &str) {
    for s in SECRETS {
        assert!(!what.contains(s), "leaked {s} in: {what}");
    }
}

fn every_error() -> Vec<ProviderError> {
    vec![
        ProviderError::InvalidCredentials,
        ProviderError::PasswordPolicy {
            policy: Some("* At least 8".into()),
            rules: json!({"rules": []}),
            kind: "PasswordStrengthError".into(),
            message: "Password is too weak".into(),
        },
        ProviderError::PasswordLeaked,
        ProviderError::UserExists,
        ProviderError::BadRequest {
            code: "bad.connection".into(),
            description: "d".into(),
        },
        ProviderError::TooManyAttempts {
            retry_after: Some(Duration::from_secs(1)),
        },
        ProviderError::RateLimited { retry_after: None },
        ProviderError::Blocked,
        ProviderError::MfaRequired {
            mfa_token: Secret::new("mfa-token-value"),
        },
        ProviderError::InvalidRefreshToken,
        ProviderError::InvalidAccessToken,
        ProviderError::Denied {
            description: "no".into(),
        },
        ProviderError::Misconfigured {
            error: "access_denied".into(),
            description: "Unauthorized".into(),
        },
        ProviderError::Unavailable {
            reason: "timed out".into(),
        },
        ProviderError::Management(ManagementError::Conflict {
            message: "exists".into(),
        }),
        ProviderError::Management(ManagementError::NotFound {
            message: "x".into(),
        }),
        ProviderError::Management(ManagementError::Forbidden {
            error_code: "insufficient_scope".into(),
            message: "x".into(),
        }),
        ProviderError::Management(ManagementError::Unauthorized {
            message: "x".into(),
        }),
        ProviderError::Management(ManagementError::RateLimited { retry_after: None }),
        ProviderError::Management(ManagementError::BadRequest("x".into())),
        ProviderError::Management(ManagementError::Misconfigured {
            error: "e".into(),
            description: "d".into(),
        }),
        ProviderError::Management(ManagementError::Unavailable { reason: "r".into() }),
    ]
}

#[test]
fn constructed_errors_and_values_print_no_secret() {
    for e in every_error() {
        assert_clean(&format!("{e:?} {e} {}", e.kind()));
    }
    let tokens = TokenSet {
        access_token: Secret::new("access-token-value"),
        id_token: Some(Secret::new("id-token-value")),
        refresh_token: Some(Secret::new("refresh-token-value")),
        expires_in: 1,
        scope: None,
        token_type: "Bearer".into(),
    };
    assert_clean(&format!("{tokens:?}"));
    let signup = SignupRequest::new("a@example.com", Secret::new("user-password-value"));
    assert_clean(&format!("{signup:?}"));
    let create = CreateUser {
        connection: "c".into(),
        email: "e".into(),
        password: Secret::new("user-password-value"),
        email_verified: false,
        verify_email: false,
        name: None,
        user_metadata: None,
        app_metadata: None,
    };
    assert_clean(&format!("{create:?}"));
}

#[tokio::test]
async fn clients_and_settings_print_no_secret() {
    let server = MockServer::start().await;
    let s = settings(&server);
    assert_clean(&format!("{s:?}"));
    assert_clean(&serde_json::to_string(&s).unwrap());
    assert_clean(&format!("{:?}", client(&server)));
    assert_clean(&format!("{:?}", management(&server)));
}

#[tokio::test]
async fn errors_from_the_wire_print_no_secret() {
    // Auth0 echoing secrets back in odd places must not make us print them.
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ["access-token-value"], "expires_in": "refresh-token-value"
        })))
        .mount(&server)
        .await;
    let c = client(&server);
    use authgate::auth0::IdentityProvider;
    let e = c
        .password_login("a@example.com", &Secret::new("user-password-value"), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Unavailable { .. }));
    assert_clean(&format!("{e:?} {e}"));
    let e = c
        .refresh(&Secret::new("refresh-token-value"), &ctx())
        .await
        .unwrap_err();
    assert_clean(&format!("{e:?} {e}"));
}
