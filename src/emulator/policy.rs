//! Auth0 password policies (password-sheriff presets) and their error bodies.

use serde_json::{json, Value};

use super::settings::PasswordPolicy;

/// Why a password was refused, as Auth0 reports it.
pub(crate) enum PolicyFailure {
    /// `PasswordStrengthError`: `description` is the rule tree, `policy` the readable text.
    Strength { description: Value, policy: String },
    /// `PasswordDictionaryError`.
    Dictionary,
}

const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "123456",
    "12345678",
    "123456789",
    "qwerty",
    "qwerty123",
    "letmein",
    "welcome",
    "welcome1",
    "admin",
    "admin123",
    "iloveyou",
    "abc123",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "p@ssw0rd",
    "p@ssword",
    "trustno1",
    "changeme",
    "secret",
];

/// A character class a policy may require, with Auth0's wording and code.
struct Class {
    message: &'static str,
    code: &'static str,
    /// whether a character belongs to the class
    member: fn(&char) -> bool,
}

impl Class {
    /// Whether `password` has at least one character of the class.
    fn test(&self, password: &str) -> bool {
        password.chars().any(|c| (self.member)(&c))
    }
}

const fn class(message: &'static str, code: &'static str, member: fn(&char) -> bool) -> Class {
    Class {
        message,
        code,
        member,
    }
}

fn is_special(c: &char) -> bool {
    " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(*c)
}

const LOWER: Class = class(
    "lower case letters (a-z)",
    "lowerCase",
    char::is_ascii_lowercase,
);
const UPPER: Class = class(
    "upper case letters (A-Z)",
    "upperCase",
    char::is_ascii_uppercase,
);
const NUMBERS: Class = class("numbers (i.e. 0-9)", "numbers", char::is_ascii_digit);
const SPECIAL: Class = class(
    "special characters (e.g. !@#$%^&*)",
    "specialCharacters",
    is_special,
);

fn items(classes: &[Class], password: &str) -> Vec<Value> {
    classes
        .iter()
        .map(|c| json!({"message": c.message, "code": c.code, "verified": c.test(password)}))
        .collect()
}

fn max_identical_run(password: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut prev = None;
    for c in password.chars() {
        run = if Some(c) == prev { run + 1 } else { 1 };
        prev = Some(c);
        best = best.max(run);
    }
    best
}

/// Checks `password` against the policy; `Ok` when it passes.
pub(crate) fn check(
    policy: PasswordPolicy,
    dictionary: bool,
    password: &str,
) -> Result<(), PolicyFailure> {
    let len = password.chars().count();
    let (min_len, contains, at_least, identical) = match policy {
        PasswordPolicy::None => (1, None, None, None),
        PasswordPolicy::Low => (6, None, None, None),
        PasswordPolicy::Fair => (8, Some(vec![LOWER, UPPER, NUMBERS]), None, None),
        PasswordPolicy::Good => (8, None, Some(vec![LOWER, UPPER, NUMBERS, SPECIAL]), None),
        PasswordPolicy::Excellent => (
            10,
            None,
            Some(vec![LOWER, UPPER, NUMBERS, SPECIAL]),
            Some(2usize),
        ),
    };
    let mut rules = Vec::new();
    let mut text = Vec::new();
    let mut all_ok = true;

    let len_ok = len >= min_len;
    all_ok &= len_ok;
    if min_len == 1 {
        rules.push(json!({"message": "Non-empty password required", "code": "nonEmpty", "verified": len_ok}));
        text.push("* Non-empty password required".to_string());
    } else {
        rules.push(json!({"message": "At least %d characters in length", "format": [min_len], "code": "lengthAtLeast", "verified": len_ok}));
        text.push(format!("* At least {min_len} characters in length"));
    }
    if let Some(classes) = contains {
        let its = items(&classes, password);
        let ok = classes.iter().all(|c| c.test(password));
        all_ok &= ok;
        rules.push(json!({"message": "Should contain:", "code": "shouldContain", "verified": ok, "items": its}));
        text.push("* Should contain:".into());
        text.extend(classes.iter().map(|c| format!(" * {}", c.message)));
    }
    if let Some(classes) = at_least {
        let its = items(&classes, password);
        let count = classes.iter().filter(|c| c.test(password)).count();
        let ok = count >= 3;
        all_ok &= ok;
        rules.push(json!({"message": "Contain at least %d of the following %d types of characters:", "code": "containsAtLeast", "format": [3, classes.len()], "items": its, "verified": ok}));
        text.push(format!(
            "* Contain at least 3 of the following {} types of characters:",
            classes.len()
        ));
        text.extend(classes.iter().map(|c| format!(" * {}", c.message)));
    }
    if let Some(max) = identical {
        let ok = max_identical_run(password) <= max;
        all_ok &= ok;
        let example = "a".repeat(max + 1);
        rules.push(json!({"message": "No more than %d identical characters in a row (e.g., \"%s\" not allowed)", "code": "identicalChars", "format": [max, example], "verified": ok}));
        text.push(format!(
            "* No more than {max} identical characters in a row (e.g., \"{example}\" not allowed)"
        ));
    }
    if !all_ok {
        return Err(PolicyFailure::Strength {
            description: json!({"rules": rules, "verified": false}),
            policy: text.join("\n"),
        });
    }
    if dictionary && COMMON.contains(&password.to_lowercase().as_str()) {
        return Err(PolicyFailure::Dictionary);
    }
    Ok(())
}

