//! A real Matrix homeserver for the tests: Synapse (PyPI `matrix-synapse`, installed by `.ci/run` into a cached
//! virtualenv), started on a free loopback port with its own config, SQLite database and signing key in a temp
//! folder, and stopped by process id when dropped. Users are registered through the shared-secret admin API
//! (`register_new_matrix_user -k`); [`Human`] is a person's client over plain HTTP.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where `.ci/run` installs Synapse: `OPENCLAW_SYNAPSE_VENV`, else `~/.cache/openclaw-rs/synapse-venv`.
pub fn synapse_venv() -> Option<PathBuf> {
    let dir = std::env::var_os("OPENCLAW_SYNAPSE_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/openclaw-rs/synapse-venv")))?;
    dir.join("bin/register_new_matrix_user").is_file().then_some(dir)
}

/// A running homeserver.
pub struct Synapse {
    child: Child,
    port: u16,
    venv: PathBuf,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

const SHARED_SECRET: &str = "openclaw-rs-test-registration-secret";

impl Synapse {
    /// Generates a config, starts Synapse and waits until it answers (a few seconds); `None` when it is not
    /// installed or does not come up (report it with [`crate::counterpart_missing`]; the reason is printed).
    pub fn start() -> Option<Self> {
        let venv = synapse_venv()?;
        let dir = tempfile::tempdir().ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let root = dir.path();
        let config = format!(
            r#"server_name: "localhost"
pid_file: "{root}/homeserver.pid"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{root}/homeserver.db"
media_store_path: "{root}/media"
signing_key_path: "{root}/signing.key"
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
enable_registration: false
registration_shared_secret: "{SHARED_SECRET}"
url_preview_enabled: false
presence:
  enabled: false
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_login: {{address: {{per_second: 1000, burst_count: 1000}}, account: {{per_second: 1000, burst_count: 1000}}, failed_attempts: {{per_second: 1000, burst_count: 1000}}}}
rc_joins: {{local: {{per_second: 1000, burst_count: 1000}}, remote: {{per_second: 1000, burst_count: 1000}}}}
rc_invites: {{per_room: {{per_second: 1000, burst_count: 1000}}, per_user: {{per_second: 1000, burst_count: 1000}}}}
"#,
            root = root.display()
        );
        let config_path = root.join("homeserver.yaml");
        std::fs::write(&config_path, config).ok()?;
        let python = venv.join("bin/python");
        let keys = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config_path)
            .arg("--generate-keys")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .ok()?;
        if !keys.success() {
            eprintln!("synapse: generating the signing key failed");
            return None;
        }
        let log = std::fs::File::create(root.join("synapse.out")).ok()?;
        let child = Command::new(&python)
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config_path)
            .stdout(log.try_clone().ok()?)
            .stderr(log)
            .spawn()
            .ok()?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut synapse = Synapse { child, port, venv, dir, http: reqwest::Client::new() };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if synapse.answers() {
                return Some(synapse);
            }
            if Instant::now() > deadline || synapse.child.try_wait().ok().flatten().is_some() {
                let out = std::fs::read_to_string(synapse.dir.path().join("synapse.out")).unwrap_or_default();
                let tail: String =
                    out.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                eprintln!("synapse did not come up:\n{tail}");
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether `/_matrix/client/versions` answers 200 (a blocking check: `start` runs before any runtime does).
    fn answers(&self) -> bool {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /_matrix/client/versions HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if std::io::Write::write_all(&mut stream, request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
    }

    /// The homeserver URL to configure.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers a user through the shared-secret admin API and signs in: its access token.
    ///
    /// # Panics
    /// When Synapse refuses (the test cannot go on).
    pub async fn register(&self, user: &str, password: &str) -> String {
        let status = tokio::process::Command::new(self.venv.join("bin/register_new_matrix_user"))
            .args(["-k", SHARED_SECRET, "-u", user, "-p", password, "--no-admin"])
            .arg(self.url())
            .stdout(Stdio::null())
            .status()
            .await
            .expect("register_new_matrix_user runs");
        assert!(status.success(), "registering {user} on Synapse failed");
        self.login(user, password).await
    }

    /// A password login: the access token.
    ///
    /// # Panics
    /// When Synapse refuses.
    pub async fn login(&self, user: &str, password: &str) -> String {
        let answer = self
            .call(None, reqwest::Method::POST, "/_matrix/client/v3/login",
                  Some(json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password})))
            .await;
        answer["access_token"].as_str().expect("an access token").to_owned()
    }

