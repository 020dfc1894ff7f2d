//! Discord end to end, through the `openclaw` binary, against the Discord double in testkit (Discord has no
//! official emulator; the double follows its published REST description and Gateway op codes): people write in DMs,
//! guild channels and threads; the platform drops the connection mid-stream, asks for reconnects, forgets sessions,
//! rate-limits, fails and loses answers; the gateway is killed and restarted.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Env, GatewayProcess, configure_channels, eventually, free_port, last_user_text};
use openclaw_store::Store;
use openclaw_testkit::discord::DiscordDouble;
use openclaw_testkit::{Recorded, ScriptedServer, compliance, openai};
use serde_json::json;

const TOKEN: &str = "MTMxMjM0NTY3ODkwMTIzNDU2Nw.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789AB";
const OTHER_TOKEN: &str = "MTMxMjM0NTY3ODkwMTIzNDU2OA.GZyxwv.zyxwvutsrqponmlkjihgfedcba9876543210ZY";
const ANN: (&str, &str) = ("4200000000000000042", "ann");
const GUILD: &str = "1000000000000000001";
const GENERAL: &str = "2000000000000000001";
const RANDOM: &str = "2000000000000000002";
const THREAD: &str = "3000000000000000001";

async fn echo_model() -> ScriptedServer {
    let model = ScriptedServer::start().await;
    model.set_responder(Arc::new(|request: &Recorded| {
        let asked = last_user_text(request);
        if asked.contains("long answer") {
            let paragraph = "This sentence is part of a long answer that must be cut. ".repeat(40);
            return openai::text(&format!("{p}\n\n{p}\n\n{p}", p = paragraph.trim()));
        }
        if asked.contains("many lines") {
            let lines: Vec<String> = (1..=40).map(|n| format!("line {n}")).collect();
            return openai::text(&lines.join("\n"));
        }
        openai::text(&format!("echo: {asked}"))
    }));
    model
}

