//! What every request to the gateway's own endpoints (the WebSocket, `/v1`, `/tools/invoke`) passes before its
//! handler runs: the `Host` it names, the browser `Origin` it comes from, and — for the HTTP APIs — its credential
//! and content type, all checked on the headers, before any body is read.
//!
//! A web page the user opens can reach `127.0.0.1` (a cross-origin WebSocket, a `text/plain` POST) and a DNS name
//! it controls can be rebound to it. So: a `Host` must be an IP address, `localhost`, or a name the operator
//! configured (`gateway.publicOrigin`, the hosts of `gateway.controlUi.allowedOrigins`); a request with an `Origin`
//! must come from the gateway's own origin or an allowed one, and is refused outright when the gateway has no
//! secret; the HTTP APIs take only `application/json` bodies. Channel webhooks and hooks are not behind this: they
//! are called by outside services under public names and carry their own signatures and tokens.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Gateway;

/// Which checks a route group gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The WebSocket endpoint: host and origin (the credential comes in the `connect` frame).
    WebSocket,
    /// An HTTP API: host, origin, bearer credential and JSON bodies, before the body is read.
    Api,
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({"ok": false, "error": {"type": "forbidden", "message": message}}))).into_response()
}

/// The host part of a `Host` header (`[::1]:18789` → `::1`, `example.com:80` → `example.com`).
fn host_name(value: &str) -> &str {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    value.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(value, |(h, _)| h)
}

/// The host of an origin or URL (`https://ops.example.com:8443` → `ops.example.com`).
fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(host_name(authority))
}

/// Whether `host` names this gateway: an IP address, `localhost` (and `*.localhost`), or a configured name.
pub(crate) fn host_allowed(host: &str, config: &openclaw_config::GatewayConfig) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host.parse::<IpAddr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost")
        || config
            .public_origin
            .iter()
            .chain(&config.control_ui.allowed_origins)
            .filter_map(|origin| origin_host(origin))
            .any(|configured| configured.eq_ignore_ascii_case(&host))
}

/// Whether a browser `origin` may talk to the gateway reached under `host`.
pub(crate) fn origin_allowed(origin: &str, host: Option<&str>, config: &openclaw_config::GatewayConfig) -> bool {
    let origin = origin.trim().trim_end_matches('/');
    let own = host.is_some_and(|host| {
        origin.eq_ignore_ascii_case(&format!("http://{host}"))
            || origin.eq_ignore_ascii_case(&format!("https://{host}"))
    });
    own || config
        .public_origin
        .iter()
        .chain(&config.control_ui.allowed_origins)
        .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin) || allowed.trim() == "*")
}

fn text<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The checks of `kind` on a request's headers; `None` when it may go on.
pub(crate) fn check(
    gateway: &Gateway,
    kind: Kind,
    method: &Method,
    headers: &HeaderMap,
    peer: IpAddr,
) -> Option<Response> {
    let loaded = gateway.loaded();
    let config = &loaded.config.gateway;
    let host = text(headers, &header::HOST);
    if let Some(host) = host
        && !host_allowed(host_name(host), config)
    {
        return Some(refuse(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "Host {:?} is not a name of this gateway (a page may have rebound its DNS name to it): use an IP address or localhost, or add the origin to gateway.controlUi.allowedOrigins or gateway.publicOrigin",
                openclaw_protocol::log_safe(host)
            ),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        if !gateway.auth().is_configured() {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "this gateway has no secret, so it refuses requests from browsers (an Origin header): set gateway.auth.token (openclaw setup writes one) and connect with it".to_owned(),
            ));
        }
        if !origin_allowed(origin, host, config) {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "origin {:?} is not allowed: add it to gateway.controlUi.allowedOrigins",
                    openclaw_protocol::log_safe(origin)
                ),
            ));
        }
    }
    if kind == Kind::Api {
        if let Err(denied) = crate::http::gateway_bearer(gateway, headers, peer) {
            return Some(match denied {
                crate::http::Denied::Unauthorized => refuse(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized: send Authorization: Bearer <gateway token> (gateway.auth.token)".to_owned(),
                ),
                crate::http::Denied::RateLimited(seconds) => {
                    let mut response = refuse(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("too many failed attempts from this address; retry in {seconds} s"),
                    );
                    if let Ok(value) = seconds.to_string().parse() {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                    response
                }
            });
        }
        let json = text(headers, &header::CONTENT_TYPE).is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json")
        });
        if *method != Method::GET && *method != Method::HEAD && !json {
            return Some(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with Content-Type: application/json".to_owned(),
            ));
        }
    }
    None
}

async fn run(gateway: Arc<Gateway>, kind: Kind, peer: SocketAddr, request: Request, next: Next) -> Response {
    match check(&gateway, kind, request.method(), request.headers(), peer.ip()) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

pub(crate) async fn websocket(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    run(gateway, Kind::WebSocket, peer, request, next).await
}

pub(crate) async fn api(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    run(gateway, Kind::Api, peer, request, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let mut config = openclaw_config::GatewayConfig::default();
        for ok in ["127.0.0.1", "::1", "localhost", "app.localhost", "10.0.0.5"] {
            assert!(host_allowed(ok, &config), "{ok}");
        }
        assert!(!host_allowed("attacker.example", &config));
        config.control_ui.allowed_origins = vec!["https://ops.example.com".into()];
        assert!(host_allowed("ops.example.com", &config));
        assert_eq!(host_name("[::1]:18789"), "::1");
        assert_eq!(host_name("localhost:18789"), "localhost");
        assert!(origin_allowed("http://127.0.0.1:18789", Some("127.0.0.1:18789"), &config));
        assert!(origin_allowed("https://ops.example.com", Some("127.0.0.1:1"), &config));
        assert!(!origin_allowed("https://evil.example", Some("127.0.0.1:18789"), &config));
        assert!(!origin_allowed("null", Some("127.0.0.1:18789"), &config));
    }
}
