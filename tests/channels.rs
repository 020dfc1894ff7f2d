//! Channels end to end, through the `openclaw` binary: Telegram against the real Bot API emulator from npm
//! (`telegram-test-api`, started here on a free port), the generic webhook channel against a recording receiver, and
//! a model server that echoes what it is asked.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Env, GatewayProcess, configure_channels, echo_model, eventually, faulty_model, free_port, last_user_text,
    telegram_emulator,
};
use openclaw_store::Store;
use openclaw_testkit::proxy::{self, FaultProxy};
use openclaw_testkit::telegram::TelegramEmulator;
use openclaw_testkit::{Recorded, Reply, ScriptedServer, compliance, openai};
use serde_json::{Value, json};

const TOKEN: &str = "123:ABC";
const SECRET: &str = "a-webhook-secret-of-some-length";

fn private(id: i64) -> Value {
    json!({"id": id, "type": "private", "first_name": format!("User{id}")})
}

fn user(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("User{id}"), "username": format!("user{id}")})
}

async fn texts_in(emulator: &TelegramEmulator, chat: &str) -> Vec<String> {
    emulator.bot_messages(TOKEN).await.into_iter().filter(|m| m.0 == chat).map(|m| m.1).collect()
}

/// A signed webhook call; returns the status and body.
async fn post_webhook(port: u16, body: &Value, timestamp: i64, secret: &str) -> (u16, Value) {
    let text = body.to_string();
    let signature = openclaw_channels::webhook::sign(secret, timestamp, text.as_bytes());
    send_raw(port, &text, &timestamp.to_string(), &signature).await
}

