//! Auth0: the Authentication API client (behind the `IdentityProvider` trait)
//! and the Management API v2 client used by back-office invitations.
//!
//! Wire behaviour follows `auth0-wire.md`; the same code talks to the in-repo
//! emulator through `Auth0Settings::base_url`.

mod client;
mod error;
mod http;
mod management;
mod mfa;
mod settings;

use std::net::IpAddr;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::secret::Secret;

pub use client::Auth0Client;
pub use error::{ManagementError, ProviderError};
pub use management::{
    CreateUser, ManagementClient, ManagementUser, Role, RolePermission, TicketRequest, UserPage,
};
pub use mfa::{
    MfaAssociation, MfaAuthenticator, MfaChallenge, MfaChallengeRequest, MfaEnrolment, MfaGrant,
    MfaTokens,
};
pub use settings::{Auth0Settings, ManagementSettings};

/// An identity provider the auth mutations call. Auth0 (or its emulator) today;
/// a generic OIDC provider could implement it later without touching resolvers.
#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    /// Creates a user in the configured database connection.
    async fn signup(
        &self,
        req: &SignupRequest,
        ctx: &CallContext,
    ) -> Result<SignupResponse, ProviderError>;
    /// Exchanges an email and password for tokens (password / password-realm grant).
    async fn password_login(
        &self,
        email: &str,
        password: &Secret,
        ctx: &CallContext,
    ) -> Result<TokenSet, ProviderError>;
    /// Exchanges a refresh token for new tokens (a new refresh token with rotation).
    async fn refresh(
        &self,
        refresh_token: &Secret,
        ctx: &CallContext,
    ) -> Result<TokenSet, ProviderError>;
    /// Revokes a refresh token (succeeds for unknown or already revoked tokens).
    async fn revoke_refresh_token(
        &self,
        refresh_token: &Secret,
        ctx: &CallContext,
    ) -> Result<(), ProviderError>;
    /// Sends the password-reset email; succeeds whether or not the user exists.
    async fn request_password_reset(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<(), ProviderError>;
    /// The user's claims from `/userinfo`.
    async fn userinfo(
        &self,
        access_token: &Secret,
        ctx: &CallContext,
    ) -> Result<Map<String, Value>, ProviderError>;

    /// The user's authenticators (`GET /mfa/authenticators`, bearer: the mfa_token).
    async fn mfa_authenticators(
        &self,
        _mfa_token: &Secret,
        _ctx: &CallContext,
    ) -> Result<Vec<MfaAuthenticator>, ProviderError> {
        Err(mfa_unsupported())
    }
    /// Starts an enrolment (`POST /mfa/associate`).
    async fn mfa_associate(
        &self,
        _mfa_token: &Secret,
        _enrolment: &MfaEnrolment,
        _ctx: &CallContext,
    ) -> Result<MfaAssociation, ProviderError> {
        Err(mfa_unsupported())
    }
    /// Starts a challenge (`POST /mfa/challenge`): sends the SMS, e-mail or push.
    async fn mfa_challenge(
        &self,
        _mfa_token: &Secret,
        _req: &MfaChallengeRequest,
        _ctx: &CallContext,
    ) -> Result<MfaChallenge, ProviderError> {
        Err(mfa_unsupported())
    }
    /// Finishes the login with an MFA grant at the token endpoint.
    async fn mfa_grant(
        &self,
        _mfa_token: &Secret,
        _grant: &MfaGrant,
        _ctx: &CallContext,
    ) -> Result<MfaTokens, ProviderError> {
        Err(mfa_unsupported())
    }
}

/// A provider without an MFA API: a configuration problem, never the user's.
fn mfa_unsupported() -> ProviderError {
    ProviderError::Misconfigured {
        error: "mfa_unsupported".into(),
        description: "this identity provider has no MFA API".into(),
    }
}

/// Who the call is made for: the end user's IP (forwarded to Auth0's
/// brute-force protection) and the gateway's request id (for logs).
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// Tokens from the token endpoint. `Debug` redacts every token.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: Secret,
    pub id_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// Granted scopes, when Auth0 says.
    pub scope: Option<String>,
    /// `"Bearer"`.
    pub token_type: String,
}

/// A signup in the configured database connection.
#[derive(Debug, Clone)]
pub struct SignupRequest {
    pub email: String,
    pub password: Secret,
    pub username: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    /// At most 10 properties with string values (Auth0 rule).
    pub user_metadata: Option<Map<String, Value>>,
}

impl SignupRequest {
    /// A signup with only an email and a password.
    pub fn new(email: impl Into<String>, password: Secret) -> Self {
        Self {
            email: email.into(),
            password,
            username: None,
            given_name: None,
            family_name: None,
            name: None,
            nickname: None,
            picture: None,
            user_metadata: None,
        }
    }
}

/// The created user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupResponse {
    /// The Management/`sub` id: `auth0|<_id>`.
    pub user_id: String,
    pub email: String,
    pub email_verified: bool,
}
