//! Auth0's MFA API for the password grant (`docs/auth0-mfa-wire.md`): the `mfa_required`
//! answer, `GET /mfa/authenticators`, `POST /mfa/associate`, `POST /mfa/challenge`, the
//! token endpoint's `mfa-otp` / `mfa-oob` / `mfa-recovery-code` grants, and the
//! development helpers (`GET /emulator/outbox`, `POST /emulator/mfa/push/{approve|deny}`).
//!
//! Enrolments are persisted with the users; transactions (`mfa_token`), pending
//! out-of-band codes, the brute-force buckets and the outbox live in memory only.
//! Everything here runs under the one database lock, so nothing can interleave.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use super::db::{Db, UserRecord};
use super::extract::{AdminClient, Answer, OAuthRequest};
use super::http_util::{
    bearer, client_denied, missing_param, now_secs, oauth_error, oauth_error_with, oauth_params,
    ok_json, random_bytes, random_hex, random_token, timestamp, token_hash, Params,
};
use super::settings::{ClientSettings, MfaPolicy, UserSeed, MFA_GRANTS};
use super::Emulator;

const GRANT_OTP: &str = MFA_GRANTS[0];
const GRANT_OOB: &str = MFA_GRANTS[1];

const MALFORMED: &str = "Malformed mfa_token";
const EXPIRED: &str = "mfa_token is expired";
const INVALID_OTP: &str = "Invalid otp_code.";
const INVALID_BINDING: &str = "Invalid binding_code.";
const INVALID_OOB: &str = "Invalid oob_code.";
const INVALID_RECOVERY: &str = "Invalid recovery_code.";
const REJECTED: &str = "MFA Authorization rejected.";
const TOO_MANY: &str = "Too many failed codes. Wait for some minutes before retrying.";
const PENDING: &str = "Authorization pending: please repeat the request in a few seconds.";

/// Codes sent by SMS or e-mail, and push requests, are valid this long (Auth0: 5 minutes).
const OOB_LIFETIME: Duration = Duration::from_secs(300);
/// TOTP parameters of every authenticator app (RFC 6238 defaults, as Auth0's URI says).
const TOTP_DIGITS: usize = 6;
const TOTP_PERIOD: u64 = 30;
/// Bounds on the in-memory state, so a flood of logins cannot grow it without limit.
const MAX_TRANSACTIONS: usize = 10_000;
const MAX_OUTBOX: usize = 200;
/// The name authenticator apps show for the account (Auth0 shows the tenant's name).
const TENANT_NAME: &str = "authgate-emulator";

// ---------------------------------------------------------------- persisted factors

/// A user's MFA factors. No `Debug`: it holds TOTP secrets.
#[derive(Clone, Default, Deserialize, Serialize)]
pub(crate) struct UserFactors {
    pub authenticators: Vec<Authenticator>,
    /// SHA-256 of the current recovery code (usable once a factor is confirmed).
    #[serde(default)]
    pub recovery_code: Option<String>,
    /// The `recovery-code|dev_…` id the authenticator list shows.
    #[serde(default)]
    pub recovery_id: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Otp,
    Sms,
    Email,
    Push,
}

/// One enrolled (or enrolling) authenticator. No `Debug`: it may hold a TOTP secret.
#[derive(Clone, Deserialize, Serialize)]
pub(crate) struct Authenticator {
    pub id: String,
    pub kind: Kind,
    /// Confirmed (the first code, or the push enrolment, was accepted).
    pub active: bool,
    /// OTP: the base32 secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// SMS: the phone number; e-mail: the address.
    #[serde(default)]
    pub address: Option<String>,
    /// OTP: the last time step accepted, so a code is never accepted twice.
    #[serde(default)]
    pub last_step: Option<u64>,
    pub created_at: String,
}

impl Authenticator {
    fn new(kind: Kind) -> Self {
        let prefix = match kind {
            Kind::Otp => "totp",
            Kind::Sms => "sms",
            Kind::Email => "email",
            Kind::Push => "push",
        };
        Self {
            id: format!("{prefix}|dev_{}", dev_id()),
            kind,
            active: false,
            secret: None,
            address: None,
            last_step: None,
            created_at: timestamp(),
        }
    }

    fn challenge_type(&self) -> &'static str {
        match self.kind {
            Kind::Otp => "otp",
            _ => "oob",
        }
    }

    fn channel(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Otp => None,
            Kind::Sms => Some("sms"),
            Kind::Email => Some("email"),
            Kind::Push => Some("auth0"),
        }
    }

    fn name(&self) -> String {
        match (self.kind, &self.address) {
            (Kind::Otp, _) => "Authenticator App".into(),
            (Kind::Push, _) => "Push".into(),
            (Kind::Sms, Some(phone)) => mask_phone(phone),
            (_, Some(address)) => address.clone(),
            (_, None) => String::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "authenticator_type": self.challenge_type(),
            "active": self.active,
            "name": self.name(),
        });
        if let (Some(channel), Some(obj)) = (self.channel(), v.as_object_mut()) {
            obj.insert("oob_channel".into(), json!(channel));
        }
        v
    }
}