async fn send_raw(port: u16, body: &str, timestamp: &str, signature: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/channels/webhook"))
        .header("content-type", "application/json")
        .header("x-openclaw-timestamp", timestamp)
        .header("x-openclaw-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .expect("webhook call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn now_s() -> i64 {
    openclaw_protocol::now_ms() / 1000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_replies_chunks_pairs_and_respects_groups() {
    let Some(emulator) = telegram_emulator() else { return };
    let model = echo_model().await;
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"telegram": {"botToken": TOKEN, "apiRoot": emulator.api_root(), "allowFrom": [6, 7],
                            "textChunkLimit": 300, "groups": {"-100": {}}}}),
    )
    .await;
    let gateway = GatewayProcess::start(&env, free_port()).await;

    // An allowed user: the message reaches the agent and the answer arrives in the chat.
    emulator.user_sends(TOKEN, private(6), user(6), "hello there", json!({})).await;
    eventually(Duration::from_secs(20), "the reply in chat 6", || async {
        texts_in(&emulator, "6").await == vec!["echo: hello there".to_owned()]
    })
    .await;
    let state = emulator.state().await;
    assert!(state["typing"]["6"].as_u64().unwrap_or(0) >= 1, "typing was shown: {state}");

    // A long answer is cut at the chunk limit, on sentence boundaries, nothing lost.
    emulator.user_sends(TOKEN, private(6), user(6), "a long answer please", json!({})).await;
    eventually(Duration::from_secs(20), "the chunked reply", || async { texts_in(&emulator, "6").await.len() >= 3 })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let chunks: Vec<String> = texts_in(&emulator, "6").await.into_iter().skip(1).collect();
    assert!(chunks.len() >= 3, "{chunks:?}");
    for chunk in &chunks {
        assert!(chunk.chars().count() <= 300, "a chunk over the limit: {}", chunk.chars().count());
        assert!(chunk.ends_with('.'), "cut inside a sentence: {chunk:?}");
    }
    let sentences: usize = chunks.iter().map(|c| c.matches("must be cut.").count()).sum();
    assert_eq!(sentences, 18, "every sentence arrives once");

    // A group message without a mention is ignored; with one it is answered.
    let group = json!({"id": -100, "type": "group", "title": "Team"});
    let requests_before = model.requests().len();
    emulator.user_sends(TOKEN, group.clone(), user(7), "hello everyone", json!({})).await;
    emulator.user_sends(TOKEN, group.clone(), user(7), "@TestNameBot what is up", json!({})).await;
    eventually(Duration::from_secs(20), "the group reply", || async { !texts_in(&emulator, "-100").await.is_empty() })
        .await;
    assert_eq!(texts_in(&emulator, "-100").await, vec!["echo: User7: @TestNameBot what is up".to_owned()]);
    assert_eq!(model.requests().len(), requests_before + 1, "the unmentioned message reached no model");

    // `/stop` stops the turn running in its chat (it does not wait behind it) and says so; nothing of the
    // stopped answer is sent.
    let before = texts_in(&emulator, "6").await.len();
    let started = Instant::now();
    emulator.user_sends(TOKEN, private(6), user(6), "a slow answer please", json!({})).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    emulator.user_sends(TOKEN, private(6), user(6), "/stop", json!({})).await;
    eventually(Duration::from_secs(20), "the stop confirmation", || async {
        texts_in(&emulator, "6").await.len() > before
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped early, not after the 6 s answer: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(texts_in(&emulator, "6").await[before..].to_vec(), vec!["Stopped.".to_owned()]);

    // An unknown sender gets a pairing code and no agent turn until approved.
    let requests_before = model.requests().len();
    emulator.user_sends(TOKEN, private(5), user(5), "let me in", json!({})).await;
    eventually(Duration::from_secs(20), "the pairing code", || async { !texts_in(&emulator, "5").await.is_empty() })
        .await;
    let notice = texts_in(&emulator, "5").await.remove(0);
    assert!(notice.contains("Pairing code:") && notice.contains("openclaw pairing approve telegram"), "{notice}");
    let listed = env.run(&["pairing", "list", "telegram", "--json"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("pairing list json");
    let code = listed[0]["code"].as_str().expect("a waiting request").to_owned();
    assert!(notice.contains(&code), "{notice} should carry {code}");
    assert_eq!(listed[0]["senderId"], "5");
    emulator.user_sends(TOKEN, private(5), user(5), "still waiting", json!({})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(model.requests().len(), requests_before, "no agent turn before approval");
    let approved = env.run(&["pairing", "approve", "telegram", &code.to_lowercase(), "--notify"]).await;
    assert!(approved.status.success(), "{}", common::text(&approved.stderr));
    let wrong = env.run(&["pairing", "approve", "telegram", "ZZZZZZZZ"]).await;
    assert!(!wrong.status.success());
    assert!(common::text(&wrong.stderr).contains("no pairing request ZZZZZZZZ"), "{}", common::text(&wrong.stderr));
    eventually(Duration::from_secs(20), "the approval notice", || async {
        texts_in(&emulator, "5").await.iter().any(|t| t.contains("You are approved"))
    })
    .await;
    emulator.user_sends(TOKEN, private(5), user(5), "now then", json!({})).await;
    eventually(Duration::from_secs(20), "the approved sender's reply", || async {
        texts_in(&emulator, "5").await.iter().any(|t| t == "echo: now then")
    })
    .await;

    // A 429 delays only its own conversation: chat 7 waits out retry_after, chat 6 is answered meanwhile.
    emulator.rate_limit(7, 1, 3).await;
    let sent = Instant::now();
    emulator.user_sends(TOKEN, private(7), user(7), "slow lane", json!({})).await;
    emulator.user_sends(TOKEN, private(6), user(6), "fast lane", json!({})).await;
    eventually(Duration::from_secs(20), "the unthrottled reply", || async {
        texts_in(&emulator, "6").await.iter().any(|t| t == "echo: fast lane")
    })
    .await;
    let fast = sent.elapsed();
    assert!(!texts_in(&emulator, "7").await.iter().any(|t| t == "echo: slow lane"), "chat 7 must still be waiting");
    eventually(Duration::from_secs(20), "the throttled reply", || async {
        texts_in(&emulator, "7").await.iter().any(|t| t == "echo: slow lane")
    })
    .await;
    let slow = sent.elapsed();
    assert!(slow >= Duration::from_millis(2900), "retry_after honoured: {slow:?}");
    assert!(fast < Duration::from_millis(2900), "the other chat was not held up: {fast:?}");

    // channels status sees the running account through the gateway's store and config.
    let status = env.run(&["channels", "status", "--probe", "--json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(status["accounts"][0]["channel"], "telegram");
    assert_eq!(status["accounts"][0]["probe"]["ok"], true, "{status}");
    // And over the gateway, in the reference's shape.
    let url = format!("ws://127.0.0.1:{}", gateway.port);
    let out = env
        .run(&[
            "gateway",
            "call",
            "channels.status",
            "--url",
            &url,
            "--token",
            &env.gateway_token(),
            "--params",
            "{probe: true}",
            "--json",
        ])
        .await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let live: Value = serde_json::from_slice(&out.stdout).expect("channels.status json");
    assert_eq!(live["channelOrder"], json!(["telegram"]));
    assert_eq!(live["channels"]["telegram"]["running"], true, "{live}");
    assert_eq!(live["channelAccounts"]["telegram"][0]["mode"], "polling");
    assert_eq!(live["channelAccounts"]["telegram"][0]["probe"]["detail"], "bot @TestNameBot (id 666)");
    assert_eq!(live["queues"]["deadLetters"], 0);
    drop(gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_webhook_mode_checks_the_secret_token() {
    let Some(emulator) = telegram_emulator() else { return };
    let model = echo_model().await;
    let env = Env::new();
    let port = free_port();
    let secret = "tg-webhook-secret-123456";
    configure_channels(
        &env,
        &model,
        json!({"telegram": {"botToken": TOKEN, "apiRoot": emulator.api_root(), "dmPolicy": "open", "allowFrom": ["*"],
                            "webhookUrl": format!("http://127.0.0.1:{port}/tg-hook"), "webhookSecret": secret,
                            "webhookPath": "/tg-hook"}}),
    )
    .await;
    let gateway = GatewayProcess::start(&env, port).await;
    let update = json!({"update_id": 500, "message": {"message_id": 9, "date": now_s(), "text": "via webhook",
                        "chat": {"id": 8, "type": "private"}, "from": {"id": 8, "is_bot": false, "first_name": "W"}}});
    let client = reqwest::Client::new();
    let hook = format!("http://127.0.0.1:{port}/tg-hook");
    let forged = client.post(&hook).json(&update).send().await.expect("post");
    assert_eq!(forged.status().as_u16(), 401, "no secret token");
    let wrong = client.post(&hook).header("x-telegram-bot-api-secret-token", "nope").json(&update).send().await;
    assert_eq!(wrong.expect("post").status().as_u16(), 401, "wrong secret token");
    for _ in 0..2 {
        // Telegram redelivers when unsure; the update id makes the second one a no-op.
        let ok = client.post(&hook).header("x-telegram-bot-api-secret-token", secret).json(&update).send().await;
        assert_eq!(ok.expect("post").status().as_u16(), 200);
    }
    eventually(Duration::from_secs(20), "the webhook-mode reply", || async {
        texts_in(&emulator, "8").await == vec!["echo: via webhook".to_owned()]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(texts_in(&emulator, "8").await.len(), 1, "the redelivered update was answered once");
    drop(gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_both_ways_and_forgeries_are_refused() {
    let model = echo_model().await;
    let receiver = ScriptedServer::start().await;
    // The receiver is overloaded once, then accepts.
    receiver.push(Reply::json(503, json!({"error": "busy"})));
    receiver.set_fallback(Reply::json(200, json!({"ok": true})));
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"webhook": {"secret": SECRET, "url": format!("{}/replies", receiver.url())}}),
    )
    .await;
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;

    let body = json!({"id": "m-1", "conversation": "c-1", "text": "hi from a system", "sender": {"id": "u-1"}});
    let (status, reply) = post_webhook(port, &body, now_s(), SECRET).await;
    assert_eq!((status, reply["ok"].clone()), (200, json!(true)), "{reply}");

    // Forged: signed with another secret. Replayed: the very same signed request again. Stale: an old timestamp.
    let (status, reply) = post_webhook(
        port,
        &json!({"id": "m-2", "conversation": "c-1", "text": "x"}),
        now_s(),
        "wrong-secret-wrong-secret",
    )
    .await;
    assert_eq!((status, reply["error"].as_str()), (401, Some("bad signature")));
    let replay_body = json!({"id": "m-3", "conversation": "c-1", "text": "once"}).to_string();
    let timestamp = now_s();
    let signature = openclaw_channels::webhook::sign(SECRET, timestamp, replay_body.as_bytes());
    assert_eq!(send_raw(port, &replay_body, &timestamp.to_string(), &signature).await.0, 200);
    let (status, reply) = send_raw(port, &replay_body, &timestamp.to_string(), &signature).await;
    assert_eq!((status, reply["error"].as_str()), (401, Some("replayed signature")));
    let (status, reply) =
        post_webhook(port, &json!({"id": "m-4", "conversation": "c-1", "text": "old"}), now_s() - 3600, SECRET).await;
    assert_eq!((status, reply["error"].as_str()), (401, Some("timestamp outside the replay window")));
    let (status, _) = send_raw(port, "{}", "not-a-time", "sha256=00").await;
    assert_eq!(status, 401);
    // A sender's honest retry (new timestamp, same id) is acknowledged but not processed twice.
    let (status, reply) = post_webhook(port, &body, now_s() + 1, SECRET).await;
    assert_eq!((status, reply["duplicate"].clone()), (200, json!(true)), "{reply}");
    // Bad input is a clear 400.
    let (status, reply) = post_webhook(port, &json!({"conversation": "c-1", "text": "no id"}), now_s(), SECRET).await;
    assert_eq!(status, 400, "{reply}");

    // Both accepted messages are answered, in order, signed, with an idempotency key; the 503 was retried.
    eventually(Duration::from_secs(30), "two delivered replies", || async {
        receiver.requests().iter().filter(|r| r.path == "/replies").count() >= 3
    })
    .await;
    let deliveries: Vec<Recorded> = receiver.requests().into_iter().filter(|r| r.path == "/replies").collect();
    let mut delivered = Vec::new();
    for delivery in &deliveries {
        let timestamp: i64 = delivery.header("x-openclaw-timestamp").expect("timestamp").parse().expect("number");
        let expected = openclaw_channels::webhook::sign(SECRET, timestamp, &delivery.body);
        assert_eq!(delivery.header("x-openclaw-signature"), Some(expected.as_str()), "outbound is signed");
        let json = delivery.json();
        assert_eq!(delivery.header("idempotency-key"), json["id"].as_str());
        delivered.push((
            json["id"].as_str().unwrap_or_default().to_owned(),
            json["text"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(delivered[0], delivered[1], "the 503 was retried with the same delivery id");
    assert_eq!(delivered[1], ("m-1:0".to_owned(), "echo: hi from a system".to_owned()));
    assert_eq!(delivered[2], ("m-3:0".to_owned(), "echo: once".to_owned()));

    // The refusals are in the audit log.
    let store = env.store().await;
    let audit = store.audit_events(200).await.expect("audit");
    let refused: Vec<String> = audit
        .iter()
        .filter(|e| e.event.action == "channel.webhook.rejected")
        .map(|e| e.event.detail["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    for reason in ["bad signature", "replayed signature", "timestamp outside the replay window"] {
        assert!(refused.iter().any(|r| r == reason), "{reason} not recorded: {refused:?}");
    }

    // Finding 7 of the security review: every forged POST added an undeletable audit row, unthrottled. A flood
    // now adds no row in the same minute (one per source and reason), and the source is throttled (429) past 20.
    let rows_before = audit.len();
    let mut statuses = Vec::new();
    for i in 0..60 {
        let forged = json!({"id": format!("f-{i}"), "conversation": "c-1", "text": "x"});
        statuses.push(post_webhook(port, &forged, now_s(), "wrong-secret-wrong-secret").await.0);
    }
    assert!(statuses.iter().take(10).all(|s| *s == 401), "{statuses:?}");
    assert!(statuses.iter().skip(20).all(|s| *s == 429), "{statuses:?}");
    let audit = store.audit_events(500).await.expect("audit");
    let new_rejections = audit[rows_before..].iter().filter(|e| e.event.action == "channel.webhook.rejected").count();
    assert_eq!(new_rejections, 0, "the flood was counted, not written row by row");
    drop(gateway);
}

/// A provider fault reaches a channel's user as a reply that says what went wrong — the provider's error after the
/// retries, or the turn's time limit for a hung provider — and a fault a retry can save is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_reach_a_channel_user_as_a_reply() {
    let model = ScriptedServer::start().await;
    model.set_responder(faulty_model());
    let receiver = ScriptedServer::start().await;
    receiver.set_fallback(Reply::json(200, json!({"ok": true})));
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"webhook": {"secret": SECRET, "url": format!("{}/replies", receiver.url())}}),
    )
    .await;
    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
    config["agents"]["defaults"]["timeoutSeconds"] = json!(6);
    std::fs::write(&path, config.to_string()).expect("write config");
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;

    // One conversation each, so the three run at once.
    let cases = [
        ("f-1", "fault=500x9", "upstream exploded"),
        ("f-2", "fault=hangx9", "took too long"),
        ("f-3", "fault=429x1", "answer: "),
    ];
    for (id, fault, _) in &cases {
        let body = json!({"id": id, "conversation": format!("c-{id}"), "text": format!("question {fault}")});
        let (status, reply) = post_webhook(port, &body, now_s(), SECRET).await;
        assert_eq!(status, 200, "{reply}");
    }
    eventually(Duration::from_secs(30), "three replies", || async {
        receiver.requests().iter().filter(|r| r.path == "/replies").count() >= 3
    })
    .await;
    let replies: Vec<Value> = receiver.requests().iter().filter(|r| r.path == "/replies").map(Recorded::json).collect();
    for (id, fault, says) in &cases {
        let reply = replies.iter().find(|r| r["id"] == format!("{id}:0"));
        let text = reply.and_then(|r| r["text"].as_str()).unwrap_or_default();
        assert!(text.contains(says), "{fault}: the reply {text:?} does not say {says:?}");
    }
    drop(gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_added_listed_and_removed_from_the_cli() {
    let env = Env::new();
    env.write_config("{}");
    let added = env.run(&["channels", "add", "--channel", "telegram", "--token", "42:XYZ"]).await;
    assert!(added.status.success(), "{}", common::text(&added.stderr));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).expect("config")).expect("json");
    assert_eq!(config["channels"]["telegram"], json!({"enabled": true, "botToken": "42:XYZ"}));
    let listed = env.run(&["channels", "list", "--json"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("list json");
    let telegram = listed.as_array().expect("rows").iter().find(|row| row["channel"] == "telegram").cloned();
    assert_eq!(telegram.map(|row| row["configured"].clone()), Some(json!(true)));

    let no_token = env.run(&["channels", "add", "--channel", "webhook", "--token", "x"]).await;
    assert!(!no_token.status.success());
    assert!(common::text(&no_token.stderr).contains("webhook takes no token"), "{}", common::text(&no_token.stderr));
    let unknown = env.run(&["channels", "add", "--channel", "pigeon"]).await;
    assert!(
        common::text(&unknown.stderr)
            .contains("unknown channel \"pigeon\" (fix: one of telegram, webhook, matrix, discord, slack, whatsapp)")
    );
    let login = env.run(&["channels", "login", "webhook"]).await;
    assert!(common::text(&login.stdout).contains("channels.webhook.secret"), "{}", common::text(&login.stdout));
    // `channels login telegram` reads the token from stdin, checks it, and saves it; a malformed one changes nothing.
    let login_with = |input: &'static str| {
        let mut command = env.command(&["channels", "login", "telegram"]);
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = command.spawn().expect("spawn");
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("token");
            child.wait_with_output().expect("wait")
        })
    };
    let bad = login_with("https://t.me/my_bot\n").await.expect("join");
    assert!(!bad.status.success() && common::text(&bad.stderr).contains("not a Telegram bot token"));
    let bad_flag = env.run(&["channels", "add", "--channel", "telegram", "--token", "oops"]).await;
    assert!(
        !bad_flag.status.success()
            && common::text(&bad_flag.stderr).contains("--token: that is not a Telegram bot token")
    );
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).expect("config")).expect("json");
    assert_eq!(config["channels"]["telegram"]["botToken"], "42:XYZ", "a refused token changed nothing");
    let good = login_with("  777:New-Token_1\n").await.expect("join");
    assert!(good.status.success(), "{}", common::text(&good.stderr));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).expect("config")).expect("json");
    assert_eq!(config["channels"]["telegram"]["botToken"], "777:New-Token_1");

    let dead = env.run(&["channels", "dead-letters"]).await;
    assert_eq!(common::text(&dead.stdout).trim(), "No dead letters.");
    let removed = env.run(&["channels", "remove", "--channel", "telegram"]).await;
    assert!(removed.status.success(), "{}", common::text(&removed.stderr));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).expect("config")).expect("json");
    assert!(config["channels"].get("telegram").is_none(), "{config}");
    let again = env.run(&["channels", "remove", "--channel", "telegram"]).await;
    assert!(common::text(&again.stderr).contains("channels.telegram is not configured"));

    // Each platform's own flags (the reference's names): a value the channel refuses, or a flag of another
    // channel, writes nothing; what is still missing is named with its flag.
    let read = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).expect("config")).expect("json")
    };
    let refused: &[(&[&str], &str)] = &[
        (&["--channel", "matrix", "--homeserver", "ftp://m.example.org"], "--homeserver: not an http(s) URL"),
        (
            &["--channel", "matrix", "--homeserver", "https://m.example.org", "--user-id", "bot", "--password", "pw"],
            "--user-id: not a Matrix user id",
        ),
        (
            &["--channel", "slack", "--bot-token", "xoxb-12345678-abc", "--app-token", "xoxb-12345678-abc"],
            "--app-token: that is not a Slack app-level token",
        ),
        (&["--channel", "slack", "--bot-token", "xoxp-user-token"], "--bot-token: that is not a Slack bot token"),
        (
            &["--channel", "slack", "--mode", "carrier-pigeon"],
            "--mode: \"carrier-pigeon\" is not a Slack mode (fix: socket or http)",
        ),
        (
            &["--channel", "slack", "--homeserver", "https://m.example.org"],
            "slack takes no --homeserver (its flags: --token, --bot-token, --app-token, --mode, --signing-secret, --webhook-path)",
        ),
        (
            &["--channel", "discord", "--app-token", "xapp-1-ABCDEFGH"],
            "discord takes no --app-token (its flags: --token)",
        ),
        (
            &["--channel", "slack", "--token", "xoxb-12345678-abc", "--bot-token", "xoxb-12345678-abd"],
            "--bot-token sets botToken a second time",
        ),
        (&["--channel", "matrix", "--device-name", " "], "--device-name is empty"),
        (
            &["--channel", "discord", "--token", "${NOT_SET_ANYWHERE}"],
            "--token: channels.discord.token: reads the environment variable NOT_SET_ANYWHERE, which is not set",
        ),
        (
            &["--channel", "slack", "--mode", "http", "--signing-secret", "short"],
            "--signing-secret: too short for a Slack signing secret",
        ),
        (
            &["--channel", "webhook", "--url", "mailto:ops@example.org"],
            "--url: \"mailto:ops@example.org\" is not an http(s) URL",
        ),
    ];
    for (args, says) in refused {
        let out = env.run(&[&["channels", "add"], *args].concat()).await;
        assert!(
            !out.status.success() && common::text(&out.stderr).contains(says),
            "{args:?}: {}",
            common::text(&out.stderr)
        );
    }
    assert_eq!(read()["channels"], json!({}), "a refused add wrote something");

    let env = &env;
    // `${VAR}` values are checked with the variable's value (the gateway gets the same environment).
    let add = |args: &'static [&'static str]| async move {
        let mut command = env.command(&[&["channels", "add"], args].concat());
        command
            .env("MATRIX_BOT_PASSWORD", "hunter2")
            .env("DISCORD_BOT_TOKEN", "MTIzNDU2Nzg5MDEyMzQ1Njc4.G1a2b3.abcdefghijklmnopqrstuvwxyz0123456789");
        let out = command.output().expect("run");
        assert!(out.status.success(), "{args:?}: {}", common::text(&out.stderr));
        common::text(&out.stdout)
    };
    let partial = add(&["--channel", "matrix", "--homeserver", "https://m.example.org"]).await;
    assert!(partial.contains("still needed: channels.matrix.accessToken: no credentials (fix: openclaw channels login matrix, or channels add --channel matrix --user-id"), "{partial}");
    let done =
        add(&["--channel", "matrix", "--user-id", "@bot:m.example.org", "--password", "${MATRIX_BOT_PASSWORD}"]).await;
    assert!(!done.contains("still needed"), "{done}");
    let socket = add(&["--channel", "slack", "--bot-token", "xoxb-12345678-abc"]).await;
    assert!(socket.contains("still needed: channels.slack.appToken: Socket Mode needs the app-level token (fix: channels add --channel slack --app-token"), "{socket}");
    add(&["--channel", "slack", "--app-token", "xapp-1-ABCDEFGH123"]).await;
    add(&[
        "--channel",
        "slack",
        "--account",
        "events",
        "--mode",
        "http",
        "--signing-secret",
        "0123456789abcdef0123",
        "--webhook-path",
        "/slack/ops",
    ])
    .await;
    add(&["--channel", "discord", "--token", "${DISCORD_BOT_TOKEN}"]).await;
    assert_eq!(
        read()["channels"],
        json!({
            "matrix": {"enabled": true, "homeserver": "https://m.example.org", "userId": "@bot:m.example.org",
                       "password": "${MATRIX_BOT_PASSWORD}"},
            "slack": {"enabled": true, "botToken": "xoxb-12345678-abc", "appToken": "xapp-1-ABCDEFGH123",
                      "accounts": {"events": {"enabled": true, "mode": "http", "signingSecret": "0123456789abcdef0123",
                                              "webhookPath": "/slack/ops"}}},
            "discord": {"enabled": true, "token": "${DISCORD_BOT_TOKEN}"},
        })
    );
    for (channel, account) in [("slack", Some("events")), ("slack", None), ("matrix", None), ("discord", None)] {
        let mut args = vec!["channels", "remove", "--channel", channel];
        args.extend(account.map(|account| ["--account", account]).into_iter().flatten());
        let out = env.run(&args).await;
        assert!(out.status.success(), "{args:?}: {}", common::text(&out.stderr));
    }
    assert_eq!(read()["channels"], json!({}));
}

