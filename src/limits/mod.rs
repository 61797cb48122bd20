//! Abuse limits (`[limits]`): fixed-window counters in the shared store, so
//! every replica counts against the same budget.
//!
//! * per operation (`login`, `signup`, `requestPasswordReset`, `inviteUser`,
//!   `resendInvitation`, `mfaVerify`),
//!   per client IP and per account (the email), counted per FIELD execution:
//!   100 aliased `login` fields in one document, or a batch of 100, count 100;
//! * per HTTP request, per client IP and per principal (`sub`), checked once
//!   by the handler before execution.
//!
//! A window is fixed: it starts with the first attempt and the counter
//! resets when it ends, so an account is slowed, never locked for longer than
//! one window. `retryAfter` is the time left in the window.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dynamic::ResolverContext;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::graphql::RequestContext;
use crate::metrics::Metrics;
use crate::store::Store;

/// The operations with their own limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Login,
    Signup,
    PasswordReset,
    InviteUser,
    ResendInvitation,
    CancelInvitation,
    /// `mfaVerify` and `mfaPoll`'s codes; the account is the login's email.
    MfaVerify,
}

impl Operation {
    /// The GraphQL field name (also the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Login => "login",
            Operation::Signup => "signup",
            Operation::PasswordReset => "requestPasswordReset",
            Operation::InviteUser => "inviteUser",
            Operation::ResendInvitation => "resendInvitation",
            Operation::CancelInvitation => "cancelInvitation",
            Operation::MfaVerify => "mfaVerify",
        }
    }
}

/// One operation's budget; a key left out takes the operation's default
/// (see [`Budget::default_for`]). `0` turns a counter off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rule {
    /// Attempts per client IP per window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_ip: Option<u64>,
    /// Attempts per account (email, case-insensitive) per window; for
    /// `[limits.requests]`, requests per principal (`sub`), also spelt
    /// `per_principal`.
    #[serde(alias = "per_principal", skip_serializing_if = "Option::is_none")]
    pub per_account: Option<u64>,
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

/// The whole-request budget; `per_account` counts per principal (`sub`).
pub type RequestRule = Rule;

/// A rule with its defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_ip: u64,
    /// per account (operations) or per principal (requests)
    pub per_account: u64,
    pub window: Duration,
}

impl Budget {
    /// The defaults: login 30/IP and 10/account per 15 min; signup 10/IP and
    /// 5/account per hour; password reset 10/IP and 3/account per hour;
    /// inviteUser 100/IP and 10/invited address per hour; resendInvitation
    /// (and cancelInvitation) 100/IP and 5/address per hour; mfaVerify 30/IP
    /// and 10/account per 15 min (Auth0's own bucket is 10 codes); requests 1200/IP
    /// and 600/principal per minute.
    pub fn default_for(op: Option<Operation>) -> Budget {
        let (per_ip, per_account, secs) = match op {
            Some(Operation::Login) => (30, 10, 15 * 60),
            Some(Operation::Signup) => (10, 5, 3600),
            Some(Operation::PasswordReset) => (10, 3, 3600),
            Some(Operation::InviteUser) => (100, 10, 3600),
            Some(Operation::ResendInvitation) => (100, 5, 3600),
            Some(Operation::CancelInvitation) => (100, 5, 3600),
            Some(Operation::MfaVerify) => (30, 10, 15 * 60),
            None => (1200, 600, 60),
        };
        Budget {
            per_ip,
            per_account,
            window: Duration::from_secs(secs),
        }
    }

    fn with(self, r: &Rule) -> Budget {
        Budget {
            per_ip: r.per_ip.unwrap_or(self.per_ip),
            per_account: r.per_account.unwrap_or(self.per_account),
            window: r.window.unwrap_or(self.window),
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Off: nothing is counted (not for production).
    pub enabled: bool,
    /// When the store cannot count (Redis down): let attempts through
    /// (`true`; Auth0's own brute-force protection still applies) or refuse
    /// them with UPSTREAM_UNAVAILABLE (`false`).
    pub fail_open: bool,
    /// IPv6 clients are counted per network of this prefix length (a host
    /// usually owns a whole /64).
    pub ipv6_prefix: u8,
    pub login: Rule,
    pub signup: Rule,
    pub password_reset: Rule,
    pub invite_user: Rule,
    pub resend_invitation: Rule,
    pub cancel_invitation: Rule,
    pub mfa_verify: Rule,
    /// `per_ip` and `per_account` (= per principal) for every HTTP request.
    pub requests: RequestRule,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            fail_open: true,
            ipv6_prefix: 64,
            login: Rule::default(),
            signup: Rule::default(),
            password_reset: Rule::default(),
            invite_user: Rule::default(),
            resend_invitation: Rule::default(),
            cancel_invitation: Rule::default(),
            mfa_verify: Rule::default(),
            requests: Rule::default(),
        }
    }
}

