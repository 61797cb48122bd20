//! `Application::build(settings)`: everything wired, the listener bound.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Authenticate, Authenticator};
use crate::auth0::{Auth0Client, IdentityProvider};
use crate::config::{ProviderKind, Settings};
use crate::emulator::EmulatorHandle;
use crate::graphql::{self, Bindings, SdlSource};
use crate::http::{self, AppState, ReadinessCheck};
use crate::limits::Limiter;
use crate::metrics::{InstrumentedProvider, InstrumentedStore, Metrics};
use crate::reload::{self, ConfigSource, ReloadParts, ReloadStatus, Reloader};
use crate::session::SessionService;
use crate::store::Store;

/// `/readyz`: the signing keys.
struct KeysReady(Authenticator);

#[async_trait]
impl ReadinessCheck for KeysReady {
    fn name(&self) -> &'static str {
        "signing_keys"
    }
    async fn check(&self) -> (bool, serde_json::Value) {
        let r = self.0.keys_readiness();
        (r.ready(), serde_json::to_value(&r).unwrap_or_default())
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
        None,
    )
    .map_err(|errs| anyhow::anyhow!("{}", reload::datasource_errors(&errs)))?;
    b.factory(ds.factory());
    Ok(b)
}

/// The schema as `serve` would build it, without starting anything
/// (`print-schema`, `check-config`).
pub fn offline_schema(settings: &Settings) -> anyhow::Result<graphql::BuiltSchema> {
    let bindings = offline_bindings(settings)?;
    Ok(graphql::compose(&settings.graphql, &[], &[&bindings])?)
}

/// Binds `addr` and serves the example orders service on it (development
/// only): `authgate example-upstream` runs the future to the end, `serve`
/// spawns it beside the gateway.
pub async fn example_upstream(
    addr: &str,
) -> anyhow::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the example upstream on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "example orders service (development only)");
    Ok((bound, crate::datasources::example::serve_example(listener)))
}

/// Assembles an [`Application`]; tests add SDL, bindings or a guard double.
pub struct ApplicationBuilder {
    settings: Settings,
    extra_sdl: Vec<SdlSource>,
    bindings: Bindings,
    authenticator: Option<Arc<dyn Authenticate>>,
    readiness: Vec<Arc<dyn ReadinessCheck>>,
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
    pub async fn build(self) -> anyhow::Result<Application> {
        // first: from now on a SIGHUP (queued until serving) never kills the process
        #[cfg(unix)]
        let hangup = Some(
            reload::listen_for_sighup()
                .map_err(|e| anyhow::anyhow!("cannot listen for SIGHUP: {e}"))?,
        );
        #[cfg(not(unix))]
        let hangup = None;
        let mut settings = self.settings;
        // as loaded, before run-time adjustments: what reloads compare with
        let loaded = settings.clone();
        let emulator = start_emulator(&mut settings).await?;
        let http = outbound_client(&settings)?;
        let fleet = Fleet::build(&settings)?;
        let mut readiness = self.readiness;
        let mut background = Vec::new();
        let guard = match self.authenticator {
            Some(double) => double,
            None => {
                let issuer = emulator.as_ref().map(|e| e.issuer().to_owned());
                let guard = start_guard(&settings, issuer.as_deref(), &http, &fleet).await;
                background.push(guard.spawn_refresh());
                readiness.push(Arc::new(KeysReady(guard.clone())));
                Arc::new(guard)
            }
        };
        readiness.push(Arc::new(StoreReady(fleet.store.clone())));
        let services = services(&settings, &http, &fleet, guard.clone())?;
        let token_source = token_source(&settings, &http);
        let datasources = start_datasources(&settings, &http, token_source.clone(), &fleet)?;
        readiness.push(Arc::new(DatasourcesReady(datasources.clone())));
        background.extend(spawn_example_upstream(&settings).await?);
        let parts = ReloadParts {
            extra_sdl: self.extra_sdl,
            services,
            caller: self.bindings,
            http,
            token_source,
            metrics: Some(fleet.metrics.clone()),
        };
        let schema = reload::compose_schema(&settings, &parts, &datasources.load())?;
        let status = reload::initial_status(&schema.sdl);
        readiness.push(Arc::new(ConfigReady(status.clone())));
        let listeners = Listeners::bind(&settings).await?;
        let state = Arc::new(AppState {
            server: settings.server.clone(),
            graphql: settings.graphql.clone(),
            access_token_cookie: settings.session.access_token_cookie.clone(),
            schema: Arc::new(ArcSwap::from_pointee(schema)),
            authenticator: guard,
            readiness,
            limiter: Some(fleet.limiter),
            metrics: Some(fleet.metrics),
        });
        let reloader = Arc::new(Reloader::new(
            state.schema.clone(),
            self.config_source,
            loaded,
            Arc::new(settings),
            parts,
            datasources,
            status,
        ));
        let (shutdown, _) = watch::channel(false);
        Ok(Application {
            listener: listeners.graphql,
            addr: listeners.addr,
            metrics_listener: listeners.metrics,
            state,
            shutdown,
            emulator,
            background,
            reloader,
            hangup,
        })
    }
}

/// Starts the embedded emulator when `identity.provider = "emulator"` and
/// points `auth0.base_url` at it.
async fn start_emulator(settings: &mut Settings) -> anyhow::Result<Option<EmulatorHandle>> {
    if settings.identity.provider != ProviderKind::Emulator {
        return Ok(None);
    }
    let listen = settings.identity.emulator_listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the emulator on {listen}: {e}"))?;
    let handle = crate::emulator::start(settings.emulator.clone(), listener)
        .await
        .map_err(|e| anyhow::anyhow!("the emulator could not start: {e}"))?;
    tracing::warn!(
        url = %handle.base_url(),
        "identity provider: the embedded Auth0 EMULATOR (development only, never production)"
    );
    settings.auth0.base_url = Some(handle.base_url());
    Ok(Some(handle))
}

