//! The security review end to end through the binary: `openclaw setup` writes a random gateway token that our CLI
//! then uses (finding 3), a gateway refuses an empty or short secret (finding 4), what the gateway creates is
//! private (finding 11), and `openclaw security audit` reports a weakened deployment with its fixes.

use std::os::unix::fs::PermissionsExt;

use openclaw_testkit::{ScriptedServer, openai};
use serde_json::{Value, json};

mod common;

use common::{Env, GatewayProcess, free_port, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_writes_a_token_the_cli_uses_and_a_tokenless_client_is_refused() {
    let env = Env::new();
    let model = ScriptedServer::start().await;
    env.setup(&model, "openai").await;
    let token = env.gateway_token();
    assert!(token.len() >= 32, "{token}");
    let again = Env::new();
    again.setup(&model, "openai").await;
    assert_ne!(again.gateway_token(), token, "a random token per setup");

    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    // Our CLI reads the token from the config (no --url): the README's flow works unchanged.
    let url = format!("ws://127.0.0.1:{port}");
    let health = env.command(&["gateway", "health", "--json"]).env("OPENCLAW_GATEWAY_URL", &url).output().unwrap();
    assert!(health.status.success(), "{}", text(&health.stderr));
    // A client without it is refused.
    let refused =
        env.run(&["gateway", "call", "health", "--url", &url, "--token", "not-the-token-at-all", "--json"]).await;
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("unauthorized"), "{}", text(&refused.stderr));
    model.push(openai::text("Paris."));
    let answer =
        env.command(&["agent", "-m", "Capital of France?"]).env("OPENCLAW_GATEWAY_URL", &url).output().unwrap();
    assert!(answer.status.success(), "{}", text(&answer.stderr));
    drop(gateway);

    // Finding 11: the workspace and the logs are the gateway user's only.
    let workspace = env.state.join("workspace");
    assert_eq!(std::fs::metadata(&workspace).unwrap().permissions().mode() & 0o777, 0o700);
    let logs = env.state.join("logs");
    assert_eq!(std::fs::metadata(&logs).unwrap().permissions().mode() & 0o777, 0o700);
    for entry in std::fs::read_dir(&logs).unwrap().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
    }
    for entry in std::fs::read_dir(&workspace).unwrap().flatten() {
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
    }
}

