//! A linear scan of a document's text, run before async-graphql's parser or
//! any walk over the document sees it.
//!
//! The parser (pest) is recursive descent with no bound on list, object or
//! selection-set nesting, and the walks inside async-graphql's parse step
//! (recursive depth, directives per field) and its validation (depth,
//! complexity) expand every fragment spread each time it appears, so a small
//! document can overflow the stack or cost exponential time. This scan
//! refuses both in time linear in the text:
//!
//! * **nesting**: `{` and `[` outside strings and comments (selection sets,
//!   object and list values, list types, together), counted lexically, so
//!   the bound holds for any text, valid or not;
//! * **expansion**: each definition's selections (fields, fragment spreads
//!   and inline fragments) with every spread replaced by the fragment's own
//!   expanded selections, and the nesting a spread adds, computed once per
//!   fragment (memoised over the fragment graph; a cycle is refused).
//!
//! The expansion is read from the token stream, following the grammar
//! async-graphql's parser uses (including its quirks: `... on` is a type
//! condition only when whitespace and a name follow; `fragmentF` is the
//! keyword `fragment` and the name `F`). For a document the parser accepts,
//! the counts are exact; for one it refuses, they may be anything, but the
//! parser then refuses it without expanding anything.

use std::collections::HashMap;

/// What a scan refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Nested deeper than the limit, lexically.
    Nesting(usize),
    /// Nested deeper than the limit once spreads are expanded.
    SpreadDepth(usize),
    /// More selections than the limit once every spread is expanded.
    Expanded(usize),
    /// A fragment that spreads itself, directly or not.
    Cycle(String),
    /// More aliases in the document than the limit.
    Aliases(usize),
    /// More root fields in an operation than the limit (through inline
    /// fragments and spreads).
    RootFields(usize),
}

/// What a scan learnt about an accepted text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Deepest lexical nesting of `{` and `[`.
    pub nesting: usize,
    /// Selections of every definition, spreads expanded.
    pub expanded: u64,
    /// The document defines a mutation (`mutation` keyword).
    pub has_mutation: bool,
}

/// The limits a scan enforces.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    pub max_nesting: usize,
    pub max_expanded: u64,
    pub max_aliases: usize,
    pub max_root_fields: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Name(&'a str),
    Spread,
    Punct(u8),
    /// numbers, strings, anything else: never structural
    Other,
}

/// GraphQL's tokens, with their byte offsets; strings, block strings and
/// comments are single tokens or skipped, as in the parser's grammar.
struct Lexer<'a> {
    text: &'a str,
    i: usize,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The parser's `WHITESPACE` (comma, BOM and line terminators included),
