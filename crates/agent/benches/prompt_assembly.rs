//! Prompt assembly: building the system prompt from a realistic workspace (seven files, ~34 KB, one over budget)
//! and assembling the model context from a 200-entry transcript.

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use openclaw_agent::{PromptInput, WorkspaceFile, active_branch, build_system_prompt, context_messages};
use openclaw_protocol::{AgentMessage, ToolSpec, TranscriptEntry};

fn workspace_files() -> Vec<WorkspaceFile> {
    let sizes = [
        ("AGENTS.md", 6_300),
        ("SOUL.md", 1_800),
        ("TOOLS.md", 2_500),
        ("IDENTITY.md", 300),
        ("USER.md", 900),
        ("MEMORY.md", 23_000),
    ];
    sizes
        .iter()
        .map(|(name, size)| WorkspaceFile {
            name: (*name).to_owned(),
            path: PathBuf::from(format!("/home/user/.openclaw/workspace/{name}")),
            content: Some("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n".repeat(size / 57 + 1)),
        })
        .collect()
}

fn bench_prompt(c: &mut Criterion) {
    let files = workspace_files();
    let tools: Vec<ToolSpec> = ["read", "ls", "memory_search", "memory_get"]
        .iter()
        .map(|name| ToolSpec {
            name: (*name).to_owned(),
            description: "A tool.".to_owned(),
            parameters: serde_json::json!({"type": "object"}),
        })
        .collect();
    c.bench_function("build_system_prompt (6 files, 35 KB)", |b| {
        b.iter(|| {
            build_system_prompt(&PromptInput {
                agent_id: "main",
                agent_name: Some("Claw"),
                session_key: "agent:main:main",
                model: "openai/gpt-4o-mini",
                workspace: "/home/user/.openclaw/workspace",
                now: "2026-11-21T06:00:00.000Z",
                personality: None,
                tools: &tools,
                skills: "",
                files: &files,
                max_file_chars: 20_000,
                max_total_chars: 60_000,
            })
        })
    });
    let mut entries = Vec::new();
    let mut parent: Option<String> = None;
    for idx in 0..200 {
        let entry = TranscriptEntry::message(
            parent.clone(),
            AgentMessage::user_text(format!("message number {idx} with some text")),
        );
        parent = Some(entry.id().to_owned());
        entries.push(entry);
    }
    let leaf = parent.unwrap_or_default();
    c.bench_function("context from 200-entry transcript", |b| {
        b.iter(|| context_messages(&active_branch(&entries, Some(&leaf))).len())
    });
}

criterion_group!(benches, bench_prompt);
criterion_main!(benches);
