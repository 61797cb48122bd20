//! Query limits checked before any resolver runs, and the codes of document
//! errors. Depth and complexity are async-graphql's own validation rules; this
//! extension adds size, tokens, nesting, fragment expansion, aliases and root
//! fields, and tags parse and validation errors with `GRAPHQL_PARSE_FAILED` /
//! `GRAPHQL_VALIDATION_FAILED`. The document itself is never logged (it may
//! hold a password).
//!
//! Order matters: size and tokens, then the linear [`scan`] (nesting and
//! expanded size), all before async-graphql's parse step, whose parser and
//! walks are recursive and expand every fragment spread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult, Variables};

use super::cache::{DocumentCache, ValidationKey};
use super::scan::{self, Scan, ScanError, ScanLimits};

use crate::error::{request_error, Code};
use crate::graphql::LimitSettings;
use crate::metrics::DocumentCacheCounters;

pub struct Limits {
    limits: Arc<LimitSettings>,
    /// Per schema: this factory lives and dies with the schema it is
    /// registered on.
    cache: Option<Arc<DocumentCache>>,
}

impl Limits {
    /// `document_cache_size`: see [`DocumentCache::new`] (0: no cache).
    pub fn new(limits: LimitSettings, document_cache_size: u64) -> Self {
        Self::counted(limits, document_cache_size, None)
    }

    /// [`Self::new`], the cache's lookups counted into `counters`.
    pub fn counted(
        limits: LimitSettings,
        document_cache_size: u64,
        counters: Option<DocumentCacheCounters>,
    ) -> Self {
        Self {
            limits: Arc::new(limits),
            cache: DocumentCache::new(document_cache_size).map(|c| Arc::new(c.counted(counters))),
        }
    }

    /// The document cache of this schema, if on.
    pub fn cache(&self) -> Option<Arc<DocumentCache>> {
        self.cache.clone()
    }
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension {
            limits: self.limits.clone(),
            cache: self.cache.clone(),
            request: Mutex::new(PerRequest::default()),
        })
    }
}

/// What the validation hook needs to know about the request (it is only
/// given the context), gathered by the earlier hooks.
#[derive(Default)]
struct PerRequest {
    operation: Option<String>,
    key: Option<ValidationKey>,
}

struct LimitsExtension {
    limits: Arc<LimitSettings>,
    cache: Option<Arc<DocumentCache>>,
    request: Mutex<PerRequest>,
}

impl LimitsExtension {
    fn per_request(&self) -> std::sync::MutexGuard<'_, PerRequest> {
        // a poisoned lock only means another hook panicked: the data is plain
        self.request
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// async-graphql's parse (`parsed`), its error tidied and coded, then
    /// the limits only a parsed document can show.
    fn checked(
        &self,
        parsed: ServerResult<ExecutableDocument>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = parsed.map_err(|e| tag(tidy_parse_error(e), Code::GraphqlParseFailed))?;
        check_document(&self.limits, &doc)?;
        Ok(doc)
    }
}

fn tag(mut e: ServerError, code: Code) -> ServerError {
    if crate::error::code_of(&e).is_none() {
        crate::error::set_code(&mut e, code);
    }
    e
}

// The cache answers for the hooks inside it, so this extension must be the
// first registered (the outermost): see `schema::build`.
#[async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = next.run(ctx, request).await?;
        if self.cache.is_some() {
            self.per_request().operation = request.operation_name.clone();
        }
        Ok(request)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let Some(cache) = &self.cache else {
            precheck(&self.limits, query)?;
            return self.checked(next.run(ctx, query, variables).await);
        };
        let (text, parsed) = match cache.parsed(query) {
            Some(hit) => (Some(hit.0.clone()), hit.1.clone()),
            None => {
                // refused by size, tokens, nesting or expansion: never kept
                // (it may be huge, and it is cheap to refuse again)
                let scan = precheck(&self.limits, query)?;
                let parsed = self.checked(next.run(ctx, query, variables).await);
                // a mutation may carry a secret: never kept (see `cache`)
                let text = (!scan.has_mutation).then(|| cache.keep_parsed(query, parsed.clone()));
                (text, parsed)
            }
        };
        if let (Ok(_), Some(text)) = (&parsed, text) {
            let mut r = self.per_request();
            let operation = r.operation.take();
            r.key = Some(cache.validation_key(text, operation, variables));
        }
        parsed
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let key = self.per_request().key.take();
        let (Some(cache), Some(key)) = (&self.cache, key) else {
            return validate(ctx, next).await;
        };
        if let Some(hit) = cache.validated(&key) {
            return (*hit).clone();
        }
        let result = validate(ctx, next).await;
        cache.keep_validated(key, result.clone());
        result
    }
}

