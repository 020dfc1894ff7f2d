//! Unit tests of the Slack component: event parsing, mrkdwn, signatures, targets and the config checks.

use super::normalize::{Skipped, View};
use super::*;
use crate::PeerKind;

const ME: &str = "UBOT0001";

fn view() -> View<'static> {
    View { account: "default", user_id: ME, bot_id: "BBOT0001", quote: false, quote_all: false, allow_bots: false }
}

fn event(kind: &str, channel: &str, channel_type: &str, text: &str) -> Value {
    json!({"type": kind, "channel": channel, "channel_type": channel_type, "user": "UANN0001", "text": text,
           "ts": "1765100000.000100"})
}

#[test]
fn events_become_inbound_with_mentions_threads_and_one_id_per_message() {
    let dm = parse_event(&event("message", "D0001", "im", "hello &amp; welcome"), &view()).expect("a DM");
    assert_eq!((dm.peer.kind, dm.peer.id.as_str()), (PeerKind::Direct, "UANN0001"));
    assert_eq!(dm.text, "hello & welcome", "Slack's escapes are undone");
    assert_eq!(dm.route["channel"], "D0001");
    assert_eq!(dm.timestamp_ms, 1_765_100_000_000);
    let said = format!("<@{ME}> what is up");
    let in_channel = parse_event(&event("message", "C0001", "channel", &said), &view()).expect("channel");
    let mention = parse_event(&event("app_mention", "C0001", "", &said), &view()).expect("app_mention");
    assert_eq!(in_channel.peer.kind, PeerKind::Channel);
    assert!(in_channel.mentioned && mention.mentioned);
    assert_eq!(in_channel.text, "what is up");
    assert_eq!(in_channel.platform_id, mention.platform_id, "message and app_mention of one message are one");
    let mut reply = event("message", "C0001", "channel", "in the thread");
    reply["thread_ts"] = json!("1765000000.000001");
    let reply = parse_event(&reply, &view()).expect("thread reply");
    assert_eq!(reply.peer.thread.as_deref(), Some("thread:1765000000.000001"));
    assert_eq!(reply.route["threadTs"], "1765000000.000001", "the answer stays in the thread");
    let group = parse_event(&event("message", "G0001", "mpim", "hi"), &view()).expect("group DM");
    assert_eq!(group.peer.kind, PeerKind::Group);
}

#[test]
fn edits_own_messages_other_types_and_malformed_events_carry_nothing() {
    let mut edit = event("message", "C0001", "channel", "changed");
    edit["subtype"] = json!("message_changed");
    assert!(matches!(parse_event(&edit, &view()), Err(Skipped::Nothing(_))));
    let mut own = event("message", "D0001", "im", "mine");
    own["user"] = json!(ME);
    assert_eq!(parse_event(&own, &view()), Err(Skipped::Own));
    assert!(matches!(parse_event(&json!({"type": "reaction_added"}), &view()), Err(Skipped::OtherType(_))));
    assert_eq!(parse_event(&json!({"type": "message", "text": "no channel"}), &view()), Err(Skipped::Malformed));
    assert_eq!(parse_event(&json!([1, 2]), &view()), Err(Skipped::Malformed));
    let mut bot = event("message", "D0001", "im", "beep");
    bot["subtype"] = json!("bot_message");
    bot["bot_id"] = json!("BOTHER01");
    assert!(parse_event(&bot, &view()).is_err(), "other bots are not answered unless allowBots");
}

#[test]
fn markdown_becomes_mrkdwn_and_text_cannot_mention_or_link() {
    assert_eq!(to_mrkdwn("**bold** and *it* and ~~gone~~"), "*bold* and _it_ and ~gone~");
    assert_eq!(to_mrkdwn("see [the docs](https://example.org/a)"), "see <https://example.org/a|the docs>");
    assert_eq!(to_mrkdwn("# Title\n\ntext"), "*Title*\n\ntext");
    assert_eq!(to_mrkdwn("- one\n- two"), "• one\n• two");
    assert_eq!(to_mrkdwn("1. one\n2. two"), "1. one\n2. two");
    assert_eq!(to_mrkdwn("```\nlet a = 1 < 2;\n```"), "```\nlet a = 1 &lt; 2;\n```");
    assert_eq!(to_mrkdwn("ping <!channel> and <@U123>"), "ping &lt;!channel&gt; and &lt;@U123&gt;");
    assert_eq!(to_mrkdwn("`a & b`"), "`a &amp; b`");
}

#[test]
fn signatures_follow_slacks_recipe() {
    // Slack's documented example: signing secret, timestamp and body give this signature.
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        receive::signature(secret, "1531420618", body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
}

#[test]
fn operators_name_channels_and_users() {
    let (peer, route) = send::address("channel:C0123ABCD").expect("a channel");
    assert_eq!((peer.kind, route["channel"].as_str()), (PeerKind::Channel, Some("C0123ABCD")));
    let (peer, route) = send::address("<@U0123ABCD>").expect("a user");
    assert_eq!((peer.kind, route["channel"].as_str()), (PeerKind::Direct, Some("U0123ABCD")));
    assert!(send::address("#general").unwrap_err().contains("channel:<channel id"));
    assert!(send::address("user:ann").unwrap_err().contains("not a Slack id"));
}

fn build(section: Value) -> Result<Vec<Arc<dyn Channel>>, String> {
    let paths = openclaw_config::Paths::for_state_dir(std::env::temp_dir().join("openclaw-slack-config"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = json!({"channels": {"slack": section}}).to_string();
    let loaded = openclaw_config::load_str(&text, &paths, &|_| None).map_err(|e| e.to_string())?;
    let (built, errors) = crate::build_all(&loaded, &|_| None, &reqwest::Client::new());
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(built),
    }
}

#[test]
fn the_config_is_checked_with_the_fix() {
    let bot = "xoxb-1234-5678-abcdefgh";
    let app = "xapp-1-A111-222-abcdef";
    let refused = [
        (json!({}), "channels.slack.botToken"),
        (json!({"botToken": "xoxp-1234-5678-abcd"}), "channels.slack.botToken"),
        (json!({"botToken": bot}), "channels.slack.appToken"),
        (json!({"botToken": bot, "appToken": "xoxb-1234-5678-abcdefgh"}), "channels.slack.appToken"),
        (json!({"botToken": bot, "mode": "http"}), "channels.slack.signingSecret"),
        (json!({"botToken": bot, "mode": "rtm"}), "channels.slack.mode"),
        (json!({"botToken": bot, "appToken": app, "groups": {"C1": {}}}), "channels.slack.groups"),
        (json!({"botToken": bot, "appToken": app, "replyToMode": "never"}), "channels.slack.replyToMode"),
        (json!({"botToken": bot, "appToken": app, "botTokken": "x"}), "channels.slack.botTokken"),
    ];
    for (section, path) in refused {
        let error = build(section.clone()).err().unwrap_or_default();
        assert!(error.starts_with(path), "{section}: {error}");
    }
    let built = build(json!({"botToken": bot, "appToken": app, "channels": {"C0001": {"requireMention": false}}}))
        .expect("valid");
    assert_eq!(built[0].mode(), "socket");
    let quiet = parse_event(&event("message", "C0001", "channel", "no mention"), &view()).expect("message");
    assert_eq!(
        built[0].policy().decide(&quiet, false),
        crate::access::Decision::Allow,
        "the channel map is the groups"
    );
    let http = build(json!({"botToken": bot, "mode": "http", "signingSecret": "0123456789abcdef0123"})).expect("http");
    assert_eq!(http[0].mode(), "http");
}
