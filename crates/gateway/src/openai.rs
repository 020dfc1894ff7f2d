//! The OpenAI-compatible HTTP API on the gateway port: `POST /v1/chat/completions` (JSON or SSE) and
//! `GET /v1/models[/{id}]`. Off unless `gateway.http.endpoints.chatCompletions.enabled`. The `model` field selects an
//! agent (`openclaw`, `openclaw/default`, `openclaw/<agentId>`, `openclaw:<agentId>`, `agent:<agentId>`), not a
//! provider model; the OpenAI `user` field gives a stable session, otherwise each request is its own session and
//! carries its history in `messages`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use openclaw_agent::{AgentEvent, AgentProfile, TurnRequest};
use openclaw_config::{Loaded, ResolvedAgent};
use openclaw_protocol::{
    AgentMessage, AssistantMessage, AssistantPart, StopReason, ToolCall, ToolResultMessage, ToolSpec, Usage, UserPart,
};
use serde_json::{Value, json};

use crate::Gateway;

const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(get_model))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// An error in OpenAI's shape: `{"error":{"message","type","code"}}`.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, kind, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.message, "type": self.kind, "code": null}});
        (self.status, Json(body)).into_response()
    }
}

/// Enabled and authorised, or the error to answer.
fn admit(gateway: &Gateway, headers: &HeaderMap, peer: SocketAddr) -> Result<(), ApiError> {
    if !gateway.loaded().config.gateway.http.endpoints.chat_completions.enabled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not Found (enable gateway.http.endpoints.chatCompletions.enabled)",
        ));
    }
    crate::http::gateway_bearer(gateway, headers, peer.ip()).map_err(|denied| match denied {
        crate::http::Denied::Unauthorized => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
        crate::http::Denied::RateLimited(seconds) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_exceeded",
            format!("too many failed authentication attempts; retry in {seconds} s"),
        ),
    })
}

