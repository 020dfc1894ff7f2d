//! Configuration reload (`gateway.reload.mode`): the gateway watches its config file and applies a valid change
//! while running; a change the running process cannot take (the port, the bind address, the auth mode) makes it
//! start again. `config.set` / `config.patch` write the file and apply it the same way. An invalid file is refused
//! and the last good configuration stays in force.
//!
//! The watcher polls the file's size and modification time twice a second: that catches editors that write a temp
//! file and rename it over the original (which an inotify watch on the file itself loses), costs one `stat`, and
//! needs no extra dependency.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use openclaw_config::Loaded;
use serde_json::{Value, json};

use crate::{AuthSettings, Gateway};

const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Lets an editor's write-then-rename settle before the file is read.
const SETTLE: Duration = Duration::from_millis(150);

/// The process environment (the gateway reads secrets and provider keys from it).
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// SHA-256 (hex) of a file's bytes; `None` when it cannot be read (a missing file).
pub(crate) fn file_hash(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| crate::device::sha256_hex(&bytes))
}

/// The configuration as the reload compares it: the file, with each seed-format agent file (as written) under
/// `agents.files.<stem>` (a key only this comparison uses), so that agent files are diffed, classified and held
/// like the rest.
fn compared(loaded: &Loaded) -> Value {
    let mut view = loaded.raw.clone();
    if loaded.agent_files_raw.is_empty() {
        return view;
    }
    if !view.is_object() {
        view = Value::Object(serde_json::Map::new());
    }
    if let Some(root) = view.as_object_mut() {
        let agents = root.entry("agents").or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(agents) = agents.as_object_mut() {
            agents.insert("files".to_owned(), Value::Object(loaded.agent_files_raw.clone()));
        }
    }
    view
}

/// What a changed config path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReloadKind {
    /// Nothing to do beyond the new snapshot (readers see it on their next read).
    None,
    /// Applied in the running process (a new model router, new secrets).
    Hot,
    /// Needs a new process: the listener or the auth mode changes.
    Restart,
}

/// Longest-prefix rules, as in the reference's reload planner; a path no rule matches needs a restart.
const RULES: &[(&str, ReloadKind)] = &[
    ("$schema", ReloadKind::None),
    ("meta", ReloadKind::None),
    ("env", ReloadKind::Hot),
    ("agents", ReloadKind::Hot),
    ("models", ReloadKind::Hot),
    ("auth", ReloadKind::Hot),
    ("bindings", ReloadKind::None),
    ("session", ReloadKind::None),
    ("messages", ReloadKind::None),
    ("tools", ReloadKind::None),
    ("skills", ReloadKind::None),
    ("hooks", ReloadKind::None),
    ("cron", ReloadKind::None),
    // The channel accounts are built at start; a new process rebuilds them (their queues are durable, a restart
    // takes ~30 ms).
    ("channels", ReloadKind::Restart),
    ("logging", ReloadKind::None),
    ("ui", ReloadKind::None),
    ("identity", ReloadKind::None),
    ("wizard", ReloadKind::None),
    ("update", ReloadKind::None),
    ("gateway.http", ReloadKind::None),
    ("gateway.tools", ReloadKind::None),
    ("gateway.reload", ReloadKind::None),
    ("gateway.mode", ReloadKind::None),
    ("gateway.remote", ReloadKind::None),
    ("gateway.controlUi", ReloadKind::None),
    ("gateway.auth.token", ReloadKind::Hot),
    ("gateway.auth.password", ReloadKind::Hot),
    ("gateway.auth.rateLimit", ReloadKind::None),
    ("gateway", ReloadKind::Restart),
];

