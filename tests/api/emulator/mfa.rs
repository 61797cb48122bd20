//! Auth0's MFA API for the password grant (docs/auth0-mfa-wire.md), over HTTP: the
//! `mfa_required` answer per tenant policy, `/mfa/authenticators`, `/mfa/associate`,
//! `/mfa/challenge`, the three MFA grants and their errors, expiry, the brute-force
//! bucket, recovery-code rotation, push polling, and the development outbox.

use std::time::Duration;

use authgate::emulator::{ClientSettings, MfaPolicy, UserSeed, MFA_GRANTS};
use authgate::secret::Secret;
use serde_json::{json, Value};
use totp_rs::{Algorithm, TOTP};

use super::*;

const OTP_USER: (&str, &str) = ("otp@example.com", "Otp-Passw0rd!");
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const RECOVERY: &str = "AUTHGATE0DEV0RECOVERY001";
const GRANT_OTP: &str = MFA_GRANTS[0];
const GRANT_OOB: &str = MFA_GRANTS[1];
const GRANT_RECOVERY: &str = MFA_GRANTS[2];

fn otp_seed() -> UserSeed {
    UserSeed {
        email: OTP_USER.0.into(),
        password: Secret::new(OTP_USER.1),
        roles: vec!["user".into()],
        mfa_otp_secret: Some(Secret::new(SECRET)),
        mfa_recovery_code: Some(Secret::new(RECOVERY)),
        ..UserSeed::default()
    }
}

/// A tenant with the seeded OTP user and `policy = "enrolled"` (the development setup).
async fn spawn_enrolled(configure: impl FnOnce(&mut EmulatorSettings)) -> Idp {
    spawn_with(|s| {
        s.users.push(otp_seed());
        s.mfa.policy = MfaPolicy::Enrolled;
        configure(s);
    })
    .await
}

/// The code an authenticator app shows now for `secret`.
fn code_now(secret: &str) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.into()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes)
        .generate_current()
        .unwrap()
}

/// Logs in with audience + offline_access and expects `mfa_required`; returns the token.
async fn mfa_token(idp: &Idp, user: (&str, &str)) -> String {
    let res = idp
        .login(
            user.0,
            user.1,
            &[
                ("audience", API),
                ("scope", "openid profile email offline_access"),
            ],
        )
        .await;
    let body = oauth_refused(
        res,
        403,
        "mfa_required",
        "Multifactor authentication required",
    )
    .await;
    body["mfa_token"].as_str().unwrap().to_string()
}

async fn mfa_grant(
    idp: &Idp,
    grant: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut params = vec![
        ("grant_type", grant),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("mfa_token", token),
    ];
    params.extend_from_slice(extra);
    idp.token(&params).await
}

/// The out-of-band grant for `oob_code` (a push poll, or a code without its binding code).
async fn oob_grant(idp: &Idp, token: &str, oob_code: &str) -> reqwest::Response {
    mfa_grant(idp, GRANT_OOB, token, &[("oob_code", oob_code)]).await
}

/// The out-of-band grant for `oob_code` with the `binding_code` the user typed.
async fn oob_bound(
    idp: &Idp,
    token: &str,
    oob_code: &str,
    binding_code: &str,
) -> reqwest::Response {
    mfa_grant(
        idp,
        GRANT_OOB,
        token,
        &[("oob_code", oob_code), ("binding_code", binding_code)],
    )
    .await
}

/// Polls the out-of-band grant and expects `authorization_pending`; returns the error body.
async fn pending(idp: &Idp, token: &str, oob_code: &str) -> Value {
    oauth_err(
        oob_grant(idp, token, oob_code).await,
        400,
        "authorization_pending",
    )
    .await
}

/// The `oob_code` of an associate or challenge answer.
fn oob_code_of(body: &Value) -> String {
    body["oob_code"].as_str().unwrap().to_string()
}

/// A tenant that asks every login for a second factor.
async fn spawn_always() -> Idp {
    spawn_with(|s| s.mfa.policy = MfaPolicy::Always).await
}

/// Enrols an out-of-band authenticator on `channel` (no phone number) and answers the body.
async fn enrol_oob(idp: &Idp, token: &str, channel: &str) -> Value {
    json_ok(
        associate(
            idp,
            token,
            json!({"authenticator_types": ["oob"], "oob_channels": [channel]}),
        )
        .await,
    )
    .await
}

