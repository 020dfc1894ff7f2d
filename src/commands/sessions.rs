//! `openclaw sessions list|show`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use openclaw_protocol::{AgentMessage, AssistantPart, TranscriptEntry};
use openclaw_store::Store;
use serde_json::json;

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, most recent first.
    List {
        /// Only this agent's sessions (default: every agent's).
        #[arg(long)]
        agent: Option<String>,
        /// Include ended session windows.
        #[arg(long)]
        all: bool,
        /// How many sessions at most, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a session's transcript (by session key or session id).
    Show {
        /// The session key (agent:main:main) or its session id.
        key: String,
        /// Print the raw transcript entries as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

fn time(ms: i64) -> String {
    openclaw_protocol::iso_from_ms(ms)
}

pub async fn run(ctx: &Ctx, command: SessionsCommand) -> anyhow::Result<ExitCode> {
    let paths = ctx.paths()?;
    let store = ctx.store(&paths).await?;
    match command {
        SessionsCommand::List { agent, all, limit, json } => {
            let sessions = store.list_sessions(agent.as_deref(), !all, limit).await?;
            if json {
                let list: Vec<_> = sessions
                    .iter()
                    .map(|s| json!({"sessionKey": s.session_key, "sessionId": s.session_id, "agentId": s.agent_id, "status": s.status,
                                    "model": s.model, "modelProvider": s.model_provider, "entries": s.entry_count,
                                    "totalTokens": s.total_tokens, "costUsd": s.cost_usd, "updatedAt": s.updated_at}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if sessions.is_empty() {
                println!("No sessions yet. Start one with: openclaw agent --local -m \"hello\"");
            } else {
                for s in sessions {
                    println!(
                        "{}\t{}\t{}\t{} entries\t{} tokens\t{}",
                        s.session_key,
                        s.session_id,
                        s.status,
                        s.entry_count,
                        s.total_tokens,
                        time(s.updated_at)
                    );
                }
            }
        }
        SessionsCommand::Show { key, json } => {
            let session = match store.active_session(&key).await? {
                Some(session) => Some(session),
                None => match store.session(&key).await? {
                    Some(session) => Some(session),
                    None => store.list_sessions(None, false, 1000).await?.into_iter().find(|s| s.session_key == key),
                },
            };
            let Some(session) = session else {
                bail!("no session {key:?} (list them with `openclaw sessions list --all`)");
            };
            let entries = store.transcript(&session.session_id).await?;
            if json {
                for stored in entries {
                    println!("{}", serde_json::to_string(&stored.entry)?);
                }
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "session {} ({})  id {}  {} entries",
                session.session_key,
                session.status,
                session.session_id,
                entries.len()
            );
            for stored in entries {
                match stored.entry {
                    TranscriptEntry::Session(header) => {
                        println!("-- session started {} in {}", header.timestamp, header.cwd)
                    }
                    TranscriptEntry::ModelChange(change) => {
                        println!("-- model {}/{}", change.provider, change.model_id)
                    }
                    TranscriptEntry::Compaction(c) => {
                        println!("-- compacted ({} tokens): {}", c.tokens_before, c.summary)
                    }
                    TranscriptEntry::Message(entry) => match entry.message {
                        AgentMessage::User(user) => println!("user: {}", user.content.text()),
                        AgentMessage::Assistant(assistant) => {
                            for part in &assistant.content {
                                match part {
                                    AssistantPart::Text { text } => println!("assistant: {text}"),
                                    AssistantPart::Thinking { thinking, .. } => {
                                        println!("assistant (thinking): {thinking}")
                                    }
                                    AssistantPart::ToolCall(call) => {
                                        println!("assistant → {}({})", call.name, call.arguments)
                                    }
                                }
                            }
                            if let Some(error) = assistant.error_message {
                                println!("assistant (error): {error}");
                            }
                        }
                        AgentMessage::ToolResult(result) => {
                            let flag = if result.is_error { " (error)" } else { "" };
                            println!("tool {}{flag}: {}", result.tool_name, result.text());
                        }
                    },
                }
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
