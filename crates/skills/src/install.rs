//! `openclaw skills install <path|git-url>` and `remove`: a skill folder copied into a skills root, whole or not
//! at all (it is assembled under a temporary name and renamed into place).

use std::path::{Path, PathBuf};

use crate::{frontmatter, valid_name};

/// Why an install or removal failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "{0} is neither a folder nor a git URL; give a skill folder (with SKILL.md) or a git URL (https://…, git@…, file://…, ending in .git)"
    )]
    BadSource(String),
    #[error("{0} has no SKILL.md at its top; a skill is a folder with SKILL.md in it")]
    NoSkillFile(PathBuf),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0:?} is not a valid skill name (letters, digits, '-', '_', '.'); choose one with --as")]
    BadName(String),
    #[error("a skill named {name} is already installed at {path}; use --force to replace it")]
    Exists { name: String, path: PathBuf },
    #[error("no skill named {name} in {root}")]
    NotInstalled { name: String, root: PathBuf },
    #[error("git clone of {url} failed: {message}")]
    Git { url: String, message: String },
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InstallError + 'a {
    move |source| InstallError::Io { action, path: path.to_path_buf(), source }
}

fn is_git_url(source: &str) -> bool {
    source.starts_with("git@")
        || source.starts_with("git+")
        || source.starts_with("file://")
        || ((source.starts_with("https://") || source.starts_with("http://") || source.starts_with("ssh://"))
            && (source.ends_with(".git") || source.contains(".git#")))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), InstallError> {
    std::fs::create_dir_all(to).map_err(io("cannot create", to))?;
    for entry in std::fs::read_dir(from).map_err(io("cannot read", from))? {
        let entry = entry.map_err(io("cannot read", from))?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry.file_type().map_err(io("cannot read", &source))?;
        if kind.is_dir() {
            copy_dir(&source, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target).map_err(io("cannot copy", &source))?;
        }
        // Symlinks are not copied: an installed skill must not point outside itself.
    }
    Ok(())
}

/// Installs the skill at `source` (a folder, or a git URL with an optional `#ref`) into `root/<name>`;
/// returns the name and the installed folder.
///
/// # Errors
/// [`InstallError`], with nothing left behind under the skill's name.
pub fn install(
    source: &str,
    root: &Path,
    as_name: Option<&str>,
    force: bool,
) -> Result<(String, PathBuf), InstallError> {
    std::fs::create_dir_all(root).map_err(io("cannot create", root))?;
    let staging = tempfile::Builder::new()
        .prefix(".installing-")
        .tempdir_in(root)
        .map_err(io("cannot create a staging folder in", root))?;
    let fetched = staging.path().join("source");
    let local = Path::new(source);
    if local.is_dir() {
        copy_dir(local, &fetched)?;
    } else if is_git_url(source) {
        let url = source.strip_prefix("git+").unwrap_or(source);
        let (url, reference) = match url.rsplit_once('#') {
            Some((base, reference)) => (base.to_owned(), Some(reference.to_owned())),
            None => (url.to_owned(), None),
        };
        // Nothing of the URL or the ref may reach git as an option (`git+--upload-pack=…`), and no transport or hook
        // may run a program: `ext::` URLs are off, hooks point nowhere, the URL comes after `--`.
        if url.starts_with('-') || reference.as_deref().is_some_and(|r| r.starts_with('-') || r.is_empty()) {
            return Err(InstallError::Git {
                url: url.clone(),
                message: "a git URL or ref cannot start with '-'".to_owned(),
            });
        }
        let mut git = std::process::Command::new("git");
        git.args(["-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]);
        git.args(["clone", "--quiet", "--depth", "1", "--no-recurse-submodules"]);
        if let Some(reference) = &reference {
            git.arg(format!("--branch={reference}"));
        }
        let clone = staging.path().join("clone");
        git.arg("--");
        let output = git.arg(&url).arg(&clone).env("GIT_TERMINAL_PROMPT", "0").output().map_err(|error| {
            InstallError::Git { url: url.clone(), message: format!("cannot run git ({error}); install git") }
        })?;
        if !output.status.success() {
            return Err(InstallError::Git { url, message: String::from_utf8_lossy(&output.stderr).trim().to_owned() });
        }
        // The installed copy carries no repository metadata (and no symlinks).
        copy_dir(&clone, &fetched)?;
    } else {
        return Err(InstallError::BadSource(source.to_owned()));
    }
    let skill_file = fetched.join("SKILL.md");
    let text = std::fs::read_to_string(&skill_file).map_err(|_| InstallError::NoSkillFile(PathBuf::from(source)))?;
    let invalid = |message: String| InstallError::Invalid { path: PathBuf::from(source).join("SKILL.md"), message };
    let front = frontmatter::read(&text).map_err(|error| invalid(error.to_string()))?;
    let fallback = local
        .canonicalize()
        .ok()
        .and_then(|path| path.file_name().map(|name| name.to_string_lossy().into_owned()))
        .or_else(|| {
            source.trim_end_matches('/').rsplit('/').next().map(|name| name.trim_end_matches(".git").to_owned())
        });
    let name = as_name.map(str::to_owned).or(front.name.clone()).or(fallback).unwrap_or_default();
    if !valid_name(&name) {
        return Err(InstallError::BadName(name));
    }
    let target = root.join(&name);
    if target.exists() {
        if !force {
            return Err(InstallError::Exists { name, path: target });
        }
        let old = staging.path().join("old");
        std::fs::rename(&target, &old).map_err(io("cannot move aside", &target))?;
    }
    std::fs::rename(&fetched, &target).map_err(io("cannot move into place", &target))?;
    Ok((name, target))
}

/// Removes the skill folder `root/<name>`.
///
/// # Errors
/// [`InstallError::NotInstalled`] when there is none.
pub fn remove(name: &str, root: &Path) -> Result<PathBuf, InstallError> {
    if !valid_name(name) {
        return Err(InstallError::BadName(name.to_owned()));
    }
    let target = root.join(name);
    if !target.join("SKILL.md").is_file() {
        return Err(InstallError::NotInstalled { name: name.to_owned(), root: root.to_path_buf() });
    }
    std::fs::remove_dir_all(&target).map_err(io("cannot remove", &target))?;
    Ok(target)
}
