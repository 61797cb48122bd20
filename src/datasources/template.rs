//! `{args.id}`, `{parent.customerId}`, `{claims.sub}` templates: checked at
//! start-up against the field, rendered per call with every value encoded
//! for where it goes.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value as Json;

use super::error::DatasourceError;

/// Bytes left as they are in a path segment: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Namespace {
    Args,
    Parent,
    Claims,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Var {
    pub ns: Namespace,
    pub path: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// What a template may refer to (from the field's declaration).
pub(crate) struct Scope<'a> {
    pub args: &'a [String],
    pub parent: bool,
}

/// The values a template is rendered with.
pub(crate) struct Values<'a> {
    pub args: &'a Json,
    pub parent: &'a Json,
    /// `None` for an anonymous caller
    pub claims: Option<&'a Json>,
}

impl Values<'_> {
    pub fn lookup(&self, v: &Var) -> Result<Option<&Json>, DatasourceError> {
        let root = match v.ns {
            Namespace::Args => self.args,
            Namespace::Parent => self.parent,
            Namespace::Claims => match self.claims {
                Some(c) => c,
                None => return Err(DatasourceError::Unauthenticated),
            },
        };
        Ok(dig(root, v.path.iter().map(String::as_str)).filter(|j| !j.is_null()))
    }
}

/// Follows a dotted path into JSON.
pub(crate) fn dig<'j, 's>(
    mut j: &'j Json,
    path: impl IntoIterator<Item = &'s str>,
) -> Option<&'j Json> {
    for p in path {
        j = match j {
            Json::Object(m) => m.get(p)?,
            Json::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(j)
}

pub(crate) fn parse_var(text: &str, scope: &Scope<'_>) -> Result<Var, String> {
    let mut it = text.split('.');
    let ns = match it.next() {
        Some("args") => Namespace::Args,
        Some("parent") => Namespace::Parent,
        Some("claims") => Namespace::Claims,
        _ => {
            return Err(format!(
                "unknown template variable `{{{text}}}`: use {{args.NAME}}, {{parent.FIELD}} or {{claims.NAME}}"
            ))
        }
    };
    let path: Vec<String> = it.map(str::to_owned).collect();
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(format!("template variable `{{{text}}}` names nothing"));
    }
    match ns {
        Namespace::Args if !scope.args.contains(&path[0]) => {
            return Err(format!(
                "unknown template variable `{{{text}}}`: the field has no argument `{}`{}",
                path[0],
                if scope.args.is_empty() {
                    String::new()
                } else {
                    format!(" (it has: {})", scope.args.join(", "))
                }
            ))
        }
        Namespace::Parent if !scope.parent => {
            return Err(format!(
                "template variable `{{{text}}}`: a root field has no parent"
            ))
        }
        _ => {}
    }
    Ok(Var { ns, path })
}

/// A parsed template.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str, scope: &Scope<'_>) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("`}}` without `{{` in `{text}`"));
            }
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in `{text}`"))?;
            let inner = after[..close].trim();
            if inner.contains('{') {
                return Err(format!("nested `{{` in `{text}`"));
            }
            parts.push(Part::Var(parse_var(inner, scope)?));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    /// Whether a variable of this template reads from `ns`.
    pub fn uses(&self, ns: Namespace) -> bool {
        self.vars().any(|v| v.ns == ns)
    }

    /// The single variable, when the template is exactly `{…}`.
    pub fn only_var(&self) -> Option<&Var> {
        match self.parts.as_slice() {
            [Part::Var(v)] => Some(v),
            _ => None,
        }
    }

    /// The text, each value as it is (`None` when a value is missing: the
    /// caller omits the query pair or header).
    pub fn render(&self, values: &Values<'_>) -> Result<Option<String>, DatasourceError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => match values.lookup(v)? {
                    Some(j) => out.push_str(&scalar_text(j, v)?),
                    None => return Ok(None),
                },
            }
        }
        Ok(Some(out))
    }

    /// A path: each value percent-encoded as one segment; a missing value,
    /// or a segment that would be `.` or `..`, is refused.
    pub fn render_path(&self, values: &Values<'_>) -> Result<String, DatasourceError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => {
                    let j = values.lookup(v)?.ok_or_else(|| {
                        DatasourceError::BadValue(format!("`{}` is required", var_name(v)))
                    })?;
                    let text = scalar_text(j, v)?;
                    if text.is_empty() {
                        return Err(DatasourceError::BadValue(format!(
                            "`{}` must not be empty",
                            var_name(v)
                        )));
                    }
                    out.extend(utf8_percent_encode(&text, SEGMENT));
                }
            }
        }
        if out.split('/').any(|seg| {
            seg == "."
                || seg == ".."
                || seg.eq_ignore_ascii_case("%2e")
                || seg.eq_ignore_ascii_case("%2e%2e")
        }) {
            return Err(DatasourceError::BadValue(
                "a value cannot be `.` or `..` in a path".into(),
            ));
        }
        Ok(out)
    }
}

