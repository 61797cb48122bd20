//! `[emulator]` settings. The defaults are the development seed documented in
//! `docs/emulator.md`: development-only credentials, never for production.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::Secret;

/// The grant type URI Auth0 uses for the password-realm grant.
pub const PASSWORD_REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";

/// The grant types Auth0's "MFA" grant setting enables: verifying a one-time password,
/// an out-of-band code (SMS, e-mail, push) and a recovery code.
pub const MFA_GRANTS: [&str; 3] = [
    "http://auth0.com/oauth/grant-type/mfa-otp",
    "http://auth0.com/oauth/grant-type/mfa-oob",
    "http://auth0.com/oauth/grant-type/mfa-recovery-code",
];

/// Auth0 password-policy levels (password-sheriff presets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PasswordPolicy {
    /// Non-empty password.
    None,
    /// At least 6 characters.
    Low,
    /// At least 8 characters with lower case, upper case and a number.
    #[default]
    Fair,
    /// At least 8 characters, 3 of the 4 character classes.
    Good,
    /// At least 10 characters, 3 of 4 classes, no more than 2 identical characters in a row.
    Excellent,
}

/// How the emulator hashes passwords it stores (seeded users, signups,
/// Management API users, password changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PasswordHashing {
    /// Argon2id with the crate's default cost (19 MiB, 2 passes): ≈ 40–50 ms of
    /// CPU per login, like a real identity provider.
    #[default]
    Argon2,
    /// BENCHMARK ONLY: Argon2id at its minimum cost (8 KiB, 1 pass), a few
    /// microseconds per login, so the IdP's answer time is dominated by token
    /// signing and a gateway's login overhead can be measured against it.
    /// Tokens are the same real RS256 tokens. Offers no protection for the
    /// stored passwords. Hashes already in a state file keep the cost they
    /// were made with (the parameters travel in each hash).
    Fast,
}

/// The emulator: an Auth0-compatible identity provider for development and tests.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmulatorSettings {
    /// Where the state file (`emulator-state.json`) lives.
    pub data_dir: PathBuf,
    /// Keep everything in memory (tests); nothing is written to `data_dir`.
    pub ephemeral: bool,
    /// Issuer (`iss`, with trailing slash). Default: `http://<bound address>/`.
    pub issuer: Option<Url>,
    /// The database connection name (the default directory and the only realm).
    pub connection: String,
    /// Password policy of the connection.
    pub password_policy: PasswordPolicy,
    /// `"argon2"` (default) or `"fast"` (benchmark only: see [`PasswordHashing::Fast`]).
    pub password_hashing: PasswordHashing,
    /// Also reject common passwords (Auth0's "password dictionary").
    pub password_dictionary: bool,
    /// Refresh-token rotation with reuse detection.
    pub refresh_token_rotation: bool,
    /// Reuse interval: the immediately previous refresh token may be reused this long after rotation.
    #[serde(with = "humantime_serde")]
    pub reuse_interval: Duration,
    /// Consecutive failed logins for a user and IP before the pair is blocked.
    pub brute_force_threshold: u32,
    /// How long a brute-force block lasts.
    #[serde(with = "humantime_serde")]
    pub brute_force_block: Duration,
    /// Access-token lifetime (`expires_in`).
    #[serde(with = "humantime_serde")]
    pub access_token_lifetime: Duration,
    /// ID-token lifetime.
    #[serde(with = "humantime_serde")]
    pub id_token_lifetime: Duration,
    /// APIs (audiences) the tenant knows besides the Management API.
    pub apis: Vec<ApiSettings>,
    /// Namespaced claim carrying the user's role names (empty: no claim).
    pub roles_claim: String,
    /// Applications allowed to call the emulator.
    pub clients: Vec<ClientSettings>,
    /// Roles created at first start.
    pub roles: Vec<RoleSeed>,
    /// Users created at first start (and whenever a seeded email is missing).
    pub users: Vec<UserSeed>,
    /// When password logins need a second factor, and the MFA API's limits.
    pub mfa: MfaSettings,
    /// DEVELOPMENT ONLY: let the gateway (`server.listen`) and the emulator
    /// (`identity.emulator_listen`) serve on a non-loopback address while the
    /// emulator is the identity provider. Off: start-up refuses it, so that
    /// the seeded accounts never face a network.
    pub allow_non_loopback: bool,
}

/// Which password logins the tenant answers with `mfa_required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MfaPolicy {
    /// Never (users seeded with `mfa = true` still are).
    #[default]
    Never,
    /// Every login; users without a factor enrol through `/mfa/associate`.
    Always,
    /// Only users with a confirmed authenticator.
    Enrolled,
    /// Users holding one of `emulator.mfa.roles`.
    Roles,
}

