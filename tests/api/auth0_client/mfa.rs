//! The MFA API (docs/auth0-mfa-wire.md): every request as Auth0 documents it,
//! every answer of §2–§6 mapped to its variant, the mfa_token never in an error.

use authgate::auth0::{
    IdentityProvider, MfaAssociation, MfaAuthenticator, MfaChallenge, MfaChallengeRequest,
    MfaEnrolment, MfaGrant, MfaTokens, ProviderError,
};
use authgate::secret::Secret;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::helpers::*;

const MFA_TOKEN: &str = "Fe26.2**mfa-token-value";
const OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
const OOB_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
const RECOVERY_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

fn tok() -> Secret {
    Secret::new(MFA_TOKEN)
}

fn otp(code: &str) -> MfaGrant {
    MfaGrant::Otp {
        otp: Secret::new(code),
    }
}

fn oob(binding: Option<&str>) -> MfaGrant {
    MfaGrant::Oob {
        oob_code: Secret::new("oob-code-1"),
        binding_code: binding.map(Secret::new),
    }
}

fn recovery(code: &str) -> MfaGrant {
    MfaGrant::RecoveryCode {
        recovery_code: Secret::new(code),
    }
}

/// The `Authorization` header Auth0 wants on the MFA API: the mfa_token as bearer.
fn bearer() -> impl wiremock::Match {
    header("authorization", format!("Bearer {MFA_TOKEN}").as_str())
}

/// The authenticator listing, against a fresh double holding `mock`.
async fn authenticators(mock: Mock) -> Result<Vec<MfaAuthenticator>, ProviderError> {
    let server = MockServer::start().await;
    mock.mount(&server).await;
    client(&server).mfa_authenticators(&tok(), &ctx()).await
}

/// An enrolment, against a fresh double holding `mock`.
async fn associate(mock: Mock, enrolment: &MfaEnrolment) -> Result<MfaAssociation, ProviderError> {
    let server = MockServer::start().await;
    mock.mount(&server).await;
    client(&server)
        .mfa_associate(&tok(), enrolment, &ctx())
        .await
}

/// A challenge of `challenge_type`, against a fresh double holding `mock`.
async fn challenge(
    mock: Mock,
    challenge_type: &str,
    authenticator_id: Option<&str>,
) -> Result<MfaChallenge, ProviderError> {
    let server = MockServer::start().await;
    mock.mount(&server).await;
    let req = MfaChallengeRequest {
        challenge_type: challenge_type.into(),
        authenticator_id: authenticator_id.map(Into::into),
    };
    client(&server).mfa_challenge(&tok(), &req, &ctx()).await
}

/// The token endpoint answers an MFA grant with `status` + `body` (once: MFA
/// grants are never retried); returns the error, checked free of the token.
async fn grant_error(grant: MfaGrant, status: u16, body: Value) -> ProviderError {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .mfa_grant(&tok(), &grant, &ctx())
        .await
        .expect_err("the grant must fail");
    assert!(!format!("{err:?} {err}").contains("mfa-token-value"));
    err
}

fn oauth_error(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

#[tokio::test]
async fn authenticators_are_listed_with_the_mfa_token_as_bearer() {
    let list = authenticators(
        Mock::given(method("GET"))
            .and(path("/mfa/authenticators"))
            .and(bearer())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"id": "recovery-code|dev_O4KYL4FtcLAVRsCl", "authenticator_type": "recovery-code", "active": true},
                {"id": "email|dev_NU1Ofuw3Cw0XCt5x", "authenticator_type": "oob", "active": true, "oob_channel": "email", "name": "email@address.com"},
                {"id": "totp|dev_abc123", "authenticator_type": "otp", "active": true, "name": "Authenticator App"},
                {"id": "push|dev_p", "authenticator_type": "oob", "oob_channel": "auth0", "active": false}
            ])))
            .expect(1),
    )
    .await
    .unwrap();
    let factors: Vec<(&str, &str, bool)> = list
        .iter()
        .map(|a| (a.id.as_str(), a.factor(), a.active))
        .collect();
    assert_eq!(
        factors,
        [
            ("recovery-code|dev_O4KYL4FtcLAVRsCl", "recovery-code", true),
            ("email|dev_NU1Ofuw3Cw0XCt5x", "email", true),
            ("totp|dev_abc123", "otp", true),
            ("push|dev_p", "push", false),
        ]
    );
    assert_eq!(list[2].name.as_deref(), Some("Authenticator App"));
}

