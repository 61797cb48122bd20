//! /dbconnections/*, discovery, JWKS.

use serde_json::{json, Value};

use super::*;
use authgate::emulator::PasswordPolicy;
use authgate::secret::Secret;

#[tokio::test]
async fn discovery_and_jwks_shapes() {
    let idp = spawn().await;
    let res = idp
        .http
        .get(idp.url(".well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["issuer"], idp.issuer());
    assert!(d["issuer"].as_str().unwrap().ends_with('/'));
    assert_eq!(d["token_endpoint"], format!("{}oauth/token", idp.issuer()));
    assert_eq!(
        d["jwks_uri"],
        format!("{}.well-known/jwks.json", idp.issuer())
    );
    assert_eq!(
        d["revocation_endpoint"],
        format!("{}oauth/revoke", idp.issuer())
    );
    let jwks = idp.jwks().await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "current and next");
    for k in keys {
        assert_eq!(k["alg"], "RS256");
        assert_eq!(k["kty"], "RSA");
        assert_eq!(k["use"], "sig");
        assert_eq!(k["e"], "AQAB");
        assert!(k["kid"].is_string() && k["n"].is_string());
    }
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
}

#[tokio::test]
async fn signup_json_and_form_then_user_exists() {
    let idp = spawn().await;
    let res = idp
        .http
        .post(idp.url("dbconnections/signup"))
        .json(
            &json!({"client_id": CLIENT_ID, "email": "New@Example.com", "password": "Str0ng-Pass",
                      "connection": "Username-Password-Authentication", "given_name": "New"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(content_type(&res), "application/json; charset=utf-8");
    assert!(res.headers().contains_key("x-ratelimit-limit"));
    assert!(res.headers().contains_key("x-ratelimit-remaining"));
    assert!(res.headers().contains_key("x-ratelimit-reset"));
    let body: Value = res.json().await.unwrap();
    assert!(body["_id"].as_str().unwrap().len() >= 20);
    assert_eq!(body["email"], "new@example.com");
    assert_eq!(body["email_verified"], false);
    assert_eq!(body["given_name"], "New");

    // The new user can log in.
    assert_eq!(
        idp.login("new@example.com", "Str0ng-Pass", &[])
            .await
            .status(),
        200
    );

    let form = [
        ("client_id", CLIENT_ID),
        ("email", "formuser@example.com"),
        ("password", "Str0ng-Pass"),
        ("connection", "Username-Password-Authentication"),
    ];
    let res = idp
        .http
        .post(idp.url("dbconnections/signup"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = idp
        .http
        .post(idp.url("dbconnections/signup"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"name":"BadRequestError","code":"user_exists","description":"The user already exists.","statusCode":400})
    );
}

async fn signup_with(idp: &Idp, password: &str) -> reqwest::Response {
    idp.http
        .post(idp.url("dbconnections/signup"))
        .json(&json!({"email": "p@example.com", "password": password, "connection": "Username-Password-Authentication"}))
        .send()
        .await
        .unwrap()
}

async fn strength_error(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 400);
    assert!(content_type(&res).starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "PasswordStrengthError", "{body}");
    assert_eq!(body["code"], "invalid_password");
    assert_eq!(body["message"], "Password is too weak");
    assert_eq!(body["statusCode"], 400);
    assert!(body["description"].is_object(), "description is an object");
    assert!(body["policy"].is_string(), "policy is a string");
    body
}

#[tokio::test]
async fn signup_password_policy_per_level() {
    let idp = spawn_with(|s| s.password_policy = PasswordPolicy::Fair).await;
    let body = strength_error(signup_with(&idp, "alllowercase1").await).await;
    let rules = body["description"]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["code"], "lengthAtLeast");
    assert_eq!(rules[0]["format"], json!([8]));
    assert_eq!(rules[0]["verified"], true);
    assert_eq!(rules[1]["code"], "shouldContain");
    assert_eq!(rules[1]["items"][1]["code"], "upperCase");
    assert_eq!(rules[1]["items"][1]["verified"], false);
    assert_eq!(body["description"]["verified"], false);

    let idp = spawn_with(|s| s.password_policy = PasswordPolicy::Good).await;
    let body = strength_error(signup_with(&idp, "short").await).await;
    assert_eq!(body["description"]["rules"][1]["code"], "containsAtLeast");
    assert_eq!(body["description"]["rules"][1]["format"], json!([3, 4]));
    assert_eq!(
        body["policy"],
        "* At least 8 characters in length\n* Contain at least 3 of the following 4 types of characters:\n * lower case letters (a-z)\n * upper case letters (A-Z)\n * numbers (i.e. 0-9)\n * special characters (e.g. !@#$%^&*)"
    );
    assert_eq!(signup_with(&idp, "lower-and-1").await.status(), 200);

    let idp = spawn_with(|s| s.password_policy = PasswordPolicy::Excellent).await;
    let body = strength_error(signup_with(&idp, "Abbbcdefg1!").await).await;
    assert_eq!(body["description"]["rules"][2]["code"], "identicalChars");
    assert_eq!(body["description"]["rules"][2]["format"], json!([2, "aaa"]));

    let idp = spawn_with(|s| s.password_policy = PasswordPolicy::Low).await;
    let body = strength_error(signup_with(&idp, "abc").await).await;
    assert_eq!(body["policy"], "* At least 6 characters in length");
    assert_eq!(signup_with(&idp, "abcdef").await.status(), 200);

    let idp = spawn_with(|s| {
        s.password_policy = PasswordPolicy::None;
        s.password_dictionary = true;
    })
    .await;
    let res = signup_with(&idp, "password").await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "PasswordDictionaryError");
    assert_eq!(body["code"], "invalid_password");
    assert_eq!(signup_with(&idp, "x").await.status(), 200);
}

#[tokio::test]
async fn signup_bad_requests_use_db_connection_shape() {
    let idp = spawn().await;
    for body in [
        json!({"email": "a@example.com", "password": "Str0ng-Pass"}),
        json!({"email": "not-an-email", "password": "Str0ng-Pass", "connection": "Username-Password-Authentication"}),
        json!({"email": "a@example.com", "connection": "Username-Password-Authentication"}),
        json!({"email": "a@example.com", "password": "Str0ng-Pass", "connection": "Nope"}),
    ] {
        let res = idp
            .http
            .post(idp.url("dbconnections/signup"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["name"], "BadRequestError", "{b}");
        assert!(b["code"].is_string() && b["description"].is_string());
        assert_eq!(b["statusCode"], 400);
    }
}

#[tokio::test]
async fn change_password_same_answer_for_known_and_unknown_users() {
    let idp = spawn().await;
    let mut bodies = Vec::new();
    for email in [USER.0, "ghost@example.com"] {
        let res = idp
            .http
            .post(idp.url("dbconnections/change_password"))
            .json(&json!({"client_id": CLIENT_ID, "email": email, "connection": "Username-Password-Authentication"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(content_type(&res), "text/html; charset=utf-8");
        bodies.push(res.text().await.unwrap());
    }
    assert_eq!(
        bodies[0],
        "We've just sent you an email to reset your password."
    );
    assert_eq!(bodies[0], bodies[1]);

    let res = idp.last_link(USER.0).await;
    assert_eq!(res.status(), 200);
    let link: Value = res.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}u/reset-password?ticket=", idp.issuer())),
        "{url}"
    );
    assert!(url.ends_with('#'));
    assert_eq!(idp.last_link("ghost@example.com").await.status(), 404);

    // The test API needs the client's credentials.
    let res = idp
        .http
        .get(idp.url("emulator/tickets/last"))
        .query(&[("email", USER.0)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[test]
fn settings_debug_never_prints_secrets() {
    let s = authgate::emulator::EmulatorSettings::default();
    let printed = format!("{s:?}");
    assert!(!printed.contains("dev-secret-change-me"));
    assert!(!printed.contains("Admin-Passw0rd!"));
    let _ = Secret::new("x");
}
