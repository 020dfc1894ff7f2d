//! Finding 8 of the security review, per workspace: one command's write budget stopped one command, but many
//! commands (or many `write` calls) could still fill the disk. The workspace has a size budget
//! (`tools.fs.maxWorkspaceMb`): `write` refuses to pass it, `exec` gets only the room that is left, and a full
//! workspace runs no command until something is deleted.

use std::sync::Arc;

use openclaw_tools::{ExecTool, Tool, ToolContext, ToolError, ToolSettings, WriteTool};
use serde_json::json;

fn ctx(workspace: &std::path::Path, budget: u64) -> ToolContext {
    let mut ctx = ToolContext::new("main", "agent:main:main", workspace.to_path_buf());
    ctx.settings = Arc::new(ToolSettings { workspace_bytes: budget, ..ToolSettings::default() });
    ctx
}

#[tokio::test]
async fn the_workspace_budget_holds_across_writes_and_commands() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ctx(dir.path(), 30 << 20);

    // write: 8 MB fits, another 24 MB does not (8 + 24 > 30), with a message that names the setting.
    let eight = "x".repeat(8 << 20);
    WriteTool.invoke(json!({"path": "a.txt", "content": eight}), &ctx).await.unwrap();
    let refused = WriteTool.invoke(json!({"path": "b.txt", "content": "y".repeat(24 << 20)}), &ctx).await;
    let Err(ToolError::Denied(message)) = refused else { panic!("not refused: {refused:?}") };
    assert!(message.contains("tools.fs.maxWorkspaceMb"), "{message}");
    assert!(!dir.path().join("b.txt").exists());

    // exec: the room left (about 22 MB) is the command's write budget, whatever maxWriteMb says (1 GiB).
    let script = "for i in 1 2 3 4 5 6; do head -c 8000000 /dev/zero > f$i.bin; sync; done; echo wrote all";
    let outcome = ExecTool.invoke(json!({"command": script}), &ctx).await;
    let Err(ToolError::Failed(text)) = outcome else { panic!("the command was not stopped: {outcome:?}") };
    assert!(text.contains("maxWriteMb") && text.contains("tools.fs.maxWorkspaceMb"), "{text}");
    assert!(!text.contains("wrote all"), "{text}");

    // Filled past the budget: no further command runs until files are deleted.
    std::fs::write(dir.path().join("filler.bin"), vec![1u8; 24 << 20]).unwrap();
    let refused = ExecTool.invoke(json!({"command": "echo hi"}), &ctx).await;
    assert!(matches!(&refused, Err(ToolError::Denied(m)) if m.contains("tools.fs.maxWorkspaceMb")), "{refused:?}");
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    let ran = ExecTool.invoke(json!({"command": "echo hi"}), &ctx).await.unwrap();
    assert!(ran.text.contains("hi"), "{}", ran.text);
}
