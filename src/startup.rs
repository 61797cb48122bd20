//! `Application::build(settings)`: everything wired, the listener bound.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Authenticator, KeySource, Principal, Rejection};
use crate::auth0::{Auth0Client, IdentityProvider};
use crate::config::{ProviderKind, Settings};
use crate::emulator::EmulatorHandle;
use crate::graphql::{self, Bindings, SdlSource};
use crate::http::{self, AppState, Authenticate, ReadinessCheck};
use crate::limits::Limiter;
use crate::metrics::{InstrumentedProvider, InstrumentedStore, Metrics};
use crate::reload::{self, ConfigSource, ReloadParts, ReloadStatus, Reloader};
use crate::session::SessionService;
use crate::store::Store;

#[async_trait]
impl Authenticate for Authenticator {
    async fn authenticate(&self, token: &str) -> Principal {
        Authenticator::authenticate(self, token).await
    }

    async fn verify_id_token(
        &self,
        token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Rejection> {
        Authenticator::verify_id_token(self, token)
            .await
            .map_err(|e| {
                tracing::debug!(error = %e, "ID token refused");
                Rejection::Invalid
            })
    }

    fn key_status(&self) -> (bool, serde_json::Value) {
        let st = Authenticator::key_status(self);
        let source = match st.source {
            KeySource::Fetched => "fetched",
            KeySource::Snapshot => "snapshot",
            KeySource::File => "file",
            KeySource::None => "none",
        };
        (
            st.keys > 0,
            serde_json::json!({
                "keys": st.keys,
                "kids": st.kids,
                "source": source,
                "stale": st.last_error.is_some(),
                "last_error": st.last_error,
            }),
        )
    }
}

/// `/readyz`: the signing keys.
struct KeysReady(Arc<dyn Authenticate>);

#[async_trait]
impl ReadinessCheck for KeysReady {
    fn name(&self) -> &'static str {
        "signing_keys"
    }
    async fn check(&self) -> (bool, serde_json::Value) {
        self.0.key_status()
    }
}

/// `/readyz`: each datasource's circuit (of the datasources in force).
struct DatasourcesReady(Arc<ArcSwap<crate::datasources::Datasources>>);

#[async_trait]
impl ReadinessCheck for DatasourcesReady {
    fn name(&self) -> &'static str {
        "datasources"
    }
    async fn check(&self) -> (bool, serde_json::Value) {
        // an open circuit degrades some fields; the gateway still serves
        (true, self.0.load().readiness())
    }
}

/// `/readyz`: which configuration generation and schema serve (always ready:
/// a failed reload keeps the previous ones serving).
struct ConfigReady(Arc<ArcSwap<ReloadStatus>>);

#[async_trait]
impl ReadinessCheck for ConfigReady {
    fn name(&self) -> &'static str {
        "config"
    }
    async fn check(&self) -> (bool, serde_json::Value) {
        (
            true,
            serde_json::to_value(&**self.0.load()).unwrap_or_default(),
        )
    }
}

/// The bindings `print-schema` and `check-config` build with: the built-in
/// resolvers and the datasource directives, without starting anything.
pub fn offline_bindings(settings: &Settings) -> anyhow::Result<Bindings> {
    let mut b = graphql::builtin_bindings();
    let ds = crate::datasources::Datasources::new(
        &settings.datasources,
        {
            crate::crypto::install();
            reqwest::Client::new()
        },
        None,
    )
    .map_err(|errs| anyhow::anyhow!("{}", reload::datasource_errors(&errs)))?;
    b.factory(ds.factory());
    Ok(b)
}

/// `/readyz`: the shared store.
struct StoreReady(Arc<dyn Store>);

#[async_trait]
impl ReadinessCheck for StoreReady {
    fn name(&self) -> &'static str {
        "store"
    }
    async fn check(&self) -> (bool, serde_json::Value) {
        match self.0.ping().await {
            Ok(()) => (true, serde_json::json!({"backend": self.0.backend()})),
            // the public port says only that much; the cause goes to the log
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the store is unavailable");
                (
                    false,
                    serde_json::json!({"backend": self.0.backend(), "error": "unavailable"}),
                )
            }
        }
    }
}

