//! Skills and the sandboxed `exec` through the binary: a skill folder in the AgentSkills format is installed, is
//! ineligible while its binary is missing (and absent from the prompt), becomes eligible once the binary exists,
//! and the model runs its script through `exec` — confined to the workspace plus the skill's folder.

use std::os::unix::fs::PermissionsExt;

use openclaw_store::Store;
use openclaw_testkit::{ScriptedServer, openai};
use serde_json::{Value, json};

mod common;

use common::{Env, text};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/skills/tests/fixtures/forecast");

fn system_prompt(request: &Value) -> String {
    request["messages"][0]["content"].as_str().unwrap_or_default().to_owned()
}

fn last_tool_result(request: &Value) -> String {
    let messages = request["messages"].as_array().unwrap();
    let last = messages.iter().rev().find(|m| m["role"] == "tool").unwrap();
    last["content"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_becomes_eligible_and_its_script_runs_in_the_sandbox() {
    let env = Env::new();
    let server = ScriptedServer::start().await;
    env.setup(&server, "openai").await;

    let out = env.run(&["skills", "install", FIXTURE]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Installed forecast"), "{stdout}");
    assert!(stdout.contains("missing binary: forecast-cli"), "{stdout}");

    // Without the binary: listed as ineligible with the reason, and not offered to the model.
    let out = env.run(&["skills", "list", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "forecast");
    assert_eq!(list[0]["eligible"], false);
    assert_eq!(list[0]["missing"], json!(["missing binary: forecast-cli (install it on PATH)"]));
    server.push(openai::text("No forecast skill here."));
    let out = env.run(&["agent", "--local", "-m", "Weather in Paris?", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!system_prompt(&server.requests()[0].json()).contains("<available_skills>"));

    // Install the binary; point the gateway's PATH and the sandbox's PATH at it.
    let bin = env.state.parent().unwrap().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cli = bin.join("forecast-cli");
    std::fs::write(&cli, "#!/bin/sh\necho \"Sunny, 21 C in $2\"\n").unwrap();
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let config_path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["tools"] = json!({"exec": {"pathPrepend": [bin]}});
    std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();

    let mut list = env.command(&["skills", "list"]);
    let out = list.env("PATH", &path).output().unwrap();
    assert!(text(&out.stdout).starts_with("forecast\tready\tworkspace"), "{}", text(&out.stdout));

    let skill_dir = env.state.join("workspace/skills/forecast").canonicalize().unwrap();
    let script = format!("{}/scripts/forecast.sh Paris", skill_dir.display());
    server.push(openai::tool_call("call_1", "exec", &json!({"command": script}), 50));
    let secret = format!("cat {}", config_path.display());
    server.push(openai::tool_call("call_2", "exec", &json!({"command": secret}), 50));
    server.push(openai::text("It is sunny in Paris."));
    let mut agent = env.command(&["agent", "--local", "-m", "Weather in Paris?", "--json"]);
    let out = tokio::task::spawn_blocking(move || agent.env("PATH", &path).output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let envelope: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envelope["final"], "It is sunny in Paris.");

    let requests = server.requests();
    let prompt = system_prompt(&requests[1].json());
    assert!(prompt.contains("<name>forecast</name>"), "{prompt}");
    assert!(prompt.contains(&format!("<location>{}/SKILL.md</location>", skill_dir.display())), "{prompt}");
    let ran = last_tool_result(&requests[2].json());
    assert_eq!(ran, "Sunny, 21 C in Paris\n[exit code 0]");
    // The same sandbox keeps the agent out of the gateway's own files.
    let refused = last_tool_result(&requests[3].json());
    assert!(refused.contains("Permission denied") && !refused.contains("agents"), "{refused}");

    let store = env.store().await;
    let audit = store.audit_events(50).await.unwrap();
    let execs: Vec<_> = audit.iter().filter(|r| r.event.detail["tool"] == "exec").collect();
    assert_eq!(execs.len(), 2);
    // A command that runs and fails is a result (with its exit code) for the model, not a tool error.
    assert!(execs.iter().all(|r| r.event.outcome == "ok"));
    assert!(refused.ends_with("[exit code 1]"), "{refused}");

    let out = env.run(&["skills", "remove", "forecast"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = env.run(&["skills", "info", "forecast"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no skill named forecast"), "{}", text(&out.stderr));
}

/// An MCP server's tool called by an agent turn through the binary; the tool policy hides a denied MCP tool from
/// the model and refuses (and audits) a forged call to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_tool_is_called_by_an_agent_turn_and_policy_applies_to_mcp_tools() {
    if !openclaw_testkit::mcp_sdk_available() {
        return;
    }
    let env = Env::new();
    let server = ScriptedServer::start().await;
    env.setup(&server, "openai").await;
    let config_path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["mcp"] =
        json!({"servers": {"weather": {"command": "python3", "args": [openclaw_testkit::MCP_WEATHER_SERVER]}}});
    config["tools"] = json!({"deny": ["weather__fail"]});
    std::fs::write(&config_path, serde_json::to_string_pretty(&config).unwrap()).unwrap();

    server.push(openai::tool_call("call_1", "weather__forecast", &json!({"city": "Oslo"}), 50));
    server.push(openai::tool_call("call_2", "weather__fail", &json!({"reason": "forged"}), 50));
    server.push(openai::text("Sunny in Oslo."));
    let out = env.run(&["agent", "--local", "-m", "Weather in Oslo?", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let envelope: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envelope["final"], "Sunny in Oslo.");

    let requests = server.requests();
    let offered: Vec<String> = requests[0].json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(offered.contains(&"weather__forecast".to_owned()) && offered.contains(&"weather__add".to_owned()));
    assert!(!offered.contains(&"weather__fail".to_owned()), "a denied tool is not offered: {offered:?}");
    assert_eq!(last_tool_result(&requests[1].json()), "Sunny, 21 C in Oslo");
    let refused = last_tool_result(&requests[2].json());
    assert!(refused.contains("not allowed for this agent"), "{refused}");

    let store = env.store().await;
    let audit = store.audit_events(50).await.unwrap();
    let calls: Vec<_> = audit.iter().filter(|r| r.event.action == "tool.call").collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].event.detail["tool"].as_str(), calls[0].event.outcome.as_str()),
        (Some("weather__forecast"), "ok")
    );
    assert_eq!(
        (calls[1].event.detail["tool"].as_str(), calls[1].event.outcome.as_str()),
        (Some("weather__fail"), "denied")
    );
}
