//! `channels.whatsapp` and its accounts: the keys, their checks, and the built phone numbers.

use serde::Deserialize;

use super::*;
use crate::access::DmPolicy;
use crate::host::{Account, ChannelEnv, accounts, channel_block, choice, parse_block, resolve_secret};

/// A Cloud API access token: one word of 20 or more letters, digits and `-_.` (they start with `EAA`).
pub(super) fn check_token(token: &str) -> Result<(), String> {
    if token.len() >= 20 && token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        Ok(())
    } else {
        Err("that is not a WhatsApp Cloud API access token (one word, EAA…; developers.facebook.com → your app → \
             WhatsApp → API Setup)"
            .to_owned())
    }
}

pub(super) fn check_phone_number_id(id: &str) -> Result<(), String> {
    if (5..=24).contains(&id.len()) && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err("not a phone number id (the digits under API Setup → Phone number ID, not the phone number itself)"
            .to_owned())
    }
}

pub(super) fn check_app_secret(secret: &str) -> Result<(), String> {
    if secret.len() >= 16 && !secret.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        Err("not an app secret (32 hexadecimal characters; App settings → Basic → App secret)".to_owned())
    }
}

pub(super) fn check_verify_token(token: &str) -> Result<(), String> {
    if token.len() >= 8 && !token.chars().any(char::is_control) {
        Ok(())
    } else {
        Err("too short (fix: 8 characters or more, the same string as in the app's webhook settings)".to_owned())
    }
}