/// User 6's chat with the bot, for the compliance harness: the emulator behind a [`FaultProxy`] that adds the
/// 429s, lost answers and redeliveries the emulator cannot make (`textChunkLimit` 300).
struct Conversation<'a> {
    emulator: &'a TelegramEmulator,
    proxy: &'a FaultProxy,
}

impl compliance::Counterpart for Conversation<'_> {
    fn name(&self) -> &str {
        "telegram"
    }
    fn max_chunk(&self) -> usize {
        300
    }
    async fn send(&self, text: &str) {
        self.emulator.user_sends(TOKEN, private(6), user(6), text, json!({})).await;
    }
    async fn answers(&self) -> Vec<String> {
        texts_in(self.emulator, "6").await
    }
    fn redeliver_last(&self) {
        self.proxy.redeliver_last();
    }
    fn rate_limit_next(&self, seconds: f64) {
        self.proxy.rate_limit_next(seconds);
    }
    fn lose_next_answer(&self) {
        self.proxy.lose_next_answer();
    }
    fn send_attempts(&self) -> Vec<(Instant, u16)> {
        self.proxy.send_attempts()
    }
}

/// The guarantees every channel gives (testkit's compliance harness), on Telegram: chunks within the limit, a 429
/// waited out, a redelivered update answered once, a send whose answer was lost shown once, and a message that
/// arrived just before a SIGKILL answered once after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_passes_the_channel_compliance_harness() {
    let Some(emulator) = telegram_emulator() else { return };
    let proxy = FaultProxy::start(&emulator.api_root(), proxy::telegram()).await;
    let model = echo_model().await;
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"telegram": {"botToken": TOKEN, "apiRoot": proxy.url(), "allowFrom": [6], "textChunkLimit": 300}}),
    )
    .await;
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    let conversation = Conversation { emulator: &emulator, proxy: &proxy };
    let _gateway = common::compliance(&env, port, gateway, &conversation).await;
    proxy.assert_faults_met();
}

