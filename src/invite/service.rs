//! The invitation flow: create the user, assign roles, issue a password-change
//! ticket, and hand the link over (returned, or emailed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::delivery::{Mailer, Message};
use super::lifecycle::{self, InvitationStatus, Inviter};
use super::{InviteError, InviteSettings};
use crate::auth::{Principal, User};
use crate::auth0::{
    CreateUser, ManagementClient, ManagementError, ManagementUser, RolePermission, TicketRequest,
};
use crate::email::Email;
use crate::secret::Secret;

/// Largest serialized `metadata` accepted (Auth0 allows more; a back office needs less).
const MAX_METADATA_BYTES: usize = 16 * 1024;
/// What to invite.
#[derive(Debug, Clone, Default)]
pub struct InviteInput {
    pub email: String,
    /// Role names (resolved to Auth0 role ids).
    pub roles: Vec<String>,
    pub name: Option<String>,
    /// Stored as the user's `user_metadata`.
    pub metadata: Option<Map<String, Value>>,
}

/// An issued (or listed) invitation. `Debug` never shows the link.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub user_id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub status: InvitationStatus,
    /// Who invited (`app_metadata.invited_by`, `invited_by_email`).
    pub invited_by: Option<Inviter>,
    /// When the invitation was first issued.
    pub invited_at: Option<SystemTime>,
    /// When the latest link stops working.
    pub expires_at: Option<SystemTime>,
    /// The set-your-password link; `None` when it was emailed, and in listings.
    pub ticket_url: Option<Secret>,
    /// True when the user already existed and only a fresh link was issued.
    pub resent: bool,
}

/// A page of pending invitations.
#[derive(Debug, Clone)]
pub struct InvitationPage {
    pub items: Vec<Invitation>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

struct RoleCache {
    fetched: Instant,
    by_name: HashMap<String, String>,
}

/// Role id → its permissions, each kept for `role_cache_ttl`.
type PermissionCache = HashMap<String, (Instant, Arc<Vec<RolePermission>>)>;

/// An invitation that passed every check before anything is written: the
/// caller may invite, the input is valid, every role exists and the caller
/// may grant it. [`InviteService::complete`] carries it out.
pub struct CheckedInvitation<'p> {
    inviter: &'p User,
    email: Email,
    role_names: Vec<String>,
    roles: Vec<(String, String)>,
    name: Option<String>,
    metadata: Option<Map<String, Value>>,
}

impl std::fmt::Debug for CheckedInvitation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedInvitation")
            .field("inviter", &self.inviter.subject)
            .field("email", &self.email)
            .field("roles", &self.role_names)
            .finish_non_exhaustive()
    }
}

impl CheckedInvitation<'_> {
    /// The invitee's address (the per-invitee limit counts it).
    pub fn email(&self) -> &Email {
        &self.email
    }
}

/// A `resendInvitation` by a caller who may invite.
#[derive(Debug)]
pub struct CheckedResend<'p> {
    inviter: &'p User,
    email: Email,
}

impl CheckedResend<'_> {
    pub fn email(&self) -> &Email {
        &self.email
    }
}

/// Back-office invitations over the Management API.
pub struct InviteService {
    pub(super) settings: InviteSettings,
    pub(super) mgmt: ManagementClient,
    connection: String,
    ticket_client_id: Option<String>,
    /// The API whose permissions inviters hold (`auth0.audience`): a role's
    /// permission of another API is never held.
    audience: Option<String>,
    roles: Mutex<Option<RoleCache>>,
    permissions: Mutex<PermissionCache>,
    mailer: Option<Arc<dyn Mailer>>,
}

impl std::fmt::Debug for InviteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteService")
            .field("connection", &self.connection)
            .field("permission", &self.settings.permission)
            .finish_non_exhaustive()
    }
}

impl InviteService {
    /// A service creating users in `settings.connection`, else `connection_default`
    /// (normally `auth0.connection`). With SMTP delivery, call
    /// [`InviteService::with_mailer`] (or use [`super::build`]).
    pub fn new(
        settings: InviteSettings,
        mgmt: ManagementClient,
        connection_default: impl Into<String>,
    ) -> Self {
        let connection = settings
            .connection
            .clone()
            .unwrap_or_else(|| connection_default.into());
        Self {
            settings,
            mgmt,
            connection,
            ticket_client_id: None,
            audience: None,
            roles: Mutex::new(None),
            permissions: Mutex::new(HashMap::new()),
            mailer: None,
        }
    }

