//! Exec approvals over the gateway: a command that needs a person's decision (`tools.exec.ask`) is announced to
//! operator clients as `exec.approval.requested`; the first `exec.approval.resolve` decides it (`allow-once`,
//! `allow-always`, `deny`), and `exec.approval.resolved` tells everyone. No answer in time is a denial.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use openclaw_protocol::gateway::ErrorShape;
use openclaw_tools::{ApprovalRequest, Approver, Decision};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::Gateway;

/// How long a request waits for a decision.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Requests waiting for a decision, and the commands allowed for good (per agent, until the gateway restarts).
#[derive(Default)]
pub(crate) struct Approvals {
    pending: Mutex<HashMap<String, oneshot::Sender<Decision>>>,
    always: Mutex<HashSet<(String, String)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn label(decision: Decision) -> &'static str {
    match decision {
        Decision::AllowOnce => "allow-once",
        Decision::AllowAlways => "allow-always",
        Decision::Deny => "deny",
    }
}

/// The runtime's approver: asks the gateway's operator clients.
pub(crate) struct GatewayApprover {
    pub(crate) gateway: Weak<Gateway>,
}

#[async_trait::async_trait]
impl Approver for GatewayApprover {
    async fn decide(&self, request: ApprovalRequest) -> Decision {
        let Some(gateway) = self.gateway.upgrade() else { return Decision::Deny };
        let key = (request.agent_id.clone(), request.command.clone());
        if lock(&gateway.approvals.always).contains(&key) {
            return Decision::AllowOnce;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (sender, receiver) = oneshot::channel();
        lock(&gateway.approvals.pending).insert(id.clone(), sender);
        let created = openclaw_protocol::now_ms();
        gateway.broadcast(
            "exec.approval.requested",
            json!({
                "id": id,
                "request": {
                    "command": request.command,
                    "cwd": request.cwd,
                    "host": "gateway",
                    "agentId": request.agent_id,
                    "sessionKey": request.session_key,
                },
                "createdAtMs": created,
                "expiresAtMs": created + APPROVAL_TIMEOUT.as_millis() as i64,
            }),
            Some("operator.approvals"),
        );
        let decision = match tokio::time::timeout(APPROVAL_TIMEOUT, receiver).await {
            Ok(Ok(decision)) => decision,
            _ => {
                lock(&gateway.approvals.pending).remove(&id);
                Decision::Deny
            }
        };
        if decision == Decision::AllowAlways {
            lock(&gateway.approvals.always).insert(key);
        }
        gateway.broadcast(
            "exec.approval.resolved",
            json!({"id": id, "decision": label(decision), "ts": openclaw_protocol::now_ms()}),
            Some("operator.approvals"),
        );
        decision
    }
}

/// `exec.approval.resolve {id, decision}`.
pub(crate) fn resolve(gateway: &Arc<Gateway>, params: &Value) -> Result<Value, ErrorShape> {
    let invalid = |message: String| ErrorShape::new("INVALID_REQUEST", message);
    let id = params.get("id").and_then(Value::as_str).ok_or_else(|| invalid("id is required".into()))?;
    let decision = match params.get("decision").and_then(Value::as_str) {
        Some("allow-once") => Decision::AllowOnce,
        Some("allow-always") => Decision::AllowAlways,
        Some("deny") => Decision::Deny,
        other => {
            return Err(invalid(format!(
                "decision must be \"allow-once\", \"allow-always\" or \"deny\", got {}",
                other.map_or("nothing".to_owned(), |d| format!("{d:?}"))
            )));
        }
    };
    let sender = lock(&gateway.approvals.pending)
        .remove(id)
        .ok_or_else(|| invalid(format!("no pending approval {id} (already decided, or expired)")))?;
    let _ = sender.send(decision);
    Ok(json!({"ok": true, "id": id, "decision": label(decision)}))
}