impl LimitsSettings {
    /// `(key, message)` for each problem.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for (name, op) in [
            ("login", Some(Operation::Login)),
            ("signup", Some(Operation::Signup)),
            ("password_reset", Some(Operation::PasswordReset)),
            ("invite_user", Some(Operation::InviteUser)),
            ("resend_invitation", Some(Operation::ResendInvitation)),
            ("cancel_invitation", Some(Operation::CancelInvitation)),
            ("mfa_verify", Some(Operation::MfaVerify)),
            ("requests", None),
        ] {
            if self.budget(op).window < Duration::from_secs(1) {
                v.push((
                    format!("limits.{name}.window"),
                    "must be at least 1s".into(),
                ));
            }
        }
        if !(1..=128).contains(&self.ipv6_prefix) {
            v.push(("limits.ipv6_prefix".into(), "must be 1 to 128".into()));
        }
        v
    }

    /// The effective budget of `op` (`None`: the whole-request budget).
    pub fn budget(&self, op: Option<Operation>) -> Budget {
        let rule = match op {
            Some(Operation::Login) => &self.login,
            Some(Operation::Signup) => &self.signup,
            Some(Operation::PasswordReset) => &self.password_reset,
            Some(Operation::InviteUser) => &self.invite_user,
            Some(Operation::ResendInvitation) => &self.resend_invitation,
            Some(Operation::CancelInvitation) => &self.cancel_invitation,
            Some(Operation::MfaVerify) => &self.mfa_verify,
            None => &self.requests,
        };
        Budget::default_for(op).with(rule)
    }
}

/// Counts attempts in the shared store and refuses those over budget.
pub struct Limiter {
    settings: LimitsSettings,
    store: Arc<dyn Store>,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("settings", &self.settings)
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

/// The key of a client address: IPv6 by network, IPv4 as is.
pub(crate) fn ip_bucket(ip: IpAddr, v6_prefix: u8) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ipnet::Ipv6Net::new(v6, v6_prefix.min(128))
                .map(|n| n.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
        },
    }
}

impl Limiter {
    pub fn new(settings: LimitsSettings, store: Arc<dyn Store>, metrics: Option<Metrics>) -> Self {
        Self {
            settings,
            store,
            metrics,
        }
    }

    /// One attempt at `op` from `ip` for `account` (an email): counted, then
    /// refused with RATE_LIMITED (and `retryAfter`) when over budget. The IP
    /// is checked first; an attempt refused for its IP does not count
    /// against the account.
    pub async fn check(
        &self,
        op: Operation,
        ip: IpAddr,
        account: Option<&str>,
    ) -> Result<(), ApiError> {
        if !self.settings.enabled {
            return Ok(());
        }
        let rule = self.settings.budget(Some(op));
        let name = op.as_str();
        if rule.per_ip > 0 {
            let key = format!("{name}:ip:{}", ip_bucket(ip, self.settings.ipv6_prefix));
            self.count(&key, rule.per_ip, rule.window, name, "ip", || {
                format!("too many {name} attempts from this address")
            })
            .await?;
        }
        if let Some(acct) = account.filter(|_| rule.per_account > 0) {
            let key = format!("{name}:account:{}", acct.trim().to_lowercase());
            self.count(&key, rule.per_account, rule.window, name, "account", || {
                format!("too many {name} attempts for this account")
            })
            .await?;
        }
        Ok(())
    }

