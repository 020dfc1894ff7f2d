//! `openclaw.json` (JSON5 with `${VAR}` substitution, `$include`s refused outside the state dir, validation).
#![no_main]

use std::sync::OnceLock;

fn paths() -> &'static openclaw_config::Paths {
    static PATHS: OnceLock<openclaw_config::Paths> = OnceLock::new();
    PATHS.get_or_init(|| openclaw_config::Paths::for_state_dir(std::env::temp_dir().join("openclaw-fuzz-config")))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let env = |name: &str| (name == "FUZZ_VAR").then(|| "value".to_owned());
        let _ = openclaw_config::load_str(text, paths(), &env);
    }
});
