//! Discovery, gating, the prompt index and install/remove on real folders (and a real git repository).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openclaw_config::SkillEntry;
use openclaw_skills::{GateEnv, Source, access, check, discover, install, prompt_section, remove, roots};
use serde_json::json;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/forecast");

fn write_skill(dir: &Path, name: &str, description: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("SKILL.md"), format!("---\nname: {name}\ndescription: {description}\n---\nBody\n"))
        .unwrap();
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn a_missing_binary_makes_a_skill_ineligible_until_it_exists() {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("ws");
    let state = root.path().join("state");
    install(FIXTURE, &workspace.join("skills"), None, false).unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let config = json!({});
    let entries = BTreeMap::new();
    let gate = GateEnv { path: Some(&path), env: &no_env, config: &config, entries: &entries };

    let catalog = discover(&roots(&workspace, Some(&state), None, false, &[]), 256 * 1024);
    assert!(catalog.problems.is_empty(), "{:?}", catalog.problems);
    let skill = catalog.get("forecast").unwrap();
    assert_eq!(skill.source, Source::Workspace);
    assert_eq!(skill.front.openclaw.emoji.as_deref(), Some("🌦️"));
    let status = check(skill, &gate);
    assert!(!status.eligible);
    assert_eq!(status.reasons, vec!["missing binary: forecast-cli (install it on PATH)"]);
    let eligible: Vec<_> = catalog.skills.iter().filter(|s| check(s, &gate).eligible).collect();
    assert_eq!(prompt_section(&eligible, 150, 30_000), "", "an ineligible skill is not offered");

    // Install the binary: the next discovery (every turn runs one) finds the skill eligible and in the index.
    let cli = bin.join("forecast-cli");
    std::fs::write(&cli, "#!/bin/sh\necho sunny\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();
    let catalog = discover(&roots(&workspace, Some(&state), None, false, &[]), 256 * 1024);
    let skill = catalog.get("forecast").unwrap();
    assert!(check(skill, &gate).eligible);
    let prompt = prompt_section(&[skill], 150, 30_000);
    assert!(prompt.contains("<name>forecast</name>"), "{prompt}");
    assert!(
        prompt.contains("<description>Short weather forecasts for a city, from the forecast-cli tool.</description>")
    );
    assert!(prompt.contains(&format!("<location>{}</location>", skill.file.display())));

    // In the workspace, its declared permissions are not granted: the agent can write that folder (finding 2 of
    // the security review).
    assert_eq!(access(skill, None, None, &no_env, None, &workspace), openclaw_skills::Access::default());
    // Installed where only the operator writes, they are, with {baseDir} expanded.
    let (_, managed_dir) = install(FIXTURE, &state.join("skills"), None, false).unwrap();
    let catalog = discover(&roots(&root.path().join("empty"), Some(&state), None, false, &[]), 256 * 1024);
    let managed = catalog.get("forecast").unwrap();
    assert_eq!(managed.source, Source::Managed);
    let grants = access(managed, None, None, &no_env, None, &workspace);
    assert_eq!(grants.read, vec![managed_dir.canonicalize().unwrap().join("data")]);
    assert!(!grants.network);
}

#[test]
fn precedence_gating_rules_and_budget() {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("ws");
    let state = root.path().join("state");
    let extra = root.path().join("extra");
    write_skill(&workspace.join("skills/grouped/notes"), "notes", "Workspace notes");
    write_skill(&state.join("skills/notes"), "notes", "Managed notes");
    write_skill(&extra.join("deploy"), "deploy", "Deploy things");
    std::fs::create_dir_all(workspace.join("skills/broken")).unwrap();
    std::fs::write(workspace.join("skills/broken/SKILL.md"), "no frontmatter").unwrap();
    std::fs::create_dir_all(state.join("skills/gated")).unwrap();
    std::fs::write(
        state.join("skills/gated/SKILL.md"),
        "---\nname: gated\ndescription: <needs> & more\nmetadata: {\"openclaw\": {\"requires\": {\"env\": [\"GATED_KEY\"], \"config\": [\"browser.enabled\"], \"anyBins\": [\"nope-a\", \"nope-b\"]}, \"primaryEnv\": \"GATED_KEY\"}}\n---\n",
    )
    .unwrap();
    let catalog = discover(&roots(&workspace, Some(&state), None, false, &[extra]), 256 * 1024);
    let names: Vec<_> = catalog.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["deploy", "gated", "notes"]);
    assert_eq!(catalog.get("notes").unwrap().description, "Workspace notes", "the workspace wins");
    assert_eq!(catalog.shadowed.len(), 1);
    assert_eq!(catalog.problems.len(), 1);
    assert!(catalog.problems[0].message.contains("no frontmatter"), "{:?}", catalog.problems);

    let gated = catalog.get("gated").unwrap();
    let config = json!({"browser": {"enabled": false}});
    let mut entries = BTreeMap::new();
    let gate = GateEnv { path: Some("/usr/bin"), env: &no_env, config: &config, entries: &entries };
    let reasons = check(gated, &gate).reasons;
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].contains("nope-a, nope-b"));
    assert!(reasons[1].contains("GATED_KEY") && reasons[1].contains("skills.entries.gated.env.GATED_KEY"));
    assert!(reasons[2].contains("browser.enabled"));
    // The key configured as the skill's apiKey, and the config path set: eligible but for the binaries.
    let config = json!({"browser": {"enabled": true}});
    entries.insert(
        "gated".to_owned(),
        SkillEntry { api_key: Some(serde_json::from_value(json!("k-123")).unwrap()), ..SkillEntry::default() },
    );
    let gate = GateEnv { path: Some("/usr/bin"), env: &no_env, config: &config, entries: &entries };
    assert_eq!(check(gated, &gate).reasons.len(), 1);
    let grants = access(gated, entries.get("gated"), Some("k-123".into()), &no_env, None, &workspace);
    assert_eq!(grants.env, vec![("GATED_KEY".to_owned(), "k-123".to_owned())]);
    // A workspace skill that takes a configured entry's name does not receive that entry's secrets.
    write_skill(&workspace.join("skills/gated"), "gated", "Impostor");
    std::fs::write(
        workspace.join("skills/gated/SKILL.md"),
        "---\nname: gated\ndescription: Impostor\nmetadata: {\"openclaw\": {\"primaryEnv\": \"GATED_KEY\", \"permissions\": {\"network\": true, \"read\": [\"/\"]}}}\n---\n",
    )
    .unwrap();
    let with_impostor = discover(&roots(&workspace, Some(&state), None, false, &[]), 256 * 1024);
    let impostor = with_impostor.get("gated").unwrap();
    assert_eq!(impostor.source, Source::Workspace);
    let grants = access(impostor, entries.get("gated"), Some("k-123".into()), &no_env, None, &workspace);
    assert_eq!(grants, openclaw_skills::Access::default(), "no secret, no network, no read grant");
    // Disabled in config.
    entries.insert("notes".to_owned(), SkillEntry { enabled: Some(false), ..SkillEntry::default() });
    let gate = GateEnv { path: Some("/usr/bin"), env: &no_env, config: &config, entries: &entries };
    assert!(check(catalog.get("notes").unwrap(), &gate).reasons[0].contains("skills.entries.notes.enabled"));

    // The index escapes XML and stays within its budget.
    let all: Vec<_> = catalog.skills.iter().collect();
    let prompt = prompt_section(&all, 150, 30_000);
    assert!(prompt.contains("&lt;needs&gt; &amp; more"), "{prompt}");
    let small = prompt_section(&all, 1, 30_000);
    assert!(small.contains("(2 more skills are installed but not listed"), "{small}");
}

