//! JSON read strictly, in one pass: a duplicate key anywhere is refused
//! (never "last wins": a harmless `query` cannot be followed by another that
//! is the one executed, a token cannot say `alg` twice), and nesting is
//! bounded by our own limit before serde_json's (128) or any recursive
//! conversion downstream. Used for request bodies and for a token's JOSE
//! header and claims: one rule for both.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// How deep a value may still nest, and which levels are free: the batch
/// array and the request object itself do not count, so `variables` and
/// `extensions` get the same budget in a single request and in a batch.
#[derive(Clone, Copy)]
struct Strict {
    left: usize,
    free_array: bool,
    free_object: bool,
}

impl Strict {
    /// The level inside a container of this seed, or an error when the
    /// budget is spent.
    fn enter<E: de::Error>(self, is_array: bool) -> Result<Strict, E> {
        if (is_array && self.free_array) || (!is_array && self.free_object) {
            // a batch holds request objects; a request object holds values
            return Ok(Strict {
                left: self.left,
                free_array: false,
                free_object: is_array,
            });
        }
        if self.left == 0 {
            return Err(E::custom("the request nests too deeply"));
        }
        Ok(Strict {
            left: self.left - 1,
            free_array: false,
            free_object: false,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity: serde_json never produces them
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter(true)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.enter(false)?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    shorten(&key)
                )));
            }
            let v = map.next_value_seed(inner)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A key as quoted back to the client: at most 40 characters.
fn shorten(key: &str) -> String {
    match key.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &key[..i]),
        None => key.to_owned(),
    }
}

fn parse(text: &str, seed: Strict) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// A request body: one request object or a batch of them, whose values
/// (`variables`, `extensions`) nest at most `max_nesting` levels.
pub(crate) fn body(text: &str, max_nesting: usize) -> Result<Value, serde_json::Error> {
    parse(
        text,
        Strict {
            left: max_nesting,
            free_array: true,
            free_object: true,
        },
    )
}

/// A value on its own (a GET request's `variables` or `extensions`),
/// nesting at most `max_nesting` levels, itself included.
pub(crate) fn value(text: &str, max_nesting: usize) -> Result<Value, serde_json::Error> {
    parse(
        text,
        Strict {
            left: max_nesting,
            free_array: false,
            free_object: false,
        },
    )
}

/// The same as [`value`], from bytes (a decoded token segment).
pub(crate) fn value_slice(bytes: &[u8], max_nesting: usize) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Strict {
        left: max_nesting,
        free_array: false,
        free_object: false,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_json_reads_as_serde_json_does() {
        let t = r#"{"query":"{ a }","variables":{"x":[1,-2,3.5,"s",null,true,{"y":{}}]},"extensions":null}"#;
        assert_eq!(
            body(t, 8).unwrap(),
            serde_json::from_str::<Value>(t).unwrap()
        );
        let batch = format!("[{t},{t}]");
        assert_eq!(
            body(&batch, 8).unwrap(),
            serde_json::from_str::<Value>(&batch).unwrap()
        );
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for t in [
            r#"{"query":"{ a }","query":"mutation { b }"}"#,
            r#"{"query":"{ a }","variables":{"x":1,"x":2}}"#,
            r#"{"query":"{ a }","extensions":{"e":{"k":1,"k":1}}}"#,
            r#"[{"query":"{ a }"},{"query":"{ a }","operationName":"A","operationName":"B"}]"#,
            // the same key, spelt with an escape
            r#"{"query":"{ a }","qu\u0065ry":"{ b }"}"#,
        ] {
            let e = body(t, 8).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{t}: {e}");
        }
        assert!(value(r#"{"a":{"b":1,"b":2}}"#, 8).is_err());
    }

    #[test]
    fn nesting_is_bounded_by_our_limit() {
        let vars = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        // `variables` itself is one level
        let ok = format!(r#"{{"query":"q","variables":{{"v":{}}}}}"#, vars(3));
        assert!(body(&ok, 4).is_ok());
        let deep = format!(r#"{{"query":"q","variables":{{"v":{}}}}}"#, vars(4));
        assert!(body(&deep, 4)
            .unwrap_err()
            .to_string()
            .contains("nests too deeply"));
        // the same budget inside a batch
        assert!(body(&format!("[{ok}]"), 4).is_ok());
        assert!(body(&format!("[{deep}]"), 4).is_err());
        // far beyond serde_json's own limit: our error, no recursion
        let huge = "[".repeat(100_000);
        assert!(body(&huge, 64)
            .unwrap_err()
            .to_string()
            .contains("nests too deeply"));
        assert!(value(&vars(5), 4).is_err());
        assert_eq!(value(&vars(4), 4).unwrap(), json!([[[[1]]]]));
    }

    #[test]
    fn long_keys_are_shortened_in_the_message() {
        let k = "k".repeat(500);
        let t = format!(r#"{{"{k}":1,"{k}":2}}"#);
        let e = value(&t, 4).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }
}
