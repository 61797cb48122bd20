//! `@graphql(source:)`: a root field forwarded, with its selection set, the
//! variables it uses and the fragments it needs, to an upstream GraphQL service.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{PathSegment, ServerError, Value};
use async_graphql_parser::types::{Directive, Field, FragmentDefinition, Selection, SelectionSet};
use async_graphql_parser::Positioned;
use async_graphql_value::Name;
use http::Method;
use serde_json::{json, Value as Json};

use super::error::DatasourceError;
use super::upstream::{Call, Upstream};
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::graphql::authz::AuthzIndex;
use crate::graphql::schema::{base_name, to_field_value, MergedKind};
use crate::graphql::{FieldSite, RequestContext, Resolver};

pub(crate) struct GraphqlField {
    upstream: Arc<Upstream>,
    nullable: bool,
    abstract_type: bool,
    /// the named type the field returns: where its selection starts
    return_type: String,
    authz: Arc<AuthzIndex>,
}

/// The upstream document for one field.
pub(crate) struct Forwarded {
    pub query: String,
    pub variables: serde_json::Map<String, Json>,
}

/// Reprints a selection for the upstream, leaving out every field the
/// caller may not read: authorization is decided here, before the call, so
/// the upstream never resolves (nor, for a mutation, runs) what the gateway
/// would refuse. The field's own guard then answers `FORBIDDEN` at its path.
struct Printer<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    authz: &'a AuthzIndex,
    principal: &'a Principal,
    vars: BTreeSet<String>,
    used_fragments: BTreeSet<String>,
    out: String,
}

impl Printer<'_> {
    fn value_vars(&mut self, v: &async_graphql_value::Value) {
        match v {
            async_graphql_value::Value::Variable(n) => {
                self.vars.insert(n.to_string());
            }
            async_graphql_value::Value::List(items) => {
                items.iter().for_each(|i| self.value_vars(i))
            }
            async_graphql_value::Value::Object(m) => m.values().for_each(|i| self.value_vars(i)),
            _ => {}
        }
    }

    fn directives(&mut self, ds: &[Positioned<Directive>]) {
        for d in ds {
            let _ = write!(self.out, " @{}", d.node.name.node);
            self.arguments(&d.node.arguments);
        }
    }

    fn arguments(&mut self, args: &[(Positioned<Name>, Positioned<async_graphql_value::Value>)]) {
        if args.is_empty() {
            return;
        }
        self.out.push('(');
        for (i, (n, v)) in args.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.value_vars(&v.node);
            let _ = write!(self.out, "{}: {}", n.node, v.node);
        }
        self.out.push(')');
    }

    /// Aliases are not forwarded: the gateway reads each child from its
    /// parent object by field name and applies the client's aliases itself.
    /// `ty` is the named type the field returns.
    fn field(&mut self, f: &Field, ty: &str) {
        self.out.push_str(&f.name.node);
        self.arguments(&f.arguments);
        self.directives(&f.directives);
        self.selection_set(&f.selection_set.node, ty);
    }

    /// Prints `f`, selected on `parent`, where the caller may read it; false
    /// when it may not be read at all.
    fn field_on(&mut self, f: &Field, parent: &str) -> bool {
        let authz = self.authz;
        let name = f.name.node.as_str();
        if name.starts_with("__") {
            self.out.push(' ');
            self.field(f, "");
            return true;
        }
        let targets = authz.possible_types(parent);
        let allowed: Vec<&String> = targets
            .iter()
            .filter(|t| authz.allows(t, name, self.principal))
            .collect();
        if allowed.is_empty() {
            return false;
        }
        if allowed.len() == targets.len() {
            let ty = authz
                .field(parent, name)
                .map_or("", |i| i.type_name.as_str());
            self.out.push(' ');
            self.field(f, ty);
        } else {
            // an interface field some implementations guard more strictly:
            // asked for only on those the caller may read it from
            for t in allowed {
                let ty = authz.field(t, name).map_or("", |i| i.type_name.as_str());
                let _ = write!(self.out, " ... on {t} {{ ");
                self.field(f, ty);
                self.out.push_str(" }");
            }
        }
        true
    }

    /// `parent` is the named type the selection is made on.
    fn selection_set(&mut self, s: &SelectionSet, parent: &str) {
        if s.items.is_empty() {
            return;
        }
        self.out.push_str(" {");
        let mut printed = 0usize;
        // the gateway needs the concrete type of an interface or union value
        if self.authz.possible_types(parent) != [parent] {
            self.out.push_str(" __typename");
            printed += 1;
        }
        for item in &s.items {
            match &item.node {
                Selection::Field(f) => {
                    if self.field_on(&f.node, parent) {
                        printed += 1;
                    }
                }
                Selection::FragmentSpread(fs) => {
                    let name = fs.node.fragment_name.node.to_string();
                    let _ = write!(self.out, " ...{name}");
                    self.directives(&fs.node.directives);
                    self.used_fragments.insert(name);
                    printed += 1;
                }
                Selection::InlineFragment(inf) => {
                    self.out.push_str(" ...");
                    let on = match &inf.node.type_condition {
                        Some(tc) => {
                            let _ = write!(self.out, " on {}", tc.node.on.node);
                            tc.node.on.node.as_str()
                        }
                        None => parent,
                    };
                    self.directives(&inf.node.directives);
                    self.selection_set(&inf.node.selection_set.node, on);
                    printed += 1;
                }
            }
        }
        // every field was withheld: still a valid document
        if printed == 0 {
            self.out.push_str(" __typename");
        }
        self.out.push_str(" }");
    }

    /// Prints every fragment used (transitively), each once.
    fn fragment_definitions(&mut self) {
        let mut printed = BTreeSet::new();
        while let Some(name) = self
            .used_fragments
            .iter()
            .find(|n| !printed.contains(*n))
            .cloned()
        {
            printed.insert(name.clone());
            let Some(def) = self.fragments.get(name.as_str()) else {
                continue;
            };
            let on = &def.node.type_condition.node.on.node;
            let _ = write!(self.out, "\nfragment {name} on {on}");
            self.directives(&def.node.directives);
            self.selection_set(&def.node.selection_set.node, on);
        }
    }
}

