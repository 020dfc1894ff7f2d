//! Durable state: sessions, transcripts, runs, the audit log and the memory index.
//!
//! One [`Store`] trait with an SQLite implementation ([`SqliteStore`], the embedded default: WAL, migrations);
//! a PostgreSQL implementation will sit behind the same trait and pass the same [`conformance`] suite.
//!
//! **Invariants:**
//! - A turn is written in one transaction ([`Store::commit_turn`]): a crash leaves either the whole turn (its
//!   entries, the session's new leaf and totals, the run's final status) or none of it.
//! - The audit log is append-only; the database itself refuses updates and deletes of its rows.
//! - This crate never parses the client wire protocol; transcript entries are stored as the JSON the reference
//!   writes.

mod channels;
pub mod conformance;
mod sqlite;
mod sqlite_channels;
mod writer;

use async_trait::async_trait;
pub use openclaw_protocol::MemoryHit;
use openclaw_protocol::{TranscriptEntry, Usage};
use serde_json::Value;

pub use channels::{
    Accepted, ChannelQueues, Delivery, InboundRecord, NewInbound, NewOutbound, OutboundRecord, PairingRequest,
};
pub use sqlite::SqliteStore;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source} (fix: check that the directory exists and is writable)")]
    Open { path: String, source: sqlx::Error },
    #[error(
        "database migration failed: {0} (fix: the file may be from a newer OpenClaw-rs; restore a backup or upgrade)"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored transcript entry {entry_id} of session {session_id} is not valid JSON: {source}")]
    CorruptEntry { session_id: String, entry_id: String, source: serde_json::Error },
    #[error("stored {what} {id} is not valid JSON: {source}")]
    CorruptRecord { what: &'static str, id: String, source: serde_json::Error },
    #[error("no session {0}")]
    NoSession(String),
    #[error("the database is full or the disk is out of space: {0} (fix: free disk space in the state directory)")]
    DiskFull(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A session window.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub session_id: String,
    pub session_key: String,
    pub agent_id: String,
    /// `active` or `ended`.
    pub status: String,
    pub reason: String,
    pub previous_session_id: Option<String>,
    pub channel: Option<String>,
    pub display_name: Option<String>,
    pub model_provider: Option<String>,
    pub model: Option<String>,
    pub leaf_entry_id: Option<String>,
    pub entry_count: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub cost_usd: f64,
    pub compaction_count: i64,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// What is needed to open a session window.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub session_key: String,
    pub agent_id: String,
    pub channel: Option<String>,
    pub display_name: Option<String>,
    /// The workspace, written into the `session` header entry as `cwd`.
    pub cwd: String,
    pub reason: String,
}

/// One stored transcript entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub seq: i64,
    pub run_id: Option<String>,
    pub entry: TranscriptEntry,
}

/// A run (one agent turn).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub session_id: String,
    pub session_key: String,
    pub agent_id: String,
    pub status: String,
    pub owner_pid: Option<i64>,
    pub model: Option<String>,
    pub error: Option<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

/// What is needed to start a run.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run_id: String,
    pub session_id: String,
    pub session_key: String,
    pub agent_id: String,
    pub owner_pid: Option<i64>,
}

/// Final status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Done,
    Failed,
    Aborted,
    Timeout,
    Interrupted,
}

impl RunStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
            RunStatus::Timeout => "timeout",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Everything one turn writes, committed atomically.
#[derive(Debug, Clone)]
pub struct TurnCommit {
    pub session_id: String,
    pub run_id: String,
    pub entries: Vec<TranscriptEntry>,
    pub usage: Usage,
    pub model_provider: Option<String>,
    pub model: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub audit: Vec<AuditEvent>,
    /// The inbound message this turn answers: finished, and its reply queued (unless its text is empty), in the
    /// same transaction.
    pub delivery: Option<Delivery>,
}

/// One audit log event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Who acted: `agent:<id>`, `cli`, `user:<id>`, …
    pub actor: String,
    /// What: `tool.call`, `turn.completed`, `session.reset`, …
    pub action: String,
    pub agent_id: Option<String>,
    pub session_key: Option<String>,
    pub run_id: Option<String>,
    /// `ok`, `error`, `denied`, …
    pub outcome: String,
    pub detail: Value,
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub ts: i64,
    pub event: AuditEvent,
}

/// One chunk of a memory file to index.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryChunk {
    pub start_line: i64,
    pub end_line: i64,
    pub content: String,
}

