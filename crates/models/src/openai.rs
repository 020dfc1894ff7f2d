//! OpenAI-compatible Chat Completions (`POST {baseUrl}/chat/completions`, SSE), also used for Ollama through its
//! OpenAI-compatible `/v1` API.

use std::collections::BTreeMap;
use std::collections::VecDeque;

use eventsource_stream::Event;
use futures::StreamExt;
use openclaw_protocol::{
    AgentMessage, AssistantMessage, AssistantPart, StopReason, ToolCall, Usage, UserContent, now_ms,
};
use serde_json::{Value, json};

use crate::http::{post_json, sse_events};
use crate::{Api, ErrorKind, EventStream, ModelError, ModelProvider, ModelRequest, ProviderSettings, StreamEvent};

/// A provider speaking the OpenAI Chat Completions API.
pub struct OpenAiProvider {
    settings: ProviderSettings,
}

impl OpenAiProvider {
    /// A provider for these settings (`api` is `openai-completions` or `ollama`).
    pub fn new(settings: ProviderSettings) -> Self {
        OpenAiProvider { settings }
    }

    fn url(&self) -> String {
        let base = self.settings.base_url.trim_end_matches('/');
        match self.settings.api {
            // Ollama's native root (`http://host:11434`) serves the OpenAI API under `/v1`.
            Api::Ollama if !base.ends_with("/v1") => format!("{base}/v1/chat/completions"),
            _ => format!("{base}/chat/completions"),
        }
    }
}

/// The request body for a call (public for the wire-format tests).
pub fn request_body(api: Api, request: &ModelRequest) -> Value {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        match message {
            AgentMessage::User(user) => {
                let content = match &user.content {
                    UserContent::Text(text) => json!(text),
                    UserContent::Parts(parts) => Value::Array(
                        parts
                            .iter()
                            .map(|part| match part {
                                openclaw_protocol::UserPart::Text { text } => json!({"type": "text", "text": text}),
                                openclaw_protocol::UserPart::Image { data, mime_type } => json!({
                                    "type": "image_url",
                                    "image_url": {"url": format!("data:{mime_type};base64,{data}")}
                                }),
                            })
                            .collect(),
                    ),
                };
                messages.push(json!({"role": "user", "content": content}));
            }
            AgentMessage::Assistant(assistant) => {
                let text = assistant.text();
                let calls: Vec<Value> = assistant
                    .tool_calls()
                    .map(|call| {
                        json!({"id": call.id, "type": "function",
                               "function": {"name": call.name, "arguments": call.arguments.to_string()}})
                    })
                    .collect();
                let mut out =
                    json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
                if !calls.is_empty() {
                    out["tool_calls"] = Value::Array(calls);
                }
                messages.push(out);
            }
            AgentMessage::ToolResult(result) => {
                messages.push(json!({"role": "tool", "tool_call_id": result.tool_call_id, "content": result.text()}));
            }
        }
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !request.tools.is_empty() {
        body["tools"] = Value::Array(
            request
                .tools
                .iter()
                .map(|tool| json!({"type": "function", "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters}}))
                .collect(),
        );
        body["tool_choice"] = json!("auto");
    }
    if let Some(max) = request.max_tokens {
        // Ollama and older OpenAI-compatible servers only know `max_tokens`.
        let key = if api == Api::Ollama { "max_tokens" } else { "max_completion_tokens" };
        body[key] = json!(max);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

#[async_trait::async_trait]
impl ModelProvider for OpenAiProvider {
    fn id(&self) -> &str {
        &self.settings.id
    }

    fn api(&self) -> Api {
        self.settings.api
    }

    async fn stream(&self, request: &ModelRequest) -> Result<EventStream, ModelError> {
        let mut headers = Vec::new();
        if let Some(key) = &self.settings.api_key {
            headers.push(("authorization".to_owned(), format!("Bearer {key}")));
        }
        let body = request_body(self.settings.api, request);
        let response = post_json(&self.settings, &self.url(), headers, &body).await?;
        let events = sse_events(self.settings.id.clone(), response, self.settings.idle_timeout);
        let assembler = Assembler::new(&self.settings.id, self.settings.api, &request.model);
        Ok(assemble(events, assembler))
    }
}

/// Turns SSE events into stream events with any [`EventAssembler`].
pub(crate) fn assemble<A: EventAssembler + Send + 'static>(
    events: impl futures::Stream<Item = Result<Event, ModelError>> + Send + 'static,
    assembler: A,
) -> EventStream {
    let events = Box::pin(events);
    futures::stream::unfold(
        (events, assembler, VecDeque::<StreamEvent>::new(), false),
        |(mut events, mut assembler, mut pending, mut ended)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((Ok(event), (events, assembler, pending, ended)));
                }
                if ended {
                    return None;
                }
                match events.next().await {
                    Some(Ok(event)) => match assembler.on_event(&event) {
                        Ok(new_events) => pending.extend(new_events),
                        Err(error) => return Some((Err(error), (events, assembler, pending, true))),
                    },
                    Some(Err(error)) => return Some((Err(error), (events, assembler, pending, true))),
                    None => {
                        ended = true;
                        match assembler.finish() {
                            Ok(message) => pending.push_back(StreamEvent::Done(message)),
                            Err(error) => return Some((Err(error), (events, assembler, pending, true))),
                        }
                    }
                }
            }
        },
    )
    .boxed()
}

/// A wire format's state machine: SSE events in, stream events out, the whole message at the end.
pub(crate) trait EventAssembler {
    fn on_event(&mut self, event: &Event) -> Result<Vec<StreamEvent>, ModelError>;
    fn finish(&mut self) -> Result<AssistantMessage, ModelError>;
}

#[derive(Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// Parses tool-call arguments; arguments that are not JSON are kept as `{"_raw": …}` for the tool to reject.
pub(crate) fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(raw).unwrap_or_else(|_| json!({ "_raw": raw }))
}

