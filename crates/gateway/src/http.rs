//! Health endpoints: `/health(z)` (liveness), `/ready(z)` (503 while starting or draining), `/startupz`; and the
//! dashboard's script and style.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::{Gateway, VERSION};

pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/health", get(live))
        .route("/healthz", get(live))
        .route("/ready", get(ready))
        .route("/readyz", get(ready))
        .route("/startupz", get(startup))
        .route(crate::dashboard::SCRIPT_PATH, get(crate::dashboard::script))
        .route(crate::dashboard::STYLE_PATH, get(crate::dashboard::style))
}

async fn live() -> Json<Value> {
    Json(json!({"ok": true, "status": "live"}))
}

async fn ready(State(gateway): State<Arc<Gateway>>) -> (StatusCode, Json<Value>) {
    let ready = gateway.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let failing: Vec<&str> = if ready { vec![] } else { vec!["gateway"] };
    (status, Json(json!({"ready": ready, "failing": failing, "uptimeMs": gateway.uptime_ms()})))
}

async fn startup(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let status = if gateway.draining.load(std::sync::atomic::Ordering::SeqCst) {
        "draining"
    } else if gateway.ready.load(std::sync::atomic::Ordering::SeqCst) {
        "started"
    } else {
        "starting"
    };
    Json(json!({"ok": status == "started", "status": status, "version": VERSION, "uptimeMs": gateway.uptime_ms()}))
}

/// Why an HTTP request was not admitted by bearer auth.
pub(crate) enum Denied {
    Unauthorized,
    /// Too many failures from this address; retry after this many seconds.
    RateLimited(u64),
}

/// The token a request presents: `Authorization: Bearer …`, else `x-openclaw-token` when `alt_header` allows it.
pub(crate) fn presented_token(headers: &axum::http::HeaderMap, alt_header: bool) -> Option<String> {
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let alt = || {
        alt_header
            .then(|| headers.get("x-openclaw-token").and_then(|value| value.to_str().ok()).map(str::trim))
            .flatten()
            .filter(|token| !token.is_empty())
    };
    bearer.or_else(alt).map(str::to_owned)
}

/// Checks a presented secret against `accepts`, counting failures per client address in `limits`.
pub(crate) fn check_secret(
    limits: &crate::limit::AuthFailures,
    peer: std::net::IpAddr,
    presented: Option<&str>,
    accepts: impl Fn(&str) -> bool,
) -> Result<(), Denied> {
    if let Some(wait) = limits.locked(peer) {
        return Err(Denied::RateLimited(wait.as_secs().max(1)));
    }
    if presented.is_some_and(accepts) {
        limits.succeeded(peer);
        return Ok(());
    }
    match limits.failed(peer) {
        Some(wait) => Err(Denied::RateLimited(wait.as_secs().max(1))),
        None => Err(Denied::Unauthorized),
    }
}

/// Gateway bearer auth for the HTTP APIs (`/v1/*`, `/tools/invoke`): open when no shared secret is configured
/// (the gateway then listens on loopback only), else the token or the password.
pub(crate) fn gateway_bearer(
    gateway: &crate::Gateway,
    headers: &axum::http::HeaderMap,
    peer: std::net::IpAddr,
) -> Result<(), Denied> {
    let auth = gateway.auth();
    if !auth.is_configured() {
        return Ok(());
    }
    let presented = presented_token(headers, false);
    check_secret(&gateway.auth_failures, peer, presented.as_deref(), |given| auth.accepts(given))
}

/// `Retry-After` for a 429.
pub(crate) fn retry_after(seconds: u64) -> [(axum::http::HeaderName, String); 1] {
    [(axum::http::header::RETRY_AFTER, seconds.to_string())]
}
