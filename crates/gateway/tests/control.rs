//! The gateway's control surface over real sockets: config writes and hot reload with `config.changed`, presence,
//! `session.message` subscriptions, idempotent retries, `/tools/invoke` with its deny list and auth throttling, and
//! the HTTP hooks (`/hooks/agent`, `/hooks/wake`, mappings) with their token and `Idempotency-Key`.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use openclaw_agent::AgentRuntime;
use openclaw_config::Paths;
use openclaw_gateway::{AuthSettings, Gateway};
use openclaw_store::{SqliteStore, Store};
use openclaw_testkit::{ScriptedServer, openai};
use openclaw_tools::ToolRegistry;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "gw-secret";
const HOOK_TOKEN: &str = "hook-secret-0123456789";

struct Fixture {
    dir: tempfile::TempDir,
    model: ScriptedServer,
    addr: std::net::SocketAddr,
    store: Arc<SqliteStore>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn base_config(model: &ScriptedServer, extra: Value) -> Value {
    let mut config = json!({
        "gateway": {"http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
        "agents": {"defaults": {"model": "mock/m1"}},
        "models": {"providers": {"mock": {"baseUrl": format!("{}/v1", model.url()), "api": "openai-completions"}}},
        "hooks": {"enabled": true, "token": HOOK_TOKEN, "allowRequestSessionKey": true,
                  "mappings": [{"id": "gh", "match": {"path": "github"}, "action": "agent",
                                "messageTemplate": "Issue {{ issue.title }} by {{ sender }}"},
                               {"match": {"path": "ping"}, "action": "wake", "textTemplate": "ping from {{ sender }}"}]},
    });
    merge(&mut config, extra);
    config
}

fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(target), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, extra) => *target = extra,
    }
}

async fn start(extra: Value) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let model = ScriptedServer::start().await;
    let paths = Paths::for_state_dir(dir.path().to_path_buf());
    std::fs::write(&paths.config_path, serde_json::to_string_pretty(&base_config(&model, extra)).unwrap()).unwrap();
    let loaded = openclaw_config::load(&paths, &|_| None).unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let router = openclaw_agent::router_for(&loaded, &|_| None);
    let runtime =
        Arc::new(AgentRuntime::new(store.clone() as Arc<dyn Store>, Arc::new(router), ToolRegistry::builtin(), None));
    let gateway = Gateway::new(loaded, runtime, AuthSettings { token: Some(TOKEN.into()), password: None });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(openclaw_gateway::serve(gateway, listener, async move {
        let _ = stopped.await;
    }));
    Fixture { dir, model, addr, store, _shutdown: shutdown }
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

/// The next frame that answers `id`, skipping events.
async fn response(socket: &mut Socket, id: &str) -> Value {
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == "res" && frame["id"] == id {
            return frame;
        }
    }
}

/// The next event named `name`, skipping everything else.
async fn event(socket: &mut Socket, name: &str) -> Value {
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == "event" && frame["event"] == name {
            return frame["payload"].clone();
        }
    }
}

async fn request(socket: &mut Socket, id: &str, method: &str, params: Value) -> Value {
    let frame = json!({"type": "req", "id": id, "method": method, "params": params});
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
    response(socket, id).await
}

