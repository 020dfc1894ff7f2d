//! Device identity: a client signing the challenge with an Ed25519 key is accepted on loopback and receives a device
//! token that later works in place of the shared secret; bad signatures, stale nonces, forged ids and borrowed tokens
//! are refused with the reference's codes (close 1008), and the gateway keeps serving.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use futures::{SinkExt, StreamExt};
use openclaw_agent::AgentRuntime;
use openclaw_config::Paths;
use openclaw_gateway::{AuthSettings, Gateway};
use openclaw_models::{BreakerConfig, ModelRouter, RetryPolicy};
use openclaw_store::{SqliteStore, Store};
use openclaw_tools::ToolRegistry;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start() -> (std::net::SocketAddr, tempfile::TempDir, tokio::sync::oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::for_state_dir(dir.path().to_path_buf());
    let loaded = openclaw_config::load_str("{}", &paths, &|_| None).unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let router = ModelRouter::new(RetryPolicy::default(), BreakerConfig::default());
    let runtime = Arc::new(AgentRuntime::new(store as Arc<dyn Store>, Arc::new(router), ToolRegistry::builtin(), None));
    let gateway = Gateway::new(loaded, runtime, AuthSettings { token: Some("shared".into()), password: None });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(openclaw_gateway::serve(gateway, listener, async move {
        let _ = stopped.await;
    }));
    (addr, dir, stop)
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(frame) => return json!({"closed": frame.map(|f| u16::from(f.code))}),
            _ => {}
        }
    }
}

/// Opens a socket and returns it with the challenge's nonce and ts.
async fn open(addr: std::net::SocketAddr) -> (Socket, String, i64) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await.unwrap();
    let challenge = next_json(&mut socket).await;
    let nonce = challenge["payload"]["nonce"].as_str().unwrap().to_owned();
    let ts = challenge["payload"]["ts"].as_i64().unwrap();
    (socket, nonce, ts)
}

struct Device {
    key: SigningKey,
}

impl Device {
    fn new(seed: u8) -> Self {
        Device { key: SigningKey::from_bytes(&[seed; 32]) }
    }

    fn public(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().to_bytes())
    }

    fn id(&self) -> String {
        Sha256::digest(self.key.verifying_key().to_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `connect` params signed over the v3 payload.
    fn connect(&self, token: &str, nonce: &str, signed_at: i64, signed_nonce: &str) -> Value {
        let scopes = ["operator.read", "operator.write"];
        let payload = format!(
            "v3|{}|cli|cli|operator|{}|{signed_at}|{token}|{signed_nonce}|linux|linux",
            self.id(),
            scopes.join(",")
        );
        let signature = URL_SAFE_NO_PAD.encode(self.key.sign(payload.as_bytes()).to_bytes());
        json!({"type": "req", "id": "1", "method": "connect", "params": {
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "t", "platform": "linux", "deviceFamily": "Linux", "mode": "cli"},
            "role": "operator", "scopes": scopes, "auth": {"token": token},
            "device": {"id": self.id(), "publicKey": self.public(), "signature": signature, "signedAt": signed_at, "nonce": nonce}}})
    }
}

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::Text(value.to_string().into())).await.unwrap();
}

async fn refused(socket: &mut Socket, code: &str) {
    let answer = next_json(socket).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert_eq!(answer["error"]["details"]["code"], code, "{answer}");
    assert_eq!(next_json(socket).await, json!({"closed": 1008}));
}

#[tokio::test]
async fn signed_devices_get_tokens_and_forgeries_are_refused() {
    let (addr, _dir, _stop) = start().await;
    let device = Device::new(7);

    let (mut socket, nonce, ts) = open(addr).await;
    send(&mut socket, device.connect("shared", &nonce, ts, &nonce)).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["ok"], true, "{hello}");
    let device_token = hello["payload"]["auth"]["deviceToken"].as_str().expect("a device token").to_owned();
    assert!(hello["payload"]["auth"]["issuedAtMs"].is_i64());

    // The device token replaces the shared secret (signed with the token presented).
    let (mut socket, nonce, ts) = open(addr).await;
    send(&mut socket, device.connect(&device_token, &nonce, ts, &nonce)).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["auth"]["scopes"], json!(["operator.read", "operator.write"]));
    send(&mut socket, json!({"type": "req", "id": "h", "method": "health", "params": {}})).await;
    assert_eq!(next_json(&mut socket).await["ok"], true);

    // A bad signature: signed over another nonce, but claiming this one.
    let (mut socket, nonce, ts) = open(addr).await;
    send(&mut socket, device.connect("shared", &nonce, ts, "some-other-nonce")).await;
    refused(&mut socket, "DEVICE_AUTH_SIGNATURE_INVALID").await;

    // A stale nonce: a correct signature over an earlier connection's challenge.
    let (_first, old_nonce, old_ts) = open(addr).await;
    let (mut socket, _, _) = open(addr).await;
    send(&mut socket, device.connect("shared", &old_nonce, old_ts, &old_nonce)).await;
    refused(&mut socket, "DEVICE_AUTH_NONCE_MISMATCH").await;

    // A forged id.
    let (mut socket, nonce, ts) = open(addr).await;
    let mut forged = device.connect("shared", &nonce, ts, &nonce);
    forged["params"]["device"]["id"] = json!("00".repeat(32));
    send(&mut socket, forged).await;
    refused(&mut socket, "DEVICE_AUTH_DEVICE_ID_MISMATCH").await;

    // Another device cannot borrow this device's token.
    let thief = Device::new(9);
    let (mut socket, nonce, ts) = open(addr).await;
    send(&mut socket, thief.connect(&device_token, &nonce, ts, &nonce)).await;
    refused(&mut socket, "AUTH_DEVICE_TOKEN_MISMATCH").await;

    // An expired signature.
    let (mut socket, nonce, ts) = open(addr).await;
    send(&mut socket, device.connect("shared", &nonce, ts - 3_600_000, &nonce)).await;
    refused(&mut socket, "DEVICE_AUTH_SIGNATURE_EXPIRED").await;

    // Non-JSON before auth is refused with a protocol close; the gateway keeps serving.
    let (mut socket, _, _) = open(addr).await;
    socket.send(Message::Text("this is not json".into())).await.unwrap();
    assert_eq!(next_json(&mut socket).await["error"]["code"], "INVALID_REQUEST");
    assert_eq!(next_json(&mut socket).await, json!({"closed": 1002}));
    let (mut socket, nonce, ts) = open(addr).await;
    send(&mut socket, device.connect("shared", &nonce, ts, &nonce)).await;
    assert_eq!(next_json(&mut socket).await["ok"], true);
}
