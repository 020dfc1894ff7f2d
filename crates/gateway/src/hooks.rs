//! HTTP hooks (`hooks.*`): `POST <hooks.path>/agent` submits an agent turn, `POST <hooks.path>/wake` queues a system
//! event for an agent's main session (and with `mode: "now"` runs it at once), and `POST <hooks.path>/<name>` goes
//! through `hooks.mappings` (first match on `match.path` / `match.source`; `messageTemplate` / `textTemplate` render
//! the payload with minijinja). Auth is the dedicated hook token (`Authorization: Bearer` or `x-openclaw-token`),
//! throttled after 20 failures a minute per address. `Idempotency-Key` (or `idempotencyKey`) makes a retry return
//! the run it already started instead of starting another.
//!
//! Hook content comes from outside: the agent receives it wrapped and marked as untrusted data.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use openclaw_agent::{AgentProfile, TurnRequest};
use openclaw_config::{HookMapping, HooksConfig, Loaded, ResolvedAgent};
use openclaw_protocol::SessionKey;
use serde_json::{Value, json};

use crate::Gateway;
use crate::runs::Waited;

const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long `waitForCompletion` keeps the request open at most.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"ok": false, "error": message.into()}))).into_response()
}

/// A refusal before anything runs.
struct Reject(StatusCode, String);

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// Every request no route matched: a hook when `hooks.enabled` and under `hooks.path`, else 404.
pub(crate) async fn fallback(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let loaded = gateway.loaded();
    let hooks = &loaded.config.hooks;
    if !hooks.enabled {
        return not_found();
    }
    let base = format!("/{}", hooks.path.as_deref().unwrap_or("/hooks").trim_matches('/'));
    let path = request.uri().path().to_owned();
    let Some(sub) = path.strip_prefix(&base).filter(|rest| rest.is_empty() || rest.starts_with('/')) else {
        return not_found();
    };
    let sub = sub.trim_matches('/').to_owned();
    if request.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, [(axum::http::header::ALLOW, "POST")], "use POST").into_response();
    }
    if request.uri().query().is_some_and(|query| query.split('&').any(|pair| pair.starts_with("token="))) {
        return error(StatusCode::BAD_REQUEST, "a token in the query string is refused; send Authorization: Bearer");
    }
    let headers = request.headers().clone();
    let token = hooks.token.clone().unwrap_or_default();
    let presented = crate::http::presented_token(&headers, true);
    let checked = crate::http::check_secret(&gateway.hook_failures, peer.ip(), presented.as_deref(), |given| {
        !token.is_empty() && crate::secret_eq(given, &token)
    });
    match checked {
        Ok(()) => {}
        Err(crate::http::Denied::Unauthorized) => return error(StatusCode::UNAUTHORIZED, "Unauthorized"),
        Err(crate::http::Denied::RateLimited(seconds)) => {
            let response = error(StatusCode::TOO_MANY_REQUESTS, "too many failed hook authentications");
            return (crate::http::retry_after(seconds), response).into_response();
        }
    }
    let bytes = match axum::body::to_bytes(Body::new(request.into_body()), MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body exceeds {MAX_BODY_BYTES} bytes")),
    };
    let payload: Value = match serde_json::from_slice(&bytes) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "the body must be a JSON object"),
        Err(parse) => return error(StatusCode::BAD_REQUEST, format!("the body is not valid JSON: {parse}")),
    };
    let hook = Hook { gateway: &gateway, loaded: &loaded, hooks, headers: &headers };
    match sub.as_str() {
        "agent" => hook.agent(&payload, None).await,
        "wake" => hook.wake(&payload, None).await,
        "" => not_found(),
        name => hook.mapped(name, &payload).await,
    }
}

struct Hook<'a> {
    gateway: &'a Arc<Gateway>,
    loaded: &'a Loaded,
    hooks: &'a HooksConfig,
    headers: &'a HeaderMap,
}

/// Marks hook content as data from outside, not instructions from the operator.
/// Renders a mapping template over the payload; `{{ field }}` reads a top-level payload field.
fn render(template: &str, payload: &Value) -> Result<String, String> {
    let env = minijinja::Environment::new();
    env.render_str(template, minijinja::value::Serde(payload)).map_err(|error| format!("hook template failed: {error}"))
}

