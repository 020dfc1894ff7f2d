//! The RPC methods. Each takes the connection (for its scopes and to stream events) and the request, and answers
//! with one response — or two for `agent`, which acknowledges first (`accepted`) and answers again when the run ends.

use std::sync::Arc;

use openclaw_agent::{AgentEvent, AgentProfile, TurnRequest};
use openclaw_protocol::gateway::{ErrorShape, RequestFrame, ResponseFrame};
use openclaw_protocol::{AgentMessage, SessionKey, TranscriptEntry};
use serde_json::{Value, json};

use crate::Gateway;
use crate::ws::Conn;

/// The methods this gateway answers (advertised in `hello-ok.features.methods`).
pub const METHODS: &[&str] = &[
    "health",
    "exec.approval.resolve",
    "status",
    "system-presence",
    "config.get",
    "config.set",
    "config.patch",
    "config.apply",
    "channels.status",
    "sessions.messages.subscribe",
    "sessions.messages.unsubscribe",
    "agents.list",
    "models.list",
    "sessions.list",
    "chat.history",
    "chat.send",
    "chat.abort",
    "agent",
    "agent.wait",
    "sessions.reset",
    "sessions.delete",
    "logs.tail",
];

/// The events this gateway emits.
pub(crate) const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "agent",
    "chat",
    "session.message",
    "presence",
    "health",
    "config.changed",
    "shutdown",
];

/// The reference's method → scope map (`@openclaw/gateway-protocol` 2026.9.1).
const METHOD_SCOPES: &str = include_str!("../data/method-scopes.json");