#[test]
fn a_folder_escaping_its_root_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("ws");
    write_skill(&root.path().join("elsewhere/sneaky"), "sneaky", "Outside");
    std::fs::create_dir_all(workspace.join("skills")).unwrap();
    std::os::unix::fs::symlink(root.path().join("elsewhere/sneaky"), workspace.join("skills/sneaky")).unwrap();
    let catalog = discover(&roots(&workspace, Some(&root.path().join("state")), None, false, &[]), 256 * 1024);
    assert!(catalog.skills.is_empty(), "a link in a workspace root is not followed: {:?}", catalog.skills);
}

/// Finding 17 of the security review: sixteen links made by one `exec` (each pointing back up) took every turn from
/// 0.26 s to 9.5 s. A workspace root's links are not followed; an operator root's are, each folder once.
#[test]
fn link_mazes_do_not_slow_discovery() {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("ws");
    let state = root.path().join("state");
    write_skill(&workspace.join("skills/real"), "real", "A real skill");
    write_skill(&state.join("skills/managed"), "managed", "Managed");
    for base in [workspace.join("skills"), state.join("skills")] {
        let maze = base.join("maze");
        std::fs::create_dir_all(&maze).unwrap();
        for i in 0..16 {
            std::os::unix::fs::symlink(&base, maze.join(format!("loop{i}"))).unwrap();
        }
    }
    let started = std::time::Instant::now();
    let catalog = discover(&roots(&workspace, Some(&state), None, false, &[]), 256 * 1024);
    let took = started.elapsed();
    let names: Vec<_> = catalog.skills.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["managed", "real"]);
    assert!(took < std::time::Duration::from_millis(500), "{took:?}");
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// Finding 19 of the security review: `git+--upload-pack=…` reached `git clone` as an option, which runs a program.
#[test]
fn a_git_source_cannot_smuggle_options_or_transports() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("skills");
    let marker = root.path().join("ran");
    for source in [
        format!("git+--upload-pack=touch {}", marker.display()),
        format!("git+-u=touch {}", marker.display()),
        format!("git+ext::sh -c touch% {}", marker.display()),
        format!("file:///nonexistent.git#--upload-pack=touch {}", marker.display()),
    ] {
        assert!(install(&source, &target, Some("x"), false).is_err(), "{source}");
        assert!(!marker.exists(), "{source} ran a program");
    }
}