impl UserFactors {
    fn enrolled(&self) -> bool {
        self.authenticators.iter().any(|a| a.active)
    }
}

/// `+15555550123` → `+1***0123`: what Auth0 shows for an SMS authenticator.
fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "***".into();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

fn dev_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// 24 upper-case letters and digits, like Auth0's recovery codes.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn binding_code() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

fn totp_bytes(secret: &str) -> Option<Vec<u8>> {
    totp_rs::Secret::Encoded(secret.trim().to_ascii_uppercase())
        .to_bytes()
        .ok()
}

/// A seed secret must decode and carry at least 128 bits (RFC 4226's minimum).
pub(crate) fn valid_seed_secret(secret: &str) -> bool {
    totp_bytes(secret).is_some_and(|b| b.len() >= 16)
}

/// The time step `code` is valid for (the current one, or one either side for clock
/// skew), skipping steps at or before `last_step` so a code works only once.
fn totp_step(secret: &str, code: &str, now: u64, last_step: Option<u64>) -> Option<u64> {
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = TOTP::new_unchecked(
        Algorithm::SHA1,
        TOTP_DIGITS,
        0,
        TOTP_PERIOD,
        totp_bytes(secret)?,
    );
    let step = now / TOTP_PERIOD;
    [step.saturating_sub(1), step, step.saturating_add(1)]
        .into_iter()
        .filter(|s| last_step.is_none_or(|last| *s > last))
        .find(|s| {
            let expected = totp.generate(s.saturating_mul(TOTP_PERIOD));
            bool::from(expected.as_bytes().ct_eq(code.as_bytes()))
        })
}

/// The factors a seeded user starts with (`mfa_otp_secret`, `mfa_recovery_code`).
pub(crate) fn seeded_factors(seed: &UserSeed) -> Option<UserFactors> {
    let secret = seed.mfa_otp_secret.as_ref()?;
    let mut otp = Authenticator::new(Kind::Otp);
    otp.active = true;
    otp.secret = Some(secret.expose().trim().to_ascii_uppercase());
    Some(UserFactors {
        authenticators: vec![otp],
        recovery_code: seed
            .mfa_recovery_code
            .as_ref()
            .map(|c| token_hash(&normalize_recovery(c.expose()))),
        recovery_id: format!("recovery-code|dev_{}", dev_id()),
    })
}

// ---------------------------------------------------------------- in-memory state

/// Short-lived MFA state: never persisted (an `mfa_token` dies with the process).
#[derive(Clone, Default)]
pub(crate) struct Live {
    /// By hash of the `mfa_token`.
    transactions: HashMap<String, Transaction>,
    /// By hash of the `oob_code`.
    oob: HashMap<String, OobCode>,
    /// Brute-force buckets, by user record id.
    buckets: HashMap<String, Bucket>,
    /// What the emulator "sent", newest last.
    outbox: VecDeque<Message>,
}

/// What the password grant knew when it answered `mfa_required`.
pub(crate) struct Pending {
    pub client_id: String,
    /// User record id (without `auth0|`).
    pub user_id: String,
    pub audience: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub ip: String,
}

#[derive(Clone)]
struct Transaction {
    client_id: String,
    user_id: String,
    audience: Option<String>,
    scopes: Option<Vec<String>>,
    ip: String,
    expires: Instant,
    /// Tokens were issued: the `mfa_token` is spent.
    spent: bool,
    /// An OTP authenticator associated with this token, awaiting its first code.
    enrolling_otp: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PushState {
    Pending,
    Approved,
    Denied,
}

#[derive(Clone)]
struct OobCode {
    /// Hash of the `mfa_token` it belongs to.
    transaction: String,
    user_id: String,
    authenticator_id: String,
    /// SMS and e-mail: the code the user must type; push: none.
    binding_code: Option<String>,
    push: PushState,
    last_poll: Option<Instant>,
    expires: Instant,
}

#[derive(Clone)]
struct Bucket {
    available: u32,
    updated: Instant,
}

#[derive(Clone, Serialize)]
struct Message {
    to: String,
    channel: &'static str,
    kind: &'static str,
    code: String,
    created_at: String,
}

impl Live {
    fn prune(&mut self, now: Instant, keep_expired: Duration) {
        // Expired tokens are kept a while longer so they answer `expired_token`.
        self.transactions
            .retain(|_, t| t.expires + keep_expired > now && !(t.spent && t.expires <= now));
        self.oob.retain(|_, o| o.expires > now);
        if self.transactions.len() >= MAX_TRANSACTIONS {
            let oldest = self
                .transactions
                .iter()
                .min_by_key(|(_, t)| t.expires)
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                self.transactions.remove(&key);
            }
        }
    }

