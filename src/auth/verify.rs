//! Token verification: cheap structural checks first, then the signature
//! (jsonwebtoken, every check set explicitly), then our own claim checks.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::jwks::{Key, MAX_KID_LEN};

/// A header segment longer than this is refused before decoding.
const MAX_HEADER_B64: usize = 1024;
/// Header parameters that point at (or embed) a key. Never followed: tokens
/// carrying them are refused outright.
const KEY_POINTERS: &[&str] = &["jku", "x5u", "jwk", "x5c"];

/// Why a token was not accepted. Never carries the token or a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Well formed and correctly signed, but `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// Anything else: malformed, bad signature, wrong issuer, audience or algorithm…
    /// The reason is a fixed string, for logs.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// No signing key is loaded, so the token could not be checked.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// `guard.client_id` is not set, so ID tokens cannot be verified.
    #[error("guard.client_id is not configured")]
    NotConfigured,
}

impl VerifyError {
    /// A verdict that cannot change for the same token (safe to remember).
    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            VerifyError::Expired
                | VerifyError::Invalid(BAD_SIGNATURE)
                | VerifyError::Invalid(BAD_ISSUER)
                | VerifyError::Invalid(BAD_AUDIENCE)
                | VerifyError::Invalid(AMBIGUOUS_HEADER)
                | VerifyError::Invalid(AMBIGUOUS_CLAIMS)
                | VerifyError::Invalid(BAD_CLAIM_TYPE)
        )
    }
}

const BAD_SIGNATURE: &str = "signature does not verify";
const AMBIGUOUS_HEADER: &str = "header is not a JSON object with unique members";
const AMBIGUOUS_CLAIMS: &str = "claims are not a JSON object with unique members";
const BAD_CLAIM_TYPE: &str = "a claim has the wrong JSON type";
const BAD_ISSUER: &str = "wrong issuer";
const BAD_AUDIENCE: &str = "wrong audience";

/// What a token must be for.
#[derive(Clone, Copy)]
pub(crate) enum Purpose<'a> {
    /// an access token for `audience`
    Access { audience: &'a str },
    /// an ID token for `client_id`
    Id { client_id: &'a str },
}

/// The fixed expectations, built once from the settings.
pub(crate) struct Expect {
    pub(crate) issuer: String,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) leeway: u64,
    pub(crate) max_token_bytes: usize,
    /// the namespaced roles claim (an array of strings when present)
    pub(crate) roles_claim: String,
}

/// The result of the structural checks.
#[derive(Debug)]
pub(crate) struct Pre {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

/// The cheapest checks, before the token is even hashed: size, alphabet,
/// three non-empty segments. Returns the segments.
pub(crate) fn shape(token: &str, max_bytes: usize) -> Result<(&str, &str, &str), VerifyError> {
    if token.is_empty() {
        return Err(VerifyError::Invalid("empty"));
    }
    if token.len() > max_bytes {
        return Err(VerifyError::Invalid("too large"));
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(VerifyError::Invalid("characters outside base64url"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Invalid("not three segments (opaque token?)"));
    };
    if header.is_empty() || payload.is_empty() || sig.is_empty() {
        return Err(VerifyError::Invalid("empty segment"));
    }
    Ok((header, payload, sig))
}

/// Structural checks that need no key: size, alphabet, three segments, a
/// JSON header with an allowed `alg`, no key pointers, no `crit`.
pub(crate) fn precheck(token: &str, expect: &Expect) -> Result<Pre, VerifyError> {
    let (header, _payload, _sig) = shape(token, expect.max_token_bytes)?;
    if header.len() > MAX_HEADER_B64 {
        return Err(VerifyError::Invalid("header too large"));
    }
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| VerifyError::Invalid("header is not base64url"))?;
    let header = strict_object(&header).ok_or(VerifyError::Invalid(AMBIGUOUS_HEADER))?;
    if KEY_POINTERS.iter().any(|k| header.contains_key(*k)) {
        return Err(VerifyError::Invalid(
            "header points at a key (jku/x5u/jwk/x5c)",
        ));
    }
    if header.contains_key("crit") {
        return Err(VerifyError::Invalid("critical header extension"));
    }
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a
            .parse::<Algorithm>()
            .ok()
            .filter(|a| expect.algorithms.contains(a))
            .ok_or(VerifyError::Invalid("algorithm not allowed"))?,
        _ => return Err(VerifyError::Invalid("missing alg")),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(t))
            if ["JWT", "at+jwt", "application/at+jwt"]
                .iter()
                .any(|ok| t.eq_ignore_ascii_case(ok)) => {}
        Some(_) => return Err(VerifyError::Invalid("typ is not JWT or at+jwt")),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => Some(k.clone()),
        Some(_) => return Err(VerifyError::Invalid("bad kid")),
    };
    Ok(Pre { alg, kid })
}