#[tokio::test]
async fn an_empty_list_means_not_enrolled_and_a_dead_token_is_token_invalid() {
    let empty = authenticators(
        Mock::given(path("/mfa/authenticators"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([]))),
    )
    .await;
    assert!(empty.unwrap().is_empty());

    for (status, body) in [
        (
            401,
            oauth_error("invalid_token", "The mfa_token is invalid"),
        ),
        (403, oauth_error("expired_token", "mfa_token is expired")),
        (
            401,
            json!({"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"}),
        ),
    ] {
        let err = authenticators(
            Mock::given(path("/mfa/authenticators"))
                .respond_with(ResponseTemplate::new(status).set_body_json(body.clone())),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, ProviderError::MfaTokenInvalid),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn otp_enrolment_answers_the_secret_uri_and_recovery_codes() {
    let a = associate(
        Mock::given(method("POST"))
            .and(path("/mfa/associate"))
            .and(bearer())
            .and(body_json(json!({"authenticator_types": ["otp"]})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "authenticator_type": "otp",
                "secret": "ENSWY3DPEHPK3PXS",
                "barcode_uri": "otpauth://totp/tenant:user?secret=ENSWY3DPEHPK3PXS&issuer=tenant&algorithm=SHA1&digits=6&period=30",
                "recovery_codes": ["N3BGPZZWJ85JLCNPZBDW6QXC"]
            })))
            .expect(1),
        &MfaEnrolment::Otp,
    )
    .await
    .unwrap();
    assert_eq!(a.authenticator_type, "otp");
    assert_eq!(a.secret.unwrap().expose(), "ENSWY3DPEHPK3PXS");
    assert!(a
        .barcode_uri
        .unwrap()
        .expose()
        .starts_with("otpauth://totp/"));
    assert_eq!(a.recovery_codes.len(), 1);
    assert!(a.oob_code.is_none() && a.binding_method.is_none());
}

#[tokio::test]
async fn oob_enrolments_send_the_channel_and_answer_an_oob_code() {
    let cases = [
        (
            MfaEnrolment::Sms {
                phone_number: "+11234567890".into(),
            },
            json!({"authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": "+11234567890"}),
            json!({"authenticator_type": "oob", "binding_method": "prompt", "recovery_codes": ["R1"], "oob_channel": "sms", "oob_code": "ata1i0i"}),
            Some("prompt"),
        ),
        (
            MfaEnrolment::Email {
                email: Some("ada@example.com".into()),
            },
            json!({"authenticator_types": ["oob"], "oob_channels": ["email"], "email": "ada@example.com"}),
            json!({"authenticator_type": "oob", "binding_method": "prompt", "oob_channel": "email", "oob_code": "ata1i0i"}),
            Some("prompt"),
        ),
        (
            MfaEnrolment::Push,
            json!({"authenticator_types": ["oob"], "oob_channels": ["auth0"]}),
            json!({"authenticator_type": "oob", "barcode_uri": "otpauth://totp/tenant:user?enrollment_tx_id=q&base_url=t", "recovery_codes": ["R1"], "oob_channel": "auth0", "oob_code": "ata1i0i"}),
            None,
        ),
    ];
    for (enrolment, request, answer, binding) in cases {
        let a = associate(
            Mock::given(method("POST"))
                .and(path("/mfa/associate"))
                .and(body_json(request))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer))
                .expect(1),
            &enrolment,
        )
        .await
        .unwrap();
        assert_eq!(a.oob_code.unwrap().expose(), "ata1i0i");
        assert_eq!(a.binding_method.as_deref(), binding, "{enrolment:?}");
    }
}