    fn send(&mut self, to: &str, channel: &'static str, kind: &'static str, code: &str) {
        if self.outbox.len() >= MAX_OUTBOX {
            self.outbox.pop_front();
        }
        tracing::info!(
            channel,
            kind,
            "emulator outbox: message queued (GET /emulator/outbox)"
        );
        self.outbox.push_back(Message {
            to: to.to_string(),
            channel,
            kind,
            code: code.to_string(),
            created_at: timestamp(),
        });
    }
}

// ---------------------------------------------------------------- the password grant

impl Emulator {
    /// The clock of the short-lived MFA state: real time, plus what
    /// `EmulatorHandle::advance_clock` added (so tests need not wait for an expiry).
    fn clock(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.clock_offset_ms.load(Ordering::Relaxed))
    }
}

/// Whether a password login of `user` needs a second factor.
pub(crate) fn required(emu: &Emulator, db: &Db, user: &UserRecord) -> bool {
    if user.mfa {
        return true;
    }
    let settings = &emu.settings.mfa;
    match settings.policy {
        MfaPolicy::Never => false,
        MfaPolicy::Always => true,
        MfaPolicy::Enrolled => db.mfa.get(&user.id).is_some_and(UserFactors::enrolled),
        MfaPolicy::Roles => db
            .user_roles(user)
            .iter()
            .any(|r| settings.roles.contains(&r.name)),
    }
}

/// `403 mfa_required` with a fresh `mfa_token` bound to the client and the user.
pub(crate) fn start(emu: &Emulator, db: &mut Db, pending: Pending) -> Response {
    let lifetime = emu.settings.mfa.token_lifetime;
    let now = emu.clock();
    let live = &mut db.mfa_live;
    live.prune(now, lifetime);
    let token = random_token(32);
    live.transactions.insert(
        token_hash(&token),
        Transaction {
            client_id: pending.client_id,
            user_id: pending.user_id,
            audience: pending.audience,
            scopes: pending.scopes,
            ip: pending.ip,
            expires: now + lifetime,
            spent: false,
            enrolling_otp: None,
        },
    );
    let mut extra = Map::new();
    extra.insert("mfa_token".into(), Value::String(token));
    oauth_error_with(
        StatusCode::FORBIDDEN,
        "mfa_required",
        "Multifactor authentication required",
        extra,
    )
}

/// The live transaction of an `mfa_token`, or Auth0's answer for a bad one.
fn transaction(db: &Db, token: &str, now: Instant) -> Result<(String, Transaction), Response> {
    let key = token_hash(token);
    match db.mfa_live.transactions.get(&key) {
        Some(t) if t.spent => Err(malformed()),
        Some(t) if t.expires <= now => Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "expired_token",
            EXPIRED,
        )),
        Some(t) => Ok((key, t.clone())),
        None => Err(malformed()),
    }
}

fn malformed() -> Response {
    oauth_error(StatusCode::FORBIDDEN, "invalid_grant", MALFORMED)
}

/// The `mfa_token` from `Authorization: Bearer` (`/mfa/authenticators`, `/mfa/associate`).
fn bearer_transaction(
    db: &Db,
    headers: &HeaderMap,
    now: Instant,
) -> Result<(String, Transaction), Response> {
    let Some(token) = bearer(headers) else {
        let mut res = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "Missing authorization header",
        );
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(res);
    };
    transaction(db, &token, now)
}

// ---------------------------------------------------------------- /mfa/authenticators

/// `GET /mfa/authenticators` → the user's authenticators (empty when not enrolled).
pub(crate) async fn authenticators(State(emu): State<Arc<Emulator>>, headers: HeaderMap) -> Answer {
    let db = emu.lock();
    let (_, tx) = bearer_transaction(&db, &headers, emu.clock())?;
    let mut out = Vec::new();
    if let Some(factors) = db.mfa.get(&tx.user_id) {
        if factors.recovery_code.is_some() && factors.enrolled() {
            out.push(json!({
                "id": factors.recovery_id,
                "authenticator_type": "recovery-code",
                "active": true,
            }));
        }
        out.extend(factors.authenticators.iter().map(Authenticator::to_json));
    }
    Ok(ok_json(StatusCode::OK, Value::Array(out)))
}

// ---------------------------------------------------------------- /mfa/associate

