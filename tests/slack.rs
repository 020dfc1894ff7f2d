//! Slack end to end, through the `openclaw` binary, against the Slack double in testkit (Slack has no official
//! emulator; the double follows its published Web API description and the Socket Mode protocol): one account on
//! Socket Mode, one on the HTTP Events API; people write in DMs, channels and threads; the platform refreshes and
//! drops connections, rate-limits, fails and loses answers; forged, stale, replayed and oversized requests are
//! refused; the gateway is killed and restarted.

mod common;

use std::time::Duration;

use common::{Env, GatewayProcess, configure_channels, echo_model, eventually, free_port};
use openclaw_store::Store;
use openclaw_testkit::compliance;
use openclaw_testkit::slack::{SlackDouble, sign};
use serde_json::{Value, json};

const BOT: &str = "xoxb-1111-2222-doubletoken";
const APP: &str = "xapp-1-A0DOUBLE-3333-doubletoken";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const ANN: &str = "UANN00001";
const DM: &str = "DANN00001";
const GENERAL: &str = "CGENERAL1";
const RANDOM: &str = "CRANDOM01";

fn texts(double: &SlackDouble, channel: &str) -> Vec<String> {
    double.bot_messages(channel).into_iter().map(|(text, _)| text).collect()
}

async fn answered(double: &SlackDouble, channel: &str, count: usize, what: &str) {
    eventually(Duration::from_secs(30), what, || async { double.bot_messages(channel).len() >= count }).await;
}

async fn connected(double: &SlackDouble) {
    eventually(Duration::from_secs(30), "the Socket Mode connection", || async { double.connected() }).await;
}

/// POSTs an HTTP Events API request to the gateway, signed at `timestamp` (or with `signature` as given).
async fn post(url: &str, body: &[u8], timestamp: i64, signature: Option<&str>) -> (u16, Value) {
    let signature = signature.map(str::to_owned).unwrap_or_else(|| sign(SECRET, timestamp, body));
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("post to the gateway");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Ann's DM with the bot, for the compliance harness (the Socket Mode account, `textChunkLimit` 300).
struct Conversation<'a> {
    double: &'a SlackDouble,
    channel: &'static str,
}

