//! Health endpoints: `/health(z)` (liveness), `/ready(z)` (503 while starting or draining), `/startupz`.

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
