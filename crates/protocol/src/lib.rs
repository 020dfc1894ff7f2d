//! Wire and file types shared by every OpenClaw-rs crate.
//!
//! This crate owns the shapes that cross a boundary: the transcript entry format of the reference OpenClaw
//! (one JSON object per entry, the same object that used to be one JSONL line), the pi-ai message conventions
//! (`user` / `assistant` / `toolResult` messages, `toolCall` content parts, `usage` with `cost`), tool
//! specifications, and OpenClaw session keys.
//!
//! **Invariant:** no IO and no async here. Every type serialises to exactly the JSON the reference writes, so a
//! transcript written by us can be read by the reference tooling and the other way round. The `gateway` module holds
//! the WebSocket protocol v4 frames.
//!
//! ```
//! use openclaw_protocol::{AgentMessage, SessionKey};
//! let key = SessionKey::main("main", "main");
//! assert_eq!(key.as_str(), "agent:main:main");
//! let msg = AgentMessage::user_text("ping");
//! assert_eq!(msg.text(), "ping");
//! ```

pub mod gateway;
mod message;
mod session_key;
mod transcript;

pub use message::{
    AgentMessage, AssistantMessage, AssistantPart, Cost, MemoryHit, StopReason, ToolCall, ToolResultMessage, ToolSpec,
    Usage, UserContent, UserMessage, UserPart,
};
pub use session_key::{AgentId, InvalidAgentId, SessionKey};
pub use transcript::{
    CompactionEntry, EntryHeader, MessageEntry, ModelChangeEntry, SessionHeader, TRANSCRIPT_VERSION, TranscriptEntry,
};

/// The current time in milliseconds since the Unix epoch, as the reference stores message timestamps.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The current time as an ISO-8601 string with millisecond precision (`2026-11-21T05:23:00.123Z`), the format the
/// reference uses for entry timestamps.
pub fn now_iso() -> String {
    iso_from_ms(now_ms())
}

/// Formats milliseconds since the epoch as an ISO-8601 UTC string with millisecond precision.
pub fn iso_from_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{}", ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")),
        Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// A new random identifier (UUID v4, hyphenated), as the reference uses for session and entry ids.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Most characters of one outside value shown in a log line.
pub const LOG_VALUE_CHARS: usize = 200;

/// An outside value (a hook's name, a header, a chat title) made safe to print in a log line: control characters
/// (newlines, ANSI escapes) become `\u{..}` escapes so a value cannot forge a line or drive the terminal, and it is
/// cut at [`LOG_VALUE_CHARS`] characters.
pub fn log_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(LOG_VALUE_CHARS + 8));
    for (count, c) in value.chars().enumerate() {
        if count == LOG_VALUE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202e}') {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod log_safe_tests {
    #[test]
    fn control_characters_cannot_forge_a_line() {
        let forged = super::log_safe("x\n2026-12-06T00:00:00Z INFO Gateway ready.\u{1b}[2J");
        assert!(!forged.contains('\n') && !forged.contains('\u{1b}'), "{forged}");
        assert!(forged.contains("\\u{a}") && forged.contains("\\u{1b}"), "{forged}");
        assert_eq!(super::log_safe(&"a".repeat(500)).chars().count(), super::LOG_VALUE_CHARS + 1);
    }
}
