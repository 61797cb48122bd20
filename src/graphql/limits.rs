//! Query limits checked before any resolver runs, and the codes of document
//! errors. Depth and complexity are async-graphql's own validation rules; this
//! extension adds size, tokens, aliases and root fields, and tags parse and
//! validation errors with `GRAPHQL_PARSE_FAILED` / `GRAPHQL_VALIDATION_FAILED`.
//! The document itself is never logged (it may hold a password).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};

use crate::config::LimitSettings;
use crate::error::{request_error, Code};

pub struct Limits {
    limits: Arc<LimitSettings>,
}

impl Limits {
    pub fn new(limits: LimitSettings) -> Self {
        Self {
            limits: Arc::new(limits),
        }
    }
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension {
            limits: self.limits.clone(),
        })
    }
}

struct LimitsExtension {
    limits: Arc<LimitSettings>,
}

fn tag(mut e: ServerError, code: Code) -> ServerError {
    let has_code = e
        .extensions
        .as_ref()
        .is_some_and(|x| x.get("code").is_some());
    if !has_code {
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", code.as_str());
    }
    e
}

#[async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        check_text(&self.limits, query)?;
        let doc = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| tag(tidy_parse_error(e), Code::GraphqlParseFailed))?;
        check_document(&self.limits, &doc)?;
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errs| {
            errs.into_iter()
                .map(|e| tag(e, Code::GraphqlValidationFailed))
                .collect()
        })
    }
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
    if count_tokens(query, limits.max_tokens + 1) > limits.max_tokens {
        return Err(over("tokens", limits.max_tokens));
    }
    Ok(())
}

/// Aliases and root fields, on the parsed document.
pub fn check_document(limits: &LimitSettings, doc: &ExecutableDocument) -> ServerResult<()> {
    let mut aliases = 0usize;
    for (_, op) in doc.operations.iter() {
        let roots = count_root_fields(doc, &op.node.selection_set.node, 0);
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

fn count_root_fields(doc: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    if depth > 8 {
        return 0; // fragment cycles are a validation error reported elsewhere
    }
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(i) => {
                count_root_fields(doc, &i.node.selection_set.node, depth + 1)
            }
            Selection::FragmentSpread(f) => doc
                .fragments
                .get(&f.node.fragment_name.node)
                .map_or(0, |frag| {
                    count_root_fields(doc, &frag.node.selection_set.node, depth + 1)
                }),
        })
        .sum()
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
