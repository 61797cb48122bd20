//! Multi-factor login through the gateway, against a wiremock Auth0 double
//! speaking docs/auth0-mfa-wire.md (and the guard double, which accepts the
//! access token `admin`): the browser gets a sealed session, never the
//! mfa_token; the session is one-time, bound to its client, unforgeable and
//! short-lived; codes are rate limited.

use authgate::session::Custody;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{double_tokens, error, form, login_query, ok, spawn_double, AUTH_FIELDS};
use crate::helpers::{Gql, TestApp};

const IP: &str = "203.0.113.7";
const OTHER_IP: &str = "198.51.100.9";

/// The raw mfa_token the double hands out for `user`.
fn mfa_token(user: &str) -> String {
    format!("Fe26.2**raw-mfa-token-of-{user}")
}

fn verify_query() -> String {
    format!("mutation V($input: MfaVerifyInput!) {{ mfaVerify(input: $input) {{ {AUTH_FIELDS} recoveryCode }} }}")
}

const CHALLENGE: &str = "mutation C($input: MfaChallengeInput!) { mfaChallenge(input: $input) { session challengeType bindingCodeExpected } }";
const ENROLL: &str = "mutation E($input: MfaEnrollInput!) { mfaEnroll(input: $input) { session factor secret otpauthUri recoveryCodes bindingCodeExpected } }";
const POLL: &str =
    "mutation P($s: String!) { mfaPoll(session: $s) { status interval auth { accessToken } } }";

/// A GraphQL call from `ip`, with an optional `Cookie` header.
async fn call(app: &TestApp, query: &str, vars: Value, ip: &str, cookie: Option<&str>) -> Gql {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", ip)
        .json(&json!({"query": query, "variables": vars}));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    TestApp::read(req.send().await.unwrap()).await
}

/// Auth0 answers `user`'s password grant with mfa_required, and lists
/// `authenticators` for its mfa_token.
async fn mfa_user(server: &MockServer, user: &str, authenticators: Value) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(form(&[("grant_type", "password"), ("username", user)]))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "mfa_required",
            "error_description": "Multifactor authentication required",
            "mfa_token": mfa_token(user),
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/mfa/authenticators"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {}", mfa_token(user)).as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(authenticators))
        .mount(server)
        .await;
}

fn otp_enrolled() -> Value {
    json!([
        {"id": "totp|dev_1", "authenticator_type": "otp", "active": true, "name": "Authenticator App"},
        {"id": "recovery-code|dev_2", "authenticator_type": "recovery-code", "active": true},
        {"id": "sms|dev_3", "authenticator_type": "oob", "oob_channel": "sms", "active": true, "name": "+1***5678"},
        {"id": "push|dev_4", "authenticator_type": "oob", "oob_channel": "auth0", "active": true, "name": "Push"},
        {"id": "email|dev_5", "authenticator_type": "oob", "oob_channel": "email", "active": false}
    ])
}