/// The scope a method needs, from the reference's map. `dynamic` methods (like `agent`) need write access here;
/// methods missing from the map need admin, so nothing is open by accident.
fn required_scope(method: &str) -> String {
    static MAP: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let map = MAP.get_or_init(|| serde_json::from_str(METHOD_SCOPES).unwrap_or(Value::Null));
    match map.get(method).and_then(|entry| entry.get("scope")).and_then(Value::as_str) {
        Some("dynamic") => "operator.write".to_owned(),
        Some(scope) => scope.to_owned(),
        None => "operator.admin".to_owned(),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> ErrorShape {
    ErrorShape::new("INVALID_REQUEST", message)
}

pub(crate) fn unavailable(message: impl Into<String>) -> ErrorShape {
    ErrorShape::new("UNAVAILABLE", message)
}

/// Answers one request.
pub(crate) async fn dispatch(gateway: &Arc<Gateway>, conn: Arc<Conn>, request: RequestFrame) {
    if !METHODS.contains(&request.method.as_str()) {
        let error = invalid(format!("unknown method: {}", request.method));
        conn.respond(ResponseFrame::error(&request.id, error)).await;
        return;
    }
    let scope = required_scope(&request.method);
    if !conn.has_scope(&scope) {
        let error = ErrorShape::new("FORBIDDEN", format!("missing scope: {scope}")).with_details(json!({
            "code": "MISSING_SCOPE", "missingScope": scope, "requiredScopes": [scope]
        }));
        conn.respond(ResponseFrame::error(&request.id, error)).await;
        return;
    }
    let result = match request.method.as_str() {
        "health" => health(gateway).await,
        "status" => status(gateway).await,
        "system-presence" => Ok(json!(gateway.presence_list())),
        "config.get" => config_get(gateway),
        "config.set" | "config.apply" => config_write(gateway, &request.params, None).await,
        "config.patch" => {
            let replace = request.params.get("replacePaths").cloned().unwrap_or(json!([]));
            config_write(gateway, &request.params, Some(replace)).await
        }
        "channels.status" => Ok(channels_status(gateway, &request.params).await),
        "sessions.messages.subscribe" => subscribe(&conn, &request.params, true),
        "sessions.messages.unsubscribe" => subscribe(&conn, &request.params, false),
        "logs.tail" => logs_tail(gateway, &request.params),
        "agent.wait" => agent_wait(gateway, &request.params).await,
        "chat.abort" => chat_abort(gateway, &request.params),
        "exec.approval.resolve" => crate::approvals::resolve(gateway, &request.params),
        "sessions.reset" => sessions_reset(gateway, &request.params).await,
        "sessions.delete" => sessions_delete(gateway, &request.params).await,
        "agents.list" => Ok(agents_list(gateway)),
        "models.list" => Ok(models_list(gateway)),
        "sessions.list" => sessions_list(gateway, &request.params).await,
        "chat.history" => chat_history(gateway, &request.params).await,
        "agent" => return agent(gateway, conn, &request).await,
        "chat.send" => return crate::webchat::chat_send(gateway, conn, &request).await,
        _ => Err(invalid(format!("unknown method: {}", request.method))),
    };
    let frame = match result {
        Ok(payload) => ResponseFrame::ok(&request.id, payload),
        Err(error) => ResponseFrame::error(&request.id, error),
    };
    conn.respond(frame).await;
}

/// `hello-ok.snapshot.sessionDefaults`.
pub(crate) fn session_defaults(gateway: &Gateway) -> Value {
    let loaded = gateway.loaded();
    let default_agent = loaded.default_agent();
    let main_key = &loaded.config.session.main_key;
    json!({
        "defaultAgentId": default_agent.id,
        "mainKey": main_key,
        "mainSessionKey": SessionKey::main(&default_agent.id, main_key).as_str(),
        "scope": loaded.config.session.scope,
    })
}

fn store_error(error: openclaw_store::StoreError) -> ErrorShape {
    unavailable(format!("the session store failed: {error}"))
}

/// How many active sessions there are and the five most recent, as `health` and `status` show them.
async fn recent_sessions(gateway: &Gateway, agent_id: Option<&str>) -> Result<(i64, Vec<Value>), ErrorShape> {
    let count = gateway.store.count_sessions(agent_id, true).await.map_err(store_error)?;
    let sessions = gateway.store.list_sessions(agent_id, true, 5).await.map_err(store_error)?;
    let now = openclaw_protocol::now_ms();
    let recent = sessions
        .iter()
        .map(|s| json!({"key": s.session_key, "sessionId": s.session_id, "updatedAt": s.updated_at, "age": now - s.updated_at}))
        .collect();
    Ok((count, recent))
}

pub(crate) async fn health(gateway: &Gateway) -> Result<Value, ErrorShape> {
    let loaded = gateway.loaded();
    let started = std::time::Instant::now();
    let path = loaded.paths.database_path().display().to_string();
    let default_agent = loaded.default_agent();
    let mut agents = Vec::new();
    for agent in loaded.agents() {
        let (count, recent) = recent_sessions(gateway, Some(&agent.id)).await?;
        agents.push(json!({
            "agentId": agent.id,
            "name": agent.name,
            "isDefault": agent.id == default_agent.id,
            "heartbeat": {"enabled": false, "every": "disabled", "everyMs": null},
            "sessions": {"path": path, "count": count, "recent": recent},
        }));
    }
    let (count, recent) = recent_sessions(gateway, None).await?;
    Ok(json!({
        "ok": true,
        "ts": openclaw_protocol::now_ms(),
        "durationMs": started.elapsed().as_millis() as u64,
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": 0,
        "defaultAgentId": default_agent.id,
        "agents": agents,
        "sessions": {"path": path, "count": count, "recent": recent},
    }))
}

async fn status(gateway: &Gateway) -> Result<Value, ErrorShape> {
    let loaded = gateway.loaded();
    let default_agent = loaded.default_agent();
    let (count, recent) = recent_sessions(gateway, None).await?;
    Ok(json!({
        "runtimeVersion": crate::VERSION,
        "heartbeat": {"defaultAgentId": default_agent.id, "agents": []},
        "channelSummary": [],
        "queuedSystemEvents": [],
        "sessions": {
            "paths": [loaded.paths.database_path()],
            "count": count,
            "defaults": {"model": default_agent.model, "contextTokens": null},
            "recent": recent,
            "byAgent": [],
        },
    }))
}

/// `logs.tail {cursor?, limit?, maxBytes?}` over `<state dir>/logs` ([`crate::logfile::tail`]).
fn logs_tail(gateway: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let dir = gateway.loaded().paths.state_dir.join("logs");
    crate::logfile::tail(&dir, params).map_err(|error| unavailable(format!("cannot read the log: {error}")))
}

pub(crate) use openclaw_config::REDACTED;

fn config_get(gateway: &Gateway) -> Result<Value, ErrorShape> {
    let loaded = gateway.loaded();
    let path = &loaded.paths.config_path;
    let hash = crate::device::sha256_hex(&std::fs::read(path).unwrap_or_default());
    let mut config = loaded.raw.clone();
    openclaw_config::redact(&mut config);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    Ok(json!({
        "path": path,
        "exists": loaded.exists,
        "valid": true,
        "config": config,
        "hash": hash,
        "configRevisionHash": hash,
        "appliedConfigHash": hash,
        "issues": [],
        "warnings": warnings,
    }))
}

/// `config.set` / `config.apply` `{raw, baseHash?}` (the whole file as JSON5) and `config.patch` `{raw, baseHash?,
/// replacePaths?}` (a merge patch): checked against the current file's hash, validated as a whole, written
/// (the previous file kept as `.bak`), then applied like a reload. A file that does not validate is not written.
async fn config_write(gateway: &Gateway, params: &Value, replace_paths: Option<Value>) -> Result<Value, ErrorShape> {
    let loaded = gateway.loaded();
    let paths = loaded.paths.clone();
    let raw = params.get("raw").and_then(Value::as_str).filter(|raw| !raw.trim().is_empty());
    let raw = raw.ok_or_else(|| invalid("params.raw (the config as JSON5 text) is required"))?;
    let current_hash = crate::reload::file_hash(&paths.config_path);
    if let Some(current) = &current_hash {
        match params.get("baseHash").and_then(Value::as_str) {
            None => return Err(invalid("config base hash required; re-run config.get and retry")),
            Some(base) if base != current => {
                return Err(invalid("config changed since last load; re-run config.get and retry"));
            }
            Some(_) => {}
        }
    }
    let submitted = openclaw_config::parse_json5(raw, std::path::Path::new("params.raw"))
        .map_err(|error| invalid(error.to_string()))?;
    let mut next = match replace_paths {
        None => submitted,
        Some(replace) => {
            if !submitted.is_object() {
                return Err(invalid("config.patch raw must be an object"));
            }
            let replace: Vec<String> = serde_json::from_value(replace)
                .map_err(|_| invalid("params.replacePaths must be an array of dotted paths"))?;
            let mut merged = loaded.raw.clone();
            crate::reload::merge_patch(&mut merged, &submitted, "", &replace).map_err(invalid)?;
            merged
        }
    };
    crate::reload::restore_redacted(&mut next, &loaded.raw);
    let text = openclaw_config::render_raw(&next);
    let validated = openclaw_config::load_text(&text, &paths, &crate::reload::env)
        .map_err(|error| invalid(error.to_string()).with_details(json!({"code": "INVALID_CONFIG"})))?;
    if crate::reload::changed_paths(&loaded.raw, &next).is_empty() {
        let mut config = next.clone();
        openclaw_config::redact(&mut config);
        return Ok(json!({"ok": true, "noop": true, "changedPaths": [], "path": paths.config_path, "config": config}));
    }
    openclaw_config::save_raw(&paths, &next).map_err(|error| unavailable(error.to_string()))?;
    let hash = crate::device::sha256_hex(text.as_bytes());
    let applied = gateway.apply_config(validated, hash.clone(), "config.write").map_err(unavailable)?;
    let mut config = next;
    openclaw_config::redact(&mut config);
    Ok(json!({
        "ok": true, "path": paths.config_path, "hash": hash, "config": config,
        "changedPaths": applied.changed, "reload": applied.outcome,
        "restart": {"required": applied.outcome == "restart" || applied.outcome == "restart-pending",
                    "scheduled": applied.outcome == "restart"},
    }))
}

/// `channels.status {probe?}`: the reference's shape (`channelOrder`, `channels`, `channelAccounts`) from the running
/// channels, plus `queues` (pending inbox, dead letters) and `errors` (channels that could not start).
async fn channels_status(gateway: &Gateway, params: &Value) -> Value {
    let loaded = gateway.loaded();
    let probe = params.get("probe").and_then(Value::as_bool).unwrap_or(false);
    let host = gateway.channels.get().cloned();
    let live = match &host {
        Some(host) => host.status(probe).await,
        None => json!({"accounts": [], "errors": [], "queues": {}}),
    };
    let accounts = live["accounts"].as_array().cloned().unwrap_or_default();
    let mut channels = serde_json::Map::new();
    let mut by_channel = serde_json::Map::new();
    let mut order = Vec::new();
    for (name, config) in &loaded.config.channels {
        if name == "defaults" || name == "modelByChannel" {
            continue;
        }
        order.push(json!(name));
        let enabled = config.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        let mine: Vec<Value> = accounts.iter().filter(|a| a["channel"] == json!(name)).cloned().collect();
        let error = live["errors"]
            .as_array()
            .and_then(|errors| {
                errors.iter().find(|e| e.as_str().is_some_and(|e| e.starts_with(&format!("channels.{name}"))))
            })
            .cloned();
        let running = !mine.is_empty();
        channels.insert(
            name.clone(),
            json!({"configured": true, "enabled": enabled, "running": running, "connected": running,
                   "lastError": error}),
        );
        by_channel.insert(name.clone(), json!(mine));
    }
    json!({"ts": openclaw_protocol::now_ms(), "channelOrder": order, "channels": channels,
           "channelAccounts": by_channel, "queues": live["queues"], "errors": live["errors"]})
}

/// `sessions.messages.subscribe|unsubscribe {key}`: `session.message` events for one session on this connection.
fn subscribe(conn: &Conn, params: &Value, on: bool) -> Result<Value, ErrorShape> {
    let key = key_param(params, if on { "sessions.messages.subscribe" } else { "sessions.messages.unsubscribe" })?;
    conn.subscribe(&key, on);
    Ok(json!({"ok": true, "key": key, "subscribed": on}))
}

fn agents_list(gateway: &Gateway) -> Value {
    let loaded = gateway.loaded();
    let default_agent = loaded.default_agent();
    let agents: Vec<Value> = loaded
        .agents()
        .iter()
        .map(|agent| {
            json!({"id": agent.id, "name": agent.name, "default": agent.id == default_agent.id,
                   "workspace": agent.workspace, "model": {"primary": agent.model, "fallbacks": agent.fallbacks}})
        })
        .collect();
    json!({
        "defaultId": default_agent.id,
        "mainKey": loaded.config.session.main_key,
        "scope": loaded.config.session.scope,
        "agents": agents,
    })
}

fn models_list(gateway: &Gateway) -> Value {
    let loaded = gateway.loaded();
    let mut models = Vec::new();
    for (provider, config) in &loaded.config.models.providers {
        for model in &config.models {
            models.push(json!({
                "id": model.id, "name": model.name.clone().unwrap_or_else(|| model.id.clone()), "provider": provider,
                "contextWindow": model.context_window, "reasoning": model.reasoning.unwrap_or(false),
            }));
        }
    }
    json!({"models": models})
}

async fn sessions_list(gateway: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let loaded = gateway.loaded();
    let agent_id = params.get("agentId").and_then(Value::as_str);
    let limit = params.get("limit").and_then(Value::as_i64).unwrap_or(100).clamp(1, 1000);
    let sessions = gateway.store.list_sessions(agent_id, true, limit).await.map_err(store_error)?;
    let rows: Vec<Value> = sessions
        .iter()
        .map(|s| {
            json!({"key": s.session_key, "sessionId": s.session_id, "agentId": s.agent_id, "updatedAt": s.updated_at,
                   "inputTokens": s.input_tokens, "outputTokens": s.output_tokens, "totalTokens": s.total_tokens,
                   "modelProvider": s.model_provider, "model": s.model})
        })
        .collect();
    Ok(json!({
        "ts": openclaw_protocol::now_ms(),
        "path": loaded.paths.database_path(),
        "count": rows.len(),
        "defaults": session_defaults(gateway),
        "sessions": rows,
    }))
}

async fn chat_history(gateway: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let key = params
        .get("sessionKey")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("chat.history needs params.sessionKey"))?;
    let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(200).clamp(1, 1000) as usize;
    let Some(session) = gateway.store.active_session(key).await.map_err(store_error)? else {
        return Ok(json!({"sessionKey": key, "sessionId": null, "messages": []}));
    };
    let entries = gateway.store.transcript(&session.session_id).await.map_err(store_error)?;
    let messages: Vec<&AgentMessage> = entries
        .iter()
        .filter_map(|stored| match &stored.entry {
            TranscriptEntry::Message(entry) => Some(&entry.message),
            _ => None,
        })
        .collect();
    let start = messages.len().saturating_sub(limit);
    Ok(json!({"sessionKey": key, "sessionId": session.session_id, "messages": &messages[start..]}))
}

/// `agent`: acknowledge, stream `agent` events, answer again with the result under the same request id.
async fn agent(gateway: &Arc<Gateway>, conn: Arc<Conn>, request: &RequestFrame) {
    let loaded = gateway.loaded();
    let params = &request.params;
    let Some(message) = params.get("message").and_then(Value::as_str).filter(|m| !m.trim().is_empty()) else {
        conn.respond(ResponseFrame::error(&request.id, invalid("agent needs params.message"))).await;
        return;
    };
    let requested = match params.get("agentId").and_then(Value::as_str) {
        Some(id) => match loaded.agent(id) {
            Some(agent) => Some(agent),
            None => {
                return conn.respond(ResponseFrame::error(&request.id, invalid(format!("unknown agent: {id}")))).await;
            }
        },
        None => None,
    };
    let host = gateway.channels.get().map(|host| host.as_ref());
    let plan = match crate::deliver::plan(host, &loaded, params, requested.map(|agent| agent.id.as_str())) {
        Ok(plan) => plan,
        Err(error) => return conn.respond(ResponseFrame::error(&request.id, error)).await,
    };
    // An agent named wins; else the one the channel conversation routes to (routing only names agents that
    // exist); else the default agent.
    let routed = plan.route.as_ref();
    let agent =
        requested.or_else(|| routed.and_then(|route| loaded.agent(&route.agent_id))).unwrap_or(loaded.default_agent());
    let raw_key = params.get("sessionKey").and_then(Value::as_str);
    let session_key = match (raw_key, routed) {
        (None, Some(route)) => route.session_key.clone(),
        _ => SessionKey::scoped(&agent.id, raw_key, &loaded.config.session.main_key).as_str().to_owned(),
    };
    let reply = plan.reply;
    let prepared = prepare_run(gateway, &conn, params, agent, session_key);
    let (run, profile) = match prepared {
        Ok(Prepared::New(prepared)) => *prepared,
        // A retry of a request already seen: answer with that run's result (waiting for it if it still runs).
        Ok(Prepared::Seen { run_id, seen }) => {
            let result = match seen {
                crate::runs::Waited::Pending(done) => crate::runs::settled(done, RETRY_WAIT).await,
                crate::runs::Waited::Finished(result) => Some(result),
                crate::runs::Waited::Unknown => None,
            };
            let result =
                result.unwrap_or_else(|| json!({"runId": run_id, "status": "timeout", "summary": "still running"}));
            return conn.respond(ResponseFrame::ok(&request.id, result)).await;
        }
        Err(error) => return conn.respond(ResponseFrame::error(&request.id, error)).await,
    };
    conn.respond(ResponseFrame::ok(
        &request.id,
        json!({"runId": run.run_id, "sessionKey": run.session_key, "agentId": run.agent_id, "status": "accepted",
               "acceptedAt": openclaw_protocol::now_ms()}),
    ))
    .await;
    let run_id = run.run_id.clone();
    let delivery = reply.map(|reply| openclaw_store::Delivery { inbox_id: None, reply });
    let delivering = delivery.is_some();
    let turn = TurnRequest { delivery, ..TurnRequest::new(run.session_key.clone(), message) };
    let mut text = String::new();
    let (outcome, final_answer, mut finisher) = run
        .stream(gateway, &profile, turn, "agent", move |event| match event {
            AgentEvent::RunStarted { session_id, .. } => {
                Some(json!({"stream": "lifecycle", "sessionId": session_id, "data": {"phase": "start"}}))
            }
            AgentEvent::ModelStarted { provider, model } => Some(json!({"stream": "run_status",
                "data": {"status": "starting_model", "provider": provider, "model": model}})),
            AgentEvent::TextDelta(delta) => {
                text.push_str(delta);
                Some(json!({"stream": "assistant", "data": {"text": text, "delta": delta}}))
            }
            AgentEvent::ToolStarted { name } => Some(json!({"stream": "tool", "data": {"phase": "start", "name": name}})),
            AgentEvent::ToolFinished { name, is_error, duration_ms } => Some(
                json!({"stream": "tool", "data": {"phase": "end", "name": name, "isError": is_error, "durationMs": duration_ms}}),
            ),
            _ => None,
        })
        .await;
    if let Ok(done) = &outcome {
        let usage = json!({"input": done.usage.input, "output": done.usage.output, "total": done.usage.total_tokens});
        finisher.send("agent", json!({"stream": "usage", "data": usage})).await;
    }
    let (stop_reason, aborted) = match &outcome {
        Ok(_) => ("stop", false),
        Err(openclaw_agent::AgentError::Aborted) => ("aborted", true),
        Err(_) => ("error", false),
    };
    let end = json!({"phase": "end", "stopReason": stop_reason, "aborted": aborted, "status": final_answer["status"]});
    finisher.send("agent", json!({"stream": "lifecycle", "data": end})).await;
    let frame = match outcome {
        Ok(done) if delivering => {
            let host = gateway.channels.get().map(|host| host.as_ref());
            let status = crate::deliver::status(host, gateway.store.as_ref(), &done.run_id, done.silent).await;
            let mut answer = final_answer;
            answer["deliveryStatus"] = status.clone();
            answer["result"]["deliveryStatus"] = status;
            ResponseFrame::ok(&request.id, answer)
        }
        Ok(_) => ResponseFrame::ok(&request.id, final_answer),
        Err(error) => {
            ResponseFrame::error(&request.id, unavailable(error.to_string()).with_details(json!({"runId": run_id})))
        }
    };
    conn.respond(frame).await;
}

/// One streamed run: events of the turn go to the connection as they happen, each stamped with the run's identity
/// and a per-run `seq`. It is registered in `gateway.runs` (for `agent.wait` / `chat.abort`) from `prepare_run` on.
pub(crate) struct Run {
    conn: Arc<Conn>,
    run_id: String,
    session_key: String,
    agent_id: String,
    handle: crate::runs::RunHandle,
}

/// What `prepare_run` found.
enum Prepared {
    /// A new run, registered.
    New(Box<(Run, AgentProfile)>),
    /// The idempotency key of a run this gateway has seen (finished, or still running).
    Seen { run_id: String, seen: crate::runs::Waited },
}

/// How long a retried `agent` waits for the run it repeats.
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The checks both `agent` and `chat.send` make before acknowledging: not draining, an idempotency key not seen
/// before, a usable agent profile. The run is registered when this returns `New`.
fn prepare_run(
    gateway: &Gateway,
    conn: &Arc<Conn>,
    params: &Value,
    agent: &openclaw_config::ResolvedAgent,
    session_key: String,
) -> Result<Prepared, ErrorShape> {
    let loaded = gateway.loaded();
    if gateway.is_draining() {
        return Err(draining());
    }
    let run_id = params
        .get("idempotencyKey")
        .and_then(Value::as_str)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| invalid("params.idempotencyKey is required (a unique id per request)"))?
        .to_owned();
    let profile = AgentProfile::from_resolved(agent, &loaded).map_err(|error| unavailable(error.to_string()))?;
    let handle = match gateway.runs.start(&run_id, &session_key) {
        Ok(handle) => handle,
        Err(seen) => return Ok(Prepared::Seen { run_id, seen }),
    };
    let run = Run { conn: conn.clone(), run_id, session_key, agent_id: agent.id.clone(), handle };
    Ok(Prepared::New(Box::new((run, profile))))
}

