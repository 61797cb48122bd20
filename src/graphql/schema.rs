//! The executable schema, assembled at start-up from SDL files.
//!
//! Every `.graphql` file is parsed; types and `extend type`s are merged; each
//! field is bound to a Rust resolver by `Type.field` name, to a datasource
//! directive, or (on non-root types) to the default resolver that reads the
//! parent object. Authorization directives wrap the resolver. Anything that
//! cannot be resolved stops start-up with `file:line` and the field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_graphql::dynamic::{
    self, Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Interface, InterfaceField,
    Object, ResolverContext, Scalar, TypeRef, Union,
};
use async_graphql::Value;
use async_graphql_parser::types::{
    BaseType, ConstDirective, EnumValueDefinition, FieldDefinition, InputValueDefinition,
    SchemaDefinition, ServiceDocument, Type, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql_parser::{Pos, Positioned};

use super::authz::{self, AuthzIndex, IndexedField, Requirement};
use super::RequestContext;
use crate::error::ApiError;
use crate::graphql::GraphqlSettings;
use crate::metrics::DocumentCacheCounters;

/// A resolver bound to `Type.field` by name.
pub type Resolver = Arc<dyn for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync>;

/// Builds a resolver for a field carrying a datasource directive (`@rest`,
/// `@graphql`). Given the directive, the field and where it was declared.
pub trait DirectiveResolverFactory: Send + Sync {
    /// The directive names this provider answers for (asked once per schema
    /// build: the schema knows no provider's directives of its own).
    fn directive_names(&self) -> &[&'static str];
    /// A resolver for the field, or a message explaining what is wrong.
    fn build(&self, site: &FieldSite<'_>) -> Result<Resolver, String>;
    /// Puts the per-request state the factory's resolvers rely on into a
    /// request's data (nothing by default). A plain hook, not a schema
    /// extension: async-graphql runs every extension around every field.
    fn request_data(&self, request: async_graphql::Request) -> async_graphql::Request {
        request
    }
}

/// What a directive factory sees of one field.
pub struct FieldSite<'a> {
    pub type_name: &'a str,
    pub field: &'a FieldDefinition,
    pub directive: &'a ConstDirective,
    /// every type definition, by name (to look at the field's return type)
    pub types: &'a BTreeMap<String, MergedType>,
    pub location: &'a str,
    /// the field belongs to the query or mutation root type
    pub is_root: bool,
    /// what every field of the schema requires (for a resolver that forwards
    /// a selection and must decide it before its upstream call)
    pub authz: &'a Arc<AuthzIndex>,
}

/// Resolvers bound by name, and directive factories.
#[derive(Clone, Default)]
pub struct Bindings {
    resolvers: HashMap<String, Resolver>,
    factories: Vec<Arc<dyn DirectiveResolverFactory>>,
    /// Where the schema's document cache counts its hits and misses.
    document_cache_counters: Option<DocumentCacheCounters>,
}

impl Bindings {
    /// Binds `type_field` (`"Mutation.login"`) to `f`.
    pub fn bind<F>(&mut self, type_field: &str, f: F) -> &mut Self
    where
        F: for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static,
    {
        self.resolvers.insert(type_field.to_owned(), Arc::new(f));
        self
    }

    pub fn factory(&mut self, f: Arc<dyn DirectiveResolverFactory>) -> &mut Self {
        self.factories.push(f);
        self
    }

    /// Counts the document cache's hits and misses (the metrics handle's
    /// counters; kept across reloads with the layer that carries them).
    pub fn count_document_cache(&mut self, counters: DocumentCacheCounters) -> &mut Self {
        self.document_cache_counters = Some(counters);
        self
    }

    /// Moves `other`'s resolvers and factories in; `other` wins on a clash.
    pub fn merge(&mut self, other: &mut Bindings) {
        self.resolvers.extend(other.resolvers.drain());
        self.factories.append(&mut other.factories);
        if other.document_cache_counters.is_some() {
            self.document_cache_counters = other.document_cache_counters.take();
        }
    }
}

/// One SDL text and where it came from.
#[derive(Clone, Debug)]
pub struct SdlSource {
    pub name: String,
    pub text: String,
}

/// The schema could not be built; each line names `file:line` and the problem.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct SchemaError(pub Vec<String>);

/// Directives authgate implements. Anything else in SDL is an error.
const AUTHZ_DIRECTIVES: &[&str] = authz::DIRECTIVES;
const STANDARD_DIRECTIVES: &[&str] = &["deprecated", "specifiedBy", "oneOf"];
const MAP_DIRECTIVE: &str = "map";

/// Reads the `.graphql` files of each folder (sorted) and each file listed.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<SdlSource>, SchemaError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
                Ok(rd) => rd
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "graphql"))
                    .collect(),
                Err(e) => {
                    errors.push(format!("{}: cannot read folder: {e}", path.display()));
                    continue;
                }
            };
            files.sort();
            for f in files {
                read_one(&f, &mut out, &mut errors);
            }
        } else {
            read_one(path, &mut out, &mut errors);
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(format!(
            "no .graphql files found in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(SchemaError(errors))
    }
}

fn read_one(path: &Path, out: &mut Vec<SdlSource>, errors: &mut Vec<String>) {
    match std::fs::read_to_string(path) {
        Ok(text) => out.push(SdlSource {
            name: path.display().to_string(),
            text,
        }),
        Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
    }
}

/// A type definition merged across files (`extend type` included).
#[derive(Clone, Debug)]
pub struct MergedType {
    pub name: String,
    pub kind: MergedKind,
    pub description: Option<String>,
    pub directives: Vec<Positioned<ConstDirective>>,
    /// `file:line` of the first definition
    pub location: String,
}

#[derive(Clone, Debug)]
pub enum MergedKind {
    Scalar,
    Object {
        implements: Vec<String>,
        fields: Vec<(Positioned<FieldDefinition>, String)>,
    },
    Interface {
        fields: Vec<(Positioned<FieldDefinition>, String)>,
    },
    Union {
        members: Vec<String>,
    },
    Enum {
        values: Vec<(String, Option<String>, Option<String>)>,
    },
    InputObject {
        fields: Vec<Positioned<InputValueDefinition>>,
    },
}

/// Parsed and merged SDL.
pub struct Document {
    pub types: BTreeMap<String, MergedType>,
    pub query: String,
    pub mutation: Option<String>,
    declared_directives: HashSet<String>,
}

fn loc(source: &str, pos: Pos) -> String {
    format!("{source}:{}", pos.line)
}

/// Parses and merges SDL sources; `bindings` says which directives the
/// registered providers answer for.
pub fn parse_sources(sources: &[SdlSource], bindings: &Bindings) -> Result<Document, SchemaError> {
    let mut merger = Merger {
        directives: DirectiveRegistry::new(bindings),
        errors: Vec::new(),
        types: BTreeMap::new(),
        query: None,
        mutation: None,
        declared_directives: HashSet::new(),
    };
    for src in sources {
        merger.add_source(src);
    }
    merger.finish()
}

/// The state of [`parse_sources`]: what is merged so far, and every problem.
struct Merger<'a> {
    directives: DirectiveRegistry<'a>,
    errors: Vec<String>,
    types: BTreeMap<String, MergedType>,
    query: Option<String>,
    mutation: Option<String>,
    declared_directives: HashSet<String>,
}

