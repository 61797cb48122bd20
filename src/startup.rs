//! `Application::build(settings)`: everything wired, the listener bound.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::auth::{Principal, Rejection};
use crate::config::Settings;
use crate::graphql::{self, Bindings, SdlSource};
use crate::http::{self, AppState, Authenticate, ReadinessCheck};

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
}

impl ApplicationBuilder {
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

    /// Builds the schema and state, and binds the listener.
    pub async fn build(self) -> anyhow::Result<Application> {
        let state = self.state()?;
        let listener = TcpListener::bind(state.settings.server.listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot listen on {}: {e}", state.settings.server.listen)
            })?;
        let addr = listener.local_addr()?;
        let (shutdown, _) = watch::channel(false);
        Ok(Application {
            listener,
            addr,
            state,
            shutdown,
        })
    }

    /// The shared state without a listener (for in-process router tests).
    pub fn state(self) -> anyhow::Result<Arc<AppState>> {
        let settings = Arc::new(self.settings);
        let mut sources = graphql::read_sources(&settings.graphql.schema)?;
        sources.extend(self.extra_sdl);
        let schema = graphql::build(&settings.graphql, &sources, &self.bindings)?;
        Ok(Arc::new(AppState {
            settings,
            schema: ArcSwap::from_pointee(schema),
            authenticator: self.authenticator.unwrap_or_else(|| Arc::new(NoKeys)),
            readiness: self.readiness,
        }))
    }
}

/// A bound, ready-to-run gateway.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
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
            bindings: graphql::builtin_bindings(),
            authenticator: None,
            readiness: Vec::new(),
        }
    }

    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::builder(settings).build().await
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until SIGINT/SIGTERM or the shutdown handle, then drains
    /// in-flight requests for at most `server.shutdown_grace`.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let grace = self.state.settings.server.shutdown_grace;
        let app =
            http::router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
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
        let server = axum::serve(self.listener, app).with_graceful_shutdown(signal);
        let server = std::pin::pin!(std::future::IntoFuture::into_future(server));
        tokio::select! {
            r = server => r.map_err(anyhow::Error::from),
            _ = async {
                let _ = drain_rx.wait_for(|v| *v).await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!("shutdown grace period over; dropping remaining connections");
                Ok(())
            }
        }
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
