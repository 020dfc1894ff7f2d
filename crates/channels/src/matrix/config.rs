//! `channels.matrix` and its accounts: the keys, their checks, and the built bot accounts.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;
use crate::access::DmPolicy;
use crate::host::{Account, ChannelEnv, accounts, channel_block, choice, parse_block, resolve_secret};

/// An access token as a homeserver hands it out: one opaque word of printable characters.
pub(super) fn check_token(token: &str) -> Result<(), String> {
    if token.len() >= 8 && token.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err("that is not a Matrix access token (one word of 8 or more printable characters, such as syt_…; \
             Element shows it under Settings → Help & About → Access token)"
            .to_owned())
    }
}

pub(super) fn check_homeserver(url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err("not an http(s) URL (fix: something like https://matrix.example.org)".to_owned())
    }
}

pub(super) fn check_user_id(user: &str) -> Result<(), String> {
    if user.starts_with('@') && user.contains(':') {
        Ok(())
    } else {
        Err("not a Matrix user id (fix: the full id, such as @bot:example.org)".to_owned())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MatrixConfig {
    enabled: Option<bool>,
    #[serde(rename = "name")]
    _name: Option<String>,
    homeserver: Option<String>,
    user_id: Option<String>,
    access_token: Option<openclaw_config::Secret>,
    password: Option<openclaw_config::Secret>,
    device_id: Option<String>,
    device_name: Option<String>,
    encryption: Option<bool>,
    dm: Option<crate::access::DmKeys>,
    auto_join: Option<String>,
    auto_join_allowlist: Option<Vec<String>>,
    reply_to_mode: Option<String>,
    thread_replies: Option<String>,
    text_chunk_limit: Option<usize>,
    /// The reference needs this to reach a homeserver on a private address; here the operator's URL is trusted.
    #[serde(rename = "network")]
    _network: Option<serde::de::IgnoredAny>,
    /// Declared so that it is a known key; `host::accounts` reads it.
    #[serde(rename = "accounts")]
    _accounts: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

pub(super) fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let base: MatrixConfig = parse_block(env.section, "channels.matrix")?;
    if base.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let has_own = base.access_token.is_some() || base.password.is_some();
    let mut built: Vec<Arc<dyn Channel>> = Vec::new();
    for Account { id: account, block, path } in accounts(env.section, "channels.matrix", has_own) {
        let (config, mut policy_config): (MatrixConfig, _) = channel_block(&block, &path)?;
        if config.enabled == Some(false) {
            continue;
        }
        let error = |key: &str, message: &str| ChannelError::Config {
            path: format!("{path}.{key}"),
            message: message.to_owned(),
        };
        if config.encryption == Some(true) {
            return Err(error(
                "encryption",
                "end-to-end encryption is not implemented by OpenClaw-rs yet (fix: set it to false and talk to the bot in unencrypted rooms)",
            ));
        }
        let homeserver = config.homeserver.clone().filter(|url| !url.trim().is_empty()).ok_or_else(|| {
            error(
                "homeserver",
                "no homeserver (fix: openclaw channels add --channel matrix --homeserver https://matrix.example.org)",
            )
        })?;
        check_homeserver(&homeserver).map_err(|message| error("homeserver", &message))?;
        let credentials = match (&config.access_token, &config.password) {
            (Some(token), _) => {
                let token = resolve_secret(token, &format!("{path}.accessToken"), env.env)?;
                check_token(&token).map_err(|message| error("accessToken", &message))?;
                Credentials::Token(token)
            }
            (None, Some(password)) => {
                let password = resolve_secret(password, &format!("{path}.password"), env.env)?;
                let user = config.user_id.clone().ok_or_else(|| {
                    error("userId", "a password login needs the bot's user id (fix: userId: \"@bot:example.org\")")
                })?;
                Credentials::Password {
                    user,
                    password,
                    device_id: config
                        .device_id
                        .clone()
                        .unwrap_or_else(|| format!("OPENCLAWRS{}", account.to_uppercase())),
                    device_name: config.device_name.clone().unwrap_or_else(|| "OpenClaw-rs".to_owned()),
                }
            }
            (None, None) => {
                return Err(error(
                    "accessToken",
                    "no credentials (fix: openclaw channels login matrix, or channels add --channel matrix --user-id @bot:example.org --password …)",
                ));
            }
        };
        if let Some(user) = &config.user_id {
            check_user_id(user).map_err(|message| error("userId", &message))?;
        }
        // The reference writes the DM keys under `dm`.
        if let Some(dm) = &config.dm {
            dm.apply(&mut policy_config, &path)?;
        }
        let policy = Policy::compile(&policy_config, "matrix", &path, DmPolicy::Pairing, &env.owners)?;
        let reply_to = choice(
            config.reply_to_mode.as_deref(),
            &path,
            "replyToMode",
            ReplyTo::Off,
            &[("off", ReplyTo::Off), ("first", ReplyTo::First), ("all", ReplyTo::All), ("batched", ReplyTo::First)],
        )?;
        let thread_replies = choice(
            config.thread_replies.as_deref(),
            &path,
            "threadReplies",
            ThreadReplies::Inbound,
            &[("off", ThreadReplies::Off), ("inbound", ThreadReplies::Inbound), ("always", ThreadReplies::Always)],
        )?;
        let auto_join = choice(
            config.auto_join.as_deref(),
            &path,
            "autoJoin",
            AutoJoin::Off,
            &[("always", AutoJoin::Always), ("allowlist", AutoJoin::Allowlist), ("off", AutoJoin::Off)],
        )?;
        let token = match &credentials {
            Credentials::Token(token) => Some(token.clone()),
            Credentials::Password { .. } => None,
        };
        let me = OnceLock::new();
        if let Some(user) = &config.user_id {
            let _ = me.set(user.clone());
        }
        built.push(Arc::new(Matrix {
            account,
            api: Api::new(env.http.clone(), &homeserver, token),
            credentials,
            policy,
            chunk_limit: config.text_chunk_limit.unwrap_or(DEFAULT_CHUNK).clamp(64, MAX_TEXT),
            reply_to,
            thread_replies,
            auto_join,
            auto_join_allowlist: config.auto_join_allowlist.clone().unwrap_or_default(),
            me,
            direct: Mutex::default(),
        }));
    }
    Ok(built)
}
