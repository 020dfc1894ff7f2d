//! `channels.telegram` and its accounts: the keys, their checks, and the built bot accounts.

use super::*;

/// A bot token as @BotFather gives it: the bot's numeric id, a colon, then letters, digits, `_` and `-`.
pub(super) fn check_token(token: &str) -> Result<(), String> {
    let valid = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if valid {
        Ok(())
    } else {
        Err("that is not a Telegram bot token (it looks like 123456789:AAE…, from @BotFather's /newbot)".to_owned())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TelegramConfig {
    enabled: Option<bool>,
    bot_token: Option<openclaw_config::Secret>,
    token_file: Option<String>,
    api_root: Option<String>,
    text_chunk_limit: Option<usize>,
    /// `off` (default) | `first` | `all`: quote the message being answered.
    reply_to_mode: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<openclaw_config::Secret>,
    webhook_path: Option<String>,
    /// Declared so that it is a known key; `host::accounts` reads it.
    #[serde(rename = "accounts")]
    _accounts: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

pub(super) fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let base: TelegramConfig = parse_block(env.section, "channels.telegram")?;
    if base.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let has_own_token = base.bot_token.is_some() || base.token_file.is_some();
    let mut built: Vec<Arc<dyn Channel>> = Vec::new();
    for Account { id: account, block, path } in accounts(env.section, "channels.telegram", has_own_token) {
        let (config, policy_config): (TelegramConfig, _) = channel_block(&block, &path)?;
        if config.enabled == Some(false) {
            continue;
        }
        let token = match (&config.bot_token, &config.token_file) {
            (Some(secret), _) => resolve_secret(secret, &format!("{path}.botToken"), env.env)?,
            (None, Some(file)) => std::fs::read_to_string(file).map(|text| text.trim().to_owned()).map_err(|e| {
                ChannelError::Config { path: format!("{path}.tokenFile"), message: format!("cannot read {file}: {e}") }
            })?,
            (None, None) if account == "default" => (env.env)("TELEGRAM_BOT_TOKEN").filter(|t| !t.is_empty()).ok_or_else(|| {
                ChannelError::Config {
                    path: format!("{path}.botToken"),
                    message: "no bot token (fix: openclaw channels add --channel telegram --token <token from @BotFather>, or set TELEGRAM_BOT_TOKEN)".to_owned(),
                }
            })?,
            (None, None) => {
                return Err(ChannelError::Config {
                    path: format!("{path}.botToken"),
                    message: "no bot token for this account (fix: set botToken or tokenFile)".to_owned(),
                });
            }
        };
        let policy = Policy::compile(&policy_config, "telegram", &path, DmPolicy::Pairing, &env.owners)?;
        let webhook = match &config.webhook_url {
            Some(url) => {
                let key = format!("{path}.webhookSecret");
                let secret = config.webhook_secret.as_ref().ok_or_else(|| ChannelError::Config {
                    path: key.clone(),
                    message:
                        "webhookUrl needs webhookSecret, so forged updates can be refused (fix: a long random string)"
                            .to_owned(),
                })?;
                let secret = resolve_secret(secret, &key, env.env)?;
                Some(Webhook {
                    url: url.clone(),
                    secret,
                    path: config.webhook_path.clone().unwrap_or_else(|| "/telegram-webhook".to_owned()),
                })
            }
            None => None,
        };
        let reply_to = match config.reply_to_mode.as_deref() {
            None | Some("off") => ReplyTo::Off,
            Some("first") => ReplyTo::First,
            Some("all") => ReplyTo::All,
            Some(other) => {
                return Err(ChannelError::Config {
                    path: format!("{path}.replyToMode"),
                    message: format!("{other:?} is not a reply mode (fix: off, first or all)"),
                });
            }
        };
        let chunk_limit = config.text_chunk_limit.unwrap_or(DEFAULT_CHUNK).clamp(64, MAX_TEXT);
        let api_root = config.api_root.clone().unwrap_or_else(|| DEFAULT_API_ROOT.to_owned());
        built.push(Arc::new(Telegram {
            account,
            api: Api::new(env.http.clone(), &api_root, &token),
            policy,
            chunk_limit,
            reply_to,
            webhook,
            me: OnceLock::new(),
        }));
    }
    Ok(built)
}
