//! A model's Markdown answer rendered and chunked for each platform dialect: every chunk within the limit.
#![no_main]

use openclaw_channels::{Capabilities, Dialect, format};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let limit = 16 + usize::from(limit) * 4;
    for dialect in [Dialect::TelegramHtml, Dialect::Plain, Dialect::Markdown] {
        let caps = Capabilities::text(Some(limit), limit, dialect);
        for chunk in format::render(text, &caps) {
            assert!(!chunk.trim().is_empty());
        }
    }
});
