//! `@authenticated`, `@requiresScopes`, `@requiresPermissions`, `@requiresRoles`:
//! the outer list is any-of, the inner list all-of (Apollo Router's semantics).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Value;
use async_graphql_parser::types::ConstDirective;
use async_graphql_parser::Positioned;

use crate::auth::Principal;
use crate::error::ApiError;

/// What one site (a field or a type) requires of the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirement {
    pub authenticated: bool,
    pub scopes: Vec<Vec<String>>,
    pub permissions: Vec<Vec<String>>,
    pub roles: Vec<Vec<String>>,
}

/// Reads the authorization directives among `directives`; `None` when there are none.
pub fn requirement(
    directives: &[Positioned<ConstDirective>],
) -> Result<Option<Requirement>, String> {
    let mut req = Requirement::default();
    let mut any = false;
    for d in directives {
        let (arg, slot) = match d.node.name.node.as_str() {
            "authenticated" => {
                req.authenticated = true;
                any = true;
                continue;
            }
            "requiresScopes" => ("scopes", &mut req.scopes),
            "requiresPermissions" => ("permissions", &mut req.permissions),
            "requiresRoles" => ("roles", &mut req.roles),
            _ => continue,
        };
        any = true;
        req.authenticated = true;
        let value = d
            .node
            .get_argument(arg)
            .ok_or_else(|| format!("@{} needs `{arg}: [[String!]!]!`", d.node.name.node))?;
        *slot = nested_strings(&value.node).ok_or_else(|| {
            format!(
                "@{}({arg}:) must be a list of lists of strings, e.g. [[\"read:orders\"]]",
                d.node.name.node
            )
        })?;
        if slot.is_empty() || slot.iter().any(Vec::is_empty) {
            return Err(format!("@{}({arg}:) must not be empty", d.node.name.node));
        }
    }
    Ok(any.then_some(req))
}

fn nested_strings(v: &Value) -> Option<Vec<Vec<String>>> {
    let Value::List(outer) = v else { return None };
    outer
        .iter()
        .map(|inner| match inner {
            Value::List(items) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            // a single string is accepted as a one-element all-of list
            Value::String(s) => Some(vec![s.clone()]),
            _ => None,
        })
        .collect()
}

fn satisfied(required: &[Vec<String>], held: &[String]) -> bool {
    required.is_empty()
        || required
            .iter()
            .any(|all| all.iter().all(|r| held.iter().any(|h| h == r)))
}

fn describe(kind: &str, required: &[Vec<String>]) -> String {
    let alternatives: Vec<String> = required.iter().map(|all| all.join(" and ")).collect();
    format!(
        "this field requires the {kind} {}",
        alternatives.join(" or ")
    )
}

impl Requirement {
    /// `UNAUTHENTICATED` for an anonymous caller (with the reason its token was
    /// refused), `FORBIDDEN` for a user without the grant.
    pub fn check(&self, principal: &Principal) -> Result<(), ApiError> {
        let user = match principal {
            Principal::User(u) => u,
            Principal::Anonymous { rejection } => {
                return if self.authenticated {
                    Err(ApiError::Unauthenticated(*rejection))
                } else {
                    Ok(())
                }
            }
        };
        if !satisfied(&self.scopes, &user.scopes) {
            return Err(ApiError::Forbidden(describe("scope", &self.scopes)));
        }
        if !satisfied(&self.permissions, &user.permissions) {
            return Err(ApiError::Forbidden(describe(
                "permission",
                &self.permissions,
            )));
        }
        if !satisfied(&self.roles, &user.roles) {
            return Err(ApiError::Forbidden(describe("role", &self.roles)));
        }
        Ok(())
    }
}

/// Authorization directives; on any other place than a type or a field
/// they would be ignored, so the schema refuses them there.
pub const DIRECTIVES: &[&str] = &[
    "authenticated",
    "requiresScopes",
    "requiresPermissions",
    "requiresRoles",
];

/// One field of the index: what it requires and the type it returns.
#[derive(Debug, Clone)]
pub struct IndexedField {
    /// All of these must hold (the field's, its type's, its return type's,
    /// and those of the interface fields it implements).
    pub requirements: Arc<Vec<Requirement>>,
    /// The named type at the bottom of the field's type.
    pub type_name: String,
}

