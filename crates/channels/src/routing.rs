//! Which agent answers a message (`bindings[]`, most specific first) and which session it joins (`session.dmScope`,
//! `groupScope`, `identityLinks`), with the reference's session keys.

use openclaw_config::{Binding, Loaded};

use crate::{Inbound, PeerKind};

/// The agent and session a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub agent_id: String,
    pub session_key: String,
    /// What chose the agent (`binding peer`, `binding account`, `binding channel`, `agent channels`, `default`).
    pub matched_by: &'static str,
}

/// How specific a binding is for this message (`None`: it does not match).
fn specificity(binding: &Binding, message: &Inbound) -> Option<u8> {
    let matcher = &binding.matcher;
    if matcher.guild_id.is_some() || matcher.team_id.is_some() || matcher.roles.is_some() {
        // Discord guilds/roles and Slack teams: no channel here carries them yet.
        return None;
    }
    let channel = matcher.channel.as_deref()?;
    if !channel.eq_ignore_ascii_case(&message.channel) {
        return None;
    }
    let account = matcher.account_id.as_deref().filter(|account| *account != "*");
    if let Some(account) = account
        && !account.eq_ignore_ascii_case(&message.account)
    {
        return None;
    }
    match &matcher.peer {
        Some(peer) => {
            let kind = peer.kind.as_deref().map(|kind| if kind == "dm" { "direct" } else { kind });
            if kind.is_some_and(|kind| kind != message.peer.kind.as_str()) {
                return None;
            }
            match peer.id.as_deref() {
                Some("*") | None => Some(3),
                Some(id) if id.eq_ignore_ascii_case(&peer_id(message)) => Some(5),
                Some(_) => None,
            }
        }
        None if account.is_some() => Some(2),
        None => Some(1),
    }
}

/// The id a binding's `peer.id` names: the chat for groups, the sender for direct messages.
fn peer_id(message: &Inbound) -> String {
    match message.peer.kind {
        PeerKind::Direct => message.sender.id.clone(),
        _ => message.peer.id.clone(),
    }
}

/// Chooses the agent and the session key for a message.
pub fn route(loaded: &Loaded, message: &Inbound) -> Route {
    if let Some(key) = &message.session_key {
        // The sender named its session (WebChat): its agent is the one the key names, if there is one.
        let named = openclaw_protocol::SessionKey::parse(key)
            .and_then(|parsed| parsed.agent_id().map(str::to_owned))
            .filter(|id| loaded.agent(id).is_some());
        return Route {
            agent_id: named.unwrap_or_else(|| loaded.default_agent().id.clone()),
            session_key: key.clone(),
            matched_by: "session key",
        };
    }
    let config = &loaded.config;
    let best = config
        .bindings
        .iter()
        .filter(|binding| loaded.agent(&binding.agent_id).is_some())
        .filter_map(|binding| specificity(binding, message).map(|rank| (rank, binding)))
        // The first of the most specific wins (stable order, as written).
        .fold(None::<(u8, &Binding)>, |best, (rank, binding)| match best {
            Some((best_rank, _)) if best_rank >= rank => best,
            _ => Some((rank, binding)),
        });
    let (agent_id, matched_by, binding) = match best {
        Some((rank, binding)) => {
            let how = match rank {
                5 => "binding peer",
                3 => "binding peer kind",
                2 => "binding account",
                _ => "binding channel",
            };
            (binding.agent_id.clone(), how, Some(binding))
        }
        None => match loaded.agents().iter().find(|agent| agent.channels.iter().any(|c| c == &message.channel)) {
            Some(agent) => (agent.id.clone(), "agent channels", None),
            None => (loaded.default_agent().id.clone(), "default", None),
        },
    };
    let session = binding.and_then(|binding| binding.session.as_ref());
    let dm_scope = session.and_then(|s| s.dm_scope.as_deref()).unwrap_or(&config.session.dm_scope);
    let group_scope = session.and_then(|s| s.group_scope.as_deref()).unwrap_or(&config.session.group_scope);
    let session_key = session_key(loaded, &agent_id, message, dm_scope, group_scope);
    Route { agent_id, session_key, matched_by }
}

/// The session a message from this conversation would join with `agent_id` answering it (an operator chose the
/// agent: `openclaw agent --agent ops --channel telegram --to 42`): the configured scopes, no binding's.
pub fn route_to_agent(loaded: &Loaded, agent_id: &str, message: &Inbound) -> Route {
    let session = &loaded.config.session;
    let session_key = session_key(loaded, agent_id, message, &session.dm_scope, &session.group_scope);
    Route { agent_id: agent_id.to_owned(), session_key, matched_by: "requested agent" }
}

