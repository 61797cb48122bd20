//! `@rest`: a field resolved by one HTTP call (or one batched call per level).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{QueryPathSegment, Value};
use async_graphql_parser::types::BaseType;
use http::{HeaderName, HeaderValue, Method};
use serde_json::Value as Json;

use super::cache::{self, BatchMap, Checkin, Gather, RequestCache};
use super::error::DatasourceError;
use super::identity::Identity;
use super::settings::RESERVED_HEADERS;
use super::template::{BodyTemplate, Namespace, Scope, Template, Values};
use super::upstream::{Answer, Call, Upstream};
use crate::error::ApiError;
use crate::graphql::schema::{base_name, to_field_value, MergedKind};
use crate::graphql::{FieldSite, RequestContext, Resolver};

/// `batch: {query: "ids", key: "id", parentKey: "customerId", path: "/customers"}`
struct BatchSpec {
    query: String,
    key: Vec<String>,
    parent_key: Vec<String>,
}

pub(crate) struct RestField {
    upstream: Arc<Upstream>,
    method: Method,
    path: Template,
    query: Vec<(String, Template)>,
    headers: Vec<(HeaderName, Template)>,
    body: Option<BodyTemplate>,
    select: Vec<String>,
    batch: Option<BatchSpec>,
    nullable: bool,
    list: bool,
    abstract_type: bool,
    /// What the templates read: each is converted to JSON per call only if
    /// some template needs it (the claims are every claim of the token).
    reads: Reads,
    /// The whole URL when neither the path nor the query has a variable:
    /// parsed once, not per call.
    fixed_url: Option<url::Url>,
}

/// The namespaces a field's templates read.
#[derive(Clone, Copy)]
struct Reads {
    args: bool,
    parent: bool,
    claims: bool,
}

fn arg(site: &FieldSite<'_>, name: &str) -> Option<Json> {
    site.directive
        .get_argument(name)
        .and_then(|v| v.node.clone().into_json().ok())
        .filter(|j| !j.is_null())
}

fn string_arg(site: &FieldSite<'_>, name: &str) -> Result<Option<String>, String> {
    match arg(site, name) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// `[["k", "v"], …]` or `{k: "v", …}`.
fn pairs(j: Json, what: &str) -> Result<Vec<(String, String)>, String> {
    match j {
        Json::Object(m) => m
            .into_iter()
            .map(|(k, v)| match v {
                Json::String(s) => Ok((k, s)),
                _ => Err(format!("`{what}`: the value of `{k}` must be a string")),
            })
            .collect(),
        Json::Array(items) => items
            .into_iter()
            .map(|p| match p {
                Json::Array(kv) if kv.len() == 2 => match (&kv[0], &kv[1]) {
                    (Json::String(k), Json::String(v)) => Ok((k.clone(), v.clone())),
                    _ => Err(format!("`{what}`: each pair is two strings")),
                },
                _ => Err(format!(
                    "`{what}`: each entry is a pair [\"name\", \"template\"]"
                )),
            })
            .collect(),
        _ => Err(format!(
            "`{what}` is a list of [name, template] pairs or an object"
        )),
    }
}

fn dotted(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `source:`, a configured datasource.
fn source_arg(
    site: &FieldSite<'_>,
    upstreams: &HashMap<String, Arc<Upstream>>,
) -> Result<Arc<Upstream>, String> {
    let source = string_arg(site, "source")?.ok_or("`source` is required")?;
    upstreams.get(&source).cloned().ok_or_else(|| {
        let mut known: Vec<&str> = upstreams.keys().map(String::as_str).collect();
        known.sort_unstable();
        format!(
            "unknown source `{source}`: configure [datasources.{source}]{}",
            if known.is_empty() {
                String::new()
            } else {
                format!(" (configured: {})", known.join(", "))
            }
        )
    })
}

/// `method:`, GET unless given.
fn method_arg(site: &FieldSite<'_>) -> Result<Method, String> {
    let method_text = string_arg(site, "method")?.unwrap_or_else(|| "GET".into());
    match method_text.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        _ => Err(format!(
            "bad method `{method_text}`: use GET, POST, PUT, PATCH or DELETE"
        )),
    }
}

/// `path:`, absolute, without query or fragment.
fn path_arg(site: &FieldSite<'_>, scope: &Scope<'_>) -> Result<Template, String> {
    let path_text = string_arg(site, "path")?.ok_or("`path` is required")?;
    if !path_text.starts_with('/') {
        return Err(format!("`path` must start with `/`: `{path_text}`"));
    }
    if path_text.contains(['?', '#']) {
        return Err("`path` must not carry a query or fragment: use `query:`".into());
    }
    Template::parse(&path_text, scope)
}

/// `headers:`, none of which authgate sets itself.
fn headers_arg(
    site: &FieldSite<'_>,
    scope: &Scope<'_>,
    upstream: &Upstream,
) -> Result<Vec<(HeaderName, Template)>, String> {
    let identity_headers: Vec<String> = match &upstream.identity {
        Identity::Claims(h) => h.iter().map(|(n, _)| n.as_str().to_owned()).collect(),
        _ => Vec::new(),
    };
    let Some(j) = arg(site, "headers") else {
        return Ok(Vec::new());
    };
    pairs(j, "headers")?
        .into_iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("`headers`: `{k}` is not a header name"))?;
            if RESERVED_HEADERS.contains(&name.as_str())
                || identity_headers.iter().any(|h| h == name.as_str())
            {
                return Err(format!(
                    "`headers`: `{k}` is set by authgate itself (identity or request id)"
                ));
            }
            Ok((name, Template::parse(&v, scope)?))
        })
        .collect()
}