async fn validate(
    ctx: &ExtensionContext<'_>,
    next: NextValidation<'_>,
) -> Result<ValidationResult, Vec<ServerError>> {
    next.run(ctx).await.map_err(|errs| {
        errs.into_iter()
            .map(|e| tag(e, Code::GraphqlValidationFailed))
            .collect()
    })
}

/// pest's message spans several lines of ASCII art; keep the gist.
fn tidy_parse_error(mut e: ServerError) -> ServerError {
    let gist = e
        .message
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("= "))
        .map(str::to_owned);
    if let Some(g) = gist {
        let at = e
            .locations
            .first()
            .map(|p| format!(" at line {}, column {}", p.line, p.column))
            .unwrap_or_default();
        e.message = format!("syntax error{at}: {g}");
    }
    e
}

fn over(what: &str, limit: usize) -> ServerError {
    request_error(
        Code::GraphqlValidationFailed,
        format!("the document exceeds the limit of {limit} {what}"),
    )
}

/// Size and token count, before parsing (parsing is the costly part).
pub fn check_text(limits: &LimitSettings, query: &str) -> ServerResult<()> {
    if query.len() > limits.max_document_bytes {
        return Err(over("bytes", limits.max_document_bytes));
    }
    if count_tokens(query, limits.max_tokens.saturating_add(1)) > limits.max_tokens {
        return Err(over("tokens", limits.max_tokens));
    }
    Ok(())
}

/// Everything checked on the text before any recursive code sees it: size,
/// tokens, nesting, fragment expansion (see [`scan`]). Linear in the text.
pub fn precheck(limits: &LimitSettings, query: &str) -> ServerResult<Scan> {
    check_text(limits, query)?;
    let l = ScanLimits {
        max_nesting: limits.max_nesting,
        max_expanded: u64::try_from(limits.max_expanded_fields).unwrap_or(u64::MAX),
        max_aliases: limits.max_aliases,
        max_root_fields: limits.max_root_fields,
    };
    scan::scan(query, l).map_err(|e| match e {
        ScanError::Nesting(n) => request_error(
            Code::GraphqlParseFailed,
            format!("the document nests deeper than {n} levels"),
        ),
        ScanError::SpreadDepth(n) => request_error(
            Code::GraphqlValidationFailed,
            format!("the document nests deeper than {n} levels once its fragments are expanded"),
        ),
        ScanError::Expanded(n) => over("fields once its fragments are expanded", n),
        ScanError::Aliases(n) => over("aliases", n),
        ScanError::RootFields(n) => over("root fields", n),
        ScanError::Cycle(name) => request_error(
            Code::GraphqlValidationFailed,
            format!("the fragment \"{name}\" spreads itself"),
        ),
    })
}