/// Refuses every token: used until a key set is configured, so that no token
/// is ever accepted unchecked.
struct NoKeys;

#[async_trait]
impl Authenticate for NoKeys {
    async fn authenticate(&self, _token: &str) -> Principal {
        Principal::rejected(Rejection::KeysUnavailable)
    }
}

/// Assembles an [`Application`]; tests add SDL, bindings or a guard double.
pub struct ApplicationBuilder {
    settings: Settings,
    extra_sdl: Vec<SdlSource>,
    bindings: Bindings,
    authenticator: Option<Arc<dyn Authenticate>>,
    readiness: Vec<Arc<dyn ReadinessCheck>>,
    limiter: Option<Arc<Limiter>>,
    metrics: Option<Metrics>,
    config_source: Option<ConfigSource>,
}

impl ApplicationBuilder {
    /// Where a reload re-reads the settings from (as `main` loaded them).
    /// Without it a reload keeps the settings and re-reads only the SDL.
    pub fn config_source(mut self, source: ConfigSource) -> Self {
        self.config_source = Some(source);
        self
    }

    /// Adds an SDL text to the schema files.
    pub fn sdl(mut self, name: &str, text: &str) -> Self {
        self.extra_sdl.push(SdlSource {
            name: name.to_owned(),
            text: text.to_owned(),
        });
        self
    }

    /// Adds (or replaces) resolvers by name.
    pub fn bindings(mut self, f: impl FnOnce(&mut Bindings)) -> Self {
        f(&mut self.bindings);
        self
    }

    /// Replaces the request guard.
    pub fn authenticator(mut self, a: Arc<dyn Authenticate>) -> Self {
        self.authenticator = Some(a);
        self
    }

    pub fn readiness(mut self, c: Arc<dyn ReadinessCheck>) -> Self {
        self.readiness.push(c);
        self
    }

