//! The emulator's state: users, roles, tokens, tickets and keys, persisted as one JSON
//! file (written to a temp file, then renamed) unless the emulator is ephemeral.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::http_util::{random_bytes, random_hex, timestamp};
use super::keys::KeyRing;
use super::settings::{EmulatorSettings, PasswordHashing};
use super::EmulatorError;

pub(crate) const STATE_FILE: &str = "emulator-state.json";

/// A database-connection user. No `Debug`: it holds a password hash.
#[derive(Clone, Deserialize, Serialize)]
pub(crate) struct UserRecord {
    /// Without the `auth0|` prefix.
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub email_verified: bool,
    pub name: String,
    pub nickname: String,
    pub picture: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub last_login: Option<String>,
    #[serde(default)]
    pub last_ip: Option<String>,
    #[serde(default)]
    pub logins_count: u64,
    #[serde(default)]
    pub app_metadata: Map<String, Value>,
    #[serde(default)]
    pub user_metadata: Map<String, Value>,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default)]
    pub mfa: bool,
    /// Role ids.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct RoleRecord {
    pub id: String,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// A refresh token, stored by hash.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct RefreshRecord {
    pub family: String,
    pub parent: Option<String>,
    pub user_id: String,
    pub client_id: String,
    pub audience: Option<String>,
    pub scope: Vec<String>,
    /// Epoch seconds when it was exchanged (rotation on).
    pub rotated_at: Option<u64>,
    pub revoked: bool,
}

/// An opaque (userinfo-only) access token, stored by hash.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct OpaqueRecord {
    pub user_id: String,
    pub scope: Vec<String>,
    pub exp: u64,
}

/// A password-change ticket, stored by hash of its id.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct TicketRecord {
    pub user_id: String,
    pub exp: u64,
    pub result_url: Option<String>,
    pub mark_email_as_verified: bool,
    pub include_email_in_redirect: bool,
    pub used: bool,
}

/// The last link "emailed" to an address (test-support API).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct LastLink {
    pub email: String,
    pub kind: String,
    pub url: String,
    pub created_at: String,
}

/// Everything that survives a restart. No `Debug`: it holds keys and hashes.
#[derive(Clone, Deserialize, Serialize)]
pub(crate) struct Db {
    pub keys: KeyRing,
    pub users: BTreeMap<String, UserRecord>,
    pub roles: BTreeMap<String, RoleRecord>,
    #[serde(default)]
    pub refresh_tokens: BTreeMap<String, RefreshRecord>,
    #[serde(default)]
    pub opaque_tokens: BTreeMap<String, OpaqueRecord>,
    #[serde(default)]
    pub tickets: BTreeMap<String, TicketRecord>,
    #[serde(default)]
    pub last_links: BTreeMap<String, LastLink>,
    /// MFA authenticators and recovery codes, by user record id.
    #[serde(default)]
    pub mfa: BTreeMap<String, super::mfa::UserFactors>,
    /// MFA transactions, pending challenges and the outbox: short-lived, never persisted.
    #[serde(skip)]
    pub mfa_live: super::mfa::Live,
}

/// Argon2id at its minimum cost: 8 KiB, 1 pass, 1 lane (benchmark only).
fn fast_argon2() -> Result<Argon2<'static>, EmulatorError> {
    let params = Params::new(
        Params::MIN_M_COST,
        Params::MIN_T_COST,
        Params::MIN_P_COST,
        None,
    )
    .map_err(|_| EmulatorError::Hash)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). The cost is in the
/// string, so [`verify_password`] checks hashes of either mode.
pub(crate) fn hash_password(
    password: &str,
    hashing: PasswordHashing,
) -> Result<String, EmulatorError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|_| EmulatorError::Hash)?;
    let argon2 = match hashing {
        PasswordHashing::Argon2 => Argon2::default(),
        PasswordHashing::Fast => fast_argon2()?,
    };
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| EmulatorError::Hash)
}

pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Auth0's default avatar is a Gravatar URL; SHA-256 is accepted by Gravatar.
pub(crate) fn picture_for(email: &str) -> String {
    let digest = hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()));
    format!("https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fdefault.png")
}

/// The fields a new user may carry (signup, Management API, seed).
#[derive(Default)]
pub(crate) struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub email_verified: bool,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub username: Option<String>,
    pub user_metadata: Map<String, Value>,
    pub app_metadata: Map<String, Value>,
    pub blocked: bool,
    pub mfa: bool,
    pub roles: Vec<String>,
}

impl UserRecord {
    pub fn new(u: NewUser) -> Self {
        let now = timestamp();
        let email = u.email.trim().to_lowercase();
        let local = email.split('@').next().unwrap_or_default().to_string();
        Self {
            id: random_hex(12),
            name: u.name.unwrap_or_else(|| email.clone()),
            nickname: u.nickname.unwrap_or(local),
            picture: u.picture.unwrap_or_else(|| picture_for(&email)),
            email,
            password_hash: u.password_hash,
            email_verified: u.email_verified,
            given_name: u.given_name,
            family_name: u.family_name,
            username: u.username,
            created_at: now.clone(),
            updated_at: now,
            last_login: None,
            last_ip: None,
            logins_count: 0,
            app_metadata: u.app_metadata,
            user_metadata: u.user_metadata,
            blocked: u.blocked,
            mfa: u.mfa,
            roles: u.roles,
        }
    }

    pub fn user_id(&self) -> String {
        format!("auth0|{}", self.id)
    }

    /// The Management API user object.
    pub fn to_json(&self, connection: &str) -> Value {
        let mut v = json!({
            "user_id": self.user_id(),
            "email": self.email,
            "email_verified": self.email_verified,
            "identities": [{"connection": connection, "user_id": self.id, "provider": "auth0", "isSocial": false}],
            "name": self.name,
            "nickname": self.nickname,
            "picture": self.picture,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "logins_count": self.logins_count,
            "app_metadata": self.app_metadata,
            "user_metadata": self.user_metadata,
            "blocked": self.blocked,
        });
        if let Some(obj) = v.as_object_mut() {
            for (k, val) in [
                ("last_login", &self.last_login),
                ("last_ip", &self.last_ip),
                ("given_name", &self.given_name),
                ("family_name", &self.family_name),
                ("username", &self.username),
            ] {
                if let Some(val) = val {
                    obj.insert(k.into(), Value::String(val.clone()));
                }
            }
        }
        v
    }
}

impl Db {
    /// Revokes every refresh token of `family` (one login's rotation chain).
    pub fn revoke_family(&mut self, family: &str) {
        for r in self
            .refresh_tokens
            .values_mut()
            .filter(|r| r.family == family)
        {
            r.revoked = true;
        }
    }

    /// A fresh tenant: new keys, seeded roles and users.
    pub fn fresh(settings: &EmulatorSettings) -> Result<Self, EmulatorError> {
        let mut db = Self {
            keys: KeyRing::generate()?,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            refresh_tokens: BTreeMap::new(),
            opaque_tokens: BTreeMap::new(),
            tickets: BTreeMap::new(),
            last_links: BTreeMap::new(),
            mfa: BTreeMap::new(),
            mfa_live: super::mfa::Live::default(),
        };
        db.seed(settings)?;
        Ok(db)
    }