/// Aliases and root fields, on the parsed document (the scan counted them
/// already; this is the authoritative count on what async-graphql parsed).
pub fn check_document(limits: &LimitSettings, doc: &ExecutableDocument) -> ServerResult<()> {
    let mut aliases = 0usize;
    // each fragment's root fields are counted once, however often spread
    let mut memo = HashMap::new();
    for (_, op) in doc.operations.iter() {
        let roots = count_root_fields(doc, &op.node.selection_set.node, &mut memo);
        if roots > limits.max_root_fields {
            return Err(over("root fields", limits.max_root_fields));
        }
        aliases += count_aliases(&op.node.selection_set.node);
    }
    for frag in doc.fragments.values() {
        aliases += count_aliases(&frag.node.selection_set.node);
    }
    if aliases > limits.max_aliases {
        return Err(over("aliases", limits.max_aliases));
    }
    Ok(())
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(f) => {
                usize::from(f.node.alias.is_some()) + count_aliases(&f.node.selection_set.node)
            }
            Selection::InlineFragment(i) => count_aliases(&i.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Fields at the root of `set`, through inline fragments and spreads. A
/// fragment is counted once (`memo`: `None` while it is being counted, so a
/// cycle counts nothing; the scan refused cycles already). The recursion
/// follows spread chains, which the scan and async-graphql's recursive-depth
/// limit have bounded before this runs.
fn count_root_fields<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    memo: &mut HashMap<&'a str, Option<usize>>,
) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(i) => {
                count_root_fields(doc, &i.node.selection_set.node, memo)
            }
            Selection::FragmentSpread(f) => {
                let name = f.node.fragment_name.node.as_str();
                if let Some(known) = memo.get(name) {
                    return known.unwrap_or(0);
                }
                let Some(frag) = doc.fragments.get(name) else {
                    return 0;
                };
                memo.insert(name, None);
                let n = count_root_fields(doc, &frag.node.selection_set.node, memo);
                memo.insert(name, Some(n));
                n
            }
        })
        .fold(0usize, usize::saturating_add)
}

