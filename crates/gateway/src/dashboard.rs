//! The dashboard `openclaw dashboard` opens: a small page on the gateway's own origin that connects back over the
//! WebSocket protocol with the token from the URL fragment (which browsers never send to the server) and shows
//! health, agents, channels and sessions, with a box to talk to an agent. The full Control UI is issue 27's.
//!
//! The page holds no secret and is served to anyone who can reach the port; everything it shows comes through a
//! connection authenticated like any other client. Its headers forbid framing, inline script and foreign hosts.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../ui/dashboard.html");
const SCRIPT: &str = include_str!("../ui/dashboard.js");
const STYLE: &str = include_str!("../ui/dashboard.css");

/// The path of the page's script and style.
pub(crate) const SCRIPT_PATH: &str = "/ui/dashboard.js";
pub(crate) const STYLE_PATH: &str = "/ui/dashboard.css";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The page itself (a plain GET of `/` that is not a WebSocket upgrade).
pub(crate) fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub(crate) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// Whether a request to `/` is a browser asking for a page rather than a WebSocket client.
pub(crate) fn wants_page(method: &axum::http::Method, headers: &axum::http::HeaderMap) -> bool {
    method == axum::http::Method::GET
        && !headers.contains_key(header::UPGRADE)
        && headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}
