//! Messages in the pi-ai conventions the reference OpenClaw stores in its transcripts.
//!
//! A conversation is a list of [`AgentMessage`]s: user messages (plain text or parts), assistant messages (text,
//! thinking and `toolCall` parts plus usage and stop reason) and `toolResult` messages answering one tool call.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message of a conversation, tagged by `role` exactly as in the reference transcripts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "camelCase")]
pub enum AgentMessage {
    /// Something the user (or a channel on their behalf) said.
    User(UserMessage),
    /// A model's answer.
    Assistant(AssistantMessage),
    /// The result of one tool call, sent back to the model.
    ToolResult(ToolResultMessage),
}

impl AgentMessage {
    /// A user message holding plain text, stamped now.
    pub fn user_text(text: impl Into<String>) -> Self {
        AgentMessage::User(UserMessage {
            content: UserContent::Text(text.into()),
            timestamp: crate::now_ms(),
            idempotency_key: None,
            extra: None,
        })
    }

    /// The concatenated visible text of the message (tool calls and thinking left out).
    pub fn text(&self) -> String {
        match self {
            AgentMessage::User(user) => user.content.text(),
            AgentMessage::Assistant(assistant) => assistant.text(),
            AgentMessage::ToolResult(result) => result.text(),
        }
    }

    /// A rough token estimate (four characters a token), used for context budgeting when no tokenizer is at hand.
    pub fn estimated_tokens(&self) -> u64 {
        let chars = match self {
            AgentMessage::User(user) => user.content.text().len(),
            AgentMessage::Assistant(assistant) => assistant
                .content
                .iter()
                .map(|part| match part {
                    AssistantPart::Text { text } => text.len(),
                    AssistantPart::Thinking { thinking, .. } => thinking.len(),
                    AssistantPart::ToolCall(call) => call.name.len() + call.arguments.to_string().len(),
                })
                .sum(),
            AgentMessage::ToolResult(result) => result.text().len() + result.tool_name.len(),
        };
        (chars as u64).div_ceil(4) + 4
    }
}

/// A user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserMessage {
    pub content: UserContent,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// OpenClaw's own annotations (`__openclaw`), kept verbatim.
    #[serde(default, rename = "__openclaw", skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// User content: the reference writes a plain string for text and an array of parts for mixed content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserContent {
    Text(String),
    Parts(Vec<UserPart>),
}

impl UserContent {
    /// The text of the content, parts joined by newlines; images are left out.
    pub fn text(&self) -> String {
        match self {
            UserContent::Text(text) => text.clone(),
            UserContent::Parts(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    UserPart::Text { text } => Some(text.as_str()),
                    UserPart::Image { .. } => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// One part of a user message or a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum UserPart {
    Text {
        text: String,
    },
    Image {
        data: String,
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
}

/// A model's answer with its accounting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantMessage {
    pub content: Vec<AssistantPart>,
    /// The wire API that produced it (`openai-completions`, `anthropic-messages`, `ollama`, …).
    pub api: String,
    pub provider: String,
    pub model: String,
    pub usage: Usage,
    pub stop_reason: StopReason,
    pub timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, rename = "__openclaw", skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

impl AssistantMessage {
    /// The visible text parts, concatenated.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|part| match part {
                AssistantPart::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool calls the model asked for, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.content.iter().filter_map(|part| match part {
            AssistantPart::ToolCall(call) => Some(call),
            _ => None,
        })
    }
}

/// One part of an assistant message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AssistantPart {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
        #[serde(default, rename = "thinkingSignature", skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    ToolCall(ToolCall),
}

/// A tool call requested by the model (`{type:"toolCall", id, name, arguments}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// Parsed JSON arguments; an object for every well-behaved model.
    pub arguments: Value,
}

/// The answer to one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultMessage {
    pub tool_call_id: String,
    pub tool_name: String,
    pub content: Vec<UserPart>,
    pub is_error: bool,
    pub timestamp: i64,
}

impl ToolResultMessage {
    /// The text parts of the result, joined by newlines.
    pub fn text(&self) -> String {
        UserContent::Parts(self.content.clone()).text()
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StopReason {
    Stop,
    Length,
    ToolUse,
    Error,
    Aborted,
}

/// Token usage of one model call, with its cost in US dollars.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub total_tokens: u64,
    pub cost: Cost,
}

impl Usage {
    /// Adds another call's usage to this one.
    pub fn add(&mut self, other: &Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
        self.total_tokens += other.total_tokens;
        self.cost.input += other.cost.input;
        self.cost.output += other.cost.output;
        self.cost.cache_read += other.cost.cache_read;
        self.cost.cache_write += other.cost.cache_write;
        self.cost.total += other.cost.total;
    }
}

/// Cost in US dollars, split like the usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
    pub total: f64,
}

/// A tool as offered to a model: its name, a description and a JSON Schema for its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// One memory search hit: where it is (`MEMORY.md`, `memory/2026-11-21.md`, 1-based inclusive lines) and the text.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryHit {
    pub path: String,
    pub start_line: i64,
    pub end_line: i64,
    pub snippet: String,
    /// Higher is better.
    pub score: f64,
}