impl Merger<'_> {
    fn add_source(&mut self, src: &SdlSource) {
        let doc: ServiceDocument = match async_graphql_parser::parse_schema(&src.text) {
            Ok(d) => d,
            Err(e) => {
                let line = e.positions().next().map_or(1, |p| p.line);
                self.errors.push(format!(
                    "{}:{line}: {}",
                    src.name,
                    first_line(&e.to_string())
                ));
                return;
            }
        };
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => self.add_schema(&s, &src.name),
                TypeSystemDefinition::Directive(d) => {
                    let name = d.node.name.node.to_string();
                    if !self.directives.is_known(&name) {
                        self.errors.push(format!(
                            "{}: unknown directive @{name}: authgate implements @{}",
                            loc(&src.name, d.pos),
                            self.directives.list()
                        ));
                    }
                    self.declared_directives.insert(name);
                }
                TypeSystemDefinition::Type(t) => self.add_type(t, &src.name),
            }
        }
    }

    /// `schema { query: … mutation: … }`
    fn add_schema(&mut self, s: &Positioned<SchemaDefinition>, src: &str) {
        if let Some(q) = &s.node.query {
            self.query = Some(q.node.to_string());
        }
        if let Some(m) = &s.node.mutation {
            self.mutation = Some(m.node.to_string());
        }
        if s.node.subscription.is_some() {
            self.errors.push(format!(
                "{}: subscriptions are not supported",
                loc(src, s.pos)
            ));
        }
    }

    /// A type definition or `extend type`, merged into what is there.
    fn add_type(&mut self, t: Positioned<TypeDefinition>, src: &str) {
        let location = loc(src, t.pos);
        self.errors.extend(misplaced_authz(&t.node, src));
        let def = t.node;
        let name = def.name.node.to_string();
        let kind = merged_kind(def.kind, src);
        match self.types.get_mut(&name) {
            Some(existing) if def.extend => {
                existing.directives.extend(def.directives);
                merge_kind(&mut existing.kind, kind, &name, &location, &mut self.errors);
            }
            Some(existing) => self.errors.push(format!(
                "{location}: type {name} is already defined at {}",
                existing.location
            )),
            None => {
                self.types.insert(
                    name.clone(),
                    MergedType {
                        name,
                        kind,
                        description: def.description.map(|d| d.node),
                        directives: def.directives,
                        location,
                    },
                );
            }
        }
    }

    fn finish(mut self) -> Result<Document, SchemaError> {
        let query = self.query.unwrap_or_else(|| "Query".to_owned());
        let mutation = self.mutation.or_else(|| {
            self.types
                .contains_key("Mutation")
                .then(|| "Mutation".into())
        });
        if !self.types.contains_key(&query) {
            self.errors
                .push(format!("the schema has no `{query}` type"));
        }
        if self.errors.is_empty() {
            Ok(Document {
                types: self.types,
                query,
                mutation,
                declared_directives: self.declared_directives,
            })
        } else {
            Err(SchemaError(self.errors))
        }
    }
}

