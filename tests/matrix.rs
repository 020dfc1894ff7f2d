//! Matrix end to end, through the `openclaw` binary, against a real Synapse homeserver (PyPI `matrix-synapse`,
//! started here on a free loopback port with users registered through its shared-secret admin API) and people
//! talking to the bot over the client-server API.

mod common;

use std::time::Duration;

use common::{Env, GatewayProcess, configure_channels, echo_model, eventually, free_port};
use openclaw_store::Store;
use openclaw_testkit::compliance;
use openclaw_testkit::proxy::{self, FaultProxy};
use openclaw_testkit::synapse::{Human, RoomMessage, Synapse};
use serde_json::json;

const BOT: &str = "@bot:localhost";

/// Synapse, or a loud skip (a failure under `CI=true`) when it is not installed.
fn synapse() -> Option<Synapse> {
    let synapse = Synapse::start();
    if synapse.is_none() {
        openclaw_testkit::counterpart_missing(
            "Synapse (PyPI matrix-synapse, in ~/.cache/openclaw-rs/synapse-venv)",
            "python3 -m venv ~/.cache/openclaw-rs/synapse-venv && ~/.cache/openclaw-rs/synapse-venv/bin/pip install matrix-synapse (.ci/run does)",
        );
    }
    synapse
}

async fn from_bot(human: &Human, room: &str) -> Vec<RoomMessage> {
    human.messages(room).await.into_iter().filter(|m| m.sender == BOT).collect()
}

/// Ann's direct room with the bot, for the compliance harness: Synapse behind a [`FaultProxy`] that adds the 429s,
/// lost answers and redelivered syncs Synapse does not make on demand (`textChunkLimit` 300).
struct Conversation<'a> {
    ann: &'a Human,
    room: &'a str,
    proxy: &'a FaultProxy,
}

