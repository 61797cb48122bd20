//! Sending the invitation link by email.

use async_trait::async_trait;

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