/// A list parameter: a JSON array of strings, or a space-separated string (form bodies).
fn list(p: &Params, key: &str) -> Option<Vec<String>> {
    match p.get(key)? {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty()),
        Value::String(s) if !s.trim().is_empty() => {
            Some(s.split_whitespace().map(String::from).collect())
        }
        _ => None,
    }
}

/// `POST /mfa/associate` (bearer `mfa_token`): starts enrolling an authenticator.
pub(crate) async fn associate(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let mut db = emu.lock();
    // the bearer is checked before the body is read: its error wins
    let (key, tx) = bearer_transaction(&db, &headers, emu.clock())?;
    let p = oauth_params(&headers, &body)?;
    let Some(types) = list(&p, "authenticator_types") else {
        return Err(missing_param("authenticator_types"));
    };
    let Some(user) = db.users.get(&tx.user_id).cloned() else {
        return Err(malformed());
    };
    if db.mfa.get(&user.id).is_some_and(UserFactors::enrolled) {
        return Err(oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "User is already enrolled.",
        ));
    }
    let mut authenticator = match types.as_slice() {
        [t] if t == "otp" => {
            let mut a = Authenticator::new(Kind::Otp);
            a.secret = Some(
                totp_rs::Secret::Raw(random_bytes::<20>().to_vec())
                    .to_encoded()
                    .to_string(),
            );
            a
        }
        [t] if t == "oob" => {
            let Some(channels) = list(&p, "oob_channels") else {
                return Err(missing_param("oob_channels"));
            };
            match channels.as_slice() {
                [c] if c == "sms" => {
                    let Some(phone) = p.str("phone_number") else {
                        return Err(missing_param("phone_number"));
                    };
                    if !valid_phone(&phone) {
                        return Err(oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            "phone_number must be in E.164 format",
                        ));
                    }
                    let mut a = Authenticator::new(Kind::Sms);
                    a.address = Some(phone);
                    a
                }
                [c] if c == "email" => {
                    let email = p.str("email").unwrap_or_else(|| user.email.clone());
                    let Ok(email) =
                        crate::email::Email::parse(&email).map(crate::email::Email::into_string)
                    else {
                        return Err(oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            "email is not a valid email address",
                        ));
                    };
                    let mut a = Authenticator::new(Kind::Email);
                    a.address = Some(email);
                    a
                }
                [c] if c == "auth0" => Authenticator::new(Kind::Push),
                _ => {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "oob_channels must be one of [\"sms\"], [\"email\"] or [\"auth0\"]",
                    ))
                }
            }
        }
        _ => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_challenge_type",
                "authenticator_types must be [\"otp\"] or [\"oob\"]",
            ))
        }
    };
    let now = emu.clock();
    let factors = db.mfa.entry(user.id.clone()).or_default();
    // A new association replaces any earlier one that was never confirmed.
    factors.authenticators.retain(|a| a.active);
    if factors.recovery_id.is_empty() {
        factors.recovery_id = format!("recovery-code|dev_{}", dev_id());
    }
    // The first association hands out the recovery code.
    let recovery = (!factors.enrolled()).then(|| {
        let code = new_recovery_code();
        factors.recovery_code = Some(token_hash(&code));
        code
    });
    authenticator.active = false;
    factors.authenticators.push(authenticator.clone());
    let mut out = Map::new();
    out.insert(
        "authenticator_type".into(),
        json!(authenticator.challenge_type()),
    );
    match authenticator.kind {
        Kind::Otp => {
            let secret = authenticator.secret.clone().unwrap_or_default();
            out.insert(
                "barcode_uri".into(),
                json!(format!(
                    "otpauth://totp/{}?secret={secret}&issuer={TENANT_NAME}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_PERIOD}",
                    otp_label(&user.email)
                )),
            );
            out.insert("secret".into(), json!(secret));
            if let Some(t) = db.mfa_live.transactions.get_mut(&key) {
                t.enrolling_otp = Some(authenticator.id.clone());
            }
        }
        Kind::Sms | Kind::Email | Kind::Push => {
            let oob_code = new_oob(&mut db.mfa_live, &key, &tx, &authenticator, now, true);
            if authenticator.kind == Kind::Push {
                out.insert(
                    "barcode_uri".into(),
                    json!(format!(
                        "otpauth://totp/{}?enrollment_tx_id={}&base_url={}",
                        otp_label(&user.email),
                        random_hex(16),
                        percent_encoding::utf8_percent_encode(
                            &emu.issuer,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )),
                );
            } else {
                out.insert("binding_method".into(), json!("prompt"));
            }
            out.insert("oob_channel".into(), json!(authenticator.channel()));
            out.insert("oob_code".into(), json!(oob_code));
        }
    }
    if let Some(code) = recovery {
        out.insert("recovery_codes".into(), json!([code]));
    }
    emu.persist(&db);
    Ok(no_store(ok_json(StatusCode::OK, Value::Object(out))))
}

