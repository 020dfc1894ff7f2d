//! The file tools — `read`, `write`, `edit`, `ls` — on the agent's workspace, every path opened under the
//! workspace's folder handle without following links ([`crate::beneath`]).

use std::path::{Path, PathBuf};

use openclaw_protocol::ToolSpec;
use serde_json::{Value, json};

use crate::beneath::{self, Relative, Root};
use crate::{Tool, ToolContext, ToolError, ToolOutput, str_arg, uint_arg};

const MAX_LINES: usize = 2000;
const MAX_BYTES: usize = 50 * 1024;

/// A path the model named, resolved for the file tools: the folder handle it lies under and the plain names below it.
pub(crate) struct Target {
    root: Root,
    path: Relative,
    /// The path as the model gave it, for messages.
    requested: String,
}

/// Turns an IO error on `requested` into what the model is told.
fn io_error(requested: &str, doing: &str, error: std::io::Error) -> ToolError {
    match (error.raw_os_error(), error.kind()) {
        (Some(code), _) if code == rustix::io::Errno::LOOP.raw_os_error() => ToolError::Denied(format!(
            "{requested} is a symbolic link or passes through one; the file tools do not follow links (name the real path inside the workspace)"
        )),
        (Some(code), _) if code == rustix::io::Errno::XDEV.raw_os_error() => {
            ToolError::Denied(format!("{requested} is outside the workspace; use a path relative to it"))
        }
        (Some(code), _) if code == rustix::io::Errno::NOTDIR.raw_os_error() => {
            ToolError::InvalidArguments(format!("a part of {requested} is a file, not a folder"))
        }
        (_, std::io::ErrorKind::NotFound) => {
            ToolError::NotFound(format!("{requested} does not exist in the workspace"))
        }
        (_, std::io::ErrorKind::IsADirectory) => ToolError::InvalidArguments(format!("{requested} is a directory")),
        _ => ToolError::Failed(format!("cannot {doing} {requested}: {error}")),
    }
}

fn outside(requested: &str) -> ToolError {
    ToolError::Denied(format!("{requested} is outside the workspace; use a path relative to it"))
}

/// `requested` under the workspace (a relative path, or an absolute one inside it), as plain names.
fn workspace_target(workspace: &Path, requested: &str) -> Result<Target, ToolError> {
    let inaccessible =
        |error| ToolError::Failed(format!("the workspace {} is not accessible: {error}", workspace.display()));
    let real = workspace.canonicalize().map_err(inaccessible)?;
    let requested_path = Path::new(requested);
    let path = Relative::parse(&real, requested_path)
        .or_else(|| Relative::parse(workspace, requested_path))
        .ok_or_else(|| outside(requested))?;
    let root = Root::open(&real).map_err(inaccessible)?;
    Ok(Target { root, path, requested: requested.to_owned() })
}

/// Where `requested` lies for reading: the workspace, or the folder of an eligible skill the path names (the model
/// reads a skill's SKILL.md and references where they are).
fn read_target(ctx: &ToolContext, requested: &str) -> Result<Target, ToolError> {
    match workspace_target(&ctx.workspace, requested) {
        Err(ToolError::Denied(reason)) => {
            for skill in ctx.skills.iter() {
                if let Some(path) = Relative::parse(&skill.dir, Path::new(requested)) {
                    let root = Root::open(&skill.dir).map_err(|error| io_error(requested, "read", error))?;
                    return Ok(Target { root, path, requested: requested.to_owned() });
                }
            }
            Err(ToolError::Denied(reason))
        }
        other => other,
    }
}

impl Target {
    fn open(&self) -> Result<std::fs::File, ToolError> {
        self.root.open_read(&self.path).map_err(|error| io_error(&self.requested, "open", error))
    }

    /// The whole file; folders are refused with a pointer to `ls`.
    async fn read(self) -> Result<Vec<u8>, ToolError> {
        tokio::task::spawn_blocking(move || {
            let file = self.open()?;
            if beneath::is_dir(&file).map_err(|error| io_error(&self.requested, "read", error))? {
                return Err(ToolError::InvalidArguments(format!("{} is a directory; use ls", self.requested)));
            }
            beneath::read_file(file).map_err(|error| io_error(&self.requested, "read", error))
        })
        .await
        .map_err(|error| ToolError::Failed(format!("the read stopped: {error}")))?
    }

    /// Replaces the file whole (folders on the way are created), if the workspace stays within `budget` bytes.
    async fn write(self, content: Vec<u8>, workspace: &Path, budget: u64) -> Result<(), ToolError> {
        let workspace = workspace.to_path_buf();
        tokio::task::spawn_blocking(move || {
            if self.path.is_root() {
                return Err(ToolError::InvalidArguments(format!("{} is a directory", self.requested)));
            }
            crate::quota::room(&workspace, budget, content.len() as u64)?;
            let slot = self.root.slot(&self.path).map_err(|error| io_error(&self.requested, "write", error))?;
            slot.write_whole(&content).map_err(|error| io_error(&self.requested, "write", error))
        })
        .await
        .map_err(|error| ToolError::Failed(format!("the write stopped: {error}")))?
    }

