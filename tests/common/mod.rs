//! What the binary's end-to-end tests share: a fresh state dir per test, and the `openclaw` command pointed at it
//! with no provider keys or installer overrides leaking in from the developer's shell.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw");

pub struct Env {
    _dir: tempfile::TempDir,
    pub state: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        Env { _dir: dir, state }
    }

    /// `openclaw <args>` on this state dir; `MOCK_KEY` is the key the scripted model servers accept.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("OPENCLAW_STATE_DIR", &self.state)
            .env("HOME", self.state.parent().unwrap_or(Path::new("/tmp")))
            .env_remove("OPENCLAW_CONFIG_PATH")
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("OPENCLAW_PIP")
            .env("MOCK_KEY", "sk-test-123")
            .stdin(Stdio::null());
        command
    }
}
