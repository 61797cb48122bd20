//! Settings of back-office invitations (`[invites]`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

/// Longest ticket lifetime Auth0 accepts for a password-change ticket (30 days).
pub const MAX_TICKET_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// How invitations behave (`[invites]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InviteSettings {
    /// The permission (access-token `permissions` claim) a caller needs to invite,
    /// resend and list invitations.
    pub permission: String,
    /// The permission a caller needs for `updateUserRoles` (changing a
    /// colleague's roles), on top of being able to grant each role touched.
    pub update_roles_permission: String,
    /// The database connection invited users are created in; defaults to
    /// `auth0.connection`.
    pub connection: Option<String>,
    /// How long the set-your-password link stays valid (at most 30 days).
    #[serde(with = "humantime_serde")]
    pub ticket_ttl: Duration,
    /// Where Auth0 sends the user after the password is set. When unset and
    /// `client_id_for_ticket` is true, Auth0 uses the application's login route.
    pub result_url: Option<Url>,
    /// Pass the application's `client_id` on the ticket (only when `result_url`
    /// is unset; Auth0 refuses both together).
    pub client_id_for_ticket: bool,
    /// How long role names → role ids are cached.
    #[serde(with = "humantime_serde")]
    pub role_cache_ttl: Duration,
    /// Most roles one invitation may grant.
    pub max_roles: usize,
    /// Inviter role name → the role names it may grant (`"*"`: any). When
    /// one of the inviter's roles (the guard's roles claim) is listed here,
    /// these lists decide; otherwise a role is grantable only when the
    /// inviter holds every permission of it.
    pub grantable_roles: BTreeMap<String, Vec<String>>,
    /// Let client-credentials tokens (machines) invite, resend and list.
    pub allow_clients: bool,
    /// How the link reaches the invitee.
    pub delivery: Delivery,
}

impl Default for InviteSettings {
    fn default() -> Self {
        Self {
            permission: "create:invitations".to_owned(),
            update_roles_permission: "update:user_roles".to_owned(),
            connection: None,
            ticket_ttl: Duration::from_secs(7 * 24 * 3600),
            result_url: None,
            client_id_for_ticket: true,
            role_cache_ttl: Duration::from_secs(300),
            max_roles: 20,
            grantable_roles: BTreeMap::new(),
            allow_clients: false,
            delivery: Delivery::default(),
        }
    }
}

/// How the invitation link reaches the invitee.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delivery {
    /// The link is returned in `Invitation.ticketUrl`; the back office sends it.
    #[default]
    ReturnLink,
    /// authgate emails the link itself; `ticketUrl` is then `null`.
    Smtp(SmtpSettings),
}