/// An event payload stamped with the run's identity and its place in the run's sequence.
pub(crate) fn stamped(identity: &Value, seq: u64, event: &Value) -> Value {
    let mut payload = identity.clone();
    if let (Some(target), Some(source)) = (payload.as_object_mut(), event.as_object()) {
        target.extend(source.clone());
        target.insert("seq".to_owned(), json!(seq));
        target.insert("ts".to_owned(), json!(openclaw_protocol::now_ms()));
    }
    payload
}

impl Run {
    fn identity(&self) -> Value {
        json!({"runId": self.run_id, "sessionKey": self.session_key, "agentId": self.agent_id})
    }

    /// Runs the turn, streaming `to_payload`'s events; returns the outcome, the final answer (also published for
    /// `agent.wait`), and the last `seq` used.
    pub(crate) fn new(
        conn: Arc<Conn>,
        run_id: String,
        session_key: String,
        agent_id: String,
        handle: crate::runs::RunHandle,
    ) -> Self {
        Run { conn, run_id, session_key, agent_id, handle }
    }

    pub(crate) async fn stream(
        self,
        gateway: &Gateway,
        profile: &AgentProfile,
        mut turn: TurnRequest,
        event_name: &'static str,
        mut to_payload: impl FnMut(&AgentEvent) -> Option<Value> + Send,
    ) -> (Result<openclaw_agent::TurnOutcome, openclaw_agent::AgentError>, Value, Finisher) {
        // The runtime reports events synchronously; a task forwards them to the socket as they come, in order.
        let identity = self.identity();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let forwarder = {
            let conn = self.conn.clone();
            let identity = identity.clone();
            tokio::spawn(async move {
                let mut seq = 0_u64;
                while let Some(event) = rx.recv().await {
                    seq += 1;
                    conn.event(event_name, stamped(&identity, seq, &event)).await;
                }
                seq
            })
        };
        let mut on_event = |event: &AgentEvent| {
            if let Some(payload) = to_payload(event) {
                let _ = tx.send(payload);
            }
        };
        let watch = crate::runs::join_abort(&mut turn, &self.handle.abort);
        let outcome = gateway.run_turn(profile, turn, &mut on_event).await;
        drop(watch);
        drop(tx);
        let last_seq = forwarder.await.unwrap_or(0);
        let payload = final_payload(&self.run_id, &outcome.as_ref());
        tracing::info!(run_id = %self.run_id, agent = %self.agent_id, status = %payload["status"], "Run finished.");
        gateway.runs.finish(self.handle, payload.clone());
        let finisher = Finisher { conn: self.conn, identity, next_seq: last_seq + 1 };
        (outcome, payload, finisher)
    }
}

