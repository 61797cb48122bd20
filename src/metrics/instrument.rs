//! Decorators that time the store and the identity provider.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::Metrics;
use crate::auth0::{
    CallContext, IdentityProvider, ProviderError, SignupRequest, SignupResponse, TokenSet,
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

#[async_trait]
impl IdentityProvider for InstrumentedProvider {
    async fn signup(
        &self,
        req: &SignupRequest,
        ctx: &CallContext,
    ) -> Result<SignupResponse, ProviderError> {
        let t = Instant::now();
        let r = self.inner.signup(req, ctx).await;
        self.done("signup", t, &r);
        r
    }

    async fn password_login(
        &self,
        email: &str,
        password: &Secret,
        ctx: &CallContext,
    ) -> Result<TokenSet, ProviderError> {
        let t = Instant::now();
        let r = self.inner.password_login(email, password, ctx).await;
        self.done("token_password", t, &r);
        r
    }

    async fn refresh(
        &self,
        refresh_token: &Secret,
        ctx: &CallContext,
    ) -> Result<TokenSet, ProviderError> {
        let t = Instant::now();
        let r = self.inner.refresh(refresh_token, ctx).await;
        self.done("token_refresh", t, &r);
        r
    }

    async fn revoke_refresh_token(
        &self,
        refresh_token: &Secret,
        ctx: &CallContext,
    ) -> Result<(), ProviderError> {
        let t = Instant::now();
        let r = self.inner.revoke_refresh_token(refresh_token, ctx).await;
        self.done("revoke", t, &r);
        r
    }

    async fn request_password_reset(
        &self,
        email: &str,
        ctx: &CallContext,
    ) -> Result<(), ProviderError> {
        let t = Instant::now();
        let r = self.inner.request_password_reset(email, ctx).await;
        self.done("change_password", t, &r);
        r
    }

    async fn userinfo(
        &self,
        access_token: &Secret,
        ctx: &CallContext,
    ) -> Result<Map<String, Value>, ProviderError> {
        let t = Instant::now();
        let r = self.inner.userinfo(access_token, ctx).await;
        self.done("userinfo", t, &r);
        r
    }

    async fn mfa_authenticators(
        &self,
        mfa_token: &Secret,
        ctx: &CallContext,
    ) -> Result<Vec<crate::auth0::MfaAuthenticator>, ProviderError> {
        let t = Instant::now();
        let r = self.inner.mfa_authenticators(mfa_token, ctx).await;
        self.done("mfa_authenticators", t, &r);
        r
    }

    async fn mfa_associate(
        &self,
        mfa_token: &Secret,
        enrolment: &crate::auth0::MfaEnrolment,
        ctx: &CallContext,
    ) -> Result<crate::auth0::MfaAssociation, ProviderError> {
        let t = Instant::now();
        let r = self.inner.mfa_associate(mfa_token, enrolment, ctx).await;
        self.done("mfa_associate", t, &r);
        r
    }

    async fn mfa_challenge(
        &self,
        mfa_token: &Secret,
        req: &crate::auth0::MfaChallengeRequest,
        ctx: &CallContext,
    ) -> Result<crate::auth0::MfaChallenge, ProviderError> {
        let t = Instant::now();
        let r = self.inner.mfa_challenge(mfa_token, req, ctx).await;
        self.done("mfa_challenge", t, &r);
        r
    }

    async fn mfa_grant(
        &self,
        mfa_token: &Secret,
        grant: &crate::auth0::MfaGrant,
        ctx: &CallContext,
    ) -> Result<crate::auth0::MfaTokens, ProviderError> {
        let t = Instant::now();
        let r = self.inner.mfa_grant(mfa_token, grant, ctx).await;
        self.done("token_mfa", t, &r);
        r
    }
}
