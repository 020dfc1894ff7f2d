//! The conformance suite every [`Store`] implementation passes (SQLite today, PostgreSQL next). It panics on the
//! first violated expectation, like a test.

use openclaw_protocol::{AgentMessage, TranscriptEntry, Usage};

use crate::{
    Accepted, AuditEvent, Delivery, DeviceRecord, DeviceToken, MemoryChunk, NewInbound, NewOutbound, NewRun,
    NewSession, PairingRequest, RunStatus, Store, TurnCommit,
};

fn new_session(key: &str) -> NewSession {
    NewSession {
        session_key: key.to_owned(),
        agent_id: "main".to_owned(),
        channel: Some("cli".to_owned()),
        display_name: None,
        cwd: "/workspace".to_owned(),
        reason: "initial".to_owned(),
    }
}

fn turn(session_id: &str, run_id: &str, entries: Vec<TranscriptEntry>) -> TurnCommit {
    TurnCommit {
        session_id: session_id.to_owned(),
        run_id: run_id.to_owned(),
        entries,
        usage: Usage { input: 10, output: 2, total_tokens: 12, ..Usage::default() },
        model_provider: Some("mock".to_owned()),
        model: Some("mock-1".to_owned()),
        status: RunStatus::Done,
        error: None,
        audit: vec![AuditEvent {
            actor: "agent:main".to_owned(),
            action: "turn.completed".to_owned(),
            agent_id: Some("main".to_owned()),
            session_key: None,
            run_id: Some(run_id.to_owned()),
            outcome: "ok".to_owned(),
            detail: serde_json::json!({}),
        }],
        delivery: None,
    }
}

async fn begin(store: &dyn Store, session_id: &str, key: &str, run_id: &str, pid: Option<i64>) {
    store
        .begin_run(NewRun {
            run_id: run_id.to_owned(),
            session_id: session_id.to_owned(),
            session_key: key.to_owned(),
            agent_id: "main".to_owned(),
            owner_pid: pid,
        })
        .await
        .expect("begin_run");
}

/// Runs every check against `store`, which must be empty.
///
/// # Panics
/// On the first expectation the store violates.
pub async fn store_conformance(store: &dyn Store) {
    sessions_and_turns(store).await;
    failed_commit_writes_nothing(store).await;
    recovery(store).await;
    memory(store).await;
    devices(store).await;
    inbox_and_outbox(store).await;
    pairing(store).await;
    let problems = store.check_integrity().await.expect("check_integrity");
    assert!(problems.is_empty(), "integrity problems: {problems:?}");
}