impl BatchSpec {
    /// `batch: {query, key, parentKey}`; a batched call is one for all the
    /// parents, so nothing but the key may come from a parent.
    fn parse(
        m: &serde_json::Map<String, Json>,
        path: &Template,
        query: &[(String, Template)],
        headers: &[(HeaderName, Template)],
    ) -> Result<Self, String> {
        let get = |k: &str| m.get(k).and_then(Json::as_str).map(str::to_owned);
        let spec = BatchSpec {
            query: get("query").ok_or("`batch.query` (the query parameter) is required")?,
            key: dotted(&get("key").ok_or("`batch.key` (the key in each item) is required")?),
            parent_key: dotted(
                &get("parentKey").ok_or("`batch.parentKey` (the parent's field) is required")?,
            ),
        };
        let from_parent = |t: &Template| t.vars().any(|v| v.ns == Namespace::Parent);
        if from_parent(path) || query.iter().any(|(_, t)| from_parent(t)) {
            return Err(
                "a batched call cannot use {parent.…} in `path` or `query`: the parents differ"
                    .into(),
            );
        }
        if headers.iter().any(|(_, t)| from_parent(t)) {
            return Err(
                "a batched call cannot use {parent.…} in `headers`: the parents differ".into(),
            );
        }
        if let Some(unknown) = m
            .keys()
            .find(|k| !["query", "key", "parentKey"].contains(&k.as_str()))
        {
            return Err(format!(
                "unknown `batch.{unknown}`: use query, key, parentKey"
            ));
        }
        Ok(spec)
    }
}

impl RestField {
    pub fn from_site(
        site: &FieldSite<'_>,
        upstreams: &HashMap<String, Arc<Upstream>>,
        is_root: bool,
    ) -> Result<Self, String> {
        let upstream = source_arg(site, upstreams)?;
        let method = method_arg(site)?;
        let args: Vec<String> = site
            .field
            .arguments
            .iter()
            .map(|a| a.node.name.node.to_string())
            .collect();
        let scope = Scope {
            args: &args,
            parent: !is_root,
        };
        let path = path_arg(site, &scope)?;
        let query = match arg(site, "query") {
            None => Vec::new(),
            Some(j) => pairs(j, "query")?
                .into_iter()
                .map(|(k, v)| Ok((k, Template::parse(&v, &scope)?)))
                .collect::<Result<_, String>>()?,
        };
        let headers = headers_arg(site, &scope, &upstream)?;
        let body = match arg(site, "body") {
            None => None,
            Some(_) if method == Method::GET => return Err("a GET has no `body`".into()),
            Some(j) => Some(BodyTemplate::parse(&j, &scope)?),
        };
        let select = string_arg(site, "select")?
            .map(|s| dotted(&s))
            .unwrap_or_default();
        let batch = match arg(site, "batch") {
            None => None,
            Some(Json::Object(m)) => {
                if is_root {
                    return Err("`batch` is for fields of object types (it needs a parent)".into());
                }
                if method != Method::GET {
                    return Err("`batch` needs method GET".into());
                }
                Some(BatchSpec::parse(&m, &path, &query, &headers)?)
            }
            Some(_) => return Err("`batch` is an object {query, key, parentKey}".into()),
        };
        let reads_ns = |ns: Namespace| {
            path.uses(ns)
                || query.iter().any(|(_, t)| t.uses(ns))
                || headers.iter().any(|(_, t)| t.uses(ns))
                || body.as_ref().is_some_and(|b| b.uses(ns))
        };
        let reads = Reads {
            args: reads_ns(Namespace::Args),
            parent: reads_ns(Namespace::Parent),
            claims: reads_ns(Namespace::Claims),
        };
        let fixed_url = if path.vars().next().is_none()
            && query.iter().all(|(_, t)| t.vars().next().is_none())
        {
            let none = Json::Null;
            let values = Values {
                args: &none,
                parent: &none,
                claims: None,
            };
            let rendered = path.render_path(&values).map_err(|e| e.to_string())?;
            let mut url = upstream.url(&rendered).map_err(|e| e.to_string())?;
            let mut pairs: Vec<(String, String)> = Vec::new();
            for (k, t) in &query {
                if let Some(v) = t.render(&values).map_err(|e| e.to_string())? {
                    pairs.push((k.clone(), v));
                }
            }
            if !pairs.is_empty() {
                url.query_pairs_mut().extend_pairs(&pairs);
            }
            Some(url)
        } else {
            None
        };
        let ty = &site.field.ty.node;
        let abstract_type = site.types.get(base_name(ty)).is_some_and(|t| {
            matches!(
                t.kind,
                MergedKind::Interface { .. } | MergedKind::Union { .. }
            )
        });
        Ok(Self {
            upstream,
            method,
            path,
            query,
            headers,
            body,
            select,
            batch,
            nullable: ty.nullable,
            list: matches!(ty.base, BaseType::List(_)),
            abstract_type,
            reads,
            fixed_url,
        })
    }