fn valid_phone(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or_default();
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `tenant:user`, percent-encoded as an otpauth label.
fn otp_label(email: &str) -> String {
    percent_encoding::utf8_percent_encode(
        &format!("{TENANT_NAME}:{email}"),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

/// A pending out-of-band code: sends the binding code (SMS, e-mail) to the outbox, or
/// waits for the push to be answered. Returns the `oob_code`.
fn new_oob(
    live: &mut Live,
    transaction: &str,
    tx: &Transaction,
    authenticator: &Authenticator,
    now: Instant,
    enrolment: bool,
) -> String {
    if live.oob.len() >= MAX_TRANSACTIONS {
        // Challenges repeated without end must not grow the map without limit.
        let oldest = live
            .oob
            .iter()
            .min_by_key(|(_, o)| o.expires)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            live.oob.remove(&key);
        }
    }
    let oob_code = random_token(32);
    let binding = match authenticator.kind {
        Kind::Sms | Kind::Email => {
            let code = binding_code();
            let (to, channel) = match authenticator.kind {
                Kind::Sms => (authenticator.address.clone(), "sms"),
                _ => (authenticator.address.clone(), "email"),
            };
            let kind = if enrolment {
                "mfa_enrollment"
            } else {
                "mfa_challenge"
            };
            live.send(&to.unwrap_or_default(), channel, kind, &code);
            Some(code)
        }
        _ => None,
    };
    live.oob.insert(
        token_hash(&oob_code),
        OobCode {
            transaction: transaction.to_string(),
            user_id: tx.user_id.clone(),
            authenticator_id: authenticator.id.clone(),
            binding_code: binding,
            push: PushState::Pending,
            last_poll: None,
            expires: (now + OOB_LIFETIME).min(tx.expires),
        },
    );
    oob_code
}

// ---------------------------------------------------------------- /mfa/challenge

/// `POST /mfa/challenge`: client credentials + `mfa_token` [+ `challenge_type`,
/// `authenticator_id`] → how the user proves the factor.
pub(crate) async fn challenge(State(emu): State<Arc<Emulator>>, req: OAuthRequest) -> Answer {
    let OAuthRequest { headers, params: p } = req;
    let client = emu.authenticate_client(&headers, &p, client_denied)?;
    if !client
        .grant_types
        .iter()
        .any(|g| g == GRANT_OTP || g == GRANT_OOB)
    {
        return Err(oauth_error(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            &format!("Grant type '{GRANT_OOB}' not allowed for the client."),
        ));
    }
    let mut db = emu.lock();
    let (key, tx) = client_transaction(&db, &p, client, emu.clock())?;
    let accepted = list(&p, "challenge_type").unwrap_or_else(|| vec!["otp".into(), "oob".into()]);
    if let Some(bad) = accepted.iter().find(|t| *t != "otp" && *t != "oob") {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_challenge_type",
            &format!("Unsupported challenge type: {bad}."),
        ));
    }
    let active: Vec<Authenticator> = db
        .mfa
        .get(&tx.user_id)
        .map(|f| {
            f.authenticators
                .iter()
                .filter(|a| a.active)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if active.is_empty() {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "association_required",
            "User is not enrolled.",
        ));
    }
    let chosen = match p.str("authenticator_id") {
        Some(id) => match active.iter().find(|a| a.id == id) {
            Some(a) => a.clone(),
            None => {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Invalid authenticator_id.",
                ))
            }
        },
        None => match active
            .iter()
            .find(|a| accepted.iter().any(|t| t == a.challenge_type()))
        {
            Some(a) => a.clone(),
            None => return Err(unsupported(&accepted, &active[0])),
        },
    };
    if !accepted.iter().any(|t| t == chosen.challenge_type()) {
        return Err(unsupported(&accepted, &chosen));
    }
    let out = match chosen.kind {
        Kind::Otp => json!({"challenge_type": "otp"}),
        Kind::Sms | Kind::Email | Kind::Push => {
            let now = emu.clock();
            db.mfa_live.prune(now, emu.settings.mfa.token_lifetime);
            let oob_code = new_oob(&mut db.mfa_live, &key, &tx, &chosen, now, false);
            if chosen.kind == Kind::Push {
                json!({"challenge_type": "oob", "oob_code": oob_code})
            } else {
                json!({"challenge_type": "oob", "oob_code": oob_code, "binding_method": "prompt"})
            }
        }
    };
    Ok(no_store(ok_json(StatusCode::OK, out)))
}

