//! `read` and `ls`: read-only views of the agent's workspace.

use std::path::{Component, Path, PathBuf};

use openclaw_protocol::ToolSpec;
use serde_json::{Value, json};

use crate::{Tool, ToolContext, ToolError, ToolOutput, str_arg, uint_arg};

const MAX_LINES: usize = 2000;
const MAX_BYTES: usize = 50 * 1024;

/// The canonical workspace root and `requested` joined to it with `..` resolved lexically, refused when it leaves.
fn lexical_in_workspace(workspace: &Path, requested: &str) -> Result<(PathBuf, PathBuf), ToolError> {
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
    Ok((root, normal))
}

/// Where `requested` may be written: inside the workspace after symlinks, for the file or (when it does not exist
/// yet) for its deepest existing folder.
pub(crate) fn resolve_for_write(workspace: &Path, requested: &str) -> Result<PathBuf, ToolError> {
    let (root, normal) = lexical_in_workspace(workspace, requested)?;
    let mut existing = normal.as_path();
    while !existing.exists() {
        existing = existing.parent().unwrap_or(&root);
    }
    let real =
        existing.canonicalize().map_err(|error| ToolError::Failed(format!("cannot resolve {requested}: {error}")))?;
    if !real.starts_with(&root) {
        return Err(ToolError::Denied(format!("{requested} links outside the workspace")));
    }
    if normal.is_dir() {
        return Err(ToolError::InvalidArguments(format!("{requested} is a directory")));
    }
    Ok(if existing == normal { real } else { real.join(normal.strip_prefix(existing).unwrap_or(&normal)) })
}

/// Writes a file whole: a temporary file in the same folder, then a rename (a reader never sees half a file).
async fn write_atomically(path: &Path, content: &[u8]) -> Result<(), ToolError> {
    let failed = |error: std::io::Error| ToolError::Failed(format!("cannot write {}: {error}", path.display()));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(failed)?;
    }
    let temp = path.with_extension(format!("openclaw-tmp-{}", std::process::id()));
    tokio::fs::write(&temp, content).await.map_err(failed)?;
    tokio::fs::rename(&temp, path).await.map_err(failed)
}

/// Resolves `requested` inside `workspace`, refusing anything that ends up outside it (after symlinks).
pub(crate) fn resolve_in_workspace(workspace: &Path, requested: &str) -> Result<PathBuf, ToolError> {
    let (root, normal) = lexical_in_workspace(workspace, requested)?;
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

/// `write {path, content}`: creates or replaces a workspace file (folders are created).
pub struct WriteTool;

#[async_trait::async_trait]
impl Tool for WriteTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "write".to_owned(),
            description: "Create or overwrite a file in the workspace with the given content.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace"},
                    "content": {"type": "string", "description": "The whole new content"}
                },
                "required": ["path", "content"]
            }),
        }
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path =
            str_arg(&arguments, "path")?.ok_or_else(|| ToolError::InvalidArguments("path is required".into()))?;
        let content =
            str_arg(&arguments, "content")?.ok_or_else(|| ToolError::InvalidArguments("content is required".into()))?;
        let file = resolve_for_write(&ctx.workspace, path)?;
        write_atomically(&file, content.as_bytes()).await?;
        Ok(ToolOutput { text: format!("Wrote {} bytes to {path}.", content.len()) })
    }
}

/// `edit {path, edits: [{oldText, newText}]}` (also a single top-level `oldText`/`newText`, or `old_string`/
/// `new_string`): exact replacements, each `oldText` found exactly once in the original file.
pub struct EditTool;

fn edits(arguments: &Value) -> Result<Vec<(String, String)>, ToolError> {
    let pair = |value: &Value| -> Result<(String, String), ToolError> {
        let get = |names: [&str; 2]| names.iter().find_map(|name| value.get(*name).and_then(Value::as_str));
        let old = get(["oldText", "old_string"])
            .ok_or_else(|| ToolError::InvalidArguments("each edit needs oldText (a string)".into()))?;
        let new = get(["newText", "new_string"])
            .ok_or_else(|| ToolError::InvalidArguments("each edit needs newText (a string)".into()))?;
        if old.is_empty() {
            return Err(ToolError::InvalidArguments("oldText must not be empty".into()));
        }
        Ok((old.to_owned(), new.to_owned()))
    };
    match arguments.get("edits") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().map(pair).collect(),
        Some(_) => Err(ToolError::InvalidArguments("edits must be a non-empty array of {oldText, newText}".into())),
        None => Ok(vec![pair(arguments)?]),
    }
}

