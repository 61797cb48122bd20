//! An invitation after it is issued: its status in listings, taking it back
//! (`cancelInvitation`), and changing a user's roles later
//! (`updateUserRoles`).
//!
//! What Auth0 cannot answer — who invited, when, and until when the link
//! works — is kept in the invited user's `app_metadata` (written at invite
//! and resend time), so no database is needed and every replica agrees.
//! Whether the invitation was accepted is Auth0's own `logins_count`.

use std::time::{Duration, SystemTime};

use super::service::{
    add_roles, audit, audit_refusal, has_logged_in, invitation_roles, parse_email, role_names,
    was_invited,
};
use super::{Invitation, InvitationPage, InviteError, InviteService};
use crate::auth::{Principal, User};
use crate::auth0::{ManagementError, ManagementUser};
use crate::email::Email;

/// `app_metadata` key: the inviter's e-mail, when known.
pub const INVITED_BY_EMAIL: &str = "invited_by_email";
/// `app_metadata` key: when the latest link stops working (RFC 3339).
pub const EXPIRES_AT: &str = "invitation_expires_at";
/// `app_metadata` key: who issued the latest fresh link.
pub const RESENT_BY: &str = "invitation_resent_by";
/// `app_metadata` key: when the latest fresh link was issued.
pub const RESENT_AT: &str = "invitation_resent_at";

/// Auth0 never returns more than 1000 users for one search (page × per_page).
const SEARCH_WINDOW: u64 = 1000;
/// Page size of the scan behind a listing.
const SCAN_PAGE: u32 = 100;
/// Largest page of `invitations`.
const MAX_PER_PAGE: i64 = 100;
/// Invited users (the listing narrows by status itself). Both Auth0 (search
/// engine v3) and the emulator accept these; `invited` is set at invite time.
const INVITED_QUERY: &str = "app_metadata.invited:true";
/// Invited users who have never logged in (pending or expired).
pub const PENDING_QUERY: &str = "logins_count:0 AND app_metadata.invited:true";

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationStatus {
    /// Never logged in, and the latest link still works.
    Pending,
    /// Logged in at least once.
    Accepted,
    /// Never logged in, and the latest link is past its lifetime.
    Expired,
}

impl InvitationStatus {
    /// The GraphQL enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Accepted => "ACCEPTED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// Which invitations a listing answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Only(InvitationStatus),
    All,
}

impl StatusFilter {
    /// The GraphQL enum value (`PENDING`, `ACCEPTED`, `EXPIRED`, `ALL`).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "PENDING" => Self::Only(InvitationStatus::Pending),
            "ACCEPTED" => Self::Only(InvitationStatus::Accepted),
            "EXPIRED" => Self::Only(InvitationStatus::Expired),
            "ALL" => Self::All,
            _ => return None,
        })
    }

    fn admits(self, s: InvitationStatus) -> bool {
        match self {
            Self::All => true,
            Self::Only(wanted) => wanted == s,
        }
    }
}

/// Who issued an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inviter {
    /// The inviter's `sub`.
    pub sub: String,
    /// Its e-mail, when it was known at invite time.
    pub email: Option<String>,
}

/// What the invitation recorded in the user's `app_metadata`.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub invited_by: Option<Inviter>,
    pub invited_at: Option<SystemTime>,
    pub expires_at: Option<SystemTime>,
}

/// `SystemTime` as RFC 3339 (UTC, seconds), as stored in `app_metadata`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn meta_str<'u>(user: &'u ManagementUser, key: &str) -> Option<&'u str> {
    user.app_metadata
        .as_ref()?
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
}

fn meta_time(user: &ManagementUser, key: &str) -> Option<SystemTime> {
    meta_str(user, key).and_then(|s| humantime::parse_rfc3339_weak(s).ok())
}

/// The inviter, invitation time and link expiry the invitation recorded.
pub fn recorded(user: &ManagementUser) -> Recorded {
    Recorded {
        invited_by: meta_str(user, "invited_by").map(|sub| Inviter {
            sub: sub.to_owned(),
            email: meta_str(user, INVITED_BY_EMAIL).map(str::to_owned),
        }),
        invited_at: meta_time(user, "invited_at"),
        expires_at: meta_time(user, EXPIRES_AT),
    }
}

/// The invitation's status at `now`. Invitations issued before the expiry
/// was recorded expire `ttl` after `invited_at`.
pub fn status_of(user: &ManagementUser, now: SystemTime, ttl: Duration) -> InvitationStatus {
    if has_logged_in(user) {
        return InvitationStatus::Accepted;
    }
    let r = recorded(user);
    match r.expires_at.or_else(|| r.invited_at.map(|t| t + ttl)) {
        Some(exp) if exp <= now => InvitationStatus::Expired,
        _ => InvitationStatus::Pending,
    }
}