async fn authenticators(idp: &Idp, token: &str) -> reqwest::Response {
    idp.http
        .get(idp.url("mfa/authenticators"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn associate(idp: &Idp, token: &str, body: Value) -> reqwest::Response {
    idp.http
        .post(idp.url("mfa/associate"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn challenge(idp: &Idp, token: &str, extra: Value) -> reqwest::Response {
    let mut body =
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "mfa_token": token});
    if let (Some(obj), Value::Object(more)) = (body.as_object_mut(), extra) {
        obj.extend(more);
    }
    idp.http
        .post(idp.url("mfa/challenge"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn outbox(idp: &Idp, to: &str) -> Vec<Value> {
    let res = idp
        .http
        .get(idp.url("emulator/outbox"))
        .query(&[("to", to)])
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Vec<Value>>().await.unwrap()
}

async fn push(idp: &Idp, action: &str, email: &str) -> reqwest::Response {
    idp.http
        .post(idp.url(&format!("emulator/mfa/push/{action}")))
        .query(&[("email", email)])
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap()
}

async fn json_ok(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    assert!(content_type(&res).starts_with("application/json"));
    res.json().await.unwrap()
}

async fn assert_tokens(idp: &Idp, body: &Value) {
    let claims = idp
        .verify(body["access_token"].as_str().unwrap(), API)
        .await;
    assert!(claims["sub"].as_str().unwrap().starts_with("auth0|"));
    assert!(body["refresh_token"].is_string(), "{body}");
    assert!(body["id_token"].is_string(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn the_enrolled_policy_asks_only_users_with_a_confirmed_factor() {
    let idp = spawn_enrolled(|_| {}).await;
    assert_eq!(idp.login(USER.0, USER.1, &[]).await.status(), 200);
    assert_eq!(idp.login(ADMIN.0, ADMIN.1, &[]).await.status(), 200);
    let token = mfa_token(&idp, OTP_USER).await;
    assert!(token.len() > 20);
    // The default tenant (`never`) logs the same user in with the password alone.
    let plain = spawn_with(|s| s.users.push(otp_seed())).await;
    assert_eq!(plain.login(OTP_USER.0, OTP_USER.1, &[]).await.status(), 200);
}

#[tokio::test]
async fn the_roles_policy_asks_holders_of_the_listed_roles() {
    let idp = spawn_with(|s| {
        s.mfa.policy = MfaPolicy::Roles;
        s.mfa.roles = vec!["admin".into()];
    })
    .await;
    assert_eq!(idp.login(USER.0, USER.1, &[]).await.status(), 200);
    let token = mfa_token(&idp, ADMIN).await;
    // Not enrolled: an empty list, and a challenge asks for an association.
    assert_eq!(json_ok(authenticators(&idp, &token).await).await, json!([]));
    oauth_refused(
        challenge(&idp, &token, json!({})).await,
        400,
        "association_required",
        "User is not enrolled.",
    )
    .await;
}

#[tokio::test]
async fn a_seeded_otp_user_logs_in_with_a_code_once() {
    let idp = spawn_enrolled(|_| {}).await;
    let token = mfa_token(&idp, OTP_USER).await;
    let list = json_ok(authenticators(&idp, &token).await).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["authenticator_type"], "recovery-code");
    assert!(list[0]["id"]
        .as_str()
        .unwrap()
        .starts_with("recovery-code|dev_"));
    assert_eq!(list[1]["authenticator_type"], "otp");
    assert_eq!(list[1]["active"], true);
    let otp_id = list[1]["id"].as_str().unwrap().to_string();
    assert!(otp_id.starts_with("totp|dev_"));
    let body = json_ok(
        challenge(
            &idp,
            &token,
            json!({"challenge_type": "otp", "authenticator_id": otp_id}),
        )
        .await,
    )
    .await;
    assert_eq!(body, json!({"challenge_type": "otp"}));

    let code = code_now(SECRET);
    let res = mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code)]).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let tokens = json_ok(res).await;
    assert_tokens(&idp, &tokens).await;
    assert!(tokens.get("recovery_code").is_none());
    // The ID token says a second factor was used (a password-only one does not).
    let id = idp
        .verify(tokens["id_token"].as_str().unwrap(), CLIENT_ID)
        .await;
    assert_eq!(id["amr"], json!(["mfa"]));
    assert_eq!(id["email"], OTP_USER.0);
    let plain = idp.login_full(USER.0, USER.1).await;
    let id = idp
        .verify(plain["id_token"].as_str().unwrap(), CLIENT_ID)
        .await;
    assert!(id.get("amr").is_none());

    // The mfa_token is spent...
    oauth_refused(
        mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code)]).await,
        403,
        "invalid_grant",
        "Malformed mfa_token",
    )
    .await;
    // ...and the code cannot be used again, even with a new login.
    let again = mfa_token(&idp, OTP_USER).await;
    oauth_refused(
        mfa_grant(&idp, GRANT_OTP, &again, &[("otp", &code)]).await,
        403,
        "invalid_grant",
        "Invalid otp_code.",
    )
    .await;
}

#[tokio::test]
async fn wrong_codes_empty_the_bucket_then_even_a_right_code_is_refused() {
    let idp = spawn_enrolled(|s| s.mfa.max_attempts = 3).await;
    let token = mfa_token(&idp, OTP_USER).await;
    for wrong in ["000000", "12345", "abcdef"] {
        oauth_refused(
            mfa_grant(&idp, GRANT_OTP, &token, &[("otp", wrong)]).await,
            403,
            "invalid_grant",
            "Invalid otp_code.",
        )
        .await;
    }
    // The bucket is per user: a new mfa_token does not refill it.
    let token = mfa_token(&idp, OTP_USER).await;
    oauth_refused(
        mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code_now(SECRET))]).await,
        429,
        "too_many_attempts",
        "Too many failed codes. Wait for some minutes before retrying.",
    )
    .await;
    oauth_err(
        mfa_grant(&idp, GRANT_RECOVERY, &token, &[("recovery_code", RECOVERY)]).await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test]
async fn the_bucket_refills_one_attempt_per_interval() {
    let idp = spawn_enrolled(|s| {
        s.mfa.max_attempts = 1;
        s.mfa.attempt_refill = Duration::from_secs(360);
    })
    .await;
    let token = mfa_token(&idp, OTP_USER).await;
    oauth_err(
        mfa_grant(&idp, GRANT_OTP, &token, &[("otp", "000000")]).await,
        403,
        "invalid_grant",
    )
    .await;
    oauth_err(
        mfa_grant(&idp, GRANT_OTP, &token, &[("otp", "000000")]).await,
        429,
        "too_many_attempts",
    )
    .await;
    idp.handle.advance_clock(Duration::from_secs(361));
    // A refilled attempt (the token's 10 minutes are not over yet).
    let res = mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code_now(SECRET))]).await;
    json_ok(res).await;
}

