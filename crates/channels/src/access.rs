//! Who may reach an agent through a channel account (the reference's shared keys): `dmPolicy` (`pairing` by
//! default, `allowlist`, `open`, `disabled`) with `allowFrom`; `groupPolicy` (`allowlist` by default, `open`,
//! `disabled`) with `groupAllowFrom` and `groups.<id|*>.{requireMention, enabled, allowFrom}`; `mentionPatterns`;
//! and `commands.ownerAllowFrom` (owners are always let through). Pairing codes: 8 characters without `0 O 1 I`,
//! valid one hour, at most three waiting per channel account.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::{ChannelError, Inbound, PeerKind};

/// How long a pairing code is valid.
pub const PAIRING_TTL_MS: i64 = 60 * 60 * 1000;
/// Pairing requests waiting at once per channel account; more senders are ignored until one is handled.
pub const MAX_PENDING_PAIRINGS: usize = 3;
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The access keys of a channel (or account) block, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyConfig {
    pub dm_policy: Option<String>,
    pub allow_from: Option<Vec<Value>>,
    pub group_policy: Option<String>,
    pub group_allow_from: Option<Vec<Value>>,
    pub groups: Option<BTreeMap<String, GroupConfig>>,
    pub mention_patterns: Option<Vec<String>>,
}

impl PolicyConfig {
    /// The keys, as written in a channel block.
    pub const KEYS: &[&str] = &["dmPolicy", "allowFrom", "groupPolicy", "groupAllowFrom", "groups", "mentionPatterns"];

    /// Whether the block restricts anyone at all (a machine channel is open until it does).
    pub fn is_set(&self) -> bool {
        self.dm_policy.is_some() || self.group_policy.is_some() || self.allow_from.is_some()
    }
}

/// `dm.*`: the reference's older spelling of the DM keys, which Matrix, Discord and Slack still read (`dmPolicy` and
/// `allowFrom` at the top win). `groupEnabled: true` is refused: group DMs are not answered yet.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DmKeys {
    pub enabled: Option<bool>,
    pub policy: Option<String>,
    pub allow_from: Option<Vec<Value>>,
    pub group_enabled: Option<bool>,
}

impl DmKeys {
    /// Folds the keys into `config` (its own `dmPolicy`/`allowFrom` first; `enabled: false` disables DMs).
    ///
    /// # Errors
    /// `groupEnabled: true`, with the fix, naming `<path>.dm.groupEnabled`.
    pub fn apply(&self, config: &mut PolicyConfig, path: &str) -> Result<(), ChannelError> {
        if self.enabled == Some(false) {
            config.dm_policy = Some("disabled".to_owned());
        } else if config.dm_policy.is_none() {
            config.dm_policy.clone_from(&self.policy);
        }
        if config.allow_from.is_none() {
            config.allow_from.clone_from(&self.allow_from);
        }
        if self.group_enabled == Some(true) {
            return Err(ChannelError::Config {
                path: format!("{path}.dm.groupEnabled"),
                message: "group DMs are not implemented by OpenClaw-rs yet (fix: remove it)".to_owned(),
            });
        }
        Ok(())
    }
}

/// `groups.<id>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupConfig {
    pub require_mention: Option<bool>,
    pub enabled: Option<bool>,
    pub allow_from: Option<Vec<Value>>,
}

