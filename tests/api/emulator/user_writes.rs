//! Management API writes to users (`PATCH`/`DELETE /api/v2/users/{id}`, role
//! removal), the paging of a user's roles, and empty scopes read as absent.

use reqwest::Method;
use serde_json::{json, Value};

use super::*;
use authgate::emulator::ClientSettings;
use authgate::secret::Secret;

const CONNECTION: &str = "Username-Password-Authentication";
const PASSWORD: &str = "Nobody-Kn0ws-This";

/// Creates a verified user with a known password; returns its `user_id`.
async fn create(idp: &Idp, token: &str, email: &str, extra: Value) -> String {
    let mut body = json!({"connection": CONNECTION, "email": email, "password": PASSWORD,
        "email_verified": true});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let res = idp
        .call(Method::POST, idp.url("api/v2/users"), token, Some(&body))
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn user_url(idp: &Idp, user_id: &str, tail: &str) -> String {
    idp.url(&format!(
        "api/v2/users/{}{tail}",
        user_id.replace('|', "%7C")
    ))
}

async fn get_user(idp: &Idp, token: &str, user_id: &str) -> Value {
    let res = idp
        .call(Method::GET, user_url(idp, user_id, ""), token, None)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn patch(idp: &Idp, token: &str, user_id: &str, body: Value) -> reqwest::Response {
    idp.http
        .patch(user_url(idp, user_id, ""))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A Management API token of a client granted only `scopes`.
async fn token_with(scopes: &[&str]) -> (Idp, String) {
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let idp = spawn_with(move |s| {
        s.clients.push(ClientSettings {
            client_id: "narrow".into(),
            client_secret: Secret::new("narrow-secret"),
            grant_types: vec!["client_credentials".into()],
            management_scopes: scopes,
            ..ClientSettings::default()
        })
    })
    .await;
    let token = idp.mgmt_token_of("narrow", "narrow-secret").await;
    (idp, token)
}

#[tokio::test]
async fn patch_merges_metadata_and_updates_the_profile() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let id = create(
        &idp,
        &token,
        "patched@example.com",
        json!({"app_metadata": {"keep": 1, "nested": {"x": 1}, "drop": true},
               "user_metadata": {"lang": "en"}}),
    )
    .await;
    let before: Value = get_user(&idp, &token, &id).await;
    let res = patch(
        &idp,
        &token,
        &id,
        json!({"app_metadata": {"nested": {"y": 2}, "drop": null, "added": "yes"},
               "user_metadata": {"theme": "dark"}, "name": "Pat Ched", "given_name": "Pat",
               "email_verified": false, "blocked": true}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(content_type(&res), "application/json; charset=utf-8");
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["user_id"], id.as_str());
    // top-level keys merged, a nested object replaced whole, null removes
    assert_eq!(
        user["app_metadata"],
        json!({"keep": 1, "nested": {"y": 2}, "added": "yes"})
    );
    assert_eq!(
        user["user_metadata"],
        json!({"lang": "en", "theme": "dark"})
    );
    assert_eq!(user["name"], "Pat Ched");
    assert_eq!(user["given_name"], "Pat");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["blocked"], true);
    assert_eq!(user["created_at"], before["created_at"]);
    // the answer is what is stored
    let stored: Value = get_user(&idp, &token, &id).await;
    assert_eq!(stored, user);
    // a blocked user cannot log in; unblocking lets them in again
    let res = idp.login("patched@example.com", PASSWORD, &[]).await;
    oauth_err(res, 401, "unauthorized").await;
    let res = patch(&idp, &token, &id, json!({"blocked": false})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        idp.login("patched@example.com", PASSWORD, &[])
            .await
            .status(),
        200
    );

    // an empty object clears the metadata; null unsets a profile string
    let res = patch(
        &idp,
        &token,
        &id,
        json!({"user_metadata": {}, "given_name": null}),
    )
    .await;
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["user_metadata"], json!({}));
    assert!(user.get("given_name").is_none(), "{user}");
    assert_eq!(user["app_metadata"]["keep"], 1);

    // a new password works at once; a new address is unverified
    let res = patch(
        &idp,
        &token,
        &id,
        json!({"password": "Another-Passw0rd", "email": "Moved@Example.com",
               "email_verified": true}),
    )
    .await;
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["email"], "moved@example.com");
    assert_eq!(user["email_verified"], true);
    assert_eq!(
        idp.login("moved@example.com", "Another-Passw0rd", &[])
            .await
            .status(),
        200
    );
    let user: Value = patch(&idp, &token, &id, json!({"email": "again@example.com"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["email_verified"], false);
}

#[tokio::test]
async fn patch_answers_auth0s_errors() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let id = create(&idp, &token, "someone@example.com", json!({})).await;

    let res = patch(&idp, &token, "auth0|000000000000", json!({"blocked": true})).await;
    let body = mgmt_err(res, 404).await;
    assert_eq!(
        body,
        json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.",
               "errorCode": "inexistent_user"})
    );
    for (bad, message) in [
        (
            json!({"blocked": "yes"}),
            "Payload validation error: 'Expected type boolean but found type string' on property blocked.",
        ),
        (
            json!({"app_metadata": ["x"]}),
            "Payload validation error: 'Expected type object but found type array' on property app_metadata.",
        ),
        (
            json!({"user_id": "auth0|other"}),
            "Payload validation error: 'Additional properties not allowed: user_id'.",
        ),
        (
            json!({}),
            "Payload validation error: 'Too few properties defined (0), minimum 1'.",
        ),
        (
            json!({"name": ""}),
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property name.",
        ),
        (
            json!({"email": "not-an-email"}),
            "Payload validation error: 'Object didn't pass validation for format email' on property email.",
        ),
    ] {
        let body = mgmt_err(patch(&idp, &token, &id, bad.clone()).await, 400).await;
        assert_eq!(body["errorCode"], "invalid_body", "{bad}");
        assert_eq!(body["message"], message, "{bad}");
    }
    // the password policy, and an address another user has
    let body = mgmt_err(
        patch(&idp, &token, &id, json!({"password": "weak"})).await,
        400,
    )
    .await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("PasswordStrengthError"));
    let body = mgmt_err(
        patch(&idp, &token, &id, json!({"email": ADMIN.0})).await,
        400,
    )
    .await;
    assert_eq!(body["message"], "The specified new email already exists");
    // nothing changed
    assert_eq!(
        idp.login("someone@example.com", PASSWORD, &[])
            .await
            .status(),
        200
    );
    // without a token, and with a token lacking update:users
    let res = idp
        .http
        .patch(user_url(&idp, &id, ""))
        .json(&json!({"blocked": true}))
        .send()
        .await
        .unwrap();
    mgmt_err(res, 401).await;
    let (other, narrow) = token_with(&["read:users", "delete:users"]).await;
    let body = mgmt_err(
        patch(&other, &narrow, &id, json!({"blocked": true})).await,
        403,
    )
    .await;
    assert_eq!(body["errorCode"], "insufficient_scope");
    assert_eq!(
        body["message"],
        "Insufficient scope, expected any of: update:users"
    );
}

