//! Key rotation and persistence across restarts.

use serde_json::Value;

use super::*;
use authgate::emulator::{rotate_keys_in_dir, EmulatorSettings};

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_publishes_three_keys() {
    let idp = spawn().await;
    let before = idp.login_full(USER.0, USER.1).await;
    let old_at = before["access_token"].as_str().unwrap().to_string();
    let old_kid = jsonwebtoken::decode_header(&old_at).unwrap().kid.unwrap();
    let jwks = idp.jwks().await;
    let next_kid = jwks["keys"][1]["kid"].as_str().unwrap().to_string();

    idp.handle.rotate_keys().await.unwrap();
    let jwks = idp.jwks().await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 3);
    assert_eq!(kids[0], next_kid, "the next key became current");
    assert!(
        kids.contains(&old_kid.as_str()),
        "the previous key is still published"
    );
    idp.verify(&old_at, API).await;

    let after = idp.login_full(USER.0, USER.1).await;
    let new_kid = jsonwebtoken::decode_header(after["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(new_kid, next_kid);
    // The old token still works where the emulator checks tokens itself.
    let res = idp
        .http
        .get(idp.url("userinfo"))
        .bearer_auth(&old_at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn admin_rotate_endpoint_needs_client_credentials() {
    let idp = spawn().await;
    let res = idp
        .http
        .post(idp.url("emulator/admin/rotate-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = idp
        .http
        .post(idp.url("emulator/admin/rotate-keys"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = idp
        .http
        .post(idp.url("emulator/admin/rotate-keys"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let kids: Value = res.json().await.unwrap();
    assert!(kids["previous_kid"].is_string());
    assert_eq!(idp.jwks().await["keys"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = EmulatorSettings {
        data_dir: dir.path().to_path_buf(),
        ephemeral: false,
        ..EmulatorSettings::default()
    };
    let idp = spawn_settings(settings.clone()).await;
    let res = idp
        .http
        .post(idp.url("dbconnections/signup"))
        .json(&serde_json::json!({"email": "persist@example.com", "password": "Persist-Passw0rd", "connection": "Username-Password-Authentication"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let login = idp
        .login_full("persist@example.com", "Persist-Passw0rd")
        .await;
    let rt = login["refresh_token"].as_str().unwrap().to_string();
    let kids_before = idp.jwks().await;
    idp.handle.shutdown().await;

    let state = std::fs::read_to_string(dir.path().join("emulator-state.json")).unwrap();
    assert!(
        !state.contains("Persist-Passw0rd"),
        "passwords are stored hashed"
    );
    assert!(state.contains("$argon2id$"));
    assert!(!state.contains(&rt), "refresh tokens are stored hashed");

    let idp = spawn_settings(settings.clone()).await;
    assert_eq!(idp.jwks().await, kids_before, "same keys after restart");
    assert_eq!(
        idp.login("persist@example.com", "Persist-Passw0rd", &[])
            .await
            .status(),
        200
    );
    let res = idp.refresh(&rt).await;
    assert_eq!(res.status(), 200);
    idp.handle.shutdown().await;

    // The CLI rotation works on the stopped emulator's directory.
    rotate_keys_in_dir(dir.path()).unwrap();
    let idp = spawn_settings(settings).await;
    let jwks = idp.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
    assert_eq!(jwks["keys"][0]["kid"], kids_before["keys"][1]["kid"]);
    idp.handle.shutdown().await;

    let empty = tempfile::tempdir().unwrap();
    assert!(rotate_keys_in_dir(empty.path()).is_err());
}
