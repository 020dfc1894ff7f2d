//! The gateway daemon: one port serving the HTTP health endpoints and the reference OpenClaw's WebSocket protocol
//! v4 (`connect.challenge` → `connect` → `hello-ok`, then `req`/`res`/`event` frames), over the agent runtime.
//!
//! Principal types: [`Gateway`] (the shared state), [`app`] (the axum router, separate from serving, so tests call
//! it directly), [`serve`] (binds nothing: it takes a listener and a shutdown future).
//!
//! **Invariants:**
//! - The gateway is the only crate that knows clients, agents and the store at once; agents never see sockets.
//! - Every connection is one task; a failure there is logged and contained, never brings the daemon down.
//! - Secrets (tokens, passwords) are compared in constant time and never logged.

pub mod client;
mod device;
mod http;
mod methods;
mod openai;
mod runs;
mod ws;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use openclaw_agent::AgentRuntime;
use openclaw_config::Loaded;
use openclaw_store::Store;

/// How clients authenticate.
#[derive(Clone, Default)]
pub struct AuthSettings {
    pub token: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl AuthSettings {
    /// Whether any shared secret is configured.
    pub fn is_configured(&self) -> bool {
        self.token.is_some() || self.password.is_some()
    }

    /// Whether `given` is the shared token or the shared password (HTTP bearer auth).
    pub(crate) fn accepts(&self, given: &str) -> bool {
        [&self.token, &self.password].into_iter().flatten().any(|secret| secret_eq(given, secret))
    }
}

/// Compares a presented secret with the expected one in constant time.
pub(crate) fn secret_eq(given: &str, expected: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into()
}

/// The gateway's shared state.
pub struct Gateway {
    pub loaded: Loaded,
    pub runtime: Arc<AgentRuntime>,
    pub store: Arc<dyn Store>,
    pub auth: AuthSettings,
    pub tick_interval: Duration,
    started: Instant,
    ready: AtomicBool,
    draining: AtomicBool,
    connections: AtomicU64,
    boot_id: String,
    /// Runs in progress and recently finished ones (for `agent.wait` and `chat.abort`).
    pub(crate) runs: runs::Runs,
    /// Flips to `true` when the gateway shuts down; every connection watches it.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Gateway {
    /// A gateway over a loaded configuration and a runtime.
    pub fn new(loaded: Loaded, runtime: Arc<AgentRuntime>, auth: AuthSettings) -> Arc<Self> {
        let store = runtime.store().clone();
        Arc::new(Gateway {
            loaded,
            runtime,
            store,
            auth,
            tick_interval: Duration::from_secs(30),
            started: Instant::now(),
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            boot_id: uuid::Uuid::new_v4().to_string(),
            runs: runs::Runs::default(),
            shutdown: tokio::sync::watch::channel(false).0,
        })
    }

    /// Marks the gateway ready (`/readyz` answers 200).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Marks the gateway draining (`/readyz` answers 503 again).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.draining.load(Ordering::SeqCst)
    }

    /// A receiver that turns `true` when the gateway shuts down.
    pub(crate) fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// How long a shutdown waits for running turns.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The gateway's version string.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The router: health endpoints and the WebSocket on `/`.
pub fn app(gateway: Arc<Gateway>) -> Router {
    http::routes().merge(openai::routes()).merge(ws::routes()).with_state(gateway)
}

/// Serves `app` on a bound listener until `shutdown` completes, then drains.
///
/// # Errors
/// The IO error that stopped the server.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(gateway.clone());
    gateway.set_ready();
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(address = %address, "Gateway ready.");
    let draining = gateway.clone();
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Drain: /readyz turns 503 and new runs are refused; running turns get time to finish (their results
            // still reach their clients); then every connection gets `shutdown` and a close frame.
            draining.set_draining();
            tracing::info!(running = draining.runs.active(), "Gateway draining.");
            let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
            while draining.runs.active() > 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = draining.shutdown.send(true);
            tracing::info!("Gateway stopped accepting connections.");
        })
        .await
}
