//! A SKILL.md: the frontmatter split from the body, its YAML, and the `metadata` JSON5 inside it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(front) = openclaw_skills::read_frontmatter(text)
    {
        // What loading a skill reads next.
        let _ = front.name.as_deref().map(openclaw_skills::valid_name);
    }
});