impl Hook<'_> {
    fn text<'v>(payload: &'v Value, name: &str) -> Option<&'v str> {
        payload.get(name).and_then(Value::as_str).filter(|value| !value.trim().is_empty())
    }

    /// The agent a hook addresses, checked against `hooks.allowedAgentIds`.
    fn target(&self, requested: Option<&str>) -> Result<&ResolvedAgent, Reject> {
        let agent = match requested {
            Some(id) => self.loaded.agent(id).ok_or_else(|| {
                Reject(StatusCode::BAD_REQUEST, format!("unknown agent: {id} (configure it, or omit agentId)"))
            })?,
            None => self.loaded.default_agent(),
        };
        let allowed = self
            .hooks
            .allowed_agent_ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|allowed| allowed == "*" || allowed == &agent.id));
        if !allowed {
            let message = format!("agent {} is not in hooks.allowedAgentIds", agent.id);
            return Err(Reject(StatusCode::BAD_REQUEST, message));
        }
        Ok(agent)
    }

    /// A caller-chosen session key, if policy allows it (`allowRequestSessionKey` and the prefix list), always
    /// under the target agent: an `agent:<id>:…` key must name that agent (a hook for agent `hooks` cannot read or
    /// write `agent:main:main`), and the prefix rule applies to the part after `agent:<id>:`.
    fn checked_key(&self, key: &str, from_caller: bool, agent_id: &str) -> Result<String, Reject> {
        if from_caller && !self.hooks.allow_request_session_key {
            let message = "a sessionKey in the request needs hooks.allowRequestSessionKey: true";
            return Err(Reject(StatusCode::BAD_REQUEST, message.to_owned()));
        }
        let prefixes: Vec<String> = self
            .hooks
            .allowed_session_key_prefixes
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| p.to_lowercase())
            .collect();
        let lowered = key.trim().to_lowercase();
        let bare = match lowered.strip_prefix("agent:") {
            Some(rest) => {
                let (named, bare) = rest.split_once(':').unwrap_or((rest, ""));
                if named != agent_id.to_lowercase() {
                    let message = format!(
                        "sessionKey {} belongs to agent {named:?}, but this hook runs agent {agent_id:?}; use a key of that agent (or a bare key, which is scoped to it)",
                        openclaw_protocol::log_safe(key)
                    );
                    return Err(Reject(StatusCode::FORBIDDEN, message));
                }
                bare.to_owned()
            }
            None => lowered.clone(),
        };
        if bare.is_empty() {
            return Err(Reject(StatusCode::BAD_REQUEST, "sessionKey names no session".to_owned()));
        }
        if !prefixes.is_empty() && !prefixes.iter().any(|p| bare.starts_with(p.as_str())) {
            let message = format!(
                "sessionKey {} does not match hooks.allowedSessionKeyPrefixes",
                openclaw_protocol::log_safe(key)
            );
            return Err(Reject(StatusCode::BAD_REQUEST, message));
        }
        Ok(format!("agent:{agent_id}:{bare}"))
    }

    /// `/hooks/agent` (or a mapping with `action: agent`): admits one turn and answers `{ok, runId}`.
    async fn agent(&self, payload: &Value, mapping: Option<(&HookMapping, String)>) -> Response {
        let (message, name) = match &mapping {
            Some((m, message)) => (message.clone(), m.name.clone().unwrap_or_else(|| "Hook".to_owned())),
            None => match Self::text(payload, "message") {
                Some(message) => (message.to_owned(), Self::text(payload, "name").unwrap_or("Hook").to_owned()),
                None => return error(StatusCode::BAD_REQUEST, "message is required"),
            },
        };
        let deliver = payload.get("deliver").and_then(Value::as_bool).unwrap_or(true);
        let channel = mapping.as_ref().and_then(|(m, _)| m.channel.as_deref()).or(Self::text(payload, "channel"));
        let to = mapping.as_ref().and_then(|(m, _)| m.to.as_deref()).or(Self::text(payload, "to"));
        if deliver && (channel.is_some() || to.is_some()) {
            if channel.is_none() || to.is_none() || channel == Some("last") {
                return error(
                    StatusCode::BAD_REQUEST,
                    "direct delivery needs both channel and to (channel \"last\" is not accepted)",
                );
            }
            let message = format!("channel {} is not available on this gateway", channel.unwrap_or_default());
            return error(StatusCode::BAD_REQUEST, message);
        }
        let requested_agent =
            mapping.as_ref().and_then(|(m, _)| m.agent_id.as_deref()).or(Self::text(payload, "agentId"));
        let agent = match self.target(requested_agent) {
            Ok(agent) => agent,
            Err(reject) => return reject.into_response(),
        };
        let persistent = payload.get("sessionMode").and_then(Value::as_str) == Some("persistent");
        let logical =
            match (mapping.as_ref().and_then(|(m, _)| m.session_key.clone()), Self::text(payload, "sessionKey")) {
                (Some(key), _) => self.checked_key(&key, false, &agent.id),
                (None, Some(key)) if mapping.is_none() => self.checked_key(key, true, &agent.id),
                _ => match &self.hooks.default_session_key {
                    Some(key) => self.checked_key(key, false, &agent.id),
                    None if persistent => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "sessionMode persistent needs a sessionKey (and hooks.allowRequestSessionKey)",
                        );
                    }
                    None => Ok(format!("hook:{}", uuid::Uuid::new_v4())),
                },
            };
        let logical = match logical {
            Ok(key) => key,
            Err(reject) => return reject.into_response(),
        };
        let raw = if persistent { logical } else { format!("{logical}:run:{}", uuid::Uuid::new_v4().simple()) };
        let session_key =
            SessionKey::scoped(&agent.id, Some(&raw), &self.loaded.config.session.main_key).as_str().to_owned();
        let mut profile = match AgentProfile::from_resolved(agent, self.loaded) {
            Ok(profile) => profile,
            Err(failure) => return error(StatusCode::BAD_GATEWAY, failure.to_string()),
        };
        if let Some(seconds) = payload.get("timeoutSeconds").and_then(Value::as_f64).filter(|s| *s >= 1.0) {
            profile.timeout = Some(std::time::Duration::from_secs(seconds as u64));
        }
        let idempotency = self
            .headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok())
            .or(Self::text(payload, "idempotencyKey"))
            .map(|key| format!("hook:{key}"));
        let wait = mapping.is_none() && payload.get("waitForCompletion").and_then(Value::as_bool) == Some(true);
        let run_id = idempotency.unwrap_or_else(|| format!("hook:{}", uuid::Uuid::new_v4()));
        if self.gateway.is_draining() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "gateway_unavailable: the gateway is restarting");
        }
        let replay = match self.gateway.runs.start(&run_id, &session_key) {
            Ok(handle) => {
                let turn =
                    TurnRequest::new(session_key.clone(), crate::wrap_external(&format!("the hook {name}"), &message));
                let run = crate::methods::run_detached(self.gateway.clone(), profile, turn, handle, run_id.clone());
                tokio::spawn(run);
                false
            }
            Err(_) => true,
        };
        tracing::info!(run_id = %run_id, agent = %agent.id, hook = %openclaw_protocol::log_safe(&name), replay, "Hook agent run admitted.");
        if !wait {
            return Json(json!({"ok": true, "runId": run_id})).into_response();
        }
        let result = match self.gateway.runs.wait(&run_id) {
            Waited::Finished(result) => Some(result),
            Waited::Pending(done) => crate::runs::settled(done, MAX_WAIT).await,
            Waited::Unknown => None,
        };
        let result = result.unwrap_or_else(|| json!({"status": "timeout"}));
        let status = result.get("status").and_then(Value::as_str).unwrap_or("error").to_owned();
        let payloads = result.pointer("/result/payloads").and_then(Value::as_array).map_or(0, Vec::len);
        let disposition = if status != "ok" {
            "empty"
        } else if payloads == 0 {
            "silent"
        } else {
            "visible"
        };
        Json(json!({"ok": true, "runId": run_id, "completion": {
            "status": status, "replyDisposition": disposition, "delivered": false, "deliveryAttempted": false,
        }}))
        .into_response()
    }

    /// `/hooks/wake` (or a mapping with `action: wake`): queues `text` as a system event for the agent's main
    /// session; `mode: "now"` (the default) also runs a turn on it at once.
    async fn wake(&self, payload: &Value, mapped: Option<(&HookMapping, String)>) -> Response {
        let text = match &mapped {
            Some((_, text)) => text.clone(),
            None => match Self::text(payload, "text") {
                Some(text) => text.to_owned(),
                None => return error(StatusCode::BAD_REQUEST, "text is required"),
            },
        };
        let mode = mapped
            .as_ref()
            .and_then(|(m, _)| m.wake_mode.clone())
            .or_else(|| Self::text(payload, "mode").map(str::to_owned))
            .unwrap_or_else(|| "now".to_owned());
        if mode != "now" && mode != "next-heartbeat" {
            return error(StatusCode::BAD_REQUEST, format!("mode {mode:?} is not valid; use now or next-heartbeat"));
        }
        let requested_agent =
            mapped.as_ref().and_then(|(m, _)| m.agent_id.as_deref()).or(Self::text(payload, "agentId"));
        let agent = match self.target(requested_agent) {
            Ok(agent) => agent,
            Err(reject) => return reject.into_response(),
        };
        let main = SessionKey::main(&agent.id, &self.loaded.config.session.main_key).as_str().to_owned();
        let session_key = match Self::text(payload, "sessionKey").filter(|_| mapped.is_none()) {
            Some(key) if mode == "now" => match self.checked_key(key, true, &agent.id) {
                Ok(key) => key,
                Err(reject) => return reject.into_response(),
            },
            Some(_) => return error(StatusCode::BAD_REQUEST, "a sessionKey needs mode \"now\""),
            None => main,
        };
        let outcome = self.gateway.queue_system_event(&session_key, &text);
        if mode == "now" {
            let profile = match AgentProfile::from_resolved(agent, self.loaded) {
                Ok(profile) => profile,
                Err(failure) => return error(StatusCode::BAD_GATEWAY, failure.to_string()),
            };
            let run_id = format!("wake:{}", uuid::Uuid::new_v4());
            if let Ok(handle) = self.gateway.runs.start(&run_id, &session_key) {
                let turn = TurnRequest::new(
                    session_key.clone(),
                    "A system event arrived (the external data above); handle it.",
                );
                tokio::spawn(crate::methods::run_detached(self.gateway.clone(), profile, turn, handle, run_id));
            }
        }
        Json(json!({"ok": true, "mode": mode, "eventOutcome": outcome})).into_response()
    }

    /// `/hooks/<name>`: the first mapping whose `match` fits.
    async fn mapped(&self, name: &str, payload: &Value) -> Response {
        let source = Self::text(payload, "source");
        let mapping = self.hooks.mappings.iter().find(|mapping| {
            mapping.match_.path.as_deref().is_none_or(|path| path.trim_matches('/') == name)
                && mapping.match_.source.as_deref().is_none_or(|wanted| source == Some(wanted))
        });
        let Some(mapping) = mapping else { return not_found() };
        let wake = mapping.action.as_deref() == Some("wake");
        let template = if wake { &mapping.text_template } else { &mapping.message_template };
        let rendered = match template {
            Some(template) => render(template, payload),
            None => Ok(Self::text(payload, if wake { "text" } else { "message" }).unwrap_or_default().to_owned()),
        };
        let rendered = match rendered {
            Ok(text) if text.trim().is_empty() => return StatusCode::NO_CONTENT.into_response(),
            Ok(text) => text,
            Err(failure) => {
                tracing::warn!(error = %failure, mapping = %openclaw_protocol::log_safe(name), "hook mapping failed");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "hook mapping failed");
            }
        };
        if wake {
            self.wake(payload, Some((mapping, rendered))).await
        } else {
            self.agent(payload, Some((mapping, rendered))).await
        }
    }
}
