//! `openclaw channels add|list|status|remove|login|dead-letters` and `openclaw pairing list|approve`.
//!
//! They work on the configuration and the store directly, so they need no running gateway; a running gateway
//! sees config changes through its reload and picks up queued replies (approval notices, retried dead letters)
//! within a second.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use openclaw_store::{NewOutbound, Store};
use serde_json::{Value, json};

use super::Ctx;

#[derive(Debug, Args)]
pub struct ChannelTarget {
    /// The channel (telegram, webhook, matrix, discord, slack, whatsapp).
    #[arg(long)]
    channel: String,
    /// The account (default: the channel's top-level block).
    #[arg(long)]
    account: Option<String>,
}

/// What `channels add` can write. Each channel takes only its own (`ChannelKind::flags`); secrets given here
/// land in shell history, so `login` (stdin) or a `${VAR}` reference is the better way for them.
#[derive(Debug, Args)]
pub struct AddFlags {
    /// The bot token (Telegram: from @BotFather; Discord: the bot's token; Slack: xoxb-…; Matrix: an access token).
    #[arg(long)]
    token: Option<String>,
    /// Slack: the bot token (xoxb-…), as `--token`.
    #[arg(long)]
    bot_token: Option<String>,
    /// Slack: the app-level token (xapp-…) Socket Mode connects with.
    #[arg(long)]
    app_token: Option<String>,
    /// Slack: socket (default) or http (the Events API, with --signing-secret).
    #[arg(long)]
    mode: Option<String>,
    /// Slack (HTTP mode): the app's signing secret.
    #[arg(long)]
    signing_secret: Option<String>,
    /// Slack (HTTP mode), WhatsApp: where the platform POSTs events (default /slack/events,
    /// /channels/whatsapp/webhook).
    #[arg(long)]
    webhook_path: Option<String>,
    /// Matrix: the homeserver's URL (https://matrix.example.org).
    #[arg(long)]
    homeserver: Option<String>,
    /// Matrix: the bot's user id (@bot:example.org), for a password login.
    #[arg(long)]
    user_id: Option<String>,
    /// Matrix, WhatsApp: the access token, as `--token`.
    #[arg(long)]
    access_token: Option<String>,
    /// Matrix: the bot's password (the gateway logs in with --user-id and keeps the token it gets).
    #[arg(long)]
    password: Option<String>,
    /// Matrix: the device name the login shows (default OpenClaw-rs).
    #[arg(long)]
    device_name: Option<String>,
    /// WhatsApp: the Phone number ID (API Setup), not the number itself.
    #[arg(long)]
    phone_number_id: Option<String>,
    /// WhatsApp: the app secret deliveries are signed with (App settings → Basic).
    #[arg(long)]
    app_secret: Option<String>,
    /// WhatsApp: the string Meta's subscription check must present (also entered in the app's webhook settings).
    #[arg(long)]
    verify_token: Option<String>,
    /// Webhook: the shared secret requests are signed with (16 characters or more).
    #[arg(long)]
    secret: Option<String>,
    /// Webhook: where replies are POSTed.
    #[arg(long)]
    url: Option<String>,
}

impl AddFlags {
    /// The flags given, by name without dashes, `--token` first.
    fn given(self) -> Vec<(&'static str, String)> {
        [
            ("token", self.token),
            ("bot-token", self.bot_token),
            ("app-token", self.app_token),
            ("mode", self.mode),
            ("signing-secret", self.signing_secret),
            ("webhook-path", self.webhook_path),
            ("homeserver", self.homeserver),
            ("user-id", self.user_id),
            ("access-token", self.access_token),
            ("password", self.password),
            ("device-name", self.device_name),
            ("phone-number-id", self.phone_number_id),
            ("app-secret", self.app_secret),
            ("verify-token", self.verify_token),
            ("secret", self.secret),
            ("url", self.url),
        ]
        .into_iter()
        .filter_map(|(flag, value)| value.map(|value| (flag, value.trim().to_owned())))
        .collect()
    }
}