/// What every field of the schema requires, and which object types each
/// interface or union stands for. A datasource that forwards a selection
/// decides it with this before its upstream call, with the same rules the
/// field guards apply to the answer.
#[derive(Debug, Default)]
pub struct AuthzIndex {
    fields: HashMap<String, HashMap<String, IndexedField>>,
    possible: HashMap<String, Vec<String>>,
}

impl AuthzIndex {
    pub fn insert_field(&mut self, type_name: &str, field: &str, f: IndexedField) {
        self.fields
            .entry(type_name.to_owned())
            .or_default()
            .insert(field.to_owned(), f);
    }

    /// `type_name` stands for `objects` (an object type stands for itself).
    pub fn insert_possible(&mut self, type_name: &str, objects: Vec<String>) {
        self.possible.insert(type_name.to_owned(), objects);
    }

    pub fn field(&self, type_name: &str, field: &str) -> Option<&IndexedField> {
        self.fields.get(type_name)?.get(field)
    }

    /// The object types a value of `type_name` may be; none for an unknown type.
    pub fn possible_types(&self, type_name: &str) -> &[String] {
        self.possible.get(type_name).map_or(&[], Vec::as_slice)
    }

    /// Whether `principal` may read `field` on the object type `object`; an
    /// unknown field is refused.
    pub fn allows(&self, object: &str, field: &str, principal: &Principal) -> bool {
        self.field(object, field)
            .is_some_and(|f| f.requirements.iter().all(|r| r.check(principal).is_ok()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::{Rejection, User};
    use crate::secret::Secret;

    fn user(perms: &[&str]) -> Principal {
        Principal::User(Arc::new(User {
            subject: "auth0|1".into(),
            scopes: vec!["openid".into()],
            permissions: perms.iter().map(|s| s.to_string()).collect(),
            roles: vec!["admin".into()],
            claims: Default::default(),
            expires_at: 0,
            token_id: "x".into(),
            token: Secret::new("t"),
        }))
    }

    fn req(perms: &[&[&str]]) -> Requirement {
        Requirement {
            authenticated: true,
            permissions: perms
                .iter()
                .map(|a| a.iter().map(|s| s.to_string()).collect())
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn any_of_all_of() {
        let r = req(&[&["a", "b"], &["c"]]);
        assert!(r.check(&user(&["a", "b"])).is_ok());
        assert!(r.check(&user(&["c"])).is_ok());
        assert!(matches!(
            r.check(&user(&["a"])),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn anonymous_keeps_its_reason() {
        let r = req(&[&["a"]]);
        match r.check(&Principal::rejected(Rejection::Expired)) {
            Err(ApiError::Unauthenticated(Some(Rejection::Expired))) => {}
            other => panic!("{other:?}"),
        }
        assert!(Requirement::default()
            .check(&Principal::anonymous())
            .is_ok());
    }

    #[test]
    fn the_index_refuses_unknown_fields_and_types() {
        let mut index = AuthzIndex::default();
        index.insert_field(
            "Book",
            "price",
            IndexedField {
                requirements: Arc::new(vec![req(&[&["read:books"]])]),
                type_name: "Float".into(),
            },
        );
        index.insert_field(
            "Book",
            "id",
            IndexedField {
                requirements: Arc::new(Vec::new()),
                type_name: "ID".into(),
            },
        );
        index.insert_possible("Book", vec!["Book".into()]);
        assert!(index.allows("Book", "id", &Principal::anonymous()));
        assert!(!index.allows("Book", "price", &user(&["read:orders"])));
        assert!(index.allows("Book", "price", &user(&["read:books"])));
        assert!(!index.allows("Book", "title", &user(&["read:books"])));
        assert!(!index.allows("Pen", "id", &user(&["read:books"])));
        assert!(index.possible_types("Pen").is_empty());
        assert_eq!(index.possible_types("Book"), ["Book".to_owned()]);
    }

    #[test]
    fn roles_and_scopes() {
        let r = Requirement {
            authenticated: true,
            roles: vec![vec!["admin".into()]],
            scopes: vec![vec!["openid".into()]],
            ..Default::default()
        };
        assert!(r.check(&user(&[])).is_ok());
        let r = Requirement {
            authenticated: true,
            roles: vec![vec!["root".into()]],
            ..Default::default()
        };
        assert!(r.check(&user(&[])).is_err());
    }
}
