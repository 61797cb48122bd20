//! Reloads inside the test process: direct calls, the watcher, in-flight
//! requests, datasources and restart-required keys.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::dynamic::{FieldFuture, FieldValue};
use authgate::reload::{ReloadError, Trigger};
use serde_json::json;
use tokio::sync::Notify;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{bind_probe, eventually, fixture};

const START_SDL: &str = "type ReloadStart { x: Int }\n";
const PROBE_SDL: &str = "extend type Query { reloadProbe: String }\n";

#[tokio::test]
async fn a_direct_reload_adds_a_field_and_a_broken_sdl_keeps_the_old_schema() {
    let f = fixture("", START_SDL, bind_probe).await;
    let before = f.app.gql("{ reloadProbe }", json!({}), None).await;
    assert!(before.body["errors"].is_array(), "{:?}", before.body);
    let hash0 = f.reloader.status().schema_hash.clone();

    f.write_sdl(PROBE_SDL);
    let out = f.reloader.reload(Trigger::Manual).await.unwrap();
    assert_eq!(out.generation, 1);
    assert_ne!(out.schema_hash, hash0);
    assert!(out.restart_required.is_empty(), "{out:?}");
    let r = f.app.gql("{ reloadProbe }", json!({}), None).await;
    assert_eq!(r.body, json!({"data": {"reloadProbe": "probe"}}));

    // an unknown type: refused, naming the file; the old schema still answers
    f.write_sdl("extend type Query { reloadProbe: String broken: Nope }\n");
    let err = f.reloader.reload(Trigger::Manual).await.unwrap_err();
    assert!(matches!(err, ReloadError::Schema(_)), "{err:?}");
    assert!(err.to_string().contains("probe.graphql"), "{err}");
    assert!(err.to_string().contains("Nope"), "{err}");
    let r = f.app.gql("{ reloadProbe }", json!({}), None).await;
    assert_eq!(r.body, json!({"data": {"reloadProbe": "probe"}}));

    // an unknown directive: refused too
    f.write_sdl("extend type Query { reloadProbe: String @cached }\n");
    let err = f.reloader.reload(Trigger::Manual).await.unwrap_err();
    assert!(err.to_string().contains("@cached"), "{err}");

    // a config file that does not parse: refused, naming the key and the file
    std::fs::write(&f.config, "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let err = f.reloader.reload(Trigger::Manual).await.unwrap_err();
    assert!(matches!(err, ReloadError::Config(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("server.lisen"), "{msg}");
    assert!(msg.contains("authgate.toml"), "{msg}");
    let r = f.app.gql("{ reloadProbe }", json!({}), None).await;
    assert_eq!(r.body, json!({"data": {"reloadProbe": "probe"}}));

    // the status and the metrics tell
    let status = f.reloader.status();
    assert_eq!(status.generation, 1);
    assert_eq!(status.schema_hash, out.schema_hash);
    assert!(status
        .last_error
        .as_deref()
        .unwrap()
        .contains("server.lisen"));
    let ready = f.readyz().await;
    assert_eq!(
        ready["checks"]["config"]["details"]["generation"], 1,
        "{ready}"
    );
    assert_eq!(
        ready["checks"]["config"]["details"]["schema_hash"],
        out.schema_hash.as_str()
    );
    let m = f.metrics_text().await;
    assert!(
        m.contains(r#"authgate_reloads_total{result="success"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"authgate_reloads_total{result="failure"} 3"#),
        "{m}"
    );
    assert!(
        m.contains("authgate_config_last_reload_successful 0"),
        "{m}"
    );

    // fixed: the next reload succeeds and clears the error
    f.write_config("");
    f.write_sdl(PROBE_SDL);
    let out = f.reloader.reload(Trigger::Manual).await.unwrap();
    assert_eq!(out.generation, 2);
    assert!(f.reloader.status().last_error.is_none());
    assert!(f
        .metrics_text()
        .await
        .contains("authgate_config_last_reload_successful 1"));
    f.app.shutdown.shutdown();
}

#[tokio::test]
async fn the_watcher_applies_sdl_and_config_file_changes() {
    let watch = "reload.watch = true\nreload.poll_interval = \"20ms\"";
    let f = fixture(watch, START_SDL, bind_probe).await;
    // the SDL folder changes: a burst of writes ends with the probe field
    f.write_sdl("type ReloadStart { x: Int, y: Int }\n");
    f.write_sdl(PROBE_SDL);
    eventually(
        Duration::from_secs(10),
        "the probe field answers",
        || async {
            let r = f.app.gql("{ reloadProbe }", json!({}), None).await;
            r.body == json!({"data": {"reloadProbe": "probe"}})
        },
    )
    .await;
    let gen = f.reloader.status().generation;
    assert!(gen >= 1, "{gen}");

    // the config file changes: introspection off
    let introspect = "{ __schema { queryType { name } } }";
    let r = f.app.gql(introspect, json!({}), None).await;
    assert_eq!(r.body["data"]["__schema"]["queryType"]["name"], "Query");
    f.write_config(&format!("{watch}\ngraphql.introspection = false"));
    eventually(
        Duration::from_secs(10),
        "introspection is refused",
        || async {
            let r = f.app.gql(introspect, json!({}), None).await;
            r.body["errors"].is_array()
        },
    )
    .await;
    assert!(f.reloader.status().generation > gen);
    f.app.shutdown.shutdown();
}

#[tokio::test]
async fn an_in_flight_request_finishes_on_the_schema_it_started_with() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (e, r) = (entered.clone(), release.clone());
    let f = fixture("", "extend type Query { slow: String }\n", move |b| {
        b.bind("Query.slow", move |_ctx| {
            let (e, r) = (e.clone(), r.clone());
            FieldFuture::new(async move {
                e.notify_one();
                r.notified().await;
                Ok(Some(FieldValue::value("done")))
            })
        });
    })
    .await;
    let client = f.app.client.clone();
    let url = f.app.url("/graphql");
    let slow = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"query": "{ slow }"}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    entered.notified().await;
    // the new schema drops `slow` while the request is inside its resolver
    f.write_sdl(START_SDL);
    f.reloader.reload(Trigger::Manual).await.unwrap();
    let now = f.app.gql("{ slow }", json!({}), None).await;
    assert!(now.body["errors"].is_array(), "{:?}", now.body);
    release.notify_one();
    let body = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the in-flight request completes")
        .unwrap();
    assert_eq!(body, json!({"data": {"slow": "done"}}));
    f.app.shutdown.shutdown();
}

#[tokio::test]
async fn a_reload_adds_a_datasource_and_refuses_an_unknown_one() {
    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/hello"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"msg": "hi"})))
        .mount(&up)
        .await;
    let f = fixture("", START_SDL, |_| {}).await;
    let sdl = r#"
type Remote { msg: String }
extend type Query { remote: Remote @rest(source: "probe", path: "/hello") }
"#;
    // the SDL names a datasource the config does not have yet: refused
    f.write_sdl(sdl);
    let err = f.reloader.reload(Trigger::Manual).await.unwrap_err();
    assert!(err.to_string().contains("probe"), "{err}");

    f.write_config(&format!("datasources.probe.url = \"{}\"", up.uri()));
    let out = f.reloader.reload(Trigger::Manual).await.unwrap();
    assert!(
        out.applied
            .iter()
            .any(|k| k.starts_with("datasources.probe")),
        "{out:?}"
    );
    let r = f.app.gql("{ remote { msg } }", json!({}), None).await;
    assert_eq!(r.body, json!({"data": {"remote": {"msg": "hi"}}}));
    let ready = f.readyz().await;
    assert!(
        ready["checks"]["datasources"]["details"]
            .to_string()
            .contains("probe"),
        "{ready}"
    );
    f.app.shutdown.shutdown();
}

#[tokio::test]
async fn a_restart_required_change_is_reported_and_not_applied() {
    let f = fixture("", PROBE_SDL, bind_probe).await;
    // listen address (restart) and a schema limit (hot) change together
    f.write_config("server.listen = \"127.0.0.1:1\"\ngraphql.limits.max_root_fields = 1");
    let out = f.reloader.reload(Trigger::Manual).await.unwrap();
    assert_eq!(out.restart_required, vec!["server.listen".to_owned()]);
    assert_eq!(
        out.applied,
        vec!["graphql.limits.max_root_fields".to_owned()]
    );
    // still serving on the original address, with the new limit
    let r = f
        .app
        .gql("{ a: reloadProbe b: reloadProbe }", json!({}), None)
        .await;
    assert!(r.body["errors"].is_array(), "{:?}", r.body);
    let r = f.app.gql("{ reloadProbe }", json!({}), None).await;
    assert_eq!(r.body, json!({"data": {"reloadProbe": "probe"}}));
    assert_eq!(
        f.reloader.settings().server.listen.to_string(),
        "127.0.0.1:0"
    );
    let ready = f.readyz().await;
    assert_eq!(
        ready["checks"]["config"]["details"]["restart_required"],
        json!(["server.listen"])
    );
    f.app.shutdown.shutdown();
}
