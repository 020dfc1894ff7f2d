//! Transcript entries: the reference OpenClaw's session file format.
//!
//! Each entry is one JSON object (one JSONL line in the legacy layout, one `transcript_events` row in the
//! reference's SQLite layout). Entries form a tree through `id`/`parentId`; the active branch is the path from
//! the root to the current leaf.

use serde::{Deserialize, Serialize};

use crate::AgentMessage;

/// The transcript format version written in the `session` header.
pub const TRANSCRIPT_VERSION: u32 = 4;

/// One transcript entry, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Messages are most entries; boxing them would add an allocation to the common case to shrink the rare ones.
#[allow(clippy::large_enum_variant)]
pub enum TranscriptEntry {
    /// The header, first in every transcript.
    Session(SessionHeader),
    /// A message that enters the model context.
    Message(MessageEntry),
    /// The session switched model.
    ModelChange(ModelChangeEntry),
    /// Older entries were summarised; the model sees the summary followed by the entries from `firstKeptEntryId`.
    Compaction(CompactionEntry),
}

impl TranscriptEntry {
    /// The entry id (the session id for the header).
    pub fn id(&self) -> &str {
        match self {
            TranscriptEntry::Session(header) => &header.id,
            TranscriptEntry::Message(entry) => &entry.header.id,
            TranscriptEntry::ModelChange(entry) => &entry.header.id,
            TranscriptEntry::Compaction(entry) => &entry.header.id,
        }
    }

    /// The parent entry id, if any.
    pub fn parent_id(&self) -> Option<&str> {
        match self {
            TranscriptEntry::Session(_) => None,
            TranscriptEntry::Message(entry) => entry.header.parent_id.as_deref(),
            TranscriptEntry::ModelChange(entry) => entry.header.parent_id.as_deref(),
            TranscriptEntry::Compaction(entry) => entry.header.parent_id.as_deref(),
        }
    }

    /// The `type` tag as written in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            TranscriptEntry::Session(_) => "session",
            TranscriptEntry::Message(_) => "message",
            TranscriptEntry::ModelChange(_) => "model_change",
            TranscriptEntry::Compaction(_) => "compaction",
        }
    }

    /// A message entry with a new id under `parent_id`.
    pub fn message(parent_id: Option<String>, message: AgentMessage) -> Self {
        TranscriptEntry::Message(MessageEntry { header: EntryHeader::new(parent_id), message })
    }
}

/// The fields every non-header entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryHeader {
    pub id: String,
    pub parent_id: Option<String>,
    pub timestamp: String,
}

impl EntryHeader {
    /// A fresh header with a random id, stamped now.
    pub fn new(parent_id: Option<String>) -> Self {
        EntryHeader { id: crate::new_id(), parent_id, timestamp: crate::now_iso() }
    }
}

/// `{"type":"session","version":4,"id":…,"timestamp":…,"cwd":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionHeader {
    pub version: u32,
    pub id: String,
    pub timestamp: String,
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_session: Option<String>,
}

/// `{"type":"message", id, parentId, timestamp, message}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEntry {
    #[serde(flatten)]
    pub header: EntryHeader,
    pub message: AgentMessage,
}

/// `{"type":"model_change","provider":…,"modelId":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelChangeEntry {
    pub provider: String,
    pub model_id: String,
    #[serde(flatten)]
    pub header: EntryHeader,
}

/// `{"type":"compaction","summary":…,"firstKeptEntryId":…,"tokensBefore":…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactionEntry {
    pub summary: String,
    pub first_kept_entry_id: String,
    pub tokens_before: u64,
    #[serde(flatten)]
    pub header: EntryHeader,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StopReason;
    use serde_json::json;

    #[test]
    fn reads_the_reference_rows_verbatim() {
        // Rows observed in the reference's `transcript_events.event_json`.
        let rows = [
            json!({"type":"session","version":4,"id":"s1","timestamp":"2026-11-21T05:23:00.000Z","cwd":"/w"}),
            json!({"type":"model_change","provider":"mock","modelId":"mock-1","id":"e1","parentId":null,"timestamp":"2026-11-21T05:23:00.001Z"}),
            json!({"type":"message","id":"e2","parentId":"e1","timestamp":"2026-11-21T05:23:00.002Z","message":{"role":"user","content":"ping","timestamp":1,"idempotencyKey":"r:user","__openclaw":{"senderIsOwner":true}}}),
            json!({"type":"message","id":"e3","parentId":"e2","timestamp":"2026-11-21T05:23:00.003Z","message":{"role":"assistant","content":[{"type":"text","text":"pong"}],"api":"openai-completions","provider":"mock","model":"mock-1","usage":{"input":10,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":11,"cost":{"input":0.0,"output":0.0,"cacheRead":0.0,"cacheWrite":0.0,"total":0.0}},"stopReason":"stop","timestamp":2,"responseId":"x","__openclaw":{"runId":"r"}}}),
            json!({"type":"message","id":"e4","parentId":"e3","timestamp":"2026-11-21T05:23:00.004Z","message":{"role":"toolResult","toolCallId":"c1","toolName":"read","content":[{"type":"text","text":"hi"}],"isError":false,"timestamp":3}}),
            json!({"type":"compaction","summary":"s","firstKeptEntryId":"e3","tokensBefore":99,"id":"e5","parentId":"e4","timestamp":"2026-11-21T05:23:00.005Z"}),
        ];
        for row in rows {
            let entry: TranscriptEntry = serde_json::from_value(row.clone()).unwrap();
            assert_eq!(serde_json::to_value(&entry).unwrap(), row, "round trip of {row}");
        }
    }

    #[test]
    fn tool_calls_are_content_parts() {
        let value = json!({"role":"assistant","content":[{"type":"toolCall","id":"c1","name":"memory_search","arguments":{"query":"x"}}],"api":"anthropic-messages","provider":"a","model":"m","usage":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"totalTokens":0,"cost":{"input":0.0,"output":0.0,"cacheRead":0.0,"cacheWrite":0.0,"total":0.0}},"stopReason":"toolUse","timestamp":0});
        let message: AgentMessage = serde_json::from_value(value).unwrap();
        let AgentMessage::Assistant(assistant) = message else { panic!("not an assistant message") };
        let calls: Vec<_> = assistant.tool_calls().collect();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "memory_search");
        assert_eq!(assistant.stop_reason, StopReason::ToolUse);
    }
}
