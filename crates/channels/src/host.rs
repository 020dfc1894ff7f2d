//! The registry of channel kinds, and [`Host`]: the configured channel accounts, running, with their dispatcher.

use std::sync::Arc;

use openclaw_config::Loaded;
use openclaw_store::Store;
use serde_json::{Value, json};

use crate::{Channel, ChannelError, Inbox, KINDS, Turns, dispatch};

/// What a channel kind's builder gets.
pub struct ChannelEnv<'a> {
    pub loaded: &'a Loaded,
    /// `channels.<name>` as written (after `${VAR}` substitution).
    pub section: &'a Value,
    /// The process environment (secrets given as variables).
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The shared HTTP client.
    pub http: reqwest::Client,
    /// `commands.ownerAllowFrom`.
    pub owners: Vec<String>,
}

/// Builds a channel kind's enabled accounts from its config block.
pub type BuildFn = fn(&ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError>;

/// One kind of channel: its name and how its accounts are built from `channels.<name>`.
pub struct ChannelKind {
    pub name: &'static str,
    /// One line for `channels list`.
    pub summary: &'static str,
    /// What `openclaw channels login` needs for it.
    pub login: &'static str,
    /// The bot token `channels add --token`, `channels login` and onboarding set, if the channel has one.
    pub token: Option<TokenSpec>,
    /// What onboarding asks or writes to connect it, in order.
    pub setup: &'static [SetupStep],
    /// The flags `channels add --channel <name>` takes besides `--token`, each writing one key.
    pub flags: &'static [AddFlag],
    /// Builds the enabled accounts (an empty list when the channel is disabled).
    pub build: BuildFn,
}

/// One step of connecting a channel in `openclaw onboard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStep {
    /// Ask for the bot token ([`ChannelKind::token`]), checked as it is typed.
    Token,
    /// Write a new random shared secret under this key.
    Secret(&'static str),
    /// Ask for an http(s) URL to write under `key` (empty: set it later).
    Url { key: &'static str, question: &'static str },
    /// Ask who may send direct messages (`dmPolicy`, and `allowFrom: ["*"]` for `open`).
    DmPolicy,
    /// Ask for the value of one of the channel's [`AddFlag`]s (by its flag name), checked as `channels add` does.
    Flag { flag: &'static str, question: &'static str },
}

/// One channel-owned flag of `openclaw channels add`: `--<flag> VALUE` writes `VALUE` under `key` of the
/// channel's block. A literal value is checked with `check` (the builder's own check of that key, so a value
/// is judged even when another key's problem stops the build first); then the block is built as the gateway would,
/// `${VAR}` references resolved. A value the channel refuses is not written.
pub struct AddFlag {
    /// The flag's name without its dashes (`homeserver` for `--homeserver`).
    pub flag: &'static str,
    pub key: &'static str,
    pub check: Option<CheckFn>,
}

/// Checks one value as written; `Err` says what is wrong and what a good one looks like.
pub type CheckFn = fn(&str) -> Result<(), String>;

/// A channel's bot token: the key it goes under and how a pasted one is checked before it is written.
pub struct TokenSpec {
    pub key: &'static str,
    /// `Err` says what is wrong with the token and what one looks like.
    pub check: CheckFn,
}

/// A kind by name.
pub fn kind(name: &str) -> Option<&'static ChannelKind> {
    KINDS.iter().find(|kind| kind.name == name)
}

/// Problems with `channels.*` a user should see (`config validate`, start-up): unknown channels, and each
/// implemented channel's own configuration errors.
pub fn channel_issues(
    loaded: &Loaded,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    http: &reqwest::Client,
) -> Vec<String> {
    let (_, errors) = build_all(loaded, env, http);
    errors
}