impl PolicyFailure {
    /// The DB-connection-shape body (`/dbconnections/signup`, the reset page).
    pub fn db_body(&self) -> Value {
        match self {
            Self::Strength {
                description,
                policy,
            } => json!({
                "name": "PasswordStrengthError",
                "message": "Password is too weak",
                "code": "invalid_password",
                "description": description,
                "policy": policy,
                "statusCode": 400
            }),
            Self::Dictionary => json!({
                "name": "PasswordDictionaryError",
                "message": "Password is too common",
                "code": "invalid_password",
                "description": "Password is not allowed, it might be too common.",
                "statusCode": 400
            }),
        }
    }

    /// The Management API message (no rule detail, like Auth0).
    pub fn mgmt_message(&self) -> &'static str {
        match self {
            Self::Strength { .. } => "PasswordStrengthError: Password is too weak",
            Self::Dictionary => "PasswordDictionaryError: Password is too common",
        }
    }

    /// A human-readable list for the HTML reset page.
    pub fn human(&self) -> String {
        match self {
            Self::Strength { policy, .. } => {
                format!("Password is too weak. The password must meet:\n{policy}")
            }
            Self::Dictionary => "Password is not allowed, it might be too common.".into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert!(check(PasswordPolicy::None, false, "").is_err());
        assert!(check(PasswordPolicy::None, false, "a").is_ok());
        assert!(check(PasswordPolicy::Low, false, "abcde").is_err());
        assert!(check(PasswordPolicy::Low, false, "abcdef").is_ok());
        assert!(check(PasswordPolicy::Fair, false, "abcdefgh1").is_err());
        assert!(check(PasswordPolicy::Fair, false, "Abcdefgh1").is_ok());
        assert!(check(PasswordPolicy::Good, false, "abcdefg1").is_err());
        assert!(check(PasswordPolicy::Good, false, "abcdefg1!").is_ok());
        assert!(check(PasswordPolicy::Excellent, false, "Abcdefg1!").is_err());
        assert!(check(PasswordPolicy::Excellent, false, "Abbbcdefg1!").is_err());
        assert!(check(PasswordPolicy::Excellent, false, "Aabcdefg1!x").is_ok());
        assert!(matches!(
            check(PasswordPolicy::Low, true, "Password1"),
            Err(PolicyFailure::Dictionary)
        ));
    }

    #[test]
    fn policy_text_matches_auth0() {
        let Err(PolicyFailure::Strength {
            policy,
            description,
        }) = check(PasswordPolicy::Good, false, "short")
        else {
            panic!("expected strength failure");
        };
        assert_eq!(policy, "* At least 8 characters in length\n* Contain at least 3 of the following 4 types of characters:\n * lower case letters (a-z)\n * upper case letters (A-Z)\n * numbers (i.e. 0-9)\n * special characters (e.g. !@#$%^&*)");
        assert_eq!(description["rules"][1]["format"], json!([3, 4]));
    }
}
