//! A `@rest` field and a batched child field through the whole gateway
//! (HTTP in, HTTP out) against the in-process example orders service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use authgate::config::Settings;
use authgate::datasources::{example, DatasourceSettings, Datasources};
use authgate::Application;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

const SDL: &str = r#"
type Order { id: ID! total: Float! customerId: ID!
  customer: Customer @rest(source: "orders", path: "/customers", batch: {query: "ids", key: "id", parentKey: "customerId"}) }
type Customer { id: ID! name: String! }
extend type Query {
  order(id: ID!): Order @rest(source: "orders", path: "/orders/{args.id}")
  orders: [Order!]! @rest(source: "orders", path: "/orders")
}
"#;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `_shutdown` keeps the server up (dropping the handle stops it)
    let (gateway, client, upstream, _shutdown) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        tokio::spawn(example::serve_example(listener));
        let mut ds = DatasourceSettings {
            url: format!("http://{upstream}").parse().unwrap(),
            ..Default::default()
        };
        ds.retries = 0;
        let map = BTreeMap::from([("orders".to_owned(), ds)]);
        let datasources = Datasources::new(&map, reqwest::Client::new(), None, None).unwrap();
        let factory = datasources.factory();
        let mut settings = Settings::load_from(None, Vec::new()).unwrap();
        settings.server.listen = "127.0.0.1:0".parse().unwrap();
        settings.telemetry.filter = "warn".into();
        // the bench's own datasource and SDL; nothing on fixed ports
        settings.graphql.schema = vec!["schema".into()];
        settings.datasources.clear();
        settings.development.example_upstream.clear();
        settings.identity.emulator_listen = "127.0.0.1:0".parse().unwrap();
        settings.emulator.ephemeral = true;
        settings.guard.snapshot_path = None;
        let app = Application::builder(settings)
            .sdl("bench.graphql", SDL)
            .bindings(move |b| {
                b.factory(factory);
            })
            .build()
            .await
            .unwrap();
        let addr = app.local_addr();
        let shutdown = app.shutdown_handle();
        tokio::spawn(app.run_until_stopped());
        (
            format!("http://{addr}/graphql"),
            reqwest::Client::new(),
            upstream,
            shutdown,
        )
    });
    let rt = &rt;
    let run = |query: &'static str| {
        let body = json!({ "query": query });
        let (client, url) = (client.clone(), gateway.clone());
        move || {
            rt.block_on(async {
                let r: serde_json::Value = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert!(r.get("errors").is_none(), "{r}");
                r
            })
        }
    };
    let one = run(r#"{ order(id: "1") { id total } }"#);
    c.bench_function("rest_field_one_call", |b| b.iter(&one));
    let batched = run("{ orders { id customer { name } } }");
    c.bench_function("rest_list_with_batched_children", |b| b.iter(&batched));
    let direct = {
        let client = client.clone();
        let url = format!("http://{upstream}/orders/1");
        move || {
            rt.block_on(async {
                let r: serde_json::Value =
                    client.get(&url).send().await.unwrap().json().await.unwrap();
                r
            })
        }
    };
    c.bench_function("baseline_direct_upstream_get", |b| b.iter(&direct));
}

criterion_group!(benches, bench);
criterion_main!(benches);
