//! `[graphql]`: the endpoint, the schema files and the document limits,
//! validated here (`config` only composes them).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlSettings {
    /// HTTP path of the endpoint.
    pub path: String,
    /// Folders (their `*.graphql` files, sorted) and files the schema is built from.
    pub schema: Vec<PathBuf>,
    /// The composed SDL checked in for clients (regenerate with
    /// `authgate print-schema > FILE`); a test keeps it current.
    pub composed_schema: PathBuf,
    /// Serve GraphiQL to browsers on `GET {path}`.
    pub graphiql: bool,
    /// Answer `__schema` / `__type` queries.
    pub introspection: bool,
    /// "Did you mean …?" in validation errors: they name fields and types
    /// the caller did not ask for, which introspection = false would hide.
    #[serde(default)]
    pub suggestions: bool,
    pub limits: LimitSettings,
    /// Parsed and validated documents kept per schema, keyed by their text
    /// (a document counts one per started KiB of text). 0: off.
    #[serde(default = "default_document_cache_size")]
    pub document_cache_size: u64,
}

fn default_document_cache_size() -> u64 {
    1024
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// Lexical tokens in the document.
    pub max_tokens: usize,
    /// Bytes of the document text.
    pub max_document_bytes: usize,
    /// Nesting of selection sets, list and object values (and of the
    /// request's `variables`/`extensions` JSON), checked before parsing.
    #[serde(default = "default_max_nesting")]
    pub max_nesting: usize,
    /// Fields (with spreads and inline fragments) once every fragment spread
    /// is expanded, checked before parsing.
    #[serde(default = "default_max_expanded_fields")]
    pub max_expanded_fields: usize,
    /// Accept a JSON array of requests.
    pub batching: bool,
    pub max_batch_size: usize,
}

fn default_max_nesting() -> usize {
    64
}

fn default_max_expanded_fields() -> usize {
    5000
}

/// Above this the parser's and serde_json's own recursion limits answer
/// first, and deep recursion risks the stack.
pub const MAX_NESTING_CEILING: usize = 100;

impl GraphqlSettings {
    /// The problems with these settings, as `(key, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut issues: Vec<(String, String)> = Vec::new();
        let g = self;
        if !g.path.starts_with('/') || g.path.len() < 2 {
            issues.push((
                "graphql.path".into(),
                "must start with `/` and name a path, e.g. `/graphql`".into(),
            ));
        }
        if g.schema.is_empty() {
            issues.push((
                "graphql.schema".into(),
                "must list at least one SDL folder or file".into(),
            ));
        }
        let l = &g.limits;
        for (key, v) in [
            ("max_depth", l.max_depth),
            ("max_complexity", l.max_complexity),
            ("max_aliases", l.max_aliases),
            ("max_root_fields", l.max_root_fields),
            ("max_tokens", l.max_tokens),
            ("max_document_bytes", l.max_document_bytes),
            ("max_nesting", l.max_nesting),
            ("max_expanded_fields", l.max_expanded_fields),
            ("max_batch_size", l.max_batch_size),
        ] {
            if v == 0 {
                issues.push((
                    format!("graphql.limits.{key}"),
                    "must be greater than zero".into(),
                ));
            }
        }
        if l.max_nesting > MAX_NESTING_CEILING {
            issues.push((
                "graphql.limits.max_nesting".into(),
                format!("must be at most {MAX_NESTING_CEILING}"),
            ));
        }
        issues
    }
}
