//! `@graphql`: selection, variables, fragments and errors forwarded.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{gateway, source};

const SDL: &str = r#"
type Product { id: ID! name: String! price: Float! }
extend type Query {
  products(first: Int): [Product!]! @graphql(source: "catalog")
  product(id: ID!): Product @graphql(source: "catalog")
}
"#;

fn sent(req: &wiremock::Request) -> serde_json::Value {
    serde_json::from_slice(&req.body).unwrap()
}

#[tokio::test]
async fn forwards_selection_variables_and_fragments() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"products": [{"id": "p1", "name": "Teapot", "price": 25.0}]}
        })))
        .expect(2) // one call per forwarded root field
        .mount(&up)
        .await;
    let g = gateway(
        SDL,
        vec![("catalog", source(&format!("{}/graphql", up.uri())))],
    )
    .await;
    let r = g
        .app
        .gql(
            "query Q($n: Int, $unused: ID!, $withPrice: Boolean!) { items: products(first: $n) { ...P cost: price @include(if: $withPrice) } product(id: $unused) { ...Other } }
             fragment P on Product { id ...N }
             fragment N on Product { name }
             fragment Other on Product { price }",
            json!({"n": 1, "unused": "zzz", "withPrice": true}),
            None,
        )
        .await;
    assert_eq!(
        r.body["data"]["items"],
        json!([{"id": "p1", "name": "Teapot", "cost": 25.0}]),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["data"]["items"],
        json!([{"id": "p1", "name": "Teapot", "cost": 25.0}])
    );
    let reqs = up.received_requests().await.unwrap();
    let items = reqs
        .iter()
        .map(sent)
        .find(|b| b["query"].as_str().unwrap().contains("products"))
        .unwrap();
    let q = items["query"].as_str().unwrap();
    // @include/@skip are decided by the gateway before the field is forwarded
    assert!(q.starts_with("query($n: Int) {"), "{q}");
    // aliases stay at the gateway, which applies them to the answer
    assert!(q.contains("{ products(first: $n) { ...P price } }"), "{q}");
    assert!(q.contains("fragment P on Product { id ...N }"), "{q}");
    assert!(q.contains("fragment N on Product { name }"), "{q}");
    assert!(!q.contains("Other") && !q.contains("unused"), "{q}");
    assert_eq!(items["variables"], json!({"n": 1}));
    assert!(reqs[0].headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn upstream_errors_come_back_under_the_gateway_path() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"product": null},
            "errors": [
                {"message": "no such product", "path": ["product", "name"], "extensions": {"code": "BAD_USER_INPUT"}},
                {"message": "something odd", "path": ["product"]}
            ]
        })))
        .mount(&up)
        .await;
    let g = gateway(SDL, vec![("catalog", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(r#"{ mine: product(id: "p9") { name } }"#, json!({}), None)
        .await;
    assert_eq!(r.body["data"], json!({"mine": null}));
    assert_eq!(r.body["errors"][0]["message"], "no such product");
    assert_eq!(r.body["errors"][0]["path"], json!(["mine", "name"]));
    assert_eq!(r.code(0), "BAD_USER_INPUT");
    assert_eq!(r.body["errors"][1]["path"], json!(["mine"]));
    assert_eq!(r.code(1), "UPSTREAM_UNAVAILABLE");
}

#[tokio::test]
async fn a_real_graphql_upstream_answers_the_forwarded_document() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(authgate::datasources::example::serve_example(listener));
    let g = gateway(
        SDL,
        vec![("catalog", source(&format!("http://{addr}/graphql")))],
    )
    .await;
    let r = g
        .app
        .gql(
            "query($n: Int) { products(first: $n) { ...F } } fragment F on Product { id name }",
            json!({"n": 2}),
            None,
        )
        .await;
    assert_eq!(
        r.body,
        json!({"data": {"products": [{"id": "p1", "name": "Teapot"}, {"id": "p2", "name": "Kettle"}]}})
    );
}
