//! `memory_search` and `memory_get` over the workspace's `MEMORY.md` and `memory/*.md`. The index behind
//! `memory_search` is a [`MemoryIndex`] (SQLite FTS5 in the default build), kept fresh by the caller.

use std::path::{Path, PathBuf};

use openclaw_protocol::{MemoryHit, ToolSpec};
use serde_json::{Value, json};

use crate::fs::{read_workspace_text, slice_lines};
use crate::{Tool, ToolContext, ToolError, ToolOutput, str_arg, uint_arg};

/// A full-text index over an agent's memory files.
#[async_trait::async_trait]
pub trait MemoryIndex: Send + Sync {
    /// Brings the index up to date with the workspace's memory files, then searches it.
    ///
    /// # Errors
    /// A message when the index cannot be read or updated.
    async fn search(
        &self,
        agent_id: &str,
        workspace: &Path,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryHit>, String>;
}

/// The memory files of a workspace, relative paths first `MEMORY.md` (or `memory.md`), then `memory/*.md` sorted.
pub fn memory_files(workspace: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for name in ["MEMORY.md", "memory.md"] {
        let path = workspace.join(name);
        // Links are not followed (symlink_metadata): a planted link would index a file outside the workspace.
        if path.symlink_metadata().is_ok_and(|meta| meta.is_file()) {
            files.push((name.to_owned(), path));
            break;
        }
    }
    if let Ok(entries) = std::fs::read_dir(workspace.join("memory")) {
        let mut daily: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
            .map(|path| {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (format!("memory/{name}"), path)
            })
            .collect();
        daily.sort();
        files.extend(daily);
    }
    files
}

/// Splits markdown into chunks of about `max_lines` lines, starting a new chunk at each heading.
/// Returns `(start_line, end_line, text)` with 1-based inclusive lines.
pub fn chunk_markdown(text: &str, max_lines: usize) -> Vec<(i64, i64, String)> {
    let mut chunks = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut start = 1;
    for (idx, line) in text.lines().enumerate() {
        let heading = line.starts_with('#');
        if !current.is_empty() && (heading || current.len() >= max_lines.max(1)) {
            let end = start + current.len() as i64 - 1;
            chunks.push((start, end, current.join("\n")));
            current.clear();
            start = idx as i64 + 1;
        }
        current.push(line);
    }
    if current.iter().any(|line| !line.trim().is_empty()) {
        let end = start + current.len() as i64 - 1;
        chunks.push((start, end, current.join("\n")));
    }
    chunks.retain(|(_, _, text)| !text.trim().is_empty());
    chunks
}

/// `memory_search {query, maxResults?}`.
pub struct MemorySearchTool;

#[async_trait::async_trait]
impl Tool for MemorySearchTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_search".to_owned(),
            description: "Search the agent's long-term memory (MEMORY.md and memory/*.md). Returns matching snippets \
                          with their path and lines; use memory_get to read more."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for"},
                    "maxResults": {"type": "integer", "description": "At most this many results (default 6)"}
                },
                "required": ["query"]
            }),
        }
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let query = str_arg(&arguments, "query")?
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| ToolError::InvalidArguments("query is required".into()))?;
        let limit = uint_arg(&arguments, "maxResults")?.unwrap_or(6).clamp(1, 50) as usize;
        let index =
            ctx.memory.as_ref().ok_or_else(|| ToolError::Failed("memory search is not available here".into()))?;
        let hits = index.search(&ctx.agent_id, &ctx.workspace, query, limit).await.map_err(ToolError::Failed)?;
        let results: Vec<Value> = hits
            .iter()
            .map(|hit| {
                json!({"path": hit.path, "startLine": hit.start_line, "endLine": hit.end_line,
                       "score": (hit.score * 1000.0).round() / 1000.0, "snippet": hit.snippet})
            })
            .collect();
        Ok(ToolOutput { text: json!({"results": results}).to_string() })
    }
}

/// `memory_get {path, from?, lines?}`: lines of one memory file.
pub struct MemoryGetTool;

#[async_trait::async_trait]
impl Tool for MemoryGetTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "memory_get".to_owned(),
            description: "Read lines of a memory file (MEMORY.md or memory/*.md).".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "from": {"type": "integer", "description": "First line (1-based)"},
                    "lines": {"type": "integer", "description": "How many lines"}
                },
                "required": ["path"]
            }),
        }
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let path =
            str_arg(&arguments, "path")?.ok_or_else(|| ToolError::InvalidArguments("path is required".into()))?;
        let is_memory = matches!(path, "MEMORY.md" | "memory.md")
            || (path.starts_with("memory/") && path.ends_with(".md") && !path.contains(".."));
        if !is_memory {
            return Err(ToolError::Denied(format!("{path} is not a memory file (MEMORY.md or memory/*.md)")));
        }
        let from = uint_arg(&arguments, "from")?.unwrap_or(1).max(1) as usize;
        let lines = uint_arg(&arguments, "lines")?.unwrap_or(200).clamp(1, 2000) as usize;
        let text = read_workspace_text(&ctx.workspace, path).await?;
        Ok(ToolOutput { text: slice_lines(&text, from, lines) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_at_headings() {
        let chunks = chunk_markdown("# A\none\ntwo\n# B\nthree\n", 10);
        assert_eq!(chunks, vec![(1, 3, "# A\none\ntwo".to_owned()), (4, 5, "# B\nthree".to_owned())]);
        assert!(chunk_markdown("\n\n", 10).is_empty());
        assert_eq!(chunk_markdown("a\nb\nc", 2).len(), 2);
    }
}
