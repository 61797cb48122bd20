//! A corpus of crafted bad tokens: each must be refused with the right
//! reason, and none may panic.

use authgate::auth::Rejection;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

fn unsigned(header: Value, claims: &Value, sig: &str) -> String {
    format!(
        "{}.{}.{sig}",
        b64(serde_json::to_vec(&header).unwrap()),
        b64(serde_json::to_vec(claims).unwrap())
    )
}

fn hs256(secret: &[u8], kid: &str) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(secret)).unwrap()
}

fn rs(header: Value, claims: &Value) -> String {
    sign_raw(&key_a(), &header, claims)
}

fn corpus() -> Vec<(&'static str, String, Rejection)> {
    use Rejection::{Expired, Invalid};
    let good = token(&claims());
    let h = json!({"alg": "RS256", "kid": "a"});
    let n = now();
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let c = |changes: Value| with(claims(), changes);
    let hdr = |extra: Value| with(h.clone(), extra);
    let a = key_a();
    let n_bytes = a.n().to_bytes_be();

    vec![
        ("empty string", String::new(), Invalid),
        ("whitespace", "   ".into(), Invalid),
        ("tab and newline", "\t\n".into(), Invalid),
        ("Bearer prefix left on", format!("Bearer {good}"), Invalid),
        ("trailing newline", format!("{good}\n"), Invalid),
        (
            "opaque token",
            "t7Qe9m1xZ0bYcQ3kLw8vHs2nJpRa4UfD".into(),
            Invalid,
        ),
        (
            "five segments (JWE-like)",
            format!("{head}.{payload}.{sig}.{sig}.{sig}"),
            Invalid,
        ),
        (
            "truncated to two segments",
            format!("{head}.{payload}"),
            Invalid,
        ),
        (
            "truncated signature",
            good[..good.len() - 12].to_string(),
            Invalid,
        ),
        ("extra segment", format!("{good}.AAAA"), Invalid),
        ("empty signature", format!("{head}.{payload}."), Invalid),
        (
            "standard base64 characters",
            format!("{head}.{payload}.{}+/", &sig[2..]),
            Invalid,
        ),
        ("padding", format!("{good}=="), Invalid),
        ("non-ASCII", format!("{head}.{payload}.é{sig}"), Invalid),
        (
            "header not JSON",
            format!("{}.{payload}.{sig}", b64("not json")),
            Invalid,
        ),
        (
            "payload not JSON",
            format!("{head}.{}.{sig}", b64("nope")),
            Invalid,
        ),
        (
            "header is a JSON array",
            format!("{}.{payload}.{sig}", b64("[1]")),
            Invalid,
        ),
        (
            "oversized",
            rs(h.clone(), &c(json!({"pad": "x".repeat(9000)}))),
            Invalid,
        ),
        (
            "alg none",
            unsigned(json!({"alg": "none", "kid": "a"}), &claims(), ""),
            Invalid,
        ),
        (
            "alg None with signature",
            unsigned(json!({"alg": "None", "kid": "a"}), &claims(), sig),
            Invalid,
        ),
        (
            "alg NONE",
            unsigned(json!({"alg": "NONE"}), &claims(), "AAAA"),
            Invalid,
        ),
        (
            "alg nOnE",
            unsigned(json!({"alg": "nOnE", "kid": "a"}), &claims(), "AAAA"),
            Invalid,
        ),
        (
            "missing alg",
            unsigned(json!({"kid": "a"}), &claims(), sig),
            Invalid,
        ),
        (
            "alg rs256 (lower case)",
            rs(hdr(json!({"alg": "rs256"})), &claims()),
            Invalid,
        ),
        (
            "HS256 with the public key PEM",
            hs256(PUB_A_PEM.as_bytes(), "a"),
            Invalid,
        ),
        ("HS256 with the modulus", hs256(&n_bytes, "a"), Invalid),
        (
            "RS384 not allowed",
            rs(hdr(json!({"alg": "RS384"})), &claims()),
            Invalid,
        ),
        (
            "signed by another key",
            sign_raw(&key_b(), &h, &claims()),
            Invalid,
        ),
        (
            "payload tampered",
            format!(
                "{head}.{}.{sig}",
                b64(serde_json::to_vec(&c(json!({"sub": "auth0|admin"}))).unwrap())
            ),
            Invalid,
        ),
        (
            "wrong iss",
            rs(h.clone(), &c(json!({"iss": "https://evil.test/"}))),
            Invalid,
        ),
        (
            "missing iss",
            rs(h.clone(), &c(json!({"iss": null}))),
            Invalid,
        ),
        (
            "wrong aud",
            rs(h.clone(), &c(json!({"aud": "https://other.api"}))),
            Invalid,
        ),
        (
            "missing aud",
            rs(h.clone(), &c(json!({"aud": null}))),
            Invalid,
        ),
        (
            "aud array without us",
            rs(h.clone(), &c(json!({"aud": ["x", "y"]}))),
            Invalid,
        ),
        (
            "missing exp",
            rs(h.clone(), &c(json!({"exp": null}))),
            Invalid,
        ),
        (
            "exp as a string",
            rs(h.clone(), &c(json!({"exp": (n + 3600).to_string()}))),
            Invalid,
        ),
        (
            "exp negative",
            rs(h.clone(), &c(json!({"exp": -1}))),
            Invalid,
        ),
        (
            "missing sub",
            rs(h.clone(), &c(json!({"sub": null}))),
            Invalid,
        ),
        (
            "sub not a string",
            rs(h.clone(), &c(json!({"sub": 42}))),
            Invalid,
        ),
        (
            "expired",
            rs(h.clone(), &c(json!({"exp": n - 3600, "iat": n - 7200}))),
            Expired,
        ),
        (
            "expired and wrong iss",
            rs(
                h.clone(),
                &c(json!({"exp": n - 3600, "iss": "https://evil.test/"})),
            ),
            Invalid,
        ),
        (
            "nbf in the future",
            rs(h.clone(), &c(json!({"nbf": n + 3600}))),
            Invalid,
        ),
        (
            "nbf as a string",
            rs(h.clone(), &c(json!({"nbf": "0"}))),
            Invalid,
        ),
        (
            "iat in the future",
            rs(h.clone(), &c(json!({"iat": n + 3600}))),
            Invalid,
        ),
        (
            "iat as a string",
            rs(h.clone(), &c(json!({"iat": "0"}))),
            Invalid,
        ),
        (
            "kid with path characters",
            rs(hdr(json!({"kid": "../../../etc/passwd"})), &claims()),
            Invalid,
        ),
        (
            "kid with a URL",
            rs(hdr(json!({"kid": "https://evil.test/key.pem"})), &claims()),
            Invalid,
        ),
        (
            "kid very long",
            rs(hdr(json!({"kid": "k".repeat(300)})), &claims()),
            Invalid,
        ),
        (
            "kid not a string",
            rs(hdr(json!({"kid": ["a"]})), &claims()),
            Invalid,
        ),
        (
            "jku header",
            rs(
                hdr(json!({"jku": "https://evil.test/jwks.json"})),
                &claims(),
            ),
            Invalid,
        ),
        (
            "x5u header",
            rs(hdr(json!({"x5u": "https://evil.test/cert.pem"})), &claims()),
            Invalid,
        ),
        (
            "embedded jwk (attacker's key)",
            sign_raw(
                &key_b(),
                &hdr(json!({"jwk": jwk(&key_b(), json!({}))})),
                &claims(),
            ),
            Invalid,
        ),
        (
            "x5c header",
            rs(hdr(json!({"x5c": ["MIIB"]})), &claims()),
            Invalid,
        ),
        (
            "crit header",
            rs(hdr(json!({"crit": ["exp"], "exp": 1})), &claims()),
            Invalid,
        ),
        (
            "typ dpop+jwt",
            rs(hdr(json!({"typ": "dpop+jwt"})), &claims()),
            Invalid,
        ),
        (
            "signed by the 1024-bit key in the JWKS",
            sign_raw(
                &key_weak(),
                &json!({"alg": "RS256", "kid": "weak"}),
                &claims(),
            ),
            Invalid,
        ),
        (
            "signed by the enc key in the JWKS",
            sign_raw(&key_b(), &json!({"alg": "RS256", "kid": "enc"}), &claims()),
            Invalid,
        ),
        (
            "ID token (aud = client id)",
            rs(
                h.clone(),
                &c(json!({"aud": CLIENT_ID, "nonce": null, "scope": null})),
            ),
            Invalid,
        ),
        (
            "no kid with two keys in the set",
            rs(json!({"alg": "RS256"}), &claims()),
            Invalid,
        ),
    ]
}