/// Secrets, recovery codes and `oob_code`s must not be cached (as `/oauth/token`).
fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn unsupported(accepted: &[String], available: &Authenticator) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "unsupported_challenge_type",
        &format!(
            "The user does not support the requested challenge type ({}). Supported type: {}.",
            accepted.join(", "),
            available.challenge_type()
        ),
    )
}

/// The live transaction of the `mfa_token` parameter, issued to `client`:
/// `/mfa/challenge` and the MFA grants at `/oauth/token` check it the same way,
/// in the same order (missing, unknown/expired, other client), so one place
/// keeps Auth0's answers identical for both.
fn client_transaction(
    db: &Db,
    p: &Params,
    client: &ClientSettings,
    now: Instant,
) -> Result<(String, Transaction), Response> {
    let Some(token) = p.str("mfa_token") else {
        return Err(missing_param("mfa_token"));
    };
    let (key, tx) = transaction(db, &token, now)?;
    same_client(&tx, client)?;
    Ok((key, tx))
}

fn same_client(tx: &Transaction, client: &ClientSettings) -> Result<(), Response> {
    if tx.client_id == client.client_id {
        Ok(())
    } else {
        Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "mfa_token not issued to this client",
        ))
    }
}

// ---------------------------------------------------------------- the MFA grants

/// Refills the user's bucket; true while a wrong code may still be tried.
fn bucket_open(emu: &Emulator, live: &mut Live, user_id: &str, now: Instant) -> bool {
    let s = &emu.settings.mfa;
    let bucket = live.buckets.entry(user_id.to_string()).or_insert(Bucket {
        available: s.max_attempts,
        updated: now,
    });
    if !s.attempt_refill.is_zero() {
        let elapsed = now.saturating_duration_since(bucket.updated);
        let refills = elapsed.as_nanos() / s.attempt_refill.as_nanos();
        if refills > 0 {
            let refills = u32::try_from(refills).unwrap_or(u32::MAX);
            bucket.available = bucket.available.saturating_add(refills).min(s.max_attempts);
            bucket.updated = if bucket.available == s.max_attempts {
                now
            } else {
                s.attempt_refill
                    .checked_mul(refills)
                    .and_then(|d| bucket.updated.checked_add(d))
                    .unwrap_or(now)
            };
        }
    }
    bucket.available > 0
}

fn bucket_take(emu: &Emulator, live: &mut Live, user_id: &str, now: Instant) {
    if let Some(bucket) = live.buckets.get_mut(user_id) {
        // A full bucket starts its refill interval at the first wrong code.
        if bucket.available == emu.settings.mfa.max_attempts {
            bucket.updated = now;
        }
        bucket.available = bucket.available.saturating_sub(1);
        if bucket.available == 0 {
            tracing::info!("emulator: MFA verification blocked after too many wrong codes");
        }
    }
}

fn too_many() -> Response {
    oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", TOO_MANY)
}

/// What a verified factor unlocks.
enum Verified {
    /// Issue the tokens.
    Tokens,
    /// Issue the tokens and hand out this new recovery code.
    TokensWithRecovery(String),
}

/// `mfa-otp`, `mfa-oob`, `mfa-recovery-code` at `/oauth/token` (client already
/// authenticated and allowed the grant).
pub(crate) fn grant(emu: &Emulator, client: &ClientSettings, p: &Params, grant: &str) -> Answer {
    let mut db = emu.lock();
    let (key, tx) = client_transaction(&db, p, client, emu.clock())?;
    let Some(user) = db.users.get(&tx.user_id).cloned() else {
        return Err(malformed());
    };
    if user.blocked {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "user is blocked",
        ));
    }
    let attempt = Attempt {
        emu,
        key: &key,
        tx: &tx,
        p,
        now: emu.clock(),
    };
    // A refusal changes nothing that is persisted: no disk write per guess.
    let verified = match grant {
        GRANT_OTP => verify_otp(attempt, &mut db),
        GRANT_OOB => verify_oob(attempt, &mut db),
        _ => verify_recovery(attempt, &mut db),
    }?;
    if let Some(t) = db.mfa_live.transactions.get_mut(&key) {
        t.spent = true;
    }
    let api = tx.audience.as_deref().and_then(|a| emu.api(a));
    let result =
        super::authn::login_tokens(emu, &mut db, client, &user, api, tx.scopes.clone(), &tx.ip);
    emu.persist(&db);
    let result = result.and_then(|mut body| mark_mfa(&db, &mut body).map(|()| body));
    Ok(match result {
        Ok(mut body) => {
            if let (Verified::TokensWithRecovery(code), Some(obj)) =
                (verified, body.as_object_mut())
            {
                obj.insert("recovery_code".into(), json!(code));
            }
            ok_json(StatusCode::OK, body)
        }
        Err(error) => {
            tracing::error!(%error, "emulator internal error");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal error",
            )
        }
    })
}

