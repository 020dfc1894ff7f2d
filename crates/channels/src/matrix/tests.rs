//! Unit tests of the Matrix component: event parsing, HTML rendering, room addresses and the config checks.

use super::normalize::Skipped;
use super::*;
use crate::PeerKind;

#[test]
fn timeline_events_read_as_messages_and_the_rest_is_skipped() {
    let event =
        br#"{"type": "m.room.message", "event_id": "$e1", "sender": "@ann:hs", "origin_server_ts": 1700000000000,
        "content": {"msgtype": "m.text", "body": "hey @bot:hs", "m.mentions": {"user_ids": ["@bot:hs"]},
                    "m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}}"#;
    let message = parse_event(event, "@bot:hs", "!r:hs", false).expect("a message");
    assert_eq!((message.peer.kind, message.peer.id.as_str()), (PeerKind::Group, "!r:hs"));
    assert_eq!(message.peer.thread.as_deref(), Some("thread:$root"));
    assert!(message.mentioned);
    assert_eq!(message.platform_id, "$e1");
    let route = Route::read(&message.route).expect("route");
    assert_eq!((route.thread_root.as_deref(), route.in_reply_to.as_deref()), (Some("$root"), Some("$e1")));

    let direct = br#"{"type": "m.room.message", "event_id": "$e2", "sender": "@ann:hs",
        "content": {"msgtype": "m.text", "body": "> <@bot:hs> earlier\n\nthe answer", "m.relates_to": {"m.in_reply_to": {"event_id": "$e0"}}}}"#;
    let message = parse_event(direct, "@bot:hs", "!d:hs", true).expect("a message");
    assert_eq!((message.peer.kind, message.text.as_str()), (PeerKind::Direct, "the answer"), "the quote is dropped");
    assert_eq!(message.reply_to.as_deref(), Some("$e0"));

    let own = br#"{"type": "m.room.message", "event_id": "$e3", "sender": "@bot:hs", "content": {"msgtype": "m.text", "body": "x"}}"#;
    assert_eq!(parse_event(own, "@bot:hs", "!r:hs", false), Err(Skipped::Own));
    let unknown = br#"{"type": "org.example.custom", "event_id": "$e4", "sender": "@ann:hs", "content": {}}"#;
    assert_eq!(
        parse_event(unknown, "@bot:hs", "!r:hs", false),
        Err(Skipped::OtherType("org.example.custom".to_owned()))
    );
    let edit = br#"{"type": "m.room.message", "event_id": "$e5", "sender": "@ann:hs",
        "content": {"msgtype": "m.text", "body": "* x", "m.relates_to": {"rel_type": "m.replace", "event_id": "$e1"}}}"#;
    assert!(matches!(parse_event(edit, "@bot:hs", "!r:hs", false), Err(Skipped::Nothing(_))));
    let notice = br#"{"type": "m.room.message", "event_id": "$e6", "sender": "@other-bot:hs", "content": {"msgtype": "m.notice", "body": "x"}}"#;
    assert!(matches!(parse_event(notice, "@bot:hs", "!r:hs", false), Err(Skipped::Nothing(_))));
    for bad in [&b"not json"[..], br#"[]"#, br#"{"type": "m.room.message"}"#, br#"{"type": 5}"#] {
        assert_eq!(
            parse_event(bad, "@bot:hs", "!r:hs", false),
            Err(Skipped::Malformed),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn replies_are_html_and_model_html_stays_text() {
    assert_eq!(to_html("**bold** and `code`"), "<p><strong>bold</strong> and <code>code</code></p>");
    let html = to_html("hi <img src=x onerror=alert(1)> <script>x</script>");
    assert!(!html.contains("<img") && !html.contains("<script"), "{html}");
    assert!(html.contains("&lt;img"), "{html}");
}

#[test]
fn operators_name_rooms_by_id() {
    let (peer, route) = send::address("!abc:example.org").expect("a room");
    assert_eq!(peer.id, "!abc:example.org");
    let route = Route::read(&route).expect("route");
    assert!(route.outbound_id.is_some_and(|id| id.starts_with("out-")));
    assert!(send::address("matrix:!abc:example.org").is_ok());
    for bad in ["", "abc", "!abc", "!:x", "#room:example.org", "@ann:example.org", "!a b:x"] {
        assert!(send::address(bad).is_err(), "{bad:?} was accepted");
    }
    assert!(send::address("#room:example.org").unwrap_err().contains("alias"));
}

#[test]
fn the_config_is_checked_with_the_fix() {
    let paths = openclaw_config::Paths::for_state_dir(std::env::temp_dir().join("openclaw-matrix-config"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let build = |text: &str| {
        let loaded = openclaw_config::load_str(text, &paths, &|_| None).expect("config");
        crate::build_all(&loaded, &|_| None, &reqwest::Client::new())
    };
    let (built, errors) = build(
        r#"{"channels": {"matrix": {"homeserver": "http://127.0.0.1:8008", "accessToken": "syt_abcdefgh",
            "dm": {"policy": "open", "allowFrom": ["*"]}}}}"#,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(built[0].policy().dm, crate::access::DmPolicy::Open, "the reference's dm.policy is read");
    for (text, key) in [
        (r#"{"channels": {"matrix": {"accessToken": "syt_abcdefgh"}}}"#, "channels.matrix.homeserver"),
        (r#"{"channels": {"matrix": {"homeserver": "http://h"}}}"#, "channels.matrix.accessToken"),
        (
            r#"{"channels": {"matrix": {"homeserver": "http://h", "password": "pw-pw-pw-pw"}}}"#,
            "channels.matrix.userId",
        ),
        (
            r#"{"channels": {"matrix": {"homeserver": "http://h", "accessToken": "syt_abcdefgh", "encryption": true}}}"#,
            "channels.matrix.encryption",
        ),
        (
            r#"{"channels": {"matrix": {"homeserver": "http://h", "accessToken": "syt_abcdefgh", "autoJoin": "yes"}}}"#,
            "channels.matrix.autoJoin",
        ),
        (
            r#"{"channels": {"matrix": {"homeserver": "h", "accessToken": "syt_abcdefgh"}}}"#,
            "channels.matrix.homeserver",
        ),
    ] {
        let (_, errors) = build(text);
        assert!(errors.iter().any(|error| error.starts_with(key)), "{text}: {errors:?}");
    }
}
