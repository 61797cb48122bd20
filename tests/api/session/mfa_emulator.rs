//! Multi-factor login end to end: the gateway, the in-process emulator with a
//! tenant that requires MFA, and the real guard. The code is computed as an
//! authenticator app would (RFC 6238, the crate the emulator verifies with).

use authgate::emulator::{MfaPolicy, UserSeed};
use authgate::secret::Secret;
use serde_json::{json, Value};
use totp_rs::{Algorithm, TOTP};

use super::{error, login, me, ok, AUTH_FIELDS};
use crate::helpers::{spawn_full, FullApp};

const OTP_USER: (&str, &str) = ("otp@example.com", "Otp-Passw0rd!");
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const RECOVERY: &str = "AUTHGATE0DEV0RECOVERY001";

fn otp_seed() -> UserSeed {
    UserSeed {
        email: OTP_USER.0.into(),
        password: Secret::new(OTP_USER.1),
        roles: vec!["user".into()],
        email_verified: true,
        mfa_otp_secret: Some(Secret::new(SECRET)),
        mfa_recovery_code: Some(Secret::new(RECOVERY)),
        ..UserSeed::default()
    }
}

/// The code an authenticator app shows now for `secret`.
fn code_now(secret: &str) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.into()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes)
        .generate_current()
        .unwrap()
}

async fn tenant(policy: MfaPolicy) -> FullApp {
    spawn_full(|s| {
        s.emulator.users.push(otp_seed());
        s.emulator.mfa.policy = policy;
    })
    .await
}

async fn verify(app: &FullApp, input: Value) -> crate::helpers::Gql {
    app.gql(
        &format!("mutation V($input: MfaVerifyInput!) {{ mfaVerify(input: $input) {{ {AUTH_FIELDS} recoveryCode }} }}"),
        json!({ "input": input }),
        None,
    )
    .await
}

async fn mfa_required(app: &FullApp, user: (&str, &str)) -> Value {
    let g = login(app, user.0, user.1).await;
    let e = error(&g, "MFA_REQUIRED");
    assert!(e["extensions"].get("mfaToken").is_none());
    e["extensions"]["mfa"].clone()
}

#[tokio::test]
async fn an_enrolled_user_logs_in_with_an_otp() {
    let app = tenant(MfaPolicy::Enrolled).await;
    // users without a factor are not asked under `enrolled`
    ok(
        &login(&app, "user@example.com", "User-Passw0rd!").await,
        "login",
    );

    let mfa = mfa_required(&app, OTP_USER).await;
    assert_eq!(mfa["enrollmentRequired"], false);
    let types: Vec<&str> = mfa["authenticators"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["type"].as_str())
        .collect();
    assert!(types.contains(&"otp"), "{mfa:#}");
    let session = mfa["session"].as_str().unwrap();

    let g = verify(&app, json!({"session": session, "otp": "000000"})).await;
    error(&g, "MFA_INVALID_CODE");

    let g = verify(&app, json!({"session": session, "otp": code_now(SECRET)})).await;
    let auth = ok(&g, "mfaVerify").clone();
    assert_eq!(auth["user"]["email"], OTP_USER.0);
    assert!(auth["refreshToken"].as_str().is_some_and(|t| !t.is_empty()));
    // the access token is a real one: the guard accepts it
    let access = auth["accessToken"].as_str().unwrap();
    assert_eq!(ok(&me(&app, access).await, "me")["email"], OTP_USER.0);

    // once only
    let g = verify(&app, json!({"session": session, "otp": code_now(SECRET)})).await;
    error(&g, "MFA_SESSION_EXPIRED");
}

#[tokio::test]
async fn a_recovery_code_logs_in_and_answers_the_next_one() {
    let app = tenant(MfaPolicy::Enrolled).await;
    let mfa = mfa_required(&app, OTP_USER).await;
    let g = verify(
        &app,
        json!({"session": mfa["session"], "recoveryCode": RECOVERY}),
    )
    .await;
    let auth = ok(&g, "mfaVerify");
    let next = auth["recoveryCode"].as_str().unwrap();
    assert!(!next.is_empty() && next != RECOVERY);
}

#[tokio::test]
async fn an_unenrolled_user_enrols_an_authenticator_app_then_logs_in() {
    let app = tenant(MfaPolicy::Always).await;
    let mfa = mfa_required(&app, ("user@example.com", "User-Passw0rd!")).await;
    assert_eq!(mfa["enrollmentRequired"], true);
    let g = app
        .gql(
            "mutation E($input: MfaEnrollInput!) { mfaEnroll(input: $input) { session secret otpauthUri recoveryCodes } }",
            json!({"input": {"session": mfa["session"], "factor": "OTP"}}),
            None,
        )
        .await;
    let e = ok(&g, "mfaEnroll").clone();
    let secret = e["secret"].as_str().unwrap();
    assert!(e["otpauthUri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    assert!(!e["recoveryCodes"].as_array().unwrap().is_empty());
    let g = verify(
        &app,
        json!({"session": e["session"], "otp": code_now(secret)}),
    )
    .await;
    assert_eq!(ok(&g, "mfaVerify")["user"]["email"], "user@example.com");
}
