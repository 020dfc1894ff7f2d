//! The gateway's log files (`<state dir>/logs/openclaw.<date>.log`, JSON lines): the newest one, and pages of
//! whole lines from a byte cursor. `logs.tail` serves these over the gateway; `openclaw logs` reads them directly
//! when no gateway runs.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The newest gateway log file (`openclaw.<date>.log` under `<state dir>/logs`).
pub fn newest(dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with("openclaw") && name.ends_with(".log")
        })
        .collect();
    files.sort();
    files.pop()
}

/// `logs.tail {cursor?, limit?, maxBytes?}`: whole lines of the log file from a byte cursor (or the last `limit`
/// lines), never more than `maxBytes`; the returned `cursor` continues after the last complete line.
pub fn tail(dir: &Path, params: &Value) -> std::io::Result<Value> {
    let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(200).clamp(1, 5000) as usize;
    let max_bytes = params.get("maxBytes").and_then(Value::as_u64).unwrap_or(250_000).clamp(1024, 1_000_000);
    let Some(path) = newest(dir) else {
        return Ok(json!({"file": null, "cursor": 0, "size": 0, "lines": []}));
    };
    let mut file = std::fs::File::open(&path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let requested = params.get("cursor").and_then(Value::as_u64);
    let reset = requested.is_some_and(|cursor| cursor > size);
    let mut start = match requested {
        Some(cursor) if cursor <= size => cursor,
        _ => size.saturating_sub(max_bytes),
    };
    let skipped = size.saturating_sub(start).saturating_sub(max_bytes);
    start += skipped;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes)?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |pos| pos + 1);
    let text = String::from_utf8_lossy(&bytes[..complete]);
    let mut lines: Vec<&str> = text.lines().collect();
    // Without a cursor, a read that started mid-file may begin mid-line: drop that fragment.
    if requested.is_none() && start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let truncated = lines.len() > limit || skipped > 0;
    if requested.is_none() && lines.len() > limit {
        lines.drain(..lines.len() - limit);
    } else {
        lines.truncate(limit);
    }
    let consumed: usize = if requested.is_some() { lines.iter().map(|l| l.len() + 1).sum() } else { complete };
    Ok(json!({
        "file": path, "cursor": start + consumed as u64, "size": size, "lines": lines,
        "truncated": truncated, "reset": reset, "skippedBytes": skipped,
    }))
}