    /// Starts the identity provider (the emulator, when configured), wires
    /// the guard and the resolvers, builds the schema, and binds the listener.
    pub async fn build(mut self) -> anyhow::Result<Application> {
        // as loaded, before run-time adjustments: what reloads compare with
        let loaded = self.settings.clone();
        // first: from now on a SIGHUP (queued until serving) never kills the process
        #[cfg(unix)]
        let hangup = Some(
            reload::listen_for_sighup()
                .map_err(|e| anyhow::anyhow!("cannot listen for SIGHUP: {e}"))?,
        );
        #[cfg(not(unix))]
        let hangup = None;
        let mut emulator = None;
        let mut issuer = None;
        if self.settings.identity.provider == ProviderKind::Emulator {
            let listen = self.settings.identity.emulator_listen;
            let listener = TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot start the emulator on {listen}: {e}"))?;
            let handle = crate::emulator::start(self.settings.emulator.clone(), listener)
                .await
                .map_err(|e| anyhow::anyhow!("the emulator could not start: {e}"))?;
            tracing::warn!(
                url = %handle.base_url(),
                "identity provider: the embedded Auth0 EMULATOR (development only, never production)"
            );
            self.settings.auth0.base_url = Some(handle.base_url());
            issuer = Some(handle.issuer().to_owned());
            emulator = Some(handle);
        }
        let a0 = &self.settings.auth0;
        let http = crate::auth0::http_client(
            concat!("authgate/", env!("CARGO_PKG_VERSION")),
            a0.connect_timeout,
            a0.timeout,
        )?;
        // fleet: metrics, the shared store, the limiter
        let metrics = Metrics::new()?;
        let store =
            crate::store::build(&self.settings.store).map_err(|e| anyhow::anyhow!("store: {e}"))?;
        tracing::info!(backend = store.backend(), "shared store");
        let store: Arc<dyn Store> = Arc::new(InstrumentedStore::new(store, metrics.clone()));
        self.limiter = Some(Arc::new(Limiter::new(
            self.settings.limits.clone(),
            store.clone(),
            Some(metrics.clone()),
        )));
        self.metrics = Some(metrics.clone());
        let mut background = Vec::new();
        let guard: Arc<dyn Authenticate> = match self.authenticator.take() {
            Some(a) => a,
            None => {
                let guard_settings = self.settings.effective_guard(issuer.as_deref());
                let a = Authenticator::new(guard_settings, http.clone(), store.clone()).await;
                background.push(a.spawn_refresh());
                let stats = a.clone();
                metrics
                    .on_scrape(move |m| m.set_guard_stats(stats.stats(), stats.key_status().keys));
                Arc::new(a)
            }
        };
        self.authenticator = Some(guard.clone());
        self.readiness.push(Arc::new(KeysReady(guard.clone())));
        self.readiness.push(Arc::new(StoreReady(store.clone())));
        let provider: Arc<dyn IdentityProvider> = Arc::new(InstrumentedProvider::new(
            Arc::new(Auth0Client::new(self.settings.auth0.clone(), http.clone())),
            metrics.clone(),
        ));
        let session = Arc::new(
            SessionService::new(
                self.settings.session.clone(),
                provider,
                guard,
                store,
                self.settings.graphql.path.clone(),
            )
            .with_enumeration_key_from(&self.settings.auth0.client_secret),
        );
        let observed = metrics.clone();
        let mgmt = crate::auth0::ManagementClient::new(&self.settings.auth0, http.clone())
            .with_observer(Arc::new(move |endpoint, status, elapsed| {
                observed.record_idp(endpoint, status, elapsed)
            }));
        let invites =
            crate::invite::build(self.settings.invites.clone(), &self.settings.auth0, mgmt)
                .map_err(|e| anyhow::anyhow!("invitations: {e}"))?;
        // the team's services
        let token_source = self.settings.auth0.base_url().join("oauth/token").ok().map(
            |url| -> Arc<dyn crate::datasources::ServiceTokenSource> {
                Arc::new(crate::datasources::ClientCredentials::new(
                    http.clone(),
                    url,
                    self.settings.auth0.client_id.clone(),
                    self.settings.auth0.client_secret.clone(),
                ))
            },
        );
        let datasources =
            reload::build_datasources(&self.settings, &http, token_source.clone(), Some(&metrics))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let datasources = Arc::new(ArcSwap::from_pointee(datasources));
        self.readiness
            .push(Arc::new(DatasourcesReady(datasources.clone())));
        if !self.settings.development.example_upstream.is_empty() {
            let addr = self.settings.development.example_upstream.clone();
            let listener = TcpListener::bind(addr.as_str())
                .await
                .map_err(|e| anyhow::anyhow!("cannot start the example upstream on {addr}: {e}"))?;
            tracing::info!(address = %addr, "example orders service (development only)");
            background.push(tokio::spawn(async move {
                if let Err(e) = crate::datasources::example::serve_example(listener).await {
                    tracing::warn!(error = %e, "the example upstream stopped");
                }
            }));
        }
        // precedence: built-in placeholders < datasources < session < the caller's
        let mut services = Bindings::default();
        crate::session::bind(&mut services, session);
        crate::invite::bind(&mut services, Arc::new(invites));
        let parts = ReloadParts {
            extra_sdl: std::mem::take(&mut self.extra_sdl),
            services,
            caller: std::mem::take(&mut self.bindings),
            http: http.clone(),
            token_source,
            metrics: Some(metrics.clone()),
        };
        let settings = Arc::new(self.settings);
        let schema = reload::compose_schema(
            &settings,
            &parts.extra_sdl,
            Some(&datasources.load()),
            &parts.services,
            &parts.caller,
        )?;
        let status = reload::initial_status(&schema.sdl);
        self.readiness.push(Arc::new(ConfigReady(status.clone())));
        let state = Arc::new(AppState {
            settings: settings.clone(),
            schema: ArcSwap::from_pointee(schema),
            authenticator: self
                .authenticator
                .take()
                .unwrap_or_else(|| Arc::new(NoKeys)),
            readiness: std::mem::take(&mut self.readiness),
            limiter: self.limiter.take(),
            metrics: self.metrics.take(),
        });
        let reloader = Arc::new(Reloader::new(
            state.clone(),
            self.config_source.take(),
            loaded,
            settings,
            parts,
            datasources,
            status,
        ));
        let listen = state.settings.server.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        let metrics_listener = if state.settings.metrics.enabled {
            let listen = state.settings.metrics.listen;
            let l = TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {listen}: {e}"))?;
            let bound = l.local_addr()?;
            tracing::info!(addr = %bound, "metrics at /metrics");
            Some((l, bound))
        } else {
            None
        };
        let (shutdown, _) = watch::channel(false);
        Ok(Application {
            listener,
            addr,
            metrics_listener,
            state,
            shutdown,
            emulator,
            background,
            reloader,
            hangup,
        })
    }

