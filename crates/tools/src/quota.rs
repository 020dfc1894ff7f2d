//! The workspace's size budget (`tools.fs.maxWorkspaceMb`): `write` and `edit` refuse to grow a workspace past it,
//! and `exec` runs with the room that is left as its write budget, so many commands cannot fill the disk where one
//! could not.
//!
//! The size is what the workspace's files occupy on disk (allocated blocks, so a sparse file counts for what it
//! uses), measured under the workspace's folder handle without following a link, and only to [`MAX_ENTRIES`]
//! entries (a lower bound past that).

use std::path::Path;

use crate::{ToolError, beneath};

/// The default budget: 10 GiB.
pub const DEFAULT_WORKSPACE_BYTES: u64 = 10 << 30;

/// Entries the walk looks at before it stops counting.
const MAX_ENTRIES: usize = 200_000;

/// Bytes the files under `root` occupy (nothing below it is reached through a link; see [`beneath::disk_usage`]).
pub(crate) fn usage(root: &Path) -> u64 {
    match beneath::Root::open(root).and_then(|handle| beneath::disk_usage(&handle, MAX_ENTRIES)) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::debug!(workspace = %root.display(), %error, "workspace size not measured");
            0
        }
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1u64 << 20) as f64)
}

/// The room left under the budget, or a refusal when adding `adding` bytes would pass it.
pub(crate) fn room(workspace: &Path, budget: u64, adding: u64) -> Result<u64, ToolError> {
    let used = usage(workspace);
    let left = budget.saturating_sub(used);
    if adding > left || left == 0 {
        return Err(ToolError::Denied(format!(
            "the workspace holds {} of its {} budget (tools.fs.maxWorkspaceMb){}: delete files in it, or ask the \
             operator to raise the budget",
            megabytes(used),
            megabytes(budget),
            if adding > 0 { format!(" and this adds {}", megabytes(adding)) } else { String::new() },
        )));
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::{room, usage};

    #[test]
    fn usage_counts_files_and_not_what_links_point_to() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![7u8; 4 << 20]).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let before = usage(dir.path());
        assert!(before < 64 << 10, "the link's target is not counted: {before}");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), vec![1u8; 1 << 20]).unwrap();
        let after = usage(dir.path());
        assert!((1 << 20..2 << 20).contains(&after), "{after}");
        assert!(room(dir.path(), 8 << 20, 1 << 20).is_ok());
        let refused = room(dir.path(), 2 << 20, 2 << 20).unwrap_err().to_string();
        assert!(refused.contains("tools.fs.maxWorkspaceMb"), "{refused}");
    }
}