    /// One HTTP request from `ip` by `principal` (its `sub`, when authenticated).
    pub async fn check_request(&self, ip: IpAddr, principal: Option<&str>) -> Result<(), ApiError> {
        if !self.settings.enabled {
            return Ok(());
        }
        let rule = self.settings.budget(None);
        if rule.per_ip > 0 {
            let key = format!("request:ip:{}", ip_bucket(ip, self.settings.ipv6_prefix));
            self.count(&key, rule.per_ip, rule.window, "request", "ip", || {
                "too many requests from this address".into()
            })
            .await?;
        }
        if let Some(sub) = principal.filter(|_| rule.per_account > 0) {
            let key = format!("request:principal:{sub}");
            self.count(
                &key,
                rule.per_account,
                rule.window,
                "request",
                "principal",
                || "too many requests for this user".into(),
            )
            .await?;
        }
        Ok(())
    }

    async fn count(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
        op: &'static str,
        scope: &'static str,
        message: impl FnOnce() -> String,
    ) -> Result<(), ApiError> {
        match self.store.hit(key, window).await {
            Ok(hit) if hit.count <= limit => Ok(()),
            Ok(hit) => {
                if let Some(m) = &self.metrics {
                    m.record_rate_limited(op, scope);
                }
                tracing::info!(op, scope, count = hit.count, limit, "rate limited");
                // never 0: "retry now" would be refused again
                let retry_after = hit.resets_in.clamp(Duration::from_secs(1), window);
                Err(ApiError::RateLimited {
                    message: format!("{}; retry in {}s", message(), retry_after.as_secs().max(1)),
                    retry_after: Some(retry_after),
                })
            }
            Err(e) if self.settings.fail_open => {
                tracing::warn!(error = %e, op, scope, "rate-limit store unavailable; attempt allowed (limits.fail_open)");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, op, scope, "rate-limit store unavailable; attempt refused");
                Err(ApiError::unavailable(
                    "the rate limiter is unavailable; retry later",
                ))
            }
        }
    }
}

/// For resolvers: counts one attempt at `op` by the request's client IP and
/// `account`, with the limiter the HTTP handler put in the request data (none:
/// no limiting, e.g. a schema executed outside the handler).
pub async fn enforce(
    ctx: &ResolverContext<'_>,
    op: Operation,
    account: Option<&str>,
) -> Result<(), ApiError> {
    let Some(limiter) = ctx.data_opt::<Arc<Limiter>>() else {
        return Ok(());
    };
    let rc = ctx
        .data::<RequestContext>()
        .map_err(|_| ApiError::Internal)?;
    limiter.check(op, rc.meta.client_ip, account).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn limiter(f: impl FnOnce(&mut LimitsSettings)) -> Limiter {
        let mut s = LimitsSettings::default();
        f(&mut s);
        Limiter::new(s, Arc::new(MemoryStore::default()), None)
    }

    #[tokio::test]
    async fn account_limit_then_retry_after() {
        let l = limiter(|s| s.login.per_account = Some(2));
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        l.check(Operation::Login, ip, Some("a@x.io")).await.unwrap();
        l.check(Operation::Login, ip, Some("A@X.io "))
            .await
            .unwrap();
        let err = l
            .check(Operation::Login, ip, Some("a@x.io"))
            .await
            .unwrap_err();
        let ApiError::RateLimited { retry_after, .. } = err else {
            panic!("{err:?}")
        };
        let ra = retry_after.unwrap();
        assert!(ra <= Duration::from_secs(900) && ra >= Duration::from_secs(1));
        // another account from the same IP still works
        l.check(Operation::Login, ip, Some("b@x.io")).await.unwrap();
    }

    #[tokio::test]
    async fn ipv6_counts_per_network() {
        let l = limiter(|s| s.signup.per_ip = Some(1));
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        let c: IpAddr = "2001:db9::1".parse().unwrap();
        l.check(Operation::Signup, a, None).await.unwrap();
        assert!(l.check(Operation::Signup, b, None).await.is_err());
        l.check(Operation::Signup, c, None).await.unwrap();
    }

    #[tokio::test]
    async fn disabled_counts_nothing() {
        let l = limiter(|s| {
            s.enabled = false;
            s.login.per_ip = Some(1);
        });
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        for _ in 0..3 {
            l.check(Operation::Login, ip, None).await.unwrap();
        }
    }

    #[test]
    fn defaults_validate() {
        assert!(LimitsSettings::default().validate().is_empty());
        let mut s = LimitsSettings::default();
        s.login.window = Some(Duration::ZERO);
        assert_eq!(s.validate()[0].0, "limits.login.window");
    }
}