/// Sends the event that closes a run's stream (`chat` final / error), continuing its sequence.
pub(crate) struct Finisher {
    conn: Arc<Conn>,
    identity: Value,
    next_seq: u64,
}

impl Finisher {
    /// The `seq` the next event takes.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub(crate) async fn send(&mut self, event_name: &str, event: Value) {
        self.conn.event(event_name, stamped(&self.identity, self.next_seq, &event)).await;
        self.next_seq += 1;
    }
}

/// The agent that owns a session key (`agent:<id>:…`), else the default agent.
pub(crate) fn agent_for_key<'a>(
    loaded: &'a openclaw_config::Loaded,
    session_key: &str,
) -> Option<&'a openclaw_config::ResolvedAgent> {
    match SessionKey::parse(session_key).as_ref().and_then(SessionKey::agent_id) {
        Some(id) => loaded.agent(id),
        None => Some(loaded.default_agent()),
    }
}

pub(crate) fn draining() -> ErrorShape {
    let mut error = unavailable("the gateway is shutting down; retry against the restarted gateway");
    error.retryable = Some(true);
    error.retry_after_ms = Some(1000);
    error
}

/// Runs a turn no connection waits on (hooks): registered in `gateway.runs` for `agent.wait`, `chat.abort` and the
/// drain on shutdown.
pub(crate) async fn run_detached(
    gateway: Arc<Gateway>,
    profile: AgentProfile,
    mut turn: TurnRequest,
    handle: crate::runs::RunHandle,
    run_id: String,
) {
    turn.abort = Some(handle.abort.clone());
    let outcome = gateway.run_turn(&profile, turn, &mut |_| {}).await;
    let payload = final_payload(&run_id, &outcome.as_ref());
    let status = payload["status"].as_str().unwrap_or("error");
    if status == "ok" {
        tracing::info!(run_id = %run_id, agent = %profile.id, status, "hook agent run completed");
    } else {
        tracing::warn!(run_id = %run_id, agent = %profile.id, status, error = %payload["error"], "hook agent run completed");
    }
    gateway.runs.finish(handle, payload);
}

