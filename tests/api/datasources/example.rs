//! The README tour: schema/examples/orders.graphql against the example service.

use serde_json::json;

use super::{gateway, source};
use authgate::datasources::{ClaimsHeaders, IdentityMode};

#[tokio::test]
async fn the_orders_example_works_end_to_end() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(authgate::datasources::example::serve_example(listener));
    let mut orders = source(&format!("http://{addr}"));
    orders.identity = IdentityMode::ClaimsHeaders(ClaimsHeaders {
        headers: [("x-user-id".to_owned(), "sub".to_owned())].into(),
    });
    let g = gateway(
        include_str!("../../../schema/examples/orders.graphql"),
        vec![
            ("orders", orders),
            ("catalog", source(&format!("http://{addr}/graphql"))),
        ],
    )
    .await;
    let r = g
        .app
        .gql(
            r#"{ orders { id status customer { name } } order(id: "404") { id } products(first: 1) { name } }"#,
            json!({}),
            Some("user"),
        )
        .await;
    assert_eq!(r.body["errors"], json!(null), "{}", r.body);
    assert_eq!(
        r.body["data"]["orders"][0],
        json!({"id": "1", "status": "PAID", "customer": {"name": "Ada Lovelace"}})
    );
    assert_eq!(
        r.body["data"]["orders"][1]["customer"]["name"],
        "Grace Hopper"
    );
    assert_eq!(r.body["data"]["order"], json!(null));
    assert_eq!(r.body["data"]["products"], json!([{"name": "Teapot"}]));

    // `user` may not write; `admin` lacks write:orders too
    let m = r#"mutation { createOrder(input: {customerId: "c2", total: 3}) { id createdBy } }"#;
    let r = g.app.gql(m, json!({}), Some("admin")).await;
    assert_eq!(r.code(0), "FORBIDDEN");
    let r = g.app.gql(r#"{ orders { id } }"#, json!({}), None).await;
    assert_eq!(r.code(0), "UNAUTHENTICATED");
}
