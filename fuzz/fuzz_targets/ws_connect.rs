//! The first WebSocket frame of a connection, as `gateway::ws` reads it before authentication.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match openclaw_protocol::gateway::parse_connect(text) {
            Ok((request, params)) => {
                assert_eq!(request.method, "connect");
                assert!(params.min_protocol <= openclaw_protocol::gateway::PROTOCOL_VERSION);
            }
            Err(refusal) => assert!(!refusal.error.message.is_empty()),
        }
    }
});