/// Verify the signature with `key` and check every claim. On success,
/// returns the claims and `exp`.
pub(crate) fn verify(
    token: &str,
    pre: &Pre,
    key: &Key,
    expect: &Expect,
    purpose: Purpose<'_>,
) -> Result<(Map<String, Value>, u64), VerifyError> {
    if key.alg.is_some_and(|declared| declared != pre.alg) {
        return Err(VerifyError::Invalid("alg differs from the key's alg"));
    }
    // Only the signature is jsonwebtoken's job here; every claim is checked
    // once, by `check_claims` (jsonwebtoken's `decode` would parse the header
    // again and the claims twice, which was most of the cost over the raw
    // RSA check). Its defaults were never relied on.
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or(VerifyError::Invalid("malformed token"))?;
    match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.decoding, pre.alg) {
        Ok(true) => {}
        Ok(false) => return Err(VerifyError::Invalid(BAD_SIGNATURE)),
        Err(e) => {
            return Err(match e.kind() {
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    VerifyError::Invalid("algorithm not allowed")
                }
                _ => VerifyError::Invalid(BAD_SIGNATURE),
            })
        }
    }
    // the signature is good: the token is authentic
    let claims = payload_claims(token)?;
    let exp = check_claims(&claims, expect, purpose, now(), true)?;
    Ok((claims, exp))
}

fn payload_claims(token: &str) -> Result<Map<String, Value>, VerifyError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or(VerifyError::Invalid("malformed token"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| VerifyError::Invalid("malformed token"))?;
    strict_object(&bytes).ok_or(VerifyError::Invalid(AMBIGUOUS_CLAIMS))
}

/// How deep a token's header or claims may nest (custom claims are objects,
/// never deeper than a few levels).
const MAX_CLAIMS_NESTING: usize = 32;

/// A JSON object whose objects (at every level) name each member once. A
/// token whose header or claims say `"alg"` or `"sub"` twice means two
/// things to two parsers; the boundary refuses it rather than take the last
/// (RFC 7515 §4 and RFC 7519 §4 allow refusing). One pass over the decoded
/// segment (see `strict_json`), nesting bounded; the segment itself by
/// `max_token_bytes`.
fn strict_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match crate::strict_json::value_slice(bytes, MAX_CLAIMS_NESTING) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The JSON types of the registered claims (and of those the guard reads):
/// a claim of the wrong type makes the token invalid rather than being
/// skipped or read another way.
fn check_types(c: &Map<String, Value>, roles_claim: &str) -> Result<(), VerifyError> {
    let bad = Err(VerifyError::Invalid(BAD_CLAIM_TYPE));
    for name in [
        "iss",
        "sub",
        "azp",
        "jti",
        "scope",
        "gty",
        "client_id",
        "nonce",
    ] {
        if c.get(name).is_some_and(|v| !v.is_string()) {
            return bad;
        }
    }
    match c.get("aud") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {}
        Some(_) => return bad,
    }
    for name in ["permissions", roles_claim] {
        match c.get(name) {
            None | Some(Value::String(_)) => {}
            Some(Value::Array(list)) if list.iter().all(Value::is_string) => {}
            Some(_) => return bad,
        }
    }
    Ok(())
}

