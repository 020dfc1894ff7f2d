//! Tool policy: a profile (`minimal | coding | messaging | full`), then `allow` / `alsoAllow` / `deny` with groups
//! (`group:fs`, `group:memory`, …). Deny always wins.

/// The tools in a group (names of the reference), or `None` for an unknown group.
pub fn expand_group(name: &str) -> Option<&'static [&'static str]> {
    let tools: &'static [&'static str] = match name {
        "group:fs" => &["read", "write", "edit", "apply_patch", "ls"],
        "group:runtime" => &["exec", "process", "code_execution"],
        "group:memory" => &["memory_search", "memory_get"],
        "group:sessions" => &["sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "session_status"],
        "group:web" => &["web_search", "web_fetch", "x_search"],
        "group:messaging" => &["message"],
        "group:automation" => &["cron", "automations", "gateway", "heartbeat_respond"],
        _ => return None,
    };
    Some(tools)
}

fn profile_tools(profile: &str) -> Option<Vec<&'static str>> {
    let groups: &[&str] = match profile {
        "minimal" => return Some(vec!["session_status"]),
        "coding" => &["group:fs", "group:runtime", "group:web", "group:sessions", "group:memory", "group:automation"],
        "messaging" => &["group:messaging", "group:sessions"],
        _ => return None,
    };
    Some(groups.iter().filter_map(|group| expand_group(group)).flatten().copied().collect())
}

/// An agent's effective tool policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolPolicy {
    pub profile: Option<String>,
    pub allow: Option<Vec<String>>,
    pub also_allow: Vec<String>,
    pub deny: Vec<String>,
}

fn matches(entries: &[String], tool: &str) -> bool {
    entries.iter().any(|entry| {
        entry == "*" || entry == tool || expand_group(entry).is_some_and(|members| members.contains(&tool))
    })
}

impl ToolPolicy {
    /// Whether the policy lets an agent call `tool`.
    pub fn allows(&self, tool: &str) -> bool {
        if matches(&self.deny, tool) {
            return false;
        }
        if matches(&self.also_allow, tool) {
            return true;
        }
        if let Some(allow) = &self.allow {
            return matches(allow, tool);
        }
        match self.profile.as_deref().and_then(profile_tools) {
            Some(tools) => tools.contains(&tool),
            // No profile (or `full`): everything.
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_wins_and_groups_expand() {
        let policy =
            ToolPolicy { profile: Some("coding".into()), deny: vec!["group:memory".into()], ..Default::default() };
        assert!(policy.allows("read"));
        assert!(!policy.allows("memory_search"));
        let policy =
            ToolPolicy { profile: Some("minimal".into()), also_allow: vec!["ls".into()], ..Default::default() };
        assert!(policy.allows("ls"));
        assert!(!policy.allows("read"));
        let policy = ToolPolicy { allow: Some(vec!["group:memory".into()]), ..Default::default() };
        assert!(policy.allows("memory_get") && !policy.allows("read"));
        assert!(ToolPolicy::default().allows("anything"));
        assert!(!ToolPolicy { profile: Some("messaging".into()), ..Default::default() }.allows("read"));
    }
}
