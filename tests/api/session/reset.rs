//! `requestPasswordReset`: the same answer whether the account exists or not.

use serde_json::json;

use super::{emulator_call, error, RESET, USER};
use crate::helpers::spawn_full;

#[tokio::test]
async fn password_reset_never_reveals_whether_the_account_exists() {
    let app = spawn_full(|_| {}).await;
    let raw = |email: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .client
                .post(app.url("/graphql"))
                .json(&json!({"query": RESET, "variables": {"email": email}}))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let known = raw(USER.0).await;
    let unknown = raw("nobody@example.com").await;
    assert_eq!(known.0, 200);
    assert_eq!(known, unknown, "the answers differ");
    let body: serde_json::Value = serde_json::from_str(&known.1).unwrap();
    assert_eq!(body["data"]["requestPasswordReset"]["ok"], true);

    // a link was issued for the known account only
    let last = |email: &str| {
        emulator_call(
            &app,
            reqwest::Method::GET,
            &format!("/emulator/tickets/last?email={email}"),
        )
        .send()
    };
    let r = last(USER.0).await.unwrap();
    assert_eq!(r.status(), 200);
    let link: serde_json::Value = r.json().await.unwrap();
    assert_eq!(link["email"], USER.0);
    assert!(
        link["url"].as_str().unwrap().contains("reset-password"),
        "{link:#}"
    );
    assert_eq!(last("nobody@example.com").await.unwrap().status(), 404);

    // bad syntax is an input error, not a silent success
    let g = app.gql(RESET, json!({"email": "not an email"}), None).await;
    assert_eq!(error(&g, "BAD_USER_INPUT")["extensions"]["field"], "email");
}
