//! `read` and `ls`: read-only views of the agent's workspace.

use std::path::{Component, Path, PathBuf};

use openclaw_protocol::ToolSpec;
use serde_json::{Value, json};

use crate::{Tool, ToolContext, ToolError, ToolOutput, str_arg, uint_arg};

const MAX_LINES: usize = 2000;
const MAX_BYTES: usize = 50 * 1024;

/// Resolves `requested` inside `workspace`, refusing anything that ends up outside it (after symlinks).
pub(crate) fn resolve_in_workspace(workspace: &Path, requested: &str) -> Result<PathBuf, ToolError> {
    let root = workspace.canonicalize().map_err(|error| {
        ToolError::Failed(format!("the workspace {} is not accessible: {error}", workspace.display()))
    })?;
    let requested_path = Path::new(requested);
    let joined = if requested_path.is_absolute() { requested_path.to_path_buf() } else { root.join(requested_path) };
    // Normalise `..` lexically first so that a missing file still gets a clear "outside" answer.
    let mut normal = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    if !normal.starts_with(&root) {
        return Err(ToolError::Denied(format!("{requested} is outside the workspace; use a path relative to it")));
    }
    match normal.canonicalize() {
        Ok(real) if real.starts_with(&root) => Ok(real),
        Ok(_) => Err(ToolError::Denied(format!("{requested} links outside the workspace"))),
        Err(_) => Err(ToolError::NotFound(format!("{requested} does not exist in the workspace"))),
    }
}

/// `path` when it is a file inside one of the agent's skill folders (the model reads a skill's SKILL.md and its
/// references where they are), after symlinks.
fn in_skill_dir(ctx: &ToolContext, path: &str) -> Option<PathBuf> {
    let real = Path::new(path).canonicalize().ok()?;
    ctx.skills.iter().filter_map(|skill| skill.dir.canonicalize().ok()).any(|dir| real.starts_with(dir)).then_some(real)
}

/// `read {path, offset?, limit?}`: a text file, by lines.
pub struct ReadTool;

#[async_trait::async_trait]
impl Tool for ReadTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "read".to_owned(),
            description: "Read a text file from the workspace. Use offset (1-based line) and limit for large files."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace"},
                    "offset": {"type": "integer", "description": "First line to read (1-based)"},
                    "limit": {"type": "integer", "description": "Maximum number of lines"}
                },
                "required": ["path"]
            }),
        }
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path =
            str_arg(&arguments, "path")?.ok_or_else(|| ToolError::InvalidArguments("path is required".into()))?;
        let offset = uint_arg(&arguments, "offset")?.unwrap_or(1).max(1) as usize;
        let limit = uint_arg(&arguments, "limit")?.map(|l| l as usize).unwrap_or(MAX_LINES).min(MAX_LINES);
        let file = match resolve_in_workspace(&ctx.workspace, path) {
            Err(ToolError::Denied(reason)) => in_skill_dir(ctx, path).ok_or(ToolError::Denied(reason))?,
            other => other?,
        };
        if file.is_dir() {
            return Err(ToolError::InvalidArguments(format!("{path} is a directory; use ls")));
        }
        let bytes =
            tokio::fs::read(&file).await.map_err(|error| ToolError::Failed(format!("cannot read {path}: {error}")))?;
        let text =
            String::from_utf8(bytes).map_err(|_| ToolError::Failed(format!("{path} is not a UTF-8 text file")))?;
        Ok(ToolOutput { text: slice_lines(&text, offset, limit) })
    }
}

/// Lines `offset..offset+limit` (1-based) of `text`, capped in bytes, with a note when more remain.
pub(crate) fn slice_lines(text: &str, offset: usize, limit: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if offset > lines.len().max(1) {
        return format!("[offset {offset} is past the end: the file has {} lines]", lines.len());
    }
    let mut out = String::new();
    let mut last = offset - 1;
    for (idx, line) in lines.iter().enumerate().skip(offset - 1).take(limit) {
        if out.len() + line.len() + 1 > MAX_BYTES {
            break;
        }
        out.push_str(line);
        out.push('\n');
        last = idx + 1;
    }
    if last < lines.len() {
        out.push_str(&format!("\n[{} more lines; continue with offset={}]", lines.len() - last, last + 1));
    }
    out
}

/// `ls {path?}`: the entries of a workspace directory.
pub struct LsTool;

#[async_trait::async_trait]
impl Tool for LsTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "ls".to_owned(),
            description: "List a directory of the workspace (directories end with /).".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Directory relative to the workspace (default: .)"}}
            }),
        }
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path = str_arg(&arguments, "path")?.unwrap_or(".");
        let dir = resolve_in_workspace(&ctx.workspace, path)?;
        let mut reader = tokio::fs::read_dir(&dir)
            .await
            .map_err(|error| ToolError::Failed(format!("cannot list {path}: {error}")))?;
        let mut names = Vec::new();
        while let Ok(Some(entry)) = reader.next_entry().await {
            let mut name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().await.is_ok_and(|kind| kind.is_dir()) {
                name.push('/');
            }
            names.push(name);
        }
        names.sort();
        let text = if names.is_empty() { "(empty directory)".to_owned() } else { names.join("\n") };
        Ok(ToolOutput { text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(dir: &Path) -> ToolContext {
        ToolContext::new("main", "agent:main:main", dir.to_path_buf())
    }

    #[tokio::test]
    async fn read_is_confined_to_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        std::fs::write(workspace.join("notes.md"), "a\nb\nc\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), workspace.join("link")).unwrap();
        let ctx = ctx(&workspace);
        let read = |args: Value| {
            let ctx = ctx.clone();
            async move { ReadTool.invoke(args, &ctx).await }
        };
        assert_eq!(
            read(json!({"path": "notes.md", "offset": 2, "limit": 1})).await.unwrap().text,
            "b\n\n[1 more lines; continue with offset=3]"
        );
        assert!(matches!(read(json!({"path": "../secret.txt"})).await, Err(ToolError::Denied(_))));
        assert!(matches!(read(json!({"path": "/etc/passwd"})).await, Err(ToolError::Denied(_))));
        #[cfg(unix)]
        assert!(matches!(read(json!({"path": "link"})).await, Err(ToolError::Denied(_))));
        assert!(matches!(read(json!({"path": "missing.md"})).await, Err(ToolError::NotFound(_))));
        assert!(matches!(read(json!({})).await, Err(ToolError::InvalidArguments(_))));
        let listing = LsTool.invoke(json!({}), &ctx).await.unwrap().text;
        assert!(listing.contains("notes.md"));
    }
}
