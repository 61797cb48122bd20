//! Templating, encoding, bodies, dedup and batching, start-up validation.

use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{gateway, source, startup_error};

const ORDERS_SDL: &str = r#"
type Order {
  id: ID!
  customerId: ID
  total: Float
  customer: Customer @rest(source: "orders", path: "/customers", batch: {query: "ids", key: "id", parentKey: "customerId"})
  lines: [Line!] @rest(source: "orders", path: "/orders/{parent.id}/lines")
}
type Customer { id: ID! name: String! }
type Line { sku: String! }
input OrderInput { customerId: ID!, total: Float! }
extend type Query {
  order(id: ID!): Order @rest(source: "orders", path: "/orders/{args.id}")
  orders(status: String, limit: Int): [Order!]! @rest(source: "orders", path: "/orders", query: [["status", "{args.status}"], ["limit", "{args.limit}"], ["owner", "{claims.sub}"]])
  search(q: String!): [Order!]! @rest(source: "orders", path: "/search", query: {q: "{args.q}"}, select: "data.items")
}
extend type Mutation {
  createOrder(input: OrderInput!): Order @rest(source: "orders", method: "POST", path: "/orders", body: "$args.input")
  tagOrder(id: ID!, tag: String!): Order @rest(source: "orders", method: "PATCH", path: "/orders/{args.id}", body: {tags: ["{args.tag}"], by: "{claims.sub}", note: "tag {args.tag}"})
}
"#;

#[tokio::test]
async fn args_and_claims_fill_path_and_query() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .and(query_param("status", "PAID"))
        .and(query_param("owner", "auth0|user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": "1", "total": 3.5}])))
        .expect(1)
        .mount(&up)
        .await;
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(
            r#"{ orders(status: "PAID") { id total } }"#,
            json!({}),
            Some("user"),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"data": {"orders": [{"id": "1", "total": 3.5}]}})
    );
    // the absent `limit` is not sent at all
    let req = &up.received_requests().await.unwrap()[0];
    assert!(!req.url.query().unwrap().contains("limit"), "{}", req.url);
    // the request id reaches the upstream and matches the response's
    assert_eq!(
        req.headers.get("x-request-id").unwrap().to_str().unwrap(),
        r.headers.get("x-request-id").unwrap().to_str().unwrap()
    );
}

#[tokio::test]
async fn hostile_values_are_encoded() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders/..%2Fadmin%3Fx%3D1%23frag%20%C3%A9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x"})))
        .expect(1)
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("q", "a&b=c #?/é"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"items": [{"id": "9"}]}})),
        )
        .expect(1)
        .mount(&up)
        .await;
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(
            "query($id: ID!, $q: String!) { order(id: $id) { id } search(q: $q) { id } }",
            json!({"id": "../admin?x=1#frag é", "q": "a&b=c #?/é"}),
            None,
        )
        .await;
    assert_eq!(
        r.body,
        json!({"data": {"order": {"id": "x"}, "search": [{"id": "9"}]}})
    );
    // `..` as a whole segment never reaches the upstream
    let r = g
        .app
        .gql(r#"{ order(id: "..") { id } }"#, json!({}), None)
        .await;
    assert_eq!(r.code(0), "BAD_USER_INPUT");
    assert_eq!(r.body["data"]["order"], json!(null));
}

#[tokio::test]
async fn bodies_from_args_and_templates() {
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .and(body_json(json!({"customerId": "c1", "total": 12.5})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "7", "total": 12.5})))
        .expect(1)
        .mount(&up)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/orders/7"))
        .and(body_json(
            json!({"tags": ["gift"], "by": "auth0|user", "note": "tag gift"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "7"})))
        .expect(1)
        .mount(&up)
        .await;
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(
            r#"mutation { createOrder(input: {customerId: "c1", total: 12.5}) { id total } tagOrder(id: "7", tag: "gift") { id } }"#,
            json!({}),
            Some("user"),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"data": {"createOrder": {"id": "7", "total": 12.5}, "tagOrder": {"id": "7"}}})
    );
}

#[tokio::test]
async fn identical_gets_are_made_once_per_operation() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1", "total": 1.0})))
        .expect(2) // once per operation, two operations
        .mount(&up)
        .await;
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    for _ in 0..2 {
        let r = g
            .app
            .gql(
                r#"{ a: order(id: "1") { id } b: order(id: "1") { total } }"#,
                json!({}),
                None,
            )
            .await;
        assert_eq!(
            r.body,
            json!({"data": {"a": {"id": "1"}, "b": {"total": 1.0}}})
        );
    }
}