async fn sessions_and_turns(store: &dyn Store) {
    let key = "agent:main:main";
    assert!(store.active_session(key).await.expect("active_session").is_none());
    let session = store.open_session(new_session(key)).await.expect("open_session");
    assert_eq!(session.status, "active");
    assert_eq!(session.entry_count, 1, "the session header is the first entry");

    begin(store, &session.session_id, key, "run-1", None).await;
    let user = TranscriptEntry::message(None, AgentMessage::user_text("hello"));
    let reply = TranscriptEntry::message(Some(user.id().to_owned()), AgentMessage::user_text("stand-in reply"));
    let reply_id = reply.id().to_owned();
    store.commit_turn(turn(&session.session_id, "run-1", vec![user, reply])).await.expect("commit_turn");

    let transcript = store.transcript(&session.session_id).await.expect("transcript");
    assert_eq!(transcript.len(), 3);
    assert!(matches!(transcript[0].entry, TranscriptEntry::Session(_)));
    assert_eq!(transcript[2].entry.id(), reply_id);
    assert_eq!(transcript[2].run_id.as_deref(), Some("run-1"));
    assert!(transcript.windows(2).all(|pair| pair[0].seq < pair[1].seq), "entries are ordered");

    let session = store.session(&session.session_id).await.expect("session").expect("exists");
    assert_eq!(session.leaf_entry_id.as_deref(), Some(reply_id.as_str()));
    assert_eq!(session.total_tokens, 12);
    assert_eq!(session.model.as_deref(), Some("mock-1"));
    let run = store.run("run-1").await.expect("run").expect("exists");
    assert_eq!(run.status, "done");

    // A reset ends the window; the next one links back to it.
    assert!(store.end_session(key).await.expect("end_session"));
    assert!(store.active_session(key).await.expect("active_session").is_none());
    let second = store.open_session(new_session(key)).await.expect("open_session");
    assert_eq!(second.previous_session_id.as_deref(), Some(session.session_id.as_str()));
    // A fresh window and its first run in one call: the old window ends, the run is running in the new one.
    let third = store.open_session_for_run(new_session(key), "run-2".to_owned(), Some(7)).await.expect("open for run");
    assert_eq!(third.previous_session_id.as_deref(), Some(second.session_id.as_str()));
    assert_eq!(store.active_session(key).await.expect("active").map(|s| s.session_id), Some(third.session_id.clone()));
    let run = store.run("run-2").await.expect("run").expect("recorded");
    assert_eq!((run.status.as_str(), run.session_id.as_str()), ("running", third.session_id.as_str()));
    assert_eq!((run.session_key.as_str(), run.owner_pid), (key, Some(7)));
    store.commit_turn(turn(&third.session_id, "run-2", vec![])).await.expect("commit_turn");
    let listed = store.list_sessions(Some("main"), false, 10).await.expect("list_sessions");
    assert_eq!(listed.len(), 3);
    let active = store.list_sessions(None, true, 10).await.expect("list_sessions");
    assert_eq!(active.len(), 1);
    assert_eq!(store.count_sessions(Some("main"), false).await.expect("count_sessions"), 3);
    assert_eq!(store.count_sessions(None, true).await.expect("count_sessions"), 1);
    assert_eq!(store.count_sessions(Some("other"), false).await.expect("count_sessions"), 0);

    let audit = store.audit_events(10).await.expect("audit_events");
    assert!(audit.iter().any(|record| record.event.action == "turn.completed"));

    // Deleting a key removes its windows and their transcripts.
    assert_eq!(store.delete_session(key).await.expect("delete_session"), 3);
    assert!(store.session(&session.session_id).await.expect("session").is_none());
    assert!(store.transcript(&session.session_id).await.expect("transcript").is_empty());
    assert_eq!(store.delete_session(key).await.expect("delete_session"), 0);
}

async fn failed_commit_writes_nothing(store: &dyn Store) {
    let key = "agent:main:atomic";
    let session = store.open_session(new_session(key)).await.expect("open_session");
    begin(store, &session.session_id, key, "run-atomic", None).await;
    let first = TranscriptEntry::message(None, AgentMessage::user_text("one"));
    // The same entry twice violates the unique entry id: the commit must fail as a whole.
    let commit = turn(&session.session_id, "run-atomic", vec![first.clone(), first]);
    assert!(store.commit_turn(commit).await.is_err(), "a duplicate entry id must fail the commit");
    let transcript = store.transcript(&session.session_id).await.expect("transcript");
    assert_eq!(transcript.len(), 1, "only the header: no half-written turn");
    let after = store.session(&session.session_id).await.expect("session").expect("exists");
    assert_eq!(after.total_tokens, 0);
    assert_eq!(store.run("run-atomic").await.expect("run").expect("exists").status, "running");
}

async fn recovery(store: &dyn Store) {
    let key = "agent:main:recovery";
    let session = store.open_session(new_session(key)).await.expect("open_session");
    begin(store, &session.session_id, key, "run-dead", Some(999_999)).await;
    begin(store, &session.session_id, key, "run-alive", Some(1)).await;
    let recovered = store.recover_runs(&|pid| pid == 1).await.expect("recover_runs");
    // run-atomic (no owner) from the previous check is recovered too.
    assert_eq!(recovered, 2);
    assert_eq!(store.run("run-dead").await.expect("run").expect("exists").status, "interrupted");
    assert_eq!(store.run("run-alive").await.expect("run").expect("exists").status, "running");
}

