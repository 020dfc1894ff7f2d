//! Unit tests of the Discord component: message parsing, guild rules as policy spaces, nonces, targets, close codes
//! and the config checks.

use super::normalize::{Skipped, View};
use super::*;
use crate::PeerKind;
use crate::access::Decision;

const ME: &str = "900000000000000001";

fn view<'a>(parent: Option<&'a str>, name: Option<&'a str>) -> View<'a> {
    View { account: "default", me: ME, parent, channel_name: name, quote: false, quote_all: false, allow_bots: false }
}

fn message(content: &str, guild: Option<&str>) -> Value {
    let mut d = json!({"id": "1312345678901234567", "channel_id": "555", "type": 0, "content": content,
                       "author": {"id": "42", "username": "ann", "global_name": "Ann"}, "mentions": []});
    if let Some(guild) = guild {
        d["guild_id"] = json!(guild);
    }
    d
}

#[test]
fn messages_become_inbound_with_mentions_threads_and_their_time() {
    let dm = parse_message(&message("hello", None), &view(None, None)).expect("a DM");
    assert_eq!((dm.peer.kind, dm.peer.id.as_str(), dm.text.as_str()), (PeerKind::Direct, "42", "hello"));
    assert_eq!(dm.route["channelId"], "555");
    // The snowflake's time: 1312345678901234567 >> 22 after 2015-01-01.
    assert_eq!(dm.timestamp_ms, (1_312_345_678_901_234_567_u64 >> 22) as i64 + 1_420_070_400_000);
    let mut mention = message(&format!("<@{ME}> what is up"), Some("77"));
    mention["mentions"] = json!([{"id": ME}]);
    let guild = parse_message(&mention, &view(None, Some("general"))).expect("a guild message");
    assert_eq!(guild.peer.kind, PeerKind::Channel);
    assert_eq!((guild.peer.space.as_deref(), guild.peer.title.as_deref()), (Some("77"), Some("general")));
    assert!(guild.mentioned);
    assert_eq!(guild.text, "what is up", "the bot's mention is taken out of the text");
    let in_thread = parse_message(&message("in a thread", Some("77")), &view(Some("444"), None)).expect("thread");
    assert_eq!((in_thread.peer.id.as_str(), in_thread.peer.thread.as_deref()), ("444", Some("thread:555")));
    assert_eq!(in_thread.route["channelId"], "555", "the answer goes to the thread itself");
    let mut file = message("", None);
    file["attachments"] =
        json!([{"url": "https://cdn.example/a.png", "filename": "a.png", "content_type": "image/png"}]);
    let file = parse_message(&file, &view(None, None)).expect("an attachment alone is a message");
    assert_eq!((file.media[0].kind.as_str(), file.media[0].reference.as_str()), ("photo", "https://cdn.example/a.png"));
    let mut reply = message("answering you", Some("77"));
    reply["referenced_message"] = json!({"author": {"id": ME}});
    assert!(parse_message(&reply, &view(None, None)).expect("reply").mentioned, "a reply to the bot counts");
}

#[test]
fn own_system_empty_and_malformed_messages_carry_nothing() {
    let mut own = message("mine", None);
    own["author"]["id"] = json!(ME);
    assert_eq!(parse_message(&own, &view(None, None)), Err(Skipped::Own));
    let mut join = message("", Some("77"));
    join["type"] = json!(7);
    assert!(matches!(parse_message(&join, &view(None, None)), Err(Skipped::Nothing(_))));
    assert!(matches!(parse_message(&message("  ", None), &view(None, None)), Err(Skipped::Nothing(_))));
    assert_eq!(parse_message(&json!({"content": "no ids"}), &view(None, None)), Err(Skipped::Malformed));
    assert_eq!(parse_message(&json!("text"), &view(None, None)), Err(Skipped::Malformed));
    let mut bot = message("beep", None);
    bot["author"]["bot"] = json!(true);
    assert!(parse_message(&bot, &view(None, None)).expect("a bot's message").sender.is_bot);
}