/// A device identity known to the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    /// Lower-case hex SHA-256 of the raw Ed25519 public key.
    pub device_id: String,
    /// The raw public key, base64url without padding.
    pub public_key: String,
    pub client_id: Option<String>,
    pub platform: Option<String>,
    pub approved: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// A device token (looked up by the SHA-256 of the token; the token itself is never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceToken {
    pub device_id: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub issued_at: i64,
    pub revoked: bool,
}

/// The durable state of the gateway.
#[async_trait]
pub trait Store: Send + Sync {
    /// The active session window of a key, if any.
    async fn active_session(&self, session_key: &str) -> Result<Option<SessionRecord>>;

    /// Opens a new active window for a key (ending the current one, if any) and writes its `session` header.
    async fn open_session(&self, new: NewSession) -> Result<SessionRecord>;

    /// Ends the active window of a key (`/new`, `/reset`); returns whether there was one.
    async fn end_session(&self, session_key: &str) -> Result<bool>;

    /// Deletes every window of a session key with its transcript (the audit log keeps its record); returns how
    /// many windows were deleted.
    async fn delete_session(&self, session_key: &str) -> Result<u64>;

    /// One session window by id.
    async fn session(&self, session_id: &str) -> Result<Option<SessionRecord>>;

    /// Session windows, most recently updated first; `agent_id` filters, `active_only` hides ended windows.
    async fn list_sessions(&self, agent_id: Option<&str>, active_only: bool, limit: i64) -> Result<Vec<SessionRecord>>;

    /// How many session windows there are; `agent_id` filters, `active_only` skips ended windows.
    async fn count_sessions(&self, agent_id: Option<&str>, active_only: bool) -> Result<i64>;

    /// Every entry of a session window, in order.
    async fn transcript(&self, session_id: &str) -> Result<Vec<StoredEntry>>;

    /// Records a run as `running`.
    async fn begin_run(&self, run: NewRun) -> Result<()>;

    /// A fresh session's first turn: [`Store::open_session`] and [`Store::begin_run`] (run `run_id` in the new
    /// window, for its key and agent). The default does the two one after the other; an implementation that can
    /// should do them in one transaction.
    async fn open_session_for_run(
        &self,
        new: NewSession,
        run_id: String,
        owner_pid: Option<i64>,
    ) -> Result<SessionRecord> {
        let (session_key, agent_id) = (new.session_key.clone(), new.agent_id.clone());
        let session = self.open_session(new).await?;
        let session_id = session.session_id.clone();
        self.begin_run(NewRun { run_id, session_id, session_key, agent_id, owner_pid }).await?;
        Ok(session)
    }

    /// Writes a whole turn atomically: entries, session leaf and totals, run status, audit events.
    async fn commit_turn(&self, turn: TurnCommit) -> Result<()>;

    /// One run by id.
    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>>;

    /// Marks `running` runs whose owner is no longer alive as `interrupted`; returns how many.
    async fn recover_runs(&self, is_alive: &(dyn Fn(i64) -> bool + Sync)) -> Result<u64>;

    /// Appends one audit event.
    async fn append_audit(&self, event: AuditEvent) -> Result<()>;

    /// The most recent audit events, newest last.
    async fn audit_events(&self, limit: i64) -> Result<Vec<AuditRecord>>;

    /// Fingerprints of the indexed memory files of an agent (`path → fingerprint`).
    async fn memory_files(&self, agent_id: &str) -> Result<Vec<(String, String)>>;

    /// Replaces the indexed chunks of one memory file.
    async fn index_memory_file(
        &self,
        agent_id: &str,
        path: &str,
        fingerprint: &str,
        chunks: Vec<MemoryChunk>,
    ) -> Result<()>;

    /// Forgets a memory file that no longer exists.
    async fn remove_memory_file(&self, agent_id: &str, path: &str) -> Result<()>;

    /// Full-text search over an agent's memory chunks.
    async fn search_memory(&self, agent_id: &str, query: &str, limit: i64) -> Result<Vec<MemoryHit>>;

    /// A device by id.
    async fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>>;

    /// Records a device (or refreshes `last_seen_at`, client, platform and approval of a known one).
    async fn upsert_device(&self, device: DeviceRecord) -> Result<()>;

    /// Stores a newly issued device token by its SHA-256.
    async fn add_device_token(&self, token_sha256: &str, token: DeviceToken) -> Result<()>;

    /// A device token by its SHA-256.
    async fn device_token(&self, token_sha256: &str) -> Result<Option<DeviceToken>>;

    /// A consistency check of the underlying database (`PRAGMA integrity_check` for SQLite).
    async fn check_integrity(&self) -> Result<Vec<String>>;