fn session_key(loaded: &Loaded, agent_id: &str, message: &Inbound, dm_scope: &str, group_scope: &str) -> String {
    let session = &loaded.config.session;
    if session.scope == "global" {
        return "global".to_owned();
    }
    let agent = agent_id.to_lowercase();
    let main = format!("agent:{agent}:{}", session.main_key.to_lowercase());
    let channel = if message.channel.is_empty() { "unknown".to_owned() } else { message.channel.to_lowercase() };
    let account = message.account.to_lowercase();
    match message.peer.kind {
        PeerKind::Direct => {
            let peer = canonical_peer(loaded, &channel, &message.sender.id.to_lowercase());
            match dm_scope {
                "per-peer" => format!("agent:{agent}:direct:{peer}"),
                "per-channel-peer" => format!("agent:{agent}:{channel}:direct:{peer}"),
                "per-account-channel-peer" => format!("agent:{agent}:{channel}:{account}:direct:{peer}"),
                _ => main,
            }
        }
        kind => {
            if group_scope == "main" {
                return main;
            }
            let mut key = format!("agent:{agent}:{channel}:{}:{}", kind.as_str(), message.peer.id.to_lowercase());
            if let Some(thread) = &message.peer.thread {
                key.push(':');
                key.push_str(&thread.to_lowercase());
            }
            key
        }
    }
}

/// `session.identityLinks`: the canonical id a `<channel>:<peer>` is linked to, else the peer itself.
fn canonical_peer(loaded: &Loaded, channel: &str, peer: &str) -> String {
    let wanted = format!("{channel}:{peer}");
    loaded
        .config
        .session
        .identity_links
        .iter()
        .find(|(_, ids)| ids.iter().any(|id| id.eq_ignore_ascii_case(&wanted)))
        .map(|(canonical, _)| canonical.to_lowercase())
        .unwrap_or_else(|| peer.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(text: &str) -> Loaded {
        let state_dir = std::env::temp_dir().join("openclaw-routing-test");
        let paths = openclaw_config::Paths::for_state_dir(state_dir);
        openclaw_config::load_str(text, &paths, &|_| None).expect("config")
    }

    fn message(channel: &str, kind: PeerKind, chat: &str, sender: &str) -> Inbound {
        crate::test_message(channel, kind, chat, sender, "hi")
    }

    const AGENTS: &str = r#"agents: {entries: {main: {default: true}, work: {}, family: {}, ops: {}}},"#;

    #[test]
    fn the_most_specific_binding_wins_whatever_the_order() {
        let config = loaded(&format!(
            r#"{{ {AGENTS}
              bindings: [
                {{agentId: "ops", match: {{channel: "telegram"}}}},
                {{agentId: "work", match: {{channel: "telegram", accountId: "default"}}}},
                {{agentId: "family", match: {{channel: "telegram", peer: {{kind: "group", id: "-100"}}}}}},
              ]}}"#
        ));
        let group = message("telegram", PeerKind::Group, "-100", "7");
        assert_eq!(route(&config, &group).agent_id, "family");
        assert_eq!(route(&config, &group).session_key, "agent:family:telegram:group:-100");
        let dm = message("telegram", PeerKind::Direct, "7", "7");
        assert_eq!(route(&config, &dm).agent_id, "work", "account beats channel");
        let other = message("webhook", PeerKind::Direct, "x", "x");
        let routed = route(&config, &other);
        assert_eq!((routed.agent_id.as_str(), routed.matched_by), ("main", "default"));
    }

    #[test]
    fn dm_scopes_give_the_reference_session_keys() {
        let dm = message("Telegram", PeerKind::Direct, "123", "123");
        for (scope, key) in [
            ("main", "agent:main:main"),
            ("per-peer", "agent:main:direct:123"),
            ("per-channel-peer", "agent:main:telegram:direct:123"),
            ("per-account-channel-peer", "agent:main:telegram:default:direct:123"),
        ] {
            let config = loaded(&format!(r#"{{session: {{dmScope: "{scope}"}}}}"#));
            assert_eq!(route(&config, &dm).session_key, key, "{scope}");
        }
        let mut topic = message("telegram", PeerKind::Group, "-100", "5");
        topic.peer.thread = Some("topic:42".to_owned());
        assert_eq!(route(&loaded("{}"), &topic).session_key, "agent:main:telegram:group:-100:topic:42");
        let config = loaded(r#"{session: {groupScope: "main"}}"#);
        assert_eq!(route(&config, &topic).session_key, "agent:main:main");
    }

    #[test]
    fn identity_links_join_one_person_across_channels() {
        let config = loaded(
            r#"{session: {dmScope: "per-peer", identityLinks: {alice: ["telegram:123", "webhook:alice@example.com"]}}}"#,
        );
        let on_telegram = message("telegram", PeerKind::Direct, "123", "123");
        let on_webhook = message("webhook", PeerKind::Direct, "alice@example.com", "alice@example.com");
        assert_eq!(route(&config, &on_telegram).session_key, "agent:main:direct:alice");
        assert_eq!(route(&config, &on_webhook).session_key, "agent:main:direct:alice");
        let stranger = message("telegram", PeerKind::Direct, "999", "999");
        assert_eq!(route(&config, &stranger).session_key, "agent:main:direct:999");
    }
}
