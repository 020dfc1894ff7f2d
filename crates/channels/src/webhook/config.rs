//! `channels.webhook`: its keys and their checks, and the one account they build.

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WebhookConfig {
    enabled: Option<bool>,
    secret: Option<openclaw_config::Secret>,
    url: Option<String>,
    path: Option<String>,
    replay_window_seconds: Option<u64>,
    text_chunk_limit: Option<usize>,
}

pub(super) fn check_secret(secret: &str) -> Result<(), String> {
    if secret.len() >= 16 {
        Ok(())
    } else {
        Err("too short to resist guessing (fix: at least 16 characters)".to_owned())
    }
}

pub(super) fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        _ => Err(format!("{url:?} is not an http(s) URL (fix: https://example.com/openclaw-replies)")),
    }
}

pub(super) fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let path = "channels.webhook";
    let (config, policy_config): (WebhookConfig, _) = channel_block(env.section, path)?;
    if config.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let secret = config.secret.as_ref().ok_or_else(|| ChannelError::Config {
        path: format!("{path}.secret"),
        message:
            "no shared secret (fix: set channels.webhook.secret to a long random string, or \"${WEBHOOK_SECRET}\")"
                .to_owned(),
    })?;
    let secret = resolve_secret(secret, &format!("{path}.secret"), env.env)?;
    check_secret(&secret).map_err(|message| ChannelError::Config { path: format!("{path}.secret"), message })?;
    if let Some(url) = &config.url {
        check_url(url).map_err(|message| ChannelError::Config { path: format!("{path}.url"), message })?;
    }
    // A machine channel: open unless the config restricts it.
    let policy = if !policy_config.is_set() {
        Policy::open()
    } else {
        Policy::compile(&policy_config, "webhook", path, DmPolicy::Allowlist, &env.owners)?
    };
    Ok(vec![Arc::new(WebhookChannel {
        secret,
        url: config.url.clone(),
        path: config.path.clone().unwrap_or_else(|| DEFAULT_PATH.to_owned()),
        window: Duration::from_secs(config.replay_window_seconds.unwrap_or(300).clamp(5, 3600)),
        chunk_limit: config.text_chunk_limit.unwrap_or(64 * 1024).max(64),
        policy,
        http: env.http.clone(),
        seen: Mutex::default(),
        refusals: Default::default(),
    })])
}
