//! Back-office invitations (`inviteUser`, `resendInvitation`, `invitations`):
//! Auth0's "invite users" recipe over the Management API v2 — create the user
//! with a password nobody knows, assign roles, issue a password-change ticket
//! and hand its link over (returned to the back office, or emailed).

pub mod delivery;
mod error;
mod graphql;
mod service;
mod settings;

pub use delivery::{DeliveryError, Mailer, Message};
pub use error::InviteError;
pub use graphql::{bind, invitation_value};
pub use service::{
    has_logged_in, invite_link, mask_email, normalize_email, Invitation, InvitationPage,
    InviteInput, InviteService, PENDING_QUERY,
};
pub use settings::{Delivery, InviteSettings, SmtpSettings, MAX_TICKET_TTL};