/// Auth0 marks the ID token of a login that passed a second factor with
/// `"amr": ["mfa"]` (what step-up checks look for). The token was signed a moment
/// ago by this emulator, so its payload is read back without verification.
fn mark_mfa(db: &Db, body: &mut Value) -> Result<(), super::EmulatorError> {
    let Some(claims) = body
        .get("id_token")
        .and_then(Value::as_str)
        .and_then(|t| t.split('.').nth(1))
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
    else {
        return Ok(());
    };
    let mut claims = claims;
    claims.insert("amr".into(), json!(["mfa"]));
    let signed = db.keys.sign(&Value::Object(claims))?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("id_token".into(), Value::String(signed));
    }
    Ok(())
}

/// One MFA grant being checked: what each factor's verification reads.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    emu: &'a Emulator,
    /// the transaction's key (the hash of its `mfa_token`)
    key: &'a str,
    tx: &'a Transaction,
    p: &'a Params,
    now: Instant,
}

impl Attempt<'_> {
    /// The code parameter `name`, once the user's bucket allows another try.
    fn code(&self, db: &mut Db, name: &str) -> Result<String, Response> {
        let code = self.p.str(name).ok_or_else(|| missing_param(name))?;
        if !bucket_open(self.emu, &mut db.mfa_live, &self.tx.user_id, self.now) {
            return Err(too_many());
        }
        Ok(code)
    }
}

fn verify_otp(a: Attempt<'_>, db: &mut Db) -> Result<Verified, Response> {
    let Attempt {
        emu, key, tx, now, ..
    } = a;
    let otp = a.code(db, "otp")?;
    let enrolling = tx.enrolling_otp.as_deref();
    let wall = now_secs();
    let matched = db.mfa.get_mut(&tx.user_id).and_then(|factors| {
        factors
            .authenticators
            .iter_mut()
            .filter(|a| a.kind == Kind::Otp && (a.active || Some(a.id.as_str()) == enrolling))
            .find_map(|a| {
                let step = totp_step(a.secret.as_deref()?, otp.trim(), wall, a.last_step)?;
                a.last_step = Some(step);
                a.active = true;
                Some(())
            })
    });
    if matched.is_none() {
        bucket_take(emu, &mut db.mfa_live, &tx.user_id, now);
        return Err(oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            INVALID_OTP,
        ));
    }
    if let Some(t) = db.mfa_live.transactions.get_mut(key) {
        t.enrolling_otp = None;
    }
    Ok(Verified::Tokens)
}

fn verify_oob(a: Attempt<'_>, db: &mut Db) -> Result<Verified, Response> {
    let Attempt {
        emu,
        key,
        tx,
        p,
        now,
    } = a;
    let oob_code = p.str("oob_code").ok_or_else(|| missing_param("oob_code"))?;
    let oob_key = token_hash(&oob_code);
    let invalid = || oauth_error(StatusCode::FORBIDDEN, "invalid_grant", INVALID_OOB);
    let Some(oob) = db.mfa_live.oob.get(&oob_key).cloned() else {
        return Err(invalid());
    };
    if oob.transaction != key || oob.expires <= now {
        return Err(invalid());
    }
    match &oob.binding_code {
        Some(expected) => {
            let given = a.code(db, "binding_code")?;
            if !bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())) {
                bucket_take(emu, &mut db.mfa_live, &tx.user_id, now);
                return Err(oauth_error(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    INVALID_BINDING,
                ));
            }
        }
        None => match oob.push {
            PushState::Pending => {
                let interval = emu.settings.mfa.poll_interval;
                let too_soon = !interval.is_zero()
                    && oob
                        .last_poll
                        .is_some_and(|last| now.saturating_duration_since(last) < interval);
                if let Some(o) = db.mfa_live.oob.get_mut(&oob_key) {
                    o.last_poll = Some(now);
                }
                return Err(if too_soon {
                    oauth_error(
                        StatusCode::BAD_REQUEST,
                        "slow_down",
                        &format!(
                            "You are polling faster than allowed. Try again in {} seconds.",
                            interval.as_secs().max(1)
                        ),
                    )
                } else {
                    oauth_error(StatusCode::BAD_REQUEST, "authorization_pending", PENDING)
                });
            }
            PushState::Denied => {
                db.mfa_live.oob.remove(&oob_key);
                return Err(oauth_error(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    REJECTED,
                ));
            }
            PushState::Approved => {}
        },
    }
    db.mfa_live.oob.remove(&oob_key);
    if let Some(a) = db.mfa.get_mut(&tx.user_id).and_then(|f| {
        f.authenticators
            .iter_mut()
            .find(|a| a.id == oob.authenticator_id)
    }) {
        a.active = true;
    }
    Ok(Verified::Tokens)
}

