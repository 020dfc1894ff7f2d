//! Transcript append: how fast whole turns (user message + assistant reply) are committed to SQLite on disk.

use criterion::{Criterion, criterion_group, criterion_main};
use openclaw_protocol::{AgentMessage, TranscriptEntry, Usage};
use openclaw_store::{NewRun, NewSession, RunStatus, SqliteStore, Store, TurnCommit};

fn bench_append(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = runtime.block_on(SqliteStore::open(&dir.path().join("bench.sqlite"))).expect("open");
    let session = runtime
        .block_on(store.open_session(NewSession {
            session_key: "agent:main:bench".to_owned(),
            agent_id: "main".to_owned(),
            channel: None,
            display_name: None,
            cwd: "/w".to_owned(),
            reason: "initial".to_owned(),
        }))
        .expect("session");
    let mut n = 0_u64;
    c.bench_function("commit_turn (2 entries, file, WAL)", |b| {
        b.iter(|| {
            n += 1;
            let run_id = format!("run-{n}");
            runtime.block_on(async {
                store
                    .begin_run(NewRun {
                        run_id: run_id.clone(),
                        session_id: session.session_id.clone(),
                        session_key: session.session_key.clone(),
                        agent_id: "main".to_owned(),
                        owner_pid: None,
                    })
                    .await
                    .expect("begin");
                let user = TranscriptEntry::message(None, AgentMessage::user_text("What is on my calendar today?"));
                let reply = TranscriptEntry::message(
                    Some(user.id().to_owned()),
                    AgentMessage::user_text("You have a stand-up at 10:00 and a review at 15:00."),
                );
                store
                    .commit_turn(TurnCommit {
                        session_id: session.session_id.clone(),
                        run_id,
                        entries: vec![user, reply],
                        usage: Usage::default(),
                        model_provider: None,
                        model: None,
                        status: RunStatus::Done,
                        error: None,
                        audit: Vec::new(),
                        delivery: None,
                    })
                    .await
                    .expect("commit");
            })
        })
    });
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
