//! Downstream datasources: the team's micro-services behind SDL directives.
//!
//! `@rest(source:, path:, …)` resolves a field with one HTTP call (or one
//! batched call per level); `@graphql(source:)` forwards a root field to an
//! upstream GraphQL service. Each `[datasources.NAME]` is a
//! [`DatasourceSettings`]: base URL, timeout, retries, concurrency cap,
//! circuit breaker and whose identity the upstream sees.

mod cache;
mod error;
pub mod example;
mod identity;
mod passthrough;
mod rest;
mod settings;
mod template;
mod tls;
mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use cache::RequestCache;
pub use error::DatasourceError;
pub use identity::{ClientCredentials, FetchedToken, ServiceTokenSource, PRINCIPAL_HEADER};
pub use settings::{
    CircuitBreakerSettings, ClaimsHeaders, DatasourceSettings, IdentityMode, ServiceTokenSettings,
};
pub use tls::TlsSettings;

use crate::graphql::{DirectiveResolverFactory, FieldSite, Resolver};
use identity::{CachedServiceToken, Identity};
use upstream::Upstream;

/// Directive names reserved for datasources (`@rest`, `@graphql`).
pub const DIRECTIVES: &[&str] = &["rest", "graphql"];

/// Every configured datasource, sharing one HTTP client.
#[derive(Clone)]
pub struct Datasources {
    upstreams: Arc<HashMap<String, Arc<Upstream>>>,
}

impl Datasources {
    /// Builds the datasources. `service_tokens` issues the client-credentials
    /// tokens of `identity = { service_token = … }` datasources that do not
    /// name their own `token_url` (wire it to the Auth0 client). Every
    /// upstream call is recorded in `metrics` (the app's registry) if given.
    pub fn new(
        settings: &BTreeMap<String, DatasourceSettings>,
        http: reqwest::Client,
        service_tokens: Option<Arc<dyn ServiceTokenSource>>,
        metrics: Option<crate::metrics::Metrics>,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut upstreams = HashMap::new();
        for (name, s) in settings {
            if let Err(e) = s.validate(name) {
                errors.extend(e);
                continue;
            }
            let identity =
                match &s.identity {
                    IdentityMode::None => Identity::None,
                    IdentityMode::ForwardToken => Identity::Forward,
                    IdentityMode::ClaimsHeaders(c) => Identity::Claims(
                        c.headers
                            .iter()
                            .filter_map(|(h, claim)| {
                                Some((
                                    http::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                                        .ok()?,
                                    claim.clone(),
                                ))
                            })
                            .collect(),
                    ),
                    IdentityMode::ServiceToken(t) => {
                        let source: Arc<dyn ServiceTokenSource> =
                            match (&t.client_id, &t.client_secret, &service_tokens) {
                                (Some(id), Some(secret), _) => match t.token_url.clone() {
                                    Some(url) => Arc::new(ClientCredentials::new(
                                        http.clone(),
                                        url,
                                        id.clone(),
                                        secret.clone(),
                                    )),
                                    None => {
                                        errors.push((
                                    format!("datasources.{name}.identity.service_token.token_url"),
                                    "is required with client_id and client_secret".into(),
                                ));
                                        continue;
                                    }
                                },
                                (_, _, Some(default)) => default.clone(),
                                _ => {
                                    errors.push((
                                format!("datasources.{name}.identity.service_token"),
                                "no token endpoint: set token_url, client_id and client_secret"
                                    .into(),
                            ));
                                    continue;
                                }
                            };
                        Identity::Service(CachedServiceToken::new(source, t.audience.clone()))
                    }
                };
            // a private CA or a client certificate: a client of its own
            let client = match s.tls.client(name) {
                Ok(own) => own.unwrap_or_else(|| http.clone()),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            upstreams.insert(
                name.clone(),
                Arc::new(Upstream::new(
                    name.clone(),
                    s.clone(),
                    identity,
                    client,
                    metrics.clone(),
                )),
            );
        }
        if errors.is_empty() {
            Ok(Self {
                upstreams: Arc::new(upstreams),
            })
        } else {
            Err(errors)
        }
    }

    /// No datasource at all: `@rest` and `@graphql` stay known directives
    /// (their declarations parse), and a field using one names no source.
    pub fn none() -> Self {
        Self {
            upstreams: Arc::new(HashMap::new()),
        }
    }

    /// The factory resolving `@rest` and `@graphql` fields; register it with
    /// `Bindings::factory`.
    pub fn factory(&self) -> Arc<dyn DirectiveResolverFactory> {
        Arc::new(Factory {
            upstreams: self.upstreams.clone(),
        })
    }

    /// Each datasource's circuit state: `{"orders": {"circuit": "closed"}, …}`.
    pub fn readiness(&self) -> serde_json::Value {
        let mut names: Vec<&String> = self.upstreams.keys().collect();
        names.sort();
        serde_json::Value::Object(
            names
                .into_iter()
                .filter_map(|n| {
                    let u = self.upstreams.get(n)?;
                    Some((
                        n.clone(),
                        serde_json::json!({ "circuit": u.breaker.state_name() }),
                    ))
                })
                .collect(),
        )
    }
}

struct Factory {
    upstreams: Arc<HashMap<String, Arc<Upstream>>>,
}

impl DirectiveResolverFactory for Factory {
    fn directive_names(&self) -> &[&'static str] {
        DIRECTIVES
    }

    fn build(&self, site: &FieldSite<'_>) -> Result<Resolver, String> {
        let is_root = site.is_root;
        match site.directive.name.node.as_str() {
            "rest" => {
                Ok(rest::RestField::from_site(site, &self.upstreams, is_root)?.into_resolver())
            }
            "graphql" => Ok(
                passthrough::GraphqlField::from_site(site, &self.upstreams, is_root)?
                    .into_resolver(),
            ),
            other => Err(format!("@{other} is not a datasource directive")),
        }
    }

    fn request_data(&self, request: async_graphql::Request) -> async_graphql::Request {
        request.data(RequestCache::default())
    }
}
