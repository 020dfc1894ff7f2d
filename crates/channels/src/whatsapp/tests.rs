//! Unit tests of the WhatsApp channel's parsing, markup, addressing, errors and configuration.

use super::send::GraphError;
use super::*;
use crate::host::ChannelEnv;

fn delivery(value: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [
        {"field": "messages", "value": value}]}]})
    .to_string()
    .into_bytes()
}

#[test]
fn deliveries_read_as_messages_and_statuses_for_this_number_only() {
    let body = delivery(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Ann"}, "wa_id": "15551234567"}],
        "messages": [
            {"from": "15551234567", "id": "wamid.A1", "timestamp": "1700000000", "type": "text",
             "text": {"body": "hello"}, "context": {"id": "wamid.B0"}},
            {"from": "15551234567", "id": "wamid.A2", "timestamp": "1700000001", "type": "image",
             "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "look"}},
            {"from": "15551234567", "id": "wamid.A3", "timestamp": "1700000002", "type": "reaction",
             "reaction": {"message_id": "wamid.B0", "emoji": "👍"}},
            {"from": "15551234567", "id": "wamid.A4", "timestamp": "1700000003", "type": "audio",
             "audio": {"id": "MEDIA2", "mime_type": "audio/ogg", "voice": true}},
            {"from": "not digits", "id": "wamid.A5", "type": "text", "text": {"body": "x"}},
        ],
        "statuses": [{"id": "wamid.S1", "status": "delivered", "recipient_id": "15551234567",
                      "biz_opaque_callback_data": "oc1:wamid.A0:00"},
                     {"id": "wamid.S2", "status": "failed", "recipient_id": "15551234567",
                      "errors": [{"code": 131047, "title": "Re-engagement message"}]}],
    }));
    let parsed = parse_delivery(&body, "default", "106540352242922").expect("reads");
    assert_eq!(parsed.messages.len(), 3, "{:?}", parsed.skipped);
    let first = &parsed.messages[0];
    assert_eq!(
        (first.text.as_str(), first.platform_id.as_str(), first.sender.id.as_str()),
        ("hello", "wamid.A1", "15551234567")
    );
    assert_eq!(first.sender.name.as_deref(), Some("Ann"));
    assert_eq!(first.reply_to.as_deref(), Some("wamid.B0"));
    assert_eq!(first.timestamp_ms, 1_700_000_000_000);
    assert_eq!(first.route, json!({"to": "15551234567", "replyTo": "wamid.A1"}));
    assert_eq!(parsed.messages[1].text, "look");
    assert_eq!(parsed.messages[1].media[0].kind, "photo");
    assert_eq!(parsed.messages[2].media[0].kind, "voice");
    assert_eq!(parsed.skipped, vec!["reaction".to_owned(), "text with a malformed id or sender".to_owned()]);
    assert_eq!(parsed.statuses[0].callback.as_deref(), Some("oc1:wamid.A0:00"));
    assert_eq!(parsed.statuses[1].error.as_deref(), Some("131047 Re-engagement message"));

    // Another number of the same app, another object, and bodies that are not deliveries.
    assert!(parse_delivery(&body, "default", "999").expect("reads").messages.is_empty());
    assert!(parse_delivery(br#"{"object": "page", "entry": []}"#, "default", "1").is_err());
    assert!(parse_delivery(b"not json", "default", "1").expect_err("not JSON").contains("not JSON"));
    assert!(parse_delivery(br#"{"object": "whatsapp_business_account"}"#, "default", "1").is_err());
}

#[test]
fn markdown_becomes_whatsapp_markup() {
    assert_eq!(to_whatsapp("**bold** and *it* and ~~gone~~"), "*bold* and _it_ and ~gone~");
    assert_eq!(to_whatsapp("see [the docs](https://example.org/a)"), "see the docs (https://example.org/a)");
    assert_eq!(to_whatsapp("<https://example.org>"), "https://example.org");
    assert_eq!(to_whatsapp("# Title\n\n- one\n- two"), "*Title*\n\n• one\n• two");
    assert_eq!(to_whatsapp("```\nlet a = 1 < 2;\n```"), "```\nlet a = 1 < 2;\n```");
}

#[test]
fn numbers_are_addressed_by_their_digits() {
    let (peer, route) = send::address("+1 (555) 123-4567").expect("a number");
    assert_eq!(peer.id, "15551234567");
    assert_eq!(route["to"], "15551234567");
    assert!(route["outboundId"].as_str().is_some_and(|id| id.starts_with("out-")));
    assert_eq!(send::address("whatsapp:15551234567").expect("prefixed").0.id, "15551234567");
    assert!(send::address("12345").is_err(), "too short");
    assert!(send::address("ann@example.org").expect_err("not a number").contains("not a WhatsApp number"));
}

#[test]
fn graph_errors_become_waits_retries_or_dead_letters() {
    let api = |status, code| SendError::from(GraphError::Api { status, code, message: "m".to_owned() });
    assert_eq!(api(400, 130429), SendError::RateLimited { retry_after_ms: 2_000 });
    assert_eq!(api(400, 131056), SendError::RateLimited { retry_after_ms: 6_000 });
    assert_eq!(api(400, 80007), SendError::RateLimited { retry_after_ms: 60_000 });
    assert!(matches!(api(401, 190), SendError::Permanent(message) if message.contains("access token")));
    assert!(matches!(api(500, 131000), SendError::Transient(_)));
    assert!(matches!(api(503, 0), SendError::Transient(_)));
    assert!(matches!(api(400, 131026), SendError::Permanent(_)));
    assert!(matches!(SendError::from(GraphError::Network("cut".to_owned())), SendError::Transient(_)));
}

#[test]
fn signatures_are_meta_s_hmac_of_the_body() {
    // The published HMAC-SHA256 test value (key "key").
    assert_eq!(
        signature("key", b"The quick brown fox jumps over the lazy dog"),
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

fn built(section: Value) -> Result<Vec<Arc<dyn Channel>>, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = openclaw_config::Paths::for_state_dir(dir.path().to_owned());
    let config = json!({"channels": {"whatsapp": section}});
    let loaded = openclaw_config::load_str(&config.to_string(), &paths, &|_| None).map_err(|e| e.to_string())?;
    let env = ChannelEnv {
        loaded: &loaded,
        section: &loaded.config.channels["whatsapp"],
        env: &|_| None,
        http: reqwest::Client::new(),
        owners: Vec::new(),
    };
    config::build(&env).map_err(|error| error.to_string())
}

#[test]
fn the_configuration_is_checked_with_fixes() {
    let good = json!({"provider": "cloud", "phoneNumberId": "106540352242922",
                      "accessToken": "EAAGm0PX4ZCpsBAKZAZBgoodtoken", "appSecret": "0123456789abcdef0123456789abcdef",
                      "verifyToken": "a-verify-token", "allowFrom": ["+1 555 123 4567"]});
    let channels = built(good.clone()).expect("builds");
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].mode(), "cloud webhook /channels/whatsapp/webhook");
    let refused = |change: Value, says: &str| {
        let mut section = good.clone();
        for (key, value) in change.as_object().expect("object") {
            if value.is_null() {
                section.as_object_mut().expect("object").remove(key);
            } else {
                section[key] = value.clone();
            }
        }
        let error = built(section).err().unwrap_or_default();
        assert!(error.contains(says), "{change}: {error}");
    };
    refused(json!({"provider": null}), "WhatsApp Web (linking a phone by QR code");
    refused(json!({"provider": "carrier"}), "\"carrier\" is not a WhatsApp provider");
    refused(json!({"phoneNumberId": "+15550001111"}), "channels.whatsapp.phoneNumberId: not a phone number id");
    refused(
        json!({"accessToken": "short"}),
        "channels.whatsapp.accessToken: that is not a WhatsApp Cloud API access token",
    );
    refused(json!({"appSecret": null}), "channels.whatsapp.appSecret: not set (fix:");
    refused(json!({"verifyToken": "abc"}), "channels.whatsapp.verifyToken: too short");
    refused(json!({"groups": {"*": {}}}), "one-to-one chats only");
    refused(json!({"apiVersion": "21"}), "is not a Graph API version");
    refused(json!({"templates": {"reengagement": {"name": " "}}}), "templates.reengagement.name: empty");
}