/// One definition's kind, its fields tagged with the file they come from.
fn merged_kind(kind: TypeKind, src: &str) -> MergedKind {
    let fields_with_src = |fields: Vec<Positioned<FieldDefinition>>| {
        fields
            .into_iter()
            .map(|f| (f, src.to_owned()))
            .collect::<Vec<_>>()
    };
    match kind {
        TypeKind::Scalar => MergedKind::Scalar,
        TypeKind::Object(o) => MergedKind::Object {
            implements: o.implements.iter().map(|n| n.node.to_string()).collect(),
            fields: fields_with_src(o.fields),
        },
        TypeKind::Interface(i) => MergedKind::Interface {
            fields: fields_with_src(i.fields),
        },
        TypeKind::Union(u) => MergedKind::Union {
            members: u.members.iter().map(|n| n.node.to_string()).collect(),
        },
        TypeKind::Enum(e) => MergedKind::Enum {
            values: e.values.iter().map(|v| enum_value(&v.node)).collect(),
        },
        TypeKind::InputObject(i) => MergedKind::InputObject { fields: i.fields },
    }
}

/// `(value, description, deprecation reason)`
fn enum_value(v: &EnumValueDefinition) -> (String, Option<String>, Option<String>) {
    let deprecated = v
        .directives
        .iter()
        .find(|d| d.node.name.node == "deprecated")
        .map(|d| deprecation_reason(&d.node));
    (
        v.value.node.to_string(),
        v.description.as_ref().map(|d| d.node.clone()),
        deprecated,
    )
}

/// Authorization directives where nothing would enforce them: on an
/// argument, an input type or input field, or an enum value. Ignoring them
/// silently would leave open what the schema's author meant to close.
fn misplaced_authz(def: &TypeDefinition, src: &str) -> Vec<String> {
    let name = def.name.node.as_str();
    let mut out = Vec::new();
    let mut check = |directives: &[Positioned<ConstDirective>], place: String, hint: &str| {
        for d in directives {
            let dn = d.node.name.node.as_str();
            if AUTHZ_DIRECTIVES.contains(&dn) {
                out.push(format!(
                    "{}: @{dn} on {place} is not enforced there: {hint}",
                    loc(src, d.pos)
                ));
            }
        }
    };
    let fields = match &def.kind {
        TypeKind::Object(o) => o.fields.as_slice(),
        TypeKind::Interface(i) => i.fields.as_slice(),
        TypeKind::InputObject(i) => {
            let hint = "put it on the fields that take this input";
            check(&def.directives, format!("input type {name}"), hint);
            for f in &i.fields {
                let place = format!("input field {name}.{}", f.node.name.node);
                check(&f.node.directives, place, hint);
            }
            &[]
        }
        TypeKind::Enum(e) => {
            for v in &e.values {
                let place = format!("enum value {name}.{}", v.node.value.node);
                check(
                    &v.node.directives,
                    place,
                    "put it on the fields that take or return this enum",
                );
            }
            &[]
        }
        TypeKind::Scalar | TypeKind::Union(_) => &[],
    };
    for f in fields {
        for a in &f.node.arguments {
            let field = format!("{name}.{}", f.node.name.node);
            check(
                &a.node.directives,
                format!("argument {field}({})", a.node.name.node),
                &format!("put it on the field {field}"),
            );
        }
    }
    out
}

