//! The gateway tried as an attacker would, over real sockets (the security review, findings 3, 4, 5, 6, 9, 10, 14
//! and 18): a web page's cross-origin WebSocket and `text/plain` POST, a DNS-rebound `Host`, empty secrets, a 25 MiB
//! pre-auth frame, a body sent before auth, a slow-header client, a hook reaching another agent's session, secrets
//! in `config.get`, one `/v1` caller reading another's session, and the lockout that refused the right token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use openclaw_agent::AgentRuntime;
use openclaw_config::Paths;
use openclaw_gateway::{AuthSettings, Gateway};
use openclaw_store::{SqliteStore, Store};
use openclaw_testkit::{ScriptedServer, openai};
use openclaw_tools::ToolRegistry;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "gw-secret-0123456789";
const HOOK_TOKEN: &str = "hook-secret-0123456789";

struct Fixture {
    _dir: tempfile::TempDir,
    model: ScriptedServer,
    addr: std::net::SocketAddr,
    store: Arc<SqliteStore>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn start(token: Option<&str>, extra: Value) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let model = ScriptedServer::start().await;
    let paths = Paths::for_state_dir(dir.path().to_path_buf());
    let mut config = json!({
        "gateway": {"http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
        "agents": {"defaults": {"model": "mock/m1"}, "entries": {"main": {}, "hooks": {}}},
        "models": {"providers": {"mock": {"baseUrl": format!("{}/v1", model.url()), "api": "openai-completions",
                                          "headers": {"X-Api-Secret": "header-secret-value"}}}},
        "env": {"vars": {"SOME_SECRET": "env-secret-value"}},
        "skills": {"entries": {"forecast": {"env": {"FORECAST_KEY": "skill-secret-value"}}}},
        "hooks": {"enabled": true, "token": HOOK_TOKEN, "allowRequestSessionKey": true, "allowedAgentIds": ["hooks"]},
    });
    if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
        config.extend(extra);
    }
    std::fs::write(&paths.config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let loaded = openclaw_config::load(&paths, &|_| None).unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let router = openclaw_agent::router_for(&loaded, &|_| None);
    let runtime =
        Arc::new(AgentRuntime::new(store.clone() as Arc<dyn Store>, Arc::new(router), ToolRegistry::builtin(), None));
    let gateway = Gateway::new(loaded, runtime, AuthSettings { token: token.map(str::to_owned), password: None });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(openclaw_gateway::serve(gateway, listener, async move {
        let _ = stopped.await;
    }));
    Fixture { _dir: dir, model, addr, store, _shutdown: shutdown }
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A raw HTTP exchange: what the gateway answers to exactly these bytes (the status line and the rest).
async fn raw(fx: &Fixture, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response)).await.unwrap().unwrap();
    String::from_utf8_lossy(&response[..n]).into_owned()
}

fn upgrade_request(fx: &Fixture, host: &str, origin: Option<&str>) -> String {
    let origin = origin.map(|origin| format!("Origin: {origin}\r\n")).unwrap_or_default();
    let _ = fx;
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
    )
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn request(socket: &mut Socket, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == "res" && frame["id"] == id {
            return frame;
        }
    }
}

fn connect_params(token: &str, scopes: Value) -> Value {
    json!({"minProtocol": 4, "maxProtocol": 4,
           "client": {"id": "cli", "version": "test", "platform": "linux", "mode": "cli"},
           "auth": {"token": token}, "role": "operator", "scopes": scopes})
}

async fn connect(fx: &Fixture, token: &str, scopes: Value) -> (Socket, Value) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", fx.addr)).await.unwrap();
    let challenge = next_json(&mut socket).await;
    assert_eq!(challenge["event"], "connect.challenge");
    let hello = request(&mut socket, "c", "connect", connect_params(token, scopes)).await;
    (socket, hello)
}