fn contents(double: &DiscordDouble, channel: &str) -> Vec<String> {
    double.bot_messages(channel).iter().map(|m| m["content"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn answered(double: &DiscordDouble, channel: &str, count: usize, what: &str) {
    eventually(Duration::from_secs(30), what, || async { double.bot_messages(channel).len() >= count }).await;
}

async fn connected(double: &DiscordDouble) {
    eventually(Duration::from_secs(30), "the bot to be connected to the Gateway", || async { double.connected() })
        .await;
}

/// Ann's DM with the bot, for the compliance harness.
struct Conversation<'a> {
    double: &'a DiscordDouble,
    channel: String,
}

impl compliance::Counterpart for Conversation<'_> {
    fn name(&self) -> &str {
        "discord"
    }
    fn max_chunk(&self) -> usize {
        openclaw_testkit::discord::MAX_CONTENT
    }
    async fn send(&self, text: &str) {
        self.double.user_sends(&self.channel, ANN, text, false);
    }
    async fn answers(&self) -> Vec<String> {
        contents(self.double, &self.channel)
    }
    fn redeliver_last(&self) {
        self.double.redeliver_last(&self.channel);
    }
    fn rate_limit_next(&self, seconds: f64) {
        self.double.rate_limit_sends(1, seconds, false);
    }
    fn lose_next_answer(&self) {
        self.double.lose_next_answer();
    }
    fn send_attempts(&self) -> Vec<(std::time::Instant, u16)> {
        self.double.send_attempts()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_dms_guilds_and_threads_reach_the_agent_through_drops_limits_and_a_crash() {
    let double = DiscordDouble::start(TOKEN, "claw").await;
    double.add_guild(GUILD, &[(GENERAL, "general"), (RANDOM, "random")]);
    // Not announced: the bot learns that it is a thread from GET /channels/{id}.
    double.add_thread(GENERAL, THREAD, false);
    let dm = double.dm_channel(ANN.0);
    let model = echo_model().await;
    let env = Env::new();
    configure_channels(
        &env,
        &model,
        json!({"discord": {"apiBaseUrl": double.api_base(), "dmPolicy": "open", "allowFrom": ["*"],
                           "guilds": {GUILD: {"channels": {"general": {}}}},
                           // A second bot whose token Discord does not know: its probe must say so.
                           "accounts": {"stale": {"token": OTHER_TOKEN}}}}),
    )
    .await;
    // `channels login discord` reads the token from stdin: a malformed one changes nothing, a good one is saved.
    let login = |token: &str| common::login_from_stdin(&env, "discord", token);
    let config_path = env.state.join("openclaw.json");
    let before = std::fs::read_to_string(&config_path).expect("config");
    let refused = login("not-a-discord-token");
    assert!(!refused.status.success());
    assert!(common::text(&refused.stderr).contains("not a Discord bot token"), "{}", common::text(&refused.stderr));
    assert_eq!(std::fs::read_to_string(&config_path).expect("config"), before, "a refused token changes nothing");
    assert!(login(TOKEN).status.success());
    let port = free_port();
    let gateway = GatewayProcess::start(&env, port).await;
    connected(&double).await;

    // A DM: answered in Markdown, with a nonce, no mentions allowed, the bot's token as `Bot`.
    double.user_sends(&dm, ANN, "hello **there**", false);
    answered(&double, &dm, 1, "the answer to the DM").await;
    assert_eq!(contents(&double, &dm), vec!["echo: hello **there**"]);
    let sends: Vec<Recorded> =
        double.requests().into_iter().filter(|r| r.method == "POST" && r.path.ends_with("/messages")).collect();
    let body = sends[0].json();
    assert_eq!(body["allowed_mentions"], json!({"parse": [], "replied_user": false}), "an answer pings nobody");
    assert_eq!(body["enforce_nonce"], true);
    assert!(body["nonce"].as_str().is_some_and(|nonce| !nonce.is_empty() && nonce.len() <= 25), "{body}");
    assert_eq!(sends[0].header("authorization"), Some(format!("Bot {TOKEN}").as_str()));

    // A malformed payload and an event type nobody knows are passed over; the connection is kept.
    double.send_raw("{this is not json");
    double.dispatch("SOMETHING_NEW", json!({"x": 1}));
    double.user_sends(&dm, ANN, "many lines please", false);
    answered(&double, &dm, 4, "the answer in pieces").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pieces: Vec<String> = contents(&double, &dm).into_iter().skip(1).collect();
    assert_eq!(pieces.len(), 3, "40 lines in pieces of at most 17: {pieces:?}");
    assert!(pieces.iter().all(|piece| piece.lines().count() <= 17 && piece.chars().count() <= 2000));
    let lines: Vec<String> = pieces.iter().flat_map(|piece| piece.lines().map(str::to_owned)).collect();
    assert_eq!(lines, (1..=40).map(|n| format!("line {n}")).collect::<Vec<_>>(), "every line once, in order");
    assert_eq!((double.stats().identifies, double.stats().resumes), (1, 0), "the bad frames cost no reconnect");

    // Guild channels are mention-gated; a channel the guild's map does not list is not answered; a thread under a
    // listed channel is, in the thread.
    double.user_sends(GENERAL, ANN, "hello everyone", false);
    double.user_sends(RANDOM, ANN, "over here", true);
    double.user_sends(GENERAL, ANN, "what is up", true);
    answered(&double, GENERAL, 1, "the answer to the mention").await;
    double.user_sends(THREAD, ANN, "and in the thread?", true);
    answered(&double, THREAD, 1, "the answer in the thread").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        contents(&double, GENERAL),
        vec!["echo: ann: what is up"],
        "only the mention is answered (group messages name their sender)"
    );
    assert!(contents(&double, RANDOM).is_empty(), "a channel the guild's map does not list is not answered");
    assert_eq!(contents(&double, THREAD), vec!["echo: ann: and in the thread?"]);

    // The platform's moods: a 429 with retry_after, a 5xx, an answer lost after the message was created (looked
    // for before it is resent; a resend would carry the same nonce, which Discord answers with the first message).
    double.rate_limit_sends(2, 0.3, false);
    double.user_sends(&dm, ANN, "after a rate limit", false);
    answered(&double, &dm, 5, "the answer after the 429s").await;
    double.fail_sends(1, 500);
    double.user_sends(&dm, ANN, "after a 500", false);
    answered(&double, &dm, 6, "the answer after the 500").await;
    double.lose_next_answer();
    double.user_sends(&dm, ANN, "after a lost answer", false);
    answered(&double, &dm, 7, "the answer whose reply was lost").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = double.stats();
    assert_eq!(stats.rate_limited, 2);
    // The chunk whose answer was lost is looked for among the bot's messages before any resend, and found.
    let looked =
        double.requests().iter().any(|r| r.method == "GET" && r.path.contains(&format!("/channels/{dm}/messages?")));
    assert!(looked, "the uncertain chunk was looked for");
    assert_eq!(stats.nonce_repeats, 0, "found, so not sent again: {stats:?}");
    assert_eq!(
        contents(&double, &dm)[4..].to_vec(),
        vec!["echo: after a rate limit", "echo: after a 500", "echo: after a lost answer"],
        "each answered once"
    );

    // A connection dropped mid-stream: what is sent meanwhile is replayed on RESUME, each answered once, in order.
    double.drop_connection();
    for n in 0..3 {
        double.user_sends(&dm, ANN, &format!("while dropped {n}"), false);
    }
    answered(&double, &dm, 10, "the answers after the resume").await;
    // RECONNECT (op 7) resumes too.
    double.request_reconnect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    connected(&double).await;
    double.user_sends(&dm, ANN, "after a reconnect", false);
    answered(&double, &dm, 11, "the answer after op 7").await;
    let stats = double.stats();
    assert!(stats.resumes >= 2, "{stats:?}");
    assert_eq!(stats.identifies, 1, "resumed, not identified anew: {stats:?}");
    // A session Discord forgot: RESUME gets INVALID_SESSION, and the bot identifies anew.
    double.forget_sessions();
    double.drop_connection();
    eventually(Duration::from_secs(30), "a new IDENTIFY", || async { double.stats().identifies == 2 }).await;
    connected(&double).await;
    double.user_sends(&dm, ANN, "after a new session", false);
    answered(&double, &dm, 12, "the answer in the new session").await;
    // Heartbeats that are never acknowledged: the bot takes the connection for dead and resumes.
    double.set_heartbeat_interval(300);
    double.set_ack_heartbeats(false);
    double.drop_connection();
    let resumes = double.stats().resumes;
    eventually(Duration::from_secs(30), "a resume after unanswered heartbeats", || async {
        double.stats().resumes >= resumes + 2
    })
    .await;
    double.set_ack_heartbeats(true);
    connected(&double).await;
    double.user_sends(&dm, ANN, "after a zombie connection", false);
    answered(&double, &dm, 13, "the answer after the zombie connection").await;

    // The probe shows who the bot is, and says so when Discord does not know a token.
    let probes = common::probes(&env).await;
    let probe_of = |account: &str| common::probe_of(&probes, "discord", account);
    let probe = probe_of("default");
    assert_eq!(probe["ok"], true, "{probe}");
    assert!(probe["detail"].as_str().unwrap_or_default().contains("claw"), "{probe}");
    let stale = probe_of("stale");
    assert_eq!(stale["ok"], false, "{stale}");
    assert!(stale["detail"].as_str().unwrap_or_default().contains("401"), "{stale}");

    // The compliance harness: the guarantees every channel gives, checked the same way on each platform.
    let conversation = Conversation { double: &double, channel: dm.clone() };
    let gateway = common::compliance(&env, port, gateway, &conversation).await;

    // Killed: the messages sent while it is down are replayed when the saved session is resumed after the restart,
    // each answered once, in order; nothing answered before is answered again.
    gateway.kill();
    let before = contents(&double, &dm).len();
    for n in 0..30 {
        double.user_sends(&dm, ANN, &format!("while down {n}"), false);
    }
    let gateway = GatewayProcess::start(&env, port).await;
    eventually(Duration::from_secs(60), "the 30 answers after the restart", || async {
        double.bot_messages(&dm).len() >= before + 30
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after: Vec<String> = contents(&double, &dm).into_iter().skip(before).collect();
    assert_eq!(after, (0..30).map(|n| format!("echo: while down {n}")).collect::<Vec<_>>());
    assert_eq!(double.stats().identifies, 2, "the restart resumed the saved session");
    // A process that resumed (no READY) still knows who the bot is: a mention in a guild channel is one.
    double.user_sends(GENERAL, ANN, "after the restart", true);
    answered(&double, GENERAL, 2, "the answer to a mention after a resume").await;
    assert_eq!(contents(&double, GENERAL)[1], "echo: ann: after the restart");
    drop(gateway);
    let store = env.store().await;
    let thread_key = format!("agent:main:discord:channel:{GENERAL}:thread:{THREAD}");
    assert!(store.active_session(&thread_key).await.expect("session").is_some(), "no session {thread_key}");
    assert!(store.dead_letters(10).await.expect("dead").is_empty());
}