/// What a change at `path` (dotted) needs.
pub fn reload_kind(path: &str) -> ReloadKind {
    RULES
        .iter()
        .filter(|(prefix, _)| {
            path == *prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(ReloadKind::Restart, |(_, kind)| *kind)
}

/// The dotted paths of the leaves that differ between two JSON values (arrays compare whole).
pub(crate) fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    fn walk(prefix: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
        match (old, new) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    walk(&path, a.get(key), b.get(key), out);
                }
            }
            (a, b) if a != b => out.push(if prefix.is_empty() { "(root)".to_owned() } else { prefix.to_owned() }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", Some(old), Some(new), &mut out);
    out
}

/// The changed paths (arrays compared element by element) that touch what confines agents or admits clients: a
/// file write changing one of them is not applied until an operator asks for it (`config.*`) or restarts the
/// gateway. The file is the operator's, but it is also the first thing a steered agent or a stray write would go
/// for, so a change to these waits for someone with the operator's rights.
pub(crate) fn security_changes(old: &Value, new: &Value) -> Vec<String> {
    fn walk(prefix: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
        // A section added or removed whole is walked against nothing, so its leaves are named.
        fn object<'a>(
            value: Option<&'a Value>,
            empty: &'a serde_json::Map<String, Value>,
        ) -> Option<&'a serde_json::Map<String, Value>> {
            match value {
                Some(Value::Object(map)) => Some(map),
                None => Some(empty),
                _ => None,
            }
        }
        let empty = serde_json::Map::new();
        match (old, new) {
            (Some(Value::Array(a)), Some(Value::Array(b))) => {
                for index in 0..a.len().max(b.len()) {
                    walk(&format!("{prefix}.{index}"), a.get(index), b.get(index), out);
                }
            }
            (a, b) if a.is_some_and(Value::is_object) || b.is_some_and(Value::is_object) => {
                match (object(a, &empty), object(b, &empty)) {
                    (Some(a), Some(b)) => {
                        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                        for key in keys {
                            walk(&format!("{prefix}.{key}"), a.get(key), b.get(key), out);
                        }
                    }
                    _ => out.push(prefix.trim_start_matches('.').to_owned()),
                }
            }
            (a, b) if a != b => out.push(prefix.trim_start_matches('.').to_owned()),
            _ => {}
        }
    }
    let mut changed = Vec::new();
    walk("", Some(old), Some(new), &mut changed);
    changed.retain(|path| is_security_path(path));
    changed
}

/// Whether a dotted config path governs confinement, grants or admission.
fn is_security_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('.').collect();
    let first = segments.first().copied().unwrap_or_default();
    let second = segments.get(1).copied().unwrap_or_default();
    match first {
        // New servers are new programs; hooks admit callers into agents.
        "mcp" | "hooks" => true,
        "skills" => matches!(second, "entries" | "load"),
        "gateway" => matches!(
            second,
            "auth" | "bind" | "customBindHost" | "tools" | "controlUi" | "trustedProxies" | "tls" | "http"
        ),
        "channels" => segments.iter().any(|s| {
            matches!(
                *s,
                "dmPolicy" | "allowFrom" | "groupPolicy" | "groupAllowFrom" | "groups" | "secret" | "webhookSecret"
            )
        }),
        "agents" => segments.iter().any(|s| matches!(*s, "tools" | "workspace" | "sandbox")),
        "tools" => true,
        _ => false,
    }
}

/// The result of applying a configuration.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub(crate) changed: Vec<String>,
    /// `none`, `hot` or `restart`.
    pub(crate) outcome: &'static str,
}

impl Gateway {
    /// Applies a new configuration (validated already) whose file text hashes to `hash`; announces it with
    /// `config.changed`. A change that needs a new process stops the gateway for a restart in `hybrid` mode, and
    /// only logs in `off` mode (nothing of it is applied then).
    pub(crate) fn apply_config(&self, new: Loaded, hash: String, source: &str) -> Result<Applied, String> {
        let old = self.loaded();
        let changed = changed_paths(&compared(&old), &compared(&new));
        *self.applied_hash.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = hash.clone();
        if changed.is_empty() {
            return Ok(Applied { changed, outcome: "none" });
        }
        let kind = changed.iter().map(|path| reload_kind(path)).max().unwrap_or(ReloadKind::None);
        let mode = new.config.gateway.reload.mode.clone();
        let config_path = new.paths.config_path.clone();
        let outcome = match kind {
            ReloadKind::Restart if mode == "off" => {
                tracing::warn!(
                    ?changed,
                    "Config changed in ways that need a restart; gateway.reload.mode is off: restart the gateway to apply them."
                );
                return Ok(Applied { changed, outcome: "restart-pending" });
            }
            ReloadKind::Restart => {
                tracing::info!(?changed, source, "Config change needs a restart; restarting the gateway.");
                *self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
                self.restart.store(true, Ordering::SeqCst);
                self.stop.notify_one();
                "restart"
            }
            ReloadKind::Hot | ReloadKind::None => {
                let limits = &new.config.gateway.auth.rate_limit;
                self.auth_failures.configure(crate::limit::Settings {
                    max_attempts: limits.max_attempts,
                    window: Duration::from_millis(limits.window_ms),
                    lockout: Duration::from_millis(limits.lockout_ms),
                    exempt_loopback: limits.exempt_loopback,
                });
                if kind == ReloadKind::Hot {
                    let auth = AuthSettings::resolve(&self.auth_flags, &new.config.gateway.auth, &env)?;
                    self.runtime.set_router(Arc::new(openclaw_agent::router_for(&new, &env)));
                    *self.auth.write().unwrap_or_else(std::sync::PoisonError::into_inner) = auth;
                }
                *self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
                tracing::info!(?changed, source, "Config reloaded.");
                if kind == ReloadKind::Hot { "hot" } else { "none" }
            }
        };
        self.broadcast(
            "config.changed",
            json!({"path": config_path, "hash": hash, "changedPaths": changed, "reload": outcome,
                   "ts": openclaw_protocol::now_ms()}),
            Some("operator.read"),
        );
        Ok(Applied { changed, outcome })
    }

