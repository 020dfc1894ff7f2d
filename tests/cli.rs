//! The `openclaw` binary end to end: setup, streamed turns against a real HTTP model server, persistence across
//! restarts, tool calls in both wire formats, crash consistency, and clear errors for bad input.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use openclaw_store::Store;
use openclaw_testkit::{ScriptedServer, anthropic, openai};
use serde_json::{Value, json};

mod common;

use common::{BIN, Env, text};

#[tokio::test]
async fn setup_then_streamed_turns_persist_across_restarts() {
    let env = Env::new();
    let server = ScriptedServer::start().await;
    env.setup(&server, "openai").await;
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(config["models"]["providers"]["mock"]["apiKey"], "${MOCK_KEY}", "the key itself is never written");
    assert_eq!(config["agents"]["defaults"]["model"]["primary"], "mock/m1");
    assert!(env.state.join("workspace/AGENTS.md").is_file());
    assert!(env.state.join("workspace/memory").is_dir());

    server.push(openai::text("Hello! How can I help?").split_every(13));
    let out = env.run(&["agent", "--local", "-m", "hi"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "Hello! How can I help?");
    let first = server.requests()[0].json();
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer sk-test-123"));
    assert!(
        first["messages"][0]["content"].as_str().unwrap().contains("AGENTS.md"),
        "workspace files are in the system prompt"
    );

    server.push(openai::text("You said hi."));
    let out = env.run(&["agent", "--local", "-m", "what did I say?", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let envelope: Value = serde_json::from_slice(&out.stdout).expect("json envelope");
    assert_eq!(envelope["ok"], true);
    assert_eq!(envelope["final"], "You said hi.");
    assert_eq!(envelope["sessionKey"], "agent:main:main");
    let second = server.requests()[1].json();
    let roles: Vec<&str> = second["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, vec!["system", "user", "assistant", "user"], "the first exchange is sent as history");
    assert_eq!(second["messages"][1]["content"], "hi");
    assert_eq!(second["messages"][2]["content"], "Hello! How can I help?");

    // A new process (a restart) sees the same session and transcript.
    let out = env.run(&["sessions", "show", "agent:main:main"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("user: hi")
            && shown.contains("assistant: Hello! How can I help?")
            && shown.contains("assistant: You said hi."),
        "{shown}"
    );
    let out = env.run(&["sessions", "list", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["sessionKey"], "agent:main:main");
    // Usage from the stream: 12 prompt tokens each, one output token per word (5 + 3).
    assert_eq!(list[0]["totalTokens"], 12 + 5 + 12 + 3);

    let store = env.store().await;
    let session = store.active_session("agent:main:main").await.unwrap().unwrap();
    let entries = store.transcript(&session.session_id).await.unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e.entry.kind()).collect();
    assert_eq!(kinds, vec!["session", "model_change", "message", "message", "message", "message"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&env.state), 0o700);
        assert_eq!(mode(&env.state.join("openclaw.json")), 0o600);
        assert_eq!(mode(&env.state.join("state/openclaw-rs.sqlite")), 0o600);
    }
}

async fn tool_turn(api: &str) {
    let env = Env::new();
    let server = ScriptedServer::start().await;
    env.setup(&server, api).await;
    std::fs::write(
        env.state.join("workspace/MEMORY.md"),
        "# People\nAda's favourite colour is teal.\n\n# Work\nDeploys happen on Tuesdays.\n",
    )
    .unwrap();
    let args = json!({"query": "favourite colour"});
    if api == "anthropic" {
        server.push(anthropic::tool_use("toolu_1", "memory_search", &args, 4).split_every(17));
        server.push(anthropic::text("Ada's favourite colour is teal."));
    } else {
        server.push(openai::tool_call("call_1", "memory_search", &args, 4).split_every(17));
        server.push(openai::text("Ada's favourite colour is teal."));
    }
    let out = env.run(&["agent", "--local", "-m", "What is Ada's favourite colour?", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let envelope: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(envelope["final"], "Ada's favourite colour is teal.");
    assert_eq!(envelope["toolSummary"]["tools"], json!(["memory_search"]));
    assert_eq!(envelope["assistantTurns"], 2);

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let second = requests[1].json();
    let result_text = if api == "anthropic" {
        let last = second["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["role"], "user");
        assert_eq!(last["content"][0]["type"], "tool_result");
        assert_eq!(last["content"][0]["tool_use_id"], "toolu_1");
        last["content"][0]["content"][0]["text"].as_str().unwrap().to_owned()
    } else {
        let last = second["messages"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["role"], "tool");
        assert_eq!(last["tool_call_id"], "call_1");
        last["content"].as_str().unwrap().to_owned()
    };
    let results: Value = serde_json::from_str(&result_text).unwrap();
    assert_eq!(results["results"][0]["path"], "MEMORY.md");
    assert!(results["results"][0]["snippet"].as_str().unwrap().contains("teal"), "{results}");

    let store = env.store().await;
    let audit = store.audit_events(20).await.unwrap();
    let call = audit.iter().find(|r| r.event.action == "tool.call").expect("tool call audited");
    assert_eq!(call.event.outcome, "ok");
    assert_eq!(call.event.detail["tool"], "memory_search");
    assert!(call.event.detail["argsSha256"].is_string() && call.event.detail["durationMs"].is_number());
}

#[tokio::test]
async fn tool_calling_turn_openai_wire_format() {
    tool_turn("openai").await;
}

#[tokio::test]
async fn tool_calling_turn_anthropic_wire_format() {
    tool_turn("anthropic").await;
}

#[tokio::test]
async fn killing_the_process_mid_turn_leaves_no_half_written_turn() {
    let env = Env::new();
    let server = ScriptedServer::start().await;
    env.setup(&server, "openai").await;
    server.push(openai::text("first answer"));
    let out = env.run(&["agent", "--local", "-m", "one"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The second turn: the model streams two pieces and then hangs; we kill the process while it waits.
    server.push(openai::text("this answer never completes").hang_after(3));
    let mut child = env.command(&["agent", "--local", "-m", "two"]).stdout(Stdio::piped()).spawn().expect("spawn");
    let mut waited = 0;
    while server.requests().len() < 2 && waited < 200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().expect("try_wait").is_none(), "the turn is still running");
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let store = env.store().await;
    assert!(store.check_integrity().await.unwrap().is_empty());
    let session = store.active_session("agent:main:main").await.unwrap().unwrap();
    let entries = store.transcript(&session.session_id).await.unwrap();
    let texts: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.entry {
            openclaw_protocol::TranscriptEntry::Message(m) => Some(m.message.text()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["one".to_owned(), "first answer".to_owned()], "nothing of the killed turn is stored");
    let runs: Vec<String> = sqlx_runs(&env).await;
    assert_eq!(runs, vec!["done".to_owned(), "running".to_owned()]);
    store.close().await;

    // The next start recovers the dead run and carries on with the intact history.
    server.push(openai::text("recovered"));
    let out = env.run(&["agent", "--local", "-m", "three"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sqlx_runs(&env).await, vec!["done".to_owned(), "interrupted".to_owned(), "done".to_owned()]);
    let contents = server.requests().last().unwrap().message_texts();
    assert_eq!(contents, vec!["one", "first answer", "three"]);
}

async fn sqlx_runs(env: &Env) -> Vec<String> {
    let url = format!("sqlite://{}", env.state.join("state/openclaw-rs.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT status FROM runs ORDER BY started_at, rowid").fetch_all(&pool).await.expect("runs");
    pool.close().await;
    rows
}

async fn expect_failure(env: &Env, args: &[&str], needles: &[&str]) {
    let out = env.run(args).await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "expected a failure for {args:?}; stdout: {}", text(&out.stdout));
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    }
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_non_zero_exit() {
    let env = Env::new();
    env.write_config("{\n  gateway: {\n    port: 18789,,\n  },\n}\n");
    expect_failure(&env, &["agent", "--local", "-m", "hi"], &["openclaw.json:3:", "syntax error"]).await;
    expect_failure(&env, &["config", "validate"], &["openclaw.json:3:"]).await;

    env.write_config(r#"{ gateway: { prot: 18789 } }"#);
    expect_failure(&env, &["config", "validate"], &["gateway.prot", "unknown key", "did you mean \"port\""]).await;

    env.write_config(r#"{ gateway: { port: "high" } }"#);
    expect_failure(&env, &["agent", "--local", "-m", "hi"], &["gateway.port", "invalid type"]).await;

    env.write_config(r#"{ agents: { defaults: { model: "mock/m1" } }, models: { providers: { mock: { baseUrl: "http://127.0.0.1:9/v1", apiKey: "${NOT_SET_KEY}" } } } }"#);
    expect_failure(&env, &["agent", "--local", "-m", "hi"], &["NOT_SET_KEY", "is not set", "export NOT_SET_KEY"]).await;

    // Unreachable: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.write_config(&format!(r#"{{ agents: {{ defaults: {{ model: "mock/m1" }} }}, models: {{ providers: {{ mock: {{ baseUrl: "http://127.0.0.1:{port}/v1" }} }} }} }}"#));
    expect_failure(&env, &["agent", "--local", "-m", "hi"], &["cannot connect", "baseUrl"]).await;
    expect_failure(&env, &["doctor"], &[]).await;

    let server = ScriptedServer::start().await;
    server.set_fallback(openai::error(401, "Incorrect API key provided", "invalid_request_error"));
    env.write_config(&format!(r#"{{ agents: {{ defaults: {{ model: "mock/m1" }} }}, models: {{ providers: {{ mock: {{ baseUrl: "{}/v1", apiKey: "${{MOCK_KEY}}" }} }} }} }}"#, server.url()));
    expect_failure(&env, &["agent", "--local", "-m", "hi"], &["HTTP 401", "Incorrect API key", "check the API key"])
        .await;
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");

    // No model at all.
    env.write_config("{}");
    expect_failure(&env, &["agent", "--local", "-m", "hi"], &["no model is configured", "openclaw setup"]).await;
    expect_failure(&env, &["agent", "--local"], &["no message"]).await;
    expect_failure(&env, &["agent", "--local", "-m", "hi", "--agent", "ghost"], &["no agent \"ghost\""]).await;
}

#[tokio::test]
async fn no_reply_is_silent_and_config_set_get_round_trip() {
    let env = Env::new();
    let server = ScriptedServer::start().await;
    env.setup(&server, "openai").await;
    server.push(openai::text("NO_REPLY"));
    let out = env.run(&["agent", "--local", "-m", "ok thanks"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "NO_REPLY", "the streamed text is shown as it arrives");
    assert!(text(&out.stderr).contains("chose not to reply"));

    let out = env.run(&["config", "set", "gateway.port", "19001"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = env.run(&["config", "get", "gateway.port"]).await;
    assert_eq!(text(&out.stdout).trim(), "19001");
    expect_failure(&env, &["config", "set", "gateway.port", "\"x\""], &["gateway.port"]).await;
    let out = env.run(&["agents", "add", "ops", "--name", "Ops"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = env.run(&["agents", "list"]).await;
    let listing = text(&out.stdout);
    assert!(listing.contains("main (default)") && listing.contains("ops"), "{listing}");
    let out = env.run(&["doctor"]).await;
    assert!(out.status.success(), "doctor: {}{}", text(&out.stdout), text(&out.stderr));
}

/// `openclaw onboard` with these answers, one per line.
async fn onboard(env: &Env, answers: &[&str]) -> std::process::Output {
    let mut command = env.command(&["onboard"]);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let input = answers.join("\n") + "\n";
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = command.spawn().expect("spawn");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("answer");
        child.wait_with_output().expect("wait")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn onboarding_a_webhook_writes_a_secret_and_the_reply_url() {
    let env = Env::new();
    let answers = [
        "custom",
        "mock",
        "http://127.0.0.1:9/v1",
        "",
        "MOCK_KEY",
        "m1",
        "",
        "webhook",
        "ftp://x",
        "https://example.com/replies",
        "",
    ];
    let out = onboard(&env, &answers).await;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    assert!(shown.contains("\"ftp://x\" is not an http(s) URL"), "{shown}");
    assert!(!shown.contains("Direct messages"), "a machine channel is not asked about DMs: {shown}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).unwrap()).unwrap();
    let webhook = &config["channels"]["webhook"];
    assert_eq!(
        (webhook["enabled"].clone(), webhook["url"].clone()),
        (json!(true), json!("https://example.com/replies"))
    );
    assert!(webhook["secret"].as_str().is_some_and(|secret| secret.len() == 64), "{config}");
}

/// WhatsApp's onboarding asks for the phone number id, the token and the app secret, each checked as typed, and
/// makes up the verify token (to enter in Meta's webhook settings): the block it writes builds.
#[tokio::test]
async fn onboarding_whatsapp_asks_for_its_ids_and_makes_the_verify_token() {
    let env = Env::new();
    let answers = [
        "custom",
        "mock",
        "http://127.0.0.1:9/v1",
        "",
        "MOCK_KEY",
        "m1",
        "",
        "whatsapp",
        "+15550001111",
        "106540352242922",
        "EAAGm0PX4ZCpsBAonboardtoken012345",
        "short",
        "0123456789abcdef0123456789abcdef",
        "",
        "",
    ];
    let out = onboard(&env, &answers).await;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    assert!(shown.contains("not a phone number id"), "{shown}");
    assert!(shown.contains("not an app secret"), "{shown}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).unwrap()).unwrap();
    let whatsapp = &config["channels"]["whatsapp"];
    assert_eq!(whatsapp["phoneNumberId"], "106540352242922", "{config}");
    assert_eq!(whatsapp["accessToken"], "EAAGm0PX4ZCpsBAonboardtoken012345", "{config}");
    assert_eq!(whatsapp["appSecret"], "0123456789abcdef0123456789abcdef", "{config}");
    assert!(whatsapp["verifyToken"].as_str().is_some_and(|token| token.len() == 64), "{config}");
    assert_eq!(whatsapp["dmPolicy"], "pairing", "{config}");
}

#[tokio::test]
async fn interactive_setup_reads_answers_from_the_prompt() {
    let env = Env::new();
    // Every answer is checked as it is typed; each wrong one is asked again.
    let answers = [
        "opnai",
        "custom",
        "openai",
        "mock", // provider: a typo, then a custom endpoint named like a built-in
        "",
        "not a url",
        "http://127.0.0.1:9/v1", // base URL: empty, malformed, good
        "",
        "lower_case",
        "MOCK_KEY",
        "",
        "m1", // API (default openai), key variable, model id
        "short",
        "", // gateway token: too short, then generated
        "telgram",
        "telegram",
        "nope",
        "123:ABC",
        "", // channel, its token, DM policy (default pairing)
        "maybe",
        "allowlist", // shell commands
    ];
    let out = onboard(&env, &answers).await;
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    // No provider key in the environment: the embedded local model is the suggestion, and it is a listed choice.
    assert!(shown.contains("Provider [local]:") && shown.contains("Providers: local"), "{shown}");
    for refusal in [
        "\"opnai\" is not a provider (did you mean openai?); choose one of openai, anthropic, local, ollama, custom",
        "openai is a built-in provider; pick another name",
        "the base URL is required",
        "\"not a url\" is not an http(s) URL",
        "\"lower_case\" is not an environment variable name",
        "the model id is required",
        "a gateway token needs 16 or more characters",
        "\"telgram\" is not a channel (did you mean telegram?)",
        "that is not a Telegram bot token",
        "\"maybe\" is not a mode",
    ] {
        assert!(shown.contains(refusal), "missing {refusal:?} in:\n{shown}");
    }
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(config["agents"]["defaults"]["model"]["primary"], "mock/m1");
    assert_eq!(config["models"]["providers"]["mock"]["baseUrl"], "http://127.0.0.1:9/v1");
    assert_eq!(config["channels"]["telegram"], json!({"enabled": true, "botToken": "123:ABC", "dmPolicy": "pairing"}));
    assert_eq!(config["tools"]["exec"]["security"], "allowlist");
    assert!(config["gateway"]["auth"]["token"].as_str().is_some_and(|token| token.len() >= 32), "{config}");
    // The hint follows the choices: the key is set (MOCK_KEY), a Telegram bot waits for its first message.
    assert!(shown.contains("Next: openclaw agent --local -m \"hello\"\n"), "{shown}");
    assert!(shown.contains("openclaw pairing approve telegram <CODE>"), "{shown}");
    assert!(shown.contains("shell commands: allowlist, sandboxed"), "{shown}");

    // Without the key in the environment, the hint says to export it first; a flag token that is too short is
    // refused before anything is written.
    let env = Env::new();
    let setup =
        ["setup", "--non-interactive", "--provider", "mock", "--base-url", "http://127.0.0.1:9/v1", "--model", "m1"];
    let out = env.run(&[&setup[..], &["--api-key-env", "NOT_SET_KEY"]].concat()).await;
    assert!(
        text(&out.stdout).contains("Next: export NOT_SET_KEY=<your key>, then openclaw agent --local"),
        "{}",
        text(&out.stdout)
    );
    let env = Env::new();
    // The flags get the checks the questions get.
    let bad_flags = ["setup", "--non-interactive", "--provider", "mock", "--base-url", "not a url", "--model", "m1"];
    expect_failure(&env, &bad_flags, &["--base-url: \"not a url\" is not an http(s) URL"]).await;
    let bad_key = [&setup[..], &["--api-key-env", "lower"]].concat();
    expect_failure(&env, &bad_key, &["--api-key-env: \"lower\" is not an environment variable name"]).await;
    expect_failure(&env, &[&setup[..], &["--gateway-token", "short"]].concat(), &["--gateway-token", "16 or more"])
        .await;
    assert!(!env.state.join("openclaw.json").exists());
    let out = env.run(&[&setup[..], &["--gateway-token", "a-long-enough-token-1"]].concat()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(config["gateway"]["auth"]["token"], "a-long-enough-token-1");

    // With stdin closed the wizard stops with a clear message instead of hanging.
    let env = Env::new();
    expect_failure(&env, &["setup"], &["stdin closed", "--non-interactive"]).await;
}

#[tokio::test]
async fn seed_agent_files_are_agents() {
    let env = Env::new();
    let server = ScriptedServer::start().await;
    env.setup(&server, "openai").await;
    std::fs::create_dir_all(env.state.join("agents")).unwrap();
    std::fs::write(
        env.state.join("agents/customer-support.json"),
        r#"{"id":"customer-support","name":"Customer Support Agent","model":"mock/m1","skills":["web_search"],
            "channels":["whatsapp","discord"],"personality":{"tone":"professional","expertise":["product_support"]}}"#,
    )
    .unwrap();
    let out = env.run(&["agents", "list", "--json"]).await;
    let agents: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(agents[1]["id"], "customer-support");
    assert_eq!(agents[1]["source"], "agents/customer-support.json");
    server.push(openai::text("How can I help with your account?"));
    let out = env.run(&["agent", "--local", "--agent", "customer-support", "-m", "Help me with my account"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let system = server.requests()[0].json()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(system.contains("You are Customer Support Agent") && system.contains("- Tone: professional"), "{system}");
    let out = env.run(&["sessions", "list", "--agent", "customer-support", "--json"]).await;
    let sessions: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sessions[0]["sessionKey"], "agent:customer-support:main");
}

/// `gateway install --no-start` writes a systemd user unit that runs this binary with the profile's state dir and
/// no secrets; a second install needs --force.
#[test]
fn gateway_install_writes_a_systemd_user_unit() {
    let home = tempfile::tempdir().unwrap();
    let install = |extra: &[&str]| {
        Command::new(BIN)
            .args(["--profile", "work", "gateway", "install", "--no-start", "--port", "18999"])
            .args(extra)
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("OPENCLAW_STATE_DIR")
            .env_remove("OPENCLAW_CONFIG_PATH")
            .env("OPENCLAW_GATEWAY_TOKEN", "never-in-the-unit")
            .output()
            .unwrap()
    };
    let first = install(&[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let unit_path = home.path().join(".config/systemd/user/openclaw-gateway-work.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    assert!(unit.contains(&format!("ExecStart={BIN} --profile work gateway run --port 18999")), "{unit}");
    assert!(unit.contains(&format!("OPENCLAW_STATE_DIR={}", home.path().join(".openclaw-work").display())), "{unit}");
    assert!(unit.contains("WantedBy=default.target") && unit.contains("KillSignal=SIGTERM"));
    assert!(!unit.contains("never-in-the-unit"), "secrets stay out of the unit");
    let again = install(&[]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("--force"), "{}", text(&again.stderr));
    assert!(install(&["--force"]).status.success());
}
