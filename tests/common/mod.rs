//! What the binary's end-to-end tests share: a fresh state dir per test, and the `openclaw` command pointed at it
//! with no provider keys or installer overrides leaking in from the developer's shell.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use openclaw_store::SqliteStore;
use openclaw_testkit::ScriptedServer;

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

pub struct Env {
    _dir: tempfile::TempDir,
    pub state: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        Env { _dir: dir, state }
    }

    /// `openclaw <args>` on this state dir; `MOCK_KEY` is the key the scripted model servers accept.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("OPENCLAW_STATE_DIR", &self.state)
            .env("HOME", self.state.parent().unwrap_or(Path::new("/tmp")))
            .env_remove("OPENCLAW_CONFIG_PATH")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("OPENCLAW_PIP")
            .env("MOCK_KEY", "sk-test-123")
            .stdin(Stdio::null());
        command
    }
}

/// What most end-to-end tests do with an `Env` (not every test file uses every helper).
#[allow(dead_code)]
impl Env {
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().expect("run openclaw")).await.expect("join")
    }

    pub async fn setup(&self, server: &ScriptedServer, api: &str) {
        let base = if api == "anthropic" { server.url() } else { format!("{}/v1", server.url()) };
        let out = self
            .run(&[
                "setup",
                "--non-interactive",
                "--provider",
                "mock",
                "--base-url",
                &base,
                "--api-key-env",
                "MOCK_KEY",
                "--model",
                "m1",
                "--api",
                api,
            ])
            .await;
        assert!(out.status.success(), "setup failed: {}", text(&out.stderr));
    }

    /// The gateway token `openclaw setup` generated (clients given `--url` must pass it, as in the reference).
    pub fn gateway_token(&self) -> String {
        let text = std::fs::read_to_string(self.state.join("openclaw.json")).expect("config");
        let config: serde_json::Value = serde_json::from_str(&text).expect("config json");
        config["gateway"]["auth"]["token"].as_str().expect("setup wrote gateway.auth.token").to_owned()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(&self.state).expect("mkdir");
        std::fs::write(self.state.join("openclaw.json"), text).expect("write config");
    }

    pub async fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.state.join("state").join("openclaw-rs.sqlite")).await.expect("open store")
    }
}

#[allow(dead_code)]
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A gateway process on a fixed port (stable across restarts), killed (SIGKILL) when dropped.
#[allow(dead_code)]
pub struct GatewayProcess {
    child: std::process::Child,
    pub port: u16,
}

#[allow(dead_code)]
impl GatewayProcess {
    /// Starts `openclaw gateway run --port <port>` and waits until `/readyz` answers 200.
    pub async fn start(env: &Env, port: u16) -> Self {
        Self::start_with_console(env, port, None).await
    }