/// Finding 3: a page the user opens cannot drive the gateway — not by a cross-origin WebSocket, not under a
/// DNS-rebound name, not by a `text/plain` POST — and a gateway without a secret refuses every browser request.
#[tokio::test]
async fn web_pages_and_rebound_names_are_refused() {
    let fx = start(Some(TOKEN), json!({})).await;
    let host = fx.addr.to_string();
    let evil = raw(&fx, &upgrade_request(&fx, &host, Some("https://evil.example"))).await;
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    assert!(evil.contains("gateway.controlUi.allowedOrigins"), "{evil}");
    let rebound = raw(&fx, &upgrade_request(&fx, &format!("attacker.example:{}", fx.addr.port()), None)).await;
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    // The gateway's own origin, and no origin at all (CLI clients), are fine.
    let own = raw(&fx, &upgrade_request(&fx, &host, Some(&format!("http://{host}")))).await;
    assert!(own.starts_with("HTTP/1.1 101"), "{own}");
    let localhost = raw(&fx, &upgrade_request(&fx, &format!("localhost:{}", fx.addr.port()), None)).await;
    assert!(localhost.starts_with("HTTP/1.1 101"), "{localhost}");

    // A cross-origin simple POST (no preflight: text/plain) to /tools/invoke is refused before anything runs.
    let body = r#"{"tool":"ls","args":{}}"#;
    let post = format!(
        "POST /tools/invoke HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert!(raw(&fx, &post).await.starts_with("HTTP/1.1 415"));
    let from_page =
        post.replace("Content-Type: text/plain", "Content-Type: application/json\r\nOrigin: https://evil.example");
    assert!(raw(&fx, &from_page).await.starts_with("HTTP/1.1 403"));

    // Allowed origins are the operator's to add.
    let allowed = start(
        Some(TOKEN),
        json!({"gateway": {"controlUi": {"allowedOrigins": ["https://ops.example.com"]},
                           "http": {"endpoints": {"chatCompletions": {"enabled": true}}}}}),
    )
    .await;
    let ops =
        raw(&allowed, &upgrade_request(&allowed, &allowed.addr.to_string(), Some("https://ops.example.com"))).await;
    assert!(ops.starts_with("HTTP/1.1 101"), "{ops}");

    // Without a secret, anything carrying an Origin is refused, even the gateway's own.
    let open = start(None, json!({})).await;
    let host = open.addr.to_string();
    let refused = raw(&open, &upgrade_request(&open, &host, Some(&format!("http://{host}")))).await;
    assert!(refused.starts_with("HTTP/1.1 403") && refused.contains("no secret"), "{refused}");
    let cli = raw(&open, &upgrade_request(&open, &host, None)).await;
    assert!(cli.starts_with("HTTP/1.1 101"), "a local client without an Origin still connects: {cli}");
}

/// Finding 4: empty secrets are refused where they are configured, and never accepted from a client.
#[tokio::test]
async fn empty_secrets_are_refused() {
    let empty_flag = AuthSettings { token: Some(String::new()), password: None };
    let error = AuthSettings::resolve(&empty_flag, &Default::default(), &|_| None).unwrap_err();
    assert!(error.contains("empty"), "{error}");
    let auth: openclaw_config::GatewayAuth = serde_json::from_value(json!({"token": ""})).unwrap();
    let error = AuthSettings::resolve(&AuthSettings { token: None, password: None }, &auth, &|_| None).unwrap_err();
    assert!(error.contains("gateway.auth.token is empty"), "{error}");

    let fx = start(Some(TOKEN), json!({})).await;
    let (_, hello) = connect(&fx, "", json!(["operator.admin"])).await;
    assert_eq!(hello["ok"], false, "{hello}");
    let empty =
        http().get(format!("http://{}/v1/models", fx.addr)).header("authorization", "Bearer ").send().await.unwrap();
    assert_eq!(empty.status(), 401);
}

/// Finding 5: before authentication a client costs a bounded number of bytes: a frame announcing 25 MiB is cut
/// off under the codec (close 1009), a body sent to `/v1` without a credential is answered 401 before it is read,
/// and a client that never finishes its headers is dropped.
#[tokio::test]
async fn unauthenticated_clients_cannot_make_the_gateway_read_much() {
    let fx = start(Some(TOKEN), json!({})).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", fx.addr)).await.unwrap();
    let _challenge = next_json(&mut socket).await;
    let mut huge = json!({"type": "req", "id": "1", "method": "connect", "params": connect_params(TOKEN, json!([]))});
    huge["params"]["client"]["displayName"] = json!("x".repeat(20 * 1024 * 1024));
    // The gateway stops reading after 64 KiB and closes, so sending the 20 MB fails part-way (it read it whole
    // before, and only then refused it).
    let sent = tokio::time::timeout(Duration::from_secs(20), socket.send(Message::Text(huge.to_string().into()))).await;
    assert!(!matches!(sent, Ok(Ok(()))), "the whole 20 MB frame was taken: {sent:?}");
    let mut code = None;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        if let Message::Close(frame) = message {
            code = frame.map(|frame| u16::from(frame.code));
            break;
        }
    }
    assert_eq!(code, Some(1009), "closed as too big");

    // 20 MB announced, nothing of it sent: the answer comes from the headers alone.
    let mut stream = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 20000000\r\n\r\n",
        fx.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 401"));

    // A slow-header client is dropped after the header-read timeout (10 s).
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read(&mut buf)).await.expect("dropped in time");
    assert!(read.is_err() || read.is_ok_and(|n| n == 0 || buf[..n].starts_with(b"HTTP/1.1 408")), "closed");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