    pub fn into_resolver(self) -> Resolver {
        let this = Arc::new(self);
        Arc::new(move |ctx: ResolverContext<'_>| {
            let this = this.clone();
            FieldFuture::new(async move {
                match this.resolve(&ctx).await {
                    Ok(Some(v)) => Ok(Some(v)),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            })
        })
    }

    async fn resolve(
        &self,
        ctx: &ResolverContext<'_>,
    ) -> Result<Option<FieldValue<'static>>, ApiError> {
        let rc = ctx
            .data::<RequestContext>()
            .map_err(|_| ApiError::Internal)?;
        let inputs = Inputs::of(ctx, rc, self.reads);
        let call = self
            .render(rc, &inputs.values())
            .await
            .map_err(|e| e.to_api())?;
        let cache = ctx.data_opt::<RequestCache>();
        match &self.batch {
            Some(batch) => self.resolve_batched(ctx, cache, batch, call).await,
            None => self.resolve_one(ctx, cache, call).await,
        }
    }

    /// The call for this field and request: headers, URL with its query,
    /// body, all rendered from the field's templates.
    async fn render(
        &self,
        rc: &RequestContext,
        values: &Values<'_>,
    ) -> Result<Rendered, DatasourceError> {
        // the upstream and the field's own headers: within one request the
        // caller is one, so with the URL they decide the answer (the
        // identity headers are the same for every call to this upstream)
        let mut cache_key = self.upstream.name.clone();
        let headers = self
            .upstream
            .call_headers(&rc.principal, &rc.meta.request_id, |headers| {
                for (name, t) in &self.headers {
                    if let Some(v) = t.render(values)? {
                        if let Ok(v) = HeaderValue::from_str(&v) {
                            cache_key.push('\n');
                            cache_key.push_str(name.as_str());
                            cache_key.push(':');
                            cache_key.push_str(&String::from_utf8_lossy(v.as_bytes()));
                            headers.insert(name.clone(), v);
                        }
                    }
                }
                Ok(())
            })
            .await?;
        let url = match &self.fixed_url {
            Some(url) => url.clone(),
            None => {
                let path = self.path.render_path(values)?;
                let mut url = self.upstream.url(&path)?;
                let mut query: Vec<(String, String)> = Vec::new();
                for (k, t) in &self.query {
                    if let Some(v) = t.render(values)? {
                        query.push((k.clone(), v));
                    }
                }
                if !query.is_empty() {
                    url.query_pairs_mut().extend_pairs(&query);
                }
                url
            }
        };
        let body = match &self.body {
            Some(b) => Some(b.render(values)?),
            None => None,
        };
        Ok(Rendered {
            call: Call {
                method: self.method.clone(),
                url,
                headers,
                body,
                deadline: rc.meta.deadline,
            },
            cache_key,
        })
    }

    /// One call for this field's parents together (`batch:`), answered from
    /// the items whose key is this parent's.
    async fn resolve_batched(
        &self,
        ctx: &ResolverContext<'_>,
        cache: Option<&RequestCache>,
        batch: &BatchSpec,
        rendered: Rendered,
    ) -> Result<Option<FieldValue<'static>>, ApiError> {
        let up = &self.upstream;
        let key = ctx
            .parent_value
            .as_value()
            .and_then(|parent| dig(parent, &batch.parent_key))
            .and_then(key_text);
        // keys travel as one comma-separated list: a key holding a comma
        // would reach the upstream as two
        let unsendable = key.as_ref().is_some_and(|k| k.contains(BATCH_SEPARATOR));
        let checkin = Checkin {
            slot: list_slot(ctx),
            expected: None,
            key: key.clone().filter(|_| !unsendable),
        };
        let items = self
            .batched(cache, rendered, checkin)
            .await
            .map_err(|e| e.to_api())?;
        if unsendable {
            return Err(DatasourceError::BadValue(format!(
                "a key of the {} service cannot be batched: it contains a comma",
                up.name
            ))
            .to_api());
        }
        let (Some(items), Some(key)) = (items, key) else {
            return Ok(None);
        };
        let found = items.get(&key).cloned().unwrap_or_default();
        let value = if self.list {
            Value::List(found)
        } else {
            match found.into_iter().next() {
                Some(v) => v,
                None if self.nullable => return Ok(None),
                None => {
                    return Err(ApiError::bad_input(format!(
                        "the {} service has no item with key `{key}`",
                        up.name
                    )))
                }
            }
        };
        self.record_list(ctx, cache, &value);
        Ok(self.field_value(value))
    }

    /// One call for this field (a GET shared within the request), its answer
    /// narrowed to `select`.
    async fn resolve_one(
        &self,
        ctx: &ResolverContext<'_>,
        cache: Option<&RequestCache>,
        rendered: Rendered,
    ) -> Result<Option<FieldValue<'static>>, ApiError> {
        let up = &self.upstream;
        let fail = |e: DatasourceError| e.to_api();
        let Rendered { call, cache_key } = rendered;
        let answer = match cache {
            Some(cache) if call.method == Method::GET => {
                let key = format!("GET {} {cache_key}", call.url);
                let up = up.clone();
                cache
                    .get(key, move || {
                        cache::shared(async move { up.send(&call).await.map(Arc::new) })
                    })
                    .await
            }
            _ => up.send(&call).await.map(Arc::new),
        }
        .map_err(fail)?;
        if answer.status == 404 {
            if self.nullable {
                return Ok(None);
            }
            return Err(DatasourceError::Status {
                source_name: up.name.clone(),
                status: 404,
                message: super::error::upstream_message(&answer.body),
            }
            .to_api());
        }
        let selected = dig(answer.value(), &self.select)
            .cloned()
            .unwrap_or(Value::Null);
        self.record_list(ctx, cache, &selected);
        Ok(self.field_value(selected))
    }

    /// A list of objects: its items are the parents of the next level, and
    /// their batches wait for exactly this many (see `cache`). Items of an
    /// interface or union may not all have a given field: not recorded.
    fn record_list(&self, ctx: &ResolverContext<'_>, cache: Option<&RequestCache>, value: &Value) {
        if let (Some(cache), Some(path), Value::List(items), false) =
            (cache, ctx.path_node, value, self.abstract_type)
        {
            cache.record_list(
                path.to_string(),
                items
                    .iter()
                    .filter(|i| matches!(i, Value::Object(_)))
                    .count(),
            );
        }
    }

    fn field_value(&self, value: Value) -> Option<FieldValue<'static>> {
        if value == Value::Null {
            return None;
        }
        Some(to_field_value(value, self.abstract_type))
    }

    /// This parent joins the level's batch; one call (per `batch_max` keys)
    /// answers every parent with a key. `None` for a parent without one.
    async fn batched(
        &self,
        cache: Option<&RequestCache>,
        rendered: Rendered,
        mut checkin: Checkin,
    ) -> Result<Option<BatchMap>, DatasourceError> {
        let Some(batch) = &self.batch else {
            return Ok(None);
        };
        let Rendered {
            call:
                Call {
                    url,
                    headers,
                    deadline,
                    ..
                },
            cache_key,
        } = rendered;
        let group = format!("{url} {} {cache_key}", batch.query);
        let start = |gather: Arc<Gather>| {
            let up = self.upstream.clone();
            let url = url.clone();
            let headers = headers.clone();
            let param = batch.query.clone();
            let item_key = batch.key.clone();
            let select = self.select.clone();
            cache::shared(async move {
                let keys = gather.keys(up.settings.batch_window).await;
                let mut out: HashMap<String, Vec<Value>> = HashMap::new();
                let calls = keys.chunks(up.settings.batch_max.max(1)).map(|chunk| {
                    let call = Call {
                        method: Method::GET,
                        url: with_keys(&url, &param, chunk),
                        headers: headers.clone(),
                        body: None,
                        deadline,
                    };
                    let up = up.clone();
                    async move { up.send(&call).await }
                });
                for answer in futures::future::join_all(calls).await {
                    let answer: Answer = answer?;
                    if answer.status == 404 {
                        continue;
                    }
                    let Some(Value::List(items)) = dig(answer.value(), &select) else {
                        return Err(DatasourceError::InvalidAnswer {
                            source_name: up.name.clone(),
                            detail: "a batched answer must be a list".into(),
                        });
                    };
                    for item in items {
                        if let Some(k) = dig(item, &item_key).and_then(key_text) {
                            out.entry(k).or_default().push(item.clone());
                        }
                    }
                }
                Ok(Arc::new(out))
            })
        };
        let batch = match cache {
            Some(c) => {
                checkin.expected = checkin.slot.as_ref().and_then(|(list, _)| c.list_len(list));
                c.batch(group, checkin, start)
            }
            // no per-request cache: a batch of one
            None => checkin.key.map(|k| start(Gather::of(k))),
        };
        match batch {
            Some(b) => b.await.map(Some),
            None => Ok(None),
        }
    }
}