#[tokio::test]
async fn delete_removes_the_user_with_its_tokens_and_tickets() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let id = create(&idp, &token, "leaving@example.com", json!({})).await;
    let session = idp.login_full("leaving@example.com", PASSWORD).await;
    let rt = session["refresh_token"].as_str().unwrap().to_string();
    let res = idp
        .call(
            Method::POST,
            idp.url("api/v2/tickets/password-change"),
            &token,
            Some(&json!({"user_id": id})),
        )
        .await;
    let ticket = res.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(idp.http.get(&ticket).send().await.unwrap().status(), 200);

    let res = idp
        .call(Method::DELETE, user_url(&idp, &id, ""), &token, None)
        .await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());

    let res = idp
        .call(Method::GET, user_url(&idp, &id, ""), &token, None)
        .await;
    assert_eq!(mgmt_err(res, 404).await["errorCode"], "inexistent_user");
    // the link that was sent no longer works, nor does the session
    assert_eq!(idp.http.get(&ticket).send().await.unwrap().status(), 400);
    let res = idp.refresh(&rt).await;
    oauth_err(res, 403, "invalid_grant").await;
    let res = idp.login("leaving@example.com", PASSWORD, &[]).await;
    oauth_err(res, 403, "invalid_grant").await;
    // deleting again is no error, as at Auth0
    let res = idp
        .call(Method::DELETE, user_url(&idp, &id, ""), &token, None)
        .await;
    assert_eq!(res.status(), 204);

    // delete:users is required
    let (other, narrow) = token_with(&["read:users", "update:users"]).await;
    let res = other
        .call(
            Method::DELETE,
            user_url(&other, "auth0|000000000000", ""),
            &narrow,
            None,
        )
        .await;
    let body = mgmt_err(res, 403).await;
    assert_eq!(
        body["message"],
        "Insufficient scope, expected any of: delete:users"
    );
}