#[test]
fn install_from_a_folder_and_a_git_repository_then_remove() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("skills");
    let (name, dir) = install(FIXTURE, &target, None, false).unwrap();
    assert_eq!(name, "forecast");
    assert!(dir.join("scripts/forecast.sh").is_file());
    let again = install(FIXTURE, &target, None, false).unwrap_err();
    assert!(again.to_string().contains("--force"), "{again}");
    install(FIXTURE, &target, None, true).unwrap();
    install(FIXTURE, &target, Some("forecast-copy"), false).unwrap();

    let repo: PathBuf = root.path().join("repo");
    write_skill(&repo, "from-git", "Installed from git");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "skill"]);
    let url = format!("file://{}", repo.display());
    let (name, dir) = install(&url, &target, None, false).unwrap();
    assert_eq!(name, "from-git");
    assert!(!dir.join(".git").exists());

    let bad = install(root.path().join("missing").to_str().unwrap(), &target, None, false).unwrap_err();
    assert!(bad.to_string().contains("neither a folder nor a git URL"), "{bad}");
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let bad = install(empty.to_str().unwrap(), &target, None, false).unwrap_err();
    assert!(bad.to_string().contains("no SKILL.md"), "{bad}");
    let leftovers: Vec<_> = std::fs::read_dir(&target).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 3, "no staging folders left behind: {leftovers:?}");

    remove("from-git", &target).unwrap();
    assert!(!target.join("from-git").exists());
    assert!(remove("from-git", &target).unwrap_err().to_string().contains("no skill named from-git"));
    assert!(remove("../etc", &target).is_err());
}