fn listed(user: ManagementUser, now: SystemTime, ttl: Duration) -> Invitation {
    let status = status_of(&user, now, ttl);
    let r = recorded(&user);
    Invitation {
        email: user.email.clone().unwrap_or_default(),
        roles: invitation_roles(&user),
        status,
        expires_at: r.expires_at.or_else(|| r.invited_at.map(|t| t + ttl)),
        invited_by: r.invited_by,
        invited_at: r.invited_at,
        user_id: user.user_id,
        ticket_url: None,
        resent: false,
    }
}

/// A `cancelInvitation` by a caller who may invite.
#[derive(Debug)]
pub struct CheckedCancel<'p> {
    caller: &'p User,
    email: Email,
}

impl CheckedCancel<'_> {
    /// The invitee's address (the per-address limit counts it).
    pub fn email(&self) -> &Email {
        &self.email
    }
}

/// `updateUserRoles`: role names to add to and remove from a user.
#[derive(Debug, Clone, Default)]
pub struct RoleChange {
    pub user_id: String,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// A user's roles after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRoles {
    pub user_id: String,
    /// Role names, sorted.
    pub roles: Vec<String>,
}

impl InviteService {
    /// `invitations(status: PENDING)`: invited users who have not logged in
    /// yet and whose link still works.
    pub async fn list(
        &self,
        principal: &Principal,
        page: i64,
        per_page: i64,
    ) -> Result<InvitationPage, InviteError> {
        self.list_invitations(
            principal,
            StatusFilter::Only(InvitationStatus::Pending),
            page,
            per_page,
        )
        .await
    }

