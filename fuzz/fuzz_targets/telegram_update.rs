//! A Telegram update (`getUpdates` result or webhook body), normalised, then checked by the access policy.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(message) = openclaw_channels::telegram::parse_update(data, "fuzz_bot") {
        let _ = message.conversation();
        let _ = openclaw_channels::access::Policy::open().decide(&message, false);
    }
});
