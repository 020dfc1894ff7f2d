//! A generic webhook's inbound body (after its signature was checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(message) = openclaw_channels::webhook::parse_message(data) {
        assert!(!message.platform_id.is_empty());
        let _ = message.conversation();
    }
});
