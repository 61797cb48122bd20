//! The document cache: parse and validation results per document text, kept
//! by the schema's [`super::limits::Limits`] extension factory, so a schema
//! (re)build starts with an empty one and no result ever crosses schemas.
//!
//! What is cached is exactly what the hooks would compute again:
//!
//! * **parse** (key: the text): the document after our size, token, alias and
//!   root-field checks and async-graphql's recursive-depth and directive
//!   limits, or the (tagged) syntax error. Parsing depends on the text alone.
//!   Documents refused by the size or token limits are never cached.
//! * **validation** (key: the text, the operation name, and — when the text
//!   contains a `$` at all — a salted SHA-256 of the variables, never the
//!   values themselves): the rules' result,
//!   complexity and depth limits included, or the (tagged) errors.
//!   async-graphql's `ArgumentsOfCorrectType` looks at variable values, so
//!   a document that mentions a variable is validated per distinct set of
//!   variables; one that does not is validated once.
//!
//! A document that defines a mutation is never cached, parse or validation:
//! the credential mutations (login, signup, refresh) carry passwords and
//! refresh tokens, in variables or written into the text, and a cache must
//! never hold a secret. Mutations are not the hot path anyway.
//!
//! Both are bounded (moka, TinyLFU): each entry weighs one per started KiB
//! of text, against `graphql.document_cache_size`.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::metrics::DocumentCacheCounters;

/// What the parse hook produced for a text.
pub(crate) type Parsed = ServerResult<ExecutableDocument>;
/// What the validation hook produced.
pub(crate) type Validated = Result<ValidationResult, Vec<ServerError>>;

/// The key of a validation result.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ValidationKey {
    query: Arc<str>,
    operation: Option<String>,
    /// A salted digest of the variables, only when the text mentions a
    /// variable: the values (maybe secret) are never kept.
    variables: Option<[u8; 32]>,
}

impl ValidationKey {
    fn weight(&self) -> u32 {
        kib(self.query.len())
    }
}

/// Feeds formatted text straight into a digest (nothing is buffered).
struct DigestWriter(Sha256);

impl std::fmt::Write for DigestWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes / 1024 + 1).unwrap_or(u32::MAX)
}

/// Parse and validation results of one schema.
pub struct DocumentCache {
    parsed: Cache<Arc<str>, Arc<(Arc<str>, Parsed)>>,
    validated: Cache<ValidationKey, Arc<Validated>>,
    /// Per cache, so a digest of guessable variables cannot be looked up
    /// elsewhere.
    salt: [u8; 32],
    /// Hits and misses of each lookup, when the gateway has metrics.
    counters: Option<DocumentCacheCounters>,
}

impl DocumentCache {
    /// A cache of about `size` small documents; `None` when `size` is 0 (off).
    pub fn new(size: u64) -> Option<Self> {
        (size > 0).then(|| DocumentCache {
            parsed: Cache::builder()
                .max_capacity(size)
                .weigher(|k: &Arc<str>, _| kib(k.len()))
                .build(),
            validated: Cache::builder()
                .max_capacity(size)
                .weigher(|k: &ValidationKey, _| k.weight())
                .build(),
            salt: rand::random(),
            counters: None,
        })
    }

    /// Counts every lookup into `counters`.
    pub fn counted(mut self, counters: Option<DocumentCacheCounters>) -> Self {
        self.counters = counters;
        self
    }

    /// The validation key of a request for `query` (the shared text from
    /// [`Self::keep_parsed`]).
    pub(crate) fn validation_key(
        &self,
        query: Arc<str>,
        operation: Option<String>,
        variables: &Variables,
    ) -> ValidationKey {
        // `Debug` tells every value kind apart (an enum from a string, an
        // integer from a float), where JSON would not; it is digested as it
        // is written, never held
        let variables = query.contains('$').then(|| {
            let mut w = DigestWriter(Sha256::new());
            w.0.update(self.salt);
            // writing into a digest cannot fail
            let _ = std::fmt::write(&mut w, format_args!("{variables:?}"));
            w.0.finalize().into()
        });
        ValidationKey {
            query,
            operation,
            variables,
        }
    }

    /// The cached parse of `query`, with the shared key for the validation
    /// lookup.
    pub(crate) fn parsed(&self, query: &str) -> Option<Arc<(Arc<str>, Parsed)>> {
        let hit = self.parsed.get(query);
        if let Some(c) = &self.counters {
            c.parse.record(hit.is_some());
        }
        hit
    }

    /// Keeps a parse result; returns the shared text.
    pub(crate) fn keep_parsed(&self, query: &str, parsed: Parsed) -> Arc<str> {
        let key: Arc<str> = Arc::from(query);
        self.parsed
            .insert(key.clone(), Arc::new((key.clone(), parsed)));
        key
    }