/// Counts GraphQL lexical tokens, stopping at `stop`.
pub fn count_tokens(text: &str, stop: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < bytes.len() && n < stop {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if bytes[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                n += 1;
                if bytes[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                n += 1;
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                n += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
            }
            _ => {
                n += 1;
                i += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(count_tokens("{ a b(c: 1.5) }", 100), 9);
        assert_eq!(count_tokens("# comment\n{ a(s: \"x y z\") }", 100), 8);
        assert_eq!(count_tokens("query Q { ...F }", 100), 6);
        assert_eq!(count_tokens(&"{a}".repeat(10_000), 50), 50);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod cache_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_graphql::dynamic::{
        Field, FieldFuture, FieldValue, InputValue, Object, Schema, TypeRef,
    };
    use serde_json::json;

    use super::*;

    /// Counts the hooks that run inside `Limits` (what the cache saves).
    #[derive(Default)]
    struct Calls {
        parse: AtomicUsize,
        validation: AtomicUsize,
    }

    struct Counter(Arc<Calls>);

    impl ExtensionFactory for Counter {
        fn create(&self) -> Arc<dyn Extension> {
            Arc::new(Counter(self.0.clone()))
        }
    }

    #[async_trait::async_trait]
    impl Extension for Counter {
        async fn parse_query(
            &self,
            cx: &ExtensionContext<'_>,
            text: &str,
            vars: &Variables,
            inner: NextParseQuery<'_>,
        ) -> ServerResult<ExecutableDocument> {
            self.0.parse.fetch_add(1, Ordering::SeqCst);
            inner.run(cx, text, vars).await
        }

        async fn validation(
            &self,
            ctx: &ExtensionContext<'_>,
            next: NextValidation<'_>,
        ) -> Result<ValidationResult, Vec<ServerError>> {
            self.0.validation.fetch_add(1, Ordering::SeqCst);
            next.run(ctx).await
        }
    }

    fn limits() -> LimitSettings {
        LimitSettings {
            max_depth: 2,
            max_complexity: 100,
            max_aliases: 2,
            max_root_fields: 3,
            max_tokens: 100,
            max_document_bytes: 1000,
            max_nesting: 8,
            max_expanded_fields: 50,
            batching: false,
            max_batch_size: 1,
        }
    }

    /// `{ n(a: Int!): Int!, o: Query }` with `Limits` outermost.
    fn schema(cache: u64) -> (Schema, Arc<Calls>, Option<Arc<DocumentCache>>) {
        let n = Field::new("n", TypeRef::named_nn(TypeRef::INT), |ctx| {
            FieldFuture::new(async move {
                let a = ctx.args.try_get("a")?.i64()?;
                Ok(Some(FieldValue::value(a)))
            })
        })
        .argument(InputValue::new("a", TypeRef::named_nn(TypeRef::INT)));
        let o = Field::new("o", TypeRef::named("Query"), |_| {
            FieldFuture::new(async move { Ok(Some(FieldValue::value(1))) })
        });
        let calls = Arc::new(Calls::default());
        let limits = Limits::new(limits(), cache);
        let cache = limits.cache();
        let schema = Schema::build("Query", None, None)
            .register(Object::new("Query").field(n).field(o))
            .limit_depth(2)
            .extension(limits)
            .extension(Counter(calls.clone()))
            .finish()
            .unwrap();
        (schema, calls, cache)
    }

    async fn run(schema: &Schema, q: &str, vars: serde_json::Value) -> serde_json::Value {
        let r = async_graphql::Request::new(q).variables(Variables::from_json(vars));
        serde_json::to_value(schema.execute(r).await).unwrap()
    }

    fn counts(c: &Calls) -> (usize, usize) {
        (
            c.parse.load(Ordering::SeqCst),
            c.validation.load(Ordering::SeqCst),
        )
    }

    /// Runs `{ n(a: 7) }` three times on a schema whose cache holds `cache`
    /// documents; returns (parse, validation) runs and whether a cache exists.
    async fn the_same_document_thrice(cache: u64) -> ((usize, usize), bool) {
        let (schema, calls, cache) = schema(cache);
        for _ in 0..3 {
            let r = run(&schema, "{ n(a: 7) }", json!({})).await;
            assert_eq!(r["data"]["n"], 7);
        }
        (counts(&calls), cache.is_some())
    }

    #[tokio::test]
    async fn a_repeated_document_is_parsed_and_validated_once() {
        assert_eq!(the_same_document_thrice(64).await, ((1, 1), true));
    }

    #[tokio::test]
    async fn without_the_cache_every_request_is_parsed() {
        assert_eq!(the_same_document_thrice(0).await, ((3, 3), false));
    }

    #[tokio::test]
    async fn variables_are_validated_per_distinct_value() {
        let (schema, calls, _) = schema(64);
        let q = "query($a: Int!) { n(a: $a) }";
        let ok1 = run(&schema, q, json!({"a": 1})).await;
        let bad = run(&schema, q, json!({"a": "x"})).await;
        let ok2 = run(&schema, q, json!({"a": 2})).await;
        let bad_again = run(&schema, q, json!({"a": "x"})).await;
        let ok1_again = run(&schema, q, json!({"a": 1})).await;
        assert_eq!(ok1["data"]["n"], 1);
        assert_eq!(ok2["data"]["n"], 2);
        assert_eq!(ok1, ok1_again);
        assert_eq!(
            bad["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
        assert_eq!(bad, bad_again);
        // parsed once; validated once per distinct set of variables
        assert_eq!(counts(&calls), (1, 3));
    }

    #[tokio::test]
    async fn errors_and_limits_come_back_identical_from_the_cache() {
        let (cached, calls, _) = schema(64);
        let (plain, _, _) = schema(0);
        let docs = [
            "{ n(a: 1) ",                           // syntax
            "{ nope }",                             // validation
            "{ o { o { o { n(a: 1) } } } }",        // depth
            "{ a: n(a: 1) b: n(a: 1) c: n(a: 1) }", // aliases
            "{ n }",                                // missing argument
        ];
        for q in docs {
            let want = run(&plain, q, json!({})).await;
            assert!(
                !want["errors"][0]["extensions"]["code"].is_null(),
                "{q}: {want}"
            );
            for _ in 0..3 {
                assert_eq!(run(&cached, q, json!({})).await, want, "{q}");
            }
        }
        // the syntax error comes from the parse hook: cached there; the
        // alias limit is refused by the scan before it (cheap, never kept)
        assert_eq!(counts(&calls).0, docs.len() - 1);
    }

    #[tokio::test]
    async fn oversized_documents_are_refused_and_never_kept() {
        let (schema, calls, cache) = schema(64);
        let big = format!("{{ n(a: 1) }} #{}", "x".repeat(2000));
        for _ in 0..2 {
            let r = run(&schema, &big, json!({})).await;
            assert!(r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("bytes"));
        }
        assert_eq!(counts(&calls), (0, 0));
        assert_eq!(cache.unwrap().entries(), (0, 0));
    }

    #[tokio::test]
    async fn no_secret_is_ever_cached() {
        let login = Field::new("login", TypeRef::named_nn(TypeRef::INT), |_| {
            FieldFuture::new(async move { Ok(Some(FieldValue::value(1))) })
        })
        .argument(InputValue::new("p", TypeRef::named_nn(TypeRef::STRING)));
        let limits = Limits::new(limits(), 64);
        let cache = limits.cache().unwrap();
        let n = Field::new("n", TypeRef::named_nn(TypeRef::INT), |_| {
            FieldFuture::new(async move { Ok(Some(FieldValue::value(1))) })
        })
        .argument(InputValue::new("s", TypeRef::named(TypeRef::STRING)));
        let schema = Schema::build("Query", Some("Mutation"), None)
            .register(Object::new("Query").field(n))
            .register(Object::new("Mutation").field(login))
            .extension(limits)
            .finish()
            .unwrap();
        for _ in 0..2 {
            let r = run(
                &schema,
                "mutation($p: String!) { login(p: $p) }",
                json!({"p": "hunter2-in-variables"}),
            )
            .await;
            assert_eq!(r["data"]["login"], 1, "{r}");
            let r = run(
                &schema,
                "mutation { login(p: \"hunter2-in-text\") }",
                json!({}),
            )
            .await;
            assert_eq!(r["data"]["login"], 1, "{r}");
            // a query's variables are keyed by a digest, never kept
            let r = run(
                &schema,
                "query($s: String) { n(s: $s) }",
                json!({"s": "hunter2-in-query"}),
            )
            .await;
            assert_eq!(r["data"]["n"], 1, "{r}");
        }
        assert!(!cache.mentions("hunter2"));
        assert!(!cache.mentions("login"));
        // the query is cached (parse and validation)
        assert_eq!(cache.entries(), (1, 1));
    }

    #[tokio::test]
    async fn hostile_documents_are_refused_before_parsing() {
        let calls = Arc::new(Calls::default());
        let deep = format!("{{ n(a: {}1{}) }}", "[".repeat(5000), "]".repeat(5000));
        let mut fan = String::from("query { ...F0 }");
        for i in 0..7 {
            fan.push_str(&format!(" fragment F{i} on Query {{"));
            for _ in 0..20 {
                fan.push_str(&format!(" ...F{}", i + 1));
            }
            fan.push('}');
        }
        fan.push_str(" fragment F7 on Query { n(a: 1) }");
        let mut l = limits();
        l.max_document_bytes = 100_000;
        l.max_tokens = 100_000;
        l.max_nesting = 32;
        let big = Limits::new(l, 64);
        let schema_big = Schema::build("Query", None, None)
            .register(Object::new("Query").field(Field::new(
                "n",
                TypeRef::named_nn(TypeRef::INT),
                |_| FieldFuture::new(async move { Ok(Some(FieldValue::value(1))) }),
            )))
            .extension(big)
            .extension(Counter(calls.clone()))
            .finish()
            .unwrap();
        let cases = [
            (
                &schema_big,
                deep.as_str(),
                "GRAPHQL_PARSE_FAILED",
                "nests deeper",
            ),
            (
                &schema_big,
                fan.as_str(),
                "GRAPHQL_VALIDATION_FAILED",
                "expanded",
            ),
            (
                &schema_big,
                "{ ...A } fragment A on Query { ...A }",
                "GRAPHQL_VALIDATION_FAILED",
                "spreads itself",
            ),
        ];
        for (s, q, code, msg) in cases {
            let started = std::time::Instant::now();
            let r = run(s, q, json!({})).await;
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
            assert_eq!(r["errors"][0]["extensions"]["code"], code, "{r}");
            assert!(
                r["errors"][0]["message"].as_str().unwrap().contains(msg),
                "{r}"
            );
        }
        // refused before async-graphql's parse step ran
        assert_eq!(counts(&calls), (0, 0));
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let (schema, _, cache) = schema(16);
        for i in 0..200 {
            run(&schema, &format!("{{ n(a: {i}) }}"), json!({})).await;
        }
        let (parsed, validated) = cache.unwrap().entries();
        assert!(parsed <= 16 && validated <= 16, "{parsed} / {validated}");
    }
}
