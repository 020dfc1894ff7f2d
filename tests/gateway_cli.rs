//! Our own CLI against a running gateway: `gateway health|call`, `agent` without `--local` (the turn runs in the
//! gateway, streamed back), `logs` (JSON lines through `logs.tail`), and a clear error when no gateway runs.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use openclaw_testkit::{ScriptedServer, openai};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn ours(state: &std::path::Path, url: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("OPENCLAW_STATE_DIR", state)
        .env("HOME", state.parent().unwrap_or(state))
        .env("OPENCLAW_GATEWAY_TOKEN", "cli-token")
        .env_remove("OPENCLAW_GATEWAY_URL");
    if let Some(url) = url {
        command.env("OPENCLAW_GATEWAY_URL", url);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn start_gateway(state: &std::path::Path) -> Running {
    let mut child = Command::new(BIN)
        .args(["gateway", "run", "--port", "0"])
        .env("OPENCLAW_STATE_DIR", state)
        .env("HOME", state.parent().unwrap_or(state))
        .env("OPENCLAW_GATEWAY_TOKEN", "cli-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("ws://")).expect("listening line").to_owned();
    Running { child, url }
}

// Multi-threaded: the CLI runs as a blocking child process while the scripted model server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_talks_to_the_running_gateway() {
    let model = ScriptedServer::start().await;
    model.push(openai::text("through the gateway"));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let base = format!("{}/v1", model.url());
    let (ok, _, err) =
        ours(&state, None, &["setup", "--non-interactive", "--provider", "mock", "--base-url", &base, "--model", "m1"]);
    assert!(ok, "{err}");

    // No gateway yet: a clear error, and no silent fallback to an in-process turn.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("ws://127.0.0.1:{port}");
    let (ok, _, err) = ours(&state, Some(&nowhere), &["agent", "-m", "hi"]);
    assert!(!ok && err.contains("cannot connect to the gateway") && err.contains("--local"), "{err}");
    assert!(model.requests().is_empty());

    let gateway = start_gateway(&state);
    let url = Some(gateway.url.as_str());
    let (ok, out, err) = ours(&state, url, &["gateway", "health"]);
    assert!(ok && out.contains("Agents: main (default)"), "{out}{err}");

    let (ok, out, err) = ours(&state, url, &["agent", "-m", "hi"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "through the gateway");

    let (ok, out, err) = ours(&state, url, &["gateway", "call", "sessions.list", "--json"]);
    assert!(ok, "{err}");
    let sessions: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sessions["sessions"][0]["key"], "agent:main:main");

    let (ok, out, err) = ours(&state, url, &["gateway", "call", "no.such.method"]);
    assert!(!ok && err.contains("unknown method: no.such.method"), "{out}{err}");

    let (ok, out, err) = ours(&state, url, &["logs", "--json"]);
    assert!(ok, "{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["type"], "meta");
    assert!(lines.iter().any(|l| l["message"] == "Gateway ready."), "{out}");
    // --agent keeps the lines about that agent's runs.
    let (ok, out, err) = ours(&state, url, &["logs", "--json", "--agent", "main"]);
    assert!(ok, "{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["message"] == "Run finished."), "{out}");
    assert!(!lines.iter().any(|l| l["message"] == "Gateway ready."), "{out}");
    // An agent that does not exist is refused with the ones that do (issue 19), not answered with nothing.
    let (ok, out, err) = ours(&state, url, &["logs", "--json", "--agent", "ghost"]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("no agent \"ghost\"") && err.contains("known agents: main"), "{err}");

    // A wrong token is refused with the reason.
    let mut wrong = Command::new(BIN);
    wrong.args(["gateway", "health", "--url", &gateway.url, "--token", "nope"]).env("OPENCLAW_STATE_DIR", &state);
    let out = wrong.output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("token mismatch"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// A config change the running process cannot apply (the port) makes the gateway start itself again, same pid,
/// on the new port; `config.patch` reports the restart.
#[test]
fn changing_the_port_restarts_the_gateway_on_the_new_port() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let (first, second) = (free_port(), free_port());
    std::fs::write(state.join("openclaw.json"), format!("{{\"gateway\": {{\"port\": {first}}}}}")).unwrap();
    let child = Command::new(BIN)
        .args(["gateway", "run"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("HOME", dir.path())
        .env("OPENCLAW_GATEWAY_TOKEN", "cli-token")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let running = Running { child, url: format!("ws://127.0.0.1:{first}") };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready(first) {
        assert!(std::time::Instant::now() < deadline, "the gateway did not start on {first}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = Some(running.url.as_str());
    let (ok, got, stderr) = ours(&state, url, &["gateway", "call", "config.get", "--json"]);
    assert!(ok, "{stderr}");
    let hash = serde_json::from_str::<Value>(&got).unwrap()["hash"].as_str().unwrap().to_owned();
    let params = serde_json::json!({"raw": format!("{{gateway: {{port: {second}}}}}"), "baseHash": hash}).to_string();
    let (ok, patched, stderr) = ours(&state, url, &["gateway", "call", "config.patch", "--params", &params, "--json"]);
    assert!(ok, "{stderr}");
    let patched: Value = serde_json::from_str(&patched).unwrap();
    assert_eq!(patched["reload"], "restart", "{patched}");
    assert_eq!(patched["restart"]["scheduled"], true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready(second) {
        assert!(std::time::Instant::now() < deadline, "the gateway did not come back on {second}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!ready(first), "the old port is closed");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the same process (exec), so supervisors keep it");
}