/// A number as `allowFrom` may write it (`+1 555-123-4567`), as the digits WhatsApp's `wa_id` has.
pub(super) fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TemplateConfig {
    name: String,
    language: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Templates {
    reengagement: Option<TemplateConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WhatsAppConfig {
    enabled: Option<bool>,
    #[serde(rename = "name")]
    _name: Option<String>,
    provider: Option<String>,
    phone_number_id: Option<Value>,
    access_token: Option<openclaw_config::Secret>,
    app_secret: Option<openclaw_config::Secret>,
    verify_token: Option<openclaw_config::Secret>,
    webhook_path: Option<String>,
    api_base_url: Option<String>,
    api_version: Option<String>,
    templates: Option<Templates>,
    text_chunk_limit: Option<usize>,
    send_read_receipts: Option<bool>,
    reply_to_mode: Option<String>,
}

pub(super) fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let base: WhatsAppConfig = parse_block(env.section, "channels.whatsapp")?;
    if base.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let mut built: Vec<Arc<dyn Channel>> = Vec::new();
    for Account { id: account, block, path } in accounts(env.section, "channels.whatsapp", base.access_token.is_some())
    {
        let (config, mut policy_config): (WhatsAppConfig, _) = channel_block(&block, &path)?;
        if config.enabled == Some(false) {
            continue;
        }
        let error = |key: &str, message: &str| ChannelError::Config {
            path: format!("{path}.{key}"),
            message: message.to_owned(),
        };
        match config.provider.as_deref() {
            Some("cloud") => {}
            None | Some("web") | Some("baileys") => {
                return Err(error(
                    "provider",
                    "WhatsApp Web (linking a phone by QR code, the reference's way) is not implemented by OpenClaw-rs; \
                     the official Cloud API is (fix: provider: \"cloud\", with phoneNumberId, accessToken, appSecret \
                     and verifyToken from developers.facebook.com → your app → WhatsApp)",
                ));
            }
            Some(other) => {
                return Err(error("provider", &format!("{other:?} is not a WhatsApp provider (fix: cloud)")));
            }
        }
        let secret = |key: &str,
                      value: &Option<openclaw_config::Secret>,
                      variable: &str,
                      fix: &str,
                      check: fn(&str) -> Result<(), String>|
         -> Result<String, ChannelError> {
            let value = match value {
                Some(value) => Some(resolve_secret(value, &format!("{path}.{key}"), env.env)?),
                None if account == "default" => (env.env)(variable).filter(|value| !value.is_empty()),
                None => None,
            };
            let value = value.ok_or_else(|| error(key, &format!("not set (fix: {fix}, or set {variable})")))?;
            check(&value).map_err(|message| error(key, &message))?;
            Ok(value)
        };
        let phone_number_id = match &config.phone_number_id {
            Some(Value::String(id)) => id.trim().to_owned(),
            Some(Value::Number(id)) => id.to_string(),
            Some(_) => return Err(error("phoneNumberId", "must be the id's digits, as a string")),
            None => {
                return Err(error(
                    "phoneNumberId",
                    "not set (fix: openclaw channels add --channel whatsapp --phone-number-id <the Phone number ID \
                     under API Setup>)",
                ));
            }
        };
        check_phone_number_id(&phone_number_id).map_err(|message| error("phoneNumberId", &message))?;
        let token = secret(
            "accessToken",
            &config.access_token,
            "WHATSAPP_ACCESS_TOKEN",
            "openclaw channels login whatsapp",
            check_token,
        )?;
        let app_secret = secret(
            "appSecret",
            &config.app_secret,
            "WHATSAPP_APP_SECRET",
            "channels add --channel whatsapp --app-secret … from App settings → Basic; every delivery is checked \
             against it",
            check_app_secret,
        )?;
        let verify_token = secret(
            "verifyToken",
            &config.verify_token,
            "WHATSAPP_VERIFY_TOKEN",
            "channels add --channel whatsapp --verify-token <a string you also enter in the app's webhook settings>",
            check_verify_token,
        )?;
        if policy_config.groups.is_some() || policy_config.group_policy.is_some() {
            return Err(error(
                "groups",
                "the Cloud API delivers one-to-one chats only (fix: remove groups and groupPolicy)",
            ));
        }
        // `allowFrom` in E.164 as the reference writes it; WhatsApp's `wa_id` is the digits.
        if let Some(list) = policy_config.allow_from.as_mut() {
            for entry in list.iter_mut() {
                let text = match entry {
                    Value::String(text) if text.trim() == "*" => continue,
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    _ => continue,
                };
                *entry = Value::String(digits(&text));
            }
        }
        let policy = Policy::compile(&policy_config, "whatsapp", &path, DmPolicy::Pairing, &env.owners)?;
        let reply_to = choice(
            config.reply_to_mode.as_deref(),
            &path,
            "replyToMode",
            ReplyTo::Off,
            &[("off", ReplyTo::Off), ("first", ReplyTo::First), ("all", ReplyTo::All)],
        )?;
        let api_base = config.api_base_url.clone().unwrap_or_else(|| DEFAULT_API.to_owned());
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(error("apiBaseUrl", "not an http(s) URL (fix: https://graph.facebook.com, or your proxy)"));
        }
        let version = config.api_version.clone().unwrap_or_else(|| DEFAULT_VERSION.to_owned());
        if !(version.starts_with('v') && version[1..].split('.').all(|part| part.parse::<u32>().is_ok())) {
            return Err(error("apiVersion", &format!("{version:?} is not a Graph API version (fix: such as v21.0)")));
        }
        let default_path = if account == "default" {
            "/channels/whatsapp/webhook".to_owned()
        } else {
            format!("/channels/whatsapp/{account}/webhook")
        };
        let path_key = config.webhook_path.clone().unwrap_or(default_path);
        if !path_key.starts_with('/') || path_key.contains(char::is_whitespace) {
            return Err(error("webhookPath", "must be a path such as /channels/whatsapp/webhook"));
        }
        let reengagement = match config.templates.and_then(|templates| templates.reengagement) {
            Some(template) if template.name.trim().is_empty() => {
                return Err(error("templates.reengagement.name", "empty (fix: an approved template's name)"));
            }
            Some(template) => Some(Template {
                name: template.name,
                language: template.language.unwrap_or_else(|| "en_US".to_owned()),
            }),
            None => None,
        };
        built.push(Arc::new(WhatsApp {
            account,
            http: env.http.clone(),
            base: format!("{}/{version}/{phone_number_id}", api_base.trim_end_matches('/')),
            phone_number_id,
            token,
            app_secret,
            verify_token,
            path: path_key,
            policy,
            chunk_limit: config.text_chunk_limit.unwrap_or(DEFAULT_CHUNK).clamp(64, MAX_TEXT),
            reply_to,
            read_receipts: config.send_read_receipts.unwrap_or(true),
            reengagement,
            inbox: OnceLock::new(),
            sent_keys: tokio::sync::Mutex::new(()),
            refusals: crate::refusals::Refusals::default(),
        }));
    }
    Ok(built)
}