/// The per-operation GET cache keys on what decides the answer: the same
/// URL asked with different field headers is two calls, and each field
/// gets its own answer.
#[tokio::test]
async fn gets_with_different_field_headers_are_not_shared() {
    const SDL: &str = r#"
type Greeting { text: String! }
extend type Query {
  greeting(lang: String!): Greeting @rest(source: "orders", path: "/greeting", headers: [["accept-language", "{args.lang}"]])
}
"#;
    let up = MockServer::start().await;
    for (lang, text) in [("fr", "bonjour"), ("de", "hallo")] {
        Mock::given(method("GET"))
            .and(path("/greeting"))
            .and(wiremock::matchers::header("accept-language", lang))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": text})))
            .expect(1)
            .mount(&up)
            .await;
    }
    let g = gateway(SDL, vec![("orders", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(
            r#"{ fr: greeting(lang: "fr") { text } de: greeting(lang: "de") { text } again: greeting(lang: "fr") { text } }"#,
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        r.body,
        json!({"data": {"fr": {"text": "bonjour"}, "de": {"text": "hallo"}, "again": {"text": "bonjour"}}})
    );
}

#[tokio::test]
async fn parents_share_one_batched_call_and_parent_templates_work() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "1", "customerId": "c1"},
            {"id": "2", "customerId": "c2"},
            {"id": "3", "customerId": "c1"},
            {"id": "4", "customerId": "c404"},
            {"id": "5", "customerId": null}
        ])))
        .expect(1)
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/customers"))
        // one comma-separated list: the commas are not percent-encoded
        .and(|r: &wiremock::Request| r.url.query() == Some("ids=c1,c2,c404"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "c1", "name": "Ada"},
            {"id": "c2", "name": "Grace"}
        ])))
        .expect(1)
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "2"})))
        .expect(1)
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/2/lines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"sku": "A"}])))
        .expect(1)
        .mount(&up)
        .await;
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(
            "{ orders { id customer { name } } order2: order(id: 2) { lines { sku } } }",
            json!({}),
            Some("user"),
        )
        .await;
    assert_eq!(r.body["errors"], json!(null), "{}", r.body);
    let names: Vec<serde_json::Value> = r.body["data"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["customer"]["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![
            json!("Ada"),
            json!("Grace"),
            json!("Ada"),
            json!(null),
            json!(null)
        ]
    );
    assert_eq!(r.body["data"]["order2"]["lines"], json!([{"sku": "A"}]));
}

#[tokio::test]
async fn order_lines_are_fetched_per_parent() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "1"})))
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/orders/1/lines"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"sku": "A"}, {"sku": "B"}])))
        .expect(1)
        .mount(&up)
        .await;
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    let r = g
        .app
        .gql(r#"{ order(id: "1") { lines { sku } } }"#, json!({}), None)
        .await;
    assert_eq!(
        r.body,
        json!({"data": {"order": {"lines": [{"sku": "A"}, {"sku": "B"}]}}})
    );
}

#[tokio::test]
async fn startup_refuses_bad_directives_with_file_and_line() {
    let up = "http://127.0.0.1:9";
    let e = startup_error(
        "extend type Query {\n  a: String @rest(source: \"nope\", path: \"/a\")\n}\n",
        vec![("orders", source(up))],
    )
    .await;
    assert!(
        e.contains("test.graphql:2") && e.contains("unknown source `nope`"),
        "{e}"
    );
    let e = startup_error(
        "extend type Query {\n  a(id: ID): String @rest(source: \"orders\", path: \"/a/{args.idd}\")\n}\n",
        vec![("orders", source(up))],
    )
    .await;
    assert!(
        e.contains("test.graphql:2") && e.contains("no argument `idd`"),
        "{e}"
    );
    let e = startup_error(
        "extend type Query {\n\n  a: String @rest(source: \"orders\", method: \"FETCH\", path: \"/a\")\n}\n",
        vec![("orders", source(up))],
    )
    .await;
    assert!(
        e.contains("test.graphql:3") && e.contains("bad method `FETCH`"),
        "{e}"
    );
    let e = startup_error(
        "extend type Query {\n  a: String @rest(source: \"orders\", path: \"/a/{parent.id}\")\n}\n",
        vec![("orders", source(up))],
    )
    .await;
    assert!(e.contains("no parent"), "{e}");
    let e = startup_error(
        "extend type Query {\n  a: String @rest(source: \"orders\", path: \"/a\", headers: [[\"x-request-id\", \"1\"]])\n}\n",
        vec![("orders", source(up))],
    )
    .await;
    assert!(e.contains("set by authgate itself"), "{e}");
}

