//! `channels.slack` and its accounts: the keys, their checks, the channel map as the access policy's groups, and
//! the built bot accounts.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;
use crate::access::{DmPolicy, GroupConfig};
use crate::host::{Account, ChannelEnv, accounts, channel_block, choice, parse_block, resolve_secret};

fn token_shape(token: &str, prefix: &str) -> bool {
    token
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.len() >= 8 && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// A bot token as Slack shows it: `xoxb-` and then letters, digits and dashes.
pub(super) fn check_token(token: &str) -> Result<(), String> {
    if token_shape(token, "xoxb-") {
        Ok(())
    } else {
        Err("that is not a Slack bot token (it starts with xoxb-; api.slack.com/apps → your app → OAuth & \
             Permissions → Bot User OAuth Token)"
            .to_owned())
    }
}

pub(super) fn check_app_token(token: &str) -> Result<(), String> {
    if token_shape(token, "xapp-") {
        Ok(())
    } else {
        Err("that is not a Slack app-level token (it starts with xapp-)".to_owned())
    }
}

pub(super) fn check_mode(mode: &str) -> Result<(), String> {
    match mode {
        "socket" | "http" => Ok(()),
        other => Err(format!("{other:?} is not a Slack mode (fix: socket or http)")),
    }
}

pub(super) fn check_signing_secret(secret: &str) -> Result<(), String> {
    if secret.len() >= 16 {
        Ok(())
    } else {
        Err("too short for a Slack signing secret (it has 16 characters or more; Basic Information → App \
             Credentials)"
            .to_owned())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelConfig {
    enabled: Option<bool>,
    /// The legacy spelling of `enabled`.
    allow: Option<bool>,
    require_mention: Option<bool>,
    users: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlackConfig {
    enabled: Option<bool>,
    #[serde(rename = "name")]
    _name: Option<String>,
    mode: Option<String>,
    bot_token: Option<openclaw_config::Secret>,
    app_token: Option<openclaw_config::Secret>,
    signing_secret: Option<openclaw_config::Secret>,
    webhook_path: Option<String>,
    api_base_url: Option<String>,
    dm: Option<crate::access::DmKeys>,
    channels: Option<BTreeMap<String, ChannelConfig>>,
    allow_bots: Option<bool>,
    reply_to_mode: Option<String>,
    text_chunk_limit: Option<usize>,
    unfurl_links: Option<bool>,
    /// Declared so that it is a known key; `host::accounts` reads it.
    #[serde(rename = "accounts")]
    _accounts: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

pub(super) fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let base: SlackConfig = parse_block(env.section, "channels.slack")?;
    if base.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let mut built: Vec<Arc<dyn Channel>> = Vec::new();
    for Account { id: account, block, path } in accounts(env.section, "channels.slack", base.bot_token.is_some()) {
        let (config, mut policy_config): (SlackConfig, _) = channel_block(&block, &path)?;
        if config.enabled == Some(false) {
            continue;
        }
        let error = |key: &str, message: &str| ChannelError::Config {
            path: format!("{path}.{key}"),
            message: message.to_owned(),
        };
        let secret = |key: &str,
                      value: &Option<openclaw_config::Secret>,
                      variable: &str|
         -> Result<Option<String>, ChannelError> {
            match value {
                Some(value) => resolve_secret(value, &format!("{path}.{key}"), env.env).map(Some),
                None if account == "default" => Ok((env.env)(variable).filter(|value| !value.is_empty())),
                None => Ok(None),
            }
        };
        let bot_token = secret("botToken", &config.bot_token, "SLACK_BOT_TOKEN")?.ok_or_else(|| {
            error(
                "botToken",
                "no bot token (fix: openclaw channels add --channel slack --token xoxb-…, or set SLACK_BOT_TOKEN)",
            )
        })?;
        check_token(&bot_token).map_err(|message| error("botToken", &message))?;
        if let Some(mode) = &config.mode {
            check_mode(mode).map_err(|message| error("mode", &message))?;
        }
        let (mode, app_token) = match config.mode.as_deref() {
            None | Some("socket") => {
                let app_token = secret("appToken", &config.app_token, "SLACK_APP_TOKEN")?.ok_or_else(|| {
                    error("appToken", "Socket Mode needs the app-level token (fix: channels add --channel slack --app-token xapp-… from Basic Information → App-Level Tokens with connections:write, or --mode http)")
                })?;
                check_app_token(&app_token).map_err(|message| error("appToken", &message))?;
                (Mode::Socket, Some(app_token))
            }
            Some(_) => {
                let signing_secret = secret("signingSecret", &config.signing_secret, "SLACK_SIGNING_SECRET")?
                    .ok_or_else(|| {
                        error("signingSecret", "HTTP mode checks every request against the app's signing secret (fix: channels add --channel slack --signing-secret … from Basic Information → App Credentials)")
                    })?;
                check_signing_secret(&signing_secret).map_err(|message| error("signingSecret", &message))?;
                let path_key = config.webhook_path.clone().unwrap_or_else(|| "/slack/events".to_owned());
                (Mode::Http { signing_secret, path: path_key }, None)
            }
        };
        if let Some(dm) = &config.dm {
            dm.apply(&mut policy_config, &path)?;
        }
        if policy_config.groups.is_some() {
            return Err(error("groups", "Slack lists its channels under channels (fix: channels.<channel id>)"));
        }
        // The reference's `channels.<id>` map is the policy's groups.
        policy_config.groups = config.channels.as_ref().map(|channels| {
            channels
                .iter()
                .map(|(id, entry)| {
                    (
                        id.to_lowercase(),
                        GroupConfig {
                            require_mention: entry.require_mention,
                            enabled: entry.enabled.or(entry.allow),
                            allow_from: entry.users.clone(),
                        },
                    )
                })
                .collect()
        });
        let policy = Policy::compile(&policy_config, "slack", &path, DmPolicy::Pairing, &env.owners)?;
        let reply_to = choice(
            config.reply_to_mode.as_deref(),
            &path,
            "replyToMode",
            ReplyTo::Off,
            &[("off", ReplyTo::Off), ("first", ReplyTo::First), ("all", ReplyTo::All), ("batched", ReplyTo::First)],
        )?;
        let api_base = config.api_base_url.clone().unwrap_or_else(|| DEFAULT_API.to_owned());
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(error("apiBaseUrl", "not an http(s) URL (fix: https://slack.com/api, or your proxy)"));
        }
        built.push(Arc::new(Slack {
            account,
            api: Api::new(env.http.clone(), &api_base, bot_token, app_token),
            mode,
            policy,
            chunk_limit: config.text_chunk_limit.unwrap_or(DEFAULT_CHUNK).clamp(64, MAX_TEXT),
            reply_to,
            allow_bots: config.allow_bots.unwrap_or(false),
            unfurl_links: config.unfurl_links.unwrap_or(false),
            me: OnceLock::new(),
            refusals: crate::refusals::Refusals::default(),
            seen: Mutex::default(),
        }));
    }
    Ok(built)
}
