//! System prompt assembly: fixed sections, the persona, tools, runtime facts, and the workspace files within
//! per-file and total character budgets (`bootstrapMaxChars`, `bootstrapTotalMaxChars`).

use std::fmt::Write;

use openclaw_config::Personality;
use openclaw_protocol::ToolSpec;

use crate::workspace::WorkspaceFile;

/// Everything the prompt is built from (pure data: no IO here).
#[derive(Debug, Clone)]
pub struct PromptInput<'a> {
    pub agent_id: &'a str,
    pub agent_name: Option<&'a str>,
    pub session_key: &'a str,
    pub model: &'a str,
    pub workspace: &'a str,
    pub now: &'a str,
    pub personality: Option<&'a Personality>,
    pub tools: &'a [ToolSpec],
    /// The `## Skills` section (empty when the agent has none).
    pub skills: &'a str,
    pub files: &'a [WorkspaceFile],
    pub max_file_chars: usize,
    pub max_total_chars: usize,
}

/// The marker placed where a file was cut.
pub const TRUNCATION_MARKER: &str =
    "[… truncated: the file is longer than the prompt budget; read it with the read tool …]";

/// Cuts `text` to at most `max` characters, keeping the head (70%) and the tail (20%).
pub fn truncate_middle(text: &str, max: usize) -> String {
    let chars = text.chars().count();
    if chars <= max {
        return text.to_owned();
    }
    let head = max * 7 / 10;
    let tail = max * 2 / 10;
    let head_text: String = text.chars().take(head).collect();
    let tail_text: String = text.chars().skip(chars - tail).collect();
    format!("{head_text}\n{TRUNCATION_MARKER}\n{tail_text}")
}

/// Builds the system prompt.
pub fn build_system_prompt(input: &PromptInput<'_>) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let who = input.agent_name.unwrap_or("a personal assistant");
    let _ = writeln!(out, "You are {who}, running inside OpenClaw (agent `{}`).", input.agent_id);
    out.push('\n');
    if let Some(personality) = input.personality {
        out.push_str("## Persona\n");
        if let Some(tone) = &personality.tone {
            let _ = writeln!(out, "- Tone: {tone}");
        }
        if !personality.expertise.is_empty() {
            let _ = writeln!(out, "- Expertise: {}", personality.expertise.join(", "));
        }
        out.push('\n');
    }
    if !input.tools.is_empty() {
        out.push_str("## Tooling\nTools you can call directly:\n");
        for tool in input.tools {
            let _ = writeln!(out, "- {}: {}", tool.name, tool.description);
        }
        out.push_str("\n## Tool Call Style\nCall a tool when it gives a better answer than guessing. Do not narrate routine tool calls. Never repeat the same call with the same arguments.\n\n");
    }
    out.push_str(input.skills);
    out.push_str(
        "## Safety\nDo not reveal secrets or credentials. Ask before destructive or irreversible actions.\n\n",
    );
    out.push_str("## Memory Recall\nBefore answering questions about earlier conversations, people, preferences or decisions, search memory (memory_search) and read the relevant lines (memory_get).\n\n");
    out.push_str(
        "## Silent Replies\nWhen a message needs no answer, reply with exactly `NO_REPLY` and nothing else.\n\n",
    );
    let _ = writeln!(out, "## Workspace\nYour workspace is {}. Paths you use are relative to it.\n", input.workspace);
    push_files(&mut out, input);
    let _ = writeln!(
        out,
        "## Runtime\nagent={} | session={} | model={} | time={}",
        input.agent_id, input.session_key, input.model, input.now
    );
    out
}

fn push_files(out: &mut String, input: &PromptInput<'_>) {
    if input.files.is_empty() {
        return;
    }
    out.push_str("## Workspace Files (injected)\n# Project Context\n");
    out.push_str("The files below are the agent's workspace bootstrap files, injected as they are on disk.\n\n");
    let mut budget = input.max_total_chars;
    for file in input.files {
        let _ = writeln!(out, "## {}", file.path.display());
        let body = match &file.content {
            None => format!("[missing file: {} does not exist in the workspace]", file.name),
            Some(content) => {
                let limit = input.max_file_chars.min(budget);
                if limit == 0 {
                    format!(
                        "[omitted: the total budget of {} characters for workspace files is used up]",
                        input.max_total_chars
                    )
                } else {
                    let cut = truncate_middle(content, limit);
                    budget = budget.saturating_sub(cut.chars().count().min(limit));
                    cut
                }
            }
        };
        out.push_str(&body);
        if !body.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(name: &str, content: Option<&str>) -> WorkspaceFile {
        WorkspaceFile {
            name: name.into(),
            path: PathBuf::from(format!("/ws/{name}")),
            content: content.map(str::to_owned),
        }
    }

    fn input<'a>(files: &'a [WorkspaceFile], per_file: usize, total: usize) -> PromptInput<'a> {
        PromptInput {
            agent_id: "main",
            agent_name: None,
            session_key: "agent:main:main",
            model: "mock/m1",
            workspace: "/ws",
            now: "2026-11-21 06:00 UTC",
            personality: None,
            tools: &[],
            skills: "",
            files,
            max_file_chars: per_file,
            max_total_chars: total,
        }
    }

    #[test]
    fn files_are_injected_with_budgets_and_markers() {
        let big = "x".repeat(1000);
        let files = vec![file("AGENTS.md", Some(&big)), file("SOUL.md", None), file("USER.md", Some("hello"))];
        let prompt = build_system_prompt(&input(&files, 100, 105));
        assert!(prompt.contains("## /ws/AGENTS.md"));
        assert!(prompt.contains(TRUNCATION_MARKER));
        assert!(prompt.contains("[missing file: SOUL.md"));
        // 100 of the 105 characters went to AGENTS.md, so USER.md gets at most 5.
        assert!(prompt.contains("## /ws/USER.md\nhello"));
        let prompt = build_system_prompt(&input(&files, 100, 100));
        assert!(prompt.contains("[omitted: the total budget"));
    }

    #[test]
    fn truncation_keeps_head_and_tail() {
        let text: String = (0..100).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let cut = truncate_middle(&text, 50);
        assert!(cut.starts_with(&text[..35]));
        assert!(cut.ends_with(&text[90..]));
        assert_eq!(truncate_middle("short", 50), "short");
    }
}
