//! Compatibility with the reference OpenClaw (TypeScript), driven through its real CLI: a configuration written by
//! our `setup` and `agents add` must be valid for the reference, one written for the reference must load here, and
//! the reference CLI must be able to use our gateway (`gateway call health`, `health`, `agent`).
//!
//! The reference is installed by `.ci/run` (`shared/tools/reference-openclaw/install.sh`). Without it this test says
//! so loudly; under `CI=true` that is a failure.

use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

fn reference_cli() -> Option<PathBuf> {
    let candidate = std::env::var_os("OPENCLAW_REF_BIN").map(PathBuf::from).or_else(|| {
        let home = std::env::var_os("OPENCLAW_REF_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/openclaw-reference")))?;
        Some(home.join("bin/openclaw-ref"))
    })?;
    candidate.is_file().then_some(candidate)
}

fn require_reference() -> Option<PathBuf> {
    match reference_cli() {
        Some(path) => Some(path),
        None => {
            openclaw_testkit::counterpart_missing(
                "the reference OpenClaw CLI",
                "run shared/tools/reference-openclaw/install.sh; .ci/run does",
            );
            None
        }
    }
}

fn run(command: &mut Command) -> (bool, String) {
    let out = command.output().expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn reference_cli_accepts_the_config_we_write() {
    let Some(reference) = require_reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ours = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command.args(args).env("OPENCLAW_STATE_DIR", &state).env("HOME", dir.path()).env("MOCK_KEY", "sk-x");
        command
    };
    let (ok, text) = run(&mut ours(&[
        "setup",
        "--non-interactive",
        "--provider",
        "mock",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--api-key-env",
        "MOCK_KEY",
        "--model",
        "mock-1",
    ]));
    assert!(ok, "{text}");
    let (ok, text) = run(&mut ours(&["agents", "add", "ops", "--name", "Ops"]));
    assert!(ok, "{text}");
    let (ok, text) = run(&mut ours(&["config", "set", "session.dmScope", "per-channel-peer"]));
    assert!(ok, "{text}");

    let mut validate = Command::new(&reference);
    validate
        .args(["config", "validate"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("HOME", dir.path())
        .env("MOCK_KEY", "sk-x")
        .env("OPENCLAW_NO_AUTO_UPDATE", "1");
    let (ok, text) = run(&mut validate);
    assert!(ok && text.contains("Config valid"), "the reference rejects our config:\n{text}");

    let mut list = Command::new(&reference);
    list.args(["agents", "list"]).env("OPENCLAW_STATE_DIR", &state).env("HOME", dir.path()).env("MOCK_KEY", "sk-x");
    let (ok, text) = run(&mut list);
    assert!(ok && text.contains("ops (Ops)") && text.contains("mock/mock-1"), "{text}");
}

#[test]
fn a_config_written_for_the_reference_loads_here() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let fixture = include_str!("fixtures/reference-written-config.json");
    std::fs::write(state.join("openclaw.json"), fixture).unwrap();
    let out = Command::new(BIN)
        .args(["config", "validate"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("OPENCLAW_REF_HOME", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("unknown key"), "{stderr}");
    let out = Command::new(BIN)
        .args(["config", "get", "gateway.http.endpoints.chatCompletions.enabled"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("OPENCLAW_REF_HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
    let out = Command::new(BIN)
        .args(["agents", "list", "--json"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("OPENCLAW_REF_HOME", dir.path())
        .output()
        .unwrap();
    let agents: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(agents[0]["id"], "main");
    assert_eq!(agents[0]["model"], "mock/mock-1");
    assert_eq!(agents[0]["workspace"], format!("{}/ws", dir.path().display()));
}

// Multi-threaded: the reference CLI runs as a blocking child process while the scripted model server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_cli_drives_our_gateway() {
    use std::io::BufRead;
    let Some(reference) = require_reference() else { return };
    let model = openclaw_testkit::ScriptedServer::start().await;
    model.push(openclaw_testkit::openai::text("pong from openclaw-rs"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ref_home = dir.path().join("ref-home");
    std::fs::create_dir_all(&ref_home).unwrap();
    let (ok, text) = run(Command::new(BIN)
        .args([
            "setup",
            "--non-interactive",
            "--provider",
            "mock",
            "--base-url",
            &format!("{}/v1", model.url()),
            "--model",
            "m1",
        ])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("HOME", dir.path()));
    assert!(ok, "{text}");
    let mut gateway = Command::new(BIN)
        .args(["gateway", "run", "--port", "0", "--token", "gw-token"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    let stdout = gateway.stdout.take().unwrap();
    std::io::BufReader::new(stdout).read_line(&mut first_line).unwrap();
    let url = first_line.split_whitespace().find(|word| word.starts_with("ws://")).expect("listening line").to_owned();

    let reference_cli = |args: &[&str], token: &str| {
        let mut command = Command::new(&reference);
        command
            .args(args)
            .env("HOME", &ref_home)
            .env("OPENCLAW_STATE_DIR", ref_home.join(".openclaw"))
            .env("OPENCLAW_GATEWAY_URL", &url)
            .env("OPENCLAW_GATEWAY_TOKEN", token)
            .env("OPENCLAW_NO_AUTO_UPDATE", "1");
        command
    };
    let (ok, text) =
        run(&mut reference_cli(&["gateway", "call", "health", "--url", &url, "--token", "gw-token", "--json"], ""));
    assert!(ok, "{text}");
    let json_start = text.find('{').expect("json");
    let health: serde_json::Value = serde_json::from_str(text[json_start..].trim()).unwrap_or_default();
    assert_eq!(health["defaultAgentId"], "main", "{text}");
    let (ok, text) = run(&mut reference_cli(&["health"], "gw-token"));
    assert!(ok && text.contains("Agents: main (default)"), "the reference's text renderer: {text}");
    let (ok, text) = run(&mut reference_cli(&["agent", "--agent", "main", "-m", "hi"], "gw-token"));
    assert!(ok && text.contains("pong from openclaw-rs"), "{text}");
    let (ok, text) = run(&mut reference_cli(&["gateway", "probe", "--url", &url, "--token", "gw-token"], ""));
    assert!(ok && text.contains("Reachable: yes") && text.contains("Read probe: ok"), "{text}");
    // `status` reads the gateway's port and token from the reference's own config file.
    let port = url.rsplit(':').next().unwrap_or_default().trim_end_matches('/').to_owned();
    std::fs::create_dir_all(ref_home.join(".openclaw")).unwrap();
    let ref_config =
        format!(r#"{{"gateway":{{"mode":"local","port":{port},"auth":{{"mode":"token","token":"gw-token"}}}}}}"#);
    std::fs::write(ref_home.join(".openclaw/openclaw.json"), ref_config).unwrap();
    let mut status = reference_cli(&["status"], "gw-token");
    status.env_remove("OPENCLAW_GATEWAY_URL");
    let (ok, text) = run(&mut status);
    assert!(ok && text.contains("reachable") && !text.contains("unreachable"), "{text}");
    let (ok, text) =
        run(&mut reference_cli(&["gateway", "call", "health", "--url", &url, "--token", "wrong", "--json"], ""));
    assert!(!ok && text.contains("AUTH_TOKEN_MISMATCH"), "{text}");

    let (ok, text) = run(&mut reference_cli(&["logs", "--url", &url, "--token", "gw-token"], ""));
    assert!(ok && text.contains("Gateway ready."), "the reference reads our log through logs.tail: {text}");
    // The reference's own raw client signs the challenge with a Node-generated Ed25519 key (WITH_DEVICE=1): an
    // independent implementation of the device identity must be accepted and receive a device token.
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/tools/reference-openclaw/rawclient.mjs");
    let node = reference.with_file_name("node26");
    if std::path::Path::new(shared).is_file() && node.is_file() {
        let (ok, text) = run(Command::new(&node)
            .arg(shared)
            .env("GW_URL", &url)
            .env("GW_TOKEN", "gw-token")
            .env("WITH_DEVICE", "1")
            .env("CALLS", "health")
            .env("WAIT", "3000")
            .env("DUMP", dir.path().join("hello-ok.json")));
        assert!(ok && text.contains("CONNECT-RES ok= true") && text.contains("deviceToken"), "{text}");
        assert!(text.contains("RES m-health true"), "{text}");
    } else {
        openclaw_testkit::counterpart_missing("shared/tools/reference-openclaw/rawclient.mjs", "check out ../shared");
    }

    let status = Command::new("kill").args(["-TERM", &gateway.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = gateway.wait().unwrap();
    assert!(exit.success(), "the gateway stops cleanly on SIGTERM: {exit:?}");
}