#[async_trait::async_trait]
impl Tool for EditTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "edit".to_owned(),
            description:
                "Edit a workspace file with exact replacements: each oldText must appear exactly once in the file."
                    .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace"},
                    "edits": {"type": "array", "description": "Replacements against the original file; no overlaps", "items": {
                        "type": "object",
                        "properties": {
                            "oldText": {"type": "string", "description": "Exact original text, unique in the file"},
                            "newText": {"type": "string", "description": "Replacement text"}
                        },
                        "required": ["oldText", "newText"]
                    }}
                },
                "required": ["path", "edits"]
            }),
        }
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path =
            str_arg(&arguments, "path")?.ok_or_else(|| ToolError::InvalidArguments("path is required".into()))?;
        let edits = edits(&arguments)?;
        let file = resolve_in_workspace(&ctx.workspace, path)?;
        let original = tokio::fs::read_to_string(&file)
            .await
            .map_err(|error| ToolError::Failed(format!("cannot read {path} as text: {error}")))?;
        // Every match is located in the original first, so edits cannot see each other's output.
        let mut spans = Vec::new();
        for (old, new) in &edits {
            let mut found = original.match_indices(old.as_str());
            let Some((start, _)) = found.next() else {
                return Err(ToolError::Failed(format!(
                    "oldText not found in {path}: {old:?} (read the file first; the match is exact, whitespace included)"
                )));
            };
            if found.next().is_some() {
                return Err(ToolError::Failed(format!(
                    "oldText appears more than once in {path}: {old:?}; include more context to make it unique"
                )));
            }
            spans.push((start, start + old.len(), new.as_str()));
        }
        spans.sort_by_key(|span| span.0);
        if spans.windows(2).any(|pair| pair[0].1 > pair[1].0) {
            return Err(ToolError::InvalidArguments("edits overlap; merge them into one".into()));
        }
        let mut updated = String::with_capacity(original.len());
        let mut at = 0;
        for (start, end, new) in &spans {
            updated.push_str(&original[at..*start]);
            updated.push_str(new);
            at = *end;
        }
        updated.push_str(&original[at..]);
        write_atomically(&file, updated.as_bytes()).await?;
        Ok(ToolOutput { text: format!("Applied {} edit(s) to {path}.", spans.len()) })
    }
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

    #[tokio::test]
    async fn write_and_edit_stay_inside_and_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path(), workspace.join("escape")).unwrap();
        let ctx = ctx(&workspace);
        WriteTool.invoke(json!({"path": "notes/a.md", "content": "one two\nthree\n"}), &ctx).await.unwrap();
        assert_eq!(std::fs::read_to_string(workspace.join("notes/a.md")).unwrap(), "one two\nthree\n");
        for path in ["../out.md", "/tmp/out.md", "escape/out.md"] {
            let refused = WriteTool.invoke(json!({"path": path, "content": "x"}), &ctx).await;
            assert!(matches!(refused, Err(ToolError::Denied(_))), "{path}: {refused:?}");
        }
        assert!(!dir.path().join("out.md").exists());

        let edit = |args: Value| {
            let ctx = ctx.clone();
            async move { EditTool.invoke(args, &ctx).await }
        };
        edit(json!({"path": "notes/a.md", "edits": [{"oldText": "two", "newText": "2"}, {"oldText": "three", "newText": "3"}]}))
            .await
            .unwrap();
        assert_eq!(std::fs::read_to_string(workspace.join("notes/a.md")).unwrap(), "one 2\n3\n");
        edit(json!({"path": "notes/a.md", "old_string": "one", "new_string": "1"})).await.unwrap();
        let missing = edit(json!({"path": "notes/a.md", "oldText": "zzz", "newText": "y"})).await.unwrap_err();
        assert!(missing.to_string().contains("not found"), "{missing}");
        WriteTool.invoke(json!({"path": "b.md", "content": "x x"}), &ctx).await.unwrap();
        let twice = edit(json!({"path": "b.md", "oldText": "x", "newText": "y"})).await.unwrap_err();
        assert!(twice.to_string().contains("more than once"), "{twice}");
        assert_eq!(std::fs::read_to_string(workspace.join("b.md")).unwrap(), "x x", "a failed edit changes nothing");
    }
}