/// An SMTP relay that sends invitation emails.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// Empty: no authentication.
    pub username: String,
    pub password: Secret,
    /// `From:` mailbox, e.g. `Acme <no-reply@acme.example>`.
    pub from: String,
    pub subject: String,
    /// A text template with `{link}`, `{email}` and `{inviter}` placeholders.
    pub template_path: PathBuf,
    /// Upgrade the connection with STARTTLS (required unless the relay is on loopback).
    pub starttls: bool,
    /// Give up on the relay after this long.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            username: String::new(),
            password: Secret::new(""),
            from: String::new(),
            subject: "You have been invited".to_owned(),
            template_path: PathBuf::from("config/invitation-email.txt"),
            starttls: true,
            timeout: Duration::from_secs(10),
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl InviteSettings {
    /// Checks the settings; every problem is reported with its key path
    /// (`invites.<key>`).
    pub fn validate(&self) -> Result<(), Vec<(String, String)>> {
        let mut errors: Vec<(String, String)> = Vec::new();
        let mut err =
            |key: &str, msg: &str| errors.push((format!("invites.{key}"), msg.to_owned()));
        if self.permission.trim().is_empty() {
            err(
                "permission",
                "is empty: every caller would be allowed to invite",
            );
        } else if self.permission.chars().any(char::is_whitespace) {
            err("permission", "must be a single permission without spaces");
        }
        if self.update_roles_permission.trim().is_empty() {
            err(
                "update_roles_permission",
                "is empty: every caller would be allowed to change roles",
            );
        } else if self
            .update_roles_permission
            .chars()
            .any(char::is_whitespace)
        {
            err(
                "update_roles_permission",
                "must be a single permission without spaces",
            );
        }
        if let Some(c) = &self.connection {
            if c.trim().is_empty() {
                err("connection", "is empty (remove it to use auth0.connection)");
            }
        }
        if self.ticket_ttl < Duration::from_secs(60) {
            err("ticket_ttl", "must be at least 1m");
        } else if self.ticket_ttl > MAX_TICKET_TTL {
            err("ticket_ttl", "must be at most 30 days (Auth0's limit)");
        }
        if let Some(u) = &self.result_url {
            if !matches!(u.scheme(), "https" | "http") {
                err("result_url", "must be an http(s) URL");
            }
        }
        if self.role_cache_ttl.is_zero() {
            err("role_cache_ttl", "must be greater than zero");
        }
        if self.max_roles == 0 {
            err("max_roles", "must be at least 1");
        }
        for (inviter, grantable) in &self.grantable_roles {
            if inviter.trim().is_empty() {
                err("grantable_roles", "has an empty inviter role name");
            }
            if grantable.iter().any(|g| g.trim().is_empty()) {
                err(
                    &format!("grantable_roles.{inviter}"),
                    "has an empty role name (use \"*\" for any role)",
                );
            }
        }
        if let Delivery::Smtp(s) = &self.delivery {
            if s.host.trim().is_empty() {
                err("delivery.host", "is empty");
            }
            if s.port == 0 {
                err("delivery.port", "must not be 0");
            }
            if !s.from.contains('@') {
                err(
                    "delivery.from",
                    "must be a mailbox such as `Acme <no-reply@acme.example>`",
                );
            }
            if s.subject.trim().is_empty() {
                err("delivery.subject", "is empty");
            }
            if !s.template_path.is_file() {
                err(
                    "delivery.template_path",
                    &format!("`{}` is not a readable file", s.template_path.display()),
                );
            }
            if !s.starttls && !is_loopback_host(&s.host) {
                err(
                    "delivery.starttls",
                    "must be true for a relay that is not on loopback (links would travel in clear)",
                );
            }
            if s.username.is_empty() != s.password.is_empty() {
                err(
                    "delivery.password",
                    "username and password must be set together",
                );
            }
            if s.timeout.is_zero() {
                err("delivery.timeout", "must be greater than zero");
            }
        }
        crate::validate::outcome(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let s = InviteSettings::default();
        assert!(s.validate().is_ok());
        assert_eq!(s.ticket_ttl, Duration::from_secs(604_800));
        assert!(matches!(s.delivery, Delivery::ReturnLink));
    }

    #[test]
    fn toml_round_trip_and_errors_name_keys() {
        let s: InviteSettings = toml::from_str(
            r#"
            permission = ""
            update_roles_permission = "update roles"
            ticket_ttl = "40d"
            [delivery]
            mode = "smtp"
            host = "mail.example.com"
            starttls = false
            from = "nobody"
            template_path = "/nonexistent/template.txt"
            "#,
        )
        .unwrap();
        let errors = s.validate().unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "invites.permission",
            "invites.update_roles_permission",
            "invites.ticket_ttl",
            "invites.delivery.from",
            "invites.delivery.template_path",
            "invites.delivery.starttls",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
    }

    #[test]
    fn grantable_roles_and_clients_parse() {
        let s: InviteSettings = toml::from_str(
            "allow_clients = true\n[grantable_roles]\nadmin = [\"*\"]\nsupport = [\"user\"]",
        )
        .unwrap();
        assert!(s.allow_clients);
        assert_eq!(s.grantable_roles["support"], ["user"]);
        assert!(s.validate().is_ok());
        let s: InviteSettings = toml::from_str("[grantable_roles]\nsupport = [\"\"]").unwrap();
        assert_eq!(
            s.validate().unwrap_err()[0].0,
            "invites.grantable_roles.support"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<InviteSettings>("ttl = \"1d\"").is_err());
        assert!(toml::from_str::<InviteSettings>("[delivery]\nmode = \"pigeon\"").is_err());
    }

    #[test]
    fn smtp_password_never_prints() {
        let s: InviteSettings = toml::from_str(
            "[delivery]\nmode = \"smtp\"\nhost = \"h\"\nusername = \"u\"\npassword = \"hunter2\"",
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!toml::to_string(&s).unwrap().contains("hunter2"));
    }
}