    /// Adds the seeded roles and users that are missing (never overwrites).
    pub fn seed(&mut self, settings: &EmulatorSettings) -> Result<(), EmulatorError> {
        for role in &settings.roles {
            if self.role_by_name(&role.name).is_none() {
                let id = format!("rol_{}", &random_hex(8));
                self.roles.insert(
                    id.clone(),
                    RoleRecord {
                        id,
                        name: role.name.clone(),
                        description: role.description.clone(),
                        permissions: role.permissions.clone(),
                    },
                );
            }
        }
        for seed in &settings.users {
            if self.user_by_email(&seed.email).is_some() {
                continue;
            }
            let roles = seed
                .roles
                .iter()
                .filter_map(|n| self.role_by_name(n).map(|r| r.id.clone()))
                .collect();
            let user = UserRecord::new(NewUser {
                email: seed.email.clone(),
                password_hash: hash_password(seed.password.expose(), settings.password_hashing)?,
                email_verified: seed.email_verified,
                name: seed.name.clone(),
                blocked: seed.blocked,
                mfa: seed.mfa,
                roles,
                ..NewUser::default()
            });
            if let Some(factors) = super::mfa::seeded_factors(seed) {
                self.mfa.insert(user.id.clone(), factors);
            }
            self.users.insert(user.id.clone(), user);
        }
        Ok(())
    }

    pub fn role_by_name(&self, name: &str) -> Option<&RoleRecord> {
        self.roles.values().find(|r| r.name == name)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&UserRecord> {
        let email = email.trim().to_lowercase();
        self.users.values().find(|u| u.email == email)
    }

    /// `auth0|<id>` → user.
    pub fn user_by_user_id(&self, user_id: &str) -> Option<&UserRecord> {
        user_id
            .strip_prefix("auth0|")
            .and_then(|id| self.users.get(id))
    }

    pub fn user_roles(&self, user: &UserRecord) -> Vec<&RoleRecord> {
        user.roles
            .iter()
            .filter_map(|id| self.roles.get(id))
            .collect()
    }

    /// The union of the user's role permissions, sorted.
    pub fn user_permissions(&self, user: &UserRecord) -> Vec<String> {
        let mut perms: Vec<String> = self
            .user_roles(user)
            .into_iter()
            .flat_map(|r| r.permissions.iter().cloned())
            .collect();
        perms.sort();
        perms.dedup();
        perms
    }

    /// Every permission some role grants: the scopes the tenant's APIs define.
    pub fn all_permissions(&self) -> Vec<String> {
        let mut perms: Vec<String> = self
            .roles
            .values()
            .flat_map(|r| r.permissions.iter().cloned())
            .collect();
        perms.sort();
        perms.dedup();
        perms
    }

    /// Drops expired opaque tokens and tickets so the file does not grow forever.
    pub fn prune(&mut self, now: u64) {
        self.opaque_tokens.retain(|_, t| t.exp > now);
        self.tickets.retain(|_, t| t.exp > now && !t.used);
    }

    pub fn load(path: &Path) -> Result<Option<Self>, EmulatorError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(EmulatorError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let db: Db =
            serde_json::from_slice(&bytes).map_err(|source| EmulatorError::CorruptState {
                path: path.to_path_buf(),
                source,
            })?;
        for key in [
            Some(&db.keys.current),
            Some(&db.keys.next),
            db.keys.previous.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            key.check()?;
        }
        Ok(Some(db))
    }

    /// Atomic rewrite: temp file in the same directory, then rename.
    pub fn save(&self, path: &Path) -> Result<(), EmulatorError> {
        let io = |source| EmulatorError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| EmulatorError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        let tmp: PathBuf = path.with_extension(format!("json.tmp-{}", random_hex(4)));
        write_private(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }
}

/// Writes a file readable only by its owner where the platform allows (it holds private keys).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_hashes_are_minimum_cost_argon2id_and_both_modes_verify() {
        let fast = hash_password("Pw-1234567", PasswordHashing::Fast).unwrap();
        assert!(fast.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{fast}");
        let slow = hash_password("Pw-1234567", PasswordHashing::Argon2).unwrap();
        assert!(!slow.contains("m=8,t=1,p=1"), "{slow}");
        for hash in [&fast, &slow] {
            assert!(verify_password("Pw-1234567", hash));
            assert!(!verify_password("Pw-1234568", hash));
        }
    }
}
