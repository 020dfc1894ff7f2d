//! What a newcomer types in the first hour (issue 19), through the binary: `status`, `health`, `dashboard`,
//! `version`, `completion`, `man`, a mistyped command, `gateway call --help`, `config get` of a default, and
//! `logs` with and without a gateway.

use openclaw_testkit::{ScriptedServer, openai};
use serde_json::Value;

mod common;

use common::{Env, GatewayProcess, free_port, text};

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", text(&output.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_health_and_dashboard_with_and_without_a_gateway() {
    let env = Env::new();
    // Before setup: status explains what is missing and how to fix it, and still succeeds.
    let fresh = env.run(&["status"]).await;
    assert!(fresh.status.success(), "{}", text(&fresh.stderr));
    let said = text(&fresh.stdout);
    assert!(said.contains("not written yet") && said.contains("openclaw setup"), "{said}");
    assert!(said.contains("not running") && said.contains("openclaw gateway run"), "{said}");

    let model = ScriptedServer::start().await;
    env.setup(&model, "openai").await;
    let token = env.gateway_token();
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let on = |args: &[&str]| {
        let mut command = env.command(args);
        command.env("OPENCLAW_GATEWAY_URL", &url);
        command
    };
    let down = on(&["dashboard", "--json"]).output().unwrap();
    assert!(!down.status.success());
    assert_eq!(stdout_json(&down)["ok"], false);

    let _gateway = GatewayProcess::start(&env, port).await;
    let status = on(&["status", "--json"]).output().unwrap();
    assert!(status.status.success(), "{}", text(&status.stderr));
    let report = stdout_json(&status);
    assert_eq!(report["gateway"]["running"], true, "{report}");
    assert_eq!(report["agents"][0]["id"], "main");
    assert_eq!(report["agents"][0]["model"], "mock/m1");
    let plain = text(&on(&["status"]).output().unwrap().stdout);
    assert!(plain.contains("Gateway:   running at") && plain.contains("main (default): mock/m1"), "{plain}");

    // `health` is `gateway health`.
    let health = on(&["health", "--json"]).output().unwrap();
    assert!(health.status.success(), "{}", text(&health.stderr));
    let via_gateway = on(&["gateway", "health", "--json"]).output().unwrap();
    let (a, b) = (stdout_json(&health), stdout_json(&via_gateway));
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["ok"], b["ok"]);
    assert_eq!(a["agents"][0]["agentId"], "main");

    // `dashboard` prints the address with the token in the fragment; --json for scripts; --no-open opens nothing.
    let dashboard = on(&["dashboard", "--json"]).output().unwrap();
    assert!(dashboard.status.success(), "{}", text(&dashboard.stderr));
    let answer = stdout_json(&dashboard);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["tokenIncluded"], true);
    assert!(answer["url"].as_str().unwrap().ends_with(&format!("/#token={token}")), "{answer}");
    let printed = on(&["dashboard", "--no-open"]).output().unwrap();
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    assert!(text(&printed.stdout).contains(&format!("#token={token}")), "{}", text(&printed.stdout));

    // logs through the gateway; an unknown agent is refused with the known ones.
    let logs = on(&["logs", "--limit", "50"]).output().unwrap();
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    assert!(text(&logs.stdout).contains("Gateway ready. address=127.0.0.1"), "{}", text(&logs.stdout));
    let unknown = on(&["logs", "--agent", "nobody", "--follow"]).output().unwrap();
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("known agents: main"), "{}", text(&unknown.stderr));
}