/// What every field requires, decided once: the field guards and the
/// datasources that forward a selection apply the same rules. A field
/// requires what its own directives, its type's, its return type's and the
/// interface fields it implements say, all of them.
fn authz_index(doc: &Document, errors: &mut Vec<String>) -> AuthzIndex {
    let mut type_reqs: HashMap<&str, Requirement> = HashMap::new();
    for ty in doc.types.values() {
        match authz::requirement(&ty.directives) {
            Ok(Some(r)) => {
                type_reqs.insert(&ty.name, r);
            }
            Ok(None) => {}
            Err(e) => errors.push(format!("{}: type {}: {e}", ty.location, ty.name)),
        }
    }
    let own = |ty: &MergedType,
               f: &Positioned<FieldDefinition>,
               src: &str,
               errors: &mut Vec<String>|
     -> Vec<Requirement> {
        let mut reqs = Vec::new();
        match authz::requirement(&f.node.directives) {
            Ok(Some(r)) => reqs.push(r),
            Ok(None) => {}
            Err(e) => errors.push(format!(
                "{}: field {}.{}: {e}",
                loc(src, f.pos),
                ty.name,
                f.node.name.node
            )),
        }
        let rt = base_name(&f.node.ty.node);
        if rt != ty.name {
            reqs.extend(type_reqs.get(rt).cloned());
        }
        reqs
    };
    let mut index = AuthzIndex::default();
    // an interface field's own directives apply to every implementation of
    // it; the interface's type-level ones guard the fields returning it
    let mut interface_reqs: HashMap<(&str, &str), Requirement> = HashMap::new();
    for ty in doc.types.values() {
        if let MergedKind::Interface { fields } = &ty.kind {
            for (f, src) in fields {
                let reqs = own(ty, f, src, errors);
                if let Ok(Some(r)) = authz::requirement(&f.node.directives) {
                    interface_reqs.insert((&ty.name, &f.node.name.node), r);
                }
                index.insert_field(
                    &ty.name,
                    &f.node.name.node,
                    IndexedField {
                        requirements: Arc::new(reqs),
                        type_name: base_name(&f.node.ty.node).to_owned(),
                    },
                );
            }
            let implementations = doc
                .types
                .values()
                .filter(|o| {
                    matches!(&o.kind, MergedKind::Object { implements, .. } if implements.contains(&ty.name))
                })
                .map(|o| o.name.clone())
                .collect();
            index.insert_possible(&ty.name, implementations);
        }
    }
    for ty in doc.types.values() {
        match &ty.kind {
            MergedKind::Object { implements, fields } => {
                for (f, src) in fields {
                    let name = f.node.name.node.as_str();
                    let mut reqs: Vec<Requirement> = type_reqs
                        .get(ty.name.as_str())
                        .cloned()
                        .into_iter()
                        .collect();
                    reqs.extend(own(ty, f, src, errors));
                    for i in implements {
                        reqs.extend(interface_reqs.get(&(i.as_str(), name)).cloned());
                    }
                    index.insert_field(
                        &ty.name,
                        name,
                        IndexedField {
                            requirements: Arc::new(reqs),
                            type_name: base_name(&f.node.ty.node).to_owned(),
                        },
                    );
                }
                index.insert_possible(&ty.name, vec![ty.name.clone()]);
            }
            MergedKind::Union { members } => index.insert_possible(&ty.name, members.clone()),
            _ => {}
        }
    }
    index
}

