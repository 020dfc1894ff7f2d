//! Loader tests: defaults, syntax errors with positions, unknown vs reference keys, types, substitution, agents.

use super::*;

fn paths() -> Paths {
    Paths::for_state_dir(PathBuf::from("/state"))
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn issues_of(text: &str) -> Vec<Issue> {
    match load_str(text, &paths(), &no_env) {
        Err(ConfigError::Invalid { issues, .. }) => issues,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn empty_config_is_valid_with_reference_defaults() {
    let loaded = load_str("{}", &paths(), &no_env).unwrap();
    assert_eq!(loaded.config.gateway.port, 18789);
    assert_eq!(loaded.config.session.dm_scope, "main");
    assert_eq!(loaded.config.agents.defaults.bootstrap_max_chars, 20_000);
    let main = loaded.default_agent();
    assert_eq!(main.id, "main");
    assert_eq!(main.workspace, PathBuf::from("/state/workspace"));
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let err = load_str("{\n  gateway: {\n    port: 18789,,\n  }\n}", &paths(), &no_env).unwrap_err();
    match err {
        ConfigError::Syntax { line, column, .. } => {
            assert_eq!(line, 3);
            assert!(column > 1, "column {column}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn unknown_keys_are_errors_with_suggestions() {
    let issues = issues_of(r#"{ gateway: { prot: 1 } }"#);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].path, "gateway.prot");
    assert!(issues[0].hint.as_deref().unwrap_or_default().contains("\"port\""), "{:?}", issues[0]);
    let issues = issues_of(r#"{ nonsense: true }"#);
    assert_eq!(issues[0].path, "nonsense");
}

#[test]
fn reference_keys_not_implemented_are_warnings() {
    let loaded =
        load_str(r#"{ gateway: { controlUi: { enabled: true } }, cron: { enabled: false } }"#, &paths(), &no_env)
            .unwrap();
    let paths: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    assert!(paths.contains(&"gateway.controlUi.enabled"), "{paths:?}");
    assert!(paths.contains(&"cron"), "{paths:?}");
}

#[test]
fn wrong_types_name_the_path() {
    let issues = issues_of(r#"{ gateway: { port: "high" } }"#);
    assert_eq!(issues[0].path, "gateway.port");
    assert!(issues[0].message.contains("invalid type"), "{}", issues[0].message);
    let issues = issues_of(r#"{ agents: { defaults: { model: "gpt-4o" } } }"#);
    assert_eq!(issues[0].path, "agents.defaults.model");
    assert!(issues[0].hint.as_deref().unwrap_or_default().contains("provider/model"));
}

#[test]
fn env_substitution_and_missing_vars() {
    let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-test".to_owned());
    let text = r#"{ models: { providers: { openai: { apiKey: "${OPENAI_API_KEY}", baseUrl: "${BASE}/v1" } } } }"#;
    let loaded = load_str(text, &paths(), &env).unwrap();
    let provider = &loaded.config.models.providers["openai"];
    assert_eq!(provider.api_key, Some(Secret::Plain("sk-test".to_owned())));
    assert_eq!(provider.base_url.as_deref(), Some("${BASE}/v1"));
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].message.contains("BASE"));
    // env.vars feed substitution too.
    let loaded =
        load_str(r#"{ env: { vars: { BASE: "http://x" } }, gateway: { customBindHost: "${BASE}" } }"#, &paths(), &env)
            .unwrap();
    assert_eq!(loaded.config.gateway.custom_bind_host.as_deref(), Some("http://x"));
}

#[test]
fn legacy_list_and_entries_resolve_with_default() {
    let text = r#"{
      agents: {
        defaults: { model: { primary: "openai/gpt-4o", fallbacks: ["anthropic/claude-x"] } },
        entries: { ops: { name: "Ops" } },
        list: [ { id: "support", default: true, model: "ollama/llama3" } ],
      },
    }"#;
    let loaded = load_str(text, &paths(), &no_env).unwrap();
    let agents = loaded.agents();
    assert_eq!(agents[0].id, "support");
    assert!(agents[0].is_default);
    assert_eq!(agents[0].model.as_deref(), Some("ollama/llama3"));
    assert_eq!(agents[0].fallbacks, vec!["anthropic/claude-x".to_owned()]);
    assert_eq!(agents[0].workspace, PathBuf::from("/state/workspace-support"));
    let ops = loaded.agent("ops").unwrap();
    assert_eq!(ops.model.as_deref(), Some("openai/gpt-4o"));
}

#[test]
fn bad_enum_values_list_the_choices() {
    let issues = issues_of(r#"{ session: { dmScope: "per-user" } }"#);
    assert_eq!(issues[0].path, "session.dmScope");
    assert!(issues[0].hint.as_deref().unwrap_or_default().contains("per-channel-peer"));
}

#[test]
fn seed_agent_files_map_onto_agents() {
    let dir = tempfile::tempdir().unwrap();
    let agents_dir = dir.path().join("agents");
    std::fs::create_dir_all(&agents_dir).unwrap();
    std::fs::write(
        agents_dir.join("customer-support.json"),
        r#"{"id":"customer-support","name":"Customer Support Agent","model":"anthropic/claude-3-sonnet",
            "skills":["web_search","knowledge_base","escalation"],"channels":["whatsapp","discord"],
            "personality":{"tone":"professional","expertise":["product_support","technical_troubleshooting"]}}"#,
    )
    .unwrap();
    let paths = Paths::for_state_dir(dir.path().to_path_buf());
    let loaded = load(&paths, &no_env).unwrap();
    let agent = loaded.agent("customer-support").unwrap();
    assert_eq!(agent.name.as_deref(), Some("Customer Support Agent"));
    assert_eq!(agent.channels, vec!["discord".to_owned(), "whatsapp".to_owned()]);
    assert_eq!(agent.personality.as_ref().unwrap().tone.as_deref(), Some("professional"));

    std::fs::write(agents_dir.join("bad.json"), r#"{"id":"bad","persona":{}}"#).unwrap();
    match load(&paths, &no_env) {
        Err(ConfigError::Invalid { issues, .. }) => assert!(issues[0].path.contains("agents/bad.json")),
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn set_and_get_paths() {
    let mut raw = serde_json::json!({});
    set_path(&mut raw, "gateway.port", serde_json::json!(1234)).unwrap();
    assert_eq!(get_path(&raw, "gateway.port"), Some(&serde_json::json!(1234)));
    set_path(&mut raw, "gateway.port.x", serde_json::json!(1)).unwrap_err();
}

#[test]
fn system_agent_names_the_default() {
    let text = r#"{ agents: { ownership: "explicit", defaults: { systemAgent: { agentId: "work" } },
                  entries: { home: {}, work: {}, main: {} } } }"#;
    let loaded = load_str(text, &paths(), &no_env).unwrap();
    assert_eq!(loaded.default_agent().id, "work");
    let issues = issues_of(r#"{ agents: { ownership: "implicit" } }"#);
    assert_eq!(issues[0].path, "agents.ownership");
}

#[test]
fn secrets_resolve_from_text_env_and_files() {
    let env = |name: &str| (name == "SET").then(|| "v".to_owned());
    assert_eq!(Secret::Plain("x".into()).resolve(&env), Ok("x".into()));
    assert_eq!(Secret::Plain("${NOPE}".into()).resolve(&env), Err(SecretError::MissingEnv("NOPE".into())));
    let env_ref = |id: &str| Secret::Ref { source: "env".into(), provider: None, id: id.into() };
    assert_eq!(env_ref("SET").resolve(&env), Ok("v".into()));
    assert_eq!(env_ref("NOPE").resolve(&env), Err(SecretError::MissingEnv("NOPE".into())));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, " sk-file \n").unwrap();
    let file_ref = Secret::Ref { source: "file".into(), provider: None, id: file.display().to_string() };
    assert_eq!(file_ref.resolve(&env), Ok("sk-file".into()));
    let exec = Secret::Ref { source: "exec".into(), provider: None, id: "x".into() };
    assert!(matches!(exec.resolve(&env), Err(SecretError::UnsupportedSource(_))));
}

/// Finding 1 of the security review (defence in depth): an agent's commands may write its whole workspace, so a
/// workspace holding the state dir (its config, database and secrets) is refused.
#[test]
fn a_workspace_may_not_contain_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::for_state_dir(dir.path().join(".openclaw"));
    std::fs::create_dir_all(&paths.state_dir).unwrap();
    let home = dir.path().display().to_string();
    for workspace in [home.clone(), paths.state_dir.display().to_string(), "/".to_owned()] {
        let text = format!(r#"{{ agents: {{ defaults: {{ workspace: "{workspace}" }} }} }}"#);
        match load_text(&text, &paths, &no_env) {
            Err(ConfigError::Invalid { issues, .. }) => {
                assert!(issues.iter().any(|i| i.message.contains("contains the gateway's")), "{issues:?}")
            }
            other => panic!("{workspace}: expected a refusal, got {other:?}"),
        }
    }
    let fine = format!(r#"{{ agents: {{ defaults: {{ workspace: "{home}/work" }} }} }}"#);
    assert!(load_text(&fine, &paths, &no_env).is_ok());
    assert!(load_text("{}", &paths, &no_env).is_ok(), "the default <state dir>/workspace is fine");
}