/// Parents whose sibling `@rest` fields resolve at the same time as the
/// batched one: every run makes exactly one batched call per level, with
/// each key once.
#[tokio::test]
async fn batches_hold_with_concurrent_sibling_fields() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "o1", "customerId": "c1"},
            {"id": "o2", "customerId": "c2"},
            {"id": "o3", "customerId": "c3"},
            {"id": "o4", "customerId": "c1"},
            {"id": "o5", "customerId": "c4"}
        ])))
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/customers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "c1", "name": "Ada"},
            {"id": "c2", "name": "Grace"},
            {"id": "c3", "name": "Edsger"},
            {"id": "c4", "name": "Barbara"}
        ])))
        .mount(&up)
        .await;
    for o in 1..=5 {
        Mock::given(method("GET"))
            .and(path(format!("/orders/o{o}/lines")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"sku": "A"}])))
            .mount(&up)
            .await;
    }
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    let mut seen = 0;
    for run in 0..30 {
        let r = g
            .app
            .gql(
                "{ orders { id lines { sku } customer { name } more: lines { sku } } }",
                json!({}),
                Some("user"),
            )
            .await;
        assert_eq!(r.body["errors"], json!(null), "{}", r.body);
        let names: Vec<&str> = r.body["data"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["customer"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Ada", "Grace", "Edsger", "Ada", "Barbara"]);
        let requests = up.received_requests().await.unwrap();
        let batched: Vec<&str> = requests[seen..]
            .iter()
            .filter(|r| r.url.path() == "/customers")
            .map(|r| r.url.query().unwrap_or(""))
            .collect();
        assert_eq!(
            batched,
            ["ids=c1,c2,c3,c4"],
            "run {run}: one call, each key once"
        );
        seen = requests.len();
    }
}

/// Many operations at once: each still makes exactly one batched call.
#[tokio::test]
async fn concurrent_operations_each_make_one_batched_call() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "o1", "customerId": "c2"},
            {"id": "o2", "customerId": "c1"},
            {"id": "o3", "customerId": "c2"}
        ])))
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/customers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "c1", "name": "Ada"},
            {"id": "c2", "name": "Grace"}
        ])))
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex("^/orders/o[0-9]/lines$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"sku": "A"}])))
        .mount(&up)
        .await;
    let g = gateway(ORDERS_SDL, vec![("orders", source(&up.uri()))]).await;
    let runs = futures::future::join_all((0..30).map(|_| {
        g.app.gql(
            "{ orders { lines { sku } customer { name } id } }",
            json!({}),
            Some("user"),
        )
    }))
    .await;
    for r in &runs {
        assert_eq!(r.body["errors"], json!(null), "{}", r.body);
        assert_eq!(r.body["data"]["orders"][1]["customer"]["name"], "Ada");
    }
    let requests = up.received_requests().await.unwrap();
    let mut by_request: std::collections::HashMap<String, Vec<String>> = Default::default();
    for r in requests.iter().filter(|r| r.url.path() == "/customers") {
        by_request
            .entry(r.headers["x-request-id"].to_str().unwrap().to_owned())
            .or_default()
            .push(r.url.query().unwrap_or("").to_owned());
    }
    assert_eq!(by_request.len(), 30);
    for calls in by_request.values() {
        assert_eq!(calls, &["ids=c1,c2"]);
    }
}

const KEYS_SDL: &str = r#"
type Order {
  id: ID!
  customerId: ID
  customer: Customer @rest(source: "orders", path: "/customers", query: {v: "2"}, batch: {query: "ids", key: "id", parentKey: "customerId"})
}
type Customer { id: ID! name: String! }
extend type Query {
  orders: [Order!]! @rest(source: "orders", path: "/orders")
}
"#;

#[tokio::test]
async fn batch_keys_are_one_encoded_comma_list_and_commas_in_keys_are_refused() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "1", "customerId": "a b&c=d"},
            {"id": "2", "customerId": "x,y"},
            {"id": "3", "customerId": 7}
        ])))
        .mount(&up)
        .await;
    Mock::given(method("GET"))
        .and(path("/customers"))
        .and(|r: &wiremock::Request| r.url.query() == Some("v=2&ids=7,a+b%26c%3Dd"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "a b&c=d", "name": "Ada"},
            {"id": 7, "name": "Grace"}
        ])))
        .expect(1)
        .mount(&up)
        .await;
    let g = gateway(KEYS_SDL, vec![("orders", source(&up.uri()))]).await;
    let r = g
        .app
        .gql("{ orders { id customer { name } } }", json!({}), None)
        .await;
    assert_eq!(
        r.body["data"]["orders"],
        json!([
            {"id": "1", "customer": {"name": "Ada"}},
            {"id": "2", "customer": null},
            {"id": "3", "customer": {"name": "Grace"}}
        ]),
        "{}",
        r.body
    );
    assert_eq!(
        r.body["errors"][0]["path"],
        json!(["orders", 1, "customer"])
    );
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("comma"),
        "{}",
        r.body
    );
}