fn merge_kind(
    existing: &mut MergedKind,
    new: MergedKind,
    name: &str,
    location: &str,
    errors: &mut Vec<String>,
) {
    match (existing, new) {
        (
            MergedKind::Object { implements, fields },
            MergedKind::Object {
                implements: more_i,
                fields: more_f,
            },
        ) => {
            implements.extend(more_i);
            for (f, src) in more_f {
                if fields
                    .iter()
                    .any(|(e, _)| e.node.name.node == f.node.name.node)
                {
                    errors.push(format!(
                        "{}: field {name}.{} is defined twice",
                        loc(&src, f.pos),
                        f.node.name.node
                    ));
                } else {
                    fields.push((f, src));
                }
            }
        }
        (MergedKind::Interface { fields }, MergedKind::Interface { fields: more }) => {
            fields.extend(more)
        }
        (MergedKind::Enum { values }, MergedKind::Enum { values: more }) => values.extend(more),
        (MergedKind::Union { members }, MergedKind::Union { members: more }) => {
            members.extend(more)
        }
        (MergedKind::InputObject { fields }, MergedKind::InputObject { fields: more }) => {
            fields.extend(more)
        }
        _ => errors.push(format!(
            "{location}: `extend` of {name} does not match the kind of its definition"
        )),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("-->") && !l.starts_with('|'))
        .unwrap_or(s)
        .trim_start_matches("= ")
        .to_owned()
}

fn deprecation_reason(d: &ConstDirective) -> String {
    d.get_argument("reason")
        .and_then(|v| match &v.node {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "No longer supported".to_owned())
}

/// The directives a schema may use: authgate's own, and those of each
/// registered provider, which it names itself (`directive_names`), so that
/// this module never names a provider's directives.
struct DirectiveRegistry<'a> {
    /// provider directive names, in registration order, with their provider
    providers: Vec<(&'static str, &'a Arc<dyn DirectiveResolverFactory>)>,
}

impl<'a> DirectiveRegistry<'a> {
    fn new(bindings: &'a Bindings) -> Self {
        let mut providers: Vec<(&'static str, &'a Arc<dyn DirectiveResolverFactory>)> = Vec::new();
        for f in &bindings.factories {
            for name in f.directive_names() {
                // a later registration wins, as a later binding does
                providers.retain(|(n, _)| n != name);
                providers.push((name, f));
            }
        }
        Self { providers }
    }

    /// authgate's own directives, which no provider answers for
    fn is_builtin(name: &str) -> bool {
        AUTHZ_DIRECTIVES.contains(&name)
            || STANDARD_DIRECTIVES.contains(&name)
            || name == MAP_DIRECTIVE
    }

    fn is_known(&self, name: &str) -> bool {
        Self::is_builtin(name) || self.provider(name).is_some()
    }

    fn provider(&self, name: &str) -> Option<&'a Arc<dyn DirectiveResolverFactory>> {
        self.providers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// Every known name, for messages: `a, @b, @c`.
    fn list(&self) -> String {
        let mut v: Vec<&str> = AUTHZ_DIRECTIVES.to_vec();
        v.extend_from_slice(STANDARD_DIRECTIVES);
        v.push(MAP_DIRECTIVE);
        v.extend(self.providers.iter().map(|(n, _)| *n));
        v.join(", @")
    }
}

fn type_ref(ty: &Type) -> TypeRef {
    let inner = match &ty.base {
        BaseType::Named(n) => TypeRef::named(n.to_string()),
        BaseType::List(t) => TypeRef::List(Box::new(type_ref(t))),
    };
    if ty.nullable {
        inner
    } else {
        TypeRef::NonNull(Box::new(inner))
    }
}

/// The name at the bottom of `[[T!]]!`.
pub fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(t) => base_name(t),
    }
}

fn input_value(def: &InputValueDefinition) -> InputValue {
    let mut iv = InputValue::new(def.name.node.to_string(), type_ref(&def.ty.node));
    if let Some(d) = &def.default_value {
        iv = iv.default_value(d.node.clone());
    }
    if let Some(d) = &def.description {
        iv = iv.description(d.node.clone());
    }
    iv
}

/// The schema, ready to execute, and its composed SDL.
pub struct BuiltSchema {
    pub schema: dynamic::Schema,
    pub sdl: String,
    /// the directive factories, whose per-request state each request gets
    factories: Vec<Arc<dyn DirectiveResolverFactory>>,
}

impl BuiltSchema {
    /// Executes one request with the per-request state of every factory.
    pub async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let request = self
            .factories
            .iter()
            .fold(request, |r, f| f.request_data(r));
        self.schema.execute(request).await
    }
}

