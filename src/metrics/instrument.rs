//! Decorators that time the store and the identity provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::Metrics;
use crate::auth0::{
    CallContext, IdentityProvider, MfaAssociation, MfaAuthenticator, MfaChallenge,
    MfaChallengeRequest, MfaEnrolment, MfaGrant, MfaTokens, ProviderError, SignupRequest,
    SignupResponse, TokenSet,
};
use crate::secret::Secret;
use crate::store::{Hit, Store, StoreError};

/// A [`Store`] that records latency and errors of every call.
pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
    metrics: Metrics,
}

impl InstrumentedStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    fn done<T>(&self, op: &'static str, start: Instant, r: &Result<T, StoreError>) {
        self.metrics
            .record_store(self.inner.backend(), op, r.is_ok(), start.elapsed());
    }
}

#[async_trait]
impl Store for InstrumentedStore {
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.revoke(token_id, ttl).await;
        self.done("revoke", t, &r);
        r
    }

    async fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError> {
        let t = Instant::now();
        let r = self.inner.is_revoked(token_id).await;
        self.done("is_revoked", t, &r);
        r
    }

    async fn hit(&self, key: &str, window: Duration) -> Result<Hit, StoreError> {
        let t = Instant::now();
        let r = self.inner.hit(key, window).await;
        self.done("hit", t, &r);
        r
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.reset(key).await;
        self.done("reset", t, &r);
        r
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.ping().await;
        self.done("ping", t, &r);
        r
    }

    async fn revocation_check_ready(&self) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.revocation_check_ready().await;
        self.done("ping", t, &r);
        r
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

/// An [`IdentityProvider`] that counts and times every call by endpoint.
pub struct InstrumentedProvider {
    inner: Arc<dyn IdentityProvider>,
    metrics: Metrics,
}

impl InstrumentedProvider {
    pub fn new(inner: Arc<dyn IdentityProvider>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    fn done<T>(&self, endpoint: &'static str, start: Instant, r: &Result<T, ProviderError>) {
        let status = match r {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        self.metrics.record_idp(endpoint, status, start.elapsed());
    }
}

/// Writes the decorator's trait impl: every method times the inner call
/// under its endpoint label, so no signature is spelled twice.
macro_rules! timed_by_endpoint {
    ($($endpoint:literal: $method:ident($($arg:ident: $ty:ty),*) -> $ok:ty;)+) => {
        #[async_trait]
        impl IdentityProvider for InstrumentedProvider {
            $(
                async fn $method(&self, $($arg: $ty,)* ctx: &CallContext) -> Result<$ok, ProviderError> {
                    let t = Instant::now();
                    let r = self.inner.$method($($arg,)* ctx).await;
                    self.done($endpoint, t, &r);
                    r
                }
            )+
        }
    };
}

timed_by_endpoint! {
    "signup": signup(req: &SignupRequest) -> SignupResponse;
    "token_password": password_login(email: &str, password: &Secret) -> TokenSet;
    "token_refresh": refresh(refresh_token: &Secret) -> TokenSet;
    "revoke": revoke_refresh_token(refresh_token: &Secret) -> ();
    "change_password": request_password_reset(email: &str) -> ();
    "userinfo": userinfo(access_token: &Secret) -> Map<String, Value>;
    "mfa_authenticators": mfa_authenticators(mfa_token: &Secret) -> Vec<MfaAuthenticator>;
    "mfa_associate": mfa_associate(mfa_token: &Secret, enrolment: &MfaEnrolment) -> MfaAssociation;
    "mfa_challenge": mfa_challenge(mfa_token: &Secret, req: &MfaChallengeRequest) -> MfaChallenge;
    "token_mfa": mfa_grant(mfa_token: &Secret, grant: &MfaGrant) -> MfaTokens;
}