/// at `i`: its length in bytes, or 0.
fn whitespace_at(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i) {
        Some(b' ' | b'\t' | b',' | b'\n' | b'\r') => 1,
        Some(0xEF) if bytes[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => 3,
        _ => 0,
    }
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer { text, i: 0 }
    }

    /// Skips whitespace and comments.
    fn skip_ignored(&mut self) {
        let bytes = self.text.as_bytes();
        loop {
            let w = whitespace_at(bytes, self.i);
            if w > 0 {
                self.i += w;
            } else if bytes.get(self.i) == Some(&b'#') {
                while self.i < bytes.len() && !matches!(bytes[self.i], b'\n' | b'\r') {
                    self.i += 1;
                }
            } else {
                return;
            }
        }
    }

    /// The next token and the offset just after it.
    fn next_token(&mut self) -> Option<(Tok<'a>, usize)> {
        self.skip_ignored();
        let bytes = self.text.as_bytes();
        let start = self.i;
        let c = *bytes.get(start)?;
        let tok = match c {
            b'"' if bytes[start..].starts_with(b"\"\"\"") => {
                // block string: `\"""` is the only escape
                self.i += 3;
                loop {
                    if self.i >= bytes.len() {
                        break;
                    }
                    if bytes[self.i..].starts_with(b"\\\"\"\"") {
                        self.i += 4;
                    } else if bytes[self.i..].starts_with(b"\"\"\"") {
                        self.i += 3;
                        break;
                    } else {
                        self.i += 1;
                    }
                }
                Tok::Other
            }
            b'"' => {
                // a line terminator ends the token (the parser refuses it)
                self.i += 1;
                while self.i < bytes.len() {
                    match bytes[self.i] {
                        b'"' => {
                            self.i += 1;
                            break;
                        }
                        b'\n' | b'\r' => break,
                        b'\\' => self.i += 2,
                        _ => self.i += 1,
                    }
                }
                self.i = self.i.min(bytes.len());
                Tok::Other
            }
            b'.' if bytes[start..].starts_with(b"...") => {
                self.i += 3;
                Tok::Spread
            }
            c if is_name_start(c) => {
                while self.i < bytes.len() && is_name_char(bytes[self.i]) {
                    self.i += 1;
                }
                Tok::Name(&self.text[start..self.i])
            }
            c if c.is_ascii_digit() || c == b'-' => {
                self.i += 1;
                while self.i < bytes.len()
                    && (is_name_char(bytes[self.i]) || matches!(bytes[self.i], b'.' | b'+' | b'-'))
                {
                    self.i += 1;
                }
                Tok::Other
            }
            c if c.is_ascii() => {
                self.i += 1;
                Tok::Punct(c)
            }
            _ => {
                // one byte of a multi-byte character: not structural
                self.i += 1;
                Tok::Other
            }
        };
        Some((tok, self.i))
    }

    /// After `...`: whether `on` at the cursor starts a type condition (the
    /// parser's `"on" ~ WHITESPACE+ ~ name`, no comment allowed).
    fn type_condition_follows(&self) -> bool {
        let bytes = self.text.as_bytes();
        let mut j = self.i;
        if !bytes[j..].starts_with(b"on") {
            return false;
        }
        j += 2;
        let mut any = false;
        loop {
            let w = whitespace_at(bytes, j);
            if w == 0 {
                break;
            }
            any = true;
            j += w;
        }
        any && bytes.get(j).is_some_and(|b| is_name_start(*b))
    }
}

/// One operation or fragment, as the scan sees it.
#[derive(Default)]
struct Definition<'a> {
    /// the fragment's name (operations: none)
    fragment: Option<&'a str>,
    /// selections written in it (spreads not expanded)
    own: u64,
    /// deepest selection-set level written in it (its own set is level 1)
    levels: usize,
    /// the spreads in it, with the level they appear at and whether they
    /// are at its root (only inline fragments around them)
    spreads: Vec<(&'a str, usize, bool)>,
    /// fields written at its root (only inline fragments around them)
    roots: u64,
}

enum Header {
    /// before the first token of a definition
    Start,
    /// `fragment` seen, its name next
    FragmentName,
    /// the rest of a header, up to its selection set
    Rest,
}

