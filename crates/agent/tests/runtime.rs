//! The runtime against an in-memory store and a scripted model server: compaction, lanes, loop detection, policy.

use std::sync::Arc;
use std::time::Duration;

use openclaw_agent::{AgentEvent, AgentProfile, AgentRuntime, TurnRequest};
use openclaw_config::{CompactionConfig, Personality};
use openclaw_models::{Api, BreakerConfig, ModelInfo, ModelRef, ModelRouter, ProviderSettings, RetryPolicy};
use openclaw_protocol::TranscriptEntry;
use openclaw_store::{SqliteStore, Store};
use openclaw_testkit::{ScriptedServer, openai};
use openclaw_tools::{ToolPolicy, ToolRegistry};
use serde_json::json;

struct Fixture {
    _dir: tempfile::TempDir,
    server: ScriptedServer,
    store: Arc<SqliteStore>,
    runtime: Arc<AgentRuntime>,
    profile: AgentProfile,
}

async fn fixture(context_window: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server = ScriptedServer::start().await;
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let mut router =
        ModelRouter::new(RetryPolicy { max_retries: 0, ..RetryPolicy::default() }, BreakerConfig::default());
    router.add_provider(ProviderSettings {
        id: "mock".into(),
        api: Api::OpenAiCompletions,
        base_url: format!("{}/v1", server.url()),
        api_key: None,
        headers: Vec::new(),
        timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        max_tokens: None,
        models: vec![ModelInfo { id: "m1".into(), context_window: Some(context_window), ..ModelInfo::default() }],
    });
    let runtime =
        Arc::new(AgentRuntime::new(store.clone() as Arc<dyn Store>, Arc::new(router), ToolRegistry::builtin(), None));
    let profile = AgentProfile {
        id: "main".into(),
        name: Some("Claw".into()),
        workspace: dir.path().join("workspace"),
        models: vec![ModelRef::parse("mock/m1").unwrap()],
        personality: Some(Personality { tone: Some("professional".into()), expertise: vec!["support".into()] }),
        tools: ToolPolicy::default(),
        max_file_chars: 20_000,
        max_total_chars: 60_000,
        compaction: CompactionConfig {
            enabled: true,
            mode: "safeguard".into(),
            keep_recent_tokens: 50,
            reserve_tokens: 500,
        },
        timeout: None,
        main_key: "main".into(),
        skills: Default::default(),
        tool_settings: Default::default(),
    };
    Fixture { _dir: dir, server, store, runtime, profile }
}

fn turn(message: &str) -> TurnRequest {
    TurnRequest::new("agent:main:main", message)
}

#[tokio::test]
async fn compaction_summarises_old_history_and_keeps_tool_pairs_whole() {
    let fx = fixture(2600).await;
    let long = "word ".repeat(1500);
    fx.server.push(openai::tool_call("call_1", "memory_search", &json!({"query": "x"}), 5));
    fx.server.push(openai::text(&long));
    fx.server.push(openai::text("SUMMARY: the user searched memory."));
    fx.server.push(openai::text("second answer"));
    let mut events = Vec::new();
    let mut record = |event: &AgentEvent| events.push(event.clone());
    fx.runtime.run_turn(&fx.profile, turn("first question"), &mut record).await.unwrap();
    let outcome = fx.runtime.run_turn(&fx.profile, turn("second question"), &mut record).await.unwrap();
    assert_eq!(outcome.text, "second answer");
    assert!(events.iter().any(|e| matches!(e, AgentEvent::Compacted { .. })), "{events:?}");

    let requests = fx.server.requests();
    assert_eq!(requests.len(), 4);
    let summary_request = requests[2].json();
    assert!(summary_request.get("tools").is_none(), "the summary call offers no tools");
    let to_summarise = summary_request["messages"][1]["content"].as_str().unwrap();
    assert!(to_summarise.contains("[user] first question") && to_summarise.contains("[tool result]"));
    let after = requests[3].json();
    let messages = after["messages"].as_array().unwrap();
    assert!(messages[1]["content"].as_str().unwrap().contains("SUMMARY: the user searched memory."));
    assert_eq!(messages[2]["role"], "assistant", "the kept tail starts at the long answer");
    assert_eq!(messages[3]["content"], "second question");
    assert!(messages.iter().all(|m| m["role"] != "tool"), "the tool result went with its call into the summary");

    let session = fx.store.active_session("agent:main:main").await.unwrap().unwrap();
    assert_eq!(session.compaction_count, 1);
    let entries = fx.store.transcript(&session.session_id).await.unwrap();
    let compaction = entries.iter().find_map(|e| match &e.entry {
        TranscriptEntry::Compaction(c) => Some(c.clone()),
        _ => None,
    });
    let compaction = compaction.expect("a compaction entry");
    let kept = entries.iter().find(|e| e.entry.id() == compaction.first_kept_entry_id).expect("kept entry exists");
    match &kept.entry {
        TranscriptEntry::Message(m) => assert!(m.message.text().starts_with("word word")),
        other => panic!("first kept entry is {other:?}"),
    }
}