fn owners(loaded: &Loaded) -> Vec<String> {
    openclaw_config::get_path(loaded.config_json(), "commands.ownerAllowFrom")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|value| match value {
                    Value::String(text) => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Builds every configured channel account; errors name the key and the fix.
pub fn build_all(
    loaded: &Loaded,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    http: &reqwest::Client,
) -> (Vec<Arc<dyn Channel>>, Vec<String>) {
    let owners = owners(loaded);
    let mut channels = Vec::new();
    let mut errors = Vec::new();
    for (name, section) in &loaded.config.channels {
        if name == "defaults" || name == "modelByChannel" {
            continue;
        }
        let Some(kind) = kind(name) else {
            errors.push(format!(
                "channels.{name}: this channel is not implemented by OpenClaw-rs yet and is ignored (implemented: {})",
                KINDS.iter().map(|kind| kind.name).collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        let channel_env = ChannelEnv { loaded, section, env, http: http.clone(), owners: owners.clone() };
        match (kind.build)(&channel_env) {
            Ok(built) => channels.extend(built),
            Err(error) => errors.push(error.to_string()),
        }
    }
    (channels, errors)
}

/// The running channels of a gateway.
pub struct Host {
    channels: Vec<Arc<dyn Channel>>,
    errors: Vec<String>,
    store: Arc<dyn Store>,
    router: axum::Router,
    inbox: Inbox,
    dispatcher: Arc<dispatch::Dispatcher>,
}

/// A conversation an operator named on a running channel account: the agent and session a turn there joins, and
/// the reply to queue (its text still empty).
#[derive(Debug, Clone)]
pub struct Addressed {
    pub route: crate::routing::Route,
    pub reply: openclaw_store::NewOutbound,
}

/// Why an operator's `channel` + `to` names no conversation, with the reference's reason codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No running account of that channel (`unknown_channel`).
    #[error("{0}")]
    UnknownChannel(String),
    /// The channel cannot read `to` (`invalid_delivery_target`).
    #[error("{0}")]
    InvalidTarget(String),
}

impl AddressError {
    /// The reference's `deliveryStatus.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            AddressError::UnknownChannel(_) => "unknown_channel",
            AddressError::InvalidTarget(_) => "invalid_delivery_target",
        }
    }
}

impl Host {
    /// Builds the configured channels and starts them, with `builtin` ones the caller made itself (the gateway's
    /// WebChat): each account's receive loop, the inbox dispatcher and the outbox deliverer. Pending messages and
    /// replies left by a previous process are picked up at once. A channel that cannot be built is reported
    /// (`errors`, `channels status`) and the others run.
    pub fn start(
        store: Arc<dyn Store>,
        turns: Arc<dyn Turns>,
        builtin: Vec<Arc<dyn Channel>>,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
        http: &reqwest::Client,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Arc<Host> {
        let loaded = turns.loaded();
        let (mut channels, mut errors) = build_all(&loaded, env, http);
        channels.extend(builtin);
        let wake = Arc::new(tokio::sync::Notify::new());
        let inbox = Inbox::new(store.clone(), wake.clone(), shutdown.clone());
        let mut router = axum::Router::new();
        let mut paths = std::collections::HashSet::new();
        for channel in &channels {
            if let Some((path, handler)) = channel.clone().route(inbox.clone()) {
                if let Some(reason) = path_conflict(&path) {
                    errors.push(format!("channels.{}: webhook path {path} {reason}", channel.name()));
                } else if !paths.insert(path.clone()) {
                    errors.push(format!(
                        "channels.{}: webhook path {path} is used by another channel account (fix: give each account its own path)",
                        channel.name()
                    ));
                } else {
                    router = router.route(&path, handler);
                }
            }
            let running = channel.clone();
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let name = running.name();
                let account = running.account().to_owned();
                if let Err(error) = running.receive(inbox).await {
                    tracing::error!(channel = name, account = %account, %error, "Channel stopped receiving.");
                }
            });
            tracing::info!(channel = %channel.name(), account = %channel.account(), mode = %channel.mode(), "Channel started.");
        }
        for error in &errors {
            tracing::warn!(%error, "Channel not started.");
        }
        let dispatcher = dispatch::Dispatcher::new(store.clone(), turns, channels.clone(), wake, shutdown);
        dispatcher.clone().spawn();
        Arc::new(Host { channels, errors, store, router, inbox, dispatcher })
    }

    /// The running account of `channel` named `account`, else its `default` one, else its only one.
    ///
    /// # Errors
    /// [`AddressError::UnknownChannel`] naming the running accounts.
    pub fn account(&self, channel: &str, account: Option<&str>) -> Result<&Arc<dyn Channel>, AddressError> {
        let accounts: Vec<&Arc<dyn Channel>> =
            self.channels.iter().filter(|c| c.name().eq_ignore_ascii_case(channel)).collect();
        let found = match account {
            Some(wanted) => accounts.iter().find(|c| c.account() == wanted),
            None => {
                accounts.iter().find(|c| c.account() == "default").or(accounts.first().filter(|_| accounts.len() == 1))
            }
        };
        if let Some(found) = found {
            return Ok(found);
        }
        let what = match account {
            Some(account) => format!("{channel} account {account}"),
            None if accounts.len() > 1 => {
                format!("{channel} without an account (it has several: pass --reply-account)")
            }
            None => format!("channel {channel}"),
        };
        let running: Vec<String> = self
            .channels
            .iter()
            .filter(|c| c.name() != crate::webchat::NAME)
            .map(|c| format!("{}/{}", c.name(), c.account()))
            .collect();
        let running =
            if running.is_empty() { "none (fix: `openclaw channels add`)".to_owned() } else { running.join(", ") };
        Err(AddressError::UnknownChannel(format!("{what} is not running on this gateway (running: {running})")))
    }

    /// The conversation `to` on a running account of `channel` ([`Host::account`]), routed as a direct message
    /// from there would be, or to `agent` when the operator chose one.
    ///
    /// # Errors
    /// An unknown or unconfigured channel or account (naming the running ones), or a `to` the channel cannot read.
    pub fn address(
        &self,
        loaded: &Loaded,
        channel: &str,
        account: Option<&str>,
        to: &str,
        agent: Option<&str>,
    ) -> Result<Addressed, AddressError> {
        let found = self.account(channel, account)?;
        let (peer, route) = found.address(to).map_err(AddressError::InvalidTarget)?;
        let message = crate::Inbound {
            channel: found.name().to_owned(),
            account: found.account().to_owned(),
            sender: crate::Sender { id: peer.id.clone(), name: None, username: None, is_bot: false },
            peer,
            text: String::new(),
            media: Vec::new(),
            reply_to: None,
            platform_id: String::new(),
            message_id: None,
            timestamp_ms: openclaw_protocol::now_ms(),
            mentioned: false,
            session_key: None,
            route: route.clone(),
        };
        let routed = match agent {
            Some(agent) => crate::routing::route_to_agent(loaded, agent, &message),
            None => crate::routing::route(loaded, &message),
        };
        let reply = openclaw_store::NewOutbound {
            channel: message.channel.clone(),
            account: message.account.clone(),
            conversation: message.conversation(),
            route,
            text: String::new(),
        };
        Ok(Addressed { route: routed, reply })
    }

    /// Tells the outbox a reply was queued outside the dispatcher (an operator's delivery).
    pub fn wake_outbox(&self) {
        self.dispatcher.wake_outbox();
    }

    /// The inbox, for channels the caller feeds itself (WebChat's `chat.send`).
    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// The HTTP routes the channels serve (webhooks), to merge into the gateway's router.
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// `channels.status`: the running accounts (see [`status`]).
    pub async fn status(&self, probe: bool) -> Value {
        status(&self.channels, &self.errors, self.store.as_ref(), probe).await
    }
}

/// Channel accounts with their mode and capabilities (and a live check with `probe`), the channels that could not
/// be built, and the queues. Shared by the gateway's `channels.status` and `openclaw channels status`.
pub async fn status(channels: &[Arc<dyn Channel>], errors: &[String], store: &dyn Store, probe: bool) -> Value {
    let mut accounts = Vec::new();
    for channel in channels {
        let mut entry = json!({
            "channel": channel.name(),
            "accountId": channel.account(),
            "mode": channel.mode(),
            "capabilities": channel.capabilities(),
        });
        if probe {
            entry["probe"] = json!(channel.probe().await);
        }
        accounts.push(entry);
    }
    let queues = match store.channel_queues(openclaw_protocol::now_ms()).await {
        Ok(q) => json!({"inboxPending": q.inbox_pending, "outboxPending": q.outbox_pending,
                        "deadLetters": q.dead_letters, "pairingRequests": q.pairing_requests}),
        Err(error) => json!({"error": error.to_string()}),
    };
    json!({"accounts": accounts, "errors": errors, "queues": queues})
}

/// Why a webhook path cannot be served beside the gateway's own endpoints.
fn path_conflict(path: &str) -> Option<&'static str> {
    const RESERVED: &[&str] = &["/v1/", "/tools/", "/health", "/ready", "/startupz", "/livez"];
    if !path.starts_with('/') || path.len() < 2 || path.contains(['{', '}', '*']) {
        return Some("is not a plain absolute path (fix: something like /telegram-webhook)");
    }
    RESERVED
        .iter()
        .any(|reserved| path.starts_with(reserved))
        .then_some("conflicts with a gateway endpoint (fix: choose another path)")
}