#[tokio::test]
async fn every_crafted_token_is_refused_with_the_right_reason() {
    let jwks = JwksServer::start(vec![
        jwk_a(),
        jwk_b(),
        jwk(
            &key_weak(),
            json!({"kid": "weak", "alg": "RS256", "use": "sig"}),
        ),
        jwk(&key_b(), json!({"kid": "enc", "use": "enc"})),
        jwk(&key_b(), json!({"kid": "hs", "alg": "HS256"})),
    ])
    .await;
    let g = guard(settings(&jwks)).await;
    // only a and b are usable
    assert_eq!(g.key_status().kids, ["a", "b"]);

    let corpus = corpus();
    assert!(corpus.len() >= 30);
    for (name, t, expected) in &corpus {
        let p = g.authenticate(t).await;
        assert_eq!(rejection(&p), Some(*expected), "{name}");
    }
    // the good token still passes after all that
    assert!(g.authenticate(&token(&claims())).await.user().is_some());
    // the unknown kids caused one refetch at most (plus the initial load)
    assert!(jwks.hits().await <= 2, "{} JWKS fetches", jwks.hits().await);
}

#[tokio::test]
async fn the_corpus_is_refused_as_id_tokens_too() {
    let (_jwks, g) = standard().await;
    for (name, t, _) in corpus() {
        if name.starts_with("ID token") {
            continue; // the one that is a good ID token
        }
        assert!(g.verify_id_token(&t).await.is_err(), "{name}");
    }
}