/// Reprints the field being resolved as a document of its own, with only
/// what `principal` may read of its selection (`return_type` is the named
/// type the field returns).
pub(crate) fn forwarded(
    ctx: &async_graphql::Context<'_>,
    authz: &AuthzIndex,
    principal: &Principal,
    return_type: &str,
) -> Forwarded {
    let env = &ctx.query_env;
    let mut p = Printer {
        fragments: &env.fragments,
        authz,
        principal,
        vars: BTreeSet::new(),
        used_fragments: BTreeSet::new(),
        out: String::new(),
    };
    p.out.push('{');
    p.out.push(' ');
    p.field(&ctx.item.node, return_type);
    p.out.push_str(" }");
    let body = std::mem::take(&mut p.out);
    p.fragment_definitions();
    let fragments = std::mem::take(&mut p.out);
    let op = &env.operation.node;
    let mut defs = Vec::new();
    let mut variables = serde_json::Map::new();
    for d in &op.variable_definitions {
        let name = d.node.name.node.to_string();
        if !p.vars.contains(&name) {
            continue;
        }
        let mut def = format!("${name}: {}", d.node.var_type.node);
        if let Some(default) = &d.node.default_value {
            let _ = write!(def, " = {}", default.node);
        }
        defs.push(def);
        if let Some(v) = env.variables.get(name.as_str()) {
            if let Ok(j) = v.clone().into_json() {
                variables.insert(name, j);
            }
        }
    }
    let keyword = op.ty.to_string();
    let head = if defs.is_empty() {
        keyword
    } else {
        format!("{keyword}({})", defs.join(", "))
    };
    Forwarded {
        query: format!("{head} {body}{fragments}"),
        variables,
    }
}

impl GraphqlField {
    pub fn from_site(
        site: &FieldSite<'_>,
        upstreams: &HashMap<String, Arc<Upstream>>,
        is_root: bool,
    ) -> Result<Self, String> {
        if !is_root {
            return Err("@graphql is for fields of Query and Mutation".into());
        }
        let source = match site.directive.get_argument("source").map(|v| &v.node) {
            Some(Value::String(s)) => s.clone(),
            _ => return Err("`source` is required".into()),
        };
        if let Some(a) = site
            .directive
            .arguments
            .iter()
            .find(|(n, _)| n.node != "source")
        {
            return Err(format!(
                "unknown argument `{}`: @graphql takes `source`",
                a.0.node
            ));
        }
        let upstream = upstreams.get(&source).cloned().ok_or_else(|| {
            format!("unknown source `{source}`: configure [datasources.{source}]")
        })?;
        let ty = &site.field.ty.node;
        Ok(Self {
            upstream,
            return_type: base_name(ty).to_owned(),
            authz: site.authz.clone(),
            nullable: ty.nullable,
            abstract_type: site.types.get(base_name(ty)).is_some_and(|t| {
                matches!(
                    t.kind,
                    MergedKind::Interface { .. } | MergedKind::Union { .. }
                )
            }),
        })
    }