/// Builds the executable schema.
pub fn build(
    settings: &GraphqlSettings,
    sources: &[SdlSource],
    bindings: &Bindings,
) -> Result<BuiltSchema, SchemaError> {
    let doc = parse_sources(sources, bindings)?;
    let directives = DirectiveRegistry::new(bindings);
    let mut errors = Vec::new();
    for d in &doc.declared_directives {
        if !directives.is_known(d) {
            errors.push(format!("unknown directive @{d}"));
        }
    }
    let index = Arc::new(authz_index(&doc, &mut errors));
    let cx = BuildContext {
        doc: &doc,
        root_types: std::iter::once(doc.query.as_str())
            .chain(doc.mutation.as_deref())
            .collect(),
        index: &index,
        bindings,
        directives: &directives,
    };
    let mut builder = dynamic::Schema::build(&doc.query, doc.mutation.as_deref(), None);
    for ty in doc.types.values() {
        builder = register_type(builder, ty, &cx, &mut errors);
    }
    if !errors.is_empty() {
        return Err(SchemaError(errors));
    }
    let schema = configure(builder, settings, bindings)
        .finish()
        .map_err(|e| SchemaError(vec![format!("the schema is invalid: {e}")]))?;
    let sdl = schema.sdl();
    Ok(BuiltSchema {
        schema,
        sdl,
        factories: bindings.factories.clone(),
    })
}

/// What building a type or field reads besides the type itself.
struct BuildContext<'a> {
    doc: &'a Document,
    /// the query and mutation types
    root_types: HashSet<&'a str>,
    index: &'a Arc<AuthzIndex>,
    bindings: &'a Bindings,
    directives: &'a DirectiveRegistry<'a>,
}

/// Registers one merged type; problems go to `errors`.
fn register_type(
    builder: dynamic::SchemaBuilder,
    ty: &MergedType,
    cx: &BuildContext<'_>,
    errors: &mut Vec<String>,
) -> dynamic::SchemaBuilder {
    for d in &ty.directives {
        let dn = d.node.name.node.as_str();
        if !cx.directives.is_known(dn) {
            errors.push(format!(
                "{}: unknown directive @{dn} on type {}",
                ty.location, ty.name
            ));
        }
    }
    match &ty.kind {
        MergedKind::Scalar => builder.register(describe(scalar_type(&ty.name), &ty.description)),
        MergedKind::Enum { values } => {
            builder.register(describe(enum_type(&ty.name, values), &ty.description))
        }
        MergedKind::InputObject { fields } => {
            builder.register(describe(input_object_type(ty, fields), &ty.description))
        }
        MergedKind::Union { members } => {
            let mut u = Union::new(ty.name.clone());
            for m in members {
                u = u.possible_type(m.clone());
            }
            builder.register(describe(u, &ty.description))
        }
        MergedKind::Interface { fields } => {
            builder.register(describe(interface_type(&ty.name, fields), &ty.description))
        }
        MergedKind::Object { implements, fields } => {
            let mut obj = Object::new(ty.name.clone());
            for i in implements {
                obj = obj.implement(i.clone());
            }
            for (f, src) in fields {
                match build_field(cx, ty, f, src) {
                    Ok(field) => obj = obj.field(field),
                    Err(e) => errors.push(e),
                }
            }
            builder.register(describe(obj, &ty.description))
        }
    }
}

fn scalar_type(name: &str) -> Scalar {
    let scalar = Scalar::new(name.to_owned());
    match name {
        "DateTime" => scalar
            .validator(|v| matches!(v, Value::String(_)))
            .specified_by_url("https://scalars.graphql.org/andimarek/date-time"),
        _ => scalar,
    }
}

fn enum_type(name: &str, values: &[(String, Option<String>, Option<String>)]) -> Enum {
    let mut e = Enum::new(name.to_owned());
    for (v, desc, deprecated) in values {
        let mut item = dynamic::EnumItem::new(v.clone());
        if let Some(d) = desc {
            item = item.description(d.clone());
        }
        if let Some(r) = deprecated {
            item = item.deprecation(Some(r));
        }
        e = e.item(item);
    }
    e
}

fn input_object_type(ty: &MergedType, fields: &[Positioned<InputValueDefinition>]) -> InputObject {
    let mut io = InputObject::new(ty.name.clone());
    for f in fields {
        io = io.field(input_value(&f.node));
    }
    if ty.directives.iter().any(|d| d.node.name.node == "oneOf") {
        io = io.oneof();
    }
    io
}

fn interface_type(name: &str, fields: &[(Positioned<FieldDefinition>, String)]) -> Interface {
    let mut i = Interface::new(name.to_owned());
    for (f, _) in fields {
        let mut field =
            InterfaceField::new(f.node.name.node.to_string(), type_ref(&f.node.ty.node));
        for a in &f.node.arguments {
            field = field.argument(input_value(&a.node));
        }
        i = i.field(field);
    }
    i
}