#[tokio::test]
async fn one_run_at_a_time_per_session() {
    let fx = fixture(128_000).await;
    fx.server.push(openai::text("slow first answer").paced(Duration::from_millis(60)));
    fx.server.push(openai::text("second"));
    let first = {
        let runtime = fx.runtime.clone();
        let profile = fx.profile.clone();
        tokio::spawn(async move { runtime.run_turn(&profile, turn("one"), &mut |_| {}).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let second = fx.runtime.run_turn(&fx.profile, turn("two"), &mut |_| {}).await.unwrap();
    first.await.unwrap().unwrap();
    assert_eq!(second.text, "second");
    let contents = fx.server.requests()[1].message_texts();
    assert_eq!(contents, vec!["one", "slow first answer", "two"], "the second turn waited for the first");
}

#[tokio::test]
async fn repeated_identical_calls_are_stopped_and_denied_tools_refused() {
    let fx = fixture(128_000).await;
    for _ in 0..3 {
        fx.server.push(openai::tool_call("c", "ls", &json!({"path": "."}), 50));
    }
    fx.server.push(openai::text("Here is what I found."));
    let outcome = fx.runtime.run_turn(&fx.profile, turn("list files"), &mut |_| {}).await.unwrap();
    assert_eq!(outcome.text, "Here is what I found.");
    let requests = fx.server.requests();
    assert!(requests[3].json().get("tools").is_none(), "tools are withdrawn after the loop");
    let third_result =
        requests[3].json()["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(third_result.contains("Loop detected"), "{third_result}");

    let mut denied = fx.profile.clone();
    denied.tools = ToolPolicy { deny: vec!["group:fs".into()], ..ToolPolicy::default() };
    fx.server.push(openai::tool_call("d", "read", &json!({"path": "AGENTS.md"}), 50));
    fx.server.push(openai::text("I may not read files."));
    let outcome = fx.runtime.run_turn(&denied, turn("read AGENTS.md"), &mut |_| {}).await.unwrap();
    assert_eq!(outcome.text, "I may not read files.");
    let requests = fx.server.requests();
    let offered: Vec<String> = requests[4].json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(!offered.contains(&"read".to_owned()) && offered.contains(&"memory_search".to_owned()), "{offered:?}");
    let result =
        requests[5].json()["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(result.contains("not allowed"), "{result}");
    let audit = fx.store.audit_events(50).await.unwrap();
    assert!(audit.iter().any(|r| r.event.outcome == "denied"));
    assert!(audit.iter().any(|r| r.event.outcome == "loop"));
    // A file tool's row names the path it was asked for (finding 11), not only digests.
    let denied_read = audit.iter().find(|r| r.event.outcome == "denied" && r.event.detail["tool"] == "read");
    assert_eq!(denied_read.map(|r| &r.event.detail["path"]), Some(&json!("AGENTS.md")), "{audit:?}");
}

#[tokio::test]
async fn persona_and_workspace_files_reach_the_system_prompt() {
    let fx = fixture(128_000).await;
    fx.server.push(openai::text("hi"));
    fx.runtime.run_turn(&fx.profile, turn("hello"), &mut |_| {}).await.unwrap();
    let system = fx.server.requests()[0].json()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(system.contains("You are Claw"));
    assert!(system.contains("- Tone: professional"));
    assert!(system.contains("## Workspace Files (injected)"));
    let memory_heading = format!("## {}", fx.profile.workspace.join("MEMORY.md").display());
    assert!(system.contains(&memory_heading), "the main session sees MEMORY.md");
    fx.server.push(openai::text("hi"));
    let other = TurnRequest::new("agent:main:telegram:direct:42", "hello");
    fx.runtime.run_turn(&fx.profile, other, &mut |_| {}).await.unwrap();
    let system = fx.server.requests()[1].json()["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(!system.contains(&memory_heading), "other sessions do not");
}