    /// [`GatewayProcess::start`], with the console (stdout and stderr) written to `console` when given.
    pub async fn start_with_console(env: &Env, port: u16, console: Option<&Path>) -> Self {
        let mut command = env.command(&["gateway", "run", "--port", &port.to_string()]);
        match console {
            Some(path) => {
                let file = std::fs::File::create(path).expect("console file");
                command.stdout(file.try_clone().expect("console file")).stderr(file);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = command.spawn().expect("start the gateway");
        let gateway = GatewayProcess { child, port };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let ready = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return gateway;
            }
            assert!(std::time::Instant::now() < deadline, "the gateway did not become ready in 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
#[allow(dead_code)]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The last user message of a chat-completions request a scripted model server received.
#[allow(dead_code)]
pub fn last_user_text(request: &openclaw_testkit::Recorded) -> String {
    let body = request.json();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.iter().rev().find(|m| m["role"] == "user").cloned().unwrap_or_default();
    match &last["content"] {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    }
}

/// The Telegram Bot API emulator, or a loud skip (a failure under `CI=true`) when it is not installed.
#[allow(dead_code)]
pub fn telegram_emulator() -> Option<openclaw_testkit::telegram::TelegramEmulator> {
    let emulator = openclaw_testkit::telegram::TelegramEmulator::start();
    if emulator.is_none() {
        openclaw_testkit::counterpart_missing(
            "the Telegram Bot API emulator (npm telegram-test-api 4.2.1, and node)",
            "npm install --prefix ~/.cache/openclaw-rs/npm telegram-test-api@4.2.1 (.ci/run does)",
        );
    }
    emulator
}

/// A model whose answer depends on the question: `fault=<kind>x<n>` in it makes the first `n` calls for that question
/// fail — `500`, `429` (with `Retry-After: 1`), `cut0` (the stream cut before any text), `cut` (cut after some
/// text), `hang` (some text, then silence) — and every other call answers `answer: <question>`.
#[allow(dead_code)]
pub fn faulty_model() -> openclaw_testkit::Responder {
    use openclaw_testkit::openai;
    let calls = std::sync::Mutex::new(std::collections::HashMap::<String, u32>::new());
    std::sync::Arc::new(move |request: &openclaw_testkit::Recorded| {
        let asked = last_user_text(request);
        let fault = asked.split_whitespace().find_map(|word| word.strip_prefix("fault=")).and_then(|spec| {
            let (kind, times) = spec.split_once('x')?;
            Some((kind.to_owned(), times.parse::<u32>().ok()?))
        });
        let seen = {
            let mut calls = calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let seen = calls.entry(asked.clone()).or_default();
            *seen += 1;
            *seen
        };
        match fault {
            Some((kind, times)) if seen <= times => match kind.as_str() {
                "500" => openai::error(500, "upstream exploded", "server_error"),
                "429" => openai::error(429, "slow down", "rate_limit_exceeded").header("retry-after", "1"),
                "cut0" => openai::text("never shown").cut_after(1),
                "cut" => openai::text("This answer is cut off in the middle of a sentence").cut_after(3),
                "hang" => openai::text("This answer never finishes").hang_after(3),
                other => panic!("unknown fault {other:?} in {asked:?}"),
            },
            _ => openai::text(&format!("answer: {asked}")),
        }
    })
}

/// `openclaw setup` against the model, then `channels` written into the config.
#[allow(dead_code)]
pub async fn configure_channels(env: &Env, model: &ScriptedServer, channels: serde_json::Value) {
    env.setup(model, "openai").await;
    let path = env.state.join("openclaw.json");
    let text = std::fs::read_to_string(&path).expect("config");
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("json");
    config["channels"] = channels;
    std::fs::write(&path, serde_json::to_string_pretty(&config).expect("render")).expect("write config");
}

/// Waits until `check` holds, polling; panics with `what` after `limit`.
#[allow(dead_code)]
pub async fn eventually<F, Fut>(limit: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `openclaw channels login <channel>` with `token` on stdin.
#[allow(dead_code)]
pub fn login_from_stdin(env: &Env, channel: &str, token: &str) -> Output {
    let mut command = env.command(&["channels", "login", channel]);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("openclaw channels login");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), format!("{token}\n").as_bytes()).expect("write");
    child.wait_with_output().expect("login output")
}

/// `channels status --probe --json`: each account's probe, by `(channel, account)`.
#[allow(dead_code)]
pub async fn probes(env: &Env) -> Vec<(String, String, serde_json::Value)> {
    let status = env.run(&["channels", "status", "--probe", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    status["accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|account| {
            let key = |name: &str| account[name].as_str().unwrap_or_default().to_owned();
            (key("channel"), key("accountId"), account["probe"].clone())
        })
        .collect()
}

/// One account's probe from [`probes`].
#[allow(dead_code)]
pub fn probe_of(probes: &[(String, String, serde_json::Value)], channel: &str, account: &str) -> serde_json::Value {
    probes
        .iter()
        .find(|(c, a, _)| c == channel && a == account)
        .map(|(_, _, probe)| probe.clone())
        .unwrap_or_else(|| panic!("no {channel} account {account}: {probes:?}"))
}

/// Runs testkit's compliance harness against the gateway on `port`, SIGKILLing and restarting it where the harness
/// asks; prints the report and returns the gateway running at the end.
#[allow(dead_code)]
pub async fn compliance<C: openclaw_testkit::compliance::Counterpart>(
    env: &Env,
    port: u16,
    gateway: GatewayProcess,
    counterpart: &C,
) -> GatewayProcess {
    let mut running = Some(gateway);
    let report = openclaw_testkit::compliance::check(counterpart, async || {
        if let Some(gateway) = running.take() {
            gateway.kill();
        }
        running = Some(GatewayProcess::start(env, port).await);
    })
    .await;
    eprintln!("{} compliance: {report:?}", counterpart.name());
    running.expect("the gateway runs")
}

/// A model that answers `echo: <message>`; a long three-paragraph answer (18 sentences) when asked for a
/// `long answer`, and a slow one (30 words, 200 ms apart) for a `slow answer`.
#[allow(dead_code)]
pub async fn echo_model() -> openclaw_testkit::ScriptedServer {
    let model = openclaw_testkit::ScriptedServer::start().await;
    model.set_responder(std::sync::Arc::new(|request: &openclaw_testkit::Recorded| {
        let asked = last_user_text(request);
        if asked.contains("slow answer") {
            return openclaw_testkit::openai::text(&"slowly ".repeat(30)).paced(std::time::Duration::from_millis(200));
        }
        if asked.contains("long answer") {
            let paragraph = "This sentence is part of a long answer that must be cut. ".repeat(6);
            return openclaw_testkit::openai::text(&format!("{p}\n\n{p}\n\n{p}", p = paragraph.trim()));
        }
        openclaw_testkit::openai::text(&format!("echo: {asked}"))
    }));
    model
}
