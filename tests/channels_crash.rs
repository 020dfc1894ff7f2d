//! The no-lost-messages test: 200 messages flow through Telegram (the npm Bot API emulator) and the webhook channel
//! while the gateway is killed with SIGKILL at random moments 20 times and restarted. Every message must be answered
//! once, in order per conversation, and the store must be consistent at the end. A kill between Telegram accepting
//! a chunk and the gateway recording it leaves the chunk uncertain (the Bot API has no idempotency key): the gateway
//! looks for it in the chat (see `Telegram::find_sent`) and sends it again only when it is not there, so no answer
//! may appear twice. Webhook deliveries carry an idempotency key instead.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Env, GatewayProcess, free_port, last_user_text, telegram_emulator};
use openclaw_protocol::{AgentMessage, TranscriptEntry};
use openclaw_store::Store;
use openclaw_testkit::{Recorded, Reply, ScriptedServer, openai};
use serde_json::{Value, json};

const TOKEN: &str = "999:CRASH";
const SECRET: &str = "crash-test-webhook-secret-0123";
const CHATS: [i64; 4] = [11, 12, 13, 14];
const CONVERSATIONS: [&str; 4] = ["w1", "w2", "w3", "w4"];
const PER_CONVERSATION: usize = 25;
const KILLS: usize = 20;

/// A small deterministic generator (the seed is printed, so a failing run can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