/// Multi-factor authentication of the tenant (Auth0's MFA API for the password grant).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaSettings {
    /// When a password login answers `mfa_required`.
    pub policy: MfaPolicy,
    /// Role names that require MFA when `policy = "roles"`.
    pub roles: Vec<String>,
    /// Lifetime of an `mfa_token` (Auth0: 10 minutes, fixed).
    #[serde(with = "humantime_serde")]
    pub token_lifetime: Duration,
    /// Wrong codes (OTP, binding or recovery) a user may send before verification is
    /// refused (Auth0: a bucket of 10)...
    pub max_attempts: u32,
    /// ...of which one comes back this often (Auth0: every 6 minutes).
    #[serde(with = "humantime_serde")]
    pub attempt_refill: Duration,
    /// A push poll (`mfa-oob` without a binding code) sooner than this after the
    /// previous one answers `slow_down`; zero turns that off.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            policy: MfaPolicy::Never,
            roles: Vec::new(),
            token_lifetime: Duration::from_secs(600),
            max_attempts: 10,
            attempt_refill: Duration::from_secs(360),
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// An API (resource server) the tenant issues JWT access tokens for.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// The audience, e.g. `https://api.authgate.local`.
    pub identifier: String,
    /// "Allow Offline Access": refresh tokens for `offline_access`.
    pub allow_offline_access: bool,
    /// "Enable RBAC": scopes are limited to the user's permissions.
    pub rbac: bool,
    /// "Add Permissions in the Access Token".
    pub permissions_in_token: bool,
}

/// A confidential application.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSettings {
    /// Client id.
    pub client_id: String,
    /// Client secret (client_secret_post or HTTP Basic).
    pub client_secret: Secret,
    /// "Trust Token Endpoint IP Header": honour `auth0-forwarded-for`.
    pub trust_ip_header: bool,
    /// Grant types enabled for the application.
    pub grant_types: Vec<String>,
    /// Management API scopes granted to this client (client_credentials).
    pub management_scopes: Vec<String>,
}

/// A role with its permissions.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RoleSeed {
    /// Role name.
    pub name: String,
    /// Role description.
    pub description: String,
    /// Permissions (API scopes) the role grants.
    pub permissions: Vec<String>,
}

/// A seeded database user.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserSeed {
    /// Email (the login identifier).
    pub email: String,
    /// Password (hashed with Argon2id when stored).
    pub password: Secret,
    /// Role names.
    pub roles: Vec<String>,
    /// Whether the email is verified.
    pub email_verified: bool,
    /// Display name (default: the email).
    pub name: Option<String>,
    /// Logins answer `mfa_required`, whatever `emulator.mfa.policy` says.
    pub mfa: bool,
    /// DEVELOPMENT ONLY: a confirmed OTP authenticator with this base32 TOTP secret
    /// (RFC 6238, SHA-1, 6 digits, 30 s), so a seeded user can finish an MFA login offline.
    pub mfa_otp_secret: Option<Secret>,
    /// DEVELOPMENT ONLY: the user's recovery code (needs `mfa_otp_secret`).
    pub mfa_recovery_code: Option<Secret>,
    /// Logins answer "user is blocked".
    pub blocked: bool,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            identifier: String::new(),
            allow_offline_access: true,
            rbac: true,
            permissions_in_token: true,
        }
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: Secret::new(""),
            trust_ip_header: false,
            grant_types: default_grants(),
            management_scopes: Vec::new(),
        }
    }
}

impl Default for UserSeed {
    fn default() -> Self {
        Self {
            email: String::new(),
            password: Secret::new(""),
            roles: Vec::new(),
            email_verified: true,
            name: None,
            mfa: false,
            mfa_otp_secret: None,
            mfa_recovery_code: None,
            blocked: false,
        }
    }
}

fn default_grants() -> Vec<String> {
    vec![
        "password".into(),
        PASSWORD_REALM_GRANT.into(),
        "refresh_token".into(),
        "client_credentials".into(),
        MFA_GRANTS[0].into(),
        MFA_GRANTS[1].into(),
        MFA_GRANTS[2].into(),
    ]
}