/// Finding 14: a hook limited to one agent cannot name another agent's session (`agent:main:main` was kept as
/// given, and `agent:main:hook:x` passed the `hook:` prefix rule).
#[tokio::test]
async fn a_hook_cannot_reach_another_agents_sessions() {
    let fx = start(Some(TOKEN), json!({})).await;
    let url = format!("http://{}/hooks/agent", fx.addr);
    for key in ["agent:main:main", "agent:main:hook:x", "AGENT:Main:main"] {
        let refused = http()
            .post(&url)
            .bearer_auth(HOOK_TOKEN)
            .json(&json!({"message": "read main's history", "agentId": "hooks", "sessionKey": key}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{key}");
        let body: Value = refused.json().await.unwrap();
        assert!(body.to_string().contains("belongs to agent"), "{body}");
    }
    fx.model.push(openai::text("done"));
    let scoped = http()
        .post(&url)
        .bearer_auth(HOOK_TOKEN)
        .json(&json!({"message": "fine", "agentId": "hooks", "sessionKey": "incident-1", "sessionMode": "persistent",
                      "waitForCompletion": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(scoped.status(), 200, "{:?}", scoped.text().await);
    let sessions = fx.store.list_sessions(None, false, 100).await.unwrap();
    assert!(sessions.iter().any(|s| s.session_key == "agent:hooks:incident-1"), "{sessions:?}");
    assert!(sessions.iter().all(|s| !s.session_key.starts_with("agent:main:")), "{sessions:?}");
}

/// Finding 6: `config.get` with `operator.read` shows no secret: provider headers, `env.vars`, skill env, tokens.
#[tokio::test]
async fn config_get_redacts_every_secret() {
    let fx = start(Some(TOKEN), json!({})).await;
    let (mut socket, hello) = connect(&fx, TOKEN, json!(["operator.read"])).await;
    assert_eq!(hello["ok"], true, "{hello}");
    let answer = request(&mut socket, "g", "config.get", json!({})).await;
    assert_eq!(answer["ok"], true, "{answer}");
    let text = answer["payload"].to_string();
    for secret in ["header-secret-value", "env-secret-value", "skill-secret-value", HOOK_TOKEN] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// The WebSocket client the reference CLI uses sends no `Origin`; a browser does. Both are covered above; this
/// checks the same through tungstenite's own client with a header, as a browser-like client would send it.
#[tokio::test]
async fn a_browser_like_client_with_a_foreign_origin_cannot_connect() {
    let fx = start(Some(TOKEN), json!({})).await;
    let mut request = format!("ws://{}/", fx.addr).into_client_request().unwrap();
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(refused.is_err(), "the upgrade was refused");
}

/// Finding 1 (defence in depth): a write to the config file that weakens confinement — what a stray write or a
/// steered agent would make — is not hot-applied: it waits for an operator's `config.*` call or a restart, and is
/// audited. An ordinary change still applies.
#[tokio::test]
async fn a_file_write_that_weakens_security_is_held() {
    let fx = start(Some(TOKEN), json!({})).await;
    // Connected first: the gateway (and its file watcher) is running before the file changes.
    let (mut socket, hello) = connect(&fx, TOKEN, json!(["operator.admin"])).await;
    assert_eq!(hello["ok"], true, "{hello}");
    let path = fx._dir.path().join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["tools"] = json!({"exec": {"sandbox": {"mode": "off"}, "security": "full"}});
    config["session"] = json!({"dmScope": "per-peer"});
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        let audit = fx.store.audit_events(50).await.unwrap();
        if let Some(row) = audit.iter().find(|row| row.event.action == "config.reload") {
            break row.clone();
        }
        assert!(Instant::now() < deadline, "no held config change in the audit log");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(held.event.outcome, "held");
    assert!(held.event.detail["paths"].to_string().contains("tools.exec.sandbox.mode"), "{:?}", held.event.detail);
    let current = request(&mut socket, "g", "config.get", json!({})).await;
    assert!(current["payload"]["config"].get("tools").is_none(), "not applied: {current}");

    // An ordinary change alone is applied from the file as before.
    config.as_object_mut().unwrap().remove("tools");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let current = request(&mut socket, "g2", "config.get", json!({})).await;
        if current["payload"]["config"]["session"]["dmScope"] == "per-peer" {
            break;
        }
        assert!(Instant::now() < deadline, "the ordinary change was not applied: {current}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The agent files are watched the same way: a new agent file that sets its own tools is held too; one without
    // them is picked up.
    let agents = fx._dir.path().join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::fs::write(agents.join("intruder.json"), r#"{"model": "mock/m1", "tools": {"exec": {"security": "full"}}}"#)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = fx.store.audit_events(50).await.unwrap();
        let held = audit.iter().filter(|row| row.event.action == "config.reload" && row.event.outcome == "held");
        if held.clone().any(|row| row.event.detail["paths"].to_string().contains("agents.files.intruder.tools")) {
            break;
        }
        assert!(Instant::now() < deadline, "the agent file's tools were not held");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = request(&mut socket, "a", "agents.list", json!({})).await;
    assert!(!listed["payload"].to_string().contains("intruder"), "not applied: {listed}");
    std::fs::write(agents.join("intruder.json"), r#"{"model": "mock/m1"}"#).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = request(&mut socket, "a2", "agents.list", json!({})).await;
        if listed["payload"].to_string().contains("intruder") {
            break;
        }
        assert!(Instant::now() < deadline, "the plain agent file was not picked up: {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The scope each WebSocket method needs (the reference's map, written out here so a change to the gateway's copy
/// or a new method without an entry fails this test).
const METHOD_SCOPES: &[(&str, &str)] = &[
    ("health", "operator.read"),
    ("status", "operator.read"),
    ("system-presence", "operator.read"),
    ("config.get", "operator.read"),
    ("channels.status", "operator.read"),
    ("sessions.messages.subscribe", "operator.read"),
    ("sessions.messages.unsubscribe", "operator.read"),
    ("agents.list", "operator.read"),
    ("models.list", "operator.read"),
    ("sessions.list", "operator.read"),
    ("chat.history", "operator.read"),
    ("logs.tail", "operator.read"),
    ("chat.send", "operator.write"),
    ("chat.abort", "operator.write"),
    ("agent", "operator.write"),
    ("agent.wait", "operator.write"),
    ("sessions.delete", "operator.write"),
    ("config.set", "operator.admin"),
    ("config.patch", "operator.admin"),
    ("config.apply", "operator.admin"),
    ("sessions.reset", "operator.admin"),
    ("exec.approval.resolve", "operator.approvals"),
];

/// Whether a connection holding `held` may call a method needing `needed` (admin holds all, write holds read).
fn allows(held: &[&str], needed: &str) -> bool {
    held.contains(&needed)
        || held.contains(&"operator.admin")
        || (needed == "operator.read" && held.contains(&"operator.write"))
}

/// Authorization of every WebSocket method: each one, called by a connection with each kind of grant, is refused
/// with `MISSING_SCOPE` exactly when the grant lacks its scope; nothing is answered before `connect`; a wrong
/// secret and an unsupported role get no connection.
#[tokio::test]
async fn every_ws_method_checks_its_scope() {
    let fx = start(Some(TOKEN), json!({})).await;
    let (mut admin, hello) = connect(&fx, TOKEN, json!(["operator.admin"])).await;
    assert_eq!(hello["ok"], true, "{hello}");
    let advertised: Vec<String> =
        serde_json::from_value(hello["payload"]["features"]["methods"].clone()).expect("methods listed");
    for method in &advertised {
        assert!(METHOD_SCOPES.iter().any(|(m, _)| m == method), "{method} is advertised but not in this test");
    }
    drop(admin.close(None).await);

    let grants: &[&[&str]] = &[
        &[],
        &["operator.read"],
        &["operator.write"],
        &["operator.approvals"],
        &["operator.read", "operator.approvals"],
        &["operator.admin"],
    ];
    for held in grants {
        let (mut socket, hello) = connect(&fx, TOKEN, json!(held)).await;
        assert_eq!(hello["ok"], true, "{hello}");
        for (n, (method, needed)) in METHOD_SCOPES.iter().enumerate() {
            // Empty params: an allowed call stops at validation (or is harmless), a refused one at the scope check.
            let answer = request(&mut socket, &format!("m{n}"), method, json!({})).await;
            let refused = answer["error"]["details"]["code"] == "MISSING_SCOPE";
            assert_eq!(refused, !allows(held, needed), "{method} with {held:?}: {answer}");
            if refused {
                assert_eq!(answer["error"]["details"]["missingScope"], *needed, "{answer}");
            }
        }
    }

    // Nothing before connect: the first frame must be the connect.
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", fx.addr)).await.unwrap();
    let _challenge = next_json(&mut socket).await;
    let early = json!({"type": "req", "id": "1", "method": "config.get", "params": {}});
    socket.send(Message::Text(early.to_string().into())).await.unwrap();
    let mut answered = false;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        match message {
            Message::Text(text) => answered |= text.as_str().contains("\"ok\":true"),
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert!(!answered, "a request before connect was served");

    // A wrong secret, and a role this gateway does not serve, get no connection.
    let (_, wrong) = connect(&fx, "not-the-gateway-token", json!(["operator.read"])).await;
    assert_eq!(wrong["ok"], false, "{wrong}");
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", fx.addr)).await.unwrap();
    let _challenge = next_json(&mut socket).await;
    let mut params = connect_params(TOKEN, json!(["operator.admin"]));
    params["role"] = json!("node");
    let node = request(&mut socket, "c", "connect", params).await;
    assert_eq!(node["ok"], false, "{node}");
}

/// Authorization of every HTTP route: each API answers 401 without a credential, with a wrong one and with the
/// other API's secret (the hook token is not an operator credential, nor the other way round), 413 for a body over
/// its limit; the health probes answer without one and show nothing of the config.
#[tokio::test]
async fn every_http_route_checks_its_credential() {
    let extra = json!({"gateway": {"http": {"endpoints": {"chatCompletions": {"enabled": true}}},
                                   "auth": {"rateLimit": {"maxAttempts": 10000}}}});
    let fx = start(Some(TOKEN), extra).await;
    let host = fx.addr.to_string();
    // (method, path, the route's own secret, its body limit)
    let routes: &[(&str, &str, &str, usize)] = &[
        ("GET", "/v1/models", TOKEN, 0),
        ("GET", "/v1/models/main", TOKEN, 0),
        ("POST", "/v1/chat/completions", TOKEN, 20 << 20),
        ("POST", "/tools/invoke", TOKEN, 2 << 20),
        ("POST", "/hooks/wake", HOOK_TOKEN, 256 << 10),
        ("POST", "/hooks/agent", HOOK_TOKEN, 256 << 10),
    ];
    for (method, path, secret, limit) in routes {
        let other = if *secret == TOKEN { HOOK_TOKEN } else { TOKEN };
        for (label, auth) in [
            ("no credential", String::new()),
            ("a wrong credential", "Authorization: Bearer wrong-secret-0123456789\r\n".to_owned()),
            ("the other API's secret", format!("Authorization: Bearer {other}\r\n")),
        ] {
            let body = r#"{"message":"hi","text":"hi","tool":"ls","args":{},"model":"openclaw","messages":[]}"#;
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let answer = raw(&fx, &request).await;
            assert!(answer.starts_with("HTTP/1.1 401"), "{method} {path} with {label}: {answer}");
        }
        if *limit > 0 {
            // The right secret and a body one byte over the limit.
            let url = format!("http://{host}{path}");
            let oversized = http()
                .post(&url)
                .bearer_auth(secret)
                .header("content-type", "application/json")
                .body(vec![b' '; limit + 1])
                .send()
                .await
                .unwrap();
            assert_eq!(oversized.status(), 413, "{method} {path} oversized");
        }
    }
    for probe in ["/health", "/healthz", "/ready", "/readyz", "/startupz"] {
        let answer = raw(&fx, &format!("GET {probe} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{probe}: {answer}");
        for secret in [TOKEN, HOOK_TOKEN, "header-secret-value", "env-secret-value"] {
            assert!(!answer.contains(secret), "{probe} shows {secret}");
        }
    }
}
