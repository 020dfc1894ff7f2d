//! The model's view of a session: the active branch of the transcript (root → leaf), with the latest compaction
//! applied (its summary, then the entries from `firstKeptEntryId` on), and compaction planning.

use std::collections::HashMap;

use openclaw_protocol::{AgentMessage, StopReason, TranscriptEntry};

/// A message with the id of the entry that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextMessage {
    pub entry_id: String,
    pub message: AgentMessage,
}

/// The text the model sees in place of compacted history.
pub fn summary_message(summary: &str) -> AgentMessage {
    AgentMessage::user_text(format!("[Summary of the earlier conversation, written when it was compacted]\n{summary}"))
}

/// The entries on the path from the root to `leaf` (all entries in order when there is no leaf).
pub fn active_branch<'a>(entries: &'a [TranscriptEntry], leaf: Option<&str>) -> Vec<&'a TranscriptEntry> {
    let Some(leaf) = leaf else {
        return entries.iter().collect();
    };
    let by_id: HashMap<&str, &TranscriptEntry> = entries.iter().map(|entry| (entry.id(), entry)).collect();
    let mut path = Vec::new();
    let mut cursor = by_id.get(leaf).copied();
    while let Some(entry) = cursor {
        path.push(entry);
        if path.len() > entries.len() {
            break; // A cycle in imported data: stop rather than loop.
        }
        cursor = entry.parent_id().and_then(|parent| by_id.get(parent).copied());
    }
    path.reverse();
    path
}

/// The messages to send for a branch, with the latest compaction applied.
pub fn context_messages(branch: &[&TranscriptEntry]) -> Vec<ContextMessage> {
    let last_compaction = branch.iter().enumerate().rev().find_map(|(idx, entry)| match entry {
        TranscriptEntry::Compaction(compaction) => Some((idx, compaction)),
        _ => None,
    });
    let mut out = Vec::new();
    let start = match last_compaction {
        Some((idx, compaction)) => {
            out.push(ContextMessage {
                entry_id: compaction.header.id.clone(),
                message: summary_message(&compaction.summary),
            });
            branch.iter().position(|entry| entry.id() == compaction.first_kept_entry_id).unwrap_or(idx + 1)
        }
        None => 0,
    };
    for entry in &branch[start..] {
        if let TranscriptEntry::Message(message) = entry {
            if is_empty_error(&message.message) {
                continue;
            }
            out.push(ContextMessage { entry_id: message.header.id.clone(), message: message.message.clone() });
        }
    }
    out
}

/// A failed model call recorded without content: kept in the transcript, not sent to the model.
fn is_empty_error(message: &AgentMessage) -> bool {
    matches!(message, AgentMessage::Assistant(assistant) if assistant.stop_reason == StopReason::Error && assistant.content.is_empty())
}

/// Where to cut for a compaction: the index of the first message to keep, so that at least `keep_tokens` of the most
/// recent conversation stays verbatim. The cut is never at a tool result, so a tool call and its result are never
/// separated (the kept part starts at a user message or at an assistant message, with its tool results after it).
/// `None` when there is nothing worth summarising.
pub fn plan_cut(messages: &[ContextMessage], keep_tokens: u64) -> Option<usize> {
    let mut kept = 0_u64;
    let mut cut = None;
    for idx in (0..messages.len()).rev() {
        kept += messages[idx].message.estimated_tokens();
        if !matches!(messages[idx].message, AgentMessage::ToolResult(_)) {
            cut = Some(idx);
            if kept >= keep_tokens {
                break;
            }
        }
    }
    cut.filter(|idx| *idx > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_protocol::{
        AssistantMessage, AssistantPart, CompactionEntry, EntryHeader, ToolCall, ToolResultMessage, Usage,
    };

    fn assistant_call() -> AgentMessage {
        AgentMessage::Assistant(AssistantMessage {
            content: vec![AssistantPart::ToolCall(ToolCall {
                id: "c".into(),
                name: "read".into(),
                arguments: serde_json::json!({}),
            })],
            api: "x".into(),
            provider: "p".into(),
            model: "m".into(),
            usage: Usage::default(),
            stop_reason: StopReason::ToolUse,
            timestamp: 0,
            response_id: None,
            error_message: None,
            extra: None,
        })
    }

    fn tool_result() -> AgentMessage {
        AgentMessage::ToolResult(ToolResultMessage {
            tool_call_id: "c".into(),
            tool_name: "read".into(),
            content: vec![openclaw_protocol::UserPart::Text { text: "x".repeat(400) }],
            is_error: false,
            timestamp: 0,
        })
    }

    fn ctx(messages: Vec<AgentMessage>) -> Vec<ContextMessage> {
        messages
            .into_iter()
            .enumerate()
            .map(|(i, message)| ContextMessage { entry_id: i.to_string(), message })
            .collect()
    }

    #[test]
    fn never_cuts_between_a_tool_call_and_its_result() {
        let messages = ctx(vec![
            AgentMessage::user_text("first question"),
            assistant_call(),
            tool_result(),
            AgentMessage::user_text("second"),
            assistant_call(),
            tool_result(),
        ]);
        // Keeping even one token keeps the last call with its result: the cut lands on message 4, not 5.
        assert_eq!(plan_cut(&messages, 1), Some(4));
        // Keeping more than that pair reaches back to the previous boundary.
        assert_eq!(plan_cut(&messages, 112), Some(3));
        // Keeping everything leaves nothing to summarise.
        assert_eq!(plan_cut(&messages, 1_000_000), None);
    }

    #[test]
    fn compaction_replaces_history_with_summary() {
        let user1 = TranscriptEntry::message(None, AgentMessage::user_text("old"));
        let user2 = TranscriptEntry::message(Some(user1.id().into()), AgentMessage::user_text("kept"));
        let compaction = TranscriptEntry::Compaction(CompactionEntry {
            summary: "we talked".into(),
            first_kept_entry_id: user2.id().into(),
            tokens_before: 10,
            header: EntryHeader::new(Some(user2.id().into())),
        });
        let user3 = TranscriptEntry::message(Some(compaction.id().into()), AgentMessage::user_text("new"));
        let entries = vec![user1, user2, compaction, user3.clone()];
        let branch = active_branch(&entries, Some(user3.id()));
        let messages: Vec<String> = context_messages(&branch).iter().map(|m| m.message.text()).collect();
        assert_eq!(messages.len(), 3);
        assert!(messages[0].contains("we talked"));
        assert_eq!(&messages[1..], &["kept".to_owned(), "new".to_owned()]);
    }
}