async fn memory(store: &dyn Store) {
    let chunks = vec![
        MemoryChunk { start_line: 1, end_line: 3, content: "The user's favourite colour is teal.".to_owned() },
        MemoryChunk { start_line: 4, end_line: 6, content: "Deploys happen on Tuesdays.".to_owned() },
    ];
    store.index_memory_file("main", "MEMORY.md", "v1", chunks).await.expect("index_memory_file");
    store
        .index_memory_file(
            "other",
            "MEMORY.md",
            "v1",
            vec![MemoryChunk { start_line: 1, end_line: 1, content: "teal is also here".to_owned() }],
        )
        .await
        .expect("index_memory_file");
    let hits = store.search_memory("main", "what colour?", 5).await.expect("search_memory");
    assert_eq!(hits.len(), 1, "agents' memories are separate: {hits:?}");
    assert_eq!(hits[0].start_line, 1);
    assert!(hits[0].snippet.contains("teal"));
    assert_eq!(
        store.memory_files("main").await.expect("memory_files"),
        vec![("MEMORY.md".to_owned(), "v1".to_owned())]
    );
    store.remove_memory_file("main", "MEMORY.md").await.expect("remove_memory_file");
    assert!(store.search_memory("main", "teal", 5).await.expect("search_memory").is_empty());
    assert!(store.search_memory("main", "   ", 5).await.expect("search_memory").is_empty());
}

async fn devices(store: &dyn Store) {
    assert!(store.device("d1").await.expect("device").is_none());
    let device = DeviceRecord {
        device_id: "d1".to_owned(),
        public_key: "pk".to_owned(),
        client_id: Some("cli".to_owned()),
        platform: Some("linux".to_owned()),
        approved: true,
        created_at: 1,
        last_seen_at: 1,
    };
    store.upsert_device(device.clone()).await.expect("upsert_device");
    // A later sighting without approval never revokes an approval.
    store.upsert_device(DeviceRecord { approved: false, last_seen_at: 5, ..device.clone() }).await.expect("upsert");
    let known = store.device("d1").await.expect("device").expect("exists");
    assert!(known.approved);
    assert_eq!(known.last_seen_at, 5);
    assert_eq!(known.created_at, 1);
    let token = DeviceToken {
        device_id: "d1".to_owned(),
        role: "operator".to_owned(),
        scopes: vec!["operator.read".to_owned()],
        issued_at: 2,
        revoked: false,
    };
    store.add_device_token("hash-1", token.clone()).await.expect("add_device_token");
    assert_eq!(store.device_token("hash-1").await.expect("device_token"), Some(token));
    assert!(store.device_token("hash-2").await.expect("device_token").is_none());
}

fn inbound(platform_id: &str, conversation: &str) -> NewInbound {
    NewInbound {
        channel: "telegram".to_owned(),
        account: "default".to_owned(),
        platform_id: platform_id.to_owned(),
        conversation: conversation.to_owned(),
        sender: "42".to_owned(),
        payload: serde_json::json!({"text": platform_id}),
        received_at: 1,
    }
}

fn reply(conversation: &str, text: &str) -> NewOutbound {
    NewOutbound {
        channel: "telegram".to_owned(),
        account: "default".to_owned(),
        conversation: conversation.to_owned(),
        route: serde_json::json!({"chatId": conversation}),
        text: text.to_owned(),
    }
}