    pub(crate) fn validated(&self, key: &ValidationKey) -> Option<Arc<Validated>> {
        let hit = self.validated.get(key);
        if let Some(c) = &self.counters {
            c.validate.record(hit.is_some());
        }
        hit
    }

    pub(crate) fn keep_validated(&self, key: ValidationKey, result: Validated) {
        self.validated.insert(key, Arc::new(result));
    }

    /// Entries held (parse, validation), after pending maintenance.
    pub fn entries(&self) -> (u64, u64) {
        self.parsed.run_pending_tasks();
        self.validated.run_pending_tasks();
        (self.parsed.entry_count(), self.validated.entry_count())
    }

    /// Whether any key or kept document mentions `needle` (for tests: no
    /// secret may be found here).
    pub fn mentions(&self, needle: &str) -> bool {
        self.parsed.run_pending_tasks();
        self.validated.run_pending_tasks();
        let in_parsed = self.parsed.iter().any(|(k, v)| {
            k.contains(needle) || v.0.contains(needle) || format!("{:?}", v.1).contains(needle)
        });
        let in_validated = self.validated.iter().any(|(k, v)| {
            k.query.contains(needle)
                || k.operation.as_deref().is_some_and(|o| o.contains(needle))
                || format!("{:?}", v.as_ref().as_ref().err()).contains(needle)
        });
        in_parsed || in_validated
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_counted() {
        let m = crate::metrics::Metrics::new().unwrap();
        let c = DocumentCache::new(8)
            .unwrap()
            .counted(Some(m.document_cache_counters()));
        let q = "{ me { id } }";
        assert!(c.parsed(q).is_none());
        let text = c.keep_parsed(q, async_graphql::parser::parse_query(q).map_err(Into::into));
        assert!(c.parsed(q).is_some());
        assert!(c.parsed("{ me { permissions } }").is_none());
        let key = c.validation_key(text, None, &Variables::default());
        assert!(c.validated(&key).is_none());
        let text = m.render();
        for line in [
            r#"authgate_document_cache_hits_total{step="parse"} 1"#,
            r#"authgate_document_cache_misses_total{step="parse"} 2"#,
            r#"authgate_document_cache_hits_total{step="validate"} 0"#,
            r#"authgate_document_cache_misses_total{step="validate"} 1"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn off_when_zero() {
        assert!(DocumentCache::new(0).is_none());
    }

    #[test]
    fn bounded() {
        let c = DocumentCache::new(8).unwrap();
        for i in 0..200 {
            let q = format!("{{ f{i} }}");
            let doc = async_graphql::parser::parse_query(&q).map_err(Into::into);
            c.keep_parsed(&q, doc);
        }
        let (parsed, _) = c.entries();
        assert!(parsed <= 8, "{parsed} entries");
    }

    #[test]
    fn variables_only_key_documents_that_use_them() {
        let c = DocumentCache::new(8).unwrap();
        let vars = Variables::from_json(serde_json::json!({"a": 1}));
        let none = Variables::default();
        let plain = c.validation_key(Arc::from("{ me { id } }"), None, &vars);
        let plain2 = c.validation_key(Arc::from("{ me { id } }"), None, &none);
        assert!(plain == plain2);
        let q: Arc<str> = Arc::from("query($a: Int) { f(a: $a) }");
        let with = c.validation_key(q.clone(), None, &vars);
        let with2 = c.validation_key(q.clone(), None, &vars);
        let without = c.validation_key(q.clone(), None, &none);
        assert!(with == with2);
        assert!(with != without);
        // an enum and a string of the same name are different variables
        let e = Variables::from_json(serde_json::json!({"a": "X"}));
        let mut en = Variables::default();
        en.insert(
            async_graphql::Name::new("a"),
            async_graphql::Value::Enum(async_graphql::Name::new("X")),
        );
        assert!(c.validation_key(q.clone(), None, &e) != c.validation_key(q, None, &en));
    }

    #[test]
    fn a_validation_key_holds_no_variable_value() {
        let c = DocumentCache::new(8).unwrap();
        let vars = Variables::from_json(serde_json::json!({"p": "hunter2-secret"}));
        let k = c.validation_key(Arc::from("query($p: String) { f(p: $p) }"), None, &vars);
        c.keep_validated(
            k,
            Ok(ValidationResult {
                cache_control: Default::default(),
                complexity: 1,
                depth: 1,
            }),
        );
        assert_eq!(c.entries().1, 1);
        assert!(!c.mentions("hunter2-secret"));
        assert!(c.mentions("query($p: String)"));
    }
}