    /// The API audience the inviters' permissions belong to; a role's
    /// permission on another API then never counts as held.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.audience = (!audience.is_empty()).then_some(audience);
        self
    }

    /// The application's client id, passed on tickets when `result_url` is unset
    /// and `client_id_for_ticket` is true (Auth0 then redirects to its login route).
    pub fn with_ticket_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.ticket_client_id = Some(client_id.into());
        self
    }

    /// Emails links with `mailer` instead of returning them.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    pub fn settings(&self) -> &InviteSettings {
        &self.settings
    }

    fn authorize<'p>(&self, principal: &'p Principal) -> Result<&'p User, InviteError> {
        self.authorize_for(principal, &self.settings.permission)
    }

    /// A user (or, with `allow_clients`, a client) holding `permission`.
    pub(super) fn authorize_for<'p>(
        &self,
        principal: &'p Principal,
        permission: &str,
    ) -> Result<&'p User, InviteError> {
        match principal {
            Principal::Anonymous { rejection } => Err(InviteError::Unauthenticated(*rejection)),
            // a machine acting on its own is not a back-office user unless
            // the operator says so
            Principal::User(u) if u.is_client() && !self.settings.allow_clients => {
                Err(InviteError::ClientRefused)
            }
            Principal::User(u) if u.permissions.iter().any(|p| p == permission) => Ok(u),
            Principal::User(_) => Err(InviteError::Forbidden(permission.to_owned())),
        }
    }

    /// `inviteUser` without a rate limit: [`Self::check`], then
    /// [`Self::complete`]. An email whose invited user never logged in gets a
    /// fresh link (`resent: true`).
    pub async fn invite(
        &self,
        principal: &Principal,
        input: InviteInput,
    ) -> Result<Invitation, InviteError> {
        let checked = self.check(principal, input).await?;
        self.complete(checked).await
    }

    /// Everything `inviteUser` decides before a write: who calls, the input,
    /// that the roles exist and that the caller may grant each of them.
    /// Nothing is written; a refusal after authentication is audited.
    pub async fn check<'p>(
        &self,
        principal: &'p Principal,
        input: InviteInput,
    ) -> Result<CheckedInvitation<'p>, InviteError> {
        let inviter = self.authorize(principal)?;
        let requested: Vec<String> = input.roles.iter().take(100).cloned().collect();
        let result = self.check_input(inviter, input).await;
        if let Err(e) = &result {
            let roles = match e {
                InviteError::NotGrantable(refused) => refused.clone(),
                _ => requested,
            };
            audit_refusal("invite", inviter, None, &roles, e);
        }
        result
    }

    async fn check_input<'p>(
        &self,
        inviter: &'p User,
        input: InviteInput,
    ) -> Result<CheckedInvitation<'p>, InviteError> {
        let email = parse_email(&input.email, "input.email")?;
        let role_names = role_names(&input.roles, self.settings.max_roles, "input.roles")?;
        let name = match input.name.as_deref().map(str::trim) {
            None => None,
            Some("") => return Err(InviteError::bad("input.name", "is empty")),
            Some(n) if n.chars().count() > 300 => {
                return Err(InviteError::bad(
                    "input.name",
                    "is longer than 300 characters",
                ))
            }
            Some(n) => Some(n.to_owned()),
        };
        if let Some(m) = &input.metadata {
            if serde_json::to_vec(m).map_or(usize::MAX, |v| v.len()) > MAX_METADATA_BYTES {
                return Err(InviteError::bad(
                    "input.metadata",
                    format!("is larger than {MAX_METADATA_BYTES} bytes"),
                ));
            }
        }
        // Every role must exist, and be the caller's to give, before anything is created.
        let roles = self.resolve_roles(&role_names, true).await?;
        self.ensure_grantable(inviter, &roles).await?;
        Ok(CheckedInvitation {
            inviter,
            email,
            role_names,
            roles,
            name,
            metadata: input.metadata,
        })
    }

    /// Creates the user, assigns the roles and issues the link.
    pub async fn complete(&self, c: CheckedInvitation<'_>) -> Result<Invitation, InviteError> {
        let result = self.complete_inner(&c).await;
        audit("invite", c.inviter, &c.email, &c.role_names, &result);
        result
    }

    async fn complete_inner(&self, c: &CheckedInvitation<'_>) -> Result<Invitation, InviteError> {
        let email = c.email.as_str();
        let now = SystemTime::now();
        let mut app_metadata = Map::new();
        app_metadata.insert("invited".into(), json!(true));
        app_metadata.insert("invited_by".into(), json!(c.inviter.subject));
        if let Some(e) = self.inviter_email(c.inviter).await {
            app_metadata.insert(lifecycle::INVITED_BY_EMAIL.into(), json!(e));
        }
        app_metadata.insert("invited_at".into(), json!(lifecycle::rfc3339(now)));
        app_metadata.insert(
            lifecycle::EXPIRES_AT.into(),
            json!(lifecycle::rfc3339(now + self.settings.ticket_ttl)),
        );
        app_metadata.insert("invitation_roles".into(), json!(c.role_names));
        let create = CreateUser {
            connection: self.connection.clone(),
            email: email.to_owned(),
            password: random_password(),
            email_verified: false,
            verify_email: false,
            name: c.name.clone(),
            user_metadata: c.metadata.clone(),
            app_metadata: Some(app_metadata),
        };
        match self.mgmt.create_user(&create).await {
            Ok(user) => self.issue(c.inviter, &user, email, &c.roles, false).await,
            Err(ManagementError::Conflict { .. }) => {
                // Already there: a previous attempt that failed half-way, a
                // concurrent invitation, or a real account.
                let user = self.find_user(email).await?.ok_or_else(|| {
                    InviteError::Unavailable("the user exists but is not searchable yet".to_owned())
                })?;
                self.ensure_pending_invitation(c.inviter, &user, &c.roles)
                    .await?;
                self.issue(c.inviter, &user, email, &c.roles, true).await
            }
            Err(ManagementError::BadRequest(message)) => {
                tracing::info!(%message, "Auth0 refused to create the invited user");
                Err(InviteError::bad(
                    "input",
                    "the identity provider refused this user (check the email and metadata)",
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An existing user gets a (new) link only when an invitation created it
    /// and it never logged in, and only from a caller who may grant every
    /// role it holds and is about to get: a link is the whole account.
    async fn ensure_pending_invitation(
        &self,
        inviter: &User,
        user: &ManagementUser,
        adding: &[(String, String)],
    ) -> Result<(), InviteError> {
        if !was_invited(user) || has_logged_in(user) {
            return Err(InviteError::UserExists);
        }
        let mut roles = self.held_roles(&user.user_id).await?;
        add_roles(&mut roles, adding.iter().cloned());
        self.ensure_grantable(inviter, &roles).await
    }

    /// The user's roles as `(name, id)`; a resend and a cancel both weigh
    /// what the user already holds, not only what the invitation names.
    pub(super) async fn held_roles(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, InviteError> {
        Ok(self
            .mgmt
            .user_roles(user_id)
            .await?
            .into_iter()
            .map(|r| (r.name, r.id))
            .collect())
    }

    /// `resendInvitation` without a rate limit: [`Self::check_resend`], then
    /// [`Self::complete_resend`].
    pub async fn resend(
        &self,
        principal: &Principal,
        email: &str,
    ) -> Result<Invitation, InviteError> {
        let checked = self.check_resend(principal, email)?;
        self.complete_resend(checked).await
    }

    /// Who calls and the address, before any Management API call.
    pub fn check_resend<'p>(
        &self,
        principal: &'p Principal,
        email: &str,
    ) -> Result<CheckedResend<'p>, InviteError> {
        let inviter = self.authorize(principal)?;
        let email = parse_email(email, "email")?;
        Ok(CheckedResend { inviter, email })
    }

    /// A fresh link for an invited user who has not logged in yet, with the
    /// invitation's roles, when the caller may grant them.
    pub async fn complete_resend(&self, c: CheckedResend<'_>) -> Result<Invitation, InviteError> {
        let mut wanted: Vec<String> = Vec::new();
        let result = async {
            let user = self
                .find_user(c.email.as_str())
                .await?
                .ok_or(InviteError::UnknownUser)?;
            if !was_invited(&user) || has_logged_in(&user) {
                return Err(InviteError::UserExists);
            }
            wanted = invitation_roles(&user);
            let roles = self.resolve_roles(&wanted, false).await?;
            self.ensure_pending_invitation(c.inviter, &user, &roles)
                .await?;
            self.issue(c.inviter, &user, c.email.as_str(), &roles, true)
                .await
        }
        .await;
        audit("resend", c.inviter, &c.email, &wanted, &result);
        result
    }

    /// The inviter's e-mail, recorded with the invitation: the access
    /// token's `email` claim (or a namespaced `…/email` one), else the
    /// user's profile. `None` for clients and when it cannot be read: the
    /// invitation does not depend on it.
    async fn inviter_email(&self, inviter: &User) -> Option<String> {
        let claim = inviter.claims.get("email").or_else(|| {
            inviter
                .claims
                .iter()
                .find(|(k, _)| k.starts_with("http") && k.ends_with("/email"))
                .map(|(_, v)| v)
        });
        if let Some(e) = claim.and_then(Value::as_str) {
            return Some(e.to_owned());
        }
        if inviter.is_client() {
            return None;
        }
        match self.mgmt.get_user(&inviter.subject).await {
            Ok(u) => u.email,
            Err(e) => {
                tracing::debug!(error = %e, "the inviter's e-mail could not be read");
                None
            }
        }
    }

    /// Every role in `roles` may be granted by `inviter`, or `NotGrantable`
    /// naming those that may not. When one of the inviter's roles is listed
    /// in `grantable_roles`, those lists decide (`*`: any role); otherwise a
    /// role is grantable when the inviter holds each of its permissions.
    pub(super) async fn ensure_grantable(
        &self,
        inviter: &User,
        roles: &[(String, String)],
    ) -> Result<(), InviteError> {
        let lists: Vec<&Vec<String>> = inviter
            .roles
            .iter()
            .filter_map(|r| self.settings.grantable_roles.get(r))
            .collect();
        let mut refused = Vec::new();
        for (name, id) in roles {
            let allowed = if lists.is_empty() {
                let perms = self.role_permissions(id).await?;
                perms.iter().all(|p| self.holds(inviter, p))
            } else {
                lists
                    .iter()
                    .any(|l| l.iter().any(|g| g == "*" || g == name))
            };
            if !allowed && !refused.contains(name) {
                refused.push(name.clone());
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(InviteError::NotGrantable(refused))
        }
    }

    fn holds(&self, inviter: &User, p: &RolePermission) -> bool {
        let same_api = match (&p.resource_server_identifier, &self.audience) {
            (Some(api), Some(audience)) => api == audience,
            _ => true,
        };
        same_api && inviter.permissions.contains(&p.permission_name)
    }

    /// A role's permissions, cached for `role_cache_ttl` (one fetch at a time).
    async fn role_permissions(
        &self,
        role_id: &str,
    ) -> Result<Arc<Vec<RolePermission>>, InviteError> {
        let mut cache = self.permissions.lock().await;
        if let Some((fetched, perms)) = cache.get(role_id) {
            if fetched.elapsed() < self.settings.role_cache_ttl {
                return Ok(perms.clone());
            }
        }
        let perms = match self.mgmt.role_permissions(role_id).await {
            Ok(p) => Arc::new(p),
            Err(ManagementError::NotFound { .. }) => {
                // deleted since the role list was cached
                *self.roles.lock().await = None;
                return Err(InviteError::bad(
                    "input.roles",
                    "a role no longer exists; retry with current roles",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        cache.retain(|_, (fetched, _)| fetched.elapsed() < self.settings.role_cache_ttl);
        cache.insert(role_id.to_owned(), (Instant::now(), perms.clone()));
        Ok(perms)
    }

    /// The user with this email in our connection (or any, if none is tagged
    /// with a connection).
    pub(super) async fn find_user(
        &self,
        email: &str,
    ) -> Result<Option<ManagementUser>, InviteError> {
        let users = self.mgmt.users_by_email(email).await?;
        let in_connection = |u: &ManagementUser| {
            u.other
                .get("identities")
                .and_then(Value::as_array)
                .is_some_and(|ids| {
                    ids.iter().any(|i| {
                        i.get("connection").and_then(Value::as_str) == Some(&self.connection)
                    })
                })
        };
        let pick = users
            .iter()
            .position(in_connection)
            .or(if users.len() == 1 { Some(0) } else { None });
        Ok(pick.and_then(|i| users.into_iter().nth(i)))
    }

    /// Assigns the roles (idempotent), creates the ticket and delivers the link.
    async fn issue(
        &self,
        inviter: &User,
        user: &ManagementUser,
        email: &str,
        roles: &[(String, String)],
        resent: bool,
    ) -> Result<Invitation, InviteError> {
        let ids: Vec<String> = roles.iter().map(|(_, id)| id.clone()).collect();
        match self.mgmt.assign_roles(&user.user_id, &ids).await {
            Ok(()) => {}
            Err(ManagementError::NotFound { .. }) => {
                // A role was deleted since it was cached.
                *self.roles.lock().await = None;
                return Err(InviteError::bad(
                    "input.roles",
                    "a role no longer exists; retry with current roles",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let ttl = self.settings.ticket_ttl;
        let now = SystemTime::now();
        if resent {
            // The listing reads the expiry from here: record it before the new
            // link exists, so that no working link is ever listed as expired.
            let mut patch = Map::new();
            patch.insert(
                lifecycle::EXPIRES_AT.into(),
                json!(lifecycle::rfc3339(now + ttl)),
            );
            patch.insert(lifecycle::RESENT_BY.into(), json!(inviter.subject));
            patch.insert(lifecycle::RESENT_AT.into(), json!(lifecycle::rfc3339(now)));
            self.mgmt.update_app_metadata(&user.user_id, &patch).await?;
        }
        let client_id = match (
            &self.settings.result_url,
            self.settings.client_id_for_ticket,
        ) {
            (None, true) => self.ticket_client_id.clone(),
            _ => None,
        };
        let ticket = self
            .mgmt
            .create_password_change_ticket(&TicketRequest {
                user_id: user.user_id.clone(),
                result_url: self.settings.result_url.clone(),
                client_id,
                ttl_sec: ttl.as_secs(),
                mark_email_as_verified: true,
            })
            .await?;
        let link = invite_link(ticket.as_str());
        let ticket_url = match &self.mailer {
            None => Some(Secret::new(link)),
            Some(mailer) => {
                mailer
                    .send(&Message {
                        to: email,
                        link: &link,
                        inviter: &inviter_label(inviter),
                    })
                    .await
                    .map_err(|e| InviteError::Delivery(e.to_string()))?;
                None
            }
        };
        let recorded = lifecycle::recorded(user);
        Ok(Invitation {
            user_id: user.user_id.clone(),
            email: email.to_owned(),
            roles: roles.iter().map(|(n, _)| n.clone()).collect(),
            status: InvitationStatus::Pending,
            invited_by: recorded.invited_by.or_else(|| {
                Some(Inviter {
                    sub: inviter.subject.clone(),
                    email: None,
                })
            }),
            invited_at: recorded.invited_at.or(Some(now)),
            expires_at: Some(now + ttl),
            ticket_url,
            resent,
        })
    }

    /// Role names → `(name, id)`, from a cache refreshed every `role_cache_ttl`
    /// (and once more when a name is missing, for roles created meanwhile).
    /// `strict`: an unknown name is an error; else it is skipped with a warning.
    pub(super) async fn resolve_roles(
        &self,
        names: &[String],
        strict: bool,
    ) -> Result<Vec<(String, String)>, InviteError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut cache = self.roles.lock().await;
        let mut refreshed = false;
        let stale = cache
            .as_ref()
            .is_none_or(|c| c.fetched.elapsed() >= self.settings.role_cache_ttl);
        if stale {
            *cache = Some(self.fetch_roles().await?);
            refreshed = true;
        }
        loop {
            let by_name = cache.as_ref().map(|c| &c.by_name);
            let lookup = |n: &String| by_name.and_then(|m| m.get(n)).cloned();
            let missing = names.iter().find(|n| lookup(n).is_none());
            match missing {
                None => {
                    return Ok(names
                        .iter()
                        .filter_map(|n| lookup(n).map(|id| (n.clone(), id)))
                        .collect())
                }
                Some(_) if !refreshed => {
                    *cache = Some(self.fetch_roles().await?);
                    refreshed = true;
                }
                Some(n) if strict => return Err(InviteError::UnknownRole(n.clone())),
                Some(_) => {
                    let found: Vec<(String, String)> = names
                        .iter()
                        .filter_map(|n| lookup(n).map(|id| (n.clone(), id)))
                        .collect();
                    tracing::warn!(
                        wanted = names.len(),
                        found = found.len(),
                        "some invitation roles no longer exist; resending without them"
                    );
                    return Ok(found);
                }
            }
        }
    }

    async fn fetch_roles(&self) -> Result<RoleCache, InviteError> {
        let roles = self.mgmt.list_roles(None).await?;
        Ok(RoleCache {
            fetched: Instant::now(),
            by_name: roles.into_iter().map(|r| (r.name, r.id)).collect(),
        })
    }
}

/// Appends `type=invite` after the ticket's `#` (nothing before it is touched).
pub fn invite_link(ticket: &str) -> String {
    match ticket.split_once('#') {
        Some((_, "")) => format!("{ticket}type=invite"),
        Some(_) => format!("{ticket}&type=invite"),
        None => format!("{ticket}#type=invite"),
    }
}

/// Whether the user has ever logged in (`logins_count > 0` or a `last_login`).
pub fn has_logged_in(user: &ManagementUser) -> bool {
    let count = user
        .other
        .get("logins_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let last = user
        .other
        .get("last_login")
        .is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
    count > 0 || last
}

fn inviter_label(u: &User) -> String {
    ["name", "email"]
        .iter()
        .find_map(|k| u.claims.get(*k).and_then(Value::as_str))
        .unwrap_or(&u.subject)
        .to_owned()
}

/// Trimmed, de-duplicated role names, each checked; errors name `field`.
pub(super) fn role_names(
    raw: &[String],
    max: usize,
    field: &str,
) -> Result<Vec<String>, InviteError> {
    let mut out: Vec<String> = Vec::new();
    for r in raw {
        let r = r.trim();
        if r.is_empty() {
            return Err(InviteError::bad(field, "contains an empty role name"));
        }
        if r.len() > 255 {
            return Err(InviteError::bad(
                field,
                "contains a role name longer than 255 bytes",
            ));
        }
        if !out.iter().any(|o| o == r) {
            out.push(r.to_owned());
        }
    }
    if out.len() > max {
        return Err(InviteError::bad(field, format!("at most {max} roles")));
    }
    Ok(out)
}

/// The one e-mail rule ([`crate::email`]), as a `BAD_USER_INPUT` on `field`.
pub(super) fn parse_email(raw: &str, field: &str) -> Result<Email, InviteError> {
    Email::parse(raw).map_err(|e| InviteError::bad(field, e.to_string()))
}

/// `a***@example.com`: enough to correlate in logs, not the address.
pub use crate::email::mask as mask_email;

/// Whether an invitation created this user (`app_metadata.invited_by` and
/// `invited_at`, which only the Management API can write). Anything else is
/// someone's account, never changed nor handed a link by an invitation.
pub fn was_invited(user: &ManagementUser) -> bool {
    let set = |k: &str| {
        user.app_metadata
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    };
    set("invited_by") && set("invited_at")
}

/// The role names the invitation asked for (`app_metadata.invitation_roles`).
pub(super) fn invitation_roles(user: &ManagementUser) -> Vec<String> {
    user.app_metadata
        .as_ref()
        .and_then(|m| m.get("invitation_roles"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A password nobody learns: 32 bytes from the OS CSPRNG, base64url. Drawn
/// again (rarely) until it has lower, upper and digit and no character three
/// times in a row, so that every Auth0 password-policy preset accepts it.
fn random_password() -> Secret {
    let mut candidate = String::new();
    for _ in 0..64 {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        candidate = URL_SAFE_NO_PAD.encode(bytes);
        let has = |f: fn(&char) -> bool| candidate.chars().any(|c| f(&c));
        let triple = candidate
            .as_bytes()
            .windows(3)
            .any(|w| w[0] == w[1] && w[1] == w[2]);
        if has(char::is_ascii_lowercase)
            && has(char::is_ascii_uppercase)
            && has(char::is_ascii_digit)
            && !triple
        {
            break;
        }
    }
    Secret::new(candidate)
}

pub(super) fn audit(
    action: &str,
    inviter: &User,
    email: &Email,
    roles: &[String],
    result: &Result<Invitation, InviteError>,
) {
    match result {
        Ok(inv) => tracing::info!(
            target: "audit",
            event = "invitation",
            action,
            inviter = %inviter.subject,
            invitee = %email.masked(),
            user_id = %inv.user_id,
            roles = ?inv.roles,
            resent = inv.resent,
            outcome = "ok",
        ),
        Err(e) => audit_refusal(action, inviter, Some(email), roles, e),
    }
}

/// A refused or failed attempt; `email` is `None` when the refusal came
/// before the address was read (it may not even parse).
pub(super) fn audit_refusal(
    action: &str,
    inviter: &User,
    email: Option<&Email>,
    roles: &[String],
    e: &InviteError,
) {
    if let InviteError::Misconfigured(cause) = e {
        tracing::error!(%cause, "invitation failed: the Management API client is misconfigured");
    }
    tracing::info!(
        target: "audit",
        event = "invitation",
        action,
        inviter = %inviter.subject,
        invitee = email.map(Email::masked).as_deref(),
        roles = ?roles,
        outcome = e.outcome(),
    )
}

/// Adds the roles `roles` does not hold yet, by id: a role both held and
/// named by the invitation is weighed once.
pub(super) fn add_roles(
    roles: &mut Vec<(String, String)>,
    adding: impl IntoIterator<Item = (String, String)>,
) {
    for r in adding {
        if !roles.iter().any(|(_, id)| id == &r.1) {
            roles.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_appends_after_hash_only() {
        let t = "https://t.auth0.com/u/reset-password?ticket=ab%2Fc#";
        assert_eq!(invite_link(t), format!("{t}type=invite"));
        assert_eq!(
            invite_link("https://x/u?t=1#app=A"),
            "https://x/u?t=1#app=A&type=invite"
        );
        assert_eq!(
            invite_link("https://x/u?t=1"),
            "https://x/u?t=1#type=invite"
        );
    }

    #[test]
    fn emails_follow_the_one_rule() {
        assert_eq!(
            parse_email("  Ada@Example.COM ", "e").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in ["", "ada", "a@x", "a@@x.com", "<a@x.com>", "a..b@x.com"] {
            assert!(parse_email(bad, "e").is_err(), "{bad}");
        }
        assert_eq!(mask_email("ada@example.com"), "a***@example.com");
    }

    #[test]
    fn invited_users_are_marked() {
        assert!(!was_invited(&user(json!({}))));
        assert!(!was_invited(&user(
            json!({"app_metadata": {"invited": true}})
        )));
        assert!(was_invited(&user(json!({"app_metadata": {
            "invited_by": "auth0|admin", "invited_at": "2026-01-01T00:00:00Z"
        }}))));
    }

    #[test]
    fn passwords_are_random_and_strong() {
        let a = random_password();
        let b = random_password();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert!(a.expose().chars().any(|c| c.is_ascii_digit()));
        assert_eq!(format!("{a:?}"), "[REDACTED]");
    }

    #[test]
    fn roles_are_trimmed_deduplicated_and_bounded() {
        let r = role_names(&[" admin".into(), "admin".into(), "user".into()], 5, "r").unwrap();
        assert_eq!(r, vec!["admin", "user"]);
        assert!(role_names(&["".into()], 5, "r").is_err());
        assert!(role_names(&["a".into(), "b".into()], 1, "r").is_err());
    }

    fn user(other: Value) -> ManagementUser {
        let mut v = json!({"user_id": "auth0|1"});
        if let (Some(o), Value::Object(extra)) = (v.as_object_mut(), other) {
            o.extend(extra);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn logged_in_detection() {
        assert!(!has_logged_in(&user(json!({"logins_count": 0}))));
        assert!(!has_logged_in(&user(json!({"last_login": null}))));
        assert!(has_logged_in(&user(json!({"logins_count": 3}))));
        assert!(has_logged_in(&user(
            json!({"last_login": "2024-01-01T00:00:00Z"})
        )));
    }
}
