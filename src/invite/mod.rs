//! Back-office invitations (`inviteUser`, `resendInvitation`,
//! `cancelInvitation`, `invitations`) and role changes (`updateUserRoles`):
//! Auth0's "invite users" recipe over the Management API v2 — create the user
//! with a password nobody knows, assign roles, issue a password-change ticket
//! and hand its link over (returned to the back office, or emailed).

pub mod delivery;
mod error;
mod graphql;
mod lifecycle;
mod service;
mod settings;

use std::sync::Arc;

use crate::auth0::{Auth0Settings, ManagementClient};

pub use delivery::{DeliveryError, Mailer, Message, SmtpMailer};
pub use error::InviteError;
pub use graphql::{bind, invitation_value};
pub use lifecycle::{
    recorded, status_of, CheckedCancel, InvitationStatus, Inviter, Recorded, RoleChange,
    StatusFilter, UserRoles, PENDING_QUERY,
};
pub use service::{
    has_logged_in, invite_link, mask_email, was_invited, CheckedInvitation, CheckedResend,
    Invitation, InvitationPage, InviteInput, InviteService,
};
pub use settings::{Delivery, InviteSettings, SmtpSettings, MAX_TICKET_TTL};

/// The service as configured: users go to `invites.connection` (else
/// `auth0.connection`), tickets carry `auth0.client_id` when
/// `client_id_for_ticket` applies, and SMTP delivery gets its mailer.
pub fn build(
    settings: InviteSettings,
    auth0: &Auth0Settings,
    mgmt: ManagementClient,
) -> Result<InviteService, DeliveryError> {
    let mailer = match &settings.delivery {
        Delivery::ReturnLink => None,
        Delivery::Smtp(s) => Some(Arc::new(SmtpMailer::new(s)?) as Arc<dyn Mailer>),
    };
    let svc = InviteService::new(settings, mgmt, auth0.connection.clone())
        .with_ticket_client_id(auth0.client_id.clone())
        .with_audience(auth0.audience.clone());
    Ok(match mailer {
        Some(m) => svc.with_mailer(m),
        None => svc,
    })
}
