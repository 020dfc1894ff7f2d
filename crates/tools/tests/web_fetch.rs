//! `web_fetch` against a real HTTP server on loopback: the SSRF guard refuses loopback, link-local (metadata), a DNS
//! name resolving to a private address and a redirect to one; an allowed host is fetched and rendered as text.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use openclaw_tools::{Tool, ToolContext, ToolError, ToolSettings, WebFetchSettings, WebFetchTool};
use serde_json::json;

async fn server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route(
            "/page",
            get(|| async {
                Html("<html><head><title>T</title><script>var secret = 1;</script></head><body><h1>Opening hours</h1><p>We open at <b>nine</b>.</p><ul><li>Mon</li><li>Tue</li></ul></body></html>")
            }),
        )
        .route("/redirect", get(move || async move { Redirect::temporary(&format!("http://127.0.0.1:{port}/page")) }))
        .route("/hop", get(|| async { Redirect::temporary("/page") }))
        .route("/big", get(|| async { "x".repeat(100_000) }))
        .route("/binary", get(|| async { ([("content-type", "image/png")], vec![0u8; 10]).into_response() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

fn ctx(web_fetch: WebFetchSettings) -> ToolContext {
    let mut ctx = ToolContext::new("main", "agent:main:main", std::env::temp_dir());
    ctx.settings = Arc::new(ToolSettings { web_fetch, ..ToolSettings::default() });
    ctx
}

fn localhost_allowed() -> WebFetchSettings {
    WebFetchSettings { allowed_hostnames: vec!["localhost".into()], ..WebFetchSettings::default() }
}

async fn fetch(ctx: &ToolContext, url: &str) -> Result<String, ToolError> {
    WebFetchTool.invoke(json!({"url": url}), ctx).await.map(|out| out.text)
}

fn denied(result: Result<String, ToolError>, needle: &str) {
    match result {
        Err(ToolError::Denied(message)) => assert!(message.contains(needle), "{message}"),
        other => panic!("expected a refusal mentioning {needle:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn internal_addresses_are_refused() {
    let port = server().await;
    let strict = ctx(WebFetchSettings::default());
    denied(fetch(&strict, &format!("http://127.0.0.1:{port}/page")).await, "127.0.0.1");
    denied(fetch(&strict, "http://169.254.169.254/latest/meta-data/").await, "169.254.169.254");
    denied(fetch(&strict, "http://[::1]:9/").await, "::1");
    denied(fetch(&strict, "http://[::ffff:10.0.0.1]/").await, "10.0.0.1");
    // A DNS name that resolves to a private address (localhost → 127.0.0.1 through the system resolver).
    denied(fetch(&strict, &format!("http://localhost:{port}/page")).await, "resolves to 127.0.0.1");
    assert!(matches!(fetch(&strict, "file:///etc/passwd").await, Err(ToolError::InvalidArguments(_))));
    assert!(matches!(fetch(&strict, "not a url").await, Err(ToolError::InvalidArguments(_))));
    let blocked =
        ctx(WebFetchSettings { blocked_hostnames: vec!["*.example.org".into()], ..WebFetchSettings::default() });
    denied(fetch(&blocked, "https://docs.example.org/").await, "blocked");
}

#[tokio::test]
async fn an_allowed_host_is_fetched_and_a_redirect_to_a_private_address_is_refused() {
    let port = server().await;
    let allowed = ctx(localhost_allowed());
    let page = fetch(&allowed, &format!("http://localhost:{port}/page")).await.unwrap();
    assert!(page.starts_with(&format!("URL: http://localhost:{port}/page\nStatus: 200\n")), "{page}");
    assert!(page.contains("Opening hours") && page.contains("nine") && page.contains("Tue"), "{page}");
    assert!(!page.contains("var secret"), "scripts are not text: {page}");
    // A redirect on the same allowed host is followed; one to a private address is checked like the first URL.
    let hop = fetch(&allowed, &format!("http://localhost:{port}/hop")).await.unwrap();
    assert!(hop.contains("Opening hours"), "{hop}");
    denied(fetch(&allowed, &format!("http://localhost:{port}/redirect")).await, "127.0.0.1");
}

#[tokio::test]
async fn size_time_and_type_limits() {
    let port = server().await;
    let small = ctx(WebFetchSettings { max_response_bytes: 1000, ..localhost_allowed() });
    let big = fetch(&small, &format!("http://localhost:{port}/big")).await.unwrap();
    assert!(big.contains("[truncated"), "{big}");
    assert!(big.len() < 1200, "{}", big.len());
    let quick = ctx(WebFetchSettings { timeout: Duration::from_secs(1), ..localhost_allowed() });
    let started = std::time::Instant::now();
    let slow = fetch(&quick, &format!("http://localhost:{port}/slow")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4), "{slow}");
    let binary = fetch(&ctx(localhost_allowed()), &format!("http://localhost:{port}/binary")).await.unwrap_err();
    assert!(binary.to_string().contains("image/png"), "{binary}");
    let off = ctx(WebFetchSettings { enabled: false, ..WebFetchSettings::default() });
    assert!(matches!(fetch(&off, "https://example.org/").await, Err(ToolError::Denied(_))));
}