/// The final answer of a run, as `agent` sends it and `agent.wait` returns it.
pub(crate) fn final_payload(
    run_id: &str,
    outcome: &Result<&openclaw_agent::TurnOutcome, &openclaw_agent::AgentError>,
) -> Value {
    match outcome {
        Ok(done) => json!({
            "runId": run_id,
            "status": "ok",
            "summary": "completed",
            "result": {
                "payloads": if done.silent { json!([]) } else { json!([{"text": done.text}]) },
                "meta": {"durationMs": done.duration_ms, "agentMeta": {
                    "sessionId": done.session_id, "provider": done.provider, "model": done.model,
                    "usage": {"input": done.usage.input, "output": done.usage.output, "total": done.usage.total_tokens}}},
            },
        }),
        Err(openclaw_agent::AgentError::Aborted) => json!({"runId": run_id, "status": "aborted", "summary": "aborted"}),
        Err(openclaw_agent::AgentError::Timeout(_)) => {
            json!({"runId": run_id, "status": "timeout", "summary": "timed out"})
        }
        Err(error) => json!({"runId": run_id, "status": "error", "summary": "failed", "error": error.to_string()}),
    }
}

/// `agent.wait {runId, timeoutMs?}`: the run's final answer, waiting up to `timeoutMs` (default 30 s).
async fn agent_wait(gateway: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let run_id = params.get("runId").and_then(Value::as_str).ok_or_else(|| invalid("agent.wait needs params.runId"))?;
    let timeout = params.get("timeoutMs").and_then(Value::as_u64).unwrap_or(30_000).min(3_600_000);
    match gateway.runs.wait(run_id) {
        crate::runs::Waited::Finished(result) => Ok(result),
        crate::runs::Waited::Pending(done) => {
            let result = crate::runs::settled(done, std::time::Duration::from_millis(timeout)).await;
            Ok(result.unwrap_or_else(|| json!({"runId": run_id, "status": "timeout", "summary": "still running"})))
        }
        crate::runs::Waited::Unknown => match gateway.store.run(run_id).await.map_err(store_error)? {
            // A run from before this gateway started: its stored status is all there is.
            Some(run) => {
                let status = match run.status.as_str() {
                    "done" => "ok",
                    "running" => "running",
                    "aborted" => "aborted",
                    "timeout" => "timeout",
                    _ => "error",
                };
                Ok(json!({"runId": run_id, "status": status, "sessionKey": run.session_key, "error": run.error}))
            }
            None => Err(invalid(format!("unknown run: {run_id}"))),
        },
    }
}