/// Scans `text`; see the module documentation.
pub fn scan(text: &str, limits: ScanLimits) -> Result<Scan, ScanError> {
    let mut lx = Lexer::new(text);
    let mut out = Scan::default();
    let mut nesting = 0usize;
    // structure: outside parentheses, braces are selection sets
    let mut parens = 0usize;
    let mut sets = 0usize;
    let mut defs: Vec<Definition<'_>> = Vec::new();
    let mut cur = Definition::default();
    let mut header = Header::Start;
    // the next name is not a field (directive, fragment or type name)
    let mut skip_name = false;
    // per open selection set of the definition: is it at the root (the
    // definition's own set, or an inline fragment's inside one)
    let mut root_sets: Vec<bool> = Vec::new();
    // an inline fragment was seen; its `{` is next
    let mut inline = false;
    let mut aliases = 0usize;

    while let Some((tok, _)) = lx.next_token() {
        match tok {
            Tok::Punct(b'{' | b'[') => {
                nesting += 1;
                out.nesting = out.nesting.max(nesting);
                if nesting > limits.max_nesting {
                    return Err(ScanError::Nesting(limits.max_nesting));
                }
            }
            Tok::Punct(b'}' | b']') => nesting = nesting.saturating_sub(1),
            _ => {}
        }
        if parens > 0 {
            match tok {
                Tok::Punct(b'(') => parens += 1,
                Tok::Punct(b')') => parens -= 1,
                _ => {}
            }
            continue;
        }
        match tok {
            Tok::Punct(b'(') => parens = 1,
            Tok::Punct(b'{') => {
                sets += 1;
                cur.levels = cur.levels.max(sets);
                let parent = root_sets.last().copied();
                root_sets.push(parent.is_none_or(|p| p && inline));
                inline = false;
                header = Header::Rest;
            }
            Tok::Punct(b'}') if sets > 0 => {
                sets -= 1;
                root_sets.pop();
                if sets == 0 {
                    defs.push(std::mem::take(&mut cur));
                    header = Header::Start;
                }
            }
            _ if sets == 0 => match (&header, tok) {
                (Header::Start, Tok::Name(n)) => {
                    if let Some(rest) = n.strip_prefix("fragment") {
                        if rest.is_empty() {
                            header = Header::FragmentName;
                        } else {
                            cur.fragment = Some(rest);
                            header = Header::Rest;
                        }
                    } else {
                        out.has_mutation |= n.starts_with("mutation");
                        header = Header::Rest;
                    }
                }
                (Header::FragmentName, Tok::Name(n)) => {
                    cur.fragment = Some(n);
                    header = Header::Rest;
                }
                _ => header = Header::Rest,
            },
            Tok::Spread => {
                cur.own += 1;
                lx.skip_ignored();
                let at_root = root_sets.last().copied().unwrap_or(false);
                inline = true;
                if lx.type_condition_follows() {
                    // `on` and the type's name
                    lx.next_token();
                    skip_name = true;
                } else if let Some(&b) = text.as_bytes().get(lx.i) {
                    if is_name_start(b) {
                        if let Some((Tok::Name(n), _)) = lx.next_token() {
                            cur.spreads.push((n, sets, at_root));
                            inline = false;
                        }
                    }
                }
            }
            Tok::Punct(b'@') => skip_name = true,
            // `alias: field` counts once
            Tok::Punct(b':') => {
                cur.own = cur.own.saturating_sub(1);
                if root_sets.last().copied().unwrap_or(false) {
                    cur.roots = cur.roots.saturating_sub(1);
                }
                aliases += 1;
                if aliases > limits.max_aliases {
                    return Err(ScanError::Aliases(limits.max_aliases));
                }
            }
            Tok::Name(_) if skip_name => skip_name = false,
            Tok::Name(_) => {
                cur.own += 1;
                inline = false;
                if root_sets.last().copied().unwrap_or(false) {
                    cur.roots += 1;
                }
            }
            _ => {}
        }
    }
    if sets > 0 || !matches!(header, Header::Start) {
        // unterminated: the parser refuses it, count what was seen
        defs.push(cur);
    }
    expand(&defs, limits, &mut out)?;
    Ok(out)
}