impl compliance::Counterpart for Conversation<'_> {
    fn name(&self) -> &str {
        "matrix"
    }
    fn max_chunk(&self) -> usize {
        300
    }
    async fn send(&self, text: &str) {
        self.ann.send(self.room, text).await;
    }
    async fn answers(&self) -> Vec<String> {
        from_bot(self.ann, self.room).await.into_iter().map(|message| message.body).collect()
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
    fn send_attempts(&self) -> Vec<(std::time::Instant, u16)> {
        self.proxy.send_attempts()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_rooms_reach_the_agent_and_answers_come_back_as_html() {
    let Some(synapse) = synapse() else { return };
    let bot_token = synapse.register("bot", "bot-password-1234").await;
    let ann = synapse.human(&synapse.register("ann", "ann-password-1234").await);
    let bob = synapse.human(&synapse.register("bob", "bob-password-1234").await);
    let model = echo_model().await;
    let env = Env::new();
    // The bot reaches Synapse through the proxy, which adds faults only when the compliance harness asks.
    let proxy = FaultProxy::start(&synapse.url(), proxy::matrix(BOT)).await;
    configure_channels(
        &env,
        &model,
        // A second account whose token the homeserver does not know: its probe must say so.
        json!({"matrix": {"homeserver": proxy.url(), "autoJoin": "always",
                          "dm": {"policy": "open", "allowFrom": ["*"]}, "groupPolicy": "open",
                          "textChunkLimit": 300, "accounts": {"stale": {"accessToken": "syt_not_a_token_it_issued"}}}}),
    )
    .await;
    // `channels login matrix` reads the token from stdin: a malformed one changes nothing, a good one is saved.
    let login = |token: &str| common::login_from_stdin(&env, "matrix", token);
    let config_path = env.state.join("openclaw.json");
    let before = std::fs::read_to_string(&config_path).expect("config");
    let refused = login("not a token");
    assert!(!refused.status.success());
    assert!(common::text(&refused.stderr).contains("not a Matrix access token"), "{}", common::text(&refused.stderr));
    assert_eq!(std::fs::read_to_string(&config_path).expect("config"), before, "a refused token changes nothing");
    assert!(login(&bot_token).status.success());
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;

    // A direct room: the bot joins on the invite, and answers in HTML beside the text body.
    let dm = ann.create_room(&[BOT], true).await;
    eventually(Duration::from_secs(30), "the bot to join the direct room", || async {
        ann.joined(&dm).await.iter().any(|member| member == BOT)
    })
    .await;
    ann.send(&dm, "hello **there**").await;
    eventually(Duration::from_secs(30), "the answer in the direct room", || async {
        !from_bot(&ann, &dm).await.is_empty()
    })
    .await;
    let answer = &from_bot(&ann, &dm).await[0];
    assert_eq!(answer.body, "echo: hello **there**");
    assert_eq!(answer.content["format"], "org.matrix.custom.html");
    assert_eq!(answer.content["formatted_body"], "<p>echo: hello <strong>there</strong></p>");
    assert_eq!(answer.content["m.mentions"], json!({}), "an answer pings nobody");

    // An event of a type the bot does not know is passed over, and the connection keeps working.
    ann.send_event(&dm, "org.example.custom", json!({"anything": [1, 2]})).await;
    ann.send_content(&dm, json!({"msgtype": "org.example.unknown", "body": ""})).await;
    ann.send(&dm, "a long answer please").await;
    eventually(Duration::from_secs(30), "the chunked answer", || async { from_bot(&ann, &dm).await.len() >= 4 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let chunks: Vec<String> = from_bot(&ann, &dm).await.into_iter().skip(1).map(|m| m.body).collect();
    for chunk in &chunks {
        assert!(chunk.chars().count() <= 300, "a chunk over the limit: {}", chunk.chars().count());
    }
    let sentences: usize = chunks.iter().map(|c| c.matches("must be cut.").count()).sum();
    assert_eq!(sentences, 18, "every sentence arrives once: {chunks:?}");

    // A room of three: only a mention is answered, and an answer to a thread stays in it.
    let room = ann.create_room(&[BOT, "@bob:localhost"], false).await;
    bob.join(&room).await;
    eventually(Duration::from_secs(30), "the bot to join the room", || async { ann.joined(&room).await.len() == 3 })
        .await;
    ann.send(&room, "hello everyone").await;
    let root = ann
        .send_content(&room, json!({"msgtype": "m.text", "body": "bot: what is up", "m.mentions": {"user_ids": [BOT]}}))
        .await;
    eventually(Duration::from_secs(30), "the answer to the mention", || async {
        !from_bot(&ann, &room).await.is_empty()
    })
    .await;
    bob.send_content(
        &room,
        json!({"msgtype": "m.text", "body": format!("{BOT} and in the thread?"),
               "m.relates_to": {"rel_type": "m.thread", "event_id": root}}),
    )
    .await;
    eventually(Duration::from_secs(30), "the answer in the thread", || async {
        from_bot(&ann, &room).await.len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = from_bot(&ann, &room).await;
    assert_eq!(answers.len(), 2, "the message without a mention is not answered: {answers:?}");
    assert_eq!(answers[1].body, format!("echo: bob: {BOT} and in the thread?"));
    assert_eq!(answers[1].content["m.relates_to"]["rel_type"], "m.thread");
    assert_eq!(answers[1].content["m.relates_to"]["event_id"], root.as_str());

    // The conversations landed in their own sessions, and the probe shows who the bot is.
    let probes = common::probes(&env).await;
    let probe_of = |account: &str| common::probe_of(&probes, "matrix", account);
    let probe = probe_of("default");
    assert_eq!(probe["ok"], true, "{probe}");
    assert!(probe["detail"].as_str().unwrap_or_default().contains(BOT), "{probe}");
    let stale = probe_of("stale");
    assert_eq!(stale["ok"], false, "a token the homeserver did not issue: {stale}");
    assert!(stale["detail"].as_str().unwrap_or_default().contains("M_UNKNOWN_TOKEN"), "{stale}");

    // Messages sent while the gateway is down, more than one sync holds (its timeline keeps 50): after the restart
    // every one is answered once, in order (the gap is read from /messages back to the saved token).
    gateway.kill();
    let answered = from_bot(&ann, &dm).await.len();
    for n in 0..60 {
        ann.send(&dm, &format!("while down {n}")).await;
    }
    let gateway = GatewayProcess::start(&env, port).await;
    eventually(Duration::from_secs(90), "the 60 answers after the restart", || async {
        from_bot(&ann, &dm).await.len() >= answered + 60
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: Vec<String> = from_bot(&ann, &dm).await.into_iter().skip(answered).map(|m| m.body).collect();
    let want: Vec<String> = (0..60).map(|n| format!("echo: while down {n}")).collect();
    assert_eq!(after, want, "every message sent while down answered once, in order");

    // The compliance harness: the guarantees every channel gives, checked the same way on each platform.
    let conversation = Conversation { ann: &ann, room: &dm, proxy: &proxy };
    let gateway = common::compliance(&env, port, gateway, &conversation).await;
    proxy.assert_faults_met();
    drop(gateway);
    let store = env.store().await;
    let thread_key = format!("agent:main:matrix:group:{}:thread:{}", room.to_lowercase(), root.to_lowercase());
    assert!(store.active_session(&thread_key).await.expect("session").is_some(), "no session {thread_key}");
    assert!(store.dead_letters(10).await.expect("dead").is_empty());
}