fn verify_recovery(a: Attempt<'_>, db: &mut Db) -> Result<Verified, Response> {
    let Attempt { emu, tx, now, .. } = a;
    let code = a.code(db, "recovery_code")?;
    let given = token_hash(&normalize_recovery(&code));
    let factors = db.mfa.get_mut(&tx.user_id).filter(|f| f.enrolled());
    let Some(factors) = factors.filter(|f| {
        f.recovery_code
            .as_deref()
            .is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(given.as_bytes())))
    }) else {
        bucket_take(emu, &mut db.mfa_live, &tx.user_id, now);
        return Err(oauth_error(
            StatusCode::FORBIDDEN,
            "invalid_grant",
            INVALID_RECOVERY,
        ));
    };
    // One use: the code is replaced, and the new one goes back to the user.
    let fresh = new_recovery_code();
    factors.recovery_code = Some(token_hash(&fresh));
    Ok(Verified::TokensWithRecovery(fresh))
}

// ---------------------------------------------------------------- development helpers

/// `GET /emulator/outbox[?to=]` → the e-mails and SMS "sent", newest first.
pub(crate) async fn outbox(
    State(emu): State<Arc<Emulator>>,
    Query(q): Query<HashMap<String, String>>,
    _: AdminClient,
) -> Response {
    let to = q.get("to").map(|t| t.trim().to_lowercase());
    let db = emu.lock();
    let messages: Vec<Value> = db
        .mfa_live
        .outbox
        .iter()
        .rev()
        .filter(|m| to.as_deref().is_none_or(|t| m.to.to_lowercase() == t))
        .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
        .collect();
    ok_json(StatusCode::OK, Value::Array(messages))
}

/// `POST /emulator/mfa/push/{approve|deny}?email=` → answers the user's pending pushes.
pub(crate) async fn answer_push(
    State(emu): State<Arc<Emulator>>,
    Path(action): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    _: AdminClient,
) -> Response {
    let state = match action.as_str() {
        "approve" => PushState::Approved,
        "deny" => PushState::Denied,
        _ => return oauth_error(StatusCode::NOT_FOUND, "not_found", "Not Found"),
    };
    let Some(email) = q.get("email") else {
        return missing_param("email");
    };
    let mut db = emu.lock();
    let Some(user_id) = db.user_by_email(email).map(|u| u.id.clone()) else {
        return oauth_error(StatusCode::NOT_FOUND, "not_found", "No pending push.");
    };
    let now = emu.clock();
    let mut answered = 0;
    for oob in db.mfa_live.oob.values_mut().filter(|o| {
        o.user_id == user_id
            && o.binding_code.is_none()
            && o.push == PushState::Pending
            && o.expires > now
    }) {
        oob.push = state;
        answered += 1;
    }
    if answered == 0 {
        return oauth_error(StatusCode::NOT_FOUND, "not_found", "No pending push.");
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1, 8 digits truncated to our 6: the secret is
    // "12345678901234567890" (base32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ).
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn totp_matches_rfc_6238_vectors_once_and_with_one_step_of_skew() {
        // T = 59 s → 94287082 (8 digits) → 287082.
        assert_eq!(totp_step(RFC_SECRET, "287082", 59, None), Some(1));
        // one step either side is accepted, two are not
        assert_eq!(totp_step(RFC_SECRET, "287082", 89, None), Some(1));
        assert_eq!(totp_step(RFC_SECRET, "287082", 119, None), None);
        // a step already used is refused
        assert_eq!(totp_step(RFC_SECRET, "287082", 59, Some(1)), None);
        // T = 1111111109 → 07081804 → 081804
        assert_eq!(
            totp_step(RFC_SECRET, "081804", 1_111_111_109, None),
            Some(1_111_111_109 / 30)
        );
        assert_eq!(totp_step(RFC_SECRET, "08180", 1_111_111_109, None), None);
        assert_eq!(totp_step(RFC_SECRET, "abcdef", 59, None), None);
    }

    #[test]
    fn seed_secrets_need_128_bits() {
        assert!(valid_seed_secret(RFC_SECRET));
        assert!(!valid_seed_secret("GEZDGNBV"));
        assert!(!valid_seed_secret("not base32!"));
    }

    #[test]
    fn phones_are_masked_like_auth0() {
        assert_eq!(mask_phone("+15555550123"), "+1***0123");
        assert_eq!(mask_phone("+123"), "***");
    }
}