    /// A person's client.
    pub fn human(&self, token: &str) -> Human {
        Human { base: self.url(), token: token.to_owned(), http: self.http.clone() }
    }

    async fn call(&self, token: Option<&str>, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        call(&self.http, &self.url(), token, method, path, body).await
    }
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, format!("{base}{path}")).timeout(Duration::from_secs(30));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("synapse answers");
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "synapse {path}: {status} {value}");
    value
}

/// A percent-encoded path segment.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A person on the homeserver, over plain HTTP.
#[derive(Clone)]
pub struct Human {
    base: String,
    token: String,
    http: reqwest::Client,
}

/// A message as a room shows it.
#[derive(Debug, Clone)]
pub struct RoomMessage {
    pub event_id: String,
    pub sender: String,
    pub body: String,
    pub content: Value,
}

impl Human {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        call(&self.http, &self.base, Some(&self.token), method, path, body).await
    }

    /// Creates a room and invites `invite` (a direct chat with `direct`): its id.
    pub async fn create_room(&self, invite: &[&str], direct: bool) -> String {
        let mut body = json!({"invite": invite, "is_direct": direct});
        body["preset"] = json!(if direct { "trusted_private_chat" } else { "private_chat" });
        self.call(reqwest::Method::POST, "/_matrix/client/v3/createRoom", Some(body)).await["room_id"]
            .as_str()
            .expect("a room id")
            .to_owned()
    }

    /// Sends a message with this content: its event id.
    pub async fn send_content(&self, room: &str, content: Value) -> String {
        let txn = format!("t{}", uuid_like());
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", segment(room));
        self.call(reqwest::Method::PUT, &path, Some(content)).await["event_id"]
            .as_str()
            .expect("an event id")
            .to_owned()
    }

    /// Sends a text message: its event id.
    pub async fn send(&self, room: &str, text: &str) -> String {
        self.send_content(room, json!({"msgtype": "m.text", "body": text})).await
    }

    /// Sends an event of any type.
    pub async fn send_event(&self, room: &str, kind: &str, content: Value) -> String {
        let path = format!("/_matrix/client/v3/rooms/{}/send/{}/t{}", segment(room), segment(kind), uuid_like());
        self.call(reqwest::Method::PUT, &path, Some(content)).await["event_id"]
            .as_str()
            .expect("an event id")
            .to_owned()
    }

    /// Joins a room the user was invited to.
    pub async fn join(&self, room: &str) {
        let path = format!("/_matrix/client/v3/join/{}", segment(room));
        self.call(reqwest::Method::POST, &path, Some(json!({}))).await;
    }

    /// The room's members who have joined.
    pub async fn joined(&self, room: &str) -> Vec<String> {
        let path = format!("/_matrix/client/v3/rooms/{}/joined_members", segment(room));
        self.call(reqwest::Method::GET, &path, None).await["joined"]
            .as_object()
            .map(|joined| joined.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The room's messages, oldest first (up to 1,000).
    pub async fn messages(&self, room: &str) -> Vec<RoomMessage> {
        let filter = segment(r#"{"types":["m.room.message"]}"#);
        let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1000&filter={filter}", segment(room));
        let page = self.call(reqwest::Method::GET, &path, None).await;
        let mut out: Vec<RoomMessage> = page["chunk"]
            .as_array()
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|event| RoomMessage {
                        event_id: event["event_id"].as_str().unwrap_or_default().to_owned(),
                        sender: event["sender"].as_str().unwrap_or_default().to_owned(),
                        body: event["content"]["body"].as_str().unwrap_or_default().to_owned(),
                        content: event["content"].clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.reverse();
        out
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