    /// The hash of the config file text in force (empty when there is no file).
    pub(crate) fn applied_hash(&self) -> String {
        self.applied_hash.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// A file change that touches security settings: not applied (the whole change waits, so no half of it runs),
    /// said once in the log and recorded in the audit log.
    fn hold_back(&self, held: Vec<String>, hash: String) {
        *self.applied_hash.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = hash.clone();
        tracing::warn!(
            paths = ?held,
            "The config file changed security settings; the change is NOT applied until the gateway restarts or an operator applies it over the gateway (config.apply / config.patch, scope operator.admin)."
        );
        let store = self.store.clone();
        let event = openclaw_store::AuditEvent {
            actor: "config-file".to_owned(),
            action: "config.reload".to_owned(),
            agent_id: None,
            session_key: None,
            run_id: None,
            outcome: "held".to_owned(),
            detail: json!({"paths": held, "hash": hash}),
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(error) = store.append_audit(event).await {
                    tracing::warn!(%error, "could not record the held config change in the audit log");
                }
            });
        }
    }

    /// Reads the config file again and applies it if its text changed; an invalid file is logged and ignored.
    fn reload_from_disk(&self) {
        let paths = self.loaded().paths.clone();
        let Some(hash) = file_hash(&paths.config_path) else { return };
        match openclaw_config::load(&paths, &env) {
            Ok(loaded) => {
                // The text in force (our own config.* write, or a change already held) with the same agent files.
                if hash == self.applied_hash() && loaded.agent_files_raw == self.loaded().agent_files_raw {
                    return;
                }
                let held = security_changes(&compared(&self.loaded()), &compared(&loaded));
                if !held.is_empty() {
                    self.hold_back(held, hash);
                    return;
                }
                if let Err(error) = self.apply_config(loaded, hash, "watch") {
                    tracing::warn!(%error, "config reload skipped (cannot apply)");
                }
            }
            Err(error) => {
                // Remember the hash so the same bad text is reported once, not twice a second.
                *self.applied_hash.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = hash;
                tracing::warn!(%error, "config reload skipped (invalid config); the last good config stays in force");
            }
        }
    }
}

/// Watches the config file and the agent files while the gateway runs (unless `gateway.reload.mode` is `off`).
pub(crate) fn spawn_watcher(gateway: &Arc<Gateway>) {
    let weak = Arc::downgrade(gateway);
    let mut shutdown = gateway.shutdown_signal();
    tokio::spawn(async move {
        // The config file's size and time, and those of every agent file (and the folder's, for removals).
        let stamp = |paths: &openclaw_config::Paths| {
            let one = |path: &Path| std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().ok()));
            let agents = paths.state_dir.join("agents");
            let mut stamps = vec![one(&paths.config_path), one(&agents)];
            let mut files: Vec<_> =
                std::fs::read_dir(&agents).into_iter().flatten().flatten().map(|e| e.path()).collect();
            files.sort();
            stamps.extend(files.iter().map(|path| one(path)));
            stamps
        };
        let mut last = weak.upgrade().map(|g| stamp(&g.loaded().paths)).unwrap_or_default();
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = shutdown.changed() => return,
            }
            let Some(gateway) = weak.upgrade() else { return };
            let loaded = gateway.loaded();
            if loaded.config.gateway.reload.mode == "off" {
                continue;
            }
            let now = stamp(&loaded.paths);
            if now == last {
                continue;
            }
            tokio::time::sleep(SETTLE).await;
            last = stamp(&loaded.paths);
            let gateway = gateway.clone();
            let _ = tokio::task::spawn_blocking(move || gateway.reload_from_disk()).await;
        }
    });
}

