//! Management API v2 and the password-change ticket page.

use reqwest::Method;
use serde_json::{json, Value};

use super::*;
use authgate::emulator::ClientSettings;
use authgate::secret::Secret;

#[tokio::test]
async fn management_token_claims() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let aud = format!("{}api/v2/", idp.issuer());
    let claims = idp.verify(&token, &aud).await;
    assert_eq!(claims["sub"], format!("{CLIENT_ID}@clients"));
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["aud"], aud);
    assert!(claims["scope"].as_str().unwrap().contains("create:users"));
}

#[tokio::test]
async fn missing_token_and_insufficient_scope() {
    let idp = spawn_with(|s| {
        s.clients.push(ClientSettings {
            client_id: "reader".into(),
            client_secret: Secret::new("reader-secret"),
            grant_types: vec!["client_credentials".into()],
            management_scopes: vec!["read:roles".into()],
            ..ClientSettings::default()
        });
        s.clients.push(ClientSettings {
            client_id: "nogrant".into(),
            client_secret: Secret::new("nogrant-secret"),
            grant_types: vec!["client_credentials".into()],
            ..ClientSettings::default()
        });
    })
    .await;
    let res = idp.http.get(idp.url("api/v2/users")).send().await.unwrap();
    mgmt_err(res, 401).await;
    let res = idp
        .call(Method::GET, idp.url("api/v2/users"), "nope", None)
        .await;
    let body = mgmt_err(res, 401).await;
    assert_eq!(body["message"], "Invalid token");

    let aud = format!("{}api/v2/", idp.issuer());
    let res = idp
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "reader"),
            ("client_secret", "reader-secret"),
            ("audience", &aud),
        ])
        .await;
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = idp
        .call(Method::GET, idp.url("api/v2/users"), &token, None)
        .await;
    let body = mgmt_err(res, 403).await;
    assert_eq!(body["error"], "Forbidden");
    assert_eq!(body["errorCode"], "insufficient_scope");
    assert_eq!(
        body["message"],
        "Insufficient scope, expected any of: read:users"
    );
    let res = idp
        .call(Method::GET, idp.url("api/v2/roles"), &token, None)
        .await;
    assert_eq!(res.status(), 200);

    let res = idp
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", "nogrant"),
            ("client_secret", "nogrant-secret"),
            ("audience", &aud),
        ])
        .await;
    oauth_err(res, 403, "access_denied").await;

    // A user token for the API is not a Management API token.
    let user = idp.login_full(ADMIN.0, ADMIN.1).await;
    let res = idp
        .call(
            Method::GET,
            idp.url("api/v2/users"),
            user["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    mgmt_err(res, 401).await;
}

#[tokio::test]
async fn users_create_read_search_and_roles() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let new_user = json!({"connection": "Username-Password-Authentication", "email": "Invitee@Example.com",
        "password": "Rand0m-Unknown-Pass", "email_verified": false, "verify_email": false,
        "name": "Invitee", "app_metadata": {"needsInvitation": true, "tenant": "acme"}});
    let create = |user: Value| {
        let (idp, token) = (&idp, &token);
        async move {
            idp.call(Method::POST, idp.url("api/v2/users"), token, Some(&user))
                .await
        }
    };
    let res = create(new_user.clone()).await;
    assert_eq!(res.status(), 201);
    assert_eq!(content_type(&res), "application/json; charset=utf-8");
    let user: Value = res.json().await.unwrap();
    let user_id = user["user_id"].as_str().unwrap().to_string();
    assert!(user_id.starts_with("auth0|"));
    assert_eq!(user["email"], "invitee@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(
        user["identities"][0]["connection"],
        "Username-Password-Authentication"
    );
    assert_eq!(user["identities"][0]["provider"], "auth0");
    assert_eq!(user["identities"][0]["isSocial"], false);
    assert_eq!(
        format!(
            "auth0|{}",
            user["identities"][0]["user_id"].as_str().unwrap()
        ),
        user_id
    );
    for f in ["name", "nickname", "picture", "created_at", "updated_at"] {
        assert!(user[f].is_string(), "{f}");
    }
    assert_eq!(user["logins_count"], 0);
    assert_eq!(user["app_metadata"]["tenant"], "acme");

    let res = create(new_user.clone()).await;
    let body = mgmt_err(res, 409).await;
    assert_eq!(
        body,
        json!({"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"})
    );

    let weak = json!({"connection": "Username-Password-Authentication", "email": "weak@example.com", "password": "weak"});
    let res = create(weak).await;
    let body = mgmt_err(res, 400).await;
    assert_eq!(
        body["message"],
        "PasswordStrengthError: Password is too weak"
    );

    let res = create(json!({"email": "x@example.com"})).await;
    mgmt_err(res, 400).await;

    // users-by-email: an array, case-sensitive.
    let by_email = |email: &str| {
        idp.http
            .get(idp.url("api/v2/users-by-email"))
            .query(&[("email", email)])
            .bearer_auth(&token)
            .send()
    };
    let found: Value = by_email("invitee@example.com")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["user_id"], user_id.as_str());
    let none: Value = by_email("nobody@example.com")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // GET /users/{id} with the id URL-encoded.
    let encoded = user_id.replace('|', "%7C");
    let res = idp
        .call(
            Method::GET,
            idp.url(&format!("api/v2/users/{encoded}")),
            &token,
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "invitee@example.com"
    );
    let res = idp
        .call(
            Method::GET,
            idp.url("api/v2/users/auth0%7Cnope"),
            &token,
            None,
        )
        .await;
    let body = mgmt_err(res, 404).await;
    assert_eq!(body["errorCode"], "inexistent_user");

    // Search.
    let search = |q: &str, extra: &[(&str, &str)]| {
        let mut params = vec![("q", q.to_string()), ("search_engine", "v3".to_string())];
        params.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        idp.http
            .get(idp.url("api/v2/users"))
            .query(&params)
            .bearer_auth(&token)
            .send()
    };
    let hits: Value = search("app_metadata.tenant:acme AND email_verified:false", &[])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    let hits: Value = search("email:\"admin@example.com\"", &[])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    let hits: Value = search(
        "logins_count:0",
        &[("include_totals", "true"), ("per_page", "2"), ("page", "0")],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(hits["total"], 3);
    assert_eq!(hits["users"].as_array().unwrap().len(), 2);
    assert_eq!(hits["limit"], 2);
    let res = search("email:a@b.c OR name:x", &[]).await.unwrap();
    mgmt_err(res, 400).await;

    // Roles.
    let res = idp
        .http
        .get(idp.url("api/v2/roles"))
        .query(&[("name_filter", "adm"), ("include_totals", "true")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let roles: Value = res.json().await.unwrap();
    assert_eq!(roles["total"], 1);
    assert_eq!(roles["start"], 0);
    assert_eq!(roles["limit"], 50);
    let admin_role = roles["roles"][0].clone();
    assert_eq!(admin_role["name"], "admin");
    assert!(admin_role["id"].as_str().unwrap().starts_with("rol_"));
    let all: Value = idp
        .call(Method::GET, idp.url("api/v2/roles"), &token, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);

    let res = idp
        .call(
            Method::POST,
            idp.url(&format!("api/v2/users/{encoded}/roles")),
            &token,
            Some(&json!({"roles": [admin_role["id"]]})),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.unwrap(), "");
    let res = idp
        .call(
            Method::POST,
            idp.url(&format!("api/v2/users/{encoded}/roles")),
            &token,
            Some(&json!({"roles": ["rol_missing"]})),
        )
        .await;
    assert_eq!(
        mgmt_err(res, 404).await["message"],
        "The role does not exist."
    );
    let assigned: Value = idp
        .call(
            Method::GET,
            idp.url(&format!("api/v2/users/{encoded}/roles")),
            &token,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(assigned, json!([admin_role]));

    // The assigned role shows up in the user's token.
    let login = idp
        .login_full("invitee@example.com", "Rand0m-Unknown-Pass")
        .await;
    let claims = idp
        .verify(login["access_token"].as_str().unwrap(), API)
        .await;
    assert_eq!(claims["https://authgate.dev/roles"], json!(["admin"]));
    assert!(claims["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("create:invitations")));
}

#[tokio::test]
async fn invite_ticket_sets_the_password_then_the_user_logs_in() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let user: Value = idp
        .call(Method::POST, idp.url("api/v2/users"), &token, Some(&json!({"connection": "Username-Password-Authentication", "email": "invited@example.com", "password": "Nobody-Kn0ws-This", "email_verified": false})))
        .await
        .json()
        .await
        .unwrap();
    let res = idp
        .http
        .post(idp.url("api/v2/tickets/password-change"))
        .bearer_auth(&token)
        .json(&json!({"user_id": user["user_id"], "result_url": "http://app.local/welcome", "ttl_sec": 3600,
                      "mark_email_as_verified": true, "includeEmailInRedirect": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let ticket = res.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ticket.starts_with(&format!("{}u/reset-password?ticket=", idp.issuer())));
    assert!(ticket.ends_with('#'));
    let link: Value = idp
        .last_link("invited@example.com")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(link["url"], ticket.as_str());

    let page_url = format!("{ticket}type=invite");
    let res = idp.http.get(&page_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(content_type(&res).starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<form") && html.contains("name=\"password\""));
    let ticket_id = ticket
        .split("ticket=")
        .nth(1)
        .unwrap()
        .trim_end_matches('#')
        .to_string();

    // Weak password: the page shows the policy, the ticket stays usable.
    let res = idp
        .http
        .post(idp.url("u/reset-password"))
        .form(&[("ticket", ticket_id.as_str()), ("password", "weak")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("At least 8 characters in length"));
    // The JSON variant uses the DB-connection error shape.
    let res = idp
        .http
        .post(idp.url("u/reset-password"))
        .header("accept", "application/json")
        .form(&[("ticket", ticket_id.as_str()), ("password", "weak")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["name"],
        "PasswordStrengthError"
    );

    let res = idp
        .http
        .post(idp.url("u/reset-password"))
        .form(&[
            ("ticket", ticket_id.as_str()),
            ("password", "My-New-Passw0rd"),
            ("confirm_password", "My-New-Passw0rd"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()["location"],
        "http://app.local/welcome?email=invited%40example.com"
    );

    // Single use.
    let res = idp
        .http
        .post(idp.url("u/reset-password"))
        .form(&[
            ("ticket", ticket_id.as_str()),
            ("password", "Another-Passw0rd"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(idp.http.get(&page_url).send().await.unwrap().status(), 400);

    let login = idp
        .login_full("invited@example.com", "My-New-Passw0rd")
        .await;
    let id = idp
        .verify(login["id_token"].as_str().unwrap(), CLIENT_ID)
        .await;
    assert_eq!(id["email_verified"], true);
    oauth_err(
        idp.login("invited@example.com", "Nobody-Kn0ws-This", &[])
            .await,
        403,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn ticket_errors_and_expiry() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let res = idp
        .call(
            Method::POST,
            idp.url("api/v2/tickets/password-change"),
            &token,
            Some(&json!({"user_id": "auth0|nope"})),
        )
        .await;
    mgmt_err(res, 404).await;
    let res = idp
        .call(Method::POST, idp.url("api/v2/tickets/password-change"), &token, Some(&json!({"email": USER.0, "connection_id": "Username-Password-Authentication", "result_url": "http://x.local/", "client_id": CLIENT_ID})))
        .await;
    mgmt_err(res, 400).await;
    // Without result_url: a success page. Email + connection also identify the user.
    let res = idp
        .call(
            Method::POST,
            idp.url("api/v2/tickets/password-change"),
            &token,
            Some(&json!({"email": USER.0, "connection_id": "Username-Password-Authentication"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let ticket = res.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let id = ticket
        .split("ticket=")
        .nth(1)
        .unwrap()
        .trim_end_matches('#')
        .to_string();
    let res = idp
        .http
        .post(idp.url("u/reset-password"))
        .form(&[("ticket", id.as_str()), ("password", "Fresh-Passw0rd")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("changed"));
    assert_eq!(idp.login(USER.0, "Fresh-Passw0rd", &[]).await.status(), 200);
    let res = idp
        .http
        .get(idp.url("u/reset-password?ticket=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn role_permissions_speak_auth0s_wire_format() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    let roles: Value = idp
        .call(Method::GET, idp.url("api/v2/roles"), &token, None)
        .await
        .json()
        .await
        .unwrap();
    let admin = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |query: &'static str| {
        idp.http
            .get(idp.url(&format!("api/v2/roles/{admin}/permissions{query}")))
            .bearer_auth(&token)
            .send()
    };
    let all: Value = get("").await.unwrap().json().await.unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.contains(&json!({
        "permission_name": "create:invitations", "description": "",
        "resource_server_name": API, "resource_server_identifier": API,
    })));
    let page: Value = get("?page=1&per_page=3&include_totals=true")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 4);
    assert_eq!(page["start"], 3);
    assert_eq!(page["limit"], 3);
    assert_eq!(page["permissions"].as_array().unwrap().len(), 1);

    let res = idp
        .call(
            Method::GET,
            idp.url("api/v2/roles/rol_nope/permissions"),
            &token,
            None,
        )
        .await;
    let body = mgmt_err(res, 404).await;
    assert_eq!(body["errorCode"], "inexistent_role");
    let res = idp
        .http
        .get(idp.url(&format!("api/v2/roles/{admin}/permissions")))
        .send()
        .await
        .unwrap();
    mgmt_err(res, 401).await;
}

#[tokio::test]
async fn the_management_client_reads_role_permissions() {
    let idp = spawn().await;
    let auth0 = crate::invites::auth0_for(idp.handle.base_url());
    let mgmt = crate::invites::management(&auth0);
    let user = mgmt
        .list_roles(Some("user"))
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "user")
        .unwrap();
    let perms = mgmt.role_permissions(&user.id).await.unwrap();
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0].permission_name, "read:orders");
    assert_eq!(perms[0].resource_server_identifier.as_deref(), Some(API));
}

#[tokio::test]
async fn created_users_follow_the_gateways_email_rule() {
    let idp = spawn().await;
    let token = idp.mgmt_token().await;
    for (email, status) in [
        ("Mixed.Case@Example.com", 201),
        ("a..b@example.com", 400),
        ("ada@127.0.0.1", 400),
    ] {
        let res = idp
            .http
            .post(idp.url("api/v2/users"))
            .bearer_auth(&token)
            .json(&json!({
                "connection": "Username-Password-Authentication",
                "email": email, "password": "Str0ng-Passw0rd!",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{email}");
        if status == 201 {
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["email"], "mixed.case@example.com");
        }
    }
}