#[tokio::test]
async fn an_mfa_token_expires_after_its_lifetime() {
    let idp = spawn_enrolled(|_| {}).await;
    let token = mfa_token(&idp, OTP_USER).await;
    json_ok(authenticators(&idp, &token).await).await;
    idp.handle.advance_clock(Duration::from_secs(601));
    oauth_refused(
        authenticators(&idp, &token).await,
        401,
        "expired_token",
        "mfa_token is expired",
    )
    .await;
    oauth_err(
        mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code_now(SECRET))]).await,
        401,
        "expired_token",
    )
    .await;
    oauth_err(
        challenge(&idp, &token, json!({})).await,
        401,
        "expired_token",
    )
    .await;
}

#[tokio::test]
async fn an_mfa_token_is_bound_to_its_client_and_must_be_genuine() {
    let idp = spawn_enrolled(|s| {
        s.clients.push(ClientSettings {
            client_id: "other-app".into(),
            client_secret: Secret::new("other-secret"),
            ..ClientSettings::default()
        });
        s.clients.push(ClientSettings {
            client_id: "no-mfa-app".into(),
            client_secret: Secret::new("no-mfa-secret"),
            grant_types: vec!["password".into()],
            ..ClientSettings::default()
        });
    })
    .await;
    let token = mfa_token(&idp, OTP_USER).await;
    let code = code_now(SECRET);
    let other = idp
        .token(&[
            ("grant_type", GRANT_OTP),
            ("client_id", "other-app"),
            ("client_secret", "other-secret"),
            ("mfa_token", &token),
            ("otp", &code),
        ])
        .await;
    oauth_refused(
        other,
        400,
        "invalid_request",
        "mfa_token not issued to this client",
    )
    .await;
    let res = idp
        .http
        .post(idp.url("mfa/challenge"))
        .json(
            &json!({"client_id": "other-app", "client_secret": "other-secret", "mfa_token": token}),
        )
        .send()
        .await
        .unwrap();
    oauth_err(res, 400, "invalid_request").await;
    // The challenge needs the client's secret.
    let res = idp
        .http
        .post(idp.url("mfa/challenge"))
        .json(&json!({"client_id": CLIENT_ID, "mfa_token": token}))
        .send()
        .await
        .unwrap();
    oauth_err(res, 401, "access_denied").await;
    let res = idp
        .http
        .post(idp.url("mfa/challenge"))
        .json(&json!({"mfa_token": token}))
        .send()
        .await
        .unwrap();
    oauth_err(res, 400, "invalid_request").await;
    // A client without the MFA grant cannot use it at all.
    let res = idp
        .token(&[
            ("grant_type", GRANT_OTP),
            ("client_id", "no-mfa-app"),
            ("client_secret", "no-mfa-secret"),
            ("mfa_token", &token),
            ("otp", &code),
        ])
        .await;
    oauth_err(res, 403, "unauthorized_client").await;
    // Client authentication comes first.
    let res = idp
        .token(&[
            ("grant_type", GRANT_OTP),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
            ("mfa_token", &token),
            ("otp", &code),
        ])
        .await;
    oauth_err(res, 401, "access_denied").await;
    // Forged tokens, a missing token and missing parameters.
    oauth_refused(
        mfa_grant(&idp, GRANT_OTP, "forged", &[("otp", &code)]).await,
        403,
        "invalid_grant",
        "Malformed mfa_token",
    )
    .await;
    oauth_err(authenticators(&idp, "forged").await, 403, "invalid_grant").await;
    let res = idp
        .http
        .get(idp.url("mfa/authenticators"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    oauth_err(res, 401, "invalid_request").await;
    oauth_refused(
        mfa_grant(&idp, GRANT_OTP, &token, &[]).await,
        400,
        "invalid_request",
        "Missing required parameter: otp",
    )
    .await;
    // The rightful client still finishes the login.
    json_ok(mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code)]).await).await;
}

