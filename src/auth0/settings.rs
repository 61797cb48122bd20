//! Settings of the Auth0 clients (`[auth0]` and `[auth0.management]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

/// How authgate talks to the Auth0 tenant (Authentication API).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth0Settings {
    /// Canonical tenant domain, e.g. `acme.eu.auth0.com` (no scheme, no path).
    pub domain: String,
    /// Overrides `https://{domain}/`, e.g. `http://127.0.0.1:PORT/` for the local emulator.
    pub base_url: Option<Url>,
    /// The Regular Web Application's client id.
    pub client_id: String,
    /// The Regular Web Application's client secret (sent as `client_secret_post`).
    pub client_secret: Secret,
    /// The API identifier; without it Auth0 issues an opaque access token.
    pub audience: String,
    /// When set, logins use the `password-realm` grant with this DB connection.
    pub realm: Option<String>,
    /// The database connection for signup and password reset.
    pub connection: String,
    /// Scopes requested at login.
    pub scope: String,
    /// TCP/TLS connect timeout.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Retries of idempotent calls (revoke, userinfo, change_password, Management reads).
    pub retries: u32,
    /// Send `auth0-forwarded-for: <client ip>` on `/oauth/token` and signup.
    pub send_forwarded_for: bool,
    /// Management API v2 client (back-office invitations).
    pub management: ManagementSettings,
}

/// How authgate talks to the Management API v2.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManagementSettings {
    /// Machine-to-machine client id; defaults to the main client's.
    pub client_id: Option<String>,
    /// Machine-to-machine client secret; defaults to the main client's.
    pub client_secret: Option<Secret>,
    /// Management API audience; defaults to `<issuer>api/v2/`.
    pub audience: Option<String>,
    /// The cached Management token is renewed this long before it expires.
    #[serde(with = "humantime_serde")]
    pub token_refresh_margin: Duration,
}

impl Default for ManagementSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            audience: None,
            token_refresh_margin: Duration::from_secs(60),
        }
    }
}

impl Default for Auth0Settings {
    fn default() -> Self {
        Self {
            domain: String::new(),
            base_url: None,
            client_id: String::new(),
            client_secret: Secret::new(""),
            audience: String::new(),
            realm: None,
            connection: "Username-Password-Authentication".to_owned(),
            scope: "openid profile email offline_access".to_owned(),
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            retries: 2,
            send_forwarded_for: true,
            management: ManagementSettings::default(),
        }
    }
}

/// A URL that never fails to parse, used only when the settings are invalid
/// (which `validate` reports at start-up).
fn invalid_url() -> Url {
    #[allow(clippy::expect_used)] // a literal, not influenced by input
    Url::parse("https://invalid.invalid/").expect("literal URL parses")
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

impl Auth0Settings {
    fn parsed_base_url(&self) -> Result<Url, String> {
        match &self.base_url {
            Some(url) => Ok(with_trailing_slash(url.clone())),
            None => {
                let domain = self.domain.trim();
                if domain.is_empty() {
                    return Err("is empty (set auth0.domain or auth0.base_url)".to_owned());
                }
                if domain.contains("://") || domain.contains('/') {
                    return Err(format!(
                        "must be a bare host name like `acme.eu.auth0.com`, got `{domain}`"
                    ));
                }
                let url = Url::parse(&format!("https://{domain}/"))
                    .map_err(|e| format!("`{domain}` is not a valid host name: {e}"))?;
                if url.host_str().is_none() || url.path() != "/" {
                    return Err(format!("`{domain}` is not a valid host name"));
                }
                Ok(url)
            }
        }
    }

    /// The base URL of the tenant: `base_url` if set (with a trailing slash),
    /// else `https://{domain}/`.
    pub fn base_url(&self) -> Url {
        self.parsed_base_url().unwrap_or_else(|_| invalid_url())
    }

    /// The token issuer: the base URL with a trailing slash.
    pub fn issuer(&self) -> String {
        self.base_url().to_string()
    }

    /// The Management API audience (`<issuer>api/v2/` unless configured).
    pub fn management_audience(&self) -> String {
        match &self.management.audience {
            Some(a) => a.clone(),
            None => format!("{}api/v2/", self.issuer()),
        }
    }

    /// Checks the settings; every problem is reported with its key path.
    pub fn validate(&self) -> Result<(), Vec<(String, String)>> {
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut err = |key: &str, msg: &str| errors.push((format!("auth0.{key}"), msg.to_owned()));

        match self.parsed_base_url() {
            Err(msg) => err(
                if self.base_url.is_some() {
                    "base_url"
                } else {
                    "domain"
                },
                &msg,
            ),
            Ok(url) => {
                let loopback = match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(url::Host::Domain(d)) => d == "localhost",
                    None => false,
                };
                match url.scheme() {
                    "https" => {}
                    "http" if loopback => {}
                    "http" => err(
                        "base_url",
                        "plain http is only allowed for a loopback emulator (the client secret would travel in clear)",
                    ),
                    other => err("base_url", &format!("unsupported scheme `{other}`")),
                }
                if url.host_str().is_none() {
                    err("base_url", "has no host");
                }
            }
        }
        if self.client_id.trim().is_empty() {
            err("client_id", "is empty");
        }
        if self.client_secret.is_empty() {
            err(
                "client_secret",
                "is empty (set AUTHGATE__AUTH0__CLIENT_SECRET)",
            );
        }
        if self.audience.trim().is_empty() {
            err(
                "audience",
                "is empty: Auth0 would issue opaque access tokens the gateway cannot verify",
            );
        }
        if let Some(realm) = &self.realm {
            if realm.trim().is_empty() {
                err("realm", "is empty (remove it to use the default directory)");
            }
        }
        if self.connection.trim().is_empty() {
            err("connection", "is empty");
        }
        if self.scope.trim().is_empty() {
            err("scope", "is empty");
        }
        if self.connect_timeout.is_zero() {
            err("connect_timeout", "must be greater than zero");
        }
        if self.timeout.is_zero() {
            err("timeout", "must be greater than zero");
        }
        if self.retries > 10 {
            err("retries", "must be at most 10");
        }
        let m = &self.management;
        if let Some(id) = &m.client_id {
            if id.trim().is_empty() {
                err(
                    "management.client_id",
                    "is empty (remove it to reuse auth0.client_id)",
                );
            }
            if m.client_secret.is_none() {
                err(
                    "management.client_secret",
                    "must be set when management.client_id is set",
                );
            }
        }
        if let Some(secret) = &m.client_secret {
            if secret.is_empty() {
                err("management.client_secret", "is empty");
            }
            if m.client_id.is_none() {
                err(
                    "management.client_id",
                    "must be set when management.client_secret is set",
                );
            }
        }
        if let Some(a) = &m.audience {
            if a.trim().is_empty() {
                err(
                    "management.audience",
                    "is empty (remove it for `<issuer>api/v2/`)",
                );
            }
        }
        crate::validate::outcome(errors)
    }
}