    /// The entries of a folder, sorted, folders ending in `/`.
    async fn list(self) -> Result<Vec<String>, ToolError> {
        tokio::task::spawn_blocking(move || {
            let dir = self.open()?;
            let entries = beneath::list(&dir).map_err(|error| io_error(&self.requested, "list", error))?;
            let mut names: Vec<String> =
                entries.into_iter().map(|(name, is_dir)| if is_dir { name + "/" } else { name }).collect();
            names.sort();
            Ok(names)
        })
        .await
        .map_err(|error| ToolError::Failed(format!("the listing stopped: {error}")))?
    }
}

/// Checks that `requested` is a folder inside the workspace reached without links, and returns its path (`exec`'s
/// working directory; the sandbox confines what runs there).
pub(crate) fn workspace_dir(workspace: &Path, requested: &str) -> Result<PathBuf, ToolError> {
    let target = workspace_target(workspace, requested)?;
    let file = target.open()?;
    if !beneath::is_dir(&file).map_err(|error| io_error(requested, "open", error))? {
        return Err(ToolError::InvalidArguments(format!("{requested} is not a directory")));
    }
    let real = workspace.canonicalize().map_err(|error| io_error(requested, "open", error))?;
    Ok(real.join(target.path.display()))
}

/// A workspace file's text, opened without following links (what the prompt and the memory index read: a link
/// planted in the workspace would otherwise put any file the gateway can read in front of the model). `None` when it
/// is missing, a link, a folder or not UTF-8.
pub fn read_workspace_file(workspace: &Path, relative: &str) -> Option<String> {
    let target = workspace_target(workspace, relative).ok()?;
    let file = target.open().ok()?;
    if beneath::is_dir(&file).ok()? {
        return None;
    }
    String::from_utf8(beneath::read_file(file).ok()?).ok()
}

/// Reads a workspace file as text (memory_get).
pub(crate) async fn read_workspace_text(workspace: &Path, requested: &str) -> Result<String, ToolError> {
    let bytes = workspace_target(workspace, requested)?.read().await?;
    String::from_utf8(bytes).map_err(|_| ToolError::Failed(format!("{requested} is not a UTF-8 text file")))
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
        let bytes = read_target(ctx, path)?.read().await?;
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
        workspace_target(&ctx.workspace, path)?
            .write(content.as_bytes().to_vec(), &ctx.workspace, ctx.settings.workspace_bytes)
            .await?;
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
        let original = String::from_utf8(workspace_target(&ctx.workspace, path)?.read().await?)
            .map_err(|_| ToolError::Failed(format!("cannot read {path} as text: it is not UTF-8")))?;
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
        workspace_target(&ctx.workspace, path)?
            .write(updated.into_bytes(), &ctx.workspace, ctx.settings.workspace_bytes)
            .await?;
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
        let names = workspace_target(&ctx.workspace, path)?.list().await?;
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

    /// Finding 1 of the security review: `exec` (allowed to write the workspace) plants links where a write will
    /// land — the old predictable temp name `<stem>.openclaw-tmp-<pid>`, the target's own name, a folder on the
    /// way — and the write must neither follow them nor touch what they point to.
    #[tokio::test]
    async fn a_write_never_goes_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(workspace.join("notes")).unwrap();
        let config = dir.path().join("openclaw.json");
        std::fs::write(&config, "{ operator: true }").unwrap();
        let ctx = ctx(&workspace);
        let pid = std::process::id();
        for name in [format!("notes/a.openclaw-tmp-{pid}"), format!("notes/b.openclaw-tmp-{pid}")] {
            std::os::unix::fs::symlink(&config, workspace.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(&config, workspace.join("notes/c.md")).unwrap();
        WriteTool.invoke(json!({"path": "notes/a.md", "content": "model text"}), &ctx).await.unwrap();
        WriteTool.invoke(json!({"path": "notes/b.md", "content": "x"}), &ctx).await.unwrap();
        EditTool.invoke(json!({"path": "notes/b.md", "oldText": "x", "newText": "y"}), &ctx).await.unwrap();
        // Writing the link's own name replaces the link with a file; its target stays as it was.
        WriteTool.invoke(json!({"path": "notes/c.md", "content": "replaced"}), &ctx).await.unwrap();
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "{ operator: true }");
        assert_eq!(std::fs::read_to_string(workspace.join("notes/a.md")).unwrap(), "model text");
        assert_eq!(std::fs::read_to_string(workspace.join("notes/b.md")).unwrap(), "y");
        assert!(!workspace.join("notes/c.md").symlink_metadata().unwrap().file_type().is_symlink());
        // Edit and read refuse a link instead of reading through it.
        std::os::unix::fs::symlink(&config, workspace.join("d.md")).unwrap();
        let refused = EditTool.invoke(json!({"path": "d.md", "oldText": "operator", "newText": "x"}), &ctx).await;
        assert!(matches!(refused, Err(ToolError::Denied(_))), "{refused:?}");
        assert_eq!(std::fs::read_to_string(&config).unwrap(), "{ operator: true }");
        // New files are private to the gateway's user.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(workspace.join("notes/a.md")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(workspace.join("notes"))
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".openclaw-tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn the_prompt_reader_does_not_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::write(dir.path().join("secret"), "token").unwrap();
        std::fs::write(workspace.join("AGENTS.md"), "rules").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), workspace.join("SOUL.md")).unwrap();
        assert_eq!(read_workspace_file(&workspace, "AGENTS.md").as_deref(), Some("rules"));
        assert_eq!(read_workspace_file(&workspace, "SOUL.md"), None);
        assert_eq!(read_workspace_file(&workspace, "../secret"), None);
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
