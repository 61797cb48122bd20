//! The README's quick tour, against the real stack (gateway + emulator +
//! guard), with the seeded development credentials of config/development.toml.

use serde_json::json;

use crate::helpers::spawn_full;

#[tokio::test]
async fn the_readme_tour_works_as_written() {
    let app = spawn_full(|_| {}).await;
    let login = app
        .gql(
            "mutation { login(input: {email: \"admin@example.com\", password: \"Admin-Passw0rd!\"}) { accessToken refreshToken user { id email roles permissions } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let l = &login.body["data"]["login"];
    assert_eq!(l["user"]["email"], "admin@example.com");
    assert_eq!(l["user"]["roles"], json!(["admin"]));
    assert!(l["user"]["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("create:invitations")));
    let at = l["accessToken"].as_str().unwrap().to_owned();
    let rt = l["refreshToken"].as_str().unwrap().to_owned();

    let me = app
        .gql("{ me { id email name } }", json!({}), Some(&at))
        .await;
    assert_eq!(me.body["data"]["me"]["name"], "Ada Admin", "{}", me.body);

    let refreshed = app
        .gql(
            "mutation($r: String) { refreshToken(refreshToken: $r) { accessToken refreshToken } }",
            json!({"r": rt}),
            None,
        )
        .await;
    let new_rt = refreshed.body["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_rt, rt, "rotation is on in the default config");

    let invited = app
        .gql(
            "mutation { inviteUser(input: {email: \"new.hire@example.com\", roles: [\"user\"]}) { email roles ticketUrl } }",
            json!({}),
            Some(&at),
        )
        .await;
    let link = invited.body["data"]["inviteUser"]["ticketUrl"]
        .as_str()
        .unwrap();
    assert!(
        link.starts_with(app.emulator.as_str()) && link.ends_with("#type=invite"),
        "{link}"
    );

    let out = app
        .gql(
            "mutation($r: String) { logout(refreshToken: $r) { ok } }",
            json!({"r": new_rt}),
            Some(&at),
        )
        .await;
    assert_eq!(out.body["data"]["logout"]["ok"], true);
    let me = app.gql("{ me { id } }", json!({}), Some(&at)).await;
    assert_eq!(me.status, 401);
    assert_eq!(
        me.body["errors"][0]["extensions"]["reason"],
        "TOKEN_REVOKED"
    );
    let again = app
        .gql(
            "mutation($r: String) { refreshToken(refreshToken: $r) { accessToken } }",
            json!({"r": new_rt}),
            None,
        )
        .await;
    assert_eq!(
        again.body["errors"][0]["extensions"]["reason"],
        "REFRESH_TOKEN_INVALID"
    );
}