/// Limits and introspection, from the settings.
fn configure(
    builder: dynamic::SchemaBuilder,
    settings: &GraphqlSettings,
    bindings: &Bindings,
) -> dynamic::SchemaBuilder {
    let l = &settings.limits;
    let mut builder = builder
        .limit_depth(l.max_depth)
        .limit_complexity(l.max_complexity)
        .limit_recursive_depth(l.max_depth.saturating_mul(4).max(32))
        .limit_directives(l.max_aliases.max(10))
        .extension(super::limits::Limits::counted(
            l.clone(),
            settings.document_cache_size,
            bindings.document_cache_counters.clone(),
        ));
    if !settings.introspection {
        // "Did you mean …" would spell out the schema introspection hides
        builder = builder.disable_introspection().disable_suggestions();
    }
    if !settings.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}

trait Describe: Sized {
    fn describe_with(self, d: String) -> Self;
}
macro_rules! describe_impl {
    ($($t:ty),*) => {$(impl Describe for $t { fn describe_with(self, d: String) -> Self { self.description(d) } })*};
}
describe_impl!(Scalar, Enum, InputObject, Union, Interface, Object);

fn describe<T: Describe>(t: T, d: &Option<String>) -> T {
    match d {
        Some(d) => t.describe_with(d.clone()),
        None => t,
    }
}

/// One field of an object type: its resolver (bound by name, built by a
/// provider's directive, or the default one), wrapped by its authorization
/// requirements and by the error recorder.
fn build_field(
    cx: &BuildContext<'_>,
    parent: &MergedType,
    f: &Positioned<FieldDefinition>,
    src: &str,
) -> Result<Field, String> {
    let location = loc(src, f.pos);
    let name = f.node.name.node.to_string();
    let key = format!("{}.{name}", parent.name);
    let here = |msg: String| format!("{location}: field {key}: {msg}");

    // a directive that could not be read was reported by `authz_index`
    let reqs = cx
        .index
        .field(&parent.name, &name)
        .map(|f| f.requirements.clone())
        .unwrap_or_default();
    let return_type = base_name(&f.node.ty.node);
    if !cx.doc.types.contains_key(return_type)
        && !matches!(return_type, "String" | "Int" | "Float" | "Boolean" | "ID")
    {
        return Err(here(format!("unknown type {return_type}")));
    }
    let is_root = cx.root_types.contains(parent.name.as_str());
    let site = |directive| FieldSite {
        type_name: &parent.name,
        field: &f.node,
        directive,
        types: &cx.doc.types,
        location: &location,
        is_root,
        authz: cx.index,
    };
    let FieldDirectives { rename, provided } =
        field_directives(cx.directives, &f.node, site).map_err(here)?;
    let resolver =
        match (provided, cx.bindings.resolvers.get(&key)) {
            (Some(_), Some(_)) => {
                return Err(here(
                    "is bound to a built-in resolver and also has a datasource directive".into(),
                ))
            }
            (Some(r), None) => r,
            (None, Some(bound)) => bound.clone(),
            (None, None) if is_root => return Err(here(
                "nothing resolves it: add a datasource directive (@rest, @graphql) or remove it"
                    .into(),
            )),
            (None, None) => default_resolver(
                rename.unwrap_or_else(|| name.clone()),
                cx.doc.types.get(return_type).is_some_and(|t| {
                    matches!(
                        t.kind,
                        MergedKind::Interface { .. } | MergedKind::Union { .. }
                    )
                }),
            ),
        };
    let resolver = if reqs.is_empty() {
        resolver
    } else {
        guarded(reqs, resolver)
    };
    let resolver = catching(resolver, f.node.ty.node.nullable);
    Ok(field_definition(name, &f.node, resolver))
}

/// What a field's directives say about its resolver.
struct FieldDirectives {
    /// `@map(from:)`: the parent's key the default resolver reads
    rename: Option<String>,
    /// the resolver a provider built for its directive
    provided: Option<Resolver>,
}

