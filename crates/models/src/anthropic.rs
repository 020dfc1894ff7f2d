//! Anthropic Messages (`POST {baseUrl}/v1/messages`, SSE with named events, `tool_use`, thinking blocks).

use std::collections::BTreeMap;

use eventsource_stream::Event;
use openclaw_protocol::{
    AgentMessage, AssistantMessage, AssistantPart, StopReason, ToolCall, Usage, UserContent, UserPart, now_ms,
};
use serde_json::{Value, json};

use crate::http::{post_json, sse_events};
use crate::openai::{EventAssembler, assemble, parse_arguments, preview};
use crate::{Api, ErrorKind, EventStream, ModelError, ModelProvider, ModelRequest, ProviderSettings, StreamEvent};

const API_VERSION: &str = "2023-06-01";
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// A provider speaking the Anthropic Messages API.
pub struct AnthropicProvider {
    settings: ProviderSettings,
}

impl AnthropicProvider {
    /// A provider for these settings.
    pub fn new(settings: ProviderSettings) -> Self {
        AnthropicProvider { settings }
    }

    fn url(&self) -> String {
        let base = self.settings.base_url.trim_end_matches('/');
        if base.ends_with("/v1") { format!("{base}/messages") } else { format!("{base}/v1/messages") }
    }
}

fn user_parts(content: &UserContent) -> Vec<Value> {
    match content {
        UserContent::Text(text) => vec![json!({"type": "text", "text": text})],
        UserContent::Parts(parts) => parts
            .iter()
            .map(|part| match part {
                UserPart::Text { text } => json!({"type": "text", "text": text}),
                UserPart::Image { data, mime_type } => {
                    json!({"type": "image", "source": {"type": "base64", "media_type": mime_type, "data": data}})
                }
            })
            .collect(),
    }
}

/// The request body for a call (public for the wire-format tests).
pub fn request_body(request: &ModelRequest, default_max_tokens: Option<u64>) -> Value {
    // Anthropic wants alternating roles; tool results travel as `tool_result` blocks of a user message, and
    // consecutive ones are merged into one message.
    let mut messages: Vec<Value> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            AgentMessage::User(user) => ("user", user_parts(&user.content)),
            AgentMessage::ToolResult(result) => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": result.tool_call_id,
                    "content": [{"type": "text", "text": result.text()}],
                    "is_error": result.is_error,
                })],
            ),
            AgentMessage::Assistant(assistant) => {
                let blocks: Vec<Value> = assistant
                    .content
                    .iter()
                    .filter_map(|part| match part {
                        AssistantPart::Text { text } if !text.is_empty() => Some(json!({"type": "text", "text": text})),
                        AssistantPart::Text { .. } => None,
                        // Thinking can only be replayed with its signature.
                        AssistantPart::Thinking { thinking, signature: Some(signature) } => {
                            Some(json!({"type": "thinking", "thinking": thinking, "signature": signature}))
                        }
                        AssistantPart::Thinking { .. } => None,
                        AssistantPart::ToolCall(call) => {
                            Some(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}))
                        }
                    })
                    .collect();
                if blocks.is_empty() {
                    continue;
                }
                ("assistant", blocks)
            }
        };
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(existing) = last["content"].as_array_mut() {
                    existing.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens.or(default_max_tokens).unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = Value::Array(
            request
                .tools
                .iter()
                .map(
                    |tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.parameters}),
                )
                .collect(),
        );
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

#[async_trait::async_trait]
impl ModelProvider for AnthropicProvider {
    fn id(&self) -> &str {
        &self.settings.id
    }

    fn api(&self) -> Api {
        Api::AnthropicMessages
    }

    async fn stream(&self, request: &ModelRequest) -> Result<EventStream, ModelError> {
        let mut headers = vec![("anthropic-version".to_owned(), API_VERSION.to_owned())];
        if let Some(key) = &self.settings.api_key {
            headers.push(("x-api-key".to_owned(), key.clone()));
        }
        let body = request_body(request, self.settings.max_tokens);
        let response = post_json(&self.settings, &self.url(), headers, &body).await?;
        let events = sse_events(self.settings.id.clone(), response, self.settings.idle_timeout);
        Ok(assemble(events, Assembler::new(&self.settings.id, &request.model)))
    }
}

enum Block {
    Text(String),
    Thinking { thinking: String, signature: Option<String> },
    ToolUse { id: String, name: String, input: String },
    Other,
}

struct Assembler {
    provider: String,
    model: String,
    blocks: BTreeMap<u64, Block>,
    usage: Usage,
    stop_reason: Option<String>,
    response_id: Option<String>,
    stopped: bool,
}

impl Assembler {
    fn new(provider: &str, model: &str) -> Self {
        Assembler {
            provider: provider.to_owned(),
            model: model.to_owned(),
            blocks: BTreeMap::new(),
            usage: Usage::default(),
            stop_reason: None,
            response_id: None,
            stopped: false,
        }
    }