#[tokio::test]
async fn logs_read_the_files_when_no_gateway_runs() {
    let env = Env::new();
    let logs = env.state.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let record = r#"{"timestamp":"2026-12-07T10:00:00Z","level":"INFO","message":"Hook agent run admitted.","run_id":"hook:1","agent":"ops","target":"openclaw_gateway"}"#;
    std::fs::write(logs.join("openclaw.2026-12-07.log"), format!("{record}\n")).unwrap();
    env.write_config(r#"{"agents": {"entries": {"ops": {}}}}"#);
    let port = free_port();
    let output = env
        .command(&["logs", "--agent", "ops"])
        .env("OPENCLAW_GATEWAY_URL", format!("ws://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("reading the log files"), "{}", text(&output.stderr));
    let line = text(&output.stdout);
    assert!(line.contains("info Hook agent run admitted. "), "{line}");
    assert!(line.contains(" run_id=hook:1") && line.contains(" agent=ops"), "fields in plain form: {line}");
}

#[tokio::test]
async fn version_completion_man_and_typos() {
    let env = Env::new();
    let version = env!("CARGO_PKG_VERSION");
    for args in [&["version"][..], &["--version"]] {
        let out = env.run(args).await;
        assert!(out.status.success() && text(&out.stdout).contains(version), "{args:?}: {}", text(&out.stdout));
    }
    let json = env.run(&["version", "--json"]).await;
    assert_eq!(stdout_json(&json)["version"], version);

    let bash = env.run(&["completion", "bash"]).await;
    assert!(bash.status.success() && text(&bash.stdout).contains("_openclaw()"), "{}", text(&bash.stderr));
    assert!(text(&bash.stdout).contains("dashboard"), "subcommands complete");
    let zsh = env.run(&["completion", "--shell", "zsh"]).await;
    assert!(text(&zsh.stdout).starts_with("#compdef openclaw"), "{}", text(&zsh.stdout));
    let cached = env.run(&["completion", "--write-state"]).await;
    assert!(cached.status.success(), "{}", text(&cached.stderr));
    let written = std::fs::read_dir(env.state.join("completions")).unwrap().count();
    assert_eq!(written, 4, "bash, zsh, fish and powershell");
    let bad = env.run(&["completion", "tcsh"]).await;
    assert!(!bad.status.success() && text(&bad.stderr).contains("possible values"), "{}", text(&bad.stderr));

    let man = env.run(&["man"]).await;
    assert!(man.status.success() && text(&man.stdout).contains(".TH openclaw 1"), "{}", text(&man.stdout));
    let run = env.run(&["man", "gateway", "run"]).await;
    assert!(text(&run.stdout).contains("openclaw\\-gateway\\-run"), "{}", text(&run.stdout));
    let unknown = env.run(&["man", "gateway", "fly"]).await;
    assert!(!unknown.status.success() && text(&unknown.stderr).contains("known: run"), "{}", text(&unknown.stderr));
    let dir = env.state.parent().unwrap().join("man1");
    let pages = env.run(&["man", "--dir", dir.to_str().unwrap()]).await;
    assert!(pages.status.success(), "{}", text(&pages.stderr));
    assert!(dir.join("openclaw.1").is_file() && dir.join("openclaw-gateway-run.1").is_file());

    // A mistyped command names the right one.
    let typo = env.run(&["stauts"]).await;
    assert!(!typo.status.success() && text(&typo.stderr).contains("'status'"), "{}", text(&typo.stderr));
    let typo = env.run(&["dashbord"]).await;
    assert!(text(&typo.stderr).contains("'dashboard'"), "{}", text(&typo.stderr));

    // gateway call --help lists the methods, with examples.
    let help = env.run(&["gateway", "call", "--help"]).await;
    let help = text(&help.stdout);
    assert!(help.contains("chat.history") && help.contains("sessions.list") && help.contains("Examples:"), "{help}");

    // config get shows the default of what the file does not set.
    let port = env.run(&["config", "get", "gateway.port"]).await;
    assert!(port.status.success() && text(&port.stdout).trim() == "18789", "{}", text(&port.stderr));
    let unset = env.run(&["config", "get", "gateway.nothing"]).await;
    assert!(!unset.status.success() && text(&unset.stderr).contains("no default"), "{}", text(&unset.stderr));
}

/// The seed's deployment commands: `agent deploy --config agent-config.json` installs the seed's agent JSON where
/// agent files live and a running gateway picks it up; `agent deploy <id> --channel <c>` routes a channel to it;
/// what does not exist is refused or warned about, and a bad file changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_deploy_installs_the_seeds_agent_and_a_running_gateway_picks_it_up() {
    let env = Env::new();
    let model = ScriptedServer::start().await;
    env.setup(&model, "openai").await;
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let on = |args: &[&str]| {
        let mut command = env.command(args);
        command.env("OPENCLAW_GATEWAY_URL", &url);
        command.output().unwrap()
    };
    let _gateway = GatewayProcess::start(&env, port).await;
    let file = env.state.parent().unwrap().join("agent-config.json");
    std::fs::write(
        &file,
        r#"{"id": "customer-support", "name": "Customer Support Agent", "model": "mock/m1",
            "skills": ["web_search", "knowledge_base", "escalation"], "channels": ["whatsapp", "discord"],
            "personality": {"tone": "professional", "expertise": ["product_support"]}}"#,
    )
    .unwrap();
    let deployed = on(&["agent", "deploy", "--config", file.to_str().unwrap()]);
    assert!(deployed.status.success(), "{}", text(&deployed.stderr));
    assert!(env.state.join("agents/customer-support.json").is_file());
    assert!(text(&deployed.stderr).contains("channel whatsapp is not set up yet"), "{}", text(&deployed.stderr));

    // What the file names and this installation lacks: warnings from `config validate` and `doctor`.
    let validate = on(&["config", "validate"]);
    assert!(validate.status.success(), "{}", text(&validate.stderr));
    for needle in [
        "lists skill \"web_search\", which is not installed",
        "answers on discord, which is not set up yet (fix: openclaw channels login discord)",
    ] {
        assert!(text(&validate.stderr).contains(needle), "{needle}: {}", text(&validate.stderr));
    }
    let doctor = on(&["doctor"]);
    assert!(
        text(&doctor.stdout).contains("warn  agent customer-support lists skill \"escalation\""),
        "{}",
        text(&doctor.stdout)
    );

    // The running gateway lists the new agent without a restart.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let listed = on(&["gateway", "call", "agents.list", "--json"]);
        if text(&listed.stdout).contains("customer-support") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway did not pick up the agent file: {}",
            text(&listed.stdout)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // A channel binding, once; an unknown channel and an unknown agent are refused with what exists.
    for _ in 0..2 {
        let bound = on(&["agent", "deploy", "customer-support", "--channel", "webhook"]);
        assert!(bound.status.success(), "{}", text(&bound.stderr));
        assert!(text(&bound.stderr).contains("openclaw channels login webhook"), "{}", text(&bound.stderr));
    }
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(
        config["bindings"],
        serde_json::json!([{"agentId": "customer-support", "match": {"channel": "webhook"}}])
    );
    let unknown = on(&["agent", "deploy", "customer-support", "--channel", "signal"]);
    assert!(
        !unknown.status.success() && text(&unknown.stderr).contains("this build has: telegram"),
        "{}",
        text(&unknown.stderr)
    );
    let nobody = on(&["agent", "deploy", "nobody", "--channel", "webhook"]);
    assert!(!nobody.status.success() && text(&nobody.stderr).contains("known agents: main, customer-support"));

    // A file with an id that is a path, or one that does not validate, installs nothing and keeps what was there.
    std::fs::write(&file, r#"{"id": "../../escaped", "model": "mock/m1"}"#).unwrap();
    let escaped = on(&["agent", "deploy", "--config", file.to_str().unwrap()]);
    assert!(
        !escaped.status.success() && text(&escaped.stderr).contains("invalid agent id"),
        "{}",
        text(&escaped.stderr)
    );
    assert!(!env.state.parent().unwrap().join("escaped.json").exists());
    let before = std::fs::read(env.state.join("agents/customer-support.json")).unwrap();
    std::fs::write(&file, r#"{"id": "customer-support", "model": 42}"#).unwrap();
    let invalid = on(&["agent", "deploy", "--config", file.to_str().unwrap()]);
    assert!(
        !invalid.status.success() && text(&invalid.stderr).contains("was not installed"),
        "{}",
        text(&invalid.stderr)
    );
    assert_eq!(
        std::fs::read(env.state.join("agents/customer-support.json")).unwrap(),
        before,
        "the previous file stays"
    );

    // Its logs: the seed's `openclaw logs --agent customer-support`.
    let logs = on(&["logs", "--agent", "customer-support", "--limit", "20"]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
}

/// `agent --new` and `agent -m /new` start a new session window, as `/new` does in a chat, in-process and
/// through the gateway; the earlier window stays listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_from_the_cli() {
    let env = Env::new();
    let model = ScriptedServer::start().await;
    env.setup(&model, "openai").await;
    let windows = || async {
        let listed = env.run(&["sessions", "list", "--all", "--json"]).await;
        let sessions: Value = serde_json::from_slice(&listed.stdout).unwrap_or(Value::Null);
        sessions.as_array().map_or(0, |all| all.iter().filter(|s| s["sessionKey"] == "agent:main:main").count())
    };
    model.push(openai::text("first"));
    let first = env.run(&["agent", "--local", "-m", "hello"]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let reset = env.run(&["agent", "--local", "-m", "/new"]).await;
    assert!(reset.status.success() && text(&reset.stderr).contains("Started a new session for agent:main:main"));
    assert_eq!(model.requests().len(), 1, "/new alone runs no turn");
    model.push(openai::text("second"));
    let second = env.run(&["agent", "--local", "--new", "-m", "hello again"]).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    // The second turn's request carries no history of the first.
    let request = model.requests()[1].json();
    assert!(!request.to_string().contains("first"), "a fresh window: {request}");
    assert!(windows().await >= 2, "the earlier window stays listed");

    // Through the gateway: `--new` alone resets the session there.
    let port = free_port();
    let _gateway = GatewayProcess::start(&env, port).await;
    let via = env
        .command(&["agent", "--new"])
        .env("OPENCLAW_GATEWAY_URL", format!("ws://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(via.status.success(), "{}", text(&via.stderr));
    assert!(text(&via.stderr).contains("Started a new session"), "{}", text(&via.stderr));
}

/// The default CLI session (`agent:main:main`, which every `openclaw agent` without a key joins) does not grow
/// without bound: past the model's context window the older turns are summarised and only a recent tail is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_cli_session_stays_within_the_context_window() {
    let model = ScriptedServer::start().await;
    model.set_responder(std::sync::Arc::new(|request: &openclaw_testkit::Recorded| {
        // The summary call offers no tools; every turn of the agent does.
        if request.json().get("tools").is_none() {
            return openai::text("SUMMARY: the user asked a series of numbered questions.");
        }
        openai::text(&format!("answer {}", "lorem ipsum ".repeat(150)))
    }));
    let env = Env::new();
    env.setup(&model, "openai").await;
    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
    const WINDOW: u64 = 12_000;
    config["models"]["providers"]["mock"]["models"][0]["contextWindow"] = WINDOW.into();
    config["agents"]["defaults"]["compaction"] = serde_json::json!({"reserveTokens": 1000, "keepRecentTokens": 1500});
    std::fs::write(&path, config.to_string()).expect("write config");

    let filler = "please consider this detail carefully ".repeat(40);
    for turn in 0..14 {
        let message = format!("question {turn}: {filler}");
        let out = env.run(&["agent", "--local", "-m", &message]).await;
        assert!(out.status.success(), "turn {turn}: {}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("answer "), "turn {turn}: {}", text(&out.stdout));
    }
    let turns: Vec<_> = model.requests().into_iter().filter(|r| r.json().get("tools").is_some()).collect();
    let summaries = model.requests().len() - turns.len();
    assert!(summaries >= 1, "the history was never summarised");
    // Every prompt fits the window (4 characters a token, as the runtime estimates), and the last one carries the
    // summary and a short tail, not all fourteen questions.
    let largest = turns.iter().map(|r| r.body.len() as u64 / 4).max().unwrap_or(0);
    assert!(largest < WINDOW, "a prompt of ~{largest} tokens for a {WINDOW}-token window");
    let last = turns.last().expect("turns").message_texts().join("\n");
    assert!(last.contains("SUMMARY:") && last.contains("question 13") && !last.contains("question 1:"), "{last}");
    let store = env.store().await;
    let session =
        openclaw_store::Store::active_session(&store, "agent:main:main").await.expect("read").expect("session");
    assert!(session.compaction_count >= 1, "{session:?}");
}

/// A `node` that has a WebSocket client (node 22+, or 20 with `--experimental-websocket`): the program and its flags.
fn node_with_websocket() -> Option<Vec<String>> {
    let probe = "process.exit(typeof WebSocket === 'function' ? 0 : 1)";
    [vec![], vec!["--experimental-websocket".to_owned()]].into_iter().find_map(|flags| {
        let ok = std::process::Command::new("node")
            .args(&flags)
            .args(["-e", probe])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        ok.then(|| [vec!["node".to_owned()], flags].concat())
    })
}

/// The page `openclaw dashboard` opens: served on the gateway's own origin with headers that forbid framing and
/// foreign scripts, and its script, run as a browser runs it (node, a minimal DOM), connects with the token from
/// the fragment, shows the agents and channels, and talks to an agent. With a wrong token it asks for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_connects_and_talks_to_an_agent() {
    let model = ScriptedServer::start().await;
    model.set_responder(std::sync::Arc::new(|_: &openclaw_testkit::Recorded| openai::text("hello from the dashboard")));
    let env = Env::new();
    env.setup(&model, "openai").await;
    let port = free_port();
    let _gateway = GatewayProcess::start(&env, port).await;
    let origin = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let page = client.get(format!("{origin}/")).header("accept", "text/html").send().await.expect("page");
    assert_eq!(page.status(), 200);
    let csp =
        page.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers().get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    let html = page.text().await.expect("html");
    assert!(html.contains("<script src=\"/ui/dashboard.js\"") && !html.contains(&env.gateway_token()), "{html}");
    for (path, kind) in [("/ui/dashboard.js", "text/javascript"), ("/ui/dashboard.css", "text/css")] {
        let asset = client.get(format!("{origin}{path}")).send().await.expect("asset");
        let content_type = asset.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(asset.status() == 200 && content_type.starts_with(kind), "{path}: {} {content_type}", asset.status());
    }
    // A WebSocket client on `/` still gets the protocol, and a rebound name still gets nothing.
    let rebound = client.get(format!("{origin}/")).header("host", "evil.example").header("accept", "text/html");
    assert_eq!(rebound.send().await.expect("rebound").status(), 421);

    let Some(node) = node_with_websocket() else {
        openclaw_testkit::counterpart_missing(
            "node with a WebSocket client (22+, or 20 with --experimental-websocket)",
            "apt-get install nodejs (.ci/run installs it)",
        );
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/gateway/ui/dashboard.js");
    let runner = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/dashboard_run.mjs");
    let run = |token: String, message: &'static str| {
        let node = node.clone();
        let origin = origin.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(&node[0])
                .args(&node[1..])
                .args([runner, script, &origin, &token, message])
                .output()
                .expect("run node");
            serde_json::from_slice::<Value>(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)))
        })
    };
    let shown = run(env.gateway_token(), "hi from the page").await.expect("join");
    assert!(shown["state"].as_str().is_some_and(|s| s.starts_with("connected")), "{shown}");
    assert_eq!(shown["tokenLeftInUrl"], false, "the token is taken out of the address bar: {shown}");
    assert_eq!(shown["agents"], serde_json::json!(["main (default)"]), "{shown}");
    assert_eq!(shown["answer"], "hello from the dashboard", "{shown}");
    assert!(shown["sessions"].as_array().is_some_and(|s| s.iter().any(|k| k == "agent:main:main")), "{shown}");

    let refused = run("not-the-token-at-all".to_owned(), "").await.expect("join");
    assert_eq!(refused["login"], true, "{refused}");
    assert!(refused["state"].as_str().is_some_and(|s| s.starts_with("not connected")), "{refused}");
}
