//! Settings: defaults, URLs, validation.

use std::time::Duration;

use authgate::auth0::{Auth0Settings, ManagementSettings};
use authgate::secret::Secret;

fn valid() -> Auth0Settings {
    Auth0Settings {
        domain: "acme.eu.auth0.com".into(),
        client_id: "cid".into(),
        client_secret: Secret::new("secret"),
        audience: "https://api.example.com".into(),
        ..Auth0Settings::default()
    }
}

fn keys(s: &Auth0Settings) -> Vec<String> {
    s.validate()
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn defaults() {
    let s = Auth0Settings::default();
    assert_eq!(s.connection, "Username-Password-Authentication");
    assert_eq!(s.scope, "openid profile email offline_access");
    assert_eq!(s.connect_timeout, Duration::from_secs(3));
    assert_eq!(s.timeout, Duration::from_secs(10));
    assert_eq!(s.retries, 2);
    assert!(s.send_forwarded_for);
    assert_eq!(s.management.token_refresh_margin, Duration::from_secs(60));
}

#[test]
fn urls_and_issuer() {
    let s = valid();
    assert_eq!(s.base_url().as_str(), "https://acme.eu.auth0.com/");
    assert_eq!(s.issuer(), "https://acme.eu.auth0.com/");
    assert_eq!(s.management_audience(), "https://acme.eu.auth0.com/api/v2/");
    let mut s = valid();
    s.base_url = Some("http://127.0.0.1:4000".parse().unwrap());
    assert_eq!(s.issuer(), "http://127.0.0.1:4000/");
    s.base_url = Some("http://127.0.0.1:4000/tenant".parse().unwrap());
    assert_eq!(s.issuer(), "http://127.0.0.1:4000/tenant/");
    assert!(s.validate().is_ok());
}

#[test]
fn validation_names_each_bad_key() {
    assert!(valid().validate().is_ok());
    assert_eq!(
        keys(&Auth0Settings::default()),
        vec![
            "auth0.domain",
            "auth0.client_id",
            "auth0.client_secret",
            "auth0.audience"
        ]
    );
    let mut s = valid();
    s.domain = "https://acme.eu.auth0.com".into();
    assert_eq!(keys(&s), vec!["auth0.domain"]);
    let mut s = valid();
    s.base_url = Some("http://auth.example.com/".parse().unwrap());
    assert_eq!(keys(&s), vec!["auth0.base_url"]);
    let mut s = valid();
    s.timeout = Duration::ZERO;
    s.realm = Some(" ".into());
    assert_eq!(keys(&s), vec!["auth0.realm", "auth0.timeout"]);
    let mut s = valid();
    s.management = ManagementSettings {
        client_id: Some("m2m".into()),
        ..ManagementSettings::default()
    };
    assert_eq!(keys(&s), vec!["auth0.management.client_secret"]);
    // Messages never echo the secret.
    let mut s = valid();
    s.client_secret = Secret::new("");
    s.client_id = String::new();
    let errors = s.validate().unwrap_err();
    assert!(errors.iter().all(|(_, m)| !m.contains("secret\"")));
}

#[test]
fn deserialises_with_humantime_and_rejects_unknown_keys() {
    let s: Auth0Settings = toml::from_str(
        r#"
        domain = "acme.eu.auth0.com"
        client_id = "cid"
        client_secret = "secret"
        audience = "https://api.example.com"
        timeout = "2s"
        [management]
        token_refresh_margin = "5m"
        "#,
    )
    .unwrap();
    assert_eq!(s.timeout, Duration::from_secs(2));
    assert_eq!(s.management.token_refresh_margin, Duration::from_secs(300));
    assert!(s.validate().is_ok());
    assert!(toml::from_str::<Auth0Settings>("client_secrte = \"x\"").is_err());
}