/// Separates the keys of a batched call: `ids=k1,k2` (each key
/// URL-encoded, the commas not).
const BATCH_SEPARATOR: char = ',';

/// What a field's templates read: its arguments, its parent object and the
/// caller's claims, as JSON (each only when a template reads it).
struct Inputs {
    args: Json,
    parent: Json,
    claims: Option<Json>,
}

impl Inputs {
    fn of(ctx: &ResolverContext<'_>, rc: &RequestContext, reads: Reads) -> Self {
        Self {
            args: if reads.args {
                Json::Object(
                    ctx.args
                        .as_index_map()
                        .iter()
                        .filter_map(|(k, v)| Some((k.to_string(), v.clone().into_json().ok()?)))
                        .collect(),
                )
            } else {
                Json::Null
            },
            parent: if reads.parent {
                ctx.parent_value
                    .as_value()
                    .and_then(|v| v.clone().into_json().ok())
                    .unwrap_or(Json::Null)
            } else {
                Json::Null
            },
            // `None` also for an anonymous caller: a template that reads
            // claims then refuses the call
            claims: if reads.claims {
                rc.principal.user().map(|u| Json::Object(u.claims.clone()))
            } else {
                None
            },
        }
    }

    fn values(&self) -> Values<'_> {
        Values {
            args: &self.args,
            parent: &self.parent,
            claims: self.claims.as_ref(),
        }
    }
}

