//! `signup`: creation, login right after, password policy, taken emails,
//! enumeration-safe answers and input validation.

use serde_json::{json, Value};

use super::{error, me, ok, s, signup, USER};
use crate::helpers::spawn_full;

fn is_user_id(v: &Value) -> bool {
    v.as_str().is_some_and(|id| {
        id.strip_prefix("auth0|")
            .is_some_and(|rest| rest.len() == 24 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
    })
}

#[tokio::test]
async fn signup_logs_in_and_refuses_bad_input() {
    let app = spawn_full(|_| {}).await;

    // a new account, logged in right after (login_after_signup defaults to on)
    let g = signup(
        &app,
        json!({"email": "new.one@example.com", "password": "Str0ng-Passw0rd", "name": "New One",
               "metadata": {"plan": "free", "locale": "de"}}),
    )
    .await;
    let p = ok(&g, "signup");
    assert!(is_user_id(&p["userId"]), "{p:#}");
    assert_eq!(p["email"], "new.one@example.com");
    assert_eq!(p["emailVerified"], false);
    let auth = &p["auth"];
    assert!(!s(auth, "accessToken").is_empty());
    assert!(!s(auth, "refreshToken").is_empty());
    assert!(!s(auth, "idToken").is_empty());
    assert_eq!(auth["user"]["id"], p["userId"]);
    assert_eq!(auth["user"]["email"], "new.one@example.com");
    assert_eq!(auth["user"]["name"], "New One");
    // the new user's access token works on a protected field
    let m = me(&app, s(auth, "accessToken")).await;
    let viewer = ok(&m, "me");
    assert_eq!(viewer["id"], p["userId"]);
    assert_eq!(viewer["email"], "new.one@example.com");

    // a weak password: the policy and its rules, for the form to show
    let g = signup(
        &app,
        json!({"email": "weak@example.com", "password": "weakpass"}),
    )
    .await;
    let e = error(&g, "BAD_USER_INPUT");
    assert_eq!(e["extensions"]["field"], "input.password");
    let policy = e["extensions"]["policy"].as_str().expect("policy text");
    assert!(policy.contains("At least 8 characters"), "{policy}");
    // the rule list itself, each with its code and whether it is met
    let rules = e["extensions"]["rules"]
        .as_array()
        .expect("a list of rules");
    let rule = |code: &str| rules.iter().find(|r| r["code"] == code).unwrap();
    assert_eq!(rule("lengthAtLeast")["verified"], true);
    assert_eq!(rule("lengthAtLeast")["format"], json!([8]));
    assert_eq!(rule("shouldContain")["verified"], false);
    assert!(rules.iter().all(|r| r["message"].is_string()));
    assert!(g.body["data"]["signup"].is_null());

    // a taken email, also in another case (Auth0 stores emails lower-case)
    for email in [USER.0, "User@Example.com"] {
        let g = signup(&app, json!({"email": email, "password": "Str0ng-Passw0rd"})).await;
        let e = error(&g, "USER_EXISTS");
        assert!(!e["message"].as_str().unwrap().contains("Passw0rd"));
    }

    // input errors name the field
    let cases = [
        (
            json!({"email": "not-an-email", "password": "Str0ng-Passw0rd"}),
            "input.email",
        ),
        (
            json!({"email": "a@b", "password": "Str0ng-Passw0rd"}),
            "input.email",
        ),
        (
            json!({"email": "meta@example.com", "password": "Str0ng-Passw0rd",
                   "metadata": (0..11).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            "input.metadata",
        ),
        (
            json!({"email": "meta@example.com", "password": "Str0ng-Passw0rd", "metadata": {"age": 42}}),
            "input.metadata",
        ),
        (
            json!({"email": "meta@example.com", "password": "Str0ng-Passw0rd", "metadata": {"nested": {"a": "b"}}}),
            "input.metadata",
        ),
        (
            json!({"email": "meta@example.com", "password": "Str0ng-Passw0rd", "metadata": ["a"]}),
            "input.metadata",
        ),
        (
            json!({"email": "empty@example.com", "password": ""}),
            "input.password",
        ),
    ];
    for (input, field) in cases {
        let g = signup(&app, input.clone()).await;
        let e = error(&g, "BAD_USER_INPUT");
        assert_eq!(e["extensions"]["field"], field, "{input} → {:#}", g.body);
    }
    // ten metadata properties are fine
    let g = signup(
        &app,
        json!({"email": "ten@example.com", "password": "Str0ng-Passw0rd",
               "metadata": (0..10).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
    )
    .await;
    assert!(is_user_id(&ok(&g, "signup")["userId"]));
}

#[tokio::test]
async fn signup_without_login_returns_no_tokens() {
    let app = spawn_full(|s| s.session.login_after_signup = false).await;
    let g = signup(
        &app,
        json!({"email": "later@example.com", "password": "Str0ng-Passw0rd"}),
    )
    .await;
    let p = ok(&g, "signup");
    assert!(is_user_id(&p["userId"]));
    assert_eq!(p["emailVerified"], false);
    assert!(p["auth"].is_null(), "{p:#}");
    // the account exists: logging in works
    let g = super::login(&app, "later@example.com", "Str0ng-Passw0rd").await;
    assert_eq!(ok(&g, "login")["user"]["id"], p["userId"]);
}

#[tokio::test]
async fn enumeration_safe_signup_answers_a_taken_email_like_a_new_one() {
    let app = spawn_full(|s| {
        s.session.login_after_signup = false;
        s.session.enumeration_safe_signup = true;
    })
    .await;
    let new = signup(
        &app,
        json!({"email": "fresh@example.com", "password": "Str0ng-Passw0rd"}),
    )
    .await;
    let taken = signup(
        &app,
        json!({"email": USER.0, "password": "Str0ng-Passw0rd"}),
    )
    .await;
    assert_eq!(new.status, taken.status);
    let (n, t) = (ok(&new, "signup"), ok(&taken, "signup"));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(n), keys(t));
    for p in [n, t] {
        assert!(is_user_id(&p["userId"]), "{p:#}");
        assert_eq!(p["emailVerified"], false);
        assert!(p["auth"].is_null());
    }
    assert_eq!(t["email"], USER.0);
    // the seeded user is verified and has another id: the answer reveals neither
    let real = ok(&super::login(&app, USER.0, USER.1).await, "login")["user"]["id"].clone();
    assert_ne!(t["userId"], real);
    // the same taken email answers the same id every time (a retry looks stable)
    let again = signup(
        &app,
        json!({"email": USER.0, "password": "Other-Passw0rd1"}),
    )
    .await;
    assert_eq!(ok(&again, "signup"), t);
    // other errors are not hidden
    let weak = signup(
        &app,
        json!({"email": "weak2@example.com", "password": "weakpass"}),
    )
    .await;
    error(&weak, "BAD_USER_INPUT");
}

#[tokio::test]
async fn enumeration_safe_answers_are_keyed_and_echo_one_spelling() {
    use hmac::Mac;
    use sha2::Digest;
    const KEY: &str = "a-test-enumeration-key-of-enough-length";
    let app = spawn_full(|s| {
        s.session.login_after_signup = false;
        s.session.enumeration_safe_signup = true;
        s.session.enumeration_key = Some(authgate::secret::Secret::new(KEY));
    })
    .await;
    // a real sign-up and a taken address, both typed in mixed case
    let new = signup(
        &app,
        json!({"email": "Fresh.Mixed@Example.COM", "password": "Str0ng-Passw0rd"}),
    )
    .await;
    let taken = signup(
        &app,
        json!({"email": "USER@Example.com", "password": "Str0ng-Passw0rd"}),
    )
    .await;
    let (n, t) = (ok(&new, "signup"), ok(&taken, "signup"));
    assert_eq!(n["email"], "fresh.mixed@example.com");
    assert_eq!(t["email"], USER.0, "the same spelling as a real sign-up");
    // the invented id is keyed: not the hash anyone can compute from the address
    let unkeyed = sha2::Sha256::digest(format!("authgate-signup:{}", USER.0).as_bytes());
    assert_ne!(
        t["userId"],
        format!("auth0|{}", &hex::encode(unkeyed)[..24])
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(USER.0.as_bytes());
    let keyed = hex::encode(mac.finalize().into_bytes());
    assert_eq!(t["userId"], format!("auth0|{}", &keyed[..24]));
}
