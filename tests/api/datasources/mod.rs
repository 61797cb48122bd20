//! Datasources: `@rest` / `@graphql` fields against local upstream doubles.

mod example;
mod identity;
mod passthrough;
mod resilience;
mod rest;
mod tls;

use std::collections::BTreeMap;
use std::time::Duration;

use authgate::datasources::{DatasourceSettings, Datasources, ServiceTokenSource};
use authgate::Application;
use std::sync::Arc;

use crate::helpers::{spawn_with, test_settings, TestApp};

/// A datasource at `url` with no retries and a generous breaker, so each
/// test sets only what it exercises.
pub fn source(url: &str) -> DatasourceSettings {
    let mut s = DatasourceSettings {
        url: url.parse().unwrap(),
        retries: 0,
        retry_backoff: Duration::from_millis(1),
        ..Default::default()
    };
    s.circuit_breaker.failure_threshold = 100;
    s
}

pub struct Gateway {
    pub app: TestApp,
    pub datasources: Datasources,
}

pub async fn gateway(sdl: &str, sources: Vec<(&str, DatasourceSettings)>) -> Gateway {
    gateway_with_tokens(sdl, sources, None).await
}

pub async fn gateway_with_tokens(
    sdl: &str,
    sources: Vec<(&str, DatasourceSettings)>,
    tokens: Option<Arc<dyn ServiceTokenSource>>,
) -> Gateway {
    let map: BTreeMap<String, DatasourceSettings> = sources
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let datasources = Datasources::new(&map, reqwest::Client::new(), tokens, None).unwrap();
    let factory = datasources.factory();
    let app = spawn_with(
        Application::builder(test_settings())
            .sdl("test.graphql", sdl)
            .bindings(move |b| {
                b.factory(factory);
            }),
    )
    .await;
    Gateway { app, datasources }
}

/// The start-up error of a schema, as text.
pub async fn startup_error(sdl: &str, sources: Vec<(&str, DatasourceSettings)>) -> String {
    let map: BTreeMap<String, DatasourceSettings> = sources
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let datasources = Datasources::new(&map, reqwest::Client::new(), None, None).unwrap();
    let factory = datasources.factory();
    match Application::builder(test_settings())
        .sdl("test.graphql", sdl)
        .bindings(move |b| {
            b.factory(factory);
        })
        .build()
        .await
    {
        Ok(_) => panic!("the schema should not build"),
        Err(e) => format!("{e:#}"),
    }
}

/// `errors[i].extensions.reason`
pub fn reason(body: &serde_json::Value, i: usize) -> &str {
    body["errors"][i]["extensions"]["reason"]
        .as_str()
        .unwrap_or("")
}