    pub fn into_resolver(self) -> Resolver {
        let this = Arc::new(self);
        Arc::new(move |ctx: ResolverContext<'_>| {
            let this = this.clone();
            FieldFuture::new(async move { this.resolve(&ctx).await })
        })
    }

    async fn resolve(
        &self,
        ctx: &ResolverContext<'_>,
    ) -> async_graphql::Result<Option<FieldValue<'static>>> {
        let c = ctx.ctx;
        let rc = c.data::<RequestContext>().map_err(|_| ApiError::Internal)?;
        let up = &self.upstream;
        let fwd = forwarded(c, &self.authz, &rc.principal, &self.return_type);
        let headers = up
            .call_headers(&rc.principal, &rc.meta.request_id, |_| Ok(()))
            .await
            .map_err(|e| e.to_api())?;
        let call = Call {
            method: Method::POST,
            url: up.settings.url.clone(),
            headers,
            body: Some(json!({"query": fwd.query, "variables": fwd.variables})),
            deadline: rc.meta.deadline,
        };
        let answer = up.send(&call).await.map_err(|e| e.to_api())?;
        if answer.status == 404 {
            return Err(DatasourceError::Status {
                source_name: up.name.clone(),
                status: 404,
                message: None,
            }
            .to_api()
            .into());
        }
        let key = c.item.node.name.node.as_str();
        let our_path = c.set_error_path(ServerError::new("", None)).path;
        let member = |v: &Value, name: &str| match v {
            Value::Object(m) => m.get(name).cloned(),
            _ => None,
        };
        let errors: Vec<Json> = match member(answer.value(), "errors") {
            Some(Value::List(items)) => items
                .into_iter()
                .filter_map(|e| e.into_json().ok())
                .collect(),
            _ => Vec::new(),
        };
        let data = match answer.value() {
            Value::Object(m) => m.get("data").and_then(|d| member(d, key)),
            _ => None,
        };
        if data.is_none() && errors.is_empty() {
            return Err(DatasourceError::InvalidAnswer {
                source_name: up.name.clone(),
                detail: format!("no `data.{key}` in the answer"),
            }
            .to_api()
            .into());
        }
        for e in &errors {
            c.add_error(upstream_error(
                e,
                &our_path,
                &up.name,
                up.settings.expose_upstream_errors,
            ));
        }
        match data.filter(|d| *d != Value::Null) {
            Some(d) => Ok(Some(to_field_value(d, self.abstract_type))),
            None if self.nullable || errors.is_empty() => Ok(None),
            // already reported with their paths
            None => Err(crate::error::propagated()),
        }
    }
}

/// The gateway's code for an upstream error's `extensions.code`. The
/// upstream speaks for itself, not for the caller: its `UNAUTHENTICATED`
/// refuses the identity the gateway sent (so `FORBIDDEN`, never a 401 for
/// the caller's token), its rate limits are not the caller's (no 429).
fn mapped_code(upstream: Option<&str>) -> (Code, Option<&'static str>) {
    match upstream.and_then(Code::parse) {
        Some(Code::BadUserInput) => (Code::BadUserInput, None),
        Some(Code::Forbidden | Code::Unauthenticated) => (Code::Forbidden, None),
        _ => (Code::UpstreamUnavailable, Some("UPSTREAM_ERROR")),
    }
}

/// An upstream error as the client sees it: its path moved under this
/// field's path, its code mapped by [`mapped_code`], every other extension
/// dropped (they may carry stack traces or internals), and its message kept
/// only when the datasource exposes upstream messages.
fn upstream_error(e: &Json, our_path: &[PathSegment], source: &str, expose: bool) -> ServerError {
    let upstream_code = e
        .get("extensions")
        .and_then(|x| x.get("code"))
        .and_then(Json::as_str);
    let upstream_message = e.get("message").and_then(Json::as_str);
    // not the message: an upstream may echo the token it was sent
    tracing::debug!(source, upstream_code, "the upstream reported an error");
    let (code, reason) = mapped_code(upstream_code);
    let message = match upstream_message.filter(|m| expose && m.len() <= 500) {
        Some(m) => m.to_owned(),
        None => match code {
            Code::BadUserInput => format!("the {source} service refused the input"),
            Code::Forbidden => format!("the {source} service refused access"),
            _ => format!("the {source} service reported an error"),
        },
    };
    let mut err = ServerError::new(message, None);
    let mut path: Vec<PathSegment> = our_path.to_vec();
    if let Some(p) = e.get("path").and_then(Json::as_array) {
        for seg in p.iter().skip(1) {
            match seg {
                Json::String(s) => path.push(PathSegment::Field(s.clone())),
                Json::Number(n) => {
                    if let Some(i) = n.as_u64().and_then(|i| usize::try_from(i).ok()) {
                        path.push(PathSegment::Index(i));
                    }
                }
                _ => {}
            }
        }
    }
    err.path = path;
    crate::error::set_code(&mut err, code);
    if let (Some(r), Some(ext)) = (reason, err.extensions.as_mut()) {
        ext.set("reason", r);
    }
    err
}
