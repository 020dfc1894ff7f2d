//! `POST /tools/invoke`: one tool call without a model turn, under gateway bearer auth, the agent's tool policy and an
//! HTTP deny list (tools that execute commands, change files or drive the gateway are never reachable over HTTP
//! unless `gateway.tools.allow` lists them). The call is audited like one the model makes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use openclaw_agent::AgentProfile;
use openclaw_protocol::{SessionKey, ToolCall};
use serde_json::{Value, json};

use crate::Gateway;

const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Never reachable over HTTP by default (the reference's list).
pub(crate) const HTTP_DENY: &[&str] = &[
    "exec",
    "spawn",
    "shell",
    "fs_write",
    "fs_delete",
    "fs_move",
    "apply_patch",
    "sessions_spawn",
    "sessions_send",
    "cron",
    "gateway",
    "nodes",
];

pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new().route("/tools/invoke", post(invoke)).layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn failure(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({"ok": false, "error": {"type": kind, "message": message.into()}}))).into_response()
}

/// Whether HTTP may reach a tool: the default deny list, less `gateway.tools.allow`, plus `gateway.tools.deny`.
fn http_allows(config: &openclaw_config::GatewayTools, tool: &str) -> bool {
    let denied_by_default = HTTP_DENY.contains(&tool) && !config.allow.iter().any(|allowed| allowed == tool);
    !denied_by_default && !config.deny.iter().any(|denied| denied == tool)
}

async fn invoke(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match crate::http::gateway_bearer(&gateway, &headers, peer.ip()) {
        Ok(()) => {}
        Err(crate::http::Denied::Unauthorized) => {
            return failure(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized: send Authorization: Bearer <token>",
            );
        }
        Err(crate::http::Denied::RateLimited(seconds)) => {
            let message = format!("too many failed authentication attempts; retry in {seconds} s");
            return (
                crate::http::retry_after(seconds),
                failure(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message),
            )
                .into_response();
        }
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => return failure(StatusCode::BAD_REQUEST, "invalid_request", "the body must be a JSON object"),
        Err(error) => {
            return failure(StatusCode::BAD_REQUEST, "invalid_request", format!("the body is not valid JSON: {error}"));
        }
    };
    let text = |name: &str| request.get(name).and_then(Value::as_str).filter(|value| !value.trim().is_empty());
    let Some(tool) = text("name").or_else(|| text("tool")) else {
        return failure(StatusCode::BAD_REQUEST, "invalid_request", "tool (or name) is required");
    };
    let mut args = match request.get("args") {
        None | Some(Value::Null) => json!({}),
        Some(args @ Value::Object(_)) => args.clone(),
        Some(_) => return failure(StatusCode::BAD_REQUEST, "invalid_request", "args must be an object"),
    };
    if let (Some(action), Some(map)) = (text("action"), args.as_object_mut()) {
        map.entry("action").or_insert_with(|| json!(action));
    }
    let loaded = gateway.loaded();
    let explicit_key = text("sessionKey").filter(|key| *key != "main");
    let agent = match (text("agentId"), explicit_key) {
        (Some(id), key) => {
            let Some(agent) = loaded.agent(id) else {
                return failure(StatusCode::BAD_REQUEST, "invalid_request", format!("unknown agent: {id}"));
            };
            let owner = key.and_then(SessionKey::parse).and_then(|k| k.agent_id().map(str::to_owned));
            if owner.is_some_and(|owner| owner != agent.id) {
                let message = format!("sessionKey belongs to another agent than {id}");
                return failure(StatusCode::BAD_REQUEST, "invalid_request", message);
            }
            agent
        }
        (None, Some(key)) => match crate::methods::agent_for_key(&loaded, key) {
            Some(agent) => agent,
            None => {
                let message = format!("no configured agent owns the session {key}");
                return failure(StatusCode::BAD_REQUEST, "invalid_request", message);
            }
        },
        (None, None) => loaded.default_agent(),
    };
    let session_key = match explicit_key {
        Some(key) => key.to_owned(),
        None => SessionKey::main(&agent.id, "main").as_str().to_owned(),
    };
    let profile = match AgentProfile::from_resolved(agent, &loaded) {
        Ok(profile) => profile,
        Err(error) => return failure(StatusCode::SERVICE_UNAVAILABLE, "unavailable", error.to_string()),
    };
    if !http_allows(&loaded.config.gateway.tools, tool) {
        let message = format!("tool {tool} is not available over HTTP (add it to gateway.tools.allow to expose it)");
        return failure(StatusCode::NOT_FOUND, "not_found", message);
    }
    if !gateway.runtime.tool_available(&profile, tool) {
        let message =
            format!("tool {tool} is not available to agent {} (unknown, or denied by its tool policy)", agent.id);
        return failure(StatusCode::NOT_FOUND, "not_found", message);
    }
    let call_id = match text("idempotencyKey") {
        Some(key) => format!("http_{}", &crate::device::sha256_hex(key.as_bytes())[..16]),
        None => format!("http_{}", uuid::Uuid::new_v4().simple()),
    };
    let call = ToolCall { id: call_id, name: tool.to_owned(), arguments: args };
    match gateway.runtime.invoke_tool(&profile, &session_key, &call, "http:tools.invoke").await {
        Ok((result, "ok")) => {
            let content: Vec<Value> = result.content.iter().map(|part| json!(part)).collect();
            Json(json!({"ok": true, "result": {"content": content, "isError": false}})).into_response()
        }
        Ok((result, "error")) => failure(StatusCode::BAD_REQUEST, "tool_error", result.text()),
        Ok((result, _)) => failure(StatusCode::INTERNAL_SERVER_ERROR, "tool_failed", result.text()),
        Err(error) => failure(StatusCode::SERVICE_UNAVAILABLE, "unavailable", error.to_string()),
    }
}