/// A conversation with another system over the signed webhook channel, for the compliance harness. The receiver
/// honours `Idempotency-Key` (the contract the channel's resends rely on), so what it shows is one entry per key it
/// accepted; it can refuse the next reply with a 429 or lose its answer after accepting it.
struct WebhookConversation<'a> {
    port: u16,
    receiver: &'a ScriptedServer,
    sent: std::sync::Mutex<Vec<Value>>,
}

impl WebhookConversation<'_> {
    fn replies(&self) -> Vec<Recorded> {
        self.receiver.requests().into_iter().filter(|request| request.path == "/replies").collect()
    }
}

impl compliance::Counterpart for WebhookConversation<'_> {
    fn name(&self) -> &str {
        "webhook"
    }
    fn max_chunk(&self) -> usize {
        300
    }
    async fn send(&self, text: &str) {
        let body = {
            let mut sent = self.sent.lock().expect("lock");
            let body = json!({"id": format!("cm-{}", sent.len()), "conversation": "compliance", "text": text,
                              "sender": {"id": "system-1"}});
            sent.push(body.clone());
            body
        };
        let (status, reply) = post_webhook(self.port, &body, now_s(), SECRET).await;
        assert_eq!(status, 200, "{reply}");
    }
    async fn answers(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut texts = Vec::new();
        for reply in self.replies().into_iter().filter(|reply| (200..300).contains(&reply.status)) {
            let key = reply.header("idempotency-key").unwrap_or_default().to_owned();
            if !keys.contains(&key) {
                keys.push(key);
                texts.push(reply.json()["text"].as_str().unwrap_or_default().to_owned());
            }
        }
        texts
    }
    fn redeliver_last(&self) {
        // The sender retries: the same message (same id), signed again with a new timestamp.
        let last = self.sent.lock().expect("lock").last().cloned().expect("a message was sent");
        let port = self.port;
        tokio::spawn(async move {
            let (status, reply) = post_webhook(port, &last, now_s() + 1, SECRET).await;
            assert_eq!((status, reply["duplicate"].clone()), (200, json!(true)), "{reply}");
        });
    }
    fn rate_limit_next(&self, seconds: f64) {
        self.receiver.push(
            Reply::json(429, json!({"error": "slow down"})).header("retry-after", &(seconds.ceil() as u64).to_string()),
        );
    }
    fn lose_next_answer(&self) {
        self.receiver.push(Reply::dropped(200));
    }
    fn send_attempts(&self) -> Vec<(Instant, u16)> {
        self.replies().into_iter().map(|reply| (reply.at, reply.status)).collect()
    }
}