/// Expanded selections and nesting of every definition, each fragment's
/// computed once (iteratively: a spread chain may be as long as the text).
fn expand(defs: &[Definition<'_>], limits: ScanLimits, out: &mut Scan) -> Result<(), ScanError> {
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, d) in defs.iter().enumerate() {
        if let Some(n) = d.fragment {
            // a second definition of a name is a parse error; count both
            by_name.entry(n).or_insert(i);
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark = vec![Mark::New; defs.len()];
    let mut cost = vec![0u64; defs.len()];
    let mut depth = vec![0usize; defs.len()];
    let mut roots = vec![0u64; defs.len()];
    let max_roots = u64::try_from(limits.max_root_fields).unwrap_or(u64::MAX);
    let cap = limits.max_expanded.saturating_add(1);
    let mut total = 0u64;
    // (definition, next spread to look at)
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..defs.len() {
        if mark[root] == Mark::New {
            mark[root] = Mark::Active;
            cost[root] = defs[root].own.min(cap);
            depth[root] = defs[root].levels;
            roots[root] = defs[root].roots;
            stack.push((root, 0));
        }
        while let Some(&(d, next)) = stack.last() {
            let Some(&(name, level, at_root)) = defs[d].spreads.get(next) else {
                mark[d] = Mark::Done;
                stack.pop();
                continue;
            };
            let advance = |stack: &mut Vec<(usize, usize)>| {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
            };
            let Some(&target) = by_name.get(name) else {
                // unknown fragment: a validation error, nothing to expand
                advance(&mut stack);
                continue;
            };
            match mark[target] {
                Mark::Active => return Err(ScanError::Cycle(name.to_owned())),
                Mark::New => {
                    mark[target] = Mark::Active;
                    cost[target] = defs[target].own.min(cap);
                    depth[target] = defs[target].levels;
                    roots[target] = defs[target].roots;
                    stack.push((target, 0));
                }
                Mark::Done => {
                    advance(&mut stack);
                    cost[d] = cost[d].saturating_add(cost[target]).min(cap);
                    if at_root {
                        // capped: only the comparison with the limit matters
                        roots[d] = roots[d].saturating_add(roots[target]).min(cap);
                    }
                    depth[d] = depth[d].max(level.saturating_add(depth[target]));
                    if depth[d] > limits.max_nesting {
                        return Err(ScanError::SpreadDepth(limits.max_nesting));
                    }
                }
            }
        }
        total = total.saturating_add(cost[root]);
        if total > limits.max_expanded {
            return Err(ScanError::Expanded(
                usize::try_from(limits.max_expanded).unwrap_or(usize::MAX),
            ));
        }
        if defs[root].fragment.is_none() && roots[root] > max_roots {
            return Err(ScanError::RootFields(limits.max_root_fields));
        }
    }
    out.expanded = total;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const L: ScanLimits = ScanLimits {
        max_nesting: 16,
        max_expanded: 1000,
        max_aliases: 1000,
        max_root_fields: 1000,
    };

    fn ok(q: &str) -> Scan {
        scan(q, L).unwrap_or_else(|e| panic!("{q}: {e:?}"))
    }

    /// The expansion count async-graphql's own walk would reach, for small
    /// valid documents (checked against the parsed document).
    fn reference(q: &str) -> u64 {
        use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
        fn set(doc: &ExecutableDocument, s: &SelectionSet) -> u64 {
            s.items
                .iter()
                .map(|i| {
                    1 + match &i.node {
                        Selection::Field(f) => set(doc, &f.node.selection_set.node),
                        Selection::InlineFragment(f) => set(doc, &f.node.selection_set.node),
                        Selection::FragmentSpread(f) => doc
                            .fragments
                            .get(&f.node.fragment_name.node)
                            .map_or(0, |f| set(doc, &f.node.selection_set.node)),
                    }
                })
                .sum()
        }
        let doc = async_graphql::parser::parse_query(q).unwrap();
        let ops: u64 = doc
            .operations
            .iter()
            .map(|(_, o)| set(&doc, &o.node.selection_set.node))
            .sum();
        let frags: u64 = doc
            .fragments
            .values()
            .map(|f| set(&doc, &f.node.selection_set.node))
            .sum();
        ops + frags
    }

    #[test]
    fn counts_match_the_parsed_document() {
        let docs = [
            "{ a }",
            "{ a b { c d } }",
            "{ x: a y: b(arg: {p: [1, 2, {q: \"}\"}]}) @skip(if: false) { c } }",
            "query Q($v: [[Int!]] = [[1]]) @d { a ...F ... on T { b } ... @d { c } }
             fragment F on T { d e { ...G } } fragment G on T { f }",
            "{ ...on } fragment on on T { a }",
            "{ ... on\tT { a } }",
            "fragmentF on T { a } { ...F ...F }",
            "mutation M { a } query Q { b { c } }",
            "{ a # { { {\n b(s: \"\"\" { \\\"\"\" [ \"\"\") }",
            "{ on: a on }",
        ];
        for q in docs {
            assert_eq!(ok(q).expanded, reference(q), "{q}");
        }
    }

    /// Root fields per operation (max) and aliases, as `check_document`
    /// counts them on the parsed document.
    fn reference_roots_aliases(q: &str) -> (usize, usize) {
        let doc = async_graphql::parser::parse_query(q).unwrap();
        let limits = |r: usize, a: usize| crate::graphql::LimitSettings {
            max_depth: 100,
            max_complexity: 100,
            max_aliases: a,
            max_root_fields: r,
            max_tokens: 100,
            max_document_bytes: 100,
            max_nesting: 100,
            max_expanded_fields: 100,
            batching: false,
            max_batch_size: 1,
        };
        let roots = (0..100)
            .find(|r| crate::graphql::limits::check_document(&limits(*r, 100), &doc).is_ok())
            .unwrap();
        let aliases = (0..100)
            .find(|a| crate::graphql::limits::check_document(&limits(100, *a), &doc).is_ok())
            .unwrap();
        (roots, aliases)
    }

    #[test]
    fn root_fields_and_aliases_match_the_parsed_document() {
        let docs = [
            "{ a }",
            "{ a b { c d } }",
            "{ x: a y: b(arg: {p: 1}) @skip(if: false) { c z: d } }",
            "query Q { a ...F ... on T { b c { d e } } ... @d { f } }
             fragment F on T { g h { i } ...G } fragment G on T { j: k }",
            "query A { a b } query B { ...F ...F } fragment F on T { c d e }",
            "{ ... on T { ... { ...F } } } fragment F on T { a ... on U { b } }",
        ];
        for q in docs {
            let (roots, aliases) = reference_roots_aliases(q);
            let at = |r: usize, a: usize| {
                scan(
                    q,
                    ScanLimits {
                        max_aliases: a,
                        max_root_fields: r,
                        ..L
                    },
                )
            };
            assert!(at(roots, aliases).is_ok(), "{q}: {roots} {aliases}");
            if roots > 0 {
                assert_eq!(
                    at(roots - 1, aliases),
                    Err(ScanError::RootFields(roots - 1)),
                    "{q}"
                );
            }
            if aliases > 0 {
                assert_eq!(
                    at(roots, aliases - 1),
                    Err(ScanError::Aliases(aliases - 1)),
                    "{q}"
                );
            }
        }
    }

    #[test]
    fn nesting_is_bounded_lexically() {
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(20), "]".repeat(20));
        assert_eq!(scan(&deep, L), Err(ScanError::Nesting(16)));
        let sets = format!("{}a{}", "{ a ".repeat(20), "}".repeat(20));
        assert_eq!(scan(&sets, L), Err(ScanError::Nesting(16)));
        // unbalanced garbage is bounded too
        assert_eq!(scan(&"[".repeat(100_000), L), Err(ScanError::Nesting(16)));
        // not in strings or comments
        let hidden = format!(
            "{{ a(s: \"{0}\", b: \"\"\"{0}\"\"\") # {0}\n }}",
            "[".repeat(50)
        );
        assert_eq!(ok(&hidden).nesting, 1);
        // a comment ends at a carriage return
        let cr = format!("{{ a # x\r{} }}", "[".repeat(50));
        assert_eq!(scan(&cr, L), Err(ScanError::Nesting(16)));
        // `\\` then `"""` in a block string is an escaped `"""`
        let esc = format!("{{ a(s: \"\"\" \\\"\"\" {} \"\"\") }}", "[".repeat(50));
        assert_eq!(ok(&esc).nesting, 1);
    }

    #[test]
    fn fan_out_is_refused_in_linear_time() {
        let mut q = String::from("query { ...F0 }");
        for i in 0..10 {
            q.push_str(&format!(" fragment F{i} on Query {{"));
            for _ in 0..20 {
                q.push_str(&format!(" ...F{}", i + 1));
            }
            q.push('}');
        }
        q.push_str(" fragment F10 on Query { __typename }");
        let started = std::time::Instant::now();
        let r = scan(&q, L);
        assert_eq!(r, Err(ScanError::Expanded(1000)));
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }

    #[test]
    fn spread_chains_count_as_nesting() {
        let mut q = String::from("{ ...F0 }");
        for i in 0..20 {
            q.push_str(&format!(" fragment F{i} on Q {{ ...F{} }}", i + 1));
        }
        q.push_str(" fragment F20 on Q { a }");
        assert_eq!(scan(&q, L), Err(ScanError::SpreadDepth(16)));
    }

    #[test]
    fn cycles_are_refused() {
        assert_eq!(
            scan(
                "{ ...A } fragment A on Q { ...B } fragment B on Q { x { ...A } }",
                L
            ),
            Err(ScanError::Cycle("A".into()))
        );
        assert_eq!(
            scan("fragment A on Q { ...A }", L),
            Err(ScanError::Cycle("A".into()))
        );
        // unknown fragments are left to validation
        assert_eq!(ok("{ ...Nope }").expanded, 1);
    }

    #[test]
    fn mutations_are_seen() {
        assert!(ok("mutation { a }").has_mutation);
        assert!(ok("mutationM { a }").has_mutation);
        assert!(!ok("query mutation { a }").has_mutation);
        assert!(!ok("{ mutation }").has_mutation);
    }
}
