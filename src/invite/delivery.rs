//! Sending the invitation link by email.

use async_trait::async_trait;
#[cfg(feature = "smtp")]
use lettre::message::header::ContentType;
#[cfg(feature = "smtp")]
use lettre::message::Mailbox;
#[cfg(feature = "smtp")]
use lettre::transport::smtp::authentication::Credentials;
#[cfg(feature = "smtp")]
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::SmtpSettings;

/// One invitation email (the link is a credential: never log it).
pub struct Message<'a> {
    pub to: &'a str,
    pub link: &'a str,
    /// Who invited (name, email or subject of the caller).
    pub inviter: &'a str,
}

/// Why an email could not be sent (the message never contains the link).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The template could not be read.
    #[error("cannot read the email template: {0}")]
    Template(String),
    /// An address (from/to) is not a valid mailbox.
    #[error("invalid mailbox: {0}")]
    Address(String),
    /// The SMTP relay refused the message or could not be reached.
    #[error("SMTP relay failed: {0}")]
    Transport(String),
}

/// Sends invitation emails.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, message: &Message<'_>) -> Result<(), DeliveryError>;
}

/// Fills `{link}`, `{email}` and `{inviter}` in a text template (single pass:
/// values are never re-scanned for placeholders).
pub fn render(template: &str, m: &Message<'_>) -> String {
    let mut out = String::with_capacity(template.len() + m.link.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let (value, len) = if tail.starts_with("{link}") {
            (Some(m.link), 6)
        } else if tail.starts_with("{email}") {
            (Some(m.to), 7)
        } else if tail.starts_with("{inviter}") {
            (Some(m.inviter), 9)
        } else {
            (None, 1)
        };
        match value {
            Some(v) => out.push_str(v),
            None => out.push('{'),
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Sends invitations through an SMTP relay (STARTTLS with rustls, or plain on
/// loopback), one connection per message.
#[cfg(feature = "smtp")]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    subject: String,
    template: String,
}

#[cfg(feature = "smtp")]
impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "smtp")]
impl SmtpMailer {
    /// Reads the template and prepares the relay (no connection is made yet).
    pub fn new(s: &SmtpSettings) -> Result<Self, DeliveryError> {
        let template = std::fs::read_to_string(&s.template_path)
            .map_err(|e| DeliveryError::Template(format!("{}: {e}", s.template_path.display())))?;
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|e| DeliveryError::Address(format!("from `{}`: {e}", s.from)))?;
        let builder = if s.starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .map_err(|e| DeliveryError::Transport(e.to_string()))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        };
        let mut builder = builder.port(s.port).timeout(Some(s.timeout));
        if !s.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                s.username.clone(),
                s.password.expose().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            subject: s.subject.clone(),
            template,
        })
    }
}

#[cfg(feature = "smtp")]
#[async_trait]
impl Mailer for SmtpMailer {
    #[tracing::instrument(name = "invite.smtp.send", skip_all)]
    async fn send(&self, m: &Message<'_>) -> Result<(), DeliveryError> {
        let to: Mailbox =
            m.to.parse()
                .map_err(|_| DeliveryError::Address("the invitee's address".to_owned()))?;
        let email = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(self.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(render(&self.template, m))
            .map_err(|e| DeliveryError::Address(e.to_string()))?;
        self.transport.send(email).await.map_err(|e| {
            tracing::warn!(error = %e, "invitation email not sent");
            DeliveryError::Transport(e.to_string())
        })?;
        Ok(())
    }
}

/// Built without the `smtp` feature: `mode = "smtp"` is refused at start-up.
#[cfg(not(feature = "smtp"))]
#[derive(Debug)]
pub struct SmtpMailer;

#[cfg(not(feature = "smtp"))]
impl SmtpMailer {
    pub fn new(_: &SmtpSettings) -> Result<Self, DeliveryError> {
        Err(DeliveryError::Transport(
            "this build has no SMTP support (cargo feature `smtp`)".to_owned(),
        ))
    }
}

#[cfg(not(feature = "smtp"))]
#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, _: &Message<'_>) -> Result<(), DeliveryError> {
        Err(DeliveryError::Transport("no SMTP support".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders_once() {
        let m = Message {
            to: "ada@example.com",
            link: "https://t/u?ticket=x#type=invite",
            inviter: "{email}",
        };
        assert_eq!(
            render("Hi {email}, {inviter} invited you: {link} {unknown}", &m),
            "Hi ada@example.com, {email} invited you: https://t/u?ticket=x#type=invite {unknown}"
        );
    }
}