async fn connect(fx: &Fixture, client: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", fx.addr)).await.unwrap();
    let challenge = next_json(&mut socket).await;
    assert_eq!(challenge["event"], "connect.challenge");
    let hello = request(
        &mut socket,
        "c",
        "connect",
        json!({"minProtocol": 4, "maxProtocol": 4,
               "client": {"id": client, "version": "test", "platform": "linux", "mode": "cli"},
               "auth": {"token": TOKEN}, "role": "operator",
               "scopes": ["operator.read", "operator.write", "operator.admin"]}),
    )
    .await;
    assert_eq!(hello["ok"], true, "{hello}");
    socket
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn config_patch_writes_applies_and_announces() {
    let fx = start(json!({})).await;
    let mut socket = connect(&fx, "cli").await;
    let got = request(&mut socket, "1", "config.get", json!({})).await;
    let hash = got["payload"]["hash"].as_str().unwrap().to_owned();
    assert_eq!(got["payload"]["config"]["hooks"]["token"], "__OPENCLAW_REDACTED__", "secrets never leave");

    // Without the base hash, or with a stale one, nothing is written.
    let stale =
        request(&mut socket, "2", "config.patch", json!({"raw": "{session: {mainKey: 'x'}}", "baseHash": "0"})).await;
    assert_eq!(stale["ok"], false);
    assert!(stale["error"]["message"].as_str().unwrap().contains("config changed since last load"), "{stale}");
    let missing = request(&mut socket, "3", "config.patch", json!({"raw": "{session: {mainKey: 'x'}}"})).await;
    assert!(missing["error"]["message"].as_str().unwrap().contains("base hash required"), "{missing}");

    // An invalid result is refused with the reason, and the file is untouched.
    let before = std::fs::read_to_string(fx.dir.path().join("openclaw.json")).unwrap();
    let invalid =
        request(&mut socket, "4", "config.patch", json!({"raw": "{gateway: {prot: 1}}", "baseHash": hash})).await;
    assert_eq!(invalid["ok"], false);
    assert!(invalid["error"]["message"].as_str().unwrap().contains("did you mean \"port\""), "{invalid}");
    assert_eq!(std::fs::read_to_string(fx.dir.path().join("openclaw.json")).unwrap(), before);

    // A valid patch (a new agent) is written, applied live and announced; the redacted hook token survives.
    let patch = json!({"raw": "{agents: {entries: {helper: {name: 'Helper'}}}}", "baseHash": hash});
    let done = request(&mut socket, "5", "config.patch", patch).await;
    assert_eq!(done["ok"], true, "{done}");
    assert_eq!(done["payload"]["changedPaths"], json!(["agents.entries"]));
    assert_eq!(done["payload"]["reload"], "hot");
    let changed = event(&mut socket, "config.changed").await;
    assert_eq!(changed["hash"], done["payload"]["hash"]);
    assert!(changed.get("config").is_none(), "config.changed never carries content");
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(fx.dir.path().join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(on_disk["agents"]["entries"]["helper"]["name"], "Helper");
    assert_eq!(on_disk["hooks"]["token"], HOOK_TOKEN);
    assert!(fx.dir.path().join("openclaw.json.bak").exists());
    let agents = request(&mut socket, "6", "agents.list", json!({})).await;
    let ids: Vec<&str> =
        agents["payload"]["agents"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"helper"), "{agents}");

    // Arrays are not replaced by accident.
    let hash = done["payload"]["hash"].as_str().unwrap().to_owned();
    let arrays =
        request(&mut socket, "7", "config.patch", json!({"raw": "{hooks: {mappings: []}}", "baseHash": hash})).await;
    assert_eq!(arrays["ok"], false, "{arrays}");
    assert!(arrays["error"]["message"].as_str().unwrap().contains("replacePaths"), "{arrays}");
    let replaced = request(
        &mut socket,
        "7b",
        "config.patch",
        json!({"raw": "{hooks: {mappings: []}}", "baseHash": hash, "replacePaths": ["hooks.mappings"]}),
    )
    .await;
    assert_eq!(replaced["payload"]["changedPaths"], json!(["hooks.mappings"]), "{replaced}");
    assert_eq!(replaced["payload"]["reload"], "none");
    let _ = event(&mut socket, "config.changed").await;
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(fx.dir.path().join("openclaw.json")).unwrap()).unwrap();

    // A hand edit of the file is picked up by the watcher, announced, and served.
    let mut edited = on_disk.clone();
    edited["agents"]["entries"]["third"] = json!({"name": "Third"});
    std::fs::write(fx.dir.path().join("openclaw.json"), serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let changed = event(&mut socket, "config.changed").await;
    assert_eq!(changed["changedPaths"], json!(["agents.entries.third"]), "{changed}");
    let agents = request(&mut socket, "8", "agents.list", json!({})).await;
    assert!(agents["payload"]["agents"].as_array().unwrap().iter().any(|a| a["id"] == "third"));

    // A broken hand edit is refused; the last good configuration stays in force.
    std::fs::write(fx.dir.path().join("openclaw.json"), "{ agents: ").unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let agents = request(&mut socket, "9", "agents.list", json!({})).await;
    assert!(agents["payload"]["agents"].as_array().unwrap().iter().any(|a| a["id"] == "third"));
    let health = request(&mut socket, "10", "health", json!({})).await;
    assert_eq!(health["ok"], true);
}

#[tokio::test]
async fn presence_and_session_messages_reach_subscribers() {
    let fx = start(json!({})).await;
    let mut watcher = connect(&fx, "watcher").await;
    let presence = request(&mut watcher, "p", "system-presence", json!({})).await;
    assert_eq!(presence["payload"].as_array().unwrap().len(), 1, "{presence}");
    let subscribed =
        request(&mut watcher, "s", "sessions.messages.subscribe", json!({"key": "agent:main:watched"})).await;
    assert_eq!(subscribed["payload"]["subscribed"], true);

    let mut sender = connect(&fx, "sender").await;
    let joined = event(&mut watcher, "presence").await;
    assert_eq!(joined["presence"].as_array().unwrap().len(), 2, "{joined}");
    fx.model.push(openai::text("Watched reply."));
    let sent = request(
        &mut sender,
        "m",
        "chat.send",
        json!({"sessionKey": "agent:main:watched", "message": "hello there", "idempotencyKey": "w1"}),
    )
    .await;
    assert_eq!(sent["ok"], true, "{sent}");
    let user = event(&mut watcher, "session.message").await;
    assert_eq!(user["sessionKey"], "agent:main:watched");
    assert_eq!(user["message"]["role"], "user");
    let assistant = event(&mut watcher, "session.message").await;
    assert_eq!(assistant["message"]["role"], "assistant");
    assert_eq!(assistant["message"]["content"][0]["text"], "Watched reply.");
    // The finished turn changed the gateway's health: everyone gets the new snapshot within a second or so.
    let health = event(&mut watcher, "health").await;
    assert!(
        health["sessions"]["recent"].as_array().unwrap().iter().any(|s| s["key"] == "agent:main:watched"),
        "{health}"
    );

    // Another session's messages do not reach this subscriber; the sender (not subscribed) gets none.
    fx.model.push(openai::text("Other."));
    let other =
        request(&mut sender, "o", "agent", json!({"sessionKey": "other", "message": "x", "idempotencyKey": "w2"}))
            .await;
    assert_eq!(other["payload"]["status"], "accepted");
    let done = response(&mut sender, "o").await;
    assert_eq!(done["payload"]["status"], "ok", "{done}");
    drop(sender);
    let left = loop {
        let frame = next_json(&mut watcher).await;
        assert_ne!(frame["event"], "session.message", "not subscribed to agent:main:other: {frame}");
        if frame["event"] == "presence" {
            break frame["payload"].clone();
        }
    };
    assert_eq!(left["presence"].as_array().unwrap().len(), 1, "{left}");
}

#[tokio::test]
async fn a_retried_agent_request_returns_the_first_result_without_a_second_run() {
    let fx = start(json!({})).await;
    let mut socket = connect(&fx, "cli").await;
    fx.model.push(openai::text("Only once."));
    let params = json!({"message": "do it", "idempotencyKey": "same-key"});
    let accepted = request(&mut socket, "a1", "agent", params.clone()).await;
    assert_eq!(accepted["payload"]["status"], "accepted");
    let first = response(&mut socket, "a1").await;
    assert_eq!(first["payload"]["result"]["payloads"][0]["text"], "Only once.");
    let again = request(&mut socket, "a2", "agent", params).await;
    assert_eq!(again["payload"], first["payload"], "the retry gets the same final answer");
    assert_eq!(fx.model.requests().len(), 1, "the model was called once");
}

#[tokio::test]
async fn tools_invoke_runs_allowed_tools_and_refuses_the_rest() {
    let fx = start(json!({"gateway": {"auth": {"rateLimit": {"maxAttempts": 3, "exemptLoopback": false}}}})).await;
    let url = format!("http://{}/tools/invoke", fx.addr);
    let workspace = fx.dir.path().join("workspace");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(workspace.join("notes.txt"), "remember the milk\n").unwrap();

    let ok = http()
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"tool": "read", "args": {"path": "notes.txt"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["ok"], true, "{body}");
    assert!(body["result"]["content"][0]["text"].as_str().unwrap().contains("remember the milk"), "{body}");
    let audit = fx.store.audit_events(10).await.unwrap();
    assert!(audit.iter().any(|e| e.event.action == "tool.call" && e.event.actor == "http:tools.invoke"), "audited");

    let denied = http().post(&url).bearer_auth(TOKEN).json(&json!({"tool": "exec", "args": {}})).send().await.unwrap();
    assert_eq!(denied.status(), 404);
    let body: Value = denied.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("gateway.tools.allow"), "{body}");
    let unknown = http().post(&url).bearer_auth(TOKEN).json(&json!({"tool": "nope"})).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let json_type = ("content-type", "application/json");
    let bad =
        http().post(&url).bearer_auth(TOKEN).header(json_type.0, json_type.1).body("not json").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    // A body that is not declared JSON (what a cross-origin page can send without a preflight) is refused unread.
    let plain = http()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body(r#"{"tool": "read", "args": {"path": "notes.txt"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let huge = format!("{{\"tool\": \"ls\", \"args\": {{\"pad\": \"{}\"}}}}", "x".repeat(2 * 1024 * 1024 + 1));
    let too_big =
        http().post(&url).bearer_auth(TOKEN).header(json_type.0, json_type.1).body(huge).send().await.unwrap();
    assert_eq!(too_big.status(), 413, "the 2 MB body cap");
    let tool_error = http()
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"tool": "read", "args": {"path": "../../etc/passwd"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(tool_error.status(), 400, "a path outside the workspace is the tool's input error");

    // Wrong tokens: 401 until the limit, then 429 with Retry-After: the address is paced to one attempt a second.
    for _ in 0..2 {
        let wrong = http().post(&url).bearer_auth("wrong").json(&json!({"tool": "ls"})).send().await.unwrap();
        assert_eq!(wrong.status(), 401);
    }
    let limited = http().post(&url).bearer_auth("wrong").json(&json!({"tool": "ls"})).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    let paced = http().post(&url).bearer_auth("wrong").json(&json!({"tool": "ls"})).send().await.unwrap();
    assert_eq!(paced.status(), 429, "inside the pace nothing is checked");
    // The WebSocket connect is throttled by the same counter.
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", fx.addr)).await.unwrap();
    let _challenge = next_json(&mut socket).await;
    let connect = json!({"minProtocol": 4, "maxProtocol": 4,
                         "client": {"id": "cli", "version": "t", "platform": "linux", "mode": "cli"},
                         "auth": {"token": TOKEN}});
    let refused = request(&mut socket, "c", "connect", connect.clone()).await;
    assert_eq!(refused["error"]["details"]["code"], "AUTH_RATE_LIMITED", "{refused}");
    // Finding 9 of the security review: the lockout refused the right token for five minutes. After the pace, the
    // right token is let in (a guesser gets one try a second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let right = http().post(&url).bearer_auth(TOKEN).json(&json!({"tool": "ls"})).send().await.unwrap();
    assert_eq!(right.status(), 200, "the right token passes once the pace has passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_agents_with_token_idempotency_and_mappings() {
    let fx = start(json!({})).await;
    let hooks = format!("http://{}/hooks", fx.addr);

    let unauthorized =
        http().post(format!("{hooks}/agent")).bearer_auth("nope").json(&json!({"message": "x"})).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let query =
        http().post(format!("{hooks}/agent?token={HOOK_TOKEN}")).json(&json!({"message": "x"})).send().await.unwrap();
    assert_eq!(query.status(), 400, "tokens in the query string are refused");
    let get = http().get(format!("{hooks}/agent")).send().await.unwrap();
    assert_eq!(get.status(), 405);
    let missing = http().post(format!("{hooks}/agent")).bearer_auth(HOOK_TOKEN).json(&json!({})).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    let too_big = http()
        .post(format!("{hooks}/agent"))
        .bearer_auth(HOOK_TOKEN)
        .body(format!("{{\"message\": \"{}\"}}", "a".repeat(300 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);

    // A direct agent hook, waiting for completion; the retry with the same Idempotency-Key replays it.
    fx.model.push(openai::text("Handled the import."));
    let send = || {
        http()
            .post(format!("{hooks}/agent"))
            .header("x-openclaw-token", HOOK_TOKEN)
            .header("Idempotency-Key", "import-1")
            .json(&json!({"message": "The import finished.", "name": "Importer", "waitForCompletion": true}))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["completion"]["status"], "ok");
    assert_eq!(first["completion"]["replyDisposition"], "visible");
    let second: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(second["runId"], first["runId"]);
    assert_eq!(fx.model.requests().len(), 1, "the replay did not run the agent again");
    let asked = fx.model.requests()[0].message_texts().join("\n");
    assert!(asked.contains("untrusted data") && asked.contains("The import finished."), "{asked}");

    // A mapping renders its template from the payload.
    fx.model.push(openai::text("Looked at the issue."));
    let mapped = http()
        .post(format!("{hooks}/github"))
        .bearer_auth(HOOK_TOKEN)
        .json(&json!({"issue": {"title": "Crash on start"}, "sender": "octocat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mapped.status(), 200);
    let run_id = mapped.json::<Value>().await.unwrap()["runId"].as_str().unwrap().to_owned();
    let mut socket = connect(&fx, "cli").await;
    let waited = request(&mut socket, "w", "agent.wait", json!({"runId": run_id, "timeoutMs": 10_000})).await;
    assert_eq!(waited["payload"]["status"], "ok", "{waited}");
    let asked = fx.model.requests()[1].message_texts().join("\n");
    assert!(asked.contains("Issue Crash on start by octocat"), "{asked}");
    let unmapped =
        http().post(format!("{hooks}/nothing")).bearer_auth(HOOK_TOKEN).json(&json!({})).send().await.unwrap();
    assert_eq!(unmapped.status(), 404);

    // A deferred wake joins the main session's next turn as a system event.
    let wake: Value = http()
        .post(format!("{hooks}/wake"))
        .bearer_auth(HOOK_TOKEN)
        .json(&json!({"text": "Backup completed", "mode": "next-heartbeat"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wake, json!({"ok": true, "mode": "next-heartbeat", "eventOutcome": "queued"}));
    fx.model.push(openai::text("Noted."));
    let accepted =
        request(&mut socket, "t", "agent", json!({"message": "status?", "idempotencyKey": "after-wake"})).await;
    assert_eq!(accepted["payload"]["sessionKey"], "agent:main:main");
    let done = response(&mut socket, "t").await;
    assert_eq!(done["payload"]["status"], "ok");
    // Outside the system role (finding 15 of the security review): in the user's turn, wrapped.
    let sent = fx.model.requests()[2].json();
    let system = sent["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
    assert!(!system.contains("Backup completed"), "{system}");
    let asked = fx.model.requests()[2].message_texts().join("\n");
    assert!(asked.contains("BEGIN_EXTERNAL_") && asked.contains("Backup completed\nEND_EXTERNAL_"), "{asked}");

    // Wrong hook tokens: 401 nineteen times, then 429 with Retry-After (loopback is not exempt for hooks).
    for attempt in 1..=20 {
        let wrong = http()
            .post(format!("{hooks}/agent"))
            .bearer_auth("nope")
            .json(&json!({"message": "x"}))
            .send()
            .await
            .unwrap();
        let expected = if attempt < 20 { 401 } else { 429 };
        assert_eq!(wrong.status(), expected, "attempt {attempt}");
        if expected == 429 {
            assert!(wrong.headers().get("retry-after").is_some());
        }
    }
}