#[tokio::test]
async fn enrolling_an_enrolled_user_is_already_enrolled_and_never_retried() {
    type Check = fn(&ProviderError) -> bool;
    let cases: [(ResponseTemplate, Check); 2] = [
        (
            ResponseTemplate::new(403)
                .set_body_json(oauth_error("access_denied", "User is already enrolled.")),
            |e| matches!(e, ProviderError::MfaAlreadyEnrolled),
        ),
        (ResponseTemplate::new(503), |e| {
            matches!(e, ProviderError::Unavailable { .. })
        }),
    ];
    for (answer, check) in cases {
        let err = associate(
            Mock::given(path("/mfa/associate"))
                .respond_with(answer)
                .expect(1),
            &MfaEnrolment::Otp,
        )
        .await
        .unwrap_err();
        assert!(check(&err), "{err:?}");
    }
}

#[tokio::test]
async fn challenges_send_client_credentials_and_answer_type_and_binding() {
    let cases = [
        (json!({"challenge_type": "otp"}), "otp", false, None),
        (
            json!({"challenge_type": "oob", "oob_code": "asdae35fdt5", "binding_method": "prompt"}),
            "oob",
            true,
            Some("prompt"),
        ),
        (
            json!({"challenge_type": "oob", "oob_code": "asdae35fdt5"}),
            "oob",
            true,
            None,
        ),
    ];
    for (answer, kind, has_oob, binding) in cases {
        let c = challenge(
            Mock::given(method("POST"))
                .and(path("/mfa/challenge"))
                .and(body_json(json!({
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "mfa_token": MFA_TOKEN,
                    "challenge_type": "oob",
                    "authenticator_id": "sms|dev_xyz789",
                })))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer))
                .expect(1),
            "oob",
            Some("sms|dev_xyz789"),
        )
        .await
        .unwrap();
        assert_eq!(c.challenge_type, kind);
        assert_eq!(c.oob_code.is_some(), has_oob);
        assert_eq!(c.binding_method.as_deref(), binding);
    }
}

#[tokio::test]
async fn challenge_errors_are_mapped() {
    type Check = fn(&ProviderError) -> bool;
    let cases: [(u16, Value, Check); 5] = [
        (
            400,
            oauth_error("association_required", "User is not enrolled."),
            |e| matches!(e, ProviderError::MfaNotEnrolled),
        ),
        (
            400,
            oauth_error(
                "unsupported_challenge_type",
                "User is not enrolled with oob.",
            ),
            |e| matches!(e, ProviderError::MfaUnsupported),
        ),
        (
            404,
            oauth_error("not_found", "Authenticator not found."),
            |e| matches!(e, ProviderError::BadRequest { .. }),
        ),
        (
            403,
            oauth_error("expired_token", "mfa_token is expired"),
            |e| matches!(e, ProviderError::MfaTokenInvalid),
        ),
        (401, oauth_error("access_denied", "Unauthorized"), |e| {
            matches!(e, ProviderError::Misconfigured { .. })
        }),
    ];
    for (status, body, check) in cases {
        let err = challenge(
            Mock::given(path("/mfa/challenge"))
                .respond_with(ResponseTemplate::new(status).set_body_json(body.clone()))
                .expect(1),
            "otp oob",
            None,
        )
        .await
        .unwrap_err();
        assert!(check(&err), "{body}: {err:?}");
        assert!(!format!("{err:?} {err}").contains("mfa-token-value"));
    }
}

