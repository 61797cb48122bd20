//! The one e-mail rule: what `signup`, `login`, `requestPasswordReset`,
//! `inviteUser` and the emulator accept as an address.
//!
//! One rule for all of them, so that an address an admin may invite is an
//! address the invitee can log in with, and the emulator refuses exactly what
//! the gateway refuses. The rule is the dot-atom form of RFC 5322 (no quoted
//! local parts, no comments, no IP-literal domains) with letters beyond ASCII
//! allowed, under the SMTP length limits (RFC 5321: 64 octets of local part,
//! 254 in all, 63 per domain label).
//!
//! Database connections store e-mails lower-case (auth0-wire.md §1), so the
//! parsed address is trimmed and lower-cased: every caller sends, compares and
//! echoes the same form.

use std::fmt;

/// Longest address, in bytes (RFC 5321's path limit less the angle brackets).
pub const MAX_LEN: usize = 254;
/// Longest local part, in bytes.
pub const MAX_LOCAL_LEN: usize = 64;
/// Longest domain label, in bytes.
const MAX_LABEL_LEN: usize = 63;

/// Characters of a dot-atom besides letters and digits (RFC 5322 `atext`).
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// Why an address was refused. `Display` is a message for the client, meant
/// to follow the field name ("`input.email` is …").
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but white space.
    #[error("an email address is required")]
    Empty,
    /// Longer than [`MAX_LEN`] bytes.
    #[error("the email address is longer than 254 characters")]
    TooLong,
    /// No `@`, or more than one.
    #[error("the email address needs exactly one `@`")]
    At,
    /// The part before the `@` is empty, too long, or has a character or dot
    /// placement a dot-atom does not allow.
    #[error("the email address is not valid")]
    Local,
    /// The part after the `@` is not a domain name with at least two labels.
    #[error("the email address has an invalid domain")]
    Domain,
}

/// A valid e-mail address: trimmed and lower-cased.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses an address as typed.
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        // bound before any further walk (lower-casing may grow a string)
        if s.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let s = s.to_lowercase();
        if s.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let mut parts = s.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailError::At);
        };
        if !local_ok(local) {
            return Err(EmailError::Local);
        }
        if !domain_ok(domain) {
            return Err(EmailError::Domain);
        }
        Ok(Email(s))
    }

    /// The address, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// `a***@example.com`: enough to correlate in logs, not the address.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for Email {
    // an address is personal data: debug output shows the masked form
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn local_ok(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || ATEXT_SPECIALS.contains(c))
}

fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL_LEN
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    // an all-digit top-level label is an IP address, not a domain
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

/// `a***@example.com` for any text (`***` without an `@`).
pub fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_and_normalised() {
        for (raw, want) in [
            ("ada@example.com", "ada@example.com"),
            ("  Ada@Example.COM ", "ada@example.com"),
            (
                "new.hire+tag@sub.example.co.uk",
                "new.hire+tag@sub.example.co.uk",
            ),
            ("o'brien@example.ie", "o'brien@example.ie"),
            ("x_y-z{1}|~@example.com", "x_y-z{1}|~@example.com"),
            ("a@b.co", "a@b.co"),
            ("jörg@bücher.de", "jörg@bücher.de"),
            ("ÉLODIE@EXEMPLE.FR", "élodie@exemple.fr"),
            ("a@xn--bcher-kva.de", "a@xn--bcher-kva.de"),
            ("1@2.example", "1@2.example"),
        ] {
            assert_eq!(
                Email::parse(raw).map(Email::into_string),
                Ok(want.to_owned()),
                "{raw}"
            );
        }
        let max_local = format!("{}@example.com", "a".repeat(64));
        assert!(Email::parse(&max_local).is_ok());
    }

    #[test]
    fn refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_total = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        for (raw, why) in [
            ("", EmailError::Empty),
            ("   ", EmailError::Empty),
            ("ada", EmailError::At),
            ("a@@example.com", EmailError::At),
            ("a@b@example.com", EmailError::At),
            ("\"a@b\"@example.com", EmailError::At),
            ("@example.com", EmailError::Local),
            (".ada@example.com", EmailError::Local),
            ("ada.@example.com", EmailError::Local),
            ("a..b@example.com", EmailError::Local),
            ("a b@example.com", EmailError::Local),
            ("a\u{0}b@example.com", EmailError::Local),
            ("<script>@x.io", EmailError::Local),
            ("a,b@example.com", EmailError::Local),
            ("a;b@example.com", EmailError::Local),
            ("a\"b@example.com", EmailError::Local),
            ("a(comment)@example.com", EmailError::Local),
            ("a\\b@example.com", EmailError::Local),
            ("a:b@example.com", EmailError::Local),
            (long_local.as_str(), EmailError::Local),
            ("ada@", EmailError::Domain),
            ("ada@example", EmailError::Domain),
            ("ada@.example.com", EmailError::Domain),
            ("ada@example.com.", EmailError::Domain),
            ("ada@example..com", EmailError::Domain),
            ("ada@-x.com", EmailError::Domain),
            ("ada@x-.com", EmailError::Domain),
            ("ada@exa mple.com", EmailError::Domain),
            ("ada@ex_ample.com", EmailError::Domain),
            ("ada@[127.0.0.1]", EmailError::Domain),
            ("ada@127.0.0.1", EmailError::Domain),
            ("ada@example.com\r\nbcc: x@y.z", EmailError::At),
            ("ada@example.com\nx", EmailError::Domain),
            (long_label.as_str(), EmailError::Domain),
            (long_total.as_str(), EmailError::TooLong),
        ] {
            assert_eq!(Email::parse(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn debug_is_masked() {
        let e = Email::parse("ada@example.com").unwrap();
        assert_eq!(format!("{e:?}"), "Email(a***@example.com)");
        assert_eq!(e.masked(), "a***@example.com");
        assert_eq!(mask("nope"), "***");
    }
}