/// The rules of a space that holds conversations (a Discord guild): its own rule for every conversation in it,
/// and, when `conversations` is not empty, an allowlist of them by id, by name or `*`, each with its own rule over
/// the space's.
#[derive(Debug, Clone, Default)]
pub struct SpaceRule {
    pub rule: GroupConfig,
    pub conversations: BTreeMap<String, GroupConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmPolicy {
    Pairing,
    Allowlist,
    Open,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPolicy {
    Allowlist,
    Open,
    Disabled,
}

/// A compiled access policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub dm: DmPolicy,
    pub allow_from: Vec<String>,
    pub group: GroupPolicy,
    pub group_allow_from: Vec<String>,
    pub groups: BTreeMap<String, GroupConfig>,
    /// Rules by space id (or `*`) for conversations that belong to a space ([`crate::Peer::space`]); a channel
    /// that fills these judges its conversations by them instead of `groups`.
    pub spaces: BTreeMap<String, SpaceRule>,
    pub mention_patterns: Vec<regex::Regex>,
    /// `commands.ownerAllowFrom` entries for this channel (without the channel prefix).
    pub owners: Vec<String>,
}

/// Ids as written (`123`, `"123"`, `"telegram:123"`, `"tg:123"`, `"@name"`), lower-cased without a channel prefix.
fn ids(values: &[Value], channel: &str) -> Vec<String> {
    values
        .iter()
        .filter_map(|value| match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
        .map(|id| {
            let lower = id.trim().to_lowercase();
            let stripped = lower
                .strip_prefix(&format!("{channel}:"))
                .or_else(|| if channel == "telegram" { lower.strip_prefix("tg:") } else { None })
                .unwrap_or(&lower);
            stripped.to_owned()
        })
        .collect()
}

impl Policy {
    /// Compiles a channel's access keys. `defaults` are what the channel uses when a key is absent (`pairing` and
    /// `allowlist` for chat platforms). `path` names the block in errors.
    ///
    /// # Errors
    /// An unknown policy name, `open` without `"*"` in `allowFrom`, or a mention pattern that is not a regex.
    pub fn compile(
        config: &PolicyConfig,
        channel: &str,
        path: &str,
        default_dm: DmPolicy,
        owners: &[String],
    ) -> Result<Self, ChannelError> {
        let error = |key: &str, message: String| ChannelError::Config { path: format!("{path}.{key}"), message };
        let dm = match config.dm_policy.as_deref() {
            None => default_dm,
            Some("pairing") => DmPolicy::Pairing,
            Some("allowlist") => DmPolicy::Allowlist,
            Some("open") => DmPolicy::Open,
            Some("disabled") => DmPolicy::Disabled,
            Some(other) => {
                return Err(error(
                    "dmPolicy",
                    format!("{other:?} is not a DM policy (fix: use pairing, allowlist, open or disabled)"),
                ));
            }
        };
        let allow_from = ids(config.allow_from.as_deref().unwrap_or_default(), channel);
        if dm == DmPolicy::Open && config.dm_policy.is_some() && !allow_from.iter().any(|id| id == "*") {
            return Err(error(
                "allowFrom",
                "dmPolicy \"open\" lets anyone in and must say so: add \"*\" to allowFrom (fix: allowFrom: [\"*\"])"
                    .to_owned(),
            ));
        }
        let group = match config.group_policy.as_deref() {
            None | Some("allowlist") => GroupPolicy::Allowlist,
            Some("open") => GroupPolicy::Open,
            Some("disabled") => GroupPolicy::Disabled,
            Some(other) => {
                return Err(error(
                    "groupPolicy",
                    format!("{other:?} is not a group policy (fix: use allowlist, open or disabled)"),
                ));
            }
        };
        let mut mention_patterns = Vec::new();
        for (idx, pattern) in config.mention_patterns.iter().flatten().enumerate() {
            let compiled = regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| error(&format!("mentionPatterns.{idx}"), format!("not a valid regex: {e}")))?;
            mention_patterns.push(compiled);
        }
        let owners = owners
            .iter()
            .filter_map(|owner| owner.to_lowercase().strip_prefix(&format!("{channel}:")).map(str::to_owned))
            .collect();
        Ok(Policy {
            dm,
            allow_from,
            group,
            group_allow_from: ids(config.group_allow_from.as_deref().unwrap_or_default(), channel),
            groups: config.groups.clone().unwrap_or_default(),
            spaces: BTreeMap::new(),
            mention_patterns,
            owners,
        })
    }

    /// A policy that lets everyone in (machine-to-machine channels such as webhooks).
    pub fn open() -> Self {
        Policy {
            dm: DmPolicy::Open,
            allow_from: vec!["*".to_owned()],
            group: GroupPolicy::Open,
            group_allow_from: Vec::new(),
            groups: BTreeMap::from([(
                "*".to_owned(),
                GroupConfig { require_mention: Some(false), enabled: None, allow_from: None },
            )]),
            spaces: BTreeMap::new(),
            mention_patterns: Vec::new(),
            owners: Vec::new(),
        }
    }

    fn listed(list: &[String], message: &Inbound) -> bool {
        let id = message.sender.id.to_lowercase();
        let username = message.sender.username.as_deref().map(|name| format!("@{}", name.to_lowercase()));
        list.iter().any(|entry| entry == "*" || *entry == id || Some(entry) == username.as_ref())
    }

    fn is_owner(&self, message: &Inbound) -> bool {
        Self::listed(&self.owners, message)
    }

    /// What to do with a message. `paired`: the sender was approved through pairing before.
    pub fn decide(&self, message: &Inbound, paired: bool) -> Decision {
        if message.sender.is_bot {
            return Decision::Ignore("sent by a bot".to_owned());
        }
        match message.peer.kind {
            PeerKind::Direct => {
                if self.is_owner(message) {
                    return Decision::Allow;
                }
                match self.dm {
                    DmPolicy::Disabled => Decision::Ignore("direct messages are disabled (dmPolicy)".to_owned()),
                    DmPolicy::Open => Decision::Allow,
                    DmPolicy::Allowlist if Self::listed(&self.allow_from, message) || paired => Decision::Allow,
                    DmPolicy::Allowlist => Decision::Ignore("sender not in allowFrom".to_owned()),
                    DmPolicy::Pairing if Self::listed(&self.allow_from, message) || paired => Decision::Allow,
                    DmPolicy::Pairing => Decision::Pair,
                }
            }
            PeerKind::Group | PeerKind::Channel => {
                let chat = message.peer.id.to_lowercase();
                let rule = match self.space_rule(message) {
                    Ok(rule) => rule,
                    Err(reason) => return Decision::Ignore(reason),
                };
                let rule = rule.as_ref();
                match self.group {
                    GroupPolicy::Disabled => return Decision::Ignore("groups are disabled (groupPolicy)".to_owned()),
                    GroupPolicy::Allowlist if rule.is_none() => {
                        return Decision::Ignore(match (&message.peer.space, self.spaces.is_empty()) {
                            (Some(space), false) => format!("server {space} is not in guilds (groupPolicy allowlist)"),
                            _ => format!("group {chat} is not in groups (groupPolicy allowlist)"),
                        });
                    }
                    _ => {}
                }
                if rule.and_then(|rule| rule.enabled) == Some(false) {
                    return Decision::Ignore(format!("group {chat} is disabled"));
                }
                let senders = match rule.and_then(|rule| rule.allow_from.as_ref()) {
                    Some(list) => ids(list, &message.channel),
                    None => self.group_allow_from.clone(),
                };
                if !senders.is_empty() && !Self::listed(&senders, message) && !self.is_owner(message) {
                    return Decision::Ignore("sender not in groupAllowFrom".to_owned());
                }
                let require_mention = rule.and_then(|rule| rule.require_mention).unwrap_or(true);
                if require_mention && !self.mentioned(message) {
                    return Decision::Ignore("no mention".to_owned());
                }
                Decision::Allow
            }
        }
    }

    /// The rule for a group conversation: from its space when the policy has spaces (the conversation's own entry
    /// over the space's rule; `Err` when the space lists conversations and this one is not among them), else from
    /// `groups` by id or `*`.
    fn space_rule(&self, message: &Inbound) -> Result<Option<GroupConfig>, String> {
        let peer = &message.peer;
        if self.spaces.is_empty() {
            let chat = peer.id.to_lowercase();
            let rule = self.groups.get(&chat).or_else(|| self.groups.get(&peer.id)).or(self.groups.get("*"));
            return Ok(rule.cloned());
        }
        let Some(space) = peer.space.as_deref() else { return Ok(self.groups.get("*").cloned()) };
        let Some(rules) = self.spaces.get(space).or(self.spaces.get("*")) else { return Ok(None) };
        if rules.conversations.is_empty() {
            return Ok(Some(rules.rule.clone()));
        }
        let title = peer.title.as_deref().map(|title| title.trim_start_matches('#').to_lowercase());
        let entry = rules
            .conversations
            .get(&peer.id)
            .or_else(|| title.as_ref().and_then(|title| rules.conversations.get(title)))
            .or(rules.conversations.get("*"))
            .ok_or_else(|| format!("channel {} is not listed in its space's channels", peer.id))?;
        Ok(Some(GroupConfig {
            require_mention: entry.require_mention.or(rules.rule.require_mention),
            enabled: match (rules.rule.enabled, entry.enabled) {
                (Some(false), _) => Some(false),
                (_, own) => own,
            },
            allow_from: entry.allow_from.clone().or_else(|| rules.rule.allow_from.clone()),
        }))
    }

    /// An explicit mention (seen by the channel) or a `mentionPatterns` match.
    pub fn mentioned(&self, message: &Inbound) -> bool {
        message.mentioned || self.mention_patterns.iter().any(|pattern| pattern.is_match(&message.text))
    }
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Dropped without an answer, for this reason.
    Ignore(String),
    /// An unknown DM sender under `pairing`: answer with a pairing code, run nothing.
    Pair,
}

/// A fresh pairing code: 8 characters from an alphabet without look-alikes, from the OS's randomness.
pub fn pairing_code() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes.iter().take(8).map(|byte| CODE_ALPHABET[(*byte as usize) % CODE_ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sender;

    fn message(kind: PeerKind, chat: &str, sender: &str, text: &str) -> Inbound {
        let mut message = crate::test_message("telegram", kind, chat, sender, text);
        message.sender.username = Some("Ann".to_owned());
        message
    }

    fn policy(json: Value) -> Policy {
        let config: PolicyConfig = serde_json::from_value(json).expect("policy config");
        Policy::compile(&config, "telegram", "channels.telegram", DmPolicy::Pairing, &["telegram:900".to_owned()])
            .expect("compile")
    }

    #[test]
    fn direct_messages_follow_dm_policy() {
        let dm = message(PeerKind::Direct, "5", "5", "hi");
        assert_eq!(policy(serde_json::json!({})).decide(&dm, false), Decision::Pair);
        assert_eq!(policy(serde_json::json!({})).decide(&dm, true), Decision::Allow);
        assert_eq!(policy(serde_json::json!({"allowFrom": ["tg:5"]})).decide(&dm, false), Decision::Allow);
        assert_eq!(policy(serde_json::json!({"allowFrom": ["@ann"]})).decide(&dm, false), Decision::Allow);
        let allowlist = policy(serde_json::json!({"dmPolicy": "allowlist", "allowFrom": [6]}));
        assert!(matches!(allowlist.decide(&dm, false), Decision::Ignore(_)));
        let open = policy(serde_json::json!({"dmPolicy": "open", "allowFrom": ["*"]}));
        assert_eq!(open.decide(&dm, false), Decision::Allow);
        let disabled = policy(serde_json::json!({"dmPolicy": "disabled"}));
        assert!(matches!(disabled.decide(&dm, false), Decision::Ignore(_)));
        let owner = message(PeerKind::Direct, "900", "900", "hi");
        assert_eq!(disabled.decide(&owner, false), Decision::Allow, "owners always pass");
    }

    #[test]
    fn open_without_a_star_is_a_clear_error() {
        let config: PolicyConfig = serde_json::from_value(serde_json::json!({"dmPolicy": "open"})).expect("config");
        let error = Policy::compile(&config, "telegram", "channels.telegram", DmPolicy::Pairing, &[]).unwrap_err();
        assert!(error.to_string().contains("channels.telegram.allowFrom"), "{error}");
        let config: PolicyConfig = serde_json::from_value(serde_json::json!({"dmPolicy": "everyone"})).expect("config");
        let error = Policy::compile(&config, "telegram", "channels.telegram", DmPolicy::Pairing, &[]).unwrap_err();
        assert!(error.to_string().contains("pairing, allowlist, open or disabled"), "{error}");
    }

    #[test]
    fn groups_need_to_be_listed_and_mentioned() {
        let plain = message(PeerKind::Group, "-100", "5", "hello all");
        let unlisted = policy(serde_json::json!({}));
        assert!(matches!(unlisted.decide(&plain, false), Decision::Ignore(reason) if reason.contains("not in groups")));
        let listed = policy(serde_json::json!({"groups": {"-100": {}}, "mentionPatterns": ["\\bclaw\\b"]}));
        assert_eq!(listed.decide(&plain, false), Decision::Ignore("no mention".to_owned()));
        let mut mentioned = plain.clone();
        mentioned.mentioned = true;
        assert_eq!(listed.decide(&mentioned, false), Decision::Allow);
        let by_pattern = message(PeerKind::Group, "-100", "5", "hey Claw, what's up");
        assert_eq!(listed.decide(&by_pattern, false), Decision::Allow);
        let quiet = policy(serde_json::json!({"groups": {"*": {"requireMention": false}}, "groupAllowFrom": ["7"]}));
        assert!(matches!(quiet.decide(&plain, false), Decision::Ignore(reason) if reason.contains("groupAllowFrom")));
        let bot = Inbound { sender: Sender { is_bot: true, ..plain.sender.clone() }, ..plain };
        assert!(matches!(quiet.decide(&bot, false), Decision::Ignore(_)));
    }

    #[test]
    fn pairing_codes_avoid_look_alikes() {
        for _ in 0..200 {
            let code = pairing_code();
            assert_eq!(code.len(), 8);
            assert!(code.chars().all(|c| CODE_ALPHABET.contains(&(c as u8))), "{code}");
            assert!(!code.contains(['0', 'O', '1', 'I']));
        }
    }
}
