//! The gateway's OpenAI-compatible API driven by the official `openai` Python client (installed by `.ci/run`):
//! models list, a chat completion, a streamed one with usage, a wrong key (401) and an unknown agent (404).
//! Without Python's `openai` package this test says so loudly; under `CI=true` that is a failure.

use std::io::BufRead;
use std::process::{Command, Stdio};

use openclaw_testkit::{ScriptedServer, openai};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

fn python_openai_available() -> bool {
    Command::new("python3").args(["-c", "import openai"]).output().is_ok_and(|out| out.status.success())
}

// Multi-threaded: the client runs as a blocking child process while the scripted model server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_works_against_the_gateway() {
    if !python_openai_available() {
        openclaw_testkit::counterpart_missing("Python's openai package", "pip install openai; .ci/run installs it");
        return;
    }
    let model = ScriptedServer::start().await;
    model.push(openai::text("Hello."));
    model.push(openai::text("one two three"));
    model.push(openai::tool_call("call_w1", "get_weather", &serde_json::json!({"city": "Paris"}), 7));
    model.push(openai::text("Sunny in Paris."));
    model.push(openai::tool_call("call_w2", "get_weather", &serde_json::json!({"city": "Paris"}), 5));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let ours = |args: &[&str]| {
        let out =
            Command::new(BIN).args(args).env("OPENCLAW_STATE_DIR", &state).env("HOME", dir.path()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let base = format!("{}/v1", model.url());
    ours(&["setup", "--non-interactive", "--provider", "mock", "--base-url", &base, "--model", "m1"]);
    ours(&["config", "set", "gateway.http.endpoints.chatCompletions.enabled", "true"]);

    let mut gateway = Command::new(BIN)
        .args(["gateway", "run", "--port", "0", "--token", "api-token"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(gateway.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.split_whitespace().find_map(|w| w.strip_prefix("ws://")).expect("listening line").to_owned();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/openai_smoke.py");
    let out = Command::new("python3").args([script, &format!("http://{address}/v1"), "api-token"]).output().unwrap();
    let _ = Command::new("kill").args(["-TERM", &gateway.id().to_string()]).status();
    let _ = gateway.wait();
    assert!(out.status.success(), "client failed: {}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["models"], serde_json::json!(["openclaw", "openclaw/default", "openclaw/main"]));
    assert_eq!(seen["text"], "Hello.");
    assert_eq!(seen["finish_reason"], "stop");
    assert!(seen["id"].as_str().unwrap().starts_with("chatcmpl_"));
    assert_eq!(seen["stream_text"], "one two three");
    assert!(seen["stream_chunks"].as_u64().unwrap() >= 3, "streamed in pieces: {seen}");
    assert!(seen["stream_usage_total"].as_u64().unwrap() > 0);
    assert_eq!(seen["wrong_key"], 401);
    assert_eq!(seen["unknown_agent"], 404);
    // The tool-calling subset: a client tool call ends the turn; the result continues it.
    assert_eq!(seen["tool_finish_reason"], "tool_calls", "{seen}");
    assert_eq!(seen["tool_call"], serde_json::json!({"name": "get_weather", "arguments": {"city": "Paris"}}));
    assert_eq!(seen["tool_answer"], "Sunny in Paris.");
    assert_eq!(seen["stream_tool_calls"], serde_json::json!(["get_weather"]));
    assert_eq!(seen["stream_tool_finish"], "tool_calls");

    // What the model received: the client's system message as instructions, and the `user` field's stable session.
    let requests = model.requests();
    let system = requests[0].json()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(system.contains("## Request Instructions\nAnswer in one word."), "{system}");
    let third = requests[2].json();
    let offered: Vec<&str> =
        third["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert!(
        offered.contains(&"get_weather") && offered.contains(&"read"),
        "client tools beside the agent's: {offered:?}"
    );
    let followup = requests[3].json();
    let last = followup["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "tool", "{followup}");
    assert_eq!(last["content"], "sunny, 21 C");
    assert_eq!(last["tool_call_id"], "call_w1");
    let out = Command::new(BIN)
        .args(["sessions", "list", "--json"])
        .env("OPENCLAW_STATE_DIR", &state)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let sessions: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = sessions.as_array().unwrap().iter().map(|s| s["sessionKey"].as_str().unwrap()).collect();
    // The session is under the caller's credential (a digest of it), then the `user`.
    assert!(
        keys.iter().any(|key| key.starts_with("agent:main:openai-user:") && key.ends_with(":alice") && key.len() > 36),
        "{keys:?}"
    );
}
