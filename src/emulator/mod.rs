//! An Auth0-compatible identity provider, **for development and tests only — never for
//! production**. It speaks the wire format of Auth0's Authentication API and the parts of
//! the Management API v2 the gateway uses (see `docs/emulator.md`), so the gateway's Auth0
//! client runs unchanged against it.

// Handlers build their early-return error responses in helpers returning `Result<_, Response>`;
// boxing every one of them would only add noise to a development tool.
#![allow(clippy::result_large_err)]

mod admin;
mod authn;
mod db;
mod extract;
mod http_util;
mod keys;
mod mfa;
mod mgmt;
mod mgmt_users;
mod policy;
mod settings;
mod tickets;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

pub use settings::{
    ApiSettings, ClientSettings, EmulatorSettings, MfaPolicy, MfaSettings, PasswordHashing,
    PasswordPolicy, RoleSeed, UserSeed, MFA_GRANTS, PASSWORD_REALM_GRANT,
};

use db::{Db, STATE_FILE};
use http_util::{Params, RateWindow};
use keys::StoredKey;

/// Errors starting, persisting or administering the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Reading or writing the data directory failed.
    #[error("emulator data file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but is not valid JSON of the expected shape.
    #[error("emulator state file {path} is not valid: {source}")]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// There is no state file in the data directory (rotate-keys before first start).
    #[error("no emulator state in {0}; start the emulator once to create it")]
    NoState(PathBuf),
    /// A signing key could not be generated, stored or used.
    #[error("signing key: {0}")]
    Key(String),
    /// Hashing a password failed.
    #[error("password hashing failed")]
    Hash,
    /// A setting is invalid.
    #[error("invalid setting `{key}`: {reason}")]
    InvalidSetting {
        /// The key, e.g. `emulator.users[0].email`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The listener's local address could not be read.
    #[error("emulator listener: {0}")]
    Listener(#[source] std::io::Error),
    /// A background task panicked or was cancelled.
    #[error("emulator background task failed: {0}")]
    Task(String),
}

/// Brute-force counter for one user + IP.
struct Attempts {
    failures: u32,
    blocked_until: Option<Instant>,
}

/// Shared state of one running emulator.
pub(crate) struct Emulator {
    settings: EmulatorSettings,
    /// With trailing slash.
    issuer: String,
    db: Mutex<Db>,
    file: Option<PathBuf>,
    brute: Mutex<HashMap<(String, String), Attempts>>,
    /// A hash verified for unknown users, so they take as long as known ones.
    dummy_hash: String,
    rate: RateWindow,
    /// Added to the clock of short-lived MFA state (see `EmulatorHandle::advance_clock`).
    clock_offset_ms: AtomicU64,
}

impl Emulator {
    fn lock(&self) -> MutexGuard<'_, Db> {
        self.db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the state file (no-op when ephemeral). Failures are logged, not fatal.
    fn persist(&self, db: &Db) {
        if let Some(path) = &self.file {
            if let Err(error) = db.save(path) {
                tracing::error!(%error, "could not persist emulator state");
            }
        }
    }

    fn mgmt_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    fn userinfo_audience(&self) -> String {
        format!("{}userinfo", self.issuer)
    }

    fn api(&self, audience: &str) -> Option<&ApiSettings> {
        self.settings.apis.iter().find(|a| a.identifier == audience)
    }

    /// The connection id Auth0 would show (`con_…`), stable for a connection name.
    fn connection_id(&self) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(self.settings.connection.as_bytes());
        format!("con_{}", &hex::encode(digest)[..16])
    }

    fn client_by_secret(&self, id: &str, secret: &str) -> Option<&ClientSettings> {
        let client = self.settings.clients.iter().find(|c| c.client_id == id)?;
        bool::from(
            client
                .client_secret
                .expose()
                .as_bytes()
                .ct_eq(secret.as_bytes()),
        )
        .then_some(client)
    }

    /// client_secret_basic or client_secret_post; `bad` is the endpoint's
    /// answer to wrong credentials (Auth0 words it one way at `/oauth/revoke`,
    /// another elsewhere).
    fn authenticate_client(
        &self,
        headers: &HeaderMap,
        params: &Params,
        bad: fn() -> Response,
    ) -> Result<&ClientSettings, Response> {
        let (id, secret) = match http_util::basic_credentials(headers) {
            Some(pair) => pair,
            None => {
                let id = params
                    .str("client_id")
                    .ok_or_else(|| http_util::missing_param("client_id"))?;
                (id, params.str("client_secret").unwrap_or_default())
            }
        };
        if let Some(body_id) = params.str("client_id") {
            if body_id != id {
                return Err(bad());
            }
        }
        self.client_by_secret(&id, &secret).ok_or_else(bad)
    }

    fn brute(&self) -> MutexGuard<'_, HashMap<(String, String), Attempts>> {
        self.brute
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True while the user+IP pair is blocked; an expired block is lifted.
    fn brute_blocked(&self, key: &(String, String)) -> bool {
        let mut map = self.brute();
        match map.get(key).and_then(|a| a.blocked_until) {
            Some(until) if until > Instant::now() => true,
            Some(_) => {
                map.remove(key);
                false
            }
            None => false,
        }
    }

    fn brute_failure(&self, key: (String, String)) {
        let threshold = self.settings.brute_force_threshold;
        let block = self.settings.brute_force_block;
        let mut map = self.brute();
        let entry = map.entry(key).or_insert(Attempts {
            failures: 0,
            blocked_until: None,
        });
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= threshold {
            entry.blocked_until = Some(Instant::now() + block);
            tracing::info!("brute-force protection blocked a user/IP pair");
        }
    }

    fn brute_reset(&self, key: &(String, String)) {
        self.brute().remove(key);
    }

    /// Clears counters for one email (all IPs), or all of them.
    fn brute_reset_email(&self, email: Option<&str>) {
        let mut map = self.brute();
        match email {
            Some(e) => {
                let e = e.trim().to_lowercase();
                map.retain(|(user, _), _| *user != e);
            }
            None => map.clear(),
        }
    }

    async fn rotate_keys(&self) -> Result<(), EmulatorError> {
        let fresh = tokio::task::spawn_blocking(StoredKey::generate)
            .await
            .map_err(|e| EmulatorError::Task(e.to_string()))??;
        let mut db = self.lock();
        db.keys.rotate_with(fresh);
        if let Some(path) = &self.file {
            db.save(path)?;
        }
        tracing::info!(kid = %db.keys.current.kid, "emulator signing keys rotated");
        Ok(())
    }
}