async fn post_webhook(client: &reqwest::Client, port: u16, body: &Value) -> bool {
    let text = body.to_string();
    let timestamp = openclaw_protocol::now_ms() / 1000;
    let signature = openclaw_channels::webhook::sign(SECRET, timestamp, text.as_bytes());
    let response = client
        .post(format!("http://127.0.0.1:{port}/channels/webhook"))
        .header("content-type", "application/json")
        .header("x-openclaw-timestamp", timestamp.to_string())
        .header("x-openclaw-signature", signature)
        .body(text)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    response.is_ok_and(|r| r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_or_answered_twice_across_20_sigkills() {
    let Some(emulator) = telegram_emulator() else { return };
    let model = ScriptedServer::start().await;
    model.set_responder(Arc::new(|request: &Recorded| {
        openai::text(&format!("echo: {}", last_user_text(request))).paced(Duration::from_millis(2))
    }));
    let receiver = ScriptedServer::start().await;
    receiver.set_fallback(Reply::json(200, json!({"ok": true})));
    let env = Env::new();
    env.setup(&model, "openai").await;
    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
    config["channels"] = json!({
        "telegram": {"botToken": TOKEN, "apiRoot": emulator.api_root(), "dmPolicy": "open", "allowFrom": ["*"]},
        "webhook": {"secret": SECRET, "url": format!("{}/replies", receiver.url())},
    });
    // Per-conversation sessions, so the four chats do not share one lane.
    config["session"] = json!({"dmScope": "per-channel-peer"});
    std::fs::write(&path, config.to_string()).expect("write config");
    let port = free_port();

    // The producer: 100 Telegram messages and 100 webhook messages, interleaved, paced across the kills. The
    // webhook sender retries until it gets a 2xx, as a real one would while the gateway is down.
    let seed = openclaw_protocol::now_ms() as u64;
    eprintln!("crash test seed {seed}");
    let producing = Arc::new(AtomicBool::new(true));
    let producer = {
        let emulator_root = emulator.api_root();
        let producing = producing.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 0..PER_CONVERSATION {
                for (i, chat) in CHATS.iter().enumerate() {
                    let message = json!({"botToken": TOKEN, "chat": {"id": chat, "type": "private"},
                                         "from": {"id": chat, "is_bot": false, "first_name": "U"},
                                         "date": openclaw_protocol::now_ms() / 1000, "text": format!("t{chat}-{n}")});
                    client.post(format!("{emulator_root}/sendMessage")).json(&message).send().await.expect("emulator");
                    let conversation = CONVERSATIONS[i];
                    let body = json!({"id": format!("{conversation}-{n}"), "conversation": conversation,
                                      "text": format!("{conversation}-{n}")});
                    while !post_webhook(&client, port, &body).await {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(12)).await;
                }
            }
            producing.store(false, Ordering::SeqCst);
        })
    };

    // The killer: start, let it work for a random while, SIGKILL; 20 times.
    let mut random = Lcg(seed);
    let started = Instant::now();
    let mut restarts = Vec::new();
    for _ in 0..KILLS {
        let booted = Instant::now();
        let gateway = GatewayProcess::start(&env, port).await;
        restarts.push(booted.elapsed());
        tokio::time::sleep(Duration::from_millis(100 + random.next(400))).await;
        gateway.kill();
    }
    let gateway = GatewayProcess::start(&env, port).await;
    producer.await.expect("producer");
    assert!(!producing.load(Ordering::SeqCst));

    // Everything is answered in the end.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let telegram = emulator.bot_messages(TOKEN).await.len();
        let webhook = receiver.requests().iter().filter(|r| r.path == "/replies").count();
        if telegram >= 100 && webhook >= 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not everything was answered: telegram {telegram}/100, webhook {webhook}/100"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elapsed = started.elapsed();

    // Chunks a kill (or a lost answer) left uncertain: the gateway looked for each on Telegram before sending it
    // again (the Bot API has no idempotency key).
    let db = env.state.join("state").join("openclaw-rs.sqlite");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.expect("open the database");
    let uncertain: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(resends), 0) FROM channel_outbox WHERE channel = 'telegram'")
            .fetch_one(&pool)
            .await
            .expect("uncertain chunks");
    pool.close().await;
    let edits = emulator.state().await["edits"].clone();
    assert_eq!(edits["modified"], 0, "looking for a cut send must never change a message: {edits}");

    // Telegram: per chat, exactly the answers to t<chat>-0 … t<chat>-24, in order, each once.
    let sent = emulator.bot_messages(TOKEN).await;
    for chat in CHATS {
        let got: Vec<String> = sent.iter().filter(|m| m.0 == chat.to_string()).map(|m| m.1.clone()).collect();
        let want: Vec<String> = (0..PER_CONVERSATION).map(|n| format!("echo: t{chat}-{n}")).collect();
        assert_eq!(got, want, "telegram chat {chat}: every answer once, in order");
    }
    // Webhook: per conversation, each answer delivered under its delivery id, in order. A delivery cut by a kill
    // after the receiver took it is sent again with the same id (the receiver drops it by that id); count those.
    let deliveries: Vec<Value> =
        receiver.requests().iter().filter(|r| r.path == "/replies").map(Recorded::json).collect();
    let mut redelivered = 0;
    for conversation in CONVERSATIONS {
        let mut ids: Vec<String> = Vec::new();
        for delivery in deliveries.iter().filter(|d| d["conversation"] == conversation) {
            let id = delivery["id"].as_str().unwrap_or_default().to_owned();
            if ids.last() == Some(&id) {
                redelivered += 1;
                continue;
            }
            assert!(!ids.contains(&id), "{id} answered twice out of order");
            ids.push(id);
            let n = ids.len() - 1;
            assert_eq!(delivery["text"], format!("echo: {conversation}-{n}"), "webhook {conversation} order");
        }
        let want: Vec<String> = (0..PER_CONVERSATION).map(|n| format!("{conversation}-{n}:0")).collect();
        assert_eq!(ids, want, "webhook conversation {conversation}");
    }

    // The store is consistent: nothing pending, nothing dead, integrity check clean.
    drop(gateway);
    let store = env.store().await;
    assert!(store.pending_inbound(10).await.expect("pending").is_empty());
    assert!(store.dead_letters(10).await.expect("dead").is_empty());
    assert!(store.due_outbound(i64::MAX, 10).await.expect("due").is_empty());
    assert_eq!(store.check_integrity().await.expect("integrity"), Vec::<String>::new());
    // Turns a kill cut short ran again, but nothing of them was stored: each session's transcript holds every
    // message once, in order.
    let conversations = CHATS.iter().map(|chat| (format!("telegram:direct:{chat}"), format!("t{chat}")));
    let conversations =
        conversations.chain(CONVERSATIONS.iter().map(|c| (format!("webhook:direct:{c}"), c.to_string())));
    for (peer, prefix) in conversations {
        let key = format!("agent:main:{peer}");
        let session = store.active_session(&key).await.expect("session").expect("a session per conversation");
        let asked: Vec<String> = store
            .transcript(&session.session_id)
            .await
            .expect("transcript")
            .into_iter()
            .filter_map(|stored| match stored.entry {
                TranscriptEntry::Message(entry) if matches!(entry.message, AgentMessage::User(_)) => {
                    Some(entry.message.text())
                }
                _ => None,
            })
            .collect();
        let want: Vec<String> = (0..PER_CONVERSATION).map(|n| format!("{prefix}-{n}")).collect();
        assert_eq!(asked, want, "the transcript of {key}");
    }
    let mut boots: Vec<u128> = restarts.iter().map(Duration::as_millis).collect();
    boots.sort_unstable();
    eprintln!(
        "crash test: {KILLS} SIGKILLs, all 200 messages answered, none lost, in order, in {:.1}s; restart to ready median {} ms \
         (max {} ms); webhook redeliveries of a cut delivery (same id): {redelivered}; Telegram chunks left uncertain by a \
         kill: {uncertain}, found already delivered: {} (sent again: the rest), probes {}; model calls {}",
        elapsed.as_secs_f64(),
        boots[boots.len() / 2],
        boots[boots.len() - 1],
        edits["notModified"],
        edits["notModified"].as_i64().unwrap_or(0) + edits["refused"].as_i64().unwrap_or(0),
        model.requests().len()
    );
}