fn build(section: Value) -> Result<Vec<Arc<dyn Channel>>, String> {
    let paths = openclaw_config::Paths::for_state_dir(std::env::temp_dir().join("openclaw-discord-config"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = json!({"channels": {"discord": section}}).to_string();
    let loaded = openclaw_config::load_str(&text, &paths, &|_| None).map_err(|e| e.to_string())?;
    let (built, errors) = crate::build_all(&loaded, &|_| None, &reqwest::Client::new());
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(built),
    }
}

const TOKEN: &str = "MTMxMjM0NTY3ODkwMTIzNDU2Nw.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789AB";

#[test]
fn guilds_are_the_policy_spaces_and_their_channel_maps_are_allowlists() {
    let built = build(json!({"token": TOKEN, "guilds": {
        "77": {"requireMention": true, "channels": {"general": {"requireMention": false}, "help": {}}},
        "88": {}}}))
    .expect("valid");
    let policy = built[0].policy();
    let mut general = parse_message(&message("hi all", Some("77")), &view(None, Some("general"))).expect("message");
    assert_eq!(policy.decide(&general, false), Decision::Allow, "general needs no mention");
    general.peer.title = Some("help".to_owned());
    assert_eq!(policy.decide(&general, false), Decision::Ignore("no mention".to_owned()));
    general.peer.title = Some("random".to_owned());
    assert!(matches!(policy.decide(&general, false), Decision::Ignore(reason) if reason.contains("not listed")));
    let other = parse_message(&message("hi", Some("88")), &view(None, Some("x"))).expect("message");
    assert_eq!(policy.decide(&other, false), Decision::Ignore("no mention".to_owned()), "mention-gated by default");
    let unknown = parse_message(&message("hi", Some("99")), &view(None, None)).expect("message");
    assert!(matches!(policy.decide(&unknown, false), Decision::Ignore(reason) if reason.contains("not in guilds")));
}

#[test]
fn the_config_is_checked_with_the_fix() {
    let refused = [
        (json!({}), "channels.discord.token"),
        (json!({"token": "not-a-token"}), "channels.discord.token"),
        (json!({"token": TOKEN, "guilds": {"77": {"roles": ["1"]}}}), "channels.discord.guilds.77.roles"),
        (
            json!({"token": TOKEN, "guilds": {"77": {"channels": {"a": {"roles": ["1"]}}}}}),
            "channels.discord.guilds.77.channels.a.roles",
        ),
        (json!({"token": TOKEN, "groups": {"1": {}}}), "channels.discord.groups"),
        (json!({"token": TOKEN, "replyToMode": "sometimes"}), "channels.discord.replyToMode"),
        (json!({"token": TOKEN, "apiBaseUrl": "discord.com"}), "channels.discord.apiBaseUrl"),
        (json!({"token": TOKEN, "tokken": "x"}), "channels.discord.tokken"),
    ];
    for (section, path) in refused {
        let error = build(section.clone()).err().unwrap_or_default();
        assert!(error.starts_with(path), "{section}: {error}");
    }
    assert_eq!(build(json!({"token": format!("Bot {TOKEN}")})).expect("a Bot prefix is accepted").len(), 1);
    assert!(build(json!({"enabled": false})).expect("disabled").is_empty());
}

#[test]
fn nonces_fit_discord_and_differ_per_chunk() {
    let route = |reply_to: Option<&str>| send::Route {
        channel_id: Some("555".to_owned()),
        user_id: None,
        reply_to: reply_to.map(str::to_owned),
        quote: false,
        quote_all: false,
        nonce_base: Some("abcdef0123456789".to_owned()),
    };
    let long = route(Some("13123456789012345678"));
    for index in [0, 7, 123, 99_999] {
        assert!(send::nonce(&long, index).len() <= 25, "{}", send::nonce(&long, index));
    }
    assert_ne!(send::nonce(&long, 0), send::nonce(&long, 1));
    assert_eq!(send::nonce(&long, 0), send::nonce(&long, 0), "the same chunk gets the same nonce after a restart");
    assert_eq!(send::nonce(&route(None), 2), "abcdef0123456789.2");
}

#[test]
fn operators_name_channels_and_users() {
    let (peer, route) = send::address("channel:555").expect("a channel");
    assert_eq!((peer.kind, route["channelId"].as_str()), (PeerKind::Channel, Some("555")));
    let (peer, route) = send::address("<@!42>").expect("a user");
    assert_eq!((peer.kind, route["userId"].as_str()), (PeerKind::Direct, Some("42")));
    assert!(send::address("discord:user:42").is_ok());
    assert!(send::address("general").unwrap_err().contains("channel:<channel id>"));
    assert!(send::address("user:ann").unwrap_err().contains("digits"));
}

#[test]
fn close_codes_that_no_retry_mends_say_the_fix() {
    assert!(receive::fatal_close(4014).is_some_and(|fix| fix.contains("Message Content Intent")));
    assert!(receive::fatal_close(4004).is_some_and(|fix| fix.contains("token")));
    assert!(receive::fatal_close(4000).is_none());
    assert!(receive::fatal_close(1001).is_none());
}
