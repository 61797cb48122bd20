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
    let mut catalog = source(&up.uri());
    catalog.expose_upstream_errors = true;
    let g = gateway(SDL, vec![("catalog", catalog)]).await;
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
async fn upstream_errors_lose_their_message_and_extensions_by_default() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"product": null},
            "errors": [
                {"message": "NullPointerException at db.Orders.find(Orders.java:42)", "path": ["product"],
                 "extensions": {"code": "INTERNAL_SERVER_ERROR", "stacktrace": ["at db.Orders.find"], "exception": {"sql": "SELECT *"}}},
                {"message": "price must be positive", "path": ["product", "price"],
                 "extensions": {"code": "BAD_USER_INPUT", "field": "price", "debug": "row 7"}}
            ]
        })))
        .mount(&up)
        .await;
    let g = gateway(SDL, vec![("catalog", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(r#"{ product(id: "p9") { price } }"#, json!({}), None)
        .await;
    let text = r.body.to_string();
    for leak in [
        "NullPointer",
        "Orders.java",
        "stacktrace",
        "exception",
        "SELECT",
        "positive",
        "row 7",
        "debug",
    ] {
        assert!(!text.contains(leak), "{leak} reached the client: {text}");
    }
    assert_eq!(
        r.body["errors"][0]["message"],
        "the catalog service reported an error"
    );
    assert_eq!(
        r.body["errors"][0]["extensions"],
        json!({"code": "UPSTREAM_UNAVAILABLE", "reason": "UPSTREAM_ERROR"})
    );
    assert_eq!(r.body["errors"][1]["path"], json!(["product", "price"]));
    assert_eq!(
        r.body["errors"][1]["extensions"],
        json!({"code": "BAD_USER_INPUT"})
    );
}

#[tokio::test]
async fn an_upstream_unauthenticated_never_makes_the_gateway_answer_401() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"product": null},
            "errors": [{"message": "token expired", "path": ["product"], "extensions": {"code": "UNAUTHENTICATED"}}]
        })))
        .mount(&up)
        .await;
    let g = gateway(SDL, vec![("catalog", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(r#"{ product(id: "p1") { name } }"#, json!({}), Some("user"))
        .await;
    // the upstream refused the identity the gateway sent; the caller's own
    // token is the gateway's to judge, and it was fine
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.get("www-authenticate").is_none());
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert_eq!(r.body["data"], json!({"product": null}));
}

const GUARDED_SDL: &str = r#"
type Product {
  id: ID!
  name: String!
  cost(currency: String): Float @requiresPermissions(permissions: [["read:costs"]])
}
extend type Query {
  product(id: ID!): Product @graphql(source: "catalog")
}
extend type Mutation {
  createProduct(name: String!): Product @graphql(source: "catalog")
}
"#;

/// The `query` of every document the upstream received.
async fn documents(up: &MockServer) -> Vec<serde_json::Value> {
    up.received_requests()
        .await
        .unwrap()
        .iter()
        .map(sent)
        .collect()
}

#[tokio::test]
async fn a_denied_sub_field_is_never_sent_upstream() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"product": {"id": "p1", "name": "Teapot", "cost": 7.5}}
        })))
        .mount(&up)
        .await;
    let g = gateway(GUARDED_SDL, vec![("catalog", source(&up.uri()))]).await;
    // `user` holds read:orders, not read:costs
    let r = g
        .app
        .gql(
            "query($cur: String) { product(id: \"p1\") { id ...F } } fragment F on Product { name cost(currency: $cur) }",
            json!({"cur": "EUR"}),
            Some("user"),
        )
        .await;
    assert_eq!(
        r.body["data"],
        json!({"product": {"id": "p1", "name": "Teapot", "cost": null}}),
        "{}",
        r.body
    );
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert_eq!(r.body["errors"][0]["path"], json!(["product", "cost"]));
    let docs = documents(&up).await;
    assert_eq!(docs.len(), 1);
    let q = docs[0]["query"].as_str().unwrap();
    assert!(!q.contains("cost") && !q.contains("cur"), "{q}");
    assert!(q.contains("fragment F on Product { name }"), "{q}");
    assert_eq!(docs[0]["variables"], json!({}));
}

#[tokio::test]
async fn a_mutation_does_not_ask_the_upstream_for_a_denied_sub_field() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"createProduct": {"__typename": "Product"}}
        })))
        .expect(1)
        .mount(&up)
        .await;
    let g = gateway(GUARDED_SDL, vec![("catalog", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(
            r#"mutation { createProduct(name: "Mug") { cost } }"#,
            json!({}),
            Some("user"),
        )
        .await;
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert_eq!(
        r.body["errors"][0]["path"],
        json!(["createProduct", "cost"])
    );
    let docs = documents(&up).await;
    let q = docs[0]["query"].as_str().unwrap();
    // every sub-field withheld: the document stays valid, the upstream is not asked for `cost`
    assert_eq!(
        q, "mutation { createProduct(name: \"Mug\") { __typename } }",
        "{q}"
    );
}

#[tokio::test]
async fn an_interface_field_is_asked_for_only_on_implementations_the_caller_may_read() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": {"items": [
                {"__typename": "Pen", "id": "i1", "price": 2.0},
                {"__typename": "Book", "id": "i2"}
            ]}
        })))
        .mount(&up)
        .await;
    let sdl = r#"
interface Item { id: ID! price: Float }
type Pen implements Item { id: ID! price: Float }
type Book implements Item { id: ID! price: Float @requiresPermissions(permissions: [["read:books"]]) }
extend type Query { items: [Item!]! @graphql(source: "catalog") }
"#;
    let g = gateway(sdl, vec![("catalog", source(&up.uri()))]).await;
    let r = g
        .app
        .gql("{ items { id price } }", json!({}), Some("user"))
        .await;
    assert_eq!(
        r.body["data"]["items"],
        json!([{"id": "i1", "price": 2.0}, {"id": "i2", "price": null}]),
        "{}",
        r.body
    );
    assert_eq!(r.code(0), "FORBIDDEN", "{}", r.body);
    assert_eq!(r.body["errors"][0]["path"], json!(["items", 1, "price"]));
    let docs = documents(&up).await;
    let q = docs[0]["query"].as_str().unwrap();
    assert_eq!(
        q, "query { items { __typename id ... on Pen { price } } }",
        "{q}"
    );
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