/// Discord (the double), Slack on Socket Mode (the double), Matrix (a real Synapse) and WhatsApp (the Cloud API
/// double): two conversations each, 15 messages per conversation flowing while the gateway is SIGKILLed 10 times at
/// random moments and restarted. Every message answered once, in order per conversation. What each platform relies
/// on: Discord resumes the session saved with the last recorded message and replays the rest; Slack delivers an
/// envelope again until it is acknowledged, which happens only after recording; Matrix syncs again from the `since`
/// saved with the last recorded message; Meta delivers a webhook call again until it gets its 200, which comes only
/// after recording. A chunk a kill left uncertain is looked for (Discord, Slack, WhatsApp's status updates) or
/// resent under its transaction id (Matrix).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_slack_matrix_and_whatsapp_lose_nothing_across_10_sigkills() {
    use openclaw_testkit::discord::DiscordDouble;
    use openclaw_testkit::slack::SlackDouble;
    use openclaw_testkit::synapse::Synapse;
    use openclaw_testkit::whatsapp::WhatsAppDouble;

    const DISCORD_TOKEN: &str = "MTMxMjM0NTY3ODkwMTIzNDU2Nw.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789AB";
    const SLACK_BOT: &str = "xoxb-1111-2222-crashtoken";
    const SLACK_APP: &str = "xapp-1-A0CRASH-3333-crashtoken";
    const MESSAGES: usize = 15;
    const SIGKILLS: usize = 10;
    const MATRIX_BOT: &str = "@bot:localhost";
    const WA_PHONE: &str = "106540352242922";
    const WA_TOKEN: &str = "EAAGm0PX4ZCpsBAcrashtoken0123456789";
    const WA_SECRET: &str = "0123456789abcdef0123456789abcdef";
    const WA_PEOPLE: [&str; 2] = ["15550000001", "15550000002"];

    let Some(synapse) = Synapse::start() else {
        openclaw_testkit::counterpart_missing(
            "Synapse (PyPI matrix-synapse, in ~/.cache/openclaw-rs/synapse-venv)",
            "python3 -m venv ~/.cache/openclaw-rs/synapse-venv && ~/.cache/openclaw-rs/synapse-venv/bin/pip install matrix-synapse (.ci/run does)",
        );
        return;
    };
    let bot_token = synapse.register("bot", "bot-password-1234").await;
    let people = [
        synapse.human(&synapse.register("ann", "ann-password-1234").await),
        synapse.human(&synapse.register("bob", "bob-password-1234").await),
    ];
    let discord = DiscordDouble::start(DISCORD_TOKEN, "claw").await;
    let discord_dms = [discord.dm_channel("4200000000000000001"), discord.dm_channel("4200000000000000002")];
    let slack = SlackDouble::start(SLACK_BOT, SLACK_APP).await;
    let whatsapp = Arc::new(WhatsAppDouble::start(WA_PHONE, WA_TOKEN, WA_SECRET).await);
    let slack_dms = ["DCRASH001", "DCRASH002"];
    for dm in slack_dms {
        slack.add_channel(dm, "im");
    }
    let model = ScriptedServer::start().await;
    model.set_responder(Arc::new(|request: &Recorded| {
        openai::text(&format!("echo: {}", last_user_text(request))).paced(Duration::from_millis(2))
    }));
    let env = Env::new();
    env.setup(&model, "openai").await;
    let path = env.state.join("openclaw.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("json");
    let open = json!({"dmPolicy": "open", "allowFrom": ["*"]});
    let with = |mut block: Value| {
        if let (Some(block), Some(open)) = (block.as_object_mut(), open.as_object()) {
            block.extend(open.clone());
        }
        block
    };
    config["channels"] = json!({
        "discord": with(json!({"token": DISCORD_TOKEN, "apiBaseUrl": discord.api_base()})),
        "slack": with(json!({"botToken": SLACK_BOT, "appToken": SLACK_APP, "apiBaseUrl": slack.api_base()})),
        "matrix": with(json!({"homeserver": synapse.url(), "accessToken": bot_token, "autoJoin": "always"})),
        "whatsapp": with(json!({"provider": "cloud", "phoneNumberId": WA_PHONE, "accessToken": WA_TOKEN,
                                "appSecret": WA_SECRET, "verifyToken": "crash-verify", "apiBaseUrl": whatsapp.api_base()})),
    });
    config["session"] = json!({"dmScope": "per-channel-peer"});
    std::fs::write(&path, config.to_string()).expect("write config");
    let port = free_port();
    whatsapp.set_webhook(&format!("http://127.0.0.1:{port}/channels/whatsapp/webhook"));

    // Connected once before anything flows: Discord's first session and Matrix's starting point are set up, the
    // bot has joined the two direct rooms.
    let gateway = GatewayProcess::start(&env, port).await;
    let mut rooms = Vec::new();
    for person in &people {
        rooms.push(person.create_room(&[MATRIX_BOT], true).await);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut joined = 0;
        for (person, room) in people.iter().zip(&rooms) {
            joined += usize::from(person.joined(room).await.iter().any(|member| member == MATRIX_BOT));
        }
        if joined == 2 && discord.connected() && slack.connected() {
            break;
        }
        assert!(Instant::now() < deadline, "the bot did not connect to all three platforms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gateway.kill();

    let seed = openclaw_protocol::now_ms() as u64;
    eprintln!("crash test (discord, slack, matrix, whatsapp) seed {seed}");
    let producer = {
        let people = people.clone();
        let rooms = rooms.clone();
        let discord_dms = discord_dms.clone();
        let discord = Arc::new(discord);
        let slack = Arc::new(slack);
        let (discord_handle, slack_handle) = (discord.clone(), slack.clone());
        let whatsapp = whatsapp.clone();
        let task = tokio::spawn(async move {
            for n in 0..MESSAGES {
                for i in 0..2 {
                    let user = ["4200000000000000001", "4200000000000000002"][i];
                    discord.user_sends(&discord_dms[i], (user, "person"), &format!("d{i}-{n}"), false);
                    slack.user_sends(slack_dms[i], ["UCRASH001", "UCRASH002"][i], &format!("s{i}-{n}"), false, None);
                    people[i].send(&rooms[i], &format!("m{i}-{n}")).await;
                    // Not awaited to the end: Meta keeps delivering, in order, until the webhook takes it.
                    let whatsapp = whatsapp.clone();
                    let text = format!("w{i}-{n}");
                    let _ = tokio::time::timeout(Duration::from_millis(50), async move {
                        whatsapp.user_sends(WA_PEOPLE[i], "person", &text).await
                    })
                    .await;
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            }
        });
        (task, discord_handle, slack_handle)
    };
    let (producer, discord, slack) = producer;

    let mut random = Lcg(seed);
    let started = Instant::now();
    for _ in 0..SIGKILLS {
        let gateway = GatewayProcess::start(&env, port).await;
        tokio::time::sleep(Duration::from_millis(150 + random.next(450))).await;
        gateway.kill();
    }
    let gateway = GatewayProcess::start(&env, port).await;
    producer.await.expect("producer");

    let matrix_answers = |i: usize| {
        let person = people[i].clone();
        let room = rooms[i].clone();
        async move {
            person
                .messages(&room)
                .await
                .into_iter()
                .filter(|m| m.sender == MATRIX_BOT)
                .map(|m| m.body)
                .collect::<Vec<_>>()
        }
    };
    let discord_answers = |i: usize| {
        discord
            .bot_messages(&discord_dms[i])
            .iter()
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let slack_answers =
        |i: usize| slack.bot_messages(slack_dms[i]).into_iter().map(|(text, _)| text).collect::<Vec<_>>();
    let whatsapp_answers =
        |i: usize| whatsapp.bot_messages(WA_PEOPLE[i]).into_iter().map(|sent| sent.text).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut done = true;
        for i in 0..2 {
            done &= discord_answers(i).len() >= MESSAGES
                && slack_answers(i).len() >= MESSAGES
                && whatsapp_answers(i).len() >= MESSAGES
                && matrix_answers(i).await.len() >= MESSAGES;
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "not everything was answered in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Late duplicates would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..2 {
        let want = |prefix: &str| (0..MESSAGES).map(|n| format!("echo: {prefix}{i}-{n}")).collect::<Vec<_>>();
        assert_eq!(discord_answers(i), want("d"), "discord conversation {i}: every answer once, in order");
        assert_eq!(slack_answers(i), want("s"), "slack conversation {i}: every answer once, in order");
        assert_eq!(whatsapp_answers(i), want("w"), "whatsapp conversation {i}: every answer once, in order");
        assert_eq!(matrix_answers(i).await, want("m"), "matrix conversation {i}: every answer once, in order");
    }
    drop(gateway);
    let store = env.store().await;
    assert!(store.pending_inbound(10).await.expect("pending").is_empty());
    assert!(store.dead_letters(10).await.expect("dead").is_empty());
    assert_eq!(store.check_integrity().await.expect("integrity"), Vec::<String>::new());
    eprintln!(
        "crash test (discord, slack, matrix, whatsapp): {SIGKILLS} SIGKILLs, all {} messages answered once, in order, in {:.1}s; discord resumes {}, slack redeliveries {}, whatsapp deliveries retried {}",
        8 * MESSAGES,
        started.elapsed().as_secs_f64(),
        discord.stats().resumes,
        slack.stats().redelivered,
        whatsapp.retried()
    );
}
