//! Why an invitation failed, and how that reaches the client.

use std::time::Duration;

use crate::auth::Rejection;
use crate::auth0::ManagementError;
use crate::error::ApiError;

/// What went wrong while inviting, resending, cancelling or listing
/// invitations, or changing a user's roles.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// No usable access token (and why it was refused, if one was sent).
    #[error("authentication required")]
    Unauthenticated(Option<Rejection>),

    /// The caller lacks the invitation permission.
    #[error("missing permission `{0}`")]
    Forbidden(String),

    /// The caller may not grant these roles (it lacks some of their
    /// permissions, or `grantable_roles` does not list them for its roles).
    #[error("may not grant {0:?}")]
    NotGrantable(Vec<String>),

    /// A client-credentials token (a machine) while `allow_clients` is off.
    #[error("clients may not manage invitations")]
    ClientRefused,

    /// An argument is wrong; `field` names it (`input.email`, `perPage`, …).
    #[error("invalid {field}: {message}")]
    BadInput { field: String, message: String },

    /// A requested role name does not exist in the tenant.
    #[error("unknown role `{0}`")]
    UnknownRole(String),

    /// The email belongs to an account that an invitation did not create, or
    /// that has already logged in.
    #[error("the user already exists and is active")]
    UserExists,

    /// `resendInvitation` or `cancelInvitation` for an email that has no user.
    #[error("no invited user with this email")]
    UnknownUser,

    /// `cancelInvitation` for an account an invitation did not create.
    #[error("the account was not created by an invitation")]
    NotInvited,

    /// `cancelInvitation` for an invited account that has logged in.
    #[error("the invitation was accepted")]
    AlreadyAccepted,

    /// `updateUserRoles` on the caller's own account.
    #[error("may not change one's own roles")]
    OwnAccount,

    /// `updateUserRoles` for a user id the tenant does not know.
    #[error("no such user")]
    NoSuchUser,

    /// The Management API's rate limit was hit.
    #[error("rate limited by the Management API")]
    RateLimited { retry_after: Option<Duration> },

    /// Auth0 is unreachable or answered 5xx / unusably; retrying the same
    /// invitation later completes it.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),

    /// The Management client or the tenant is misconfigured (missing scope,
    /// rejected credentials): an operator must fix it.
    #[error("misconfigured: {0}")]
    Misconfigured(String),

    /// The invitation email could not be sent (the user and ticket exist:
    /// `resendInvitation` retries).
    #[error("invitation email not sent: {0}")]
    Delivery(String),
}

impl InviteError {
    /// The error's stable short name, for the audit log.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotGrantable(_) => "not_grantable",
            Self::ClientRefused => "client_refused",
            Self::BadInput { .. } => "bad_input",
            Self::UnknownRole(_) => "unknown_role",
            Self::UserExists => "user_exists",
            Self::UnknownUser => "unknown_user",
            Self::NotInvited => "not_invited",
            Self::AlreadyAccepted => "already_accepted",
            Self::OwnAccount => "own_account",
            Self::NoSuchUser => "no_such_user",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "upstream_unavailable",
            Self::Misconfigured(_) => "misconfigured",
            Self::Delivery(_) => "delivery_failed",
        }
    }

    pub(crate) fn bad(field: &str, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<ManagementError> for InviteError {
    fn from(e: ManagementError) -> Self {
        match e {
            ManagementError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            ManagementError::Unavailable { reason } => Self::Unavailable(reason),
            ManagementError::Forbidden { .. }
            | ManagementError::Unauthorized { .. }
            | ManagementError::Misconfigured { .. } => Self::Misconfigured(e.to_string()),
            // Unexpected answers for the requests we build: the tenant differs
            // from what we expect (e.g. a custom DB connection's rules).
            ManagementError::Conflict { .. }
            | ManagementError::NotFound { .. }
            | ManagementError::BadRequest(_) => Self::Misconfigured(e.to_string()),
        }
    }
}

impl From<InviteError> for ApiError {
    fn from(e: InviteError) -> Self {
        match e {
            InviteError::Unauthenticated(r) => ApiError::Unauthenticated(r),
            InviteError::Forbidden(p) => {
                ApiError::Forbidden(format!("this operation requires the `{p}` permission"))
            }
            InviteError::NotGrantable(roles) => ApiError::Forbidden(format!(
                "you may not grant the role(s) {}",
                roles
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            InviteError::ClientRefused => ApiError::Forbidden(
                "invitations are managed by users; this access token was issued to a client"
                    .to_owned(),
            ),
            InviteError::BadInput { field, message } => ApiError::bad_field(&field, message),
            InviteError::UnknownRole(r) => {
                ApiError::bad_field("input.roles", format!("unknown role `{r}`"))
            }
            InviteError::UserExists => ApiError::UserExists,
            InviteError::UnknownUser => {
                ApiError::bad_field("email", "no invited user has this email")
            }
            InviteError::NotInvited => ApiError::bad_field(
                "email",
                "this account was not created by an invitation; there is nothing to cancel",
            ),
            InviteError::AlreadyAccepted => ApiError::bad_field(
                "email",
                "this account has already logged in: its invitation was accepted and can no longer be cancelled",
            ),
            InviteError::OwnAccount => {
                ApiError::Forbidden("you may not change the roles of your own account".to_owned())
            }
            InviteError::NoSuchUser => ApiError::bad_field("userId", "no user has this id"),
            InviteError::RateLimited { retry_after } => ApiError::RateLimited {
                message: "the identity provider is rate limiting; retry later".to_owned(),
                retry_after,
            },
            InviteError::Unavailable(_) => ApiError::unavailable(
                "the identity provider is unavailable; retry the invitation later",
            ),
            InviteError::Delivery(_) => ApiError::unavailable(
                "the invitation email could not be sent; use resendInvitation later",
            ),
            InviteError::Misconfigured(_) => ApiError::Internal,
        }
    }
}