#[test]
fn empty_and_short_secrets_are_refused_at_start() {
    let env = Env::new();
    std::fs::create_dir_all(&env.state).unwrap();
    std::fs::write(env.state.join("openclaw.json"), r#"{"gateway": {"auth": {"token": ""}}}"#).unwrap();
    let out = env.command(&["gateway", "run", "--port", &free_port().to_string()]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("gateway.auth.token is empty"), "{}", text(&out.stderr));
    let out = env.command(&["gateway", "run", "--port", &free_port().to_string(), "--token", ""]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));
    std::fs::write(env.state.join("openclaw.json"), r#"{"gateway": {"auth": {"token": "short"}}}"#).unwrap();
    let out = env.command(&["gateway", "run", "--port", &free_port().to_string(), "--bind", "lan"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("shorter than 16"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_audit_reports_a_weakened_deployment() {
    let env = Env::new();
    let model = ScriptedServer::start().await;
    env.setup(&model, "openai").await;
    let clean = env.run(&["security", "audit", "--json"]).await;
    let report: Value = serde_json::from_slice(&clean.stdout).expect("json");
    assert!(clean.status.success(), "a fresh setup passes: {report}");
    assert_eq!(report["ok"], true);

    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["gateway"]["auth"] = json!({"token": "short"});
    config["gateway"]["bind"] = json!("lan");
    config["tools"] = json!({"exec": {"sandbox": {"mode": "off"}, "security": "allowlist", "safeBins": ["ls", "xargs"]},
                             "web": {"fetch": {"ssrfPolicy": {"dangerouslyAllowPrivateNetwork": true}}}});
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let weak = env.run(&["security", "audit", "--json"]).await;
    assert!(!weak.status.success());
    let report: Value = serde_json::from_slice(&weak.stdout).expect("json");
    let ids: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    for id in [
        "gateway.weak-secret",
        "gateway.beyond-loopback",
        "exec.sandbox-off",
        "web.private-network",
        "exec.launcher-in-safebins",
    ] {
        assert!(ids.contains(&id), "{id} missing: {report}");
    }
    assert!(ids.contains(&"files.readable-by-others"), "{report}");
    assert_eq!(report["findings"][0]["severity"], "critical", "the worst first: {report}");
    assert!(report["findings"].as_array().unwrap().iter().all(|f| !f["fix"].as_str().unwrap().is_empty()));
    let plain = env.run(&["security", "audit"]).await;
    assert!(text(&plain.stdout).contains("fix: "), "{}", text(&plain.stdout));
}

/// Finding 2: a skill's declared grants are shown at install; a --global install (operator-managed) needs the
/// operator's yes, and a workspace copy is told it gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installing_a_skill_shows_its_grants_and_asks_for_global_ones() {
    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/skills/tests/fixtures/forecast");
    let env = Env::new();
    let model = ScriptedServer::start().await;
    env.setup(&model, "openai").await;
    let local = env.run(&["skills", "install", FIXTURE]).await;
    assert!(local.status.success(), "{}", text(&local.stderr));
    assert!(text(&local.stdout).contains("not granted"), "{}", text(&local.stdout));
    let refused = env.run(&["skills", "install", FIXTURE, "--global"]).await;
    assert!(!refused.status.success(), "no terminal, no --yes: not installed");
    assert!(text(&refused.stderr).contains("--yes"), "{}", text(&refused.stderr));
    assert!(!env.state.join("skills/forecast").exists(), "nothing left behind");
    let granted = env.run(&["skills", "install", FIXTURE, "--global", "--yes"]).await;
    assert!(granted.status.success(), "{}", text(&granted.stderr));
    assert!(env.state.join("skills/forecast/SKILL.md").is_file());
}

/// Finding 18: a hook `name` carrying a newline and ANSI escapes forged a "Gateway ready …" line, colours
/// included, on the gateway's console. Outside values are escaped in logs: the forged text stays inside the one
/// record that quotes it, on the console and in the log file, and no escape sequence of the sender's reaches either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_name_cannot_forge_log_lines() {
    let env = Env::new();
    let model = ScriptedServer::start().await;
    env.setup(&model, "openai").await;
    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["hooks"] = json!({"enabled": true, "token": "hook-secret-0123456789"});
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let console = env.state.parent().unwrap().join("console.txt");
    let port = free_port();
    let gateway = common::GatewayProcess::start_with_console(&env, port, Some(&console)).await;
    model.push(openai::text("ok"));
    let forged = "ops\n\u{1b}[32mGateway ready on ws://forged.example\u{1b}[0m\r\nINFO all good";
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hooks/agent"))
        .bearer_auth("hook-secret-0123456789")
        .json(&json!({"message": "hello", "name": forged, "waitForCompletion": true}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    drop(gateway);

    let mut outputs = vec![("console", std::fs::read(&console).unwrap())];
    for entry in std::fs::read_dir(env.state.join("logs")).unwrap().flatten() {
        outputs.push(("log file", std::fs::read(entry.path()).unwrap()));
    }
    let mut quoted = 0;
    for (place, bytes) in &outputs {
        let text = String::from_utf8_lossy(bytes);
        // No escape byte at all: the sender's are escaped, and the console writes no colours off a terminal.
        assert!(!text.contains('\u{1b}'), "an escape sequence reached the {place}: {text}");
        for line in text.lines().filter(|line| line.contains("forged.example")) {
            assert!(line.contains("Hook agent run admitted"), "a forged line in the {place}: {line:?}");
            quoted += 1;
        }
        assert!(!text.lines().any(|line| line.trim_start().starts_with("INFO all good")), "{place}: {text}");
    }
    assert!(quoted > 0, "the hook's record (with its escaped name) was logged: {outputs:?}");
}
