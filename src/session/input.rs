//! Parse, don't validate: the inputs of the auth mutations.

use async_graphql::dynamic::ValueAccessor;

use crate::error::ApiError;
use crate::secret::Secret;

pub use crate::email::Email;

/// Parses a GraphQL e-mail argument with the one e-mail rule.
pub fn email_arg(v: Option<ValueAccessor<'_>>, field: &str) -> Result<Email, ApiError> {
    let raw = v
        .and_then(|v| v.string().ok())
        .ok_or_else(|| ApiError::bad_field(field, format!("`{field}` is required")))?;
    Email::parse(raw).map_err(|e| ApiError::bad_field(field, e.to_string()))
}

/// A password exactly as typed (no trimming, no case change), bounded in size.
pub struct Password(Secret);

impl Password {
    pub fn parse(raw: &str, max_chars: usize) -> Result<Password, &'static str> {
        if raw.is_empty() {
            return Err("a password is required");
        }
        // count lazily: an absurd input is refused without walking all of it
        if raw.len() > max_chars * 4 || raw.chars().nth(max_chars).is_some() {
            return Err("the password is too long");
        }
        Ok(Password(Secret::new(raw)))
    }

    pub fn parse_arg(
        v: Option<ValueAccessor<'_>>,
        field: &str,
        max_chars: usize,
    ) -> Result<Password, ApiError> {
        let raw = v
            .and_then(|v| v.string().ok())
            .ok_or_else(|| ApiError::bad_field(field, format!("`{field}` is required")))?;
        Password::parse(raw, max_chars).map_err(|m| ApiError::bad_field(field, m))
    }

    pub fn secret(&self) -> &Secret {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// An optional profile string, trimmed, at most `max` characters.
pub fn optional_text(
    v: Option<ValueAccessor<'_>>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    if v.is_null() {
        return Ok(None);
    }
    let s = v
        .string()
        .map_err(|_| ApiError::bad_field(field, "must be a string"))?
        .trim();
    if s.chars().count() > max {
        return Err(ApiError::bad_field(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

/// Auth0's `user_metadata` limits: at most 10 properties, names ≤ 100
/// characters, values strings ≤ 500 characters.
pub fn metadata(
    v: Option<ValueAccessor<'_>>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
    let field = "input.metadata";
    let Some(v) = v else { return Ok(None) };
    if v.is_null() {
        return Ok(None);
    }
    let json = v
        .as_value()
        .clone()
        .into_json()
        .map_err(|_| ApiError::bad_field(field, "must be an object of strings"))?;
    let serde_json::Value::Object(map) = json else {
        return Err(ApiError::bad_field(field, "must be an object of strings"));
    };
    if map.len() > 10 {
        return Err(ApiError::bad_field(field, "at most 10 properties"));
    }
    for (k, val) in &map {
        if k.is_empty() || k.chars().count() > 100 {
            return Err(ApiError::bad_field(
                field,
                "property names are 1 to 100 characters",
            ));
        }
        match val {
            serde_json::Value::String(s) if s.chars().count() <= 500 => {}
            serde_json::Value::String(_) => {
                return Err(ApiError::bad_field(
                    field,
                    format!("`{k}`: at most 500 characters"),
                ))
            }
            _ => {
                return Err(ApiError::bad_field(
                    field,
                    format!("`{k}` must be a string"),
                ))
            }
        }
    }
    Ok(Some(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_exactly() {
        let p = Password::parse("  Spaces Kept ÄÖ  ", 1024).unwrap();
        assert_eq!(p.secret().expose(), "  Spaces Kept ÄÖ  ");
        assert!(Password::parse(&"x".repeat(128), 128).is_ok());
        assert!(Password::parse(&"x".repeat(129), 128).is_err());
        assert!(Password::parse("", 128).is_err());
        assert_eq!(format!("{p:?}"), "Password([REDACTED])");
    }
}