async fn roles_of(idp: &Idp, token: &str, user_id: &str, query: &str) -> reqwest::Response {
    idp.http
        .get(user_url(idp, user_id, &format!("/roles{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn role_ids(idp: &Idp, token: &str) -> (String, String) {
    let roles: Value = idp
        .call(Method::GET, idp.url("api/v2/roles"), token, None)
        .await
        .json()
        .await
        .unwrap();
    let id = |name: &str| {
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    (id("admin"), id("user"))
}

#[tokio::test]
async fn user_roles_are_paged_and_can_be_removed() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let (admin, user) = role_ids(&idp, &token).await;
    let id = create(&idp, &token, "roles@example.com", json!({})).await;
    let res = idp
        .call(
            Method::POST,
            user_url(&idp, &id, "/roles"),
            &token,
            Some(&json!({"roles": [admin, user]})),
        )
        .await;
    assert_eq!(res.status(), 204);

    // without paging parameters: a bare array
    let all: Value = roles_of(&idp, &token, &id, "").await.json().await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    // with include_totals: Auth0's paged object
    let res = roles_of(&idp, &token, &id, "?include_totals=true&page=1&per_page=1").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["start"], 1);
    assert_eq!(body["limit"], 1);
    assert_eq!(body["total"], 2);
    assert_eq!(body["roles"], json!([all[1]]));
    assert!(body.get("length").is_none());
    let res = roles_of(&idp, &token, &id, "?page=0&per_page=1").await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!([all[0]]));
    for query in [
        "?per_page=0",
        "?per_page=101",
        "?page=x",
        "?include_totals=yes",
    ] {
        let body = mgmt_err(roles_of(&idp, &token, &id, query).await, 400).await;
        assert_eq!(body["errorCode"], "invalid_query_string", "{query}");
    }
    let body = mgmt_err(roles_of(&idp, &token, &id, "?per_page=101").await, 400).await;
    assert_eq!(
        body["message"],
        "Query validation error: 'Value 101 is greater than maximum 100' on property per_page."
    );

    // remove one role: 204, and only that one is gone
    let remove = |roles: Value| {
        idp.http
            .delete(user_url(&idp, &id, "/roles"))
            .bearer_auth(&token)
            .json(&json!({ "roles": roles }))
            .send()
    };
    let res = remove(json!([admin])).await.unwrap();
    assert_eq!(res.status(), 204);
    let left: Value = roles_of(&idp, &token, &id, "").await.json().await.unwrap();
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["id"], user.as_str());
    // removing a role the user does not hold is no error
    assert_eq!(remove(json!([admin])).await.unwrap().status(), 204);
    let body = mgmt_err(remove(json!([])).await.unwrap(), 400).await;
    assert_eq!(body["errorCode"], "invalid_body");
    let body = mgmt_err(remove(json!(["rol_unknown"])).await.unwrap(), 404).await;
    assert_eq!(body["errorCode"], "inexistent_role");
    let res = idp
        .call(
            Method::DELETE,
            user_url(&idp, "auth0|000000000000", "/roles"),
            &token,
            Some(&json!({ "roles": [user] })),
        )
        .await;
    assert_eq!(mgmt_err(res, 404).await["errorCode"], "inexistent_user");
    // the token a user gets follows the roles left
    let session = idp.login_full("roles@example.com", PASSWORD).await;
    let claims = idp
        .verify(session["access_token"].as_str().unwrap(), API)
        .await;
    assert_eq!(claims["permissions"], json!(["read:orders"]));
}

#[tokio::test]
async fn an_empty_refresh_scope_keeps_the_original_scope() {
    let idp = spawn().await;
    let first = idp.login_full(USER.0, USER.1).await;
    let original = first["scope"].as_str().unwrap().to_string();
    assert!(original.contains("openid") && original.contains("offline_access"));
    // as auth0-python sends it (JSON, "scope": ""), then as a form
    let res = idp
        .http
        .post(idp.url("oauth/token"))
        .json(
            &json!({"grant_type": "refresh_token", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "refresh_token": first["refresh_token"], "scope": ""}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_eq!(second["scope"], original.as_str());
    assert!(second["id_token"].is_string(), "{second}");
    // the rotated token kept the original scope too
    let res = idp
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", second["refresh_token"].as_str().unwrap()),
            ("scope", " "),
        ])
        .await;
    let third: Value = res.json().await.unwrap();
    assert_eq!(third["scope"], original.as_str());
    assert!(third["id_token"].is_string(), "{third}");
}

#[tokio::test]
async fn an_empty_scope_is_an_absent_one_on_every_grant() {
    let idp = spawn().await;
    // password grant without audience: the default OIDC scopes, an ID token
    let res = idp.login(USER.0, USER.1, &[("scope", "")]).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "openid profile email address phone");
    assert!(body["id_token"].is_string());
    // with an audience: the same as no scope at all
    let absent: Value = idp
        .login(ADMIN.0, ADMIN.1, &[("audience", API)])
        .await
        .json()
        .await
        .unwrap();
    let empty: Value = idp
        .login(ADMIN.0, ADMIN.1, &[("audience", API), ("scope", "")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["scope"], absent["scope"]);
    assert!(!empty["scope"].as_str().unwrap().is_empty());
    // client credentials: every granted scope, as without the parameter
    let aud = format!("{}api/v2/", idp.issuer());
    let res = idp
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("audience", &aud),
            ("scope", ""),
        ])
        .await;
    let body: Value = res.json().await.unwrap();
    let claims = idp
        .verify(body["access_token"].as_str().unwrap(), &aud)
        .await;
    assert!(claims["scope"]
        .as_str()
        .unwrap()
        .split(' ')
        .any(|s| s == "update:users"));
    // an empty audience is no audience: an opaque token for /userinfo
    let res = idp.login(USER.0, USER.1, &[("audience", "")]).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 5);
}