/// `chat.abort {sessionKey, runId?}`.
fn chat_abort(gateway: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let key = params
        .get("sessionKey")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("chat.abort needs params.sessionKey"))?;
    let run_ids = gateway.runs.abort(key, params.get("runId").and_then(Value::as_str));
    Ok(json!({"ok": true, "aborted": !run_ids.is_empty(), "runIds": run_ids}))
}

fn key_param(params: &Value, method: &str) -> Result<String, ErrorShape> {
    params
        .get("key")
        .or_else(|| params.get("sessionKey"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("{method} needs params.key")))
}

/// `sessions.reset {key}`: the next message starts a new session window (the old one stays in the store).
async fn sessions_reset(gateway: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let key = key_param(params, "sessions.reset")?;
    let reset = gateway.store.end_session(&key).await.map_err(store_error)?;
    Ok(json!({"ok": true, "key": key, "reset": reset}))
}

/// `sessions.delete {key}`: stops its runs, then deletes its windows and transcripts.
async fn sessions_delete(gateway: &Gateway, params: &Value) -> Result<Value, ErrorShape> {
    let key = key_param(params, "sessions.delete")?;
    gateway.runs.abort(&key, None);
    let deleted = gateway.store.delete_session(&key).await.map_err(store_error)?;
    Ok(json!({"ok": true, "key": key, "deleted": deleted > 0, "windows": deleted}))
}