/// The agent a `model` value names.
fn agent_for_model<'a>(loaded: &'a Loaded, model: &str) -> Result<&'a ResolvedAgent, ApiError> {
    let id = match model {
        "openclaw" | "openclaw/default" | "" => return Ok(loaded.default_agent()),
        other => other
            .strip_prefix("openclaw/")
            .or_else(|| other.strip_prefix("openclaw:"))
            .or_else(|| other.strip_prefix("agent:"))
            .unwrap_or(other),
    };
    loaded.agent(id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{model}` does not exist: use openclaw, openclaw/default or openclaw/<agentId>"),
        )
    })
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "openclaw"})
}

async fn list_models(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    admit(&gateway, &headers, peer)?;
    let mut data = vec![model_object("openclaw"), model_object("openclaw/default")];
    data.extend(gateway.loaded().agents().iter().map(|agent| model_object(&format!("openclaw/{}", agent.id))));
    Ok(Json(json!({"object": "list", "data": data})))
}

async fn get_model(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admit(&gateway, &headers, peer)?;
    agent_for_model(&gateway.loaded(), &id)?;
    Ok(Json(model_object(&id)))
}

/// Text of an OpenAI message `content` (a string or an array of parts).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// Converts the request's messages: instructions (system/developer), prior history, and the new user message.
fn split_messages(messages: &[Value]) -> Result<(Option<String>, Vec<AgentMessage>, String), ApiError> {
    let mut system = Vec::new();
    let mut history = Vec::new();
    for (idx, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = message.get("content").map(content_text).unwrap_or_default();
        match role {
            "system" | "developer" => system.push(content),
            "user" => history.push(AgentMessage::user_text(content)),
            "assistant" => {
                let mut parts = Vec::new();
                if !content.is_empty() {
                    parts.push(AssistantPart::Text { text: content });
                }
                for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    let arguments = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}");
                    parts.push(AssistantPart::ToolCall(ToolCall {
                        id: call.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        name: call.pointer("/function/name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        arguments: serde_json::from_str(arguments).unwrap_or(json!({})),
                    }));
                }
                history.push(AgentMessage::Assistant(AssistantMessage {
                    content: parts,
                    api: "openai-completions".to_owned(),
                    provider: "client".to_owned(),
                    model: String::new(),
                    usage: Usage::default(),
                    stop_reason: StopReason::Stop,
                    timestamp: openclaw_protocol::now_ms(),
                    response_id: None,
                    error_message: None,
                    extra: None,
                }));
            }
            "tool" | "function" => {
                let call_id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .or_else(|| message.get("name").and_then(Value::as_str))
                    .unwrap_or_default()
                    .to_owned();
                // OpenAI's tool messages carry only the call id: the name comes from the call.
                let name = history
                    .iter()
                    .rev()
                    .find_map(|earlier| match earlier {
                        AgentMessage::Assistant(assistant) => assistant
                            .tool_calls()
                            .find(|call| call.id == call_id || call.name == call_id)
                            .map(|call| call.name.clone()),
                        _ => None,
                    })
                    .or_else(|| message.get("name").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| "tool".to_owned());
                history.push(AgentMessage::ToolResult(ToolResultMessage {
                    tool_call_id: call_id,
                    tool_name: name,
                    content: vec![UserPart::Text { text: content }],
                    is_error: false,
                    timestamp: openclaw_protocol::now_ms(),
                }));
            }
            other => return Err(ApiError::bad_request(format!("messages[{idx}].role {other:?} is not supported"))),
        }
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    // A follow-up with tool results: they are the new input, after the assistant message that asked for them.
    if matches!(history.last(), Some(AgentMessage::ToolResult(_))) {
        return Ok((system, history, String::new()));
    }
    let last_user = history.iter().rposition(|message| matches!(message, AgentMessage::User(_)));
    let Some(last_user) = last_user else {
        return Err(ApiError::bad_request("messages must contain a user message (or end with tool results)"));
    };
    let new_message = history.remove(last_user).text();
    history.truncate(last_user);
    Ok((system, history, new_message))
}

/// The request's `tools` (function tools only) narrowed by `tool_choice`, and an instruction when a call is required.
fn client_tools(request: &Value) -> Result<(Vec<ToolSpec>, Option<String>), ApiError> {
    let mut tools = Vec::new();
    match request.get("tools") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (idx, item) in items.iter().enumerate() {
                if item.get("type").and_then(Value::as_str) != Some("function") {
                    return Err(ApiError::bad_request(format!("tools[{idx}].type must be \"function\"")));
                }
                let function = item.get("function").cloned().unwrap_or_default();
                let Some(name) = function.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                    return Err(ApiError::bad_request(format!("tools[{idx}].function.name is required")));
                };
                tools.push(ToolSpec {
                    name: name.to_owned(),
                    description: function.get("description").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    parameters: function
                        .get("parameters")
                        .cloned()
                        .unwrap_or(json!({"type": "object", "properties": {}})),
                });
            }
        }
        Some(_) => return Err(ApiError::bad_request("tools must be an array")),
    }
    match request.get("tool_choice") {
        None | Some(Value::Null) => Ok((tools, None)),
        Some(Value::String(choice)) if choice == "auto" => Ok((tools, None)),
        Some(Value::String(choice)) if choice == "none" => Ok((Vec::new(), None)),
        Some(Value::String(choice)) if choice == "required" => {
            if tools.is_empty() {
                return Err(ApiError::bad_request("tool_choice \"required\" needs tools"));
            }
            Ok((tools, Some("You must call one of the provided client tools before answering.".to_owned())))
        }
        Some(choice) if choice.get("type").and_then(Value::as_str) == Some("function") => {
            let name = choice.pointer("/function/name").and_then(Value::as_str).unwrap_or_default();
            tools.retain(|tool| tool.name == name);
            if tools.is_empty() {
                return Err(ApiError::bad_request(format!("tool_choice names {name:?}, which is not in tools")));
            }
            Ok((tools, Some(format!("You must call the tool {name} before answering."))))
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "tool_choice {other} is not supported: use auto, none, required or {{\"type\":\"function\",\"function\":{{\"name\":…}}}}"
        ))),
    }
}

/// OpenAI's `tool_calls` array for the calls a turn stopped at.
fn tool_calls_json(calls: &[ToolCall]) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            json!({"index": index, "id": call.id, "type": "function",
                   "function": {"name": call.name, "arguments": call.arguments.to_string()}})
        })
        .collect()
}

/// Who is calling, for scoping the sessions an OpenAI `user` names: a digest of the credential presented (one
/// shared token is one principal; with per-user keys each key is one), `open` when the gateway has no secret. So a
/// caller can name only sessions made under its own credential — another caller's `user` is another session.
fn principal(headers: &HeaderMap) -> String {
    match crate::http::presented_token(headers, false) {
        Some(token) => crate::device::sha256_hex(token.as_bytes())[..16].to_owned(),
        None => "open".to_owned(),
    }
}

/// The `user` as a key part: lower case, `:` folded, at most 128 characters.
fn user_key(user: &str) -> String {
    user.chars().take(128).map(|c| if c == ':' || c.is_control() { '_' } else { c }).collect::<String>().to_lowercase()
}

async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    admit(&gateway, &headers, peer)?;
    let loaded = gateway.loaded();
    let request: Value = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    let model = request.get("model").and_then(Value::as_str).unwrap_or("openclaw").to_owned();
    let agent = agent_for_model(&loaded, &model)?;
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("messages is required and must be an array"))?;
    let (mut extra_system, prior, message) = split_messages(messages)?;
    let (client_tools, required) = client_tools(&request)?;
    if let Some(required) = required {
        extra_system = Some(extra_system.map_or(required.clone(), |system| format!("{system}\n\n{required}")));
    }
    let profile = AgentProfile::from_resolved(agent, &loaded)
        .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", error.to_string()))?;
    // A stable session per OpenAI `user`; otherwise a fresh one that carries the request's own history.
    let (session_key, prior) = match request.get("user").and_then(Value::as_str).filter(|u| !u.is_empty()) {
        // The session holds the history; only a follow-up's tool results (after the last assistant) are new.
        Some(user) => {
            let new_results = if message.is_empty() {
                let start = prior.iter().rposition(|m| matches!(m, AgentMessage::Assistant(_))).map_or(0, |i| i + 1);
                prior[start..].to_vec()
            } else {
                Vec::new()
            };
            (format!("agent:{}:openai-user:{}:{}", agent.id, principal(&headers), user_key(user)), new_results)
        }
        None => (format!("agent:{}:openai:{}", agent.id, uuid::Uuid::new_v4()), prior),
    };
    let turn = TurnRequest { prior, extra_system, client_tools, ..TurnRequest::new(session_key, message) };
    let id = format!("chatcmpl_{}", uuid::Uuid::new_v4());
    let created = openclaw_protocol::now_ms() / 1000;
    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !stream {
        let outcome = gateway
            .run_turn(&profile, turn, &mut |_| {})
            .await
            .map_err(|error| ApiError::new(StatusCode::BAD_GATEWAY, "server_error", error.to_string()))?;
        let (message, finish) = if outcome.client_tool_calls.is_empty() {
            (json!({"role": "assistant", "content": outcome.text}), "stop")
        } else {
            let content = if outcome.text.is_empty() { Value::Null } else { json!(outcome.text) };
            let calls: Vec<Value> = tool_calls_json(&outcome.client_tool_calls)
                .into_iter()
                .map(|mut call| {
                    call.as_object_mut().map(|c| c.remove("index"));
                    call
                })
                .collect();
            (json!({"role": "assistant", "content": content, "tool_calls": calls}), "tool_calls")
        };
        return Ok(Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage_json(&outcome.usage),
        }))
        .into_response());
    }
    let include_usage = request.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let chunk = {
        let id = id.clone();
        let model = model.clone();
        move |delta: Value, finish: Option<&str>| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        }
    };
    let _ = tx.send(chunk(json!({"role": "assistant", "content": ""}), None));
    tokio::spawn(async move {
        let mut on_event = |event: &AgentEvent| {
            if let AgentEvent::TextDelta(text) = event {
                let _ = tx.send(chunk(json!({"content": text}), None));
            }
        };
        match gateway.run_turn(&profile, turn, &mut on_event).await {
            Ok(outcome) => {
                let finish = if outcome.client_tool_calls.is_empty() {
                    "stop"
                } else {
                    let _ = tx.send(chunk(json!({"tool_calls": tool_calls_json(&outcome.client_tool_calls)}), None));
                    "tool_calls"
                };
                let _ = tx.send(chunk(json!({}), Some(finish)));
                if include_usage {
                    let _ = tx.send(json!({"id": id, "object": "chat.completion.chunk", "created": created,
                        "model": model, "choices": [], "usage": usage_json(&outcome.usage)}));
                }
            }
            Err(error) => {
                let _ = tx.send(json!({"error": {"message": error.to_string(), "type": "server_error"}}));
            }
        }
    });
    let events = tokio_stream_from(rx)
        .map(|value| Ok::<Event, Infallible>(Event::default().data(value.to_string())))
        .chain(futures::stream::once(async { Ok(Event::default().data("[DONE]")) }));
    Ok(Sse::new(events).into_response())
}

/// OpenAI's `usage` object (cached prompt tokens count as prompt tokens there).
fn usage_json(usage: &Usage) -> Value {
    json!({"prompt_tokens": usage.input + usage.cache_read, "completion_tokens": usage.output,
           "total_tokens": usage.total_tokens})
}

/// A stream over an unbounded receiver.
fn tokio_stream_from(mut rx: tokio::sync::mpsc::UnboundedReceiver<Value>) -> impl futures::Stream<Item = Value> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
