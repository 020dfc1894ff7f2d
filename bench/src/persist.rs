//! Persisted turns per second: a turn's writes exactly as the agent runtime makes them for a `/v1` request (open a
//! session window with its run in one write, then commit the model change, question, answer and audit event in one
//! transaction), through the `Store` trait into SQLite on disk with the gateway's settings, from several writers at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use openclaw_protocol::{AgentMessage, EntryHeader, ModelChangeEntry, TranscriptEntry, Usage};
use openclaw_store::{AuditEvent, NewSession, RunStatus, SqliteStore, Store, TurnCommit};

async fn one_turn(store: &SqliteStore, n: usize) -> Result<(), openclaw_store::StoreError> {
    let session_key = format!("agent:main:openai:bench-{n}");
    let run_id = format!("run-{n}");
    let new = NewSession {
        session_key: session_key.clone(),
        agent_id: "main".to_owned(),
        channel: None,
        display_name: None,
        cwd: "/bench/ws".to_owned(),
        reason: "initial".to_owned(),
    };
    let session = store.open_session_for_run(new, run_id.clone(), Some(i64::from(std::process::id()))).await?;
    let change = TranscriptEntry::ModelChange(ModelChangeEntry {
        provider: "mock".to_owned(),
        model_id: "mock-1".to_owned(),
        header: EntryHeader::new(None),
    });
    let user = TranscriptEntry::message(Some(change.id().to_owned()), AgentMessage::user_text("ping"));
    let reply = TranscriptEntry::message(Some(user.id().to_owned()), AgentMessage::user_text("pong"));
    store
        .commit_turn(TurnCommit {
            session_id: session.session_id,
            run_id: run_id.clone(),
            entries: vec![change, user, reply],
            usage: Usage::default(),
            model_provider: Some("mock".to_owned()),
            model: Some("mock-1".to_owned()),
            status: RunStatus::Done,
            error: None,
            audit: vec![AuditEvent {
                actor: "agent:main".to_owned(),
                action: "turn.completed".to_owned(),
                agent_id: Some("main".to_owned()),
                session_key: Some(session_key),
                run_id: Some(run_id),
                outcome: "done".to_owned(),
                detail: serde_json::json!({"durationMs": 1, "entries": 3}),
            }],
            delivery: None,
        })
        .await
}

/// Writes `total` turns from `writers` tasks and returns turns per second; checks every run reached the store.
///
/// # Errors
/// A store error, or a count that does not match.
pub async fn turns_per_second(total: usize, writers: usize) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite")).await.map_err(|error| error.to_string())?);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, counter) = (store.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n >= total {
                    return Ok::<(), openclaw_store::StoreError>(());
                }
                one_turn(&store, n).await?;
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|error| error.to_string())?.map_err(|error| error.to_string())?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stored = store.count_sessions(Some("main"), true).await.map_err(|error| error.to_string())?;
    if stored as usize != total {
        return Err(format!("{stored} sessions stored for {total} turns"));
    }
    Ok(total as f64 / seconds)
}