    /// The shared state without a listener (for in-process router tests).
    pub fn state(self) -> anyhow::Result<Arc<AppState>> {
        let settings = Arc::new(self.settings);
        let schema = reload::compose_schema(
            &settings,
            &self.extra_sdl,
            None,
            &Bindings::default(),
            &self.bindings,
        )?;
        Ok(Arc::new(AppState {
            settings,
            schema: ArcSwap::from_pointee(schema),
            authenticator: self.authenticator.unwrap_or_else(|| Arc::new(NoKeys)),
            readiness: self.readiness,
            limiter: self.limiter,
            metrics: self.metrics,
        }))
    }
}

/// A bound, ready-to-run gateway.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    emulator: Option<EmulatorHandle>,
    background: Vec<tokio::task::JoinHandle<()>>,
    reloader: Arc<Reloader>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
    #[cfg(not(unix))]
    hangup: Option<()>,
}

/// Stops a running [`Application`] gracefully.
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl Application {
    pub fn builder(settings: Settings) -> ApplicationBuilder {
        ApplicationBuilder {
            settings,
            extra_sdl: Vec::new(),
            bindings: Bindings::default(),
            authenticator: None,
            readiness: Vec::new(),
            limiter: None,
            metrics: None,
            config_source: None,
        }
    }

    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::builder(settings).build().await
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, when `metrics.enabled`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, a)| *a)
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The embedded emulator's base URL, when it runs.
    pub fn emulator_url(&self) -> Option<url::Url> {
        self.emulator.as_ref().map(EmulatorHandle::base_url)
    }

    /// Reloads the configuration and the schema (what `SIGHUP` and the file
    /// watcher call).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until SIGINT/SIGTERM or the shutdown handle, then drains
    /// in-flight requests for at most `server.shutdown_grace`.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let grace = self.state.settings.server.shutdown_grace;
        let app = http::router(self.state.clone());
        let limits = http::serve::ConnLimits::from_settings(&self.state.settings.server);
        let mut background = self.background;
        #[cfg(unix)]
        if let Some(hangup) = self.hangup {
            background.push(self.reloader.spawn_on_signal(hangup));
        }
        #[cfg(not(unix))]
        let _ = self.hangup;
        let watch = &self.reloader.settings().reload;
        if watch.watch {
            tracing::info!(paths = ?self.reloader.watched_paths(), interval = ?watch.poll_interval, "watching the configuration and SDL files");
            background.push(self.reloader.spawn_watcher(watch.poll_interval));
        }
        if let (Some((l, _)), Some(m)) = (self.metrics_listener, self.state.metrics.clone()) {
            // the same connection limits: a scraper port is no back door
            let router = crate::metrics::router(m);
            background.push(tokio::spawn(http::serve::serve(
                l,
                router,
                limits,
                std::future::pending(),
            )));
        }
        let mut rx = self.shutdown.subscribe();
        let (drain_tx, mut drain_rx) = watch::channel(false);
        let signal = async move {
            tokio::select! {
                _ = rx.wait_for(|v| *v) => {}
                _ = os_signal() => {}
            }
            tracing::info!(grace = ?grace, "shutting down: draining in-flight requests");
            let _ = drain_tx.send(true);
        };
        let server = http::serve::serve(self.listener, app, limits, signal);
        let server = std::pin::pin!(server);
        let result = tokio::select! {
            () = server => Ok(()),
            _ = async {
                let _ = drain_rx.wait_for(|v| *v).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("shutdown grace period over; dropping remaining connections");
                Ok(())
            }
        };
        for task in background {
            task.abort();
        }
        if let Some(e) = self.emulator {
            e.shutdown().await;
        }
        result
    }
}

async fn os_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
