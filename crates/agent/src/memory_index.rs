//! The memory index behind `memory_search`: the store's FTS5 tables, refreshed from the workspace's memory files
//! (by size and modification time) before each search, so edits made by hand are found at once.

use std::path::Path;
use std::sync::Arc;

use openclaw_store::{MemoryChunk, Store};
use openclaw_tools::{MemoryHit, MemoryIndex, chunk_markdown, memory_files};

/// Lines per indexed chunk (a chunk also ends at every heading).
const CHUNK_LINES: usize = 20;

/// A [`MemoryIndex`] kept in the [`Store`].
pub struct StoreMemoryIndex {
    store: Arc<dyn Store>,
}

impl StoreMemoryIndex {
    /// An index over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreMemoryIndex { store }
    }

    async fn refresh(&self, agent_id: &str, workspace: &Path) -> Result<(), String> {
        let indexed = self.store.memory_files(agent_id).await.map_err(|error| error.to_string())?;
        let files = memory_files(workspace);
        for (relative, path) in &files {
            let Ok(meta) = std::fs::symlink_metadata(path) else { continue };
            let modified = meta
                .modified()
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let fingerprint = format!("{}:{modified}", meta.len());
            if indexed.iter().any(|(known, print)| known == relative && *print == fingerprint) {
                continue;
            }
            let text = openclaw_tools::read_workspace_file(workspace, relative).unwrap_or_default();
            let chunks = chunk_markdown(&text, CHUNK_LINES)
                .into_iter()
                .map(|(start_line, end_line, content)| MemoryChunk { start_line, end_line, content })
                .collect();
            self.store
                .index_memory_file(agent_id, relative, &fingerprint, chunks)
                .await
                .map_err(|error| error.to_string())?;
        }
        for (known, _) in indexed {
            if !files.iter().any(|(relative, _)| *relative == known) {
                self.store.remove_memory_file(agent_id, &known).await.map_err(|error| error.to_string())?;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl MemoryIndex for StoreMemoryIndex {
    async fn search(
        &self,
        agent_id: &str,
        workspace: &Path,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryHit>, String> {
        self.refresh(agent_id, workspace).await?;
        self.store.search_memory(agent_id, query, limit as i64).await.map_err(|error| error.to_string())
    }
}
