//! Tidy rules checked inside `cargo test`: every Rust file starts with a `//!` comment saying what it owns, and no
//! file keeps a debug macro, an ignored test or a test that expects a panic.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_is_tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "crates", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let banned = [concat!("db", "g!("), concat!("#[", "ignore"), concat!("should", "_panic")];
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let shown = file.strip_prefix(root).unwrap_or(file).display().to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{shown}: does not start with a //! comment saying what the module owns"));
        }
        for needle in banned {
            if text.contains(needle) {
                problems.push(format!("{shown}: contains {needle}"));
            }
        }
    }
    assert!(problems.is_empty(), "tidy problems:\n{}", problems.join("\n"));
}

/// The crates depend on each other in one direction (ARCHITECTURE.md's diagram): each crate's `openclaw-*`
/// dependencies are within what its layer may use. A new edge is a design decision: change the diagram and this
/// table together.
#[test]
fn crate_dependencies_point_one_way() {
    let allowed: &[(&str, &[&str])] = &[
        ("protocol", &[]),
        ("sandbox", &[]),
        ("testkit", &[]),
        ("config", &["protocol"]),
        ("store", &["protocol", "config"]),
        ("models", &["protocol"]),
        ("local", &["protocol", "models"]),
        ("tools", &["protocol", "sandbox"]),
        ("skills", &["protocol", "config"]),
        ("mcp", &["protocol", "config", "tools"]),
        ("agent", &["protocol", "config", "store", "models", "tools", "skills", "local"]),
        // The channel layer knows messages, configuration and the store: not agents, not model clients.
        ("channels", &["protocol", "config", "store"]),
        ("gateway", &["protocol", "config", "store", "models", "tools", "agent", "channels"]),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut problems = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).expect("crates/") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else { continue };
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let Some((_, may)) = allowed.iter().find(|(crate_name, _)| *crate_name == name) else {
            problems.push(format!("crates/{name} is not in the dependency table (add its layer)"));
            continue;
        };
        seen += 1;
        let mut in_dependencies = false;
        for line in manifest.lines() {
            if line.starts_with('[') {
                in_dependencies = line.trim() == "[dependencies]";
            } else if in_dependencies && let Some(rest) = line.strip_prefix("openclaw-") {
                let dependency: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                if !may.contains(&dependency.as_str()) {
                    problems.push(format!("crates/{name} depends on openclaw-{dependency}, which its layer may not"));
                }
            }
        }
    }
    assert!(seen >= 13, "read only {seen} crates");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
