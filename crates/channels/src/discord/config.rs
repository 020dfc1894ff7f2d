//! `channels.discord` and its accounts: the keys, their checks, the guild rules as the access policy's spaces, and
//! the built bot accounts.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;
use crate::access::{DmPolicy, GroupConfig, SpaceRule};
use crate::host::{Account, ChannelEnv, accounts, channel_block, choice, parse_block, resolve_secret};

/// A bot token as the Developer Portal shows it: three dot-separated parts of letters, digits, `-` and `_`.
pub(super) fn check_token(token: &str) -> Result<(), String> {
    let token = token.strip_prefix("Bot ").unwrap_or(token);
    let parts: Vec<&str> = token.split('.').collect();
    let valid = parts.len() == 3
        && token.len() >= 50
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if valid {
        Ok(())
    } else {
        Err("that is not a Discord bot token (three dot-separated parts, about 70 characters; Developer Portal → \
             your application → Bot → Reset Token)"
            .to_owned())
    }
}

/// What a channel object (`GET /channels/{id}`, GUILD_CREATE, THREAD_CREATE) says: a thread's parent, a name.
pub(super) fn channel_info(channel: &Value) -> ChannelInfo {
    // 10, 11, 12: announcement, public and private threads.
    let thread = matches!(channel["type"].as_u64(), Some(10..=12));
    ChannelInfo {
        parent: if thread { channel["parent_id"].as_str().map(str::to_owned) } else { None },
        name: if thread { None } else { channel["name"].as_str().map(str::to_owned) },
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GuildChannelConfig {
    enabled: Option<bool>,
    /// The legacy spelling of `enabled`.
    allow: Option<bool>,
    require_mention: Option<bool>,
    users: Option<Vec<Value>>,
    roles: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GuildConfig {
    #[serde(rename = "slug")]
    _slug: Option<String>,
    require_mention: Option<bool>,
    users: Option<Vec<Value>>,
    roles: Option<Vec<Value>>,
    channels: Option<BTreeMap<String, GuildChannelConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscordConfig {
    enabled: Option<bool>,
    #[serde(rename = "name")]
    _name: Option<String>,
    token: Option<openclaw_config::Secret>,
    #[serde(rename = "applicationId")]
    _application_id: Option<Value>,
    api_base_url: Option<String>,
    dm: Option<crate::access::DmKeys>,
    guilds: Option<BTreeMap<String, GuildConfig>>,
    allow_bots: Option<bool>,
    reply_to_mode: Option<String>,
    text_chunk_limit: Option<usize>,
    max_lines_per_message: Option<usize>,
    /// Declared so that it is a known key; `host::accounts` reads it.
    #[serde(rename = "accounts")]
    _accounts: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

/// `users` as the policy's sender list; `roles` refused (a role allowlist ignored would let everyone in).
fn senders(
    users: &Option<Vec<Value>>,
    roles: &Option<Vec<Value>>,
    path: &str,
) -> Result<Option<Vec<Value>>, ChannelError> {
    if roles.as_ref().is_some_and(|roles| !roles.is_empty()) {
        return Err(ChannelError::Config {
            path: format!("{path}.roles"),
            message: "role allowlists are not implemented by OpenClaw-rs yet (fix: list the user ids under users)"
                .to_owned(),
        });
    }
    Ok(users.clone())
}

/// `guilds` as the policy's spaces: a guild's rule, and its channel map as the allowlist of its channels.
fn spaces(guilds: &BTreeMap<String, GuildConfig>, path: &str) -> Result<BTreeMap<String, SpaceRule>, ChannelError> {
    let mut spaces = BTreeMap::new();
    for (id, guild) in guilds {
        let guild_path = format!("{path}.guilds.{id}");
        let rule = GroupConfig {
            require_mention: guild.require_mention,
            enabled: None,
            allow_from: senders(&guild.users, &guild.roles, &guild_path)?,
        };
        let mut conversations = BTreeMap::new();
        for (channel, entry) in guild.channels.iter().flatten() {
            let channel_path = format!("{guild_path}.channels.{channel}");
            conversations.insert(
                channel.trim_start_matches('#').to_lowercase(),
                GroupConfig {
                    require_mention: entry.require_mention,
                    enabled: entry.enabled.or(entry.allow),
                    allow_from: senders(&entry.users, &entry.roles, &channel_path)?,
                },
            );
        }
        spaces.insert(id.clone(), SpaceRule { rule, conversations });
    }
    Ok(spaces)
}

pub(super) fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let base: DiscordConfig = parse_block(env.section, "channels.discord")?;
    if base.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let mut built: Vec<Arc<dyn Channel>> = Vec::new();
    for Account { id: account, block, path } in accounts(env.section, "channels.discord", base.token.is_some()) {
        let (config, mut policy_config): (DiscordConfig, _) = channel_block(&block, &path)?;
        if config.enabled == Some(false) {
            continue;
        }
        let error = |key: &str, message: &str| ChannelError::Config {
            path: format!("{path}.{key}"),
            message: message.to_owned(),
        };
        let token = match &config.token {
            Some(secret) => resolve_secret(secret, &format!("{path}.token"), env.env)?,
            None if account == "default" => (env.env)("DISCORD_BOT_TOKEN").filter(|t| !t.is_empty()).ok_or_else(|| {
                error("token", "no bot token (fix: openclaw channels add --channel discord --token <bot token>, or set DISCORD_BOT_TOKEN)")
            })?,
            None => return Err(error("token", "no bot token for this account (fix: set token)")),
        };
        let token = token.strip_prefix("Bot ").unwrap_or(&token).trim().to_owned();
        check_token(&token).map_err(|message| error("token", &message))?;
        if let Some(dm) = &config.dm {
            dm.apply(&mut policy_config, &path)?;
        }
        if policy_config.groups.is_some() {
            return Err(error("groups", "Discord lists its servers under guilds (fix: guilds.<server id>.channels)"));
        }
        let mut policy = Policy::compile(&policy_config, "discord", &path, DmPolicy::Pairing, &env.owners)?;
        policy.spaces = spaces(config.guilds.as_ref().unwrap_or(&BTreeMap::new()), &path)?;
        let reply_to = choice(
            config.reply_to_mode.as_deref(),
            &path,
            "replyToMode",
            ReplyTo::Off,
            &[("off", ReplyTo::Off), ("first", ReplyTo::First), ("all", ReplyTo::All), ("batched", ReplyTo::First)],
        )?;
        let api_base = config.api_base_url.clone().unwrap_or_else(|| DEFAULT_API.to_owned());
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(error("apiBaseUrl", "not an http(s) URL (fix: https://discord.com/api, or your proxy)"));
        }
        built.push(Arc::new(Discord {
            account,
            api: Api::new(env.http.clone(), &api_base, &token),
            token,
            policy,
            chunk_limit: config.text_chunk_limit.unwrap_or(MAX_TEXT).clamp(64, MAX_TEXT),
            max_lines: config.max_lines_per_message.unwrap_or(DEFAULT_LINES).max(2),
            reply_to,
            allow_bots: config.allow_bots.unwrap_or(false),
            me: OnceLock::new(),
            channels: Mutex::default(),
            dm_channels: Mutex::default(),
        }));
    }
    Ok(built)
}