/// An MFA grant for `user`'s mfa_token with `pairs`, answered `status`/`body`.
async fn grant(
    server: &MockServer,
    user: &str,
    pairs: &[(&'static str, &str)],
    status: u16,
    body: Value,
    times: u64,
) {
    let token = mfa_token(user);
    let mut all = vec![("mfa_token", token.as_str())];
    all.extend_from_slice(pairs);
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(form(&all))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(times)
        .mount(server)
        .await;
}

/// Logs `user` in from `ip`: the MFA_REQUIRED error and the whole response.
async fn login_mfa(app: &TestApp, user: &str, ip: &str) -> (Value, Gql) {
    let g = call(
        app,
        &login_query(),
        json!({"email": user, "password": "Any-Passw0rd"}),
        ip,
        None,
    )
    .await;
    let mfa = error(&g, "MFA_REQUIRED")["extensions"]["mfa"].clone();
    (mfa, g)
}

fn session(mfa: &Value) -> String {
    mfa["session"].as_str().expect("a session").to_owned()
}

async fn verify(app: &TestApp, input: Value, ip: &str, cookie: Option<&str>) -> Gql {
    call(app, &verify_query(), json!({ "input": input }), ip, cookie).await
}

fn otp_grant() -> &'static str {
    "http://auth0.com/oauth/grant-type/mfa-otp"
}

const ADA: &str = "ada@example.com";

/// A double on which ADA's login needs MFA, with `otp_enrolled` factors.
async fn ada_double() -> MockServer {
    let server = MockServer::start().await;
    mfa_user(&server, ADA, otp_enrolled()).await;
    server
}

/// An MFA grant for ADA with `pairs` that Auth0 answers with tokens, `times` times.
async fn grant_tokens(server: &MockServer, pairs: &[(&'static str, &str)], times: u64) {
    grant(server, ADA, pairs, 200, double_tokens(), times).await;
}

/// An MFA grant for ADA with `pairs` that Auth0 refuses as a wrong code, `times` times.
async fn grant_invalid(server: &MockServer, pairs: &[(&'static str, &str)], times: u64) {
    let body = json!({"error": "invalid_grant", "error_description": "Invalid otp_code."});
    grant(server, ADA, pairs, 403, body, times).await;
}

/// mfaVerify of `otp` for the session `handle`, from IP without a cookie.
async fn verify_otp(app: &TestApp, handle: &str, otp: &str) -> Gql {
    verify(app, json!({"session": handle, "otp": otp}), IP, None).await
}

/// `query` (mfaChallenge or mfaEnroll) with `input`, from IP without a cookie.
async fn mutate(app: &TestApp, query: &str, input: Value) -> Gql {
    call(app, query, json!({ "input": input }), IP, None).await
}

/// The `set-cookie` headers of a response.
fn set_cookies(g: &Gql) -> Vec<&str> {
    g.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

#[tokio::test]
async fn mfa_required_answers_a_sealed_session_and_never_the_mfa_token() {
    let server = ada_double().await;
    let app = spawn_double(&server, |_| {}).await;
    let (mfa, g) = login_mfa(&app, ADA, IP).await;

    let whole = format!("{:?} {}", g.headers, g.body);
    assert!(!whole.contains("raw-mfa-token"), "{whole}");
    assert!(g.body["errors"][0]["extensions"].get("mfaToken").is_none());
    assert!(session(&mfa).starts_with("mfa1."));
    assert_eq!(mfa["enrollmentRequired"], false);
    assert_eq!(mfa["expiresIn"], 600);
    assert_eq!(mfa["factors"], json!(["otp", "sms", "email", "push"]));
    // the active ones, by the factor a UI offers
    assert_eq!(
        mfa["authenticators"],
        json!([
            {"id": "totp|dev_1", "type": "otp", "name": "Authenticator App"},
            {"id": "recovery-code|dev_2", "type": "recovery-code", "name": null},
            {"id": "sms|dev_3", "type": "sms", "name": "+1***5678"},
            {"id": "push|dev_4", "type": "push", "name": "Push"},
        ])
    );
}

#[tokio::test]
async fn an_otp_finishes_the_login_once() {
    let server = ada_double().await;
    grant_tokens(
        &server,
        &[("grant_type", otp_grant()), ("otp", "123456")],
        1,
    )
    .await;
    let app = spawn_double(&server, |_| {}).await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let input = json!({"session": session(&mfa), "otp": "123456"});

    let g = verify(&app, input.clone(), IP, None).await;
    let auth = ok(&g, "mfaVerify");
    assert_eq!(auth["accessToken"], "admin");
    assert_eq!(auth["user"]["id"], "auth0|admin");
    assert_eq!(auth["recoveryCode"], Value::Null);

    // replayed after success: refused here, Auth0 is not asked again
    let g = verify(&app, input, IP, None).await;
    error(&g, "MFA_SESSION_EXPIRED");
}

#[tokio::test]
async fn forged_and_tampered_sessions_are_refused_before_auth0() {
    let server = ada_double().await;
    grant_tokens(&server, &[], 0).await;
    let app = spawn_double(&server, |_| {}).await;
    // a gateway with another client secret seals with another key
    let other = spawn_double(&server, |s| {
        s.auth0.client_secret = authgate::secret::Secret::new("another-client-secret-of-32-chars!!")
    })
    .await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let (foreign, _) = login_mfa(&other, ADA, IP).await;
    let real = session(&mfa);
    let mut tampered: Vec<char> = real.chars().collect();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for forged in [
        tampered,
        session(&foreign),
        "mfa1.AAAA".to_owned(),
        mfa_token(ADA),
        "x".repeat(20_000),
    ] {
        let g = verify(&app, json!({"session": forged, "otp": "123456"}), IP, None).await;
        error(&g, "MFA_SESSION_EXPIRED");
    }
}

#[tokio::test]
async fn a_session_is_bound_to_the_client_that_logged_in() {
    // body custody: the client's network
    let server = ada_double().await;
    grant_tokens(&server, &[("grant_type", otp_grant())], 1).await;
    let app = spawn_double(&server, |s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]
    })
    .await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let input = json!({"session": session(&mfa), "otp": "123456"});
    error(
        &verify(&app, input.clone(), OTHER_IP, None).await,
        "MFA_SESSION_EXPIRED",
    );
    ok(&verify(&app, input, IP, None).await, "mfaVerify");
}

fn mfa_cookie(g: &Gql) -> String {
    set_cookies(g)
        .into_iter()
        .find(|c| c.starts_with("authgate_refresh_mfa="))
        .and_then(|c| c.split(';').next())
        .expect("the MFA binding cookie")
        .to_owned()
}

#[tokio::test]
async fn cookie_custody_binds_the_session_to_an_httponly_cookie() {
    let server = ada_double().await;
    grant(
        &server,
        ADA,
        &[("grant_type", otp_grant())],
        200,
        json!({"access_token": "admin", "refresh_token": "rt-1", "token_type": "Bearer", "expires_in": 3600}),
        1,
    )
    .await;
    let app = spawn_double(&server, |s| s.session.custody = Custody::Cookie).await;
    let (mfa, g) = login_mfa(&app, ADA, IP).await;
    let cookie = mfa_cookie(&g);
    let set = set_cookies(&g)
        .into_iter()
        .find(|c| c.starts_with("authgate_refresh_mfa="))
        .unwrap()
        .to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let input = json!({"session": session(&mfa), "otp": "123456"});
    // without the cookie, or with another client's: refused
    error(
        &verify(&app, input.clone(), IP, None).await,
        "MFA_SESSION_EXPIRED",
    );
    error(
        &verify(&app, input.clone(), IP, Some("authgate_refresh_mfa=00ff")).await,
        "MFA_SESSION_EXPIRED",
    );
    // with it, even from another network (a phone changing networks)
    let g = verify(&app, input, OTHER_IP, Some(&cookie)).await;
    let auth = ok(&g, "mfaVerify");
    assert_eq!(auth["refreshToken"], Value::Null);
    let cookies = set_cookies(&g);
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("authgate_refresh=rt-1")));
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("authgate_refresh_mfa=;") && c.contains("Max-Age=0")));
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let server = ada_double().await;
    // Auth0's mfa_token died first
    grant(
        &server,
        ADA,
        &[("otp", "111111")],
        403,
        json!({"error": "expired_token", "error_description": "mfa_token is expired"}),
        1,
    )
    .await;
    grant_tokens(&server, &[("otp", "222222")], 0).await;
    let app = spawn_double(&server, |s| {
        s.session.mfa.session_ttl = std::time::Duration::from_secs(1)
    })
    .await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let g = verify_otp(&app, &session(&mfa), "111111").await;
    error(&g, "MFA_SESSION_EXPIRED");

    // ours: the handle carries its expiry (whole seconds); two seconds later
    // it is past, whatever the clock's phase
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let g = verify_otp(&app, &session(&mfa), "222222").await;
    error(&g, "MFA_SESSION_EXPIRED");
}