/// The one outbound HTTP client (Auth0, JWKS, datasources), shared by cloning.
fn outbound_client(settings: &Settings) -> anyhow::Result<reqwest::Client> {
    let a0 = &settings.auth0;
    Ok(crate::outbound::client(
        crate::outbound::USER_AGENT,
        a0.connect_timeout,
        a0.timeout,
    )?)
}

/// What replicas share or report: metrics, the shared store, the limiter.
struct Fleet {
    metrics: Metrics,
    store: Arc<dyn Store>,
    limiter: Arc<Limiter>,
}

impl Fleet {
    fn build(settings: &Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new()?;
        let store =
            crate::store::build(&settings.store).map_err(|e| anyhow::anyhow!("store: {e}"))?;
        tracing::info!(backend = store.backend(), "shared store");
        let store: Arc<dyn Store> = Arc::new(InstrumentedStore::new(store, metrics.clone()));
        let limiter = Arc::new(Limiter::new(
            settings.limits.clone(),
            store.clone(),
            Some(metrics.clone()),
        ));
        Ok(Self {
            metrics,
            store,
            limiter,
        })
    }
}

/// The request guard: the key set (the emulator's `issuer` once it is
/// bound), its statistics on every scrape.
async fn start_guard(
    settings: &Settings,
    issuer: Option<&str>,
    http: &reqwest::Client,
    fleet: &Fleet,
) -> Authenticator {
    let guard = Authenticator::new(
        settings.effective_guard(issuer),
        http.clone(),
        fleet.store.clone(),
    )
    .await;
    let stats = guard.clone();
    fleet
        .metrics
        .on_scrape(move |m| m.set_guard_stats(stats.stats(), stats.key_status().keys));
    guard
}

/// The session and invitation resolvers, on the identity provider and the
/// Management API.
fn services(
    settings: &Settings,
    http: &reqwest::Client,
    fleet: &Fleet,
    guard: Arc<dyn Authenticate>,
) -> anyhow::Result<Bindings> {
    let provider: Arc<dyn IdentityProvider> = Arc::new(InstrumentedProvider::new(
        Arc::new(Auth0Client::new(settings.auth0.clone(), http.clone())),
        fleet.metrics.clone(),
    ));
    let session = Arc::new(
        SessionService::new(
            settings.session.clone(),
            provider,
            guard,
            fleet.store.clone(),
            settings.graphql.path.clone(),
        )
        .with_enumeration_key_from(&settings.auth0.client_secret),
    );
    let observed = fleet.metrics.clone();
    let mgmt = crate::auth0::ManagementClient::new(&settings.auth0, http.clone()).with_observer(
        Arc::new(move |endpoint, status, elapsed| observed.record_idp(endpoint, status, elapsed)),
    );
    let invites = crate::invite::build(settings.invites.clone(), &settings.auth0, mgmt)
        .map_err(|e| anyhow::anyhow!("invitations: {e}"))?;
    let mut services = Bindings::default();
    crate::session::bind(&mut services, session);
    crate::invite::bind(&mut services, Arc::new(invites));
    services.count_document_cache(fleet.metrics.document_cache_counters());
    Ok(services)
}

/// The gateway's own service token for datasources (client credentials at
/// the identity provider's token endpoint).
fn token_source(
    settings: &Settings,
    http: &reqwest::Client,
) -> Option<Arc<dyn crate::datasources::ServiceTokenSource>> {
    let url = settings.auth0.base_url().join("oauth/token").ok()?;
    Some(Arc::new(crate::datasources::ClientCredentials::new(
        http.clone(),
        url,
        settings.auth0.client_id.clone(),
        settings.auth0.client_secret.clone(),
    )))
}

/// The team's services (swapped whole on reload; shared with `/readyz`).
fn start_datasources(
    settings: &Settings,
    http: &reqwest::Client,
    token_source: Option<Arc<dyn crate::datasources::ServiceTokenSource>>,
    fleet: &Fleet,
) -> anyhow::Result<Arc<ArcSwap<crate::datasources::Datasources>>> {
    let datasources = reload::build_datasources(settings, http, token_source, Some(&fleet.metrics))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Arc::new(ArcSwap::from_pointee(datasources)))
}

/// `development.example_upstream`: the example service beside the gateway.
async fn spawn_example_upstream(
    settings: &Settings,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let addr = &settings.development.example_upstream;
    if addr.is_empty() {
        return Ok(None);
    }
    let (_, serving) = example_upstream(addr).await?;
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = serving.await {
            tracing::warn!(error = %e, "the example upstream stopped");
        }
    })))
}

/// The GraphQL listener and, when enabled, the metrics listener.
struct Listeners {
    graphql: TcpListener,
    addr: SocketAddr,
    metrics: Option<(TcpListener, SocketAddr)>,
}

impl Listeners {
    async fn bind(settings: &Settings) -> anyhow::Result<Self> {
        let listen = settings.server.listen;
        let graphql = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let addr = graphql.local_addr()?;
        let metrics = if settings.metrics.enabled {
            let listen = settings.metrics.listen;
            let l = TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {listen}: {e}"))?;
            let bound = l.local_addr()?;
            tracing::info!(addr = %bound, "metrics at /metrics");
            Some((l, bound))
        } else {
            None
        };
        Ok(Self {
            graphql,
            addr,
            metrics,
        })
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
        let grace = self.state.server.shutdown_grace;
        let app = http::router(self.state.clone());
        let limits = http::serve::ConnLimits::from_settings(&self.state.server);
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