/// The merge-patch of `config.patch` (RFC 7396, with the reference's array rules): objects merge, `null` deletes, an
/// array of objects with `id`s merges by id, and any other array replaces the old one only when its path is listed
/// in `replace_paths` (or the old value is not an array) — so a patch cannot drop list entries by accident.
pub(crate) fn merge_patch(
    target: &mut Value,
    patch: &Value,
    path: &str,
    replace_paths: &[String],
) -> Result<(), String> {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if value.is_null() {
                    target.remove(key);
                } else if let Some(existing) = target.get_mut(key) {
                    merge_patch(existing, value, &child, replace_paths)?;
                } else {
                    let mut fresh = Value::Object(serde_json::Map::new());
                    if value.is_object() {
                        merge_patch(&mut fresh, value, &child, replace_paths)?;
                        target.insert(key.clone(), fresh);
                    } else {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
            Ok(())
        }
        (Value::Array(old), Value::Array(new)) if !replace_paths.iter().any(|p| p == path) => {
            let by_id = |items: &[Value]| items.iter().all(|item| item.get("id").and_then(Value::as_str).is_some());
            if !old.is_empty() && by_id(old) && by_id(new) {
                for item in new {
                    match old.iter_mut().find(|existing| existing.get("id") == item.get("id")) {
                        Some(existing) => merge_patch(existing, item, path, replace_paths)?,
                        None => old.push(item.clone()),
                    }
                }
                Ok(())
            } else if old == new || old.is_empty() {
                *old = new.clone();
                Ok(())
            } else {
                Err(format!(
                    "config.patch would replace the array at {path}; list {path:?} in params.replacePaths to replace it"
                ))
            }
        }
        (target, patch) => {
            *target = patch.clone();
            Ok(())
        }
    }
}

/// Puts back the secrets `config.get` showed as `__OPENCLAW_REDACTED__`, so a client can send the config it read.
pub(crate) fn restore_redacted(value: &mut Value, current: &Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if item.as_str() == Some(crate::methods::REDACTED) {
                    if let Some(original) = current.get(key) {
                        *item = original.clone();
                    }
                } else if let Some(original) = current.get(key) {
                    restore_redacted(item, original);
                }
            }
        }
        Value::Array(items) => {
            for (idx, item) in items.iter_mut().enumerate() {
                if let Some(original) = current.get(idx) {
                    restore_redacted(item, original);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_decides() {
        assert_eq!(reload_kind("gateway.port"), ReloadKind::Restart);
        assert_eq!(reload_kind("gateway.auth.mode"), ReloadKind::Restart);
        assert_eq!(reload_kind("gateway.auth.token"), ReloadKind::Hot);
        assert_eq!(reload_kind("gateway.http.endpoints.chatCompletions.enabled"), ReloadKind::None);
        assert_eq!(reload_kind("agents.defaults.model.primary"), ReloadKind::Hot);
        assert_eq!(reload_kind("session.mainKey"), ReloadKind::None);
        assert_eq!(reload_kind("gatewayx"), ReloadKind::Restart);
        assert_eq!(reload_kind("somethingNew"), ReloadKind::Restart);
    }

    #[test]
    fn changed_paths_lists_leaves() {
        let old = json!({"gateway": {"port": 1, "auth": {"token": "a"}}, "agents": {"list": [1]}});
        let new = json!({"gateway": {"port": 2, "auth": {"token": "a"}}, "agents": {"list": [1, 2]}, "x": true});
        assert_eq!(changed_paths(&old, &new), vec!["agents.list", "gateway.port", "x"]);
        assert!(changed_paths(&old, &old).is_empty());
    }

    #[test]
    fn merge_patch_guards_arrays() {
        let mut config = json!({"a": {"b": 1, "c": 2}, "list": ["x"], "agents": [{"id": "main", "name": "M"}]});
        merge_patch(&mut config, &json!({"a": {"b": null, "d": 3}}), "", &[]).unwrap();
        assert_eq!(config["a"], json!({"c": 2, "d": 3}));
        let error = merge_patch(&mut config, &json!({"list": ["y"]}), "", &[]).unwrap_err();
        assert!(error.contains("replacePaths"), "{error}");
        merge_patch(&mut config, &json!({"list": ["y"]}), "", &["list".to_owned()]).unwrap();
        assert_eq!(config["list"], json!(["y"]));
        merge_patch(&mut config, &json!({"agents": [{"id": "main", "model": "m"}, {"id": "two"}]}), "", &[]).unwrap();
        assert_eq!(config["agents"], json!([{"id": "main", "name": "M", "model": "m"}, {"id": "two"}]));
    }

    #[test]
    fn redacted_values_come_back() {
        let current = json!({"gateway": {"auth": {"token": "s3cret"}}, "x": 1});
        let mut sent = json!({"gateway": {"auth": {"token": crate::methods::REDACTED}}, "x": 2});
        restore_redacted(&mut sent, &current);
        assert_eq!(sent, json!({"gateway": {"auth": {"token": "s3cret"}}, "x": 2}));
    }
}