/// The compliance harness on the webhook channel: chunks within `textChunkLimit`, a receiver's 429 and
/// `Retry-After` waited out, a sender's retry answered once, a reply whose answer was lost resent under the same
/// idempotency key, and a message acknowledged just before a SIGKILL answered once after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_passes_the_channel_compliance_harness() {
    let model = echo_model().await;
    let receiver = ScriptedServer::start().await;
    receiver.set_fallback(Reply::json(200, json!({"ok": true})));
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"webhook": {"secret": SECRET, "url": format!("{}/replies", receiver.url()), "textChunkLimit": 300}}),
    )
    .await;
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    let conversation = WebhookConversation { port, receiver: &receiver, sent: Default::default() };
    let _gateway = common::compliance(&env, port, gateway, &conversation).await;
    let replies = conversation.replies();
    let lost = replies.iter().position(|reply| {
        reply.status == 200 && reply.json()["text"].as_str().is_some_and(|t| t.contains("lost on the way"))
    });
    let resent = replies
        .iter()
        .filter(|reply| reply.json()["text"].as_str().is_some_and(|t| t.contains("lost on the way")))
        .count();
    assert!(lost.is_some() && resent == 2, "the reply whose answer was lost was sent again, once: {resent}");
}

/// A chunk whose send was cut (the gateway died, or the answer to `sendMessage` was lost) is looked for in its chat
/// before it is sent again, since the Bot API has no idempotency key: found when it arrived, not found when it did
/// not or when only another chat has that text, and looking changes no message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_finds_a_cut_send_instead_of_repeating_it() {
    let Some(emulator) = telegram_emulator() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = openclaw_config::Paths::for_state_dir(dir.path().to_owned());
    let config = json!({"channels": {"telegram": {"botToken": TOKEN, "apiRoot": emulator.api_root()}}});
    let loaded = openclaw_config::load_str(&config.to_string(), &paths, &|_| None).expect("config");
    let (channels, errors) = openclaw_channels::build_all(&loaded, &|_| None, &reqwest::Client::new());
    assert_eq!(errors, Vec::<String>::new());
    let telegram = channels.iter().find(|c| c.name() == "telegram").expect("the telegram account");

    let here = json!({"chatId": 21});
    let there = json!({"chatId": 22});
    let first = telegram.send(&here, "first", 0).await.expect("send").expect("Telegram gives an id");
    // The cut send: it arrived, but its id was never recorded. A user's message and another chat's message with
    // the same text come after it.
    let cut = telegram.send(&here, "second <b>part</b>", 1).await.expect("send").expect("id");
    emulator
        .user_sends(TOKEN, json!({"id": 21, "type": "private"}), json!({"id": 21, "first_name": "U"}), "hm", json!({}))
        .await;
    telegram.send(&there, "third", 0).await.expect("send");

    let found = telegram.find_sent(&here, "second <b>part</b>", Some(&first)).await.expect("look");
    assert_eq!(found, Some(cut.clone()), "the chunk that arrived is found");
    // The inbound message the reply answers is a floor too.
    let route = json!({"chatId": 21, "messageId": first.parse::<i64>().expect("numeric id")});
    assert_eq!(telegram.find_sent(&route, "second <b>part</b>", None).await.expect("look"), Some(cut.clone()));
    assert_eq!(telegram.find_sent(&here, "third", Some(&cut)).await.expect("look"), None, "another chat's message");
    // Nothing of ours past the last recorded message: the chunk never arrived.
    assert_eq!(telegram.find_sent(&here, "never sent", Some(&cut)).await.expect("look"), None);
    assert_eq!(telegram.find_sent(&here, "second <b>part</b>", None).await.expect("look"), None, "no floor: unknown");
    let forum = json!({"chatId": 21, "forum": true});
    assert_eq!(telegram.find_sent(&forum, "second <b>part</b>", Some(&first)).await.expect("look"), None);

    let edits = emulator.state().await["edits"].clone();
    assert_eq!(edits["modified"], 0, "looking changed a message: {edits}");
    assert!(edits["notModified"].as_i64() >= Some(2), "{edits}");
    let texts: Vec<String> = emulator.bot_messages(TOKEN).await.into_iter().map(|m| m.1).collect();
    assert_eq!(texts, vec!["first", "second <b>part</b>", "third"]);
}