/// One of a key's named options (`options` pairs each name with its value), `default` when the key is absent.
///
/// # Errors
/// A value that is none of them, naming `<path>.<key>` and the options.
#[cfg(any(feature = "matrix", feature = "discord", feature = "slack", feature = "whatsapp"))]
pub fn choice<T: Copy>(
    value: Option<&str>,
    path: &str,
    key: &str,
    default: T,
    options: &[(&str, T)],
) -> Result<T, ChannelError> {
    let Some(value) = value else { return Ok(default) };
    options.iter().find(|(name, _)| *name == value).map(|(_, option)| *option).ok_or_else(|| ChannelError::Config {
        path: format!("{path}.{key}"),
        message: format!(
            "{value:?} is not one of {} (fix: use one of them)",
            options.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
        ),
    })
}

/// Resolves a secret-bearing key (`path` names it in errors): a literal, `${VAR}` or SecretRef.
pub fn resolve_secret(
    secret: &openclaw_config::Secret,
    path: &str,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<String, ChannelError> {
    secret.resolve(env).map_err(|e| ChannelError::Config { path: path.to_owned(), message: e.to_string() })
}

/// One account of a channel block, its keys merged.
pub struct Account {
    pub id: String,
    /// The channel's keys with the account's own over them (`accounts` and `defaultAccount` removed).
    pub block: Value,
    /// Where its keys are written, for errors (`channels.telegram.accounts.work`).
    pub path: String,
}

/// The accounts a channel block (at `path`) defines, as the reference reads them: each `accounts.<id>` inherits
/// the channel's keys and overrides them; the block itself is the `default` account when there are no accounts,
/// or when it has its own credentials (`has_own_credentials`) and no account is named `default`.
pub fn accounts(section: &Value, path: &str, has_own_credentials: bool) -> Vec<Account> {
    let named = section.get("accounts").and_then(Value::as_object).cloned().unwrap_or_default();
    let base = || {
        let mut block = section.clone();
        if let Some(map) = block.as_object_mut() {
            map.remove("accounts");
            map.remove("defaultAccount");
        }
        block
    };
    let mut accounts = Vec::new();
    if named.is_empty() || (has_own_credentials && !named.contains_key("default")) {
        accounts.push(Account { id: "default".to_owned(), block: base(), path: path.to_owned() });
    }
    for (id, overrides) in &named {
        let mut block = base();
        if let (Some(map), Some(own)) = (block.as_object_mut(), overrides.as_object()) {
            for (key, value) in own {
                map.insert(key.clone(), value.clone());
            }
        }
        accounts.push(Account { id: id.clone(), block, path: format!("{path}.accounts.{id}") });
    }
    accounts
}

/// A typed view of a config block. A key the reference OpenClaw knows but this channel does not implement is
/// logged and ignored; any other unknown key is an error naming its path.
///
/// The keys every channel shares (the access policy, [`crate::access::PolicyConfig::KEYS`]) are read by
/// [`channel_block`]; a channel's own struct declares only its own keys.
pub fn parse_block<T: serde::de::DeserializeOwned>(value: &Value, path: &str) -> Result<T, ChannelError> {
    parse_keys(value, path, |key| crate::access::PolicyConfig::KEYS.contains(&key))
}

/// A channel block: its own keys (`T`) and the shared access keys, each checked for unknown keys once.
pub fn channel_block<T: serde::de::DeserializeOwned>(
    value: &Value,
    path: &str,
) -> Result<(T, crate::access::PolicyConfig), ChannelError> {
    let own = parse_block(value, path)?;
    // Unknown keys at the top are the channel's to judge (above); inside the policy's own keys they are errors.
    let policy = parse_keys(value, path, |key| !key.contains('.'))?;
    Ok((own, policy))
}

/// Deserializes, then judges each ignored key: `skip(key)` (its path inside the block) lets it through; else a key
/// the reference knows is logged and ignored, and any other is an error naming its path.
fn parse_keys<T: serde::de::DeserializeOwned>(
    value: &Value,
    path: &str,
    skip: impl Fn(&str) -> bool,
) -> Result<T, ChannelError> {
    let mut unknown = Vec::new();
    // serde_ignored writes `?` for each `Option` on the way; a reader wants the keys only.
    let plain = |ignored: serde_ignored::Path<'_>| {
        ignored.to_string().split('.').filter(|segment| *segment != "?").collect::<Vec<_>>().join(".")
    };
    let parsed: T = serde_ignored::deserialize(value.clone(), |ignored| unknown.push(plain(ignored)))
        .map_err(|e| ChannelError::Config { path: path.to_owned(), message: e.to_string() })?;
    for key in unknown.into_iter().filter(|key| !skip(key)) {
        let full = format!("{path}.{key}");
        if openclaw_config::is_reference_key(&full) {
            tracing::warn!(key = %full, "This OpenClaw key is not implemented by OpenClaw-rs yet and is ignored.");
        } else {
            return Err(ChannelError::Config {
                path: full,
                message: "unknown key (fix: remove it or check its spelling)".to_owned(),
            });
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Own {
        bot_token: Option<String>,
    }

    #[test]
    fn accounts_inherit_the_channel_keys() {
        let section = serde_json::json!({"botToken": "1:a", "dmPolicy": "open",
                                          "accounts": {"work": {"botToken": "2:b"}}});
        let accounts = super::accounts(&section, "channels.x", true);
        let ids: Vec<(&str, &str)> = accounts.iter().map(|a| (a.id.as_str(), a.path.as_str())).collect();
        assert_eq!(ids, vec![("default", "channels.x"), ("work", "channels.x.accounts.work")]);
        assert_eq!(accounts[1].block, serde_json::json!({"botToken": "2:b", "dmPolicy": "open"}));
        assert!(accounts[0].block.get("accounts").is_none());
        // Without its own credentials the block is only the accounts' defaults.
        let only =
            super::accounts(&serde_json::json!({"dmPolicy": "open", "accounts": {"a": {}}}), "channels.x", false);
        assert_eq!(only.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), vec!["a"]);
    }

    /// The access keys are read once, for every channel, and unknown keys are still caught wherever they are.
    #[test]
    fn shared_and_own_keys_are_each_checked_once() {
        let block =
            serde_json::json!({"botToken": "1:a", "dmPolicy": "open", "groups": {"-1": {"requireMention": true}}});
        let (own, policy): (Own, _) = super::channel_block(&block, "channels.x").expect("valid");
        assert_eq!((own.bot_token.as_deref(), policy.dm_policy.as_deref()), (Some("1:a"), Some("open")));
        assert!(policy.groups.is_some_and(|groups| groups["-1"].require_mention == Some(true)));
        let typo = serde_json::json!({"botToken": "1:a", "dmPolcy": "open"});
        let error = super::channel_block::<Own>(&typo, "channels.x").expect_err("a typo").to_string();
        assert!(error.starts_with("channels.x.dmPolcy: unknown key"), "{error}");
        let nested = serde_json::json!({"groups": {"-1": {"requireMentoin": true}}});
        let error = super::channel_block::<Own>(&nested, "channels.x").expect_err("a nested typo").to_string();
        assert!(error.starts_with("channels.x.groups.-1.requireMentoin: unknown key"), "{error}");
    }
}