/// Reads a field's directives: authgate's own are skipped (authorization is
/// indexed already), `@map` renames, a provider's builds the resolver.
fn field_directives<'f>(
    directives: &DirectiveRegistry<'_>,
    field: &'f FieldDefinition,
    site: impl Fn(&'f ConstDirective) -> FieldSite<'f>,
) -> Result<FieldDirectives, String> {
    let mut out = FieldDirectives {
        rename: None,
        provided: None,
    };
    for d in &field.directives {
        let dn = d.node.name.node.as_str();
        if dn == MAP_DIRECTIVE {
            match d.node.get_argument("from").map(|v| &v.node) {
                Some(Value::String(s)) => out.rename = Some(s.clone()),
                _ => return Err("@map needs `from: \"json_key\"`".into()),
            }
        } else if DirectiveRegistry::is_builtin(dn) {
            continue;
        } else if let Some(provider) = directives.provider(dn) {
            if out.provided.is_some() {
                return Err("has more than one datasource directive".into());
            }
            out.provided = Some(
                provider
                    .build(&site(&d.node))
                    .map_err(|e| format!("@{dn}: {e}"))?,
            );
        } else {
            return Err(format!(
                "unknown directive @{dn}: authgate implements @{}",
                directives.list()
            ));
        }
    }
    Ok(out)
}

/// The field as the schema declares it: type, arguments, description and
/// deprecation, resolved by `resolver`.
fn field_definition(name: String, def: &FieldDefinition, resolver: Resolver) -> Field {
    let mut field = Field::new(name, type_ref(&def.ty.node), move |ctx| resolver(ctx));
    for a in &def.arguments {
        field = field.argument(input_value(&a.node));
    }
    if let Some(d) = &def.description {
        field = field.description(d.node.clone());
    }
    if let Some(d) = def
        .directives
        .iter()
        .find(|d| d.node.name.node == "deprecated")
    {
        field = field.deprecation(Some(&deprecation_reason(&d.node)));
    }
    field
}

/// Checks every requirement before the inner resolver runs.
fn guarded(reqs: Arc<Vec<Requirement>>, inner: Resolver) -> Resolver {
    Arc::new(move |ctx: ResolverContext<'_>| {
        let verdict = match ctx.data::<RequestContext>() {
            Ok(rc) => reqs.iter().try_for_each(|r| r.check(&rc.principal)),
            Err(_) => Err(ApiError::Internal),
        };
        match verdict {
            Ok(()) => inner(ctx),
            Err(e) => FieldFuture::new(async move { Err::<Option<FieldValue>, _>(e.into()) }),
        }
    })
}

/// async-graphql 7's dynamic executor drops a failed field from `data` and
/// records its error without a `path`. This records the error with its path
/// and answers `null` for a nullable field (GraphQL's rules); for a non-null
/// field the error propagates ([`crate::error::propagated`], so it is not
/// reported twice).
fn catching(inner: Resolver, nullable: bool) -> Resolver {
    Arc::new(move |rctx: ResolverContext<'_>| {
        let c = rctx.ctx;
        match inner(rctx) {
            FieldFuture::Value(v) => FieldFuture::Value(v),
            FieldFuture::Future(fut) => FieldFuture::Future(Box::pin(async move {
                match fut.await {
                    Ok(v) => Ok(v),
                    Err(e) => {
                        c.add_error(c.set_error_path(e.into_server_error(c.item.pos)));
                        if nullable {
                            Ok(None)
                        } else {
                            Err(crate::error::propagated())
                        }
                    }
                }
            })),
        }
    })
}

/// Reads `key` from the parent object (a JSON-like value).
fn default_resolver(key: String, abstract_type: bool) -> Resolver {
    Arc::new(move |ctx: ResolverContext<'_>| {
        let value = match ctx.parent_value.as_value() {
            Some(Value::Object(map)) => map.get(key.as_str()).cloned(),
            _ => None,
        };
        // a JSON null is an absent value: async-graphql would otherwise
        // resolve an object type's fields on it
        FieldFuture::Value(
            value
                .filter(|v| *v != Value::Null)
                .map(|v| to_field_value(v, abstract_type)),
        )
    })
}

/// A JSON-like value as a field value; objects of an interface or union type
/// carry their concrete type in `__typename`.
pub fn to_field_value(v: Value, abstract_type: bool) -> FieldValue<'static> {
    match v {
        Value::List(items) if abstract_type => {
            FieldValue::list(items.into_iter().map(|i| to_field_value(i, true)))
        }
        Value::Object(ref map) if abstract_type => {
            let ty = match map.get("__typename") {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            match ty {
                Some(t) => FieldValue::value(v).with_type(t),
                None => FieldValue::value(v),
            }
        }
        other => FieldValue::value(other),
    }
}
