//! The Telegram Bot API emulator (npm `telegram-test-api`, wrapped by `data/telegram_emulator.js`), started on a
//! free loopback port and stopped by process id when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/telegram_emulator.js");

/// Where `.ci/run` installs the npm package: `OPENCLAW_TELEGRAM_EMULATOR_DIR` (a `node_modules` folder), else
/// `~/.cache/openclaw-rs/npm/node_modules`.
pub fn emulator_modules() -> Option<PathBuf> {
    let dir = std::env::var_os("OPENCLAW_TELEGRAM_EMULATOR_DIR").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/openclaw-rs/npm/node_modules"))
    })?;
    dir.join("telegram-test-api").is_dir().then_some(dir)
}

/// A running emulator.
pub struct TelegramEmulator {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl TelegramEmulator {
    /// Starts the emulator; `None` when the npm package or `node` is missing (report it with
    /// [`crate::counterpart_missing`]).
    pub fn start() -> Option<Self> {
        let modules = emulator_modules()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let mut child = Command::new("node")
            .arg(SCRIPT)
            .arg(&modules)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let stdout = child.stdout.take()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        if !ready.starts_with("ready") {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        Some(TelegramEmulator { child, port, http: reqwest::Client::new() })
    }

    /// The `apiRoot` to configure.
    pub fn api_root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(format!("{}{path}", self.api_root())).json(&body).send().await;
        match response {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(error) => panic!("telegram emulator {path}: {error}"),
        }
    }

    /// A user writes `text` in a chat. `chat` is `{"id", "type", "title"?}`; `from` is `{"id", "first_name", …}`.
    pub async fn user_sends(&self, token: &str, chat: Value, from: Value, text: &str, extra: Value) -> Value {
        let mut message = json!({"botToken": token, "chat": chat, "from": from, "text": text,
                                 "date": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)});
        if let (Some(map), Some(extra)) = (message.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                map.insert(key.clone(), value.clone());
            }
        }
        self.post("/sendMessage", message).await
    }

    /// Everything the bot sent, oldest first: `(chat id, text, parse mode, time in ms, the whole request)`.
    pub async fn bot_messages(&self, token: &str) -> Vec<(String, String, Option<String>, i64, Value)> {
        let history = self.post("/getUpdatesHistory", json!({"token": token})).await;
        history["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|item| item["message"].get("chat_id").is_some())
            .map(|item| {
                let message = &item["message"];
                let chat = match &message["chat_id"] {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (
                    chat,
                    message["text"].as_str().unwrap_or_default().to_owned(),
                    message["parse_mode"].as_str().map(str::to_owned),
                    item["time"].as_i64().unwrap_or_default(),
                    message.clone(),
                )
            })
            .collect()
    }

    /// The next `count` sendMessage calls for `chat_id` answer 429 with `retry_after` seconds.
    pub async fn rate_limit(&self, chat_id: i64, count: u32, retry_after: u64) {
        self.post("/_test/ratelimit", json!({"chatId": chat_id, "count": count, "retryAfter": retry_after})).await;
    }

    /// `{typing: {chat: count}, limited: [{chat, at}]}`.
    pub async fn state(&self) -> Value {
        match self.http.get(format!("{}/_test/state", self.api_root())).send().await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }
}

impl Drop for TelegramEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