    fn read_usage(&mut self, usage: &Value) {
        let get = |key: &str| usage.get(key).and_then(Value::as_u64);
        if let Some(input) = get("input_tokens") {
            self.usage.input = input;
        }
        if let Some(output) = get("output_tokens") {
            self.usage.output = output;
        }
        if let Some(read) = get("cache_read_input_tokens") {
            self.usage.cache_read = read;
        }
        if let Some(write) = get("cache_creation_input_tokens") {
            self.usage.cache_write = write;
        }
        self.usage.total_tokens = self.usage.input + self.usage.output + self.usage.cache_read + self.usage.cache_write;
    }
}

impl EventAssembler for Assembler {
    fn on_event(&mut self, event: &Event) -> Result<Vec<StreamEvent>, ModelError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(data).map_err(|error| {
            ModelError::new(
                &self.provider,
                ErrorKind::Protocol,
                format!("malformed JSON in the stream ({error}): {}", preview(data)),
            )
        })?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or(event.event.as_str());
        let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                self.response_id = value.pointer("/message/id").and_then(Value::as_str).map(str::to_owned);
                if let Some(usage) = value.pointer("/message/usage") {
                    self.read_usage(usage);
                }
            }
            "content_block_start" => {
                let block = value.get("content_block").cloned().unwrap_or(Value::Null);
                let started = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        Block::Text(block.get("text").and_then(Value::as_str).unwrap_or_default().to_owned())
                    }
                    Some("thinking") => Block::Thinking {
                        thinking: block.get("thinking").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        signature: None,
                    },
                    Some("tool_use") => {
                        let id = block.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
                        let name = block.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                        out.push(StreamEvent::ToolCallDelta {
                            index: index as usize,
                            id: Some(id.clone()),
                            name: Some(name.clone()),
                            arguments: String::new(),
                        });
                        Block::ToolUse { id, name, input: String::new() }
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, started);
            }
            "content_block_delta" => {
                let delta = value.get("delta").cloned().unwrap_or(Value::Null);
                let block = self.blocks.entry(index).or_insert(Block::Other);
                match (delta.get("type").and_then(Value::as_str), block) {
                    (Some("text_delta"), Block::Text(text)) => {
                        let piece = delta.get("text").and_then(Value::as_str).unwrap_or_default();
                        text.push_str(piece);
                        out.push(StreamEvent::TextDelta(piece.to_owned()));
                    }
                    (Some("thinking_delta"), Block::Thinking { thinking, .. }) => {
                        let piece = delta.get("thinking").and_then(Value::as_str).unwrap_or_default();
                        thinking.push_str(piece);
                        out.push(StreamEvent::ThinkingDelta(piece.to_owned()));
                    }
                    (Some("signature_delta"), Block::Thinking { signature, .. }) => {
                        let piece = delta.get("signature").and_then(Value::as_str).unwrap_or_default();
                        signature.get_or_insert_with(String::new).push_str(piece);
                    }
                    (Some("input_json_delta"), Block::ToolUse { input, .. }) => {
                        let piece = delta.get("partial_json").and_then(Value::as_str).unwrap_or_default();
                        input.push_str(piece);
                        out.push(StreamEvent::ToolCallDelta {
                            index: index as usize,
                            id: None,
                            name: None,
                            arguments: piece.to_owned(),
                        });
                    }
                    (other, _) => {
                        return Err(ModelError::new(
                            &self.provider,
                            ErrorKind::Protocol,
                            format!("a {other:?} delta for content block {index}, which is not of that kind"),
                        ));
                    }
                }
            }
            "message_delta" => {
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(usage) = value.get("usage") {
                    self.read_usage(usage);
                }
            }
            "message_stop" => self.stopped = true,
            "error" => {
                let error_type = value.pointer("/error/type").and_then(Value::as_str).unwrap_or("error");
                let message = value.pointer("/error/message").and_then(Value::as_str).unwrap_or("unknown error");
                let kind = match error_type {
                    "overloaded_error" => ErrorKind::Overloaded { retry_after: None },
                    "rate_limit_error" => ErrorKind::RateLimited { retry_after: None },
                    _ => ErrorKind::Server { status: 200 },
                };
                return Err(ModelError::new(&self.provider, kind, format!("{error_type} in the stream: {message}")));
            }
            _ => {}
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<AssistantMessage, ModelError> {
        if !self.stopped {
            return Err(ModelError::new(&self.provider, ErrorKind::StreamCut, "the stream ended before message_stop"));
        }
        let mut content = Vec::new();
        for block in std::mem::take(&mut self.blocks).into_values() {
            match block {
                Block::Text(text) if !text.is_empty() => content.push(AssistantPart::Text { text }),
                Block::Thinking { thinking, signature } => {
                    content.push(AssistantPart::Thinking { thinking, signature })
                }
                Block::ToolUse { id, name, input } => {
                    content.push(AssistantPart::ToolCall(ToolCall { id, name, arguments: parse_arguments(&input) }))
                }
                _ => {}
            }
        }
        let stop_reason = match self.stop_reason.as_deref() {
            Some("tool_use") => StopReason::ToolUse,
            Some("max_tokens") => StopReason::Length,
            Some("refusal") => StopReason::Error,
            _ => StopReason::Stop,
        };
        Ok(AssistantMessage {
            content,
            api: Api::AnthropicMessages.as_str().to_owned(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            usage: std::mem::take(&mut self.usage),
            stop_reason,
            timestamp: now_ms(),
            response_id: self.response_id.take(),
            error_message: None,
            extra: None,
        })
    }
}