    /// `invitations(status:, page:, perPage:)`, newest first. Auth0's search
    /// cannot tell an expired link from a working one, so the invitations
    /// (at most Auth0's search window of 1000, read 100 at a time) are
    /// classified here and then paged; `total` counts those of the status.
    pub async fn list_invitations(
        &self,
        principal: &Principal,
        filter: StatusFilter,
        page: i64,
        per_page: i64,
    ) -> Result<InvitationPage, InviteError> {
        self.authorize_for(principal, &self.settings.permission)?;
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(InviteError::bad(
                "perPage",
                format!("must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        let (Ok(page), Ok(per_page)) = (u32::try_from(page), u32::try_from(per_page)) else {
            return Err(InviteError::bad("page", "must not be negative"));
        };
        if (u64::from(page) + 1) * u64::from(per_page) > SEARCH_WINDOW {
            return Err(InviteError::bad(
                "page",
                format!("only the first {SEARCH_WINDOW} invitations can be paged through"),
            ));
        }
        let query = match filter {
            StatusFilter::Only(InvitationStatus::Pending | InvitationStatus::Expired) => {
                PENDING_QUERY
            }
            _ => INVITED_QUERY,
        };
        let now = SystemTime::now();
        let ttl = self.settings.ticket_ttl;
        let mut all: Vec<Invitation> = self
            .scan(query)
            .await?
            .into_iter()
            .map(|u| listed(u, now, ttl))
            .filter(|i| filter.admits(i.status))
            .collect();
        all.sort_by(|a, b| {
            b.invited_at
                .cmp(&a.invited_at)
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(page as usize * per_page as usize)
            .take(per_page as usize)
            .collect();
        Ok(InvitationPage {
            items,
            page,
            per_page,
            total,
        })
    }

    /// Every user `q` finds, newest first, up to the search window.
    async fn scan(&self, q: &str) -> Result<Vec<ManagementUser>, InviteError> {
        let mut users: Vec<ManagementUser> = Vec::new();
        for page in 0..(SEARCH_WINDOW / u64::from(SCAN_PAGE)) as u32 {
            let found = self
                .mgmt
                .search_users_sorted(q, Some("created_at:-1"), page, SCAN_PAGE)
                .await?;
            let got = found.users.len();
            users.extend(found.users);
            if got < SCAN_PAGE as usize || users.len() as u64 >= found.total {
                break;
            }
        }
        Ok(users)
    }

    /// Who calls and the address, before any Management API call.
    pub fn check_cancel<'p>(
        &self,
        principal: &'p Principal,
        email: &str,
    ) -> Result<CheckedCancel<'p>, InviteError> {
        let caller = self.authorize_for(principal, &self.settings.permission)?;
        match parse_email(email, "email") {
            Ok(email) => Ok(CheckedCancel { caller, email }),
            Err(e) => {
                audit_refusal("cancel", caller, None, &[], &e);
                Err(e)
            }
        }
    }

    /// Deletes the invited user, so that its link dies with it: only an
    /// account an invitation created and that never logged in, and only by
    /// a caller who could grant every role it holds or was invited with
    /// (the same rule as for a fresh link: the account is the caller's to
    /// give, so it is the caller's to take back). Answers the invitation as
    /// it was.
    pub async fn complete_cancel(&self, c: CheckedCancel<'_>) -> Result<Invitation, InviteError> {
        let mut roles_seen: Vec<String> = Vec::new();
        let result = async {
            let user = self
                .find_user(c.email.as_str())
                .await?
                .ok_or(InviteError::UnknownUser)?;
            if !was_invited(&user) {
                return Err(InviteError::NotInvited);
            }
            if has_logged_in(&user) {
                return Err(InviteError::AlreadyAccepted);
            }
            let mut roles = self.held_roles(&user.user_id).await?;
            add_roles(
                &mut roles,
                self.resolve_roles(&invitation_roles(&user), false).await?,
            );
            roles_seen = roles.iter().map(|(n, _)| n.clone()).collect();
            self.ensure_grantable(c.caller, &roles).await?;
            match self.mgmt.delete_user(&user.user_id).await {
                // deleted meanwhile (a concurrent cancel): the outcome is the same
                Ok(()) | Err(ManagementError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let mut inv = listed(user, SystemTime::now(), self.settings.ticket_ttl);
            inv.roles = roles_seen.clone();
            Ok(inv)
        }
        .await;
        audit("cancel", c.caller, &c.email, &roles_seen, &result);
        result
    }

    /// `updateUserRoles`: adds and removes roles by name, for a caller with
    /// `update_roles_permission` who could grant every role it adds or
    /// removes and every role the user already holds, never on its own
    /// account. Everything is checked before the first write; answers the
    /// user's roles afterwards.
    pub async fn update_user_roles(
        &self,
        principal: &Principal,
        change: RoleChange,
    ) -> Result<UserRoles, InviteError> {
        let caller = self.authorize_for(principal, &self.settings.update_roles_permission)?;
        let result = self.update_roles_checked(caller, &change).await;
        audit_roles(caller, &change, &result);
        result
    }

    async fn update_roles_checked(
        &self,
        caller: &User,
        change: &RoleChange,
    ) -> Result<UserRoles, InviteError> {
        let user_id = change.user_id.trim();
        if user_id.is_empty() {
            return Err(InviteError::bad("userId", "is empty"));
        }
        if user_id.len() > 255 {
            return Err(InviteError::bad("userId", "is longer than 255 bytes"));
        }
        if user_id == caller.subject {
            return Err(InviteError::OwnAccount);
        }
        let max = self.settings.max_roles;
        let add = role_names(&change.add, max, "add")?;
        let remove = role_names(&change.remove, max, "remove")?;
        if add.is_empty() && remove.is_empty() {
            return Err(InviteError::bad(
                "add",
                "name at least one role to add or remove",
            ));
        }
        if let Some(both) = add.iter().find(|r| remove.contains(r)) {
            return Err(InviteError::bad(
                "remove",
                format!("`{both}` is both added and removed"),
            ));
        }
        let strict = |field: &'static str| {
            move |e: InviteError| match e {
                InviteError::UnknownRole(r) => {
                    InviteError::bad(field, format!("unknown role `{r}`"))
                }
                e => e,
            }
        };
        let add = self
            .resolve_roles(&add, true)
            .await
            .map_err(strict("add"))?;
        let remove = self
            .resolve_roles(&remove, true)
            .await
            .map_err(strict("remove"))?;
        match self.mgmt.get_user(user_id).await {
            Ok(_) => {}
            Err(ManagementError::NotFound { .. }) => return Err(InviteError::NoSuchUser),
            Err(e) => return Err(e.into()),
        }
        let held: Vec<(String, String)> = self
            .mgmt
            .user_roles(user_id)
            .await?
            .into_iter()
            .map(|r| (r.name, r.id))
            .collect();
        let mut touched = held.clone();
        for r in add.iter().chain(&remove) {
            if !touched.iter().any(|(_, id)| id == &r.1) {
                touched.push(r.clone());
            }
        }
        self.ensure_grantable(caller, &touched).await?;

        let is_held = |id: &String| held.iter().any(|(_, h)| h == id);
        let to_add: Vec<String> = add
            .iter()
            .map(|(_, id)| id.clone())
            .filter(|id| !is_held(id))
            .collect();
        let to_remove: Vec<String> = remove
            .iter()
            .map(|(_, id)| id.clone())
            .filter(is_held)
            .collect();
        let gone = |e: ManagementError| match e {
            ManagementError::NotFound { .. } => {
                InviteError::bad("userId", "the user or a role no longer exists")
            }
            e => e.into(),
        };
        self.mgmt
            .assign_roles(user_id, &to_add)
            .await
            .map_err(gone)?;
        self.mgmt
            .remove_roles(user_id, &to_remove)
            .await
            .map_err(gone)?;
        let mut roles: Vec<String> = held
            .into_iter()
            .filter(|(_, id)| !to_remove.contains(id))
            .map(|(n, _)| n)
            .chain(
                add.into_iter()
                    .filter(|(_, id)| to_add.contains(id))
                    .map(|(n, _)| n),
            )
            .collect();
        roles.sort_unstable();
        roles.dedup();
        Ok(UserRoles {
            user_id: user_id.to_owned(),
            roles,
        })
    }
}

fn audit_roles(caller: &User, change: &RoleChange, result: &Result<UserRoles, InviteError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    if let Err(InviteError::Misconfigured(cause)) = result {
        tracing::error!(%cause, "role change failed: the Management API client is misconfigured");
    }
    let bounded = |v: &[String]| v.iter().take(100).cloned().collect::<Vec<_>>();
    tracing::info!(
        target: "audit",
        event = "user_roles",
        action = "update_roles",
        actor = %caller.subject,
        user_id = %change.user_id.chars().take(255).collect::<String>(),
        add = ?bounded(&change.add),
        remove = ?bounded(&change.remove),
        roles = ?result.as_ref().ok().map(|r| &r.roles),
        outcome,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn user(v: Value) -> ManagementUser {
        let mut base = json!({"user_id": "auth0|1"});
        if let (Some(o), Value::Object(extra)) = (base.as_object_mut(), v) {
            o.extend(extra);
        }
        serde_json::from_value(base).unwrap()
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn status_follows_logins_and_the_recorded_expiry() {
        let now = humantime::parse_rfc3339("2026-06-10T00:00:00Z").unwrap();
        let pending = user(json!({"logins_count": 0, "app_metadata": {
            "invited_by": "auth0|a", "invited_at": "2026-06-09T00:00:00Z",
            "invitation_expires_at": "2026-06-16T00:00:00Z"}}));
        assert_eq!(status_of(&pending, now, DAY), InvitationStatus::Pending);
        let expired = user(json!({"logins_count": 0, "app_metadata": {
            "invited_by": "auth0|a", "invited_at": "2026-06-01T00:00:00Z",
            "invitation_expires_at": "2026-06-08T00:00:00Z"}}));
        assert_eq!(status_of(&expired, now, DAY), InvitationStatus::Expired);
        let accepted = user(json!({"logins_count": 2, "app_metadata": {
            "invited_by": "auth0|a", "invited_at": "2026-06-01T00:00:00Z",
            "invitation_expires_at": "2026-06-08T00:00:00Z"}}));
        assert_eq!(status_of(&accepted, now, DAY), InvitationStatus::Accepted);
        // recorded before the expiry was: invited_at + the configured lifetime
        let legacy = user(json!({"app_metadata": {
            "invited_by": "auth0|a", "invited_at": "2026-06-08T12:00:00Z"}}));
        assert_eq!(status_of(&legacy, now, DAY), InvitationStatus::Expired);
        assert_eq!(status_of(&legacy, now, 7 * DAY), InvitationStatus::Pending);
    }

    #[test]
    fn the_inviter_is_read_from_app_metadata() {
        let u = user(json!({"app_metadata": {
            "invited_by": "auth0|a", "invited_by_email": "a@example.com",
            "invited_at": "2026-06-09T00:00:00Z"}}));
        let r = recorded(&u);
        assert_eq!(
            r.invited_by,
            Some(Inviter {
                sub: "auth0|a".into(),
                email: Some("a@example.com".into())
            })
        );
        assert_eq!(
            r.invited_at.map(rfc3339).as_deref(),
            Some("2026-06-09T00:00:00Z")
        );
        assert!(recorded(&user(json!({}))).invited_by.is_none());
    }

    #[test]
    fn filters_parse_the_enum() {
        assert_eq!(
            StatusFilter::parse("EXPIRED"),
            Some(StatusFilter::Only(InvitationStatus::Expired))
        );
        assert_eq!(StatusFilter::parse("ALL"), Some(StatusFilter::All));
        assert_eq!(StatusFilter::parse("pending"), None);
        assert!(StatusFilter::All.admits(InvitationStatus::Accepted));
        assert!(!StatusFilter::Only(InvitationStatus::Pending).admits(InvitationStatus::Expired));
    }
}