#[tokio::test]
async fn wrong_codes_are_mfa_invalid_code_and_limited_per_session() {
    let server = ada_double().await;
    grant_invalid(&server, &[("grant_type", otp_grant())], 3).await;
    let app = spawn_double(&server, |s| s.session.mfa.max_attempts = 3).await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let input = json!({"session": session(&mfa), "otp": "000000"});
    for _ in 0..3 {
        let g = verify(&app, input.clone(), IP, None).await;
        let e = error(&g, "MFA_INVALID_CODE");
        assert!(!e.to_string().contains("raw-mfa-token"));
    }
    let g = verify(&app, input, IP, None).await;
    let e = error(&g, "RATE_LIMITED");
    assert!(e["extensions"]["retryAfter"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn codes_are_limited_per_account_across_sessions() {
    let server = ada_double().await;
    grant_invalid(&server, &[("grant_type", otp_grant())], 2).await;
    let app = spawn_double(&server, |s| s.limits.mfa_verify.per_account = Some(2)).await;
    let (first, _) = login_mfa(&app, ADA, IP).await;
    let (second, _) = login_mfa(&app, "Ada@Example.com", OTHER_IP).await;
    for _ in 0..2 {
        let g = verify_otp(&app, &session(&first), "000000").await;
        error(&g, "MFA_INVALID_CODE");
    }
    // a fresh session from another address: the account's budget is spent
    let g = verify(
        &app,
        json!({"session": session(&second), "otp": "000000"}),
        OTHER_IP,
        None,
    )
    .await;
    error(&g, "RATE_LIMITED");
}

#[tokio::test]
async fn a_recovery_code_logs_in_and_answers_the_new_one() {
    let server = ada_double().await;
    let mut answer = double_tokens();
    answer["recovery_code"] = json!("NEWRECOVERYCODE123456789");
    grant(
        &server,
        ADA,
        &[
            (
                "grant_type",
                "http://auth0.com/oauth/grant-type/mfa-recovery-code",
            ),
            ("recovery_code", "OLDRECOVERYCODE123456789"),
        ],
        200,
        answer,
        1,
    )
    .await;
    let app = spawn_double(&server, |_| {}).await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let g = verify(
        &app,
        json!({"session": session(&mfa), "recoveryCode": "OLDRECOVERYCODE123456789"}),
        IP,
        None,
    )
    .await;
    let auth = ok(&g, "mfaVerify");
    assert_eq!(auth["recoveryCode"], "NEWRECOVERYCODE123456789");
    assert_eq!(auth["accessToken"], "admin");
}

#[tokio::test]
async fn exactly_one_code_is_required() {
    let server = ada_double().await;
    let app = spawn_double(&server, |_| {}).await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    for input in [
        json!({"session": session(&mfa)}),
        json!({"session": session(&mfa), "otp": "1", "recoveryCode": "2"}),
    ] {
        error(&verify(&app, input, IP, None).await, "BAD_USER_INPUT");
    }
    // a binding code without a challenge that sent one
    let g = verify(
        &app,
        json!({"session": session(&mfa), "bindingCode": "123456"}),
        IP,
        None,
    )
    .await;
    assert_eq!(
        error(&g, "BAD_USER_INPUT")["extensions"]["field"],
        "input.bindingCode"
    );
}

#[tokio::test]
async fn an_sms_challenge_then_its_binding_code() {
    let server = ada_double().await;
    Mock::given(method("POST"))
        .and(path("/mfa/challenge"))
        .and(body_partial_json(json!({
            "mfa_token": mfa_token(ADA),
            "challenge_type": "oob",
            "authenticator_id": "sms|dev_3",
            "client_id": super::CLIENT_ID,
            "client_secret": super::CLIENT_SECRET,
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "challenge_type": "oob", "oob_code": "oob-sms-1", "binding_method": "prompt"
        })))
        .expect(1)
        .mount(&server)
        .await;
    grant_tokens(
        &server,
        &[
            ("grant_type", "http://auth0.com/oauth/grant-type/mfa-oob"),
            ("oob_code", "oob-sms-1"),
            ("binding_code", "654321"),
        ],
        1,
    )
    .await;
    let app = spawn_double(&server, |_| {}).await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    // an id that is not this login's: refused before Auth0
    let g = mutate(
        &app,
        CHALLENGE,
        json!({"session": session(&mfa), "authenticatorId": "sms|someone_else"}),
    )
    .await;
    error(&g, "BAD_USER_INPUT");
    let g = mutate(
        &app,
        CHALLENGE,
        json!({"session": session(&mfa), "authenticatorId": "sms|dev_3"}),
    )
    .await;
    let c = ok(&g, "mfaChallenge");
    assert_eq!(c["challengeType"], "OOB");
    assert_eq!(c["bindingCodeExpected"], true);
    assert!(!g.body.to_string().contains("oob-sms-1"));
    let next = c["session"].as_str().unwrap();
    let g = verify(
        &app,
        json!({"session": next, "bindingCode": "654321"}),
        IP,
        None,
    )
    .await;
    assert_eq!(ok(&g, "mfaVerify")["accessToken"], "admin");
}

#[tokio::test]
async fn a_push_is_polled_pending_slow_down_then_approved() {
    let server = MockServer::start().await;
    let oob = "http://auth0.com/oauth/grant-type/mfa-oob";
    for (user, status, body) in [
        (
            "pending@example.com",
            400,
            json!({"error": "authorization_pending", "error_description": "Authorization pending: please repeat the request in a few seconds."}),
        ),
        (
            "slow@example.com",
            400,
            json!({"error": "slow_down", "error_description": "You are polling faster than allowed. Try again in 5 seconds."}),
        ),
        ("approved@example.com", 200, double_tokens()),
        (
            "rejected@example.com",
            403,
            json!({"error": "invalid_grant", "error_description": "MFA Authorization rejected."}),
        ),
    ] {
        mfa_user(&server, user, otp_enrolled()).await;
        Mock::given(method("POST"))
            .and(path("/mfa/challenge"))
            .and(body_partial_json(json!({"mfa_token": mfa_token(user)})))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(
                    json!({"challenge_type": "oob", "oob_code": format!("oob-{user}")}),
                ),
            )
            .mount(&server)
            .await;
        let code = format!("oob-{user}");
        let token = mfa_token(user);
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(form(&[
                ("grant_type", oob),
                ("mfa_token", &token),
                ("oob_code", &code),
            ]))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            // one poll each: a second poll within the interval never reaches Auth0
            .expect(1)
            .mount(&server)
            .await;
    }
    let app = spawn_double(&server, |_| {}).await;
    async fn push(app: &TestApp, user: &str) -> String {
        let (mfa, _) = login_mfa(app, user, IP).await;
        let g = mutate(
            app,
            CHALLENGE,
            json!({"session": session(&mfa), "authenticatorId": "push|dev_4"}),
        )
        .await;
        let c = ok(&g, "mfaChallenge");
        assert_eq!(c["bindingCodeExpected"], false);
        c["session"].as_str().unwrap().to_owned()
    }
    let app = &app;
    let poll = |s: String| async move { call(app, POLL, json!({ "s": s }), IP, None).await };

    let s = push(app, "pending@example.com").await;
    let g = poll(s.clone()).await;
    let p = ok(&g, "mfaPoll");
    assert_eq!(p["status"], "PENDING");
    assert_eq!(p["interval"], 5);
    assert_eq!(p["auth"], Value::Null);
    let g = poll(s).await;
    assert_eq!(ok(&g, "mfaPoll")["status"], "PENDING");

    let s = push(app, "slow@example.com").await;
    let g = poll(s).await;
    let p = ok(&g, "mfaPoll");
    assert_eq!(p["status"], "PENDING");
    assert_eq!(p["interval"], 10);

    let s = push(app, "approved@example.com").await;
    let g = poll(s.clone()).await;
    let p = ok(&g, "mfaPoll");
    assert_eq!(p["status"], "APPROVED");
    assert_eq!(p["auth"]["accessToken"], "admin");
    error(&poll(s).await, "MFA_SESSION_EXPIRED");

    let s = push(app, "rejected@example.com").await;
    let g = poll(s).await;
    let e = error(&g, "MFA_INVALID_CODE");
    assert_eq!(e["extensions"]["reason"], "PUSH_REJECTED");
}

#[tokio::test]
async fn enrolment_of_an_otp_app_then_its_first_code() {
    let server = MockServer::start().await;
    mfa_user(&server, "new@example.com", json!([])).await;
    Mock::given(method("POST"))
        .and(path("/mfa/associate"))
        .and(body_partial_json(json!({"authenticator_types": ["otp"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "authenticator_type": "otp",
            "secret": "ENSWY3DPEHPK3PXS",
            "barcode_uri": "otpauth://totp/acme:new%40example.com?secret=ENSWY3DPEHPK3PXS&issuer=acme",
            "recovery_codes": ["N3BGPZZWJ85JLCNPZBDW6QXC"]
        })))
        .expect(1)
        .mount(&server)
        .await;
    grant(
        &server,
        "new@example.com",
        &[("grant_type", otp_grant()), ("otp", "123456")],
        200,
        double_tokens(),
        1,
    )
    .await;
    let app = spawn_double(&server, |s| {
        s.session.mfa.factors = vec!["otp".into(), "email".into()]
    })
    .await;
    let (mfa, _) = login_mfa(&app, "new@example.com", IP).await;
    assert_eq!(mfa["enrollmentRequired"], true);
    assert_eq!(mfa["authenticators"], json!([]));
    assert_eq!(mfa["factors"], json!(["otp", "email"]));
    // a factor the tenant does not offer
    let g = mutate(
        &app,
        ENROLL,
        json!({"session": session(&mfa), "factor": "SMS", "phoneNumber": "+14155550123"}),
    )
    .await;
    error(&g, "BAD_USER_INPUT");
    let g = mutate(
        &app,
        ENROLL,
        json!({"session": session(&mfa), "factor": "OTP"}),
    )
    .await;
    let e = ok(&g, "mfaEnroll");
    assert_eq!(e["factor"], "OTP");
    assert_eq!(e["secret"], "ENSWY3DPEHPK3PXS");
    assert!(e["otpauthUri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/"));
    assert_eq!(e["recoveryCodes"], json!(["N3BGPZZWJ85JLCNPZBDW6QXC"]));
    assert_eq!(e["bindingCodeExpected"], false);
    let g = verify_otp(&app, &session(e), "123456").await;
    assert_eq!(ok(&g, "mfaVerify")["accessToken"], "admin");
}

#[tokio::test]
async fn enrolling_an_enrolled_user_says_so() {
    let server = ada_double().await;
    Mock::given(path("/mfa/associate"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"error": "access_denied", "error_description": "User is already enrolled."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_double(&server, |_| {}).await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let g = mutate(
        &app,
        ENROLL,
        json!({"session": session(&mfa), "factor": "OTP"}),
    )
    .await;
    assert_eq!(
        error(&g, "BAD_USER_INPUT")["extensions"]["reason"],
        "MFA_ALREADY_ENROLLED"
    );
}

#[tokio::test]
async fn logs_hold_no_mfa_token_session_or_code_and_audit_each_step() {
    let capture = super::logs::Capture::start();

    let server = ada_double().await;
    grant_invalid(&server, &[("otp", "402913")], 1).await;
    grant_tokens(&server, &[("otp", "918273")], 1).await;
    let app = spawn_double(&server, |_| {}).await;
    let (mfa, _) = login_mfa(&app, ADA, IP).await;
    let handle = session(&mfa);
    error(
        &verify_otp(&app, &handle, "402913").await,
        "MFA_INVALID_CODE",
    );
    ok(&verify_otp(&app, &handle, "918273").await, "mfaVerify");

    let text = capture.text();
    assert!(text.lines().count() > 5, "the capture works: {text}");
    for secret in [
        "raw-mfa-token",
        handle.as_str(),
        &handle[handle.len() - 24..],
        "402913",
        "918273",
    ] {
        if let Some(line) = text.lines().find(|l| l.contains(secret)) {
            panic!("{secret} is in the log: {line}");
        }
    }
    let audits: Vec<Value> = capture
        .audits()
        .into_iter()
        .map(|v| v["fields"].clone())
        .collect();
    let has = |event: &str, outcome: &str| {
        audits.iter().any(|f| {
            f["event"] == event && f["outcome"] == outcome && f["user"] == "a***@example.com"
        })
    };
    assert!(has("login", "mfa_required"), "{audits:#?}");
    assert!(has("mfa_verify", "failure"), "{audits:#?}");
    assert!(has("mfa_verify", "success"), "{audits:#?}");
}