    // ---- channels: inbox, outbox, cursors, pairing ----

    /// Records an inbound message unless its `(channel, account, platform_id)` is known; `cursor` (a key and a
    /// value) is saved in the same transaction (Telegram's next update offset).
    async fn accept_inbound(&self, message: NewInbound, cursor: Option<(String, String)>) -> Result<Accepted>;

    /// Pending inbound messages, oldest first.
    async fn pending_inbound(&self, limit: i64) -> Result<Vec<InboundRecord>>;

    /// One inbound message by id.
    async fn inbound(&self, id: i64) -> Result<Option<InboundRecord>>;

    /// Counts a processing attempt of a pending message; returns the new count.
    async fn claim_inbound(&self, id: i64) -> Result<i64>;

    /// Finishes an inbound message (`done`, `ignored`, `failed`) without a turn, queueing `reply` in the same
    /// transaction (a pairing code, a command's answer). A message already finished is left alone.
    async fn finish_inbound(&self, id: i64, status: &str, note: Option<&str>, reply: Option<NewOutbound>)
    -> Result<()>;

    /// A channel cursor.
    async fn channel_cursor(&self, key: &str) -> Result<Option<String>>;

    /// Saves a channel cursor.
    async fn set_channel_cursor(&self, key: &str, value: &str) -> Result<()>;

    /// Queues a reply that answers no inbound message (an approval notice, an operator's send).
    async fn queue_outbound(&self, reply: NewOutbound) -> Result<i64>;

    /// The replies due at `now`: for each conversation its oldest pending reply, if its time has come.
    async fn due_outbound(&self, now: i64, limit: i64) -> Result<Vec<OutboundRecord>>;

    /// When the next pending reply falls due (`None`: nothing pending).
    async fn next_outbound_at(&self) -> Result<Option<i64>>;

    /// Records that chunk `chunk` of a reply is being sent (`resend`: it was found in flight after a restart and is
    /// sent again).
    async fn outbound_sending(&self, id: i64, chunk: i64, resend: bool) -> Result<()>;

    /// Records that the first `chunks_sent` chunks of a reply were delivered (and none is in flight);
    /// `platform_id` is the platform's id for the last of them, when it gave one.
    async fn outbound_progress(&self, id: i64, chunks_sent: i64, platform_id: Option<&str>) -> Result<()>;

    /// The platform id of the last chunk delivered in a conversation (`None`: none known).
    async fn last_delivered_id(&self, conversation: &str) -> Result<Option<String>>;

    /// Finishes a reply: `sent`, or `dead` with the reason (a dead letter).
    async fn finish_outbound(&self, id: i64, status: &str, error: Option<&str>) -> Result<()>;

    /// Schedules another attempt of a reply at `next_attempt_at`, counting the failed one. `uncertain`: the failed
    /// send may have arrived (a lost answer), so the chunk stays marked in flight and is looked for before it is sent
    /// again.
    async fn retry_outbound(&self, id: i64, next_attempt_at: i64, error: &str, uncertain: bool) -> Result<()>;

    /// One reply by id.
    async fn outbound(&self, id: i64) -> Result<Option<OutboundRecord>>;

    /// The reply a run wrote (its answer queued for a channel), if it wrote one.
    async fn outbound_of_run(&self, run_id: &str) -> Result<Option<OutboundRecord>>;

    /// Dead letters, newest first.
    async fn dead_letters(&self, limit: i64) -> Result<Vec<OutboundRecord>>;

    /// Puts a dead letter back in the queue; returns whether it was dead.
    async fn requeue_outbound(&self, id: i64, now: i64) -> Result<bool>;

    /// Counts of pending inbound messages, pending replies, dead letters and live pairing requests at `now`.
    async fn channel_queues(&self, now: i64) -> Result<ChannelQueues>;

    /// Pairing requests not expired at `now` (`channel` filters).
    async fn pairing_requests(&self, channel: Option<&str>, now: i64) -> Result<Vec<PairingRequest>>;

    /// Records a pairing request, replacing an expired one of the same sender.
    async fn add_pairing_request(&self, request: PairingRequest) -> Result<()>;

    /// Approves the request with this code: the sender is allowed and the request removed. `None`: no such code
    /// (or expired).
    async fn approve_pairing(&self, channel: &str, code: &str, now: i64) -> Result<Option<PairingRequest>>;

    /// Whether a sender was approved on a channel account.
    async fn is_paired(&self, channel: &str, account: &str, sender_id: &str) -> Result<bool>;
}
