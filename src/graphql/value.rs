//! Building GraphQL values in resolvers.

use async_graphql::{Name, Value};

/// An object from `(field, value)` pairs.
pub fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (Name::new(k), v)).collect())
}

/// A list of strings.
pub fn strings(v: &[String]) -> Value {
    Value::List(v.iter().map(|s| Value::String(s.clone())).collect())
}
