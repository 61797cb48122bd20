//! `emulator.password_hashing = "fast"`: the load harness's IdP double. Logins
//! still issue real RS256 tokens (which the gateway verifies end to end); only
//! the password hash is cheap.

use serde_json::{json, Value};

use super::*;
use authgate::config::Settings;
use authgate::emulator::PasswordHashing;

async fn fast() -> Idp {
    spawn_with(|s| s.password_hashing = PasswordHashing::Fast).await
}

#[tokio::test]
async fn fast_mode_issues_real_rs256_tokens_and_still_checks_passwords() {
    let idp = fast().await;
    let body = idp.login_full(USER.0, USER.1).await;
    let claims = idp
        .verify(body["access_token"].as_str().unwrap(), API)
        .await;
    assert_eq!(claims["iss"], idp.issuer());
    assert!(claims["sub"].as_str().unwrap().starts_with("auth0|"));
    assert!(claims["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("read:orders")));
    let id = idp
        .verify(body["id_token"].as_str().unwrap(), CLIENT_ID)
        .await;
    assert_eq!(id["email"], USER.0);
    assert_eq!(id["sub"], claims["sub"]);

    let wrong = idp.login(USER.0, "User-Passw0rd?", &[]).await;
    oauth_err(wrong, 403, "invalid_grant").await;
    let unknown = idp.login("nobody@example.com", USER.1, &[]).await;
    oauth_err(unknown, 403, "invalid_grant").await;
}

#[tokio::test]
async fn fast_mode_hashes_signups_too() {
    let idp = fast().await;
    let res = idp
        .http
        .post(idp.url("dbconnections/signup"))
        .json(
            &json!({"client_id": CLIENT_ID, "email": "bench@example.com",
                      "password": "Str0ng-Pass", "connection": "Username-Password-Authentication"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        idp.login("bench@example.com", "Str0ng-Pass", &[])
            .await
            .status(),
        200
    );
    oauth_err(
        idp.login("bench@example.com", "Str0ng-Pass!", &[]).await,
        403,
        "invalid_grant",
    )
    .await;
}

#[test]
fn the_mode_is_a_setting_with_a_checked_value() {
    let default = Settings::load_from(None, Vec::new()).unwrap();
    assert_eq!(
        default.emulator.password_hashing,
        PasswordHashing::Argon2,
        "argon2 unless asked"
    );
    let env = |v: &str| {
        vec![(
            "AUTHGATE__EMULATOR__PASSWORD_HASHING".to_string(),
            v.to_string(),
        )]
    };
    let fast = Settings::load_from(None, env("fast")).unwrap();
    assert_eq!(fast.emulator.password_hashing, PasswordHashing::Fast);
    let err = Settings::load_from(None, env("md5"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("password_hashing"), "{err}");
}

#[tokio::test]
async fn the_gateway_logs_in_against_a_fast_emulator_and_verifies_its_tokens() {
    let app = crate::helpers::spawn_full(|s| {
        s.emulator.password_hashing = PasswordHashing::Fast;
    })
    .await;
    let login = app
        .gql(
            "mutation L($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken idToken } }",
            json!({"e": USER.0, "p": USER.1}),
            None,
        )
        .await;
    let body: &Value = &login.body;
    let token = body["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(body["data"]["login"]["idToken"].is_string(), "{body}");
    let me = app
        .gql("{ me { email permissions } }", json!({}), Some(token))
        .await;
    assert_eq!(me.body["data"]["me"]["email"], USER.0, "{}", me.body);
}
