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
//!   contains a `$` at all — the variables, written out): the rules' result,
//!   complexity and depth limits included, or the (tagged) errors.
//!   async-graphql's `ArgumentsOfCorrectType` looks at variable values, so
//!   a document that mentions a variable is validated per distinct set of
//!   variables; one that does not is validated once.
//!
//! Both are bounded (moka, TinyLFU): each entry weighs one per started KiB
//! of text (and variables), against `graphql.document_cache_size`.

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use moka::sync::Cache;

/// What the parse hook produced for a text.
pub(crate) type Parsed = ServerResult<ExecutableDocument>;
/// What the validation hook produced.
pub(crate) type Validated = Result<ValidationResult, Vec<ServerError>>;

/// The key of a validation result.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ValidationKey {
    query: Arc<str>,
    operation: Option<String>,
    /// The variables as JSON, only when the text mentions a variable.
    variables: Option<String>,
}

impl ValidationKey {
    pub(crate) fn new(query: Arc<str>, operation: Option<String>, variables: &Variables) -> Self {
        // `Debug` tells every value kind apart (an enum from a string, an
        // integer from a float), where JSON would not
        let variables = query.contains('$').then(|| format!("{variables:?}"));
        ValidationKey {
            query,
            operation,
            variables,
        }
    }

    fn weight(&self) -> u32 {
        kib(self.query.len() + self.variables.as_ref().map_or(0, String::len))
    }
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes / 1024 + 1).unwrap_or(u32::MAX)
}

/// Parse and validation results of one schema.
pub struct DocumentCache {
    parsed: Cache<Arc<str>, Arc<(Arc<str>, Parsed)>>,
    validated: Cache<ValidationKey, Arc<Validated>>,
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
        })
    }

    /// The cached parse of `query`, with the shared key for the validation
    /// lookup.
    pub(crate) fn parsed(&self, query: &str) -> Option<Arc<(Arc<str>, Parsed)>> {
        self.parsed.get(query)
    }

    /// Keeps a parse result; returns the shared text.
    pub(crate) fn keep_parsed(&self, query: &str, parsed: Parsed) -> Arc<str> {
        let key: Arc<str> = Arc::from(query);
        self.parsed
            .insert(key.clone(), Arc::new((key.clone(), parsed)));
        key
    }

    pub(crate) fn validated(&self, key: &ValidationKey) -> Option<Arc<Validated>> {
        self.validated.get(key)
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
        let vars = Variables::from_json(serde_json::json!({"a": 1}));
        let none = Variables::default();
        let plain = ValidationKey::new(Arc::from("{ me { id } }"), None, &vars);
        let plain2 = ValidationKey::new(Arc::from("{ me { id } }"), None, &none);
        assert!(plain == plain2);
        let q: Arc<str> = Arc::from("query($a: Int) { f(a: $a) }");
        let with = ValidationKey::new(q.clone(), None, &vars);
        let without = ValidationKey::new(q, None, &none);
        assert!(with != without);
    }
}