fn var_name(v: &Var) -> String {
    let ns = match v.ns {
        Namespace::Args => "args",
        Namespace::Parent => "parent",
        Namespace::Claims => "claims",
    };
    format!("{ns}.{}", v.path.join("."))
}

/// A JSON value as text: strings as they are, numbers and booleans printed,
/// lists comma-separated; objects are refused.
pub(crate) fn scalar_text(j: &Json, v: &Var) -> Result<String, DatasourceError> {
    match j {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        Json::Bool(b) => Ok(b.to_string()),
        Json::Null => Ok(String::new()),
        Json::Array(items) => items
            .iter()
            .map(|i| match i {
                Json::Array(_) | Json::Object(_) => Err(()),
                other => scalar_text(other, v).map_err(|_| ()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(","))
            .map_err(|()| DatasourceError::BadValue(format!("`{}` is not a scalar", var_name(v)))),
        Json::Object(_) => Err(DatasourceError::BadValue(format!(
            "`{}` is an object, not a scalar",
            var_name(v)
        ))),
    }
}

/// A JSON body template: `"$args"`, `"$args.NAME"`, or JSON whose string
/// leaves are templates (a leaf that is exactly `{…}` keeps the value's type).
#[derive(Clone, Debug)]
pub(crate) enum BodyTemplate {
    Args(Vec<String>),
    Json(Json),
    Text(Template),
    Var(Var),
    Object(Vec<(String, BodyTemplate)>),
    List(Vec<BodyTemplate>),
}

impl BodyTemplate {
    pub fn parse(j: &Json, scope: &Scope<'_>) -> Result<Self, String> {
        Ok(match j {
            Json::String(s) if s == "$args" => BodyTemplate::Args(Vec::new()),
            Json::String(s) if s.starts_with("$args.") => {
                let path: Vec<String> = s["$args.".len()..].split('.').map(str::to_owned).collect();
                parse_var(&format!("args.{}", path.join(".")), scope)?;
                BodyTemplate::Args(path)
            }
            Json::String(s) => {
                let t = Template::parse(s, scope)?;
                match t.only_var() {
                    Some(v) => BodyTemplate::Var(v.clone()),
                    None if t.vars().next().is_none() => BodyTemplate::Json(j.clone()),
                    None => BodyTemplate::Text(t),
                }
            }
            Json::Object(m) => BodyTemplate::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), BodyTemplate::parse(v, scope)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Json::Array(a) => BodyTemplate::List(
                a.iter()
                    .map(|v| BodyTemplate::parse(v, scope))
                    .collect::<Result<_, String>>()?,
            ),
            other => BodyTemplate::Json(other.clone()),
        })
    }

    /// Whether any part of this body reads from `ns`.
    pub fn uses(&self, ns: Namespace) -> bool {
        match self {
            BodyTemplate::Args(_) => ns == Namespace::Args,
            BodyTemplate::Json(_) => false,
            BodyTemplate::Text(t) => t.uses(ns),
            BodyTemplate::Var(v) => v.ns == ns,
            BodyTemplate::Object(fields) => fields.iter().any(|(_, t)| t.uses(ns)),
            BodyTemplate::List(items) => items.iter().any(|t| t.uses(ns)),
        }
    }

    pub fn render(&self, values: &Values<'_>) -> Result<Json, DatasourceError> {
        Ok(match self {
            BodyTemplate::Args(path) => dig(values.args, path.iter().map(String::as_str))
                .cloned()
                .unwrap_or(Json::Null),
            BodyTemplate::Json(j) => j.clone(),
            BodyTemplate::Var(v) => values.lookup(v)?.cloned().unwrap_or(Json::Null),
            BodyTemplate::Text(t) => t.render(values)?.map_or(Json::Null, Json::String),
            BodyTemplate::Object(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), t.render(values)?)))
                    .collect::<Result<_, DatasourceError>>()?,
            ),
            BodyTemplate::List(items) => Json::Array(
                items
                    .iter()
                    .map(|t| t.render(values))
                    .collect::<Result<_, DatasourceError>>()?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(args: &[&str], parent: bool) -> (Vec<String>, bool) {
        (args.iter().map(|s| s.to_string()).collect(), parent)
    }

    #[test]
    fn parse_checks_variables() {
        let (a, p) = scope(&["id"], false);
        let s = Scope {
            args: &a,
            parent: p,
        };
        assert!(Template::parse("/orders/{args.id}", &s).is_ok());
        let e = Template::parse("/orders/{args.nope}", &s).unwrap_err();
        assert!(e.contains("no argument `nope`"), "{e}");
        assert!(Template::parse("/x/{parent.id}", &s)
            .unwrap_err()
            .contains("no parent"));
        assert!(Template::parse("/x/{user.id}", &s)
            .unwrap_err()
            .contains("unknown template variable"));
        assert!(Template::parse("/x/{args.id", &s)
            .unwrap_err()
            .contains("unclosed"));
        assert!(Template::parse("/x/}", &s).is_err());
    }

    #[test]
    fn path_values_are_one_encoded_segment() {
        let (a, p) = scope(&["id"], true);
        let s = Scope {
            args: &a,
            parent: p,
        };
        let t = Template::parse("/orders/{args.id}/items", &s).unwrap();
        let render = |id: Json| {
            let args = json!({ "id": id });
            t.render_path(&Values {
                args: &args,
                parent: &Json::Null,
                claims: None,
            })
        };
        assert_eq!(
            render(json!("../admin?x=1#f")).unwrap(),
            "/orders/..%2Fadmin%3Fx%3D1%23f/items"
        );
        assert_eq!(
            render(json!("a b/é")).unwrap(),
            "/orders/a%20b%2F%C3%A9/items"
        );
        assert_eq!(render(json!(42)).unwrap(), "/orders/42/items");
        assert!(render(json!("..")).is_err());
        assert!(render(json!(".")).is_err());
        assert!(render(json!("")).is_err());
        assert!(render(Json::Null).is_err());
        assert!(render(json!({"a": 1})).is_err());
    }

    #[test]
    fn claims_need_a_caller() {
        let s = Scope {
            args: &[],
            parent: false,
        };
        let t = Template::parse("/users/{claims.sub}", &s).unwrap();
        let none = Values {
            args: &Json::Null,
            parent: &Json::Null,
            claims: None,
        };
        assert!(matches!(
            t.render_path(&none),
            Err(DatasourceError::Unauthenticated)
        ));
        let c = json!({"sub": "auth0|42"});
        let some = Values {
            args: &Json::Null,
            parent: &Json::Null,
            claims: Some(&c),
        };
        assert_eq!(t.render_path(&some).unwrap(), "/users/auth0%7C42");
    }

    #[test]
    fn body_templates_keep_types() {
        let (a, p) = scope(&["input", "n"], false);
        let s = Scope {
            args: &a,
            parent: p,
        };
        let args = json!({"input": {"sku": "A1", "quantity": 3}, "n": 7});
        let v = Values {
            args: &args,
            parent: &Json::Null,
            claims: None,
        };
        let t = BodyTemplate::parse(&json!("$args.input"), &s).unwrap();
        assert_eq!(t.render(&v).unwrap(), json!({"sku": "A1", "quantity": 3}));
        let t = BodyTemplate::parse(
            &json!({"count": "{args.n}", "label": "n={args.n}", "fixed": true}),
            &s,
        )
        .unwrap();
        assert_eq!(
            t.render(&v).unwrap(),
            json!({"count": 7, "label": "n=7", "fixed": true})
        );
        assert!(BodyTemplate::parse(&json!("$args.other"), &s).is_err());
    }
}