/// Our own checks, independent of jsonwebtoken's (defence in depth, and
/// the ones it lacks: `iat`, numeric types, ID-token shape). Expiry is
/// checked last so that `Expired` means "otherwise valid".
fn check_claims(
    c: &Map<String, Value>,
    expect: &Expect,
    purpose: Purpose<'_>,
    now: u64,
    check_exp: bool,
) -> Result<u64, VerifyError> {
    let leeway = expect.leeway;
    check_types(c, &expect.roles_claim)?;
    if c.get("iss").and_then(Value::as_str) != Some(expect.issuer.as_str()) {
        return Err(VerifyError::Invalid(BAD_ISSUER));
    }
    match c.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Err(VerifyError::Invalid("missing sub")),
    }
    match purpose {
        Purpose::Access { audience } => {
            let ok = match c.get("aud") {
                Some(Value::String(a)) => a == audience,
                Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !ok {
                return Err(VerifyError::Invalid(BAD_AUDIENCE));
            }
        }
        Purpose::Id { client_id } => {
            let ok = match c.get("aud") {
                Some(Value::String(a)) => a == client_id,
                // OIDC core 3.1.3.7: with several audiences, azp must be us.
                Some(Value::Array(list)) => {
                    list.iter().any(|a| a.as_str() == Some(client_id))
                        && (list.len() == 1
                            || c.get("azp").and_then(Value::as_str) == Some(client_id))
                }
                _ => false,
            };
            if !ok {
                return Err(VerifyError::Invalid(BAD_AUDIENCE));
            }
        }
    }
    let exp = numeric(c, "exp")?.ok_or(VerifyError::Invalid("missing exp"))?;
    if let Some(nbf) = numeric(c, "nbf")? {
        if nbf > now.saturating_add(leeway) {
            return Err(VerifyError::Invalid("not yet valid (nbf)"));
        }
    }
    if let Some(iat) = numeric(c, "iat")? {
        if iat > now.saturating_add(leeway) {
            return Err(VerifyError::Invalid("issued in the future (iat)"));
        }
    }
    if check_exp && exp.saturating_add(leeway) < now {
        return Err(VerifyError::Expired);
    }
    Ok(exp)
}

/// A NumericDate claim: absent, or a non-negative number. A string is refused.
fn numeric(c: &Map<String, Value>, name: &str) -> Result<Option<u64>, VerifyError> {
    match c.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(VerifyError::Invalid("malformed claim")),
        },
        Some(_) => Err(VerifyError::Invalid("malformed claim")),
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            issuer: "https://t/".into(),
            algorithms: vec![Algorithm::RS256],
            leeway: 30,
            max_token_bytes: 8192,
            roles_claim: "https://t/roles".into(),
        }
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn precheck_reads_alg_and_kid() {
        let t = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#),
            b64("{}")
        );
        let pre = precheck(&t, &expect()).unwrap();
        assert_eq!(pre.alg, Algorithm::RS256);
        assert_eq!(pre.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn precheck_refuses_bad_headers() {
        for h in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"rs256"}"#,
            r#"{"alg":"RS384"}"#,
            r#"{"alg":"RS256","typ":"dpop+jwt"}"#,
            r#"{"alg":"RS256","kid":7}"#,
            r#"{"alg":"RS256","kid":""}"#,
            r#"{"alg":"RS256","crit":["exp"]}"#,
            r#"{"alg":"RS256","x5c":["AAAA"]}"#,
            r#"["alg"]"#,
            r#"{"alg":"none","alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":"a","kid":"b"}"#,
            r#"{"alg":"RS256","x":{"y":1,"y":2}}"#,
        ] {
            let t = format!("{}.{}.c2ln", b64(h), b64("{}"));
            assert!(
                matches!(precheck(&t, &expect()), Err(VerifyError::Invalid(_))),
                "{h}"
            );
        }
    }

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert!(strict_object(br#"{"a":1,"b":[{"c":1},{"c":2}]}"#).is_some());
        assert!(strict_object(br#"{"sub":"a","sub":"b"}"#).is_none());
        assert!(strict_object(br#"{"a":[{"c":1,"c":1}]}"#).is_none());
        assert!(strict_object(br#"[1]"#).is_none());
        assert!(strict_object(br#"{"a":1} x"#).is_none());
    }

    #[test]
    fn claim_types_are_checked() {
        let ok: Map<String, Value> = serde_json::from_str(
            r#"{"iss":"i","sub":"s","aud":["a","b"],"permissions":["p"],"https://t/roles":[]}"#,
        )
        .unwrap();
        assert!(check_types(&ok, "https://t/roles").is_ok());
        for bad in [
            r#"{"aud":["a",1]}"#,
            r#"{"aud":{"a":1}}"#,
            r#"{"sub":7}"#,
            r#"{"scope":["read"]}"#,
            r#"{"permissions":{"p":1}}"#,
            r#"{"permissions":["p",null]}"#,
            r#"{"https://t/roles":["admin",1]}"#,
        ] {
            let c: Map<String, Value> = serde_json::from_str(bad).unwrap();
            assert!(check_types(&c, "https://t/roles").is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_dates_must_be_numbers() {
        let c: Map<String, Value> =
            serde_json::from_str(r#"{"a":"1","b":1.5,"c":-1,"d":7}"#).unwrap();
        assert!(numeric(&c, "a").is_err());
        assert_eq!(numeric(&c, "b").unwrap(), Some(1));
        assert!(numeric(&c, "c").is_err());
        assert_eq!(numeric(&c, "d").unwrap(), Some(7));
        assert_eq!(numeric(&c, "e").unwrap(), None);
    }
}
