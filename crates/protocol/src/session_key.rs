//! OpenClaw session keys (`agent:<agentId>:main`, `agent:<agentId>:<channel>:direct:<peer>`, …) and agent ids.

use std::fmt;

/// An agent id: `^[a-z0-9_][a-z0-9_-]{0,63}$`, the reference's pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(String);

/// An agent id that does not match the reference's pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid agent id {0:?}: use 1-64 characters of a-z, 0-9, '_' and '-', not starting with '-' (e.g. \"support-bot\")"
)]
pub struct InvalidAgentId(pub String);

impl AgentId {
    /// Validates an agent id.
    ///
    /// # Errors
    /// [`InvalidAgentId`] when the id does not match `^[a-z0-9_][a-z0-9_-]{0,63}$`.
    pub fn new(id: &str) -> Result<Self, InvalidAgentId> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        let first_ok = id.chars().next().is_some_and(|c| valid_char(c) && c != '-');
        if first_ok && id.len() <= 64 && id.chars().all(valid_char) {
            Ok(AgentId(id.to_owned()))
        } else {
            Err(InvalidAgentId(id.to_owned()))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A session key. Channel, account and peer ids are lower-cased, as the reference does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    /// `agent:<agentId>:<mainKey>`: the agent's main session.
    pub fn main(agent_id: &str, main_key: &str) -> Self {
        SessionKey(format!("agent:{}:{}", agent_id, main_key.to_lowercase()))
    }

    /// The key a client's `sessionKey` names for an agent, as the reference derives it: an `agent:…` key as it is, a
    /// bare key scoped to the agent (`incident-42` → `agent:ops:incident-42`), nothing → the agent's main session.
    pub fn scoped(agent_id: &str, raw: Option<&str>, main_key: &str) -> Self {
        match raw.map(str::trim).filter(|key| !key.is_empty()) {
            None => SessionKey::main(agent_id, main_key),
            Some(key) if key.starts_with("agent:") => SessionKey(key.to_owned()),
            Some(key) => SessionKey(format!("agent:{agent_id}:{key}")),
        }
    }

    /// A key given verbatim (by a client or on the command line); `None` when empty.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        (!trimmed.is_empty()).then(|| SessionKey(trimmed.to_owned()))
    }

    /// The agent id encoded in an `agent:<id>:…` key.
    pub fn agent_id(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("agent:")?;
        rest.split(':').next().filter(|id| !id.is_empty())
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_follow_the_reference_pattern() {
        assert!(AgentId::new("main").is_ok());
        assert!(AgentId::new("_x-1").is_ok());
        assert!(AgentId::new("-x").is_err());
        assert!(AgentId::new("Main").is_err());
        assert!(AgentId::new("").is_err());
        assert!(AgentId::new(&"a".repeat(65)).is_err());
    }

    #[test]
    fn keys_carry_their_agent() {
        let key = SessionKey::main("ops", "MAIN");
        assert_eq!(key.as_str(), "agent:ops:main");
        assert_eq!(key.agent_id(), Some("ops"));
        assert_eq!(SessionKey::parse("cron:job1").and_then(|k| k.agent_id().map(str::to_owned)), None);
        assert_eq!(SessionKey::parse("  "), None);
        assert_eq!(SessionKey::scoped("ops", None, "main").as_str(), "agent:ops:main");
        assert_eq!(SessionKey::scoped("ops", Some(" incident-42 "), "main").as_str(), "agent:ops:incident-42");
        assert_eq!(SessionKey::scoped("ops", Some("agent:main:x"), "main").as_str(), "agent:main:x");
    }
}