/// WebChat goes through the same durable inbox as every channel: a `chat.send` the gateway acknowledged survives a
/// SIGKILL before its turn finished — the restarted gateway answers it, once — and a retry under the same
/// idempotency key is recognised instead of run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webchat_messages_survive_a_kill_through_the_inbox() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let model = ScriptedServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    model.set_responder(Arc::new(move |request: &Recorded| {
        // The first answer takes six seconds: the gateway is killed while it streams.
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return openai::text(&"slowly ".repeat(30)).paced(Duration::from_millis(200));
        }
        openai::text(&format!("echo: {}", last_user_text(request)))
    }));
    let env = Env::new();
    configure_channels(&env, &model, json!({})).await;
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    let url = format!("ws://127.0.0.1:{port}");
    let params = r#"{sessionKey: "agent:main:webchat-crash", message: "survive this", idempotencyKey: "wc-1"}"#;
    let out = env
        .run(&[
            "gateway",
            "call",
            "chat.send",
            "--url",
            &url,
            "--token",
            &env.gateway_token(),
            "--params",
            params,
            "--json",
        ])
        .await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let started: Value = serde_json::from_slice(&out.stdout).expect("chat.send json");
    assert_eq!(started, json!({"runId": "wc-1", "status": "started"}));
    eventually(Duration::from_secs(10), "the turn to start", || async { calls.load(Ordering::SeqCst) >= 1 }).await;
    gateway.kill();

    let gateway = GatewayProcess::start(&env, port).await;
    let store = env.store().await;
    let key = "agent:main:webchat-crash";
    let transcript = || async {
        let Ok(Some(session)) = store.active_session(key).await else { return Vec::new() };
        store.transcript(&session.session_id).await.unwrap_or_default()
    };
    eventually(Duration::from_secs(20), "the answer after the restart", || async {
        transcript().await.iter().any(|stored| format!("{:?}", stored.entry).contains("echo: survive this"))
    })
    .await;
    let entries = transcript().await;
    let asked = entries.iter().filter(|stored| format!("{:?}", stored.entry).contains("survive this")).count();
    assert_eq!(asked, 2, "the question and its answer, each once: {entries:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the cut turn ran once more, and only once");

    // The client retries its send after reconnecting: recognised by its key, not run again.
    let out = env
        .run(&[
            "gateway",
            "call",
            "chat.send",
            "--url",
            &url,
            "--token",
            &env.gateway_token(),
            "--params",
            params,
            "--json",
        ])
        .await;
    let retried: Value = serde_json::from_slice(&out.stdout).expect("chat.send json");
    assert_eq!(retried, json!({"runId": "wc-1", "status": "ok", "duplicate": true}));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let queues = store.channel_queues(openclaw_protocol::now_ms()).await.expect("queues");
    assert_eq!((queues.inbox_pending, queues.outbox_pending, queues.dead_letters), (0, 0, 0), "{queues:?}");
    drop(gateway);
}