impl Default for EmulatorSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".authgate/emulator"),
            ephemeral: false,
            issuer: None,
            connection: "Username-Password-Authentication".into(),
            password_policy: PasswordPolicy::Fair,
            password_hashing: PasswordHashing::Argon2,
            password_dictionary: false,
            refresh_token_rotation: true,
            reuse_interval: Duration::ZERO,
            brute_force_threshold: 10,
            brute_force_block: Duration::from_secs(15 * 60),
            access_token_lifetime: Duration::from_secs(86_400),
            id_token_lifetime: Duration::from_secs(36_000),
            apis: vec![ApiSettings {
                identifier: "https://api.authgate.local".into(),
                ..ApiSettings::default()
            }],
            roles_claim: "https://authgate.dev/roles".into(),
            clients: vec![ClientSettings {
                client_id: "authgate-dev".into(),
                client_secret: Secret::new("dev-secret-change-me"),
                trust_ip_header: true,
                grant_types: default_grants(),
                management_scopes: [
                    "create:users",
                    "read:users",
                    "update:users",
                    "read:roles",
                    "create:role_members",
                    "create:user_tickets",
                ]
                .map(String::from)
                .to_vec(),
            }],
            roles: vec![
                RoleSeed {
                    name: "admin".into(),
                    description: "Administrator".into(),
                    permissions: [
                        "create:invitations",
                        "read:orders",
                        "write:orders",
                        "read:users",
                    ]
                    .map(String::from)
                    .to_vec(),
                },
                RoleSeed {
                    name: "user".into(),
                    description: "Regular user".into(),
                    permissions: vec!["read:orders".into()],
                },
            ],
            users: vec![
                UserSeed {
                    email: "admin@example.com".into(),
                    password: Secret::new("Admin-Passw0rd!"),
                    roles: vec!["admin".into()],
                    ..UserSeed::default()
                },
                UserSeed {
                    email: "user@example.com".into(),
                    password: Secret::new("User-Passw0rd!"),
                    roles: vec!["user".into()],
                    ..UserSeed::default()
                },
            ],
            mfa: MfaSettings::default(),
            allow_non_loopback: false,
        }
    }
}

impl EmulatorSettings {
    /// Checks what serde cannot: names that must be set and references that must resolve.
    pub(crate) fn validate(&self) -> Result<(), super::EmulatorError> {
        let bad = |key: &str, reason: String| super::EmulatorError::InvalidSetting {
            key: format!("emulator.{key}"),
            reason,
        };
        if self.connection.trim().is_empty() {
            return Err(bad("connection", "must not be empty".into()));
        }
        if self.brute_force_threshold == 0 {
            return Err(bad("brute_force_threshold", "must be at least 1".into()));
        }
        if self.access_token_lifetime.is_zero() || self.id_token_lifetime.is_zero() {
            return Err(bad(
                "access_token_lifetime",
                "lifetimes must be positive".into(),
            ));
        }
        for (i, api) in self.apis.iter().enumerate() {
            if api.identifier.trim().is_empty() {
                return Err(bad(
                    &format!("apis[{i}].identifier"),
                    "must not be empty".into(),
                ));
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            if c.client_id.trim().is_empty() {
                return Err(bad(
                    &format!("clients[{i}].client_id"),
                    "must not be empty".into(),
                ));
            }
            if c.client_secret.is_empty() {
                return Err(bad(
                    &format!("clients[{i}].client_secret"),
                    "must not be empty".into(),
                ));
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            if crate::email::Email::parse(&u.email).is_err() {
                return Err(bad(
                    &format!("users[{i}].email"),
                    "is not an email address".into(),
                ));
            }
            if u.password.is_empty() {
                return Err(bad(
                    &format!("users[{i}].password"),
                    "must not be empty".into(),
                ));
            }
            if let Some(secret) = &u.mfa_otp_secret {
                if !super::mfa::valid_seed_secret(secret.expose()) {
                    return Err(bad(
                        &format!("users[{i}].mfa_otp_secret"),
                        "must be base32 of at least 16 bytes".into(),
                    ));
                }
            } else if u.mfa_recovery_code.is_some() {
                return Err(bad(
                    &format!("users[{i}].mfa_recovery_code"),
                    "needs mfa_otp_secret".into(),
                ));
            }
            for r in &u.roles {
                if !self.roles.iter().any(|seed| &seed.name == r) {
                    return Err(bad(
                        &format!("users[{i}].roles"),
                        format!("unknown role `{r}`"),
                    ));
                }
            }
        }
        if self.mfa.token_lifetime.is_zero() {
            return Err(bad("mfa.token_lifetime", "must be positive".into()));
        }
        if self.mfa.max_attempts == 0 {
            return Err(bad("mfa.max_attempts", "must be at least 1".into()));
        }
        for r in &self.mfa.roles {
            if !self.roles.iter().any(|seed| &seed.name == r) {
                return Err(bad("mfa.roles", format!("unknown role `{r}`")));
            }
        }
        if let Some(issuer) = &self.issuer {
            if !matches!(issuer.scheme(), "http" | "https") {
                return Err(bad("issuer", "must be an http(s) URL".into()));
            }
        }
        Ok(())
    }
}