async fn inbox_and_outbox(store: &dyn Store) {
    let cursor = Some(("telegram:default:offset".to_owned(), "101".to_owned()));
    let Accepted::New(first) = store.accept_inbound(inbound("100", "c1"), cursor).await.expect("accept") else {
        panic!("a new message must be recorded as new");
    };
    assert_eq!(store.channel_cursor("telegram:default:offset").await.expect("cursor").as_deref(), Some("101"));
    assert_eq!(store.accept_inbound(inbound("100", "c1"), None).await.expect("again"), Accepted::Duplicate(first));
    let Accepted::New(second) = store.accept_inbound(inbound("101", "c1"), None).await.expect("accept") else {
        panic!("new");
    };
    let Accepted::New(other) = store.accept_inbound(inbound("102", "c2"), None).await.expect("accept") else {
        panic!("new");
    };
    let pending: Vec<i64> = store.pending_inbound(10).await.expect("pending").iter().map(|m| m.id).collect();
    assert_eq!(pending, vec![first, second, other]);
    assert_eq!(store.claim_inbound(first).await.expect("claim"), 1);
    assert_eq!(store.claim_inbound(first).await.expect("claim"), 2);

    // A turn finishes its inbound message and queues the reply in its own transaction.
    let key = "agent:main:telegram:direct:42";
    let session = store.open_session(new_session(key)).await.expect("open");
    begin(store, &session.session_id, key, "run-ch1", None).await;
    let mut commit = turn(&session.session_id, "run-ch1", vec![]);
    commit.delivery = Some(Delivery { inbox_id: Some(first), reply: reply("c1", "first answer") });
    store.commit_turn(commit).await.expect("commit with delivery");
    assert_eq!(store.inbound(first).await.expect("inbound").expect("row").status, "done");
    let written = store.outbound_of_run("run-ch1").await.expect("by run").expect("the run's reply");
    assert_eq!(
        (written.text.as_str(), written.inbox_id, written.run_id.as_deref()),
        ("first answer", Some(first), Some("run-ch1"))
    );
    // Finishing again (a duplicate run) queues nothing more.
    store.finish_inbound(first, "done", None, Some(reply("c1", "duplicate"))).await.expect("finish again");
    store.finish_inbound(second, "done", None, Some(reply("c1", "second answer"))).await.expect("finish");
    store.finish_inbound(other, "ignored", Some("no mention"), None).await.expect("ignore");
    assert!(store.pending_inbound(10).await.expect("pending").is_empty());

    // Only the head of each conversation is due; a retry later in time holds back only its own conversation.
    let c3 = store.queue_outbound(reply("c3", "elsewhere")).await.expect("queue");
    let due = store.due_outbound(i64::MAX, 10).await.expect("due");
    let texts: Vec<&str> = due.iter().map(|o| o.text.as_str()).collect();
    assert_eq!(texts, vec!["first answer", "elsewhere"]);
    let head = due[0].id;
    let now = openclaw_protocol::now_ms();
    store.retry_outbound(head, now + 60_000, "429: retry after 60", false).await.expect("retry");
    let due = store.due_outbound(now + 1_000, 10).await.expect("due");
    assert_eq!(due.iter().map(|o| o.id).collect::<Vec<_>>(), vec![c3], "c1 waits, c3 does not");
    let next = store.next_outbound_at().await.expect("next").expect("something pending");
    assert!(next <= now + 1_000, "the earliest head is c3's, due now");
    store.outbound_sending(head, 0, false).await.expect("sending");
    assert_eq!(store.outbound(head).await.expect("outbound").expect("row").in_flight, Some(0));
    // A send whose outcome is unknown (a lost answer) keeps its chunk in flight; a refused one does not.
    store.retry_outbound(head, 0, "connection reset", true).await.expect("uncertain retry");
    assert_eq!(store.outbound(head).await.expect("outbound").expect("row").in_flight, Some(0));
    store.outbound_sending(head, 0, true).await.expect("sending again after a restart");
    assert_eq!(store.last_delivered_id("c1").await.expect("last id"), None);
    store.outbound_progress(head, 1, Some("41")).await.expect("progress");
    let record = store.outbound(head).await.expect("outbound").expect("row");
    assert_eq!((record.attempts, record.chunks_sent, record.in_flight, record.resends), (2, 1, None, 1));
    assert_eq!(record.last_platform_id.as_deref(), Some("41"));
    store.outbound_progress(head, 1, None).await.expect("progress without an id keeps the last one");
    assert_eq!(store.last_delivered_id("c1").await.expect("last id").as_deref(), Some("41"));
    assert_eq!(store.last_delivered_id("c3").await.expect("last id"), None);
    store.retry_outbound(c3, 0, "400: chat not found", false).await.expect("retry");
    assert_eq!(store.outbound(c3).await.expect("outbound").expect("row").in_flight, None);
    store.finish_outbound(head, "sent", None).await.expect("sent");
    let due = store.due_outbound(i64::MAX, 10).await.expect("due");
    assert_eq!(due.iter().map(|o| o.text.as_str()).collect::<Vec<_>>(), vec!["second answer", "elsewhere"]);
    store.finish_outbound(c3, "dead", Some("403: bot was blocked")).await.expect("dead");
    let dead = store.dead_letters(10).await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("403: bot was blocked"));
    assert!(store.requeue_outbound(c3, 7).await.expect("requeue"));
    assert!(!store.requeue_outbound(c3, 7).await.expect("requeue twice"));
    assert!(store.dead_letters(10).await.expect("dead letters").is_empty());
    let queues = store.channel_queues(0).await.expect("queues");
    assert_eq!((queues.inbox_pending, queues.outbox_pending, queues.dead_letters), (0, 2, 0), "{queues:?}");

    // A turn an operator started with delivery has no inbound message: its commit only queues the reply, found
    // by its run; one with nothing to say queues nothing.
    let key = "agent:main:telegram:direct:43";
    let session = store.open_session(new_session(key)).await.expect("open");
    begin(store, &session.session_id, key, "run-op1", None).await;
    let mut commit = turn(&session.session_id, "run-op1", vec![]);
    commit.delivery = Some(Delivery { inbox_id: None, reply: reply("c4", "as the operator asked") });
    store.commit_turn(commit).await.expect("commit with an operator's delivery");
    let queued = store.outbound_of_run("run-op1").await.expect("by run").expect("queued");
    assert_eq!(
        (queued.text.as_str(), queued.inbox_id, queued.status.as_str()),
        ("as the operator asked", None, "pending")
    );
    begin(store, &session.session_id, key, "run-op2", None).await;
    let mut commit = turn(&session.session_id, "run-op2", vec![]);
    commit.delivery = Some(Delivery { inbox_id: None, reply: reply("c4", "  ") });
    store.commit_turn(commit).await.expect("commit with an empty answer");
    assert!(store.outbound_of_run("run-op2").await.expect("by run").is_none());
    assert!(store.outbound_of_run("no-such-run").await.expect("by run").is_none());
    let queues = store.channel_queues(0).await.expect("queues");
    assert_eq!(queues.outbox_pending, 3, "{queues:?}");
}