async fn grant_ok(grant: MfaGrant, expected: &[(&'static str, &str)], answer: Value) -> MfaTokens {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(form(expected))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .mfa_grant(&tok(), &grant, &ctx())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_three_grants_send_their_parameters_and_answer_tokens() {
    let t = grant_ok(
        otp("123456"),
        &[
            ("grant_type", OTP_GRANT),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("mfa_token", MFA_TOKEN),
            ("otp", "123456"),
        ],
        token_json("at-1", Some("rt-1")),
    )
    .await;
    assert_eq!(t.tokens.access_token.expose(), "at-1");
    assert_eq!(t.tokens.refresh_token.unwrap().expose(), "rt-1");
    assert!(t.recovery_code.is_none());

    let t = grant_ok(
        oob(Some("654321")),
        &[
            ("grant_type", OOB_GRANT),
            ("mfa_token", MFA_TOKEN),
            ("oob_code", "oob-code-1"),
            ("binding_code", "654321"),
        ],
        token_json("at-2", None),
    )
    .await;
    assert_eq!(t.tokens.access_token.expose(), "at-2");

    let mut answer = token_json("at-3", None);
    answer["recovery_code"] = json!("NEWRECOVERYCODE123456789");
    let t = grant_ok(
        recovery("OLDRECOVERYCODE123456789"),
        &[
            ("grant_type", RECOVERY_GRANT),
            ("mfa_token", MFA_TOKEN),
            ("recovery_code", "OLDRECOVERYCODE123456789"),
        ],
        answer,
    )
    .await;
    assert_eq!(
        t.recovery_code.unwrap().expose(),
        "NEWRECOVERYCODE123456789"
    );
}

#[tokio::test]
async fn a_push_poll_sends_no_binding_code() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .and(FormLacks("binding_code"))
        .and(form(&[
            ("grant_type", OOB_GRANT),
            ("oob_code", "oob-code-1"),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at", None)))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .mfa_grant(&tok(), &oob(None), &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn wrong_codes_are_invalid_code() {
    for (grant, description) in [
        (otp("000000"), "Invalid otp_code."),
        (oob(Some("000000")), "Invalid binding_code."),
        (recovery("X"), "Invalid recovery_code."),
        (oob(Some("1")), "Invalid oob_code."),
    ] {
        let err = grant_error(grant, 403, oauth_error("invalid_grant", description)).await;
        assert!(
            matches!(err, ProviderError::MfaInvalidCode),
            "{description}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_rejected_push_is_rejected() {
    let err = grant_error(
        oob(None),
        403,
        oauth_error("invalid_grant", "MFA Authorization rejected."),
    )
    .await;
    assert!(matches!(err, ProviderError::MfaRejected), "{err:?}");
}

#[tokio::test]
async fn pending_and_slow_down_are_pending() {
    for (error, description, slow) in [
        (
            "authorization_pending",
            "Authorization pending: please repeat the request in a few seconds.",
            false,
        ),
        (
            "slow_down",
            "You are polling faster than allowed. Try again in 5 seconds.",
            true,
        ),
    ] {
        let err = grant_error(oob(None), 400, oauth_error(error, description)).await;
        assert!(
            matches!(err, ProviderError::MfaPending { slow_down } if slow_down == slow),
            "{error}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_dead_mfa_token_is_token_invalid() {
    for (status, body) in [
        (403, oauth_error("expired_token", "mfa_token is expired")),
        (403, oauth_error("invalid_grant", "Malformed mfa_token")),
        (
            400,
            oauth_error("invalid_request", "mfa_token not issued to this client"),
        ),
    ] {
        let err = grant_error(otp("123456"), status, body.clone()).await;
        assert!(
            matches!(err, ProviderError::MfaTokenInvalid),
            "{body}: {err:?}"
        );
    }
}

#[tokio::test]
async fn too_many_codes_is_too_many_attempts() {
    let err = grant_error(
        otp("000000"),
        429,
        oauth_error(
            "too_many_attempts",
            "Too many failed codes. Wait for some minutes before retrying.",
        ),
    )
    .await;
    assert!(
        matches!(err, ProviderError::TooManyAttempts { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn configuration_errors_and_outages() {
    for (status, body) in [
        (
            400,
            oauth_error("invalid_request", "Missing required parameter: otp"),
        ),
        (
            403,
            oauth_error(
                "unauthorized_client",
                "Grant type 'http://auth0.com/oauth/grant-type/mfa-otp' not allowed for the client.",
            ),
        ),
        (401, oauth_error("access_denied", "Unauthorized")),
    ] {
        let err = grant_error(otp("123456"), status, body.clone()).await;
        assert!(
            matches!(err, ProviderError::Misconfigured { .. }),
            "{body}: {err:?}"
        );
    }
    // a 5xx is not retried: the code might have been spent
    let err = grant_error(otp("123456"), 503, json!({})).await;
    assert!(matches!(err, ProviderError::Unavailable { .. }), "{err:?}");
}