struct Assembler {
    provider: String,
    api: Api,
    model: String,
    text: String,
    thinking: String,
    calls: BTreeMap<usize, PendingCall>,
    usage: Usage,
    finish_reason: Option<String>,
    response_id: Option<String>,
    done: bool,
}

impl Assembler {
    fn new(provider: &str, api: Api, model: &str) -> Self {
        Assembler {
            provider: provider.to_owned(),
            api,
            model: model.to_owned(),
            text: String::new(),
            thinking: String::new(),
            calls: BTreeMap::new(),
            usage: Usage::default(),
            finish_reason: None,
            response_id: None,
            done: false,
        }
    }

    fn protocol(&self, message: String) -> ModelError {
        ModelError::new(&self.provider, ErrorKind::Protocol, message)
    }
}

impl EventAssembler for Assembler {
    fn on_event(&mut self, event: &Event) -> Result<Vec<StreamEvent>, ModelError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|error| self.protocol(format!("malformed JSON in the stream ({error}): {}", preview(data))))?;
        if let Some(error) = chunk.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_owned();
            let kind = if message.to_lowercase().contains("overload") || message.to_lowercase().contains("rate") {
                ErrorKind::Overloaded { retry_after: None }
            } else {
                ErrorKind::Server { status: 200 }
            };
            return Err(ModelError::new(&self.provider, kind, format!("error in the stream: {message}")));
        }
        if self.response_id.is_none() {
            self.response_id = chunk.get("id").and_then(Value::as_str).map(str::to_owned);
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            let get = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
            let cached = usage.pointer("/prompt_tokens_details/cached_tokens").and_then(Value::as_u64).unwrap_or(0);
            self.usage.input = get("prompt_tokens").saturating_sub(cached);
            self.usage.cache_read = cached;
            self.usage.output = get("completion_tokens");
            self.usage.total_tokens = get("total_tokens").max(self.usage.input + self.usage.output + cached);
        }
        let mut out = Vec::new();
        let Some(choice) = chunk.get("choices").and_then(Value::as_array).and_then(|c| c.first()) else {
            return Ok(out);
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        let Some(delta) = choice.get("delta") else {
            return Ok(out);
        };
        for key in ["reasoning_content", "reasoning"] {
            if let Some(thinking) = delta.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                self.thinking.push_str(thinking);
                out.push(StreamEvent::ThinkingDelta(thinking.to_owned()));
            }
        }
        if let Some(text) = delta.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            self.text.push_str(text);
            out.push(StreamEvent::TextDelta(text.to_owned()));
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                let index = call.get("index").and_then(Value::as_u64).map(|i| i as usize).unwrap_or(position);
                let pending = self.calls.entry(index).or_default();
                let id = call.get("id").and_then(Value::as_str).map(str::to_owned);
                let name = call.pointer("/function/name").and_then(Value::as_str).map(str::to_owned);
                let arguments = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or_default();
                if let Some(id) = &id {
                    pending.id.clone_from(id);
                }
                if let Some(name) = &name {
                    pending.name.push_str(name);
                }
                pending.arguments.push_str(arguments);
                out.push(StreamEvent::ToolCallDelta { index, id, name, arguments: arguments.to_owned() });
            }
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<AssistantMessage, ModelError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(ModelError::new(
                &self.provider,
                ErrorKind::StreamCut,
                "the stream ended before the model finished (no finish_reason, no [DONE])",
            ));
        }
        let mut content = Vec::new();
        if !self.thinking.is_empty() {
            content.push(AssistantPart::Thinking { thinking: std::mem::take(&mut self.thinking), signature: None });
        }
        if !self.text.is_empty() {
            content.push(AssistantPart::Text { text: std::mem::take(&mut self.text) });
        }
        for (index, call) in std::mem::take(&mut self.calls) {
            if call.name.is_empty() {
                return Err(self.protocol(format!("tool call {index} has no function name")));
            }
            let id = if call.id.is_empty() { format!("call_{index}") } else { call.id };
            content.push(AssistantPart::ToolCall(ToolCall {
                id,
                name: call.name,
                arguments: parse_arguments(&call.arguments),
            }));
        }
        let has_calls = content.iter().any(|part| matches!(part, AssistantPart::ToolCall(_)));
        let stop_reason = match self.finish_reason.as_deref() {
            _ if has_calls => StopReason::ToolUse,
            Some("length") => StopReason::Length,
            Some("content_filter") => StopReason::Error,
            _ => StopReason::Stop,
        };
        Ok(AssistantMessage {
            content,
            api: self.api.as_str().to_owned(),
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

pub(crate) fn preview(text: &str) -> String {
    let short: String = text.chars().take(120).collect();
    if short.len() < text.len() { format!("{short}…") } else { short }
}