#[tokio::test]
async fn otp_enrolment_hands_out_a_secret_and_recovery_code_once() {
    let idp = spawn_always().await;
    let token = mfa_token(&idp, USER).await;
    assert_eq!(json_ok(authenticators(&idp, &token).await).await, json!([]));
    let res = associate(&idp, &token, json!({"authenticator_types": ["otp"]})).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = json_ok(res).await;
    assert_eq!(body["authenticator_type"], "otp");
    let secret = body["secret"].as_str().unwrap().to_string();
    let uri = body["barcode_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("algorithm=SHA1&digits=6&period=30"), "{uri}");
    let recovery = body["recovery_codes"][0].as_str().unwrap().to_string();
    assert_eq!(recovery.len(), 24);
    // Unconfirmed: listed as inactive.
    let list = json_ok(authenticators(&idp, &token).await).await;
    assert_eq!(list[0]["active"], false, "{list}");
    // A wrong first code does not confirm it.
    oauth_err(
        mfa_grant(&idp, GRANT_OTP, &token, &[("otp", "000000")]).await,
        403,
        "invalid_grant",
    )
    .await;
    let tokens =
        json_ok(mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code_now(&secret))]).await).await;
    assert_tokens(&idp, &tokens).await;

    // Enrolled now: the next login lists the factor and the recovery code...
    let token = mfa_token(&idp, USER).await;
    let list = json_ok(authenticators(&idp, &token).await).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[1]["active"], true);
    // ...and refuses a second association before a challenge.
    oauth_refused(
        associate(&idp, &token, json!({"authenticator_types": ["otp"]})).await,
        403,
        "access_denied",
        "User is already enrolled.",
    )
    .await;
    // The recovery code of the enrolment works.
    let body = json_ok(
        mfa_grant(
            &idp,
            GRANT_RECOVERY,
            &token,
            &[("recovery_code", &recovery)],
        )
        .await,
    )
    .await;
    assert!(body["recovery_code"].is_string());
    // Malformed associations.
    let token = mfa_token(&idp, ADMIN).await;
    oauth_err(
        associate(&idp, &token, json!({})).await,
        400,
        "invalid_request",
    )
    .await;
    oauth_err(
        associate(&idp, &token, json!({"authenticator_types": ["webauthn"]})).await,
        400,
        "unsupported_challenge_type",
    )
    .await;
    oauth_err(
        associate(
            &idp,
            &token,
            json!({"authenticator_types": ["oob"], "oob_channels": ["sms"]}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    oauth_err(
        associate(
            &idp,
            &token,
            json!({"authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": "12"}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn a_recovery_code_works_once_and_is_replaced() {
    let idp = spawn_enrolled(|_| {}).await;
    let token = mfa_token(&idp, OTP_USER).await;
    let body =
        json_ok(mfa_grant(&idp, GRANT_RECOVERY, &token, &[("recovery_code", RECOVERY)]).await)
            .await;
    assert_tokens(&idp, &body).await;
    let fresh = body["recovery_code"].as_str().unwrap().to_string();
    assert_eq!(fresh.len(), 24);
    assert_ne!(fresh, RECOVERY);
    // The old code is spent.
    let token = mfa_token(&idp, OTP_USER).await;
    oauth_refused(
        mfa_grant(&idp, GRANT_RECOVERY, &token, &[("recovery_code", RECOVERY)]).await,
        403,
        "invalid_grant",
        "Invalid recovery_code.",
    )
    .await;
    // The new one works (case and separators do not matter).
    let typed = fresh.to_lowercase();
    json_ok(mfa_grant(&idp, GRANT_RECOVERY, &token, &[("recovery_code", &typed)]).await).await;
}

#[tokio::test]
async fn sms_enrolment_and_challenge_deliver_codes_to_the_outbox() {
    let idp = spawn_always().await;
    let phone = "+15555550123";
    let token = mfa_token(&idp, USER).await;
    let body = json_ok(
        associate(
            &idp,
            &token,
            json!({"authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": phone}),
        )
        .await,
    )
    .await;
    assert_eq!(body["authenticator_type"], "oob");
    assert_eq!(body["oob_channel"], "sms");
    assert_eq!(body["binding_method"], "prompt");
    assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 1);
    let oob_code = oob_code_of(&body);
    let sent = outbox(&idp, phone).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["channel"], "sms");
    assert_eq!(sent[0]["kind"], "mfa_enrollment");
    let code = sent[0]["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);

    oauth_refused(
        oob_grant(&idp, &token, &oob_code).await,
        400,
        "invalid_request",
        "Missing required parameter: binding_code",
    )
    .await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    oauth_refused(
        oob_bound(&idp, &token, &oob_code, wrong).await,
        403,
        "invalid_grant",
        "Invalid binding_code.",
    )
    .await;
    oauth_refused(
        oob_bound(&idp, &token, "unknown", &code).await,
        403,
        "invalid_grant",
        "Invalid oob_code.",
    )
    .await;
    let tokens = json_ok(oob_bound(&idp, &token, &oob_code, &code).await).await;
    assert_tokens(&idp, &tokens).await;

    // The next login: the SMS factor is listed (masked) and challenged.
    let token = mfa_token(&idp, USER).await;
    let list = json_ok(authenticators(&idp, &token).await).await;
    let sms = &list[1];
    assert_eq!(sms["oob_channel"], "sms");
    assert_eq!(sms["name"], "+1***0123");
    let body = json_ok(
        challenge(
            &idp,
            &token,
            json!({"challenge_type": "oob", "authenticator_id": sms["id"]}),
        )
        .await,
    )
    .await;
    assert_eq!(body["challenge_type"], "oob");
    assert_eq!(body["binding_method"], "prompt");
    let oob_code = oob_code_of(&body);
    let sent = outbox(&idp, phone).await;
    assert_eq!(sent[0]["kind"], "mfa_challenge");
    let code = sent[0]["code"].as_str().unwrap().to_string();
    // Asking only for otp when the user has sms alone is unsupported.
    oauth_err(
        challenge(&idp, &token, json!({"challenge_type": "otp"})).await,
        400,
        "unsupported_challenge_type",
    )
    .await;
    // An oob_code of another login's transaction is refused.
    let other = mfa_token(&idp, USER).await;
    oauth_err(
        oob_bound(&idp, &other, &oob_code, &code).await,
        403,
        "invalid_grant",
    )
    .await;
    json_ok(oob_bound(&idp, &token, &oob_code, &code).await).await;
}

#[tokio::test]
async fn email_enrolment_defaults_to_the_users_address() {
    let idp = spawn_always().await;
    let token = mfa_token(&idp, ADMIN).await;
    let body = enrol_oob(&idp, &token, "email").await;
    assert_eq!(body["oob_channel"], "email");
    assert_eq!(body["binding_method"], "prompt");
    let sent = outbox(&idp, ADMIN.0).await;
    assert_eq!(sent[0]["channel"], "email");
    let code = sent[0]["code"].as_str().unwrap();
    json_ok(oob_bound(&idp, &token, body["oob_code"].as_str().unwrap(), code).await).await;
    // The outbox needs a client's credentials.
    let res = idp
        .http
        .get(idp.url("emulator/outbox"))
        .send()
        .await
        .unwrap();
    oauth_err(res, 401, "access_denied").await;
}

#[tokio::test]
async fn a_push_is_pending_until_answered_and_polling_too_fast_slows_down() {
    let idp = spawn_always().await;
    let token = mfa_token(&idp, USER).await;
    let body = enrol_oob(&idp, &token, "auth0").await;
    assert_eq!(body["oob_channel"], "auth0");
    assert!(body.get("binding_method").is_none(), "{body}");
    assert!(body["barcode_uri"]
        .as_str()
        .unwrap()
        .contains("enrollment_tx_id="));
    let oob_code = oob_code_of(&body);
    let body = pending(&idp, &token, &oob_code).await;
    assert_eq!(
        body["error_description"],
        "Authorization pending: please repeat the request in a few seconds."
    );
    oauth_err(oob_grant(&idp, &token, &oob_code).await, 400, "slow_down").await;
    assert_eq!(push(&idp, "approve", USER.0).await.status(), 204);
    let tokens = json_ok(oob_grant(&idp, &token, &oob_code).await).await;
    assert_tokens(&idp, &tokens).await;
    // Nothing is pending any more.
    oauth_err(push(&idp, "approve", USER.0).await, 404, "not_found").await;

    // The next login challenges the push; a denial is final.
    let token = mfa_token(&idp, USER).await;
    let body = json_ok(challenge(&idp, &token, json!({"challenge_type": "oob"})).await).await;
    assert_eq!(body["challenge_type"], "oob");
    assert!(body.get("binding_method").is_none(), "{body}");
    let oob_code = oob_code_of(&body);
    pending(&idp, &token, &oob_code).await;
    assert_eq!(push(&idp, "deny", USER.0).await.status(), 204);
    oauth_refused(
        oob_grant(&idp, &token, &oob_code).await,
        403,
        "invalid_grant",
        "MFA Authorization rejected.",
    )
    .await;
    // The push admin endpoint needs a client's credentials.
    let res = idp
        .http
        .post(idp.url("emulator/mfa/push/approve"))
        .query(&[("email", USER.0)])
        .send()
        .await
        .unwrap();
    oauth_err(res, 401, "access_denied").await;
}

#[tokio::test]
async fn polls_spaced_by_the_interval_stay_pending() {
    let idp = spawn_always().await;
    let token = mfa_token(&idp, USER).await;
    let body = enrol_oob(&idp, &token, "auth0").await;
    let oob_code = oob_code_of(&body);
    pending(&idp, &token, &oob_code).await;
    idp.handle.advance_clock(Duration::from_secs(6));
    pending(&idp, &token, &oob_code).await;
}

#[tokio::test]
async fn the_development_tenant_asks_only_the_seeded_otp_user_with_its_documented_secret() {
    // The settings `cargo run` uses (config/default.toml + config/development.toml).
    let mut settings = crate::helpers::full_settings().emulator;
    settings.ephemeral = true;
    assert_eq!(settings.mfa.policy, MfaPolicy::Enrolled);
    let idp = spawn_settings(settings).await;
    assert_eq!(idp.login(ADMIN.0, ADMIN.1, &[]).await.status(), 200);
    assert_eq!(idp.login(USER.0, USER.1, &[]).await.status(), 200);
    let token = mfa_token(&idp, OTP_USER).await;
    // The values docs/emulator.md gives.
    let tokens =
        json_ok(mfa_grant(&idp, GRANT_OTP, &token, &[("otp", &code_now(SECRET))]).await).await;
    assert_tokens(&idp, &tokens).await;
    let token = mfa_token(&idp, OTP_USER).await;
    let body =
        json_ok(mfa_grant(&idp, GRANT_RECOVERY, &token, &[("recovery_code", RECOVERY)]).await)
            .await;
    assert!(body["recovery_code"].is_string());
}