/// A call rendered for one request, and what besides its URL decides its
/// answer within the request (the upstream, the field's own headers): part
/// of every cache key.
struct Rendered {
    call: Call,
    cache_key: String,
}

/// `url` with `param=k1,k2,…` appended to its query.
fn with_keys(url: &url::Url, param: &str, keys: &[String]) -> url::Url {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let list: Vec<String> = keys.iter().map(|k| enc(k)).collect();
    let pair = format!("{}={}", enc(param), list.join(&BATCH_SEPARATOR.to_string()));
    let mut url = url.clone();
    let query = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{pair}"),
        _ => pair,
    };
    url.set_query(Some(&query));
    url
}

/// The list a parent is an item of (its response path) and its index there.
fn list_slot(ctx: &ResolverContext<'_>) -> Option<(String, usize)> {
    let parent = ctx.path_node?.parent?;
    match parent.segment {
        QueryPathSegment::Index(i) => Some((parent.parent?.to_string(), i)),
        QueryPathSegment::Name(_) => None,
    }
}

/// A batch key's text: strings, numbers and booleans; `None` for anything
/// else (a null key has no item).
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Follows a dotted path (`select`, a batch key) into an answer; an empty
/// path is the value itself.
fn dig<'v>(mut v: &'v Value, path: &[String]) -> Option<&'v Value> {
    for p in path {
        v = match v {
            Value::Object(m) => m.get(p.as_str())?,
            Value::List(items) => items.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}