impl compliance::Counterpart for Conversation<'_> {
    fn name(&self) -> &str {
        "slack"
    }
    fn max_chunk(&self) -> usize {
        300
    }
    async fn send(&self, text: &str) {
        self.double.user_sends(self.channel, ANN, text, false, None);
    }
    async fn answers(&self) -> Vec<String> {
        texts(self.double, self.channel)
    }
    fn redeliver_last(&self) {
        self.double.redeliver_last(self.channel);
    }
    fn rate_limit_next(&self, seconds: f64) {
        self.double.rate_limit_posts(1, seconds.ceil() as u64);
    }
    fn lose_next_answer(&self) {
        self.double.lose_next_answer();
    }
    fn send_attempts(&self) -> Vec<(std::time::Instant, u16)> {
        self.double.send_attempts()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_socket_mode_and_http_events_reach_the_agent_and_answers_come_back_as_mrkdwn() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let double = SlackDouble::start(BOT, APP).await;
    double.add_channel(DM, "im");
    double.add_channel(GENERAL, "channel");
    double.add_channel(RANDOM, "channel");
    let model = echo_model().await;
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"slack": {"apiBaseUrl": double.api_base(), "appToken": APP, "dmPolicy": "open", "allowFrom": ["*"],
                         "channels": {GENERAL: {}}, "textChunkLimit": 300,
                         "accounts": {
                             "events": {"botToken": BOT, "mode": "http", "signingSecret": SECRET},
                             "stale": {"botToken": "xoxb-9999-9999-notissued"}}}}),
    )
    .await;
    // `channels login slack` reads the bot token from stdin: a malformed one changes nothing, a good one is saved.
    let login = |token: &str| common::login_from_stdin(&env, "slack", token);
    let config_path = env.state.join("openclaw.json");
    let before = std::fs::read_to_string(&config_path).expect("config");
    let refused = login("xoxp-a-user-token");
    assert!(!refused.status.success());
    assert!(common::text(&refused.stderr).contains("not a Slack bot token"), "{}", common::text(&refused.stderr));
    assert_eq!(std::fs::read_to_string(&config_path).expect("config"), before, "a refused token changes nothing");
    assert!(login(BOT).status.success());
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    connected(&double).await;

    // A DM: answered in mrkdwn, link unfurling off, with the bot token.
    double.user_sends(DM, ANN, "hello **there** & welcome", false, None);
    answered(&double, DM, 1, "the answer to the DM").await;
    assert_eq!(texts(&double, DM), vec!["echo: hello *there* &amp; welcome"]);
    let post_request = double.requests().into_iter().find(|r| r.path.ends_with("/chat.postMessage")).expect("a post");
    assert_eq!(post_request.header("authorization"), Some(format!("Bearer {BOT}").as_str()));
    assert_eq!(post_request.json()["unfurl_links"], false);

    // A frame that is not JSON and an event type nobody knows are passed over; the connection is kept.
    double.send_raw("{not json");
    double.deliver(json!({"type": "reaction_added", "user": ANN, "reaction": "tada"}));
    double.user_sends(DM, ANN, "a long answer please", false, None);
    answered(&double, DM, 4, "the chunked answer").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let chunks: Vec<String> = texts(&double, DM).into_iter().skip(1).collect();
    assert!(chunks.iter().all(|chunk| chunk.chars().count() <= 300), "{chunks:?}");
    let sentences: usize = chunks.iter().map(|chunk| chunk.matches("must be cut.").count()).sum();
    assert_eq!(sentences, 18, "every sentence once: {chunks:?}");
    assert_eq!(double.stats().connections, 1, "the bad frames cost no reconnect");

    // Channels are mention-gated; `message` + `app_mention` of one message are answered once; a thread reply
    // stays in its thread; a channel not in the map is not answered.
    double.user_sends(GENERAL, ANN, "hello everyone", false, None);
    double.user_sends(RANDOM, ANN, "over here", true, None);
    let (_, root) = double.user_sends(GENERAL, ANN, "what is up", true, None);
    answered(&double, GENERAL, 1, "the answer to the mention").await;
    double.user_sends(GENERAL, ANN, "and in the thread?", true, Some(&root));
    answered(&double, GENERAL, 2, "the answer in the thread").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let general = double.bot_messages(GENERAL);
    assert_eq!(general.len(), 2, "each mention answered once, the plain message not at all: {general:?}");
    assert_eq!(general[0], ("echo: UANN00001: what is up".to_owned(), None));
    assert_eq!(general[1], ("echo: UANN00001: and in the thread?".to_owned(), Some(root.clone())));
    assert!(texts(&double, RANDOM).is_empty(), "a channel not in the map is not answered");

    // The platform's moods: 429 + Retry-After, a 500, an answer lost after the message was posted (looked for in
    // the history before a resend, so not shown twice).
    let base = texts(&double, DM).len();
    double.rate_limit_posts(1, 1);
    double.user_sends(DM, ANN, "after a rate limit", false, None);
    double.fail_posts(1, 500);
    double.user_sends(DM, ANN, "after a 500", false, None);
    answered(&double, DM, base + 2, "the answers after the 429 and the 500").await;
    double.lose_next_answer();
    double.user_sends(DM, ANN, "after a lost answer", false, None);
    answered(&double, DM, base + 3, "the answer whose reply was lost").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        texts(&double, DM)[base..].to_vec(),
        vec!["echo: after a rate limit", "echo: after a 500", "echo: after a lost answer"],
        "each answered once, in order"
    );
    assert_eq!(double.stats().rate_limited, 1);
    assert!(
        double.requests().iter().any(|r| r.path.contains("/conversations.history?")),
        "the lost chunk was looked for"
    );

    // A refresh (`disconnect`) and a dropped connection: what is sent meanwhile is delivered again on the next
    // connection until acknowledged, and answered once.
    double.request_refresh();
    eventually(Duration::from_secs(30), "a new connection after the refresh", || async {
        double.stats().connections >= 2 && double.connected()
    })
    .await;
    double.drop_connection();
    for n in 0..3 {
        double.user_sends(DM, ANN, &format!("while dropped {n}"), false, None);
    }
    answered(&double, DM, base + 6, "the answers after the reconnect").await;
    assert!(double.stats().redelivered >= 3, "{:?}", double.stats());

    // HTTP mode: the URL check, a signed event answered, refusals for forged, stale, replayed, unsigned and
    // oversized requests, each audited; Slack's retry of an event is not answered twice.
    let url = format!("http://127.0.0.1:{port}/slack/events");
    let challenge = json!({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"});
    let (status, body) = post(&url, challenge.to_string().as_bytes(), now(), None).await;
    assert_eq!((status, body["challenge"].as_str()), (200, challenge["challenge"].as_str()));
    double.add_channel("DHTTP0001", "im");
    let event = double.http_event("DHTTP0001", "UBOB00001", "over http");
    let event = serde_json::to_vec(&event).expect("event");
    assert_eq!(post(&url, &event, now(), None).await.0, 200);
    answered(&double, "DHTTP0001", 1, "the answer to the HTTP event").await;
    let retried = post(&url, &event, now() - 1, None).await;
    assert_eq!(retried.0, 200, "a retry is accepted…");
    let forged =
        post(&url, &event, now(), Some("v0=0000000000000000000000000000000000000000000000000000000000000000")).await;
    assert_eq!(forged.0, 401);
    let stale = post(&url, &event, now() - 600, None).await;
    assert_eq!((stale.0, stale.1["error"].as_str()), (401, Some("timestamp outside the 5-minute window")));
    let replay_at = now() - 2;
    assert_eq!(post(&url, &event, replay_at, None).await.0, 200);
    let replayed = post(&url, &event, replay_at, None).await;
    assert_eq!((replayed.0, replayed.1["error"].as_str()), (401, Some("replayed signature")));
    let unsigned = reqwest::Client::new().post(&url).body(event.clone()).send().await.expect("post");
    assert_eq!(unsigned.status().as_u16(), 401);
    let huge = vec![b' '; 2 << 20];
    assert_eq!(post(&url, &huge, now(), None).await.0, 413);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(texts(&double, "DHTTP0001"), vec!["echo: over http"], "…and not answered twice");

    // The probe shows who the bot is, and says so when Slack does not know a token.
    let probes = common::probes(&env).await;
    let probe_of = |account: &str| common::probe_of(&probes, "slack", account);
    let probe = probe_of("default");
    assert_eq!(probe["ok"], true, "{probe}");
    assert!(probe["detail"].as_str().unwrap_or_default().contains("UBOTCLAW1"), "{probe}");
    let stale = probe_of("stale");
    assert_eq!(stale["ok"], false, "{stale}");
    assert!(stale["detail"].as_str().unwrap_or_default().contains("invalid_auth"), "{stale}");

    // The compliance harness: the guarantees every channel gives, checked the same way on each platform.
    let conversation = Conversation { double: &double, channel: DM };
    let gateway = common::compliance(&env, port, gateway, &conversation).await;

    // Killed: what is sent while it is down is delivered again once it reconnects (not acknowledged before), each
    // answered once, in order.
    gateway.kill();
    let before = texts(&double, DM).len();
    for n in 0..30 {
        double.user_sends(DM, ANN, &format!("while down {n}"), false, None);
    }
    let gateway = GatewayProcess::start(&env, port).await;
    eventually(Duration::from_secs(60), "the 30 answers after the restart", || async {
        double.bot_messages(DM).len() >= before + 30
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: Vec<String> = texts(&double, DM).into_iter().skip(before).collect();
    assert_eq!(after, (0..30).map(|n| format!("echo: while down {n}")).collect::<Vec<_>>());
    eventually(Duration::from_secs(10), "every envelope acknowledged", || async { double.unacknowledged() == 0 }).await;
    drop(gateway);
    let store = env.store().await;
    let thread_key = format!("agent:main:slack:channel:{}:thread:{root}", GENERAL.to_lowercase());
    assert!(store.active_session(&thread_key).await.expect("session").is_some(), "no session {thread_key}");
    assert!(store.dead_letters(10).await.expect("dead").is_empty());
    let audit = store.audit_events(200).await.expect("audit");
    let refusals = audit.iter().filter(|row| row.event.action == "channel.slack.rejected").count();
    assert!(refusals >= 3, "forged, stale and replayed requests are audited: {refusals}");
}
