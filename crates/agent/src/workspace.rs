//! Agent workspaces: the bootstrap files created from our templates when missing, and loading the files that are
//! injected into the system prompt.

use std::path::{Path, PathBuf};

/// The bootstrap files and their templates.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("AGENTS.md", include_str!("../templates/AGENTS.md")),
    ("SOUL.md", include_str!("../templates/SOUL.md")),
    ("IDENTITY.md", include_str!("../templates/IDENTITY.md")),
    ("USER.md", include_str!("../templates/USER.md")),
    ("TOOLS.md", include_str!("../templates/TOOLS.md")),
    ("MEMORY.md", include_str!("../templates/MEMORY.md")),
];

/// Files injected into the system prompt, in order. `MEMORY.md` only in the agent's main (private) session.
pub const INJECTED: &[&str] =
    &["AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md", "BOOTSTRAP.md", "MEMORY.md"];

/// Creates the workspace, its `memory/` folder and any missing bootstrap file; returns the files it created.
///
/// # Errors
/// The IO error, with the path, when the folder or a file cannot be created.
pub fn ensure_workspace(workspace: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let with_path =
        |error: std::io::Error, path: &Path| std::io::Error::new(error.kind(), format!("{}: {error}", path.display()));
    std::fs::create_dir_all(workspace.join("memory")).map_err(|e| with_path(e, workspace))?;
    // What the agent keeps is its user's: no other local user reads a workspace.
    openclaw_config::set_mode(workspace, 0o700);
    let mut created = Vec::new();
    for (name, template) in TEMPLATES {
        let path = workspace.join(name);
        if !path.exists() {
            std::fs::write(&path, template).map_err(|e| with_path(e, &path))?;
            created.push(path);
        }
    }
    Ok(created)
}

/// A workspace file as loaded for the prompt (`None` content means missing).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceFile {
    pub name: String,
    pub path: PathBuf,
    pub content: Option<String>,
}

/// Loads the injected files; `include_memory` adds `MEMORY.md` (main session only).
pub fn load_workspace_files(workspace: &Path, include_memory: bool) -> Vec<WorkspaceFile> {
    INJECTED
        .iter()
        .filter(|name| include_memory || **name != "MEMORY.md")
        .filter_map(|name| {
            let path = workspace.join(name);
            let content = openclaw_tools::read_workspace_file(workspace, name);
            // BOOTSTRAP.md is optional: it only exists until the first-run ritual deletes it.
            if content.is_none() && *name == "BOOTSTRAP.md" {
                return None;
            }
            Some(WorkspaceFile { name: (*name).to_owned(), path, content })
        })
        .collect()
}
