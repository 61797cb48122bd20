//! Snapshot tests (insta) of what clients and operators read: the JSON
//! error bodies of the error contract, and `check-config`'s output.
//!
//! A change to a snapshot is a change to the contract: review it with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test --test api
//! contract::` and `git diff`), and commit the `.snap` files with the code.
//! Values that differ from run to run (ports, request ids, tokens,
//! temporary paths) are redacted before the comparison.

mod check_config;
mod errors;

use serde_json::Value;

/// Keys whose values differ from run to run.
const REDACTED_KEYS: &[&str] = &["requestId", "mfaToken", "session", "traceId"];

/// `value` with run-dependent values replaced by a placeholder.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if REDACTED_KEYS.contains(&k.as_str()) && !v.is_null() {
                        Value::String(format!("[{k}]"))
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        Value::String(s) => Value::String(redact_text(s)),
        other => other.clone(),
    }
}

/// `text` with every `127.0.0.1:PORT` (port 0 picks one) made `127.0.0.1:[port]`.
pub fn redact_text(text: &str) -> String {
    let needle = "127.0.0.1:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(needle) {
        out.push_str(&rest[..i + needle.len()]);
        rest = &rest[i + needle.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str("[port]");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}