async fn pairing(store: &dyn Store) {
    let request = |sender: &str, code: &str, expires_at: i64| PairingRequest {
        channel: "telegram".to_owned(),
        account: "default".to_owned(),
        sender_id: sender.to_owned(),
        code: code.to_owned(),
        display: Some("Ann".to_owned()),
        conversation: format!("telegram:default:direct:{sender}"),
        route: serde_json::json!({"chatId": sender}),
        created_at: 1_000,
        expires_at,
    };
    store.add_pairing_request(request("7", "ABCDEFGH", 5_000)).await.expect("add");
    store.add_pairing_request(request("8", "JKLMNPQR", 1_500)).await.expect("add");
    let open = store.pairing_requests(Some("telegram"), 2_000).await.expect("list");
    assert_eq!(open.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(), vec!["ABCDEFGH"], "expired ones are hidden");
    assert!(store.approve_pairing("telegram", "JKLMNPQR", 2_000).await.expect("approve expired").is_none());
    assert!(!store.is_paired("telegram", "default", "7").await.expect("paired"));
    assert_eq!(store.channel_queues(2_000).await.expect("queues").pairing_requests, 1);
    let approved = store.approve_pairing("telegram", "ABCDEFGH", 2_000).await.expect("approve").expect("found");
    assert_eq!(approved.sender_id, "7");
    assert_eq!(approved.conversation, "telegram:default:direct:7");
    assert_eq!(approved.route, serde_json::json!({"chatId": "7"}));
    assert!(store.is_paired("telegram", "default", "7").await.expect("paired"));
    assert!(store.pairing_requests(None, 2_000).await.expect("list").is_empty());
}
