//! Property test of the file tools' path resolution (the security review): over generated workspaces full of
//! folders, files and symlinks (to files and folders outside, to places inside, to `..`), and generated paths
//! (`..`, `.`, absolute ones), `read` never returns a byte from outside the workspace, `write` and `edit` never change
//! anything outside it, and nothing they write is reached through a link.

use std::path::{Path, PathBuf};

use openclaw_tools::{EditTool, ReadTool, Tool, ToolContext, WriteTool};
use proptest::prelude::*;
use serde_json::json;

const SECRET: &str = "OUTSIDE-SECRET";

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File,
    LinkToOutsideFile,
    LinkToOutsideDir,
    LinkToParent,
    LinkInside(Vec<&'static str>),
}

fn name() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just("c")]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Dir),
        Just(Kind::File),
        Just(Kind::LinkToOutsideFile),
        Just(Kind::LinkToOutsideDir),
        Just(Kind::LinkToParent),
        prop::collection::vec(name(), 1..3).prop_map(Kind::LinkInside),
    ]
}

fn component() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just(".."), Just("."), Just("new")]
}

/// Every file below `dir` with its content (links are not followed).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push((entry.path(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn build(root: &Path, entries: &[(Vec<&'static str>, Kind)]) -> PathBuf {
    let outside = root.join("outside");
    std::fs::create_dir_all(outside.join("d")).unwrap();
    std::fs::write(outside.join("secret"), SECRET).unwrap();
    std::fs::write(outside.join("d/secret"), SECRET).unwrap();
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    for (path, kind) in entries {
        let target = path.iter().fold(ws.clone(), |dir, part| dir.join(part));
        // Only where the parent is a real folder inside (a generated tree, not a walk through links).
        let Some(parent) = target.parent() else { continue };
        if !parent.symlink_metadata().is_ok_and(|meta| meta.is_dir()) || target.symlink_metadata().is_ok() {
            continue;
        }
        let _ = match kind {
            Kind::Dir => std::fs::create_dir(&target),
            Kind::File => std::fs::write(&target, format!("inside {}", path.join("/"))),
            Kind::LinkToOutsideFile => std::os::unix::fs::symlink(outside.join("secret"), &target),
            Kind::LinkToOutsideDir => std::os::unix::fs::symlink(outside.join("d"), &target),
            Kind::LinkToParent => std::os::unix::fs::symlink("..", &target),
            Kind::LinkInside(to) => std::os::unix::fs::symlink(to.join("/"), &target),
        };
    }
    ws
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn file_tools_never_reach_outside_the_workspace(
        entries in prop::collection::vec((prop::collection::vec(name(), 1..4), kind()), 0..14),
        requests in prop::collection::vec((prop::collection::vec(component(), 1..5), any::<bool>(), 0u8..3), 1..8),
    ) {
        let root = tempfile::tempdir().unwrap();
        let ws = build(root.path(), &entries);
        let outside_before = snapshot(&root.path().join("outside"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let ctx = ToolContext::new("main", "agent:main:main", ws.clone());
        for (parts, absolute, tool) in requests {
            let relative = parts.join("/");
            let path = if absolute { format!("{}/{relative}", ws.display()) } else { relative };
            let (read, written) = runtime.block_on(async {
                let read = ReadTool.invoke(json!({"path": path}), &ctx).await;
                let written = match tool {
                    0 => WriteTool.invoke(json!({"path": path, "content": "model text"}), &ctx).await.map(|_| ()),
                    1 => EditTool
                        .invoke(json!({"path": path, "oldText": "inside", "newText": "edited"}), &ctx)
                        .await
                        .map(|_| ()),
                    _ => Ok(()),
                };
                (read, written)
            });
            if let Ok(output) = &read {
                prop_assert!(!output.text.contains(SECRET), "read {path} returned outside content");
            }
            prop_assert_eq!(&snapshot(&root.path().join("outside")), &outside_before, "{} changed outside", path);
            if written.is_ok() && tool == 0 {
                // What was written is a plain file at the lexical path (`..` resolved by name, as the tools do),
                // reached through folders only.
                let mut lexical = if Path::new(&path).is_absolute() { PathBuf::new() } else { ws.clone() };
                for part in Path::new(&path).components() {
                    match part {
                        std::path::Component::ParentDir => { lexical.pop(); }
                        std::path::Component::CurDir => {}
                        other => lexical.push(other),
                    }
                }
                let below = lexical.strip_prefix(&ws);
                prop_assert!(below.is_ok(), "{path} landed at {}", lexical.display());
                let mut at = ws.clone();
                for part in below.unwrap().components() {
                    at.push(part);
                    let meta = at.symlink_metadata().unwrap();
                    prop_assert!(!meta.file_type().is_symlink(), "{path}: wrote through {}", at.display());
                }
                let at = lexical;
                prop_assert!(at.starts_with(&ws), "{path} landed at {}", at.display());
            }
        }
    }
}