/// The config key each given flag writes for `kind`; a flag the channel does not take is refused with the ones
/// it does.
fn flag_keys(
    kind: &openclaw_channels::ChannelKind,
    given: Vec<(&'static str, String)>,
) -> anyhow::Result<Vec<(&'static str, &'static str, String)>> {
    let mut keys = Vec::new();
    for (flag, value) in given {
        if flag == "token" {
            let spec = kind
                .token
                .as_ref()
                .with_context(|| format!("{} takes no token (what it needs: {})", kind.name, kind.login))?;
            // A `${VAR}` reference is checked when the block is built below, with the variable's value.
            if !value.contains("${") {
                (spec.check)(&value).map_err(|problem| anyhow::anyhow!("--token: {problem}"))?;
            }
            keys.push((flag, spec.key, value));
            continue;
        }
        let Some(known) = kind.flags.iter().find(|known| known.flag == flag) else {
            let mut takes: Vec<String> = kind.flags.iter().map(|known| format!("--{}", known.flag)).collect();
            if kind.token.is_some() {
                takes.insert(0, "--token".to_owned());
            }
            let takes = if takes.is_empty() { "none".to_owned() } else { takes.join(", ") };
            bail!("{} takes no --{flag} (its flags: {takes})", kind.name);
        };
        if value.is_empty() {
            bail!("--{flag} is empty (fix: give it a value, or leave the flag out)");
        }
        if let Some(check) = known.check
            && !value.contains("${")
        {
            check(&value).map_err(|problem| anyhow::anyhow!("--{flag}: {problem}"))?;
        }
        if keys.iter().any(|(_, key, _)| *key == known.key) {
            bail!("--{flag} sets {} a second time (fix: give it once)", known.key);
        }
        keys.push((flag, known.key, value));
    }
    Ok(keys)
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add or update a channel: `--token` for a bot channel's token, and each channel's own flags.
    Add {
        #[command(flatten)]
        target: ChannelTarget,
        #[command(flatten)]
        flags: Box<AddFlags>,
    },
    /// The configured channels and what this build implements.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Each account's state and the queues; `--probe` checks every account against its platform.
    Status {
        /// Check each channel's connection now (a live call to its platform).
        #[arg(long)]
        probe: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a channel (or one account) from the configuration.
    Remove {
        #[command(flatten)]
        target: ChannelTarget,
    },
    /// Give a channel its credentials (bot channels read a token from stdin); others say what they need.
    Login {
        /// The channel (telegram, webhook, matrix, discord, slack, whatsapp).
        channel: String,
        /// The account (default: the channel's top-level block).
        #[arg(long)]
        account: Option<String>,
    },
    /// Replies that could not be delivered; `--retry ID` queues one again.
    DeadLetters {
        /// Send the dead letter with this id again.
        #[arg(long)]
        retry: Option<i64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// Pairing requests waiting for approval.
    List {
        /// Only this channel.
        channel: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve a sender by the code the bot sent them.
    Approve {
        /// The channel the request came on (telegram).
        channel: String,
        /// The pairing code the bot sent the sender.
        code: String,
        /// Tell the sender they are approved.
        #[arg(long)]
        notify: bool,
    },
}

fn block_path(target_channel: &str, account: Option<&str>) -> String {
    match account {
        Some(account) if account != "default" => format!("channels.{target_channel}.accounts.{account}"),
        _ => format!("channels.{target_channel}"),
    }
}

fn known(channel: &str) -> anyhow::Result<&'static openclaw_channels::ChannelKind> {
    openclaw_channels::kind(channel).with_context(|| {
        let names: Vec<&str> = openclaw_channels::KINDS.iter().map(|kind| kind.name).collect();
        format!("unknown channel {channel:?} (fix: one of {})", names.join(", "))
    })
}

/// Writes `key = value` pairs into a channel block of the config file in one write, after checking the result
/// loads; returns the configuration as written.
fn save_keys(
    ctx: &Ctx,
    channel: &str,
    account: Option<&str>,
    pairs: &[(&str, Value)],
) -> anyhow::Result<openclaw_config::Loaded> {
    save_keys_checked(ctx, channel, account, pairs, Ok)
}

/// [`save_keys`] with one more check of the configuration as it would be: `check`'s `Err` writes nothing.
fn save_keys_checked<T>(
    ctx: &Ctx,
    channel: &str,
    account: Option<&str>,
    pairs: &[(&str, Value)],
    check: impl FnOnce(openclaw_config::Loaded) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let paths = ctx.paths()?;
    let mut raw = ctx.load()?.raw;
    for (key, value) in pairs {
        let path = format!("{}.{key}", block_path(channel, account));
        openclaw_config::set_path(&mut raw, &path, value.clone()).map_err(anyhow::Error::msg)?;
    }
    let text = openclaw_config::render_raw(&raw);
    let loaded = openclaw_config::load_str(&text, &paths, &super::env)
        .context("the change would make the configuration invalid")?;
    let checked = check(loaded)?;
    openclaw_config::save_raw(&paths, &raw)?;
    Ok(checked)
}

pub async fn run(ctx: &Ctx, command: ChannelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChannelsCommand::Add { target, flags } => {
            let kind = known(&target.channel)?;
            let keys = flag_keys(kind, flags.given())?;
            let mut pairs = vec![("enabled", json!(true))];
            pairs.extend(keys.iter().map(|(_, key, value)| (*key, json!(value))));
            let block = block_path(kind.name, target.account.as_deref());
            let problems: Vec<String> =
                save_keys_checked(ctx, kind.name, target.account.as_deref(), &pairs, |loaded| {
                    let problems: Vec<String> =
                        openclaw_channels::channel_issues(&loaded, &super::env, openclaw_models::http_client())
                            .into_iter()
                            .filter(|problem| problem.starts_with(&format!("channels.{}", kind.name)))
                            .collect();
                    // A problem with a value given here refuses the change; one with a key not given yet is a hint.
                    for (flag, key, _) in &keys {
                        if let Some(problem) =
                            problems.iter().find(|problem| problem.starts_with(&format!("{block}.{key}")))
                        {
                            bail!("--{flag}: {problem}");
                        }
                    }
                    Ok(problems)
                })?;
            println!("Added {} ({}).", block_path(kind.name, target.account.as_deref()), kind.summary);
            for problem in &problems {
                println!("  still needed: {problem}");
            }
            println!("A running gateway restarts itself to apply it (queued messages and replies are kept).");
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::Remove { target } => {
            known(&target.channel)?;
            let paths = ctx.paths()?;
            let loaded = ctx.load()?;
            let mut raw = loaded.raw.clone();
            let removed = match target.account.as_deref().filter(|a| *a != "default") {
                Some(account) => raw
                    .pointer_mut(&format!("/channels/{}/accounts", target.channel))
                    .and_then(Value::as_object_mut)
                    .and_then(|accounts| accounts.remove(account)),
                None => raw
                    .get_mut("channels")
                    .and_then(Value::as_object_mut)
                    .and_then(|channels| channels.remove(&target.channel)),
            };
            if removed.is_none() {
                bail!("{} is not configured", block_path(&target.channel, target.account.as_deref()));
            }
            openclaw_config::save_raw(&paths, &raw)?;
            println!("Removed {}.", block_path(&target.channel, target.account.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::Login { channel, account } => {
            let kind = known(&channel)?;
            let Some(spec) = &kind.token else {
                println!("{}: {}", kind.name, kind.login);
                return Ok(ExitCode::SUCCESS);
            };
            eprintln!("Paste the {} token ({}), then Enter:", kind.name, kind.login);
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the token from stdin")?;
            let token = line.trim();
            if token.is_empty() {
                bail!(
                    "no token given (fix: paste the token, or pipe it: echo $TOKEN | openclaw channels login {channel})"
                );
            }
            (spec.check)(token).map_err(anyhow::Error::msg)?;
            save_keys(ctx, kind.name, account.as_deref(), &[(spec.key, json!(token))])?;
            println!("Saved the {} token for {}.", kind.name, block_path(kind.name, account.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::List { json } => {
            let loaded = ctx.load()?;
            let rows: Vec<Value> = openclaw_channels::KINDS
                .iter()
                .map(|kind| {
                    let section = loaded.config.channels.get(kind.name);
                    let enabled = section.is_some_and(|s| s.get("enabled").and_then(Value::as_bool) != Some(false));
                    json!({"channel": kind.name, "configured": section.is_some(), "enabled": enabled,
                           "summary": kind.summary})
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for row in &rows {
                    let state = match (row["configured"].as_bool(), row["enabled"].as_bool()) {
                        (Some(true), Some(true)) => "configured",
                        (Some(true), _) => "disabled",
                        _ => "not configured",
                    };
                    println!(
                        "{:<10} {:<15} {}",
                        row["channel"].as_str().unwrap_or_default(),
                        state,
                        row["summary"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::Status { probe, json } => {
            let loaded = ctx.load()?;
            let paths = ctx.paths()?;
            let store = ctx.store(&paths).await?;
            let (channels, errors) = openclaw_channels::build_all(&loaded, &super::env, openclaw_models::http_client());
            let status = openclaw_channels::status(&channels, &errors, store.as_ref(), probe).await;
            let accounts = status["accounts"].as_array().cloned().unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                if accounts.is_empty() && errors.is_empty() {
                    println!("No channels configured (add one: openclaw channels add --channel telegram --token …).");
                }
                for account in &accounts {
                    let probe = match account.get("probe") {
                        Some(p) if p["ok"] == json!(true) => {
                            format!(" — ok: {}", p["detail"].as_str().unwrap_or_default())
                        }
                        Some(p) => format!(" — FAILED: {}", p["detail"].as_str().unwrap_or_default()),
                        None => String::new(),
                    };
                    println!(
                        "{}/{}: {}{probe}",
                        account["channel"].as_str().unwrap_or_default(),
                        account["accountId"].as_str().unwrap_or_default(),
                        account["mode"].as_str().unwrap_or_default()
                    );
                }
                for error in &errors {
                    println!("error: {error}");
                }
                let queues = &status["queues"];
                println!(
                    "inbox pending: {}; replies pending: {}; dead letters: {}; pairing requests: {}",
                    queues["inboxPending"], queues["outboxPending"], queues["deadLetters"], queues["pairingRequests"]
                );
            }
            let failed = accounts.iter().any(|a| a.get("probe").is_some_and(|p| p["ok"] != json!(true)));
            Ok(if failed || !errors.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        ChannelsCommand::DeadLetters { retry, json } => {
            let paths = ctx.paths()?;
            let store = ctx.store(&paths).await?;
            if let Some(id) = retry {
                if !store.requeue_outbound(id, openclaw_protocol::now_ms()).await? {
                    bail!("no dead letter {id} (fix: openclaw channels dead-letters lists them)");
                }
                println!("Dead letter {id} is queued again; a running gateway delivers it.");
                return Ok(ExitCode::SUCCESS);
            }
            let dead = store.dead_letters(500).await?;
            if json {
                let rows: Vec<Value> = dead
                    .iter()
                    .map(|d| {
                        json!({"id": d.id, "channel": d.channel, "account": d.account, "conversation": d.conversation,
                                    "attempts": d.attempts, "chunksSent": d.chunks_sent, "error": d.last_error,
                                    "text": d.text, "createdAt": d.created_at})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if dead.is_empty() {
                println!("No dead letters.");
            } else {
                for d in &dead {
                    let preview: String = d.text.chars().take(60).collect();
                    println!(
                        "{}\t{}\t{} attempts\t{}\t{preview:?}",
                        d.id,
                        d.conversation,
                        d.attempts,
                        d.last_error.as_deref().unwrap_or("?")
                    );
                }
                println!("Retry one with: openclaw channels dead-letters --retry <id>");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn pairing(ctx: &Ctx, command: PairingCommand) -> anyhow::Result<ExitCode> {
    let paths = ctx.paths()?;
    let store = ctx.store(&paths).await?;
    let now = openclaw_protocol::now_ms();
    match command {
        PairingCommand::List { channel, json } => {
            let requests = store.pairing_requests(channel.as_deref(), now).await?;
            if json {
                let rows: Vec<Value> = requests
                    .iter()
                    .map(|r| json!({"channel": r.channel, "accountId": r.account, "senderId": r.sender_id,
                                    "code": r.code, "name": r.display, "createdAt": r.created_at, "expiresAt": r.expires_at}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if requests.is_empty() {
                println!("No pairing requests waiting.");
            } else {
                for r in &requests {
                    let minutes = (r.expires_at - now) / 60_000;
                    println!(
                        "{}\t{}\t{}\t{}\t{}\texpires in {minutes} min",
                        r.channel,
                        r.account,
                        r.code,
                        r.sender_id,
                        r.display.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PairingCommand::Approve { channel, code, notify } => {
            let code = code.trim().to_uppercase();
            let Some(request) = store.approve_pairing(&channel, &code, now).await? else {
                bail!(
                    "no pairing request {code} on {channel} (it may have expired after an hour; fix: openclaw pairing list {channel})"
                );
            };
            store
                .append_audit(openclaw_store::AuditEvent {
                    actor: "cli".to_owned(),
                    action: "channel.pairing.approved".to_owned(),
                    agent_id: None,
                    session_key: None,
                    run_id: None,
                    outcome: "ok".to_owned(),
                    detail: json!({"channel": channel, "account": request.account, "sender": request.sender_id}),
                })
                .await?;
            if notify {
                // Back the way the request came.
                store
                    .queue_outbound(NewOutbound {
                        channel: channel.clone(),
                        account: request.account.clone(),
                        conversation: request.conversation.clone(),
                        route: request.route.clone(),
                        text: "You are approved: send your message again.".to_owned(),
                    })
                    .await?;
            }
            println!("Approved {} sender {} on {channel}.", request.account, request.sender_id);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Args;

    use super::AddFlags;

    /// Every flag a channel declares is one `channels add` parses, and every parsed flag belongs to a channel.
    #[test]
    fn add_flags_and_channel_flags_agree() {
        let command = AddFlags::augment_args(clap::Command::new("add"));
        let parsed: Vec<String> = command.get_arguments().filter_map(|arg| arg.get_long().map(str::to_owned)).collect();
        let declared: Vec<&str> =
            openclaw_channels::KINDS.iter().flat_map(|kind| kind.flags.iter().map(|flag| flag.flag)).collect();
        for flag in &declared {
            assert!(parsed.iter().any(|long| long == flag), "--{flag} is declared by a channel but not parsed");
        }
        // With a platform left out of the build, its flags are parsed and refused as belonging to no channel.
        #[cfg(all(feature = "webhook", feature = "matrix", feature = "slack", feature = "whatsapp"))]
        for long in &parsed {
            assert!(long == "token" || declared.contains(&long.as_str()), "--{long} is parsed but no channel takes it");
        }
    }
}