/// `openclaw agent` through the gateway at `port`.
async fn agent_cli(env: &Env, port: u16, args: &[&str]) -> std::process::Output {
    let mut command = env.command(&[&["agent"], args].concat());
    command.env("OPENCLAW_GATEWAY_URL", format!("ws://127.0.0.1:{port}"));
    tokio::task::spawn_blocking(move || command.output().expect("run openclaw")).await.expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_a_turn_on_a_channel_and_delivers_it() {
    let Some(emulator) = telegram_emulator() else { return };
    let model = echo_model().await;
    let receiver = ScriptedServer::start().await;
    receiver.set_fallback(Reply::json(200, json!({"ok": true})));
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"telegram": {"botToken": TOKEN, "apiRoot": emulator.api_root(), "allowFrom": [6]},
               "webhook": {"secret": SECRET, "url": format!("{}/replies", receiver.url())}}),
    )
    .await;
    // Per-channel-peer sessions, so that the conversation's session is visible in its key.
    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
    config["session"] = json!({"dmScope": "per-channel-peer"});
    std::fs::write(&path, config.to_string()).expect("write config");
    let port = free_port();
    let _gateway = GatewayProcess::start(&env, port).await;

    // The seed's command: the turn joins chat 6's session, and the answer arrives in chat 6.
    let out = agent_cli(
        &env,
        port,
        &["-m", "your order has shipped", "--channel", "telegram", "--to", "6", "--deliver", "--json"],
    )
    .await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let envelope: Value = serde_json::from_slice(&out.stdout).expect("json envelope");
    assert_eq!(envelope["final"], "echo: your order has shipped", "{envelope}");
    let status = &envelope["deliveryStatus"];
    assert_eq!((status["status"].as_str(), status["succeeded"].as_bool()), (Some("sent"), Some(true)), "{envelope}");
    assert_eq!(texts_in(&emulator, "6").await, vec!["echo: your order has shipped".to_owned()]);
    let store = env.store().await;
    let session = store.active_session("agent:main:telegram:direct:6").await.expect("read").expect("chat 6's session");
    let transcript = format!("{:?}", store.transcript(&session.session_id).await.expect("transcript"));
    assert!(transcript.contains("your order has shipped"), "{transcript}");

    // Plain output: the answer on stdout, the delivery on stderr. A webhook conversation gets a signed POST whose
    // idempotency key is its own (the reply answers no inbound message).
    let out = agent_cli(&env, port, &["-m", "ticket closed", "--channel", "webhook", "--to", "c-9", "--deliver"]).await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    assert_eq!(common::text(&out.stdout).trim(), "echo: ticket closed");
    assert!(common::text(&out.stderr).contains("Delivered (1 message(s))"), "{}", common::text(&out.stderr));
    let posted: Vec<Recorded> = receiver.requests().into_iter().filter(|r| r.path == "/replies").collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let body: Value = serde_json::from_slice(&posted[0].body).expect("json body");
    assert_eq!((body["conversation"].as_str(), body["text"].as_str()), (Some("c-9"), Some("echo: ticket closed")));
    let key = posted[0].header("idempotency-key").unwrap_or_default();
    assert!(key.starts_with("out-") && key.ends_with(":0"), "{key}");
    let signature = posted[0].header("x-openclaw-signature").unwrap_or_default();
    let timestamp: i64 = posted[0].header("x-openclaw-timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    assert_eq!(signature, openclaw_channels::webhook::sign(SECRET, timestamp, &posted[0].body));

    // --reply-channel/--reply-to change where the answer goes, not the session.
    let out = agent_cli(
        &env,
        port,
        &[
            "-m",
            "and a copy",
            "--channel",
            "telegram",
            "--to",
            "6",
            "--deliver",
            "--reply-channel",
            "webhook",
            "--reply-to",
            "c-10",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    eventually(Duration::from_secs(5), "the copy on the webhook", || async {
        receiver.requests().iter().any(|r| String::from_utf8_lossy(&r.body).contains("c-10"))
    })
    .await;
    assert_eq!(texts_in(&emulator, "6").await.len(), 1, "nothing more went to chat 6");
    let transcript = format!("{:?}", store.transcript(&session.session_id).await.expect("transcript"));
    assert!(transcript.contains("and a copy"), "the turn joined chat 6's session: {transcript}");

    // Refusals, each before any model call, each saying what to do.
    let asked = model.requests().len();
    let refusals: &[(&[&str], &str)] = &[
        (&["-m", "x", "--channel", "discord", "--to", "6", "--deliver"], "running: telegram/default, webhook/default"),
        (&["-m", "x", "--channel", "telegram", "--to", "abc", "--deliver"], "is not a Telegram chat"),
        (&["-m", "x", "--channel", "telegram", "--to", "6:topic:x"], "is not a number"),
        (&["-m", "x", "--channel", "webhook", "--to", &"c".repeat(300), "--deliver"], "is not a webhook conversation"),
        (&["-m", "x", "--deliver"], "deliver needs a channel and a recipient"),
        (&["-m", "x", "--to", "6"], "to needs a channel"),
        (
            &["-m", "x", "--channel", "telegram", "--to", "6", "--reply-account", "work", "--deliver"],
            "telegram account work",
        ),
        (
            &["-m", "x", "--channel", "telegram", "--to", "6", "--deliver", "--local"],
            "need the channels of a running gateway",
        ),
    ];
    for (args, expected) in refusals {
        let out = agent_cli(&env, port, args).await;
        let stderr = common::text(&out.stderr);
        assert!(!out.status.success() && stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(model.requests().len(), asked, "a refused request ran no turn");
    assert_eq!(texts_in(&emulator, "6").await.len(), 1);
}

/// The `message` tool: an agent speaks first on a channel. Through the gateway the message is queued in the
/// outbox and arrives; an unknown channel and a recipient the channel cannot read come back to the model as
/// errors and send nothing; a turn in-process (no gateway, no channels) is not offered the tool; a policy that
/// denies it hides it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_tool_sends_through_the_outbox() {
    let Some(emulator) = telegram_emulator() else { return };
    let model = ScriptedServer::start().await;
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"telegram": {"botToken": TOKEN, "apiRoot": emulator.api_root(), "allowFrom": [6]}}),
    )
    .await;
    // A second agent whose policy denies messaging.
    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
    config["agents"]["entries"] = json!({"main": {"default": true}, "quiet": {"tools": {"deny": ["group:messaging"]}}});
    std::fs::write(&path, config.to_string()).expect("write config");
    let port = free_port();
    let _gateway = GatewayProcess::start(&env, port).await;

    let send = |args: Value| openai::tool_call("call_1", "message", &args, 7);
    model
        .push(send(json!({"action": "send", "channel": "telegram", "target": "6", "message": "Standup in 5 minutes"})));
    model.push(openai::text("I told them."));
    let out = agent_cli(&env, port, &["-m", "remind user 6 about the standup"]).await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    assert_eq!(common::text(&out.stdout).trim(), "I told them.");
    let offered = model.requests()[0].json();
    let names: Vec<&str> = offered["tools"]
        .as_array()
        .map_or(Vec::new(), |tools| tools.iter().filter_map(|tool| tool["function"]["name"].as_str()).collect());
    assert!(names.contains(&"message"), "{names:?}");
    let result = model.requests()[1].message_texts().join("\n");
    assert!(result.contains("Queued for 6 (telegram/default)"), "{result}");
    eventually(Duration::from_secs(10), "the message in chat 6", || async {
        texts_in(&emulator, "6").await == vec!["Standup in 5 minutes".to_owned()]
    })
    .await;

    // Refused sends reach the model as errors; nothing is sent.
    for (args, expected) in [
        (json!({"action": "send", "channel": "discord", "target": "6", "message": "x"}), "running: telegram/default"),
        (json!({"action": "send", "channel": "telegram", "target": "abc", "message": "x"}), "is not a Telegram chat"),
        (
            json!({"action": "send", "channel": "telegram", "target": "6", "message": "x".repeat(40_000)}),
            "at most 32768",
        ),
        (json!({"action": "delete", "channel": "telegram", "target": "6", "message": "x"}), "not implemented"),
        (json!({"action": "send", "channel": "telegram", "target": "6"}), "message is required"),
        (
            json!({"action": "send", "channel": "telegram", "target": "6", "message": "x", "dryRun": true}),
            "dry run: nothing sent",
        ),
    ] {
        let before = model.requests().len();
        model.push(send(args));
        model.push(openai::text("understood"));
        let out = agent_cli(&env, port, &["-m", "try it"]).await;
        assert!(out.status.success(), "{}", common::text(&out.stderr));
        let result = model.requests()[before + 1].message_texts().join("\n");
        assert!(result.contains(expected), "expected {expected:?} in {result}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(texts_in(&emulator, "6").await.len(), 1, "a refused send or a dry run sent nothing");
    let store = env.store().await;
    let audited = store.audit_events(500).await.expect("audit");
    let calls =
        audited.iter().filter(|row| row.event.action == "tool.call" && row.event.detail["tool"] == "message").count();
    assert!(calls >= 7, "every call is audited: {calls}");

    // A policy that denies it hides it, and a call made anyway is refused: nothing is sent.
    let before = model.requests().len();
    model.push(send(json!({"action": "send", "channel": "telegram", "target": "6", "message": "sneaky"})));
    model.push(openai::text("could not"));
    let out = agent_cli(&env, port, &["--agent", "quiet", "-m", "message user 6"]).await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let tools = model.requests()[before].json()["tools"].to_string();
    assert!(!tools.contains("\"message\""), "{tools}");
    let result = model.requests()[before + 1].message_texts().join("\n");
    assert!(result.contains("The tool message is not allowed for this agent (tool policy)"), "{result}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(texts_in(&emulator, "6").await.len(), 1, "the denied call sent nothing");

    // In-process there are no channels: the tool is not offered.
    model.push(openai::text("local answer"));
    let before = model.requests().len();
    let out = env.run(&["agent", "--local", "-m", "hello"]).await;
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let tools = model.requests()[before].json()["tools"].to_string();
    assert!(!tools.contains("\"message\""), "{tools}");
}