/// A running emulator. Dropping it leaves the server running until the runtime stops;
/// call [`EmulatorHandle::shutdown`] to stop it.
pub struct EmulatorHandle {
    emu: Arc<Emulator>,
    base_url: Url,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url.as_str())
            .field("issuer", &self.emu.issuer)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT/` — where to send requests (equals the issuer unless overridden).
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The issuer (`iss`), with trailing slash.
    pub fn issuer(&self) -> &str {
        &self.emu.issuer
    }

    /// previous ← current ← next ← fresh key; the JWKS then holds all three.
    pub async fn rotate_keys(&self) -> Result<(), EmulatorError> {
        self.emu.rotate_keys().await
    }

    /// Moves the clock of the short-lived MFA state (`mfa_token` expiry, code lifetimes,
    /// the wrong-code bucket, push polling) forward, so tests need not wait. Token
    /// `exp` claims and TOTP time steps keep following the wall clock.
    pub fn advance_clock(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.emu.clock_offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Stops accepting connections and waits (at most 5 s) for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// Starts the emulator on `listener` (bind 127.0.0.1:0 in tests).
pub async fn start(
    settings: EmulatorSettings,
    listener: TcpListener,
) -> Result<EmulatorHandle, EmulatorError> {
    settings.validate()?;
    let addr = listener.local_addr().map_err(EmulatorError::Listener)?;
    let base_url =
        Url::parse(&format!("http://{addr}/")).map_err(|e| EmulatorError::InvalidSetting {
            key: "emulator.listen".into(),
            reason: e.to_string(),
        })?;
    let issuer = match &settings.issuer {
        Some(url) => {
            let s = url.to_string();
            if s.ends_with('/') {
                s
            } else {
                format!("{s}/")
            }
        }
        None => base_url.to_string(),
    };
    let file = (!settings.ephemeral).then(|| settings.data_dir.join(STATE_FILE));
    let (db, dummy_hash) = {
        let settings = settings.clone();
        let file = file.clone();
        tokio::task::spawn_blocking(move || -> Result<(Db, String), EmulatorError> {
            let db = match &file {
                Some(path) => match Db::load(path)? {
                    Some(mut db) => {
                        db.seed(&settings)?;
                        db
                    }
                    None => Db::fresh(&settings)?,
                },
                None => Db::fresh(&settings)?,
            };
            if let Some(path) = &file {
                db.save(path)?;
            }
            let dummy = db::hash_password(&http_util::random_token(16), settings.password_hashing)?;
            Ok((db, dummy))
        })
        .await
        .map_err(|e| EmulatorError::Task(e.to_string()))??
    };
    let emu = Arc::new(Emulator {
        settings,
        issuer,
        db: Mutex::new(db),
        file,
        brute: Mutex::new(HashMap::new()),
        dummy_hash,
        rate: RateWindow::new(),
        clock_offset_ms: AtomicU64::new(0),
    });
    let app = router(emu.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "emulator server stopped");
        }
    });
    tracing::warn!(
        url = %base_url,
        issuer = %emu.issuer,
        "Auth0 emulator started: development and tests only, NOT for production"
    );
    if emu.settings.password_hashing == PasswordHashing::Fast {
        tracing::warn!(
            "emulator.password_hashing = \"fast\": passwords are hashed at Argon2's minimum cost, for load benchmarks only"
        );
    }
    Ok(EmulatorHandle {
        emu,
        base_url,
        addr,
        stop,
        task,
    })
}

/// Rotates the keys stored in `data_dir` (for `authgate emulator rotate-keys`). Run it while
/// the emulator is stopped, or use `POST /emulator/admin/rotate-keys` on a running one.
pub fn rotate_keys_in_dir(data_dir: &Path) -> Result<(), EmulatorError> {
    let path = data_dir.join(STATE_FILE);
    let mut db = Db::load(&path)?.ok_or_else(|| EmulatorError::NoState(data_dir.to_path_buf()))?;
    db.keys.rotate_with(StoredKey::generate()?);
    db.save(&path)
}

async fn rate_headers(State(emu): State<Arc<Emulator>>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    http_util::add_rate_headers(res.headers_mut(), emu.rate.hit());
    res
}

async fn not_found() -> Response {
    http_util::oauth_error(StatusCode::NOT_FOUND, "not_found", "Not Found")
}

fn router(emu: Arc<Emulator>) -> Router {
    let apis = Router::new()
        .route("/dbconnections/signup", post(authn::signup))
        .route(
            "/dbconnections/change_password",
            post(authn::change_password),
        )
        .route("/oauth/token", post(authn::token))
        .route("/oauth/revoke", post(authn::revoke))
        .route("/userinfo", get(authn::userinfo))
        .route("/mfa/authenticators", get(mfa::authenticators))
        .route("/mfa/associate", post(mfa::associate))
        .route("/mfa/challenge", post(mfa::challenge))
        .route("/.well-known/openid-configuration", get(authn::discovery))
        .route("/.well-known/jwks.json", get(authn::jwks))
        .route(
            "/api/v2/users",
            get(mgmt::list_users).post(mgmt::create_user),
        )
        .route(
            "/api/v2/users/{id}",
            get(mgmt::get_user)
                .patch(mgmt_users::update_user)
                .delete(mgmt_users::delete_user),
        )
        .route(
            "/api/v2/users/{id}/roles",
            get(mgmt::user_roles)
                .post(mgmt::assign_roles)
                .delete(mgmt::remove_roles),
        )
        .route("/api/v2/users-by-email", get(mgmt::users_by_email))
        .route("/api/v2/roles", get(mgmt::list_roles))
        .route(
            "/api/v2/roles/{id}/permissions",
            get(mgmt::role_permissions),
        )
        .route(
            "/api/v2/tickets/password-change",
            post(mgmt::password_change_ticket),
        )
        .layer(middleware::from_fn_with_state(emu.clone(), rate_headers));
    let local = Router::new()
        .route(
            "/u/reset-password",
            get(tickets::page_handler).post(tickets::submit),
        )
        .route("/emulator/admin/rotate-keys", post(admin::rotate_keys))
        .route("/emulator/tickets/last", get(admin::last_link))
        .route("/emulator/outbox", get(mfa::outbox))
        .route("/emulator/mfa/push/{action}", post(mfa::answer_push))
        .route(
            "/emulator/brute-force/reset",
            post(admin::reset_brute_force),
        );
    apis.merge(local)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(emu)
}
