//! The SQLite implementation of [`Store`]: one file in WAL mode, migrations embedded, turns written in
//! `BEGIN IMMEDIATE` transactions so concurrent writers queue instead of failing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use openclaw_protocol::{SessionHeader, TRANSCRIPT_VERSION, TranscriptEntry, new_id, now_iso, now_ms};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::sqlite_channels as channels;
use crate::writer::Writer;
use crate::{
    Accepted, AuditEvent, AuditRecord, ChannelQueues, DeviceRecord, DeviceToken, InboundRecord, MemoryChunk, MemoryHit,
    NewInbound, NewOutbound, NewRun, NewSession, OutboundRecord, PairingRequest, Result, RunRecord, SessionRecord,
    Store, StoreError, StoredEntry, TurnCommit,
};

/// Read-only connections beside the writer.
const READERS: u32 = 2;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The one writing connection: SQLite takes one writer at a time, and queueing writers here (rather than in
    /// SQLite's sleeping busy handler) keeps them in order and fast.
    pool: SqlitePool,
    /// Read-only connections for the reads of a turn (WAL lets them run beside the writer); the writer's pool for
    /// an in-memory database, which exists only on its one connection.
    reader: SqlitePool,
    /// Write transactions of turns, committed in groups on `pool`'s connection.
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file, applies migrations, and sets WAL mode.
    ///
    /// # Errors
    /// [`StoreError::Open`] when the file cannot be opened, [`StoreError::Migrate`] when the schema cannot be applied.
    pub async fn open(path: &Path) -> Result<Self> {
        let url = path.to_string_lossy().into_owned();
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|source| StoreError::Open { path: url.clone(), source })?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let reader_options = options.clone().read_only(true).create_if_missing(false);
        let store = Self::connect(options, 1, &url).await?;
        // Opened after the migrations ran, so the readers see the schema.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(reader_options)
            .await
            .map_err(|source| StoreError::Open { path: url.clone(), source })?;
        Ok(SqliteStore { reader, ..store })
    }

    /// An in-memory database (tests and benchmarks).
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| StoreError::Open { path: ":memory:".to_owned(), source })?
            .foreign_keys(true);
        // One connection: every connection to `:memory:` would be its own database.
        Self::connect(options, 1, ":memory:").await
    }

    async fn connect(options: SqliteConnectOptions, max: u32, label: &str) -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open { path: label.to_owned(), source })?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore { reader: pool.clone(), writer: Writer::start(pool.clone()), pool })
    }

    /// A new window for `new.session_key` (ending the current one) with its header entry and, given `(run_id,
    /// owner_pid)`, a running run in it: one transaction.
    async fn open_window(&self, new: NewSession, run: Option<(String, Option<i64>)>) -> Result<SessionRecord> {
        // The key's latest window (if any) is ended and named as the new one's previous; the subqueries run before
        // the new row exists.
        const LATEST: &str =
            "(SELECT session_id FROM sessions WHERE session_key = ? ORDER BY created_at DESC, rowid DESC LIMIT 1)";
        let now = now_ms();
        let session_id = new_id();
        let header = TranscriptEntry::Session(SessionHeader {
            version: TRANSCRIPT_VERSION,
            id: session_id.clone(),
            timestamp: now_iso(),
            cwd: new.cwd.clone(),
            parent_session: None,
        });
        let sql = format!(
            "UPDATE sessions SET status = 'ended', updated_at = ? WHERE session_id = {LATEST} AND status = 'active'; \
             INSERT INTO sessions (session_id, session_key, agent_id, status, reason, previous_session_id, channel, \
             display_name, entry_count, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, {LATEST}, ?, ?, 1, ?, ?) \
             RETURNING *; {}{}",
            entries_sql(1),
            if run.is_some() { INSERT_RUN } else { "" }
        );
        let run = run.map(|(run_id, owner_pid)| NewRun {
            run_id,
            session_id: session_id.clone(),
            session_key: new.session_key.clone(),
            agent_id: new.agent_id.clone(),
            owner_pid,
        });
        let rows = self
            .writer
            .write(sql, move |query| {
                let query = query
                    .bind(now)
                    .bind(new.session_key.clone())
                    .bind(session_id.clone())
                    .bind(new.session_key.clone())
                    .bind(new.agent_id.clone())
                    .bind(new.reason.clone())
                    .bind(new.session_key.clone())
                    .bind(new.channel.clone())
                    .bind(new.display_name.clone())
                    .bind(now)
                    .bind(now);
                let query = bind_entries(query, &session_id, None, std::slice::from_ref(&header), now);
                match &run {
                    Some(run) => bind_run(query, run, now),
                    None => query,
                }
            })
            .await?;
        let row = rows.first().ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
        session_from_row(row)
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.reader.close().await;
        self.pool.close().await;
    }
}

/// Starts a write transaction that takes the database's write lock at once (`BEGIN IMMEDIATE`), so concurrent
/// writers queue instead of failing later.
pub(crate) async fn begin(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_disk_full)
}

pub(crate) fn map_disk_full(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        let message = db.message();
        if message.contains("database or disk is full") || message.contains("disk I/O error") {
            return StoreError::DiskFull(message.to_owned());
        }
    }
    StoreError::Database(error)
}

fn session_from_row(row: &SqliteRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        session_id: row.try_get("session_id")?,
        session_key: row.try_get("session_key")?,
        agent_id: row.try_get("agent_id")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        previous_session_id: row.try_get("previous_session_id")?,
        channel: row.try_get("channel")?,
        display_name: row.try_get("display_name")?,
        model_provider: row.try_get("model_provider")?,
        model: row.try_get("model")?,
        leaf_entry_id: row.try_get("leaf_entry_id")?,
        entry_count: row.try_get("entry_count")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        total_tokens: row.try_get("total_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        compaction_count: row.try_get("compaction_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn run_from_row(row: &SqliteRow) -> Result<RunRecord> {
    Ok(RunRecord {
        run_id: row.try_get("run_id")?,
        session_id: row.try_get("session_id")?,
        session_key: row.try_get("session_key")?,
        agent_id: row.try_get("agent_id")?,
        status: row.try_get("status")?,
        owner_pid: row.try_get("owner_pid")?,
        model: row.try_get("model")?,
        error: row.try_get("error")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

const INSERT_RUN: &str = " INSERT INTO runs (run_id, session_id, session_key, agent_id, status, owner_pid, \
    started_at) VALUES (?, ?, ?, ?, 'running', ?, ?);";

/// Binds a run to the parameters of [`INSERT_RUN`].
fn bind_run<'q>(query: SqliteQuery<'q>, run: &NewRun, now: i64) -> SqliteQuery<'q> {
    query
        .bind(run.run_id.clone())
        .bind(run.session_id.clone())
        .bind(run.session_key.clone())
        .bind(run.agent_id.clone())
        .bind(run.owner_pid)
        .bind(now)
}

const INSERT_AUDIT: &str = "INSERT INTO audit_log \
    (ts, actor, action, agent_id, session_key, run_id, outcome, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

/// Entries per `INSERT` (8 parameters each, well under SQLite's 32,766).
const ENTRIES_PER_INSERT: usize = 256;

pub(crate) type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// One statement appending `count` entries to a session's transcript, numbered after its last entry. SQLite
/// evaluates the `base` subquery before inserting, since the statement reads the table it writes. Binds: see
/// [`bind_entries`].
fn entries_sql(count: usize) -> String {
    let rows = vec!["(?, ?, ?, ?, ?)"; count].join(", ");
    format!(
        "INSERT INTO transcript_entries (session_id, seq, entry_id, parent_id, entry_type, run_id, entry_json, \
         created_at) SELECT ?, base.next + v.column1, v.column2, v.column3, v.column4, ?, v.column5, ? \
         FROM (SELECT COALESCE(MAX(seq), -1) + 1 AS next FROM transcript_entries WHERE session_id = ?) AS base, \
         (VALUES {rows}) AS v;"
    )
}

fn bind_entries<'q>(
    mut query: SqliteQuery<'q>,
    session_id: &str,
    run_id: Option<&str>,
    entries: &[TranscriptEntry],
    now: i64,
) -> SqliteQuery<'q> {
    query = query.bind(session_id.to_owned()).bind(run_id.map(str::to_owned)).bind(now).bind(session_id.to_owned());
    for (index, entry) in entries.iter().enumerate() {
        query = query
            .bind(index as i64)
            .bind(entry.id().to_owned())
            .bind(entry.parent_id().map(str::to_owned))
            .bind(entry.kind())
            .bind(serde_json::to_string(entry).unwrap_or_default());
    }
    query
}

/// Binds an audit event to the parameters of [`INSERT_AUDIT`].
fn bind_audit<'q>(query: SqliteQuery<'q>, event: &AuditEvent, now: i64) -> SqliteQuery<'q> {
    query
        .bind(now)
        .bind(event.actor.clone())
        .bind(event.action.clone())
        .bind(event.agent_id.clone())
        .bind(event.session_key.clone())
        .bind(event.run_id.clone())
        .bind(event.outcome.clone())
        .bind(event.detail.to_string())
}

async fn insert_audit(conn: &mut sqlx::SqliteConnection, event: &AuditEvent) -> Result<()> {
    bind_audit(sqlx::query(INSERT_AUDIT), event, now_ms()).execute(&mut *conn).await.map_err(map_disk_full)?;
    Ok(())
}

/// Turns free text into an FTS5 query that cannot be a syntax error: each word quoted, any word may match.
fn fts_query(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| format!("\"{}\"", word.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" OR "))
}

#[async_trait]
impl Store for SqliteStore {
    async fn active_session(&self, session_key: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE session_key = ? AND status = 'active'")
            .bind(session_key)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn open_session(&self, new: NewSession) -> Result<SessionRecord> {
        self.open_window(new, None).await
    }

    async fn end_session(&self, session_key: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET status = 'ended', updated_at = ? WHERE session_key = ? AND status = 'active'",
        )
        .bind(now_ms())
        .bind(session_key)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(&self, session_key: &str) -> Result<u64> {
        // Transcript rows go with their window (ON DELETE CASCADE).
        let done =
            sqlx::query("DELETE FROM sessions WHERE session_key = ?").bind(session_key).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE session_id = ?")
            .bind(session_id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn list_sessions(&self, agent_id: Option<&str>, active_only: bool, limit: i64) -> Result<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 = 0 OR status = 'active') \
             ORDER BY updated_at DESC, created_at DESC LIMIT ?3",
        )
        .bind(agent_id)
        .bind(active_only)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn count_sessions(&self, agent_id: Option<&str>, active_only: bool) -> Result<i64> {
        let count = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE (?1 IS NULL OR agent_id = ?1) AND (?2 = 0 OR status = 'active')",
        )
        .bind(agent_id)
        .bind(active_only)
        .fetch_one(&self.reader)
        .await?;
        Ok(count)
    }

    async fn transcript(&self, session_id: &str) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query(
            "SELECT seq, entry_id, run_id, entry_json FROM transcript_entries WHERE session_id = ? ORDER BY seq",
        )
        .bind(session_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let json: String = row.try_get("entry_json")?;
                let entry = serde_json::from_str(&json).map_err(|source| StoreError::CorruptEntry {
                    session_id: session_id.to_owned(),
                    entry_id: row.try_get("entry_id").unwrap_or_default(),
                    source,
                })?;
                Ok(StoredEntry { seq: row.try_get("seq")?, run_id: row.try_get("run_id")?, entry })
            })
            .collect()
    }

    async fn begin_run(&self, run: NewRun) -> Result<()> {
        let now = now_ms();
        self.writer.write(INSERT_RUN.to_owned(), move |query| bind_run(query, &run, now)).await?;
        Ok(())
    }

    async fn open_session_for_run(
        &self,
        new: NewSession,
        run_id: String,
        owner_pid: Option<i64>,
    ) -> Result<SessionRecord> {
        self.open_window(new, Some((run_id, owner_pid))).await
    }

    async fn commit_turn(&self, turn: TurnCommit) -> Result<()> {
        let now = now_ms();
        let leaf = turn.entries.last().map(|entry| entry.id().to_owned());
        let compactions =
            turn.entries.iter().filter(|entry| matches!(entry, TranscriptEntry::Compaction(_))).count() as i64;
        let mut sql: String = turn.entries.chunks(ENTRIES_PER_INSERT).map(|chunk| entries_sql(chunk.len())).collect();
        sql.push_str(
            "UPDATE sessions SET leaf_entry_id = COALESCE(?, leaf_entry_id), entry_count = entry_count + ?, \
             input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, total_tokens = total_tokens + ?, \
             cost_usd = cost_usd + ?, compaction_count = compaction_count + ?, \
             model_provider = COALESCE(?, model_provider), model = COALESCE(?, model), updated_at = ? \
             WHERE session_id = ?; \
             UPDATE runs SET status = ?, error = ?, model = ?, input_tokens = ?, output_tokens = ?, cost_usd = ?, \
             ended_at = ? WHERE run_id = ?;",
        );
        for _ in &turn.audit {
            sql.push_str(INSERT_AUDIT);
            sql.push(';');
        }
        // A channel turn finishes its inbound message and queues the reply in the same transaction.
        // One an operator asked for (no inbound message) only queues its reply.
        let delivery = turn.delivery.and_then(|delivery| {
            let reply = Some(delivery.reply).filter(|reply| !reply.text.trim().is_empty());
            match delivery.inbox_id {
                Some(_) => sql.push_str(&channels::finish_sql(reply.is_some())),
                None if reply.is_some() => sql.push_str(&channels::queue_sql()),
                None => return None,
            }
            Some((delivery.inbox_id, reply))
        });
        self.writer
            .write(sql, move |mut query| {
                for entries in turn.entries.chunks(ENTRIES_PER_INSERT) {
                    query = bind_entries(query, &turn.session_id, Some(&turn.run_id), entries, now);
                }
                let usage = &turn.usage;
                query = query
                    .bind(leaf.clone())
                    .bind(turn.entries.len() as i64)
                    .bind(usage.input as i64)
                    .bind(usage.output as i64)
                    .bind(usage.total_tokens as i64)
                    .bind(usage.cost.total)
                    .bind(compactions)
                    .bind(turn.model_provider.clone())
                    .bind(turn.model.clone())
                    .bind(now)
                    .bind(turn.session_id.clone())
                    .bind(turn.status.as_str())
                    .bind(turn.error.clone())
                    .bind(turn.model.clone())
                    .bind(usage.input as i64)
                    .bind(usage.output as i64)
                    .bind(usage.cost.total)
                    .bind(now)
                    .bind(turn.run_id.clone());
                for event in &turn.audit {
                    query = bind_audit(query, event, now);
                }
                let run_id = Some(turn.run_id.clone());
                match &delivery {
                    Some((Some(inbox_id), reply)) => {
                        let reply = reply.clone().map(|reply| (reply, run_id.clone()));
                        query = channels::bind_finish(query, *inbox_id, "done".to_owned(), run_id, reply, now);
                    }
                    Some((None, Some(reply))) => {
                        query = channels::bind_outbound(query, None, run_id, reply.clone(), now);
                    }
                    _ => {}
                }
                query
            })
            .await?;
        Ok(())
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let row = sqlx::query("SELECT * FROM runs WHERE run_id = ?").bind(run_id).fetch_optional(&self.reader).await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn recover_runs(&self, is_alive: &(dyn Fn(i64) -> bool + Sync)) -> Result<u64> {
        let rows =
            sqlx::query("SELECT run_id, owner_pid FROM runs WHERE status = 'running'").fetch_all(&self.pool).await?;
        let mut recovered = 0;
        for row in rows {
            let run_id: String = row.try_get("run_id")?;
            let owner: Option<i64> = row.try_get("owner_pid")?;
            if owner.is_some_and(is_alive) {
                continue;
            }
            let mut tx = begin(&self.pool).await?;
            let done = sqlx::query(
                "UPDATE runs SET status = 'interrupted', error = 'the process running this turn stopped before it finished', \
                 ended_at = ? WHERE run_id = ? AND status = 'running'",
            )
            .bind(now_ms())
            .bind(&run_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                let event = AuditEvent {
                    actor: "system".to_owned(),
                    action: "run.interrupted".to_owned(),
                    agent_id: None,
                    session_key: None,
                    run_id: Some(run_id.clone()),
                    outcome: "recovered".to_owned(),
                    detail: serde_json::json!({ "ownerPid": owner }),
                };
                insert_audit(&mut tx, &event).await?;
                recovered += 1;
            }
            tx.commit().await?;
        }
        Ok(recovered)
    }

    async fn append_audit(&self, event: AuditEvent) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, &event).await
    }

    async fn audit_events(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query("SELECT * FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?) ORDER BY id")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail_json")?;
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    ts: row.try_get("ts")?,
                    event: AuditEvent {
                        actor: row.try_get("actor")?,
                        action: row.try_get("action")?,
                        agent_id: row.try_get("agent_id")?,
                        session_key: row.try_get("session_key")?,
                        run_id: row.try_get("run_id")?,
                        outcome: row.try_get("outcome")?,
                        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    },
                })
            })
            .collect()
    }

    async fn memory_files(&self, agent_id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT path, fingerprint FROM memory_files WHERE agent_id = ? ORDER BY path")
            .bind(agent_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((row.try_get("path")?, row.try_get("fingerprint")?))).collect()
    }

    async fn index_memory_file(
        &self,
        agent_id: &str,
        path: &str,
        fingerprint: &str,
        chunks: Vec<MemoryChunk>,
    ) -> Result<()> {
        let mut tx = begin(&self.pool).await?;
        sqlx::query("DELETE FROM memory_fts WHERE agent_id = ? AND path = ?")
            .bind(agent_id)
            .bind(path)
            .execute(&mut *tx)
            .await?;
        for chunk in &chunks {
            sqlx::query(
                "INSERT INTO memory_fts (agent_id, path, start_line, end_line, content) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(agent_id)
            .bind(path)
            .bind(chunk.start_line)
            .bind(chunk.end_line)
            .bind(&chunk.content)
            .execute(&mut *tx)
            .await
            .map_err(map_disk_full)?;
        }
        sqlx::query(
            "INSERT INTO memory_files (agent_id, path, fingerprint) VALUES (?, ?, ?) \
             ON CONFLICT (agent_id, path) DO UPDATE SET fingerprint = excluded.fingerprint",
        )
        .bind(agent_id)
        .bind(path)
        .bind(fingerprint)
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(map_disk_full)?;
        Ok(())
    }

    async fn remove_memory_file(&self, agent_id: &str, path: &str) -> Result<()> {
        let mut tx = begin(&self.pool).await?;
        sqlx::query("DELETE FROM memory_fts WHERE agent_id = ? AND path = ?")
            .bind(agent_id)
            .bind(path)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM memory_files WHERE agent_id = ? AND path = ?")
            .bind(agent_id)
            .bind(path)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn search_memory(&self, agent_id: &str, query: &str, limit: i64) -> Result<Vec<MemoryHit>> {
        let Some(fts) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT path, start_line, end_line, content, bm25(memory_fts) AS rank FROM memory_fts \
             WHERE memory_fts MATCH ? AND agent_id = ? ORDER BY rank LIMIT ?",
        )
        .bind(fts)
        .bind(agent_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let rank: f64 = row.try_get("rank")?;
                Ok(MemoryHit {
                    path: row.try_get("path")?,
                    start_line: row.try_get("start_line")?,
                    end_line: row.try_get("end_line")?,
                    snippet: row.try_get("content")?,
                    score: -rank,
                })
            })
            .collect()
    }

    async fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>> {
        let row =
            sqlx::query("SELECT * FROM devices WHERE device_id = ?").bind(device_id).fetch_optional(&self.pool).await?;
        row.map(|row| {
            Ok(DeviceRecord {
                device_id: row.try_get("device_id")?,
                public_key: row.try_get("public_key")?,
                client_id: row.try_get("client_id")?,
                platform: row.try_get("platform")?,
                approved: row.try_get::<i64, _>("approved")? != 0,
                created_at: row.try_get("created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
            })
        })
        .transpose()
    }

    async fn upsert_device(&self, device: DeviceRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO devices (device_id, public_key, client_id, platform, approved, created_at, last_seen_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET client_id = excluded.client_id, \
             platform = excluded.platform, approved = MAX(devices.approved, excluded.approved), \
             last_seen_at = excluded.last_seen_at",
        )
        .bind(&device.device_id)
        .bind(&device.public_key)
        .bind(&device.client_id)
        .bind(&device.platform)
        .bind(i64::from(device.approved))
        .bind(device.created_at)
        .bind(device.last_seen_at)
        .execute(&self.pool)
        .await
        .map_err(map_disk_full)?;
        Ok(())
    }

    async fn add_device_token(&self, token_sha256: &str, token: DeviceToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO device_tokens (token_sha256, device_id, role, scopes_json, issued_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_sha256)
        .bind(&token.device_id)
        .bind(&token.role)
        .bind(serde_json::to_string(&token.scopes).unwrap_or_else(|_| "[]".to_owned()))
        .bind(token.issued_at)
        .execute(&self.pool)
        .await
        .map_err(map_disk_full)?;
        Ok(())
    }

    async fn device_token(&self, token_sha256: &str) -> Result<Option<DeviceToken>> {
        let row = sqlx::query("SELECT * FROM device_tokens WHERE token_sha256 = ?")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let scopes: String = row.try_get("scopes_json")?;
            Ok(DeviceToken {
                device_id: row.try_get("device_id")?,
                role: row.try_get("role")?,
                scopes: serde_json::from_str(&scopes).unwrap_or_default(),
                issued_at: row.try_get("issued_at")?,
                revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            })
        })
        .transpose()
    }

    async fn check_integrity(&self) -> Result<Vec<String>> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().filter(|row| row != "ok").collect())
    }

    async fn accept_inbound(&self, message: NewInbound, cursor: Option<(String, String)>) -> Result<Accepted> {
        channels::accept_inbound(&self.pool, message, cursor).await
    }

    async fn pending_inbound(&self, limit: i64) -> Result<Vec<InboundRecord>> {
        channels::pending_inbound(&self.pool, limit).await
    }

    async fn inbound(&self, id: i64) -> Result<Option<InboundRecord>> {
        channels::inbound(&self.pool, id).await
    }

    async fn claim_inbound(&self, id: i64) -> Result<i64> {
        channels::claim_inbound(&self.pool, id).await
    }

    async fn finish_inbound(
        &self,
        id: i64,
        status: &str,
        note: Option<&str>,
        reply: Option<NewOutbound>,
    ) -> Result<()> {
        channels::finish_inbound(&self.writer, id, status, note, reply).await
    }

    async fn channel_cursor(&self, key: &str) -> Result<Option<String>> {
        channels::channel_cursor(&self.pool, key).await
    }

    async fn set_channel_cursor(&self, key: &str, value: &str) -> Result<()> {
        channels::set_channel_cursor(&self.pool, key, value).await
    }

    async fn queue_outbound(&self, reply: NewOutbound) -> Result<i64> {
        channels::queue_outbound(&self.writer, reply).await
    }

    async fn due_outbound(&self, now: i64, limit: i64) -> Result<Vec<OutboundRecord>> {
        channels::due_outbound(&self.pool, now, limit).await
    }

    async fn next_outbound_at(&self) -> Result<Option<i64>> {
        channels::next_outbound_at(&self.pool).await
    }

    async fn outbound_sending(&self, id: i64, chunk: i64, resend: bool) -> Result<()> {
        channels::outbound_sending(&self.pool, id, chunk, resend).await
    }

    async fn outbound_progress(&self, id: i64, chunks_sent: i64, platform_id: Option<&str>) -> Result<()> {
        channels::outbound_progress(&self.pool, id, chunks_sent, platform_id).await
    }

    async fn last_delivered_id(&self, conversation: &str) -> Result<Option<String>> {
        channels::last_delivered_id(&self.pool, conversation).await
    }

    async fn finish_outbound(&self, id: i64, status: &str, error: Option<&str>) -> Result<()> {
        channels::finish_outbound(&self.pool, id, status, error).await
    }

    async fn retry_outbound(&self, id: i64, next_attempt_at: i64, error: &str, uncertain: bool) -> Result<()> {
        channels::retry_outbound(&self.pool, id, next_attempt_at, error, uncertain).await
    }

    async fn outbound(&self, id: i64) -> Result<Option<OutboundRecord>> {
        channels::outbound(&self.pool, id).await
    }

    async fn outbound_of_run(&self, run_id: &str) -> Result<Option<OutboundRecord>> {
        channels::outbound_of_run(&self.pool, run_id).await
    }

    async fn dead_letters(&self, limit: i64) -> Result<Vec<OutboundRecord>> {
        channels::dead_letters(&self.pool, limit).await
    }

    async fn requeue_outbound(&self, id: i64, now: i64) -> Result<bool> {
        channels::requeue_outbound(&self.pool, id, now).await
    }

    async fn channel_queues(&self, now: i64) -> Result<ChannelQueues> {
        channels::channel_queues(&self.pool, now).await
    }

    async fn pairing_requests(&self, channel: Option<&str>, now: i64) -> Result<Vec<PairingRequest>> {
        channels::pairing_requests(&self.pool, channel, now).await
    }

    async fn add_pairing_request(&self, request: PairingRequest) -> Result<()> {
        channels::add_pairing_request(&self.pool, request).await
    }

    async fn approve_pairing(&self, channel: &str, code: &str, now: i64) -> Result<Option<PairingRequest>> {
        channels::approve_pairing(&self.pool, channel, code, now).await
    }

    async fn is_paired(&self, channel: &str, account: &str, sender_id: &str) -> Result<bool> {
        channels::is_paired(&self.pool, channel, account, sender_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_are_quoted_words() {
        assert_eq!(fts_query("favourite colour?").as_deref(), Some("\"favourite\" OR \"colour\""));
        assert_eq!(fts_query("\"-*:()"), None);
    }

    #[tokio::test]
    async fn in_memory_store_passes_the_conformance_suite() {
        let store = SqliteStore::in_memory().await.unwrap();
        crate::conformance::store_conformance(&store).await;
    }

    #[tokio::test]
    async fn file_store_passes_the_conformance_suite_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        let store = SqliteStore::open(&path).await.unwrap();
        crate::conformance::store_conformance(&store).await;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&store.pool).await.unwrap();
        assert_eq!(mode, "wal");
    }

    /// A full disk (here: the database may not grow past its current size) is a clear `DiskFull` error, nothing
    /// half-written remains, what was stored before is intact, and writing works again once there is room.
    #[tokio::test]
    async fn a_full_disk_is_a_clear_error_and_corrupts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.sqlite")).await.unwrap();
        let message = |id: &str, size: usize| crate::NewInbound {
            channel: "telegram".to_owned(),
            account: "default".to_owned(),
            platform_id: id.to_owned(),
            conversation: "c1".to_owned(),
            sender: "42".to_owned(),
            payload: serde_json::json!({"text": "x".repeat(size)}),
            received_at: 1,
        };
        store.accept_inbound(message("kept", 10), None).await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&store.pool).await.unwrap();
        // The pool's one connection may not grow the file any more.
        sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
            .execute(&store.pool)
            .await
            .unwrap();
        let error = store.accept_inbound(message("too big", 200_000), None).await.unwrap_err();
        assert!(matches!(error, StoreError::DiskFull(_)), "{error:?}");
        assert!(error.to_string().contains("full"), "the message says so: {error}");
        assert_eq!(store.check_integrity().await.unwrap(), Vec::<String>::new());
        let pending = store.pending_inbound(10).await.unwrap();
        assert_eq!(pending.iter().map(|r| r.platform_id.as_str()).collect::<Vec<_>>(), vec!["kept"]);
        sqlx::query("PRAGMA max_page_count = 1073741823").execute(&store.pool).await.unwrap();
        store.accept_inbound(message("too big", 200_000), None).await.unwrap();
        assert_eq!(store.pending_inbound(10).await.unwrap().len(), 2);
    }

    fn test_event(n: i64) -> AuditEvent {
        AuditEvent {
            actor: "test".into(),
            action: format!("batch-{n}"),
            agent_id: None,
            session_key: None,
            run_id: None,
            outcome: "ok".into(),
            detail: serde_json::json!({}),
        }
    }

    /// One audit row per transaction; the second statement of a `failing` one names a table that does not exist.
    fn audit_write(store: &SqliteStore, n: i64, failing: bool) -> impl Future<Output = Result<Vec<SqliteRow>>> + use<> {
        let sql = if failing {
            format!("{INSERT_AUDIT}; SELECT * FROM no_such_table;")
        } else {
            format!("{INSERT_AUDIT} RETURNING id;")
        };
        let event = test_event(n);
        let writer = store.writer.clone();
        async move { writer.write(sql, move |query| bind_audit(query, &event, n)).await }
    }

    async fn audit_rows(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&store.pool).await.unwrap()
    }

    /// A transaction that fails part-way leaves nothing of itself behind and the writer usable (rolled back, not
    /// left open on the pooled connection); one whose caller gave up still commits whole.
    #[tokio::test]
    async fn a_failed_or_abandoned_write_leaves_the_writer_usable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.sqlite")).await.unwrap();
        let error = audit_write(&store, 1, true).await.unwrap_err();
        assert!(error.to_string().contains("no_such_table"), "{error}");
        assert_eq!(audit_rows(&store).await, 0, "the first statement was rolled back");
        store.append_audit(test_event(2)).await.expect("the writer is usable");
        assert_eq!(audit_rows(&store).await, 1);

        let mut abandoned = Box::pin(audit_write(&store, 3, false));
        let finished = tokio::select! {
            biased;
            _ = &mut abandoned => true,
            () = std::future::ready(()) => false,
        };
        assert!(!finished, "the caller gave up before the transaction ran");
        drop(abandoned);
        audit_write(&store, 4, false).await.expect("the writer is usable");
        assert_eq!(audit_rows(&store).await, 3, "the abandoned transaction committed, before the next one");
        assert_eq!(store.check_integrity().await.unwrap(), Vec::<String>::new());
    }

    /// Transactions queued at once commit in groups; each gets its own rows back, and a failing one fails alone
    /// (its group is rolled back and run again one by one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_commit_in_groups_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.sqlite")).await.unwrap();
        let writes: Vec<_> = (0..200).map(|n| tokio::spawn(audit_write(&store, n, n % 50 == 7))).collect::<Vec<_>>();
        let mut ids = Vec::new();
        for (n, write) in writes.into_iter().enumerate() {
            let outcome = write.await.unwrap();
            if n % 50 == 7 {
                assert!(outcome.is_err(), "write {n} should fail");
                continue;
            }
            let rows = outcome.unwrap_or_else(|error| panic!("write {n}: {error}"));
            assert_eq!(rows.len(), 1, "write {n} gets its own RETURNING row");
            let id: i64 = rows[0].try_get("id").unwrap();
            let action: String = sqlx::query_scalar("SELECT action FROM audit_log WHERE id = ?")
                .bind(id)
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(action, format!("batch-{n}"), "write {n} got another write's row");
            ids.push(id);
        }
        assert_eq!(audit_rows(&store).await, 196);
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 196);
        assert_eq!(store.check_integrity().await.unwrap(), Vec::<String>::new());
    }

    /// The writer lets go of the connection while its queue is still long: a write outside the queue commits
    /// between groups, not after the last one (which it would if the writer kept the connection while work kept
    /// coming).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_beside_a_long_queue_gets_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.sqlite")).await.unwrap();
        let queued: Vec<_> = (0..3000).map(|n| tokio::spawn(audit_write(&store, n, false))).collect();
        // Once the first group has committed (read on a read-only connection, not the writer's), the queue is busy.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log").fetch_one(&store.reader).await.unwrap()
            == 0
        {
            assert!(std::time::Instant::now() < deadline, "the queue did not start");
            tokio::task::yield_now().await;
        }
        store.append_audit(test_event(1_000_000)).await.expect("beside the queue");
        for write in queued {
            write.await.unwrap().expect("queued write");
        }
        let beside: i64 = sqlx::query_scalar("SELECT id FROM audit_log WHERE action = 'batch-1000000'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let last: i64 = sqlx::query_scalar("SELECT MAX(id) FROM audit_log").fetch_one(&store.pool).await.unwrap();
        assert!(beside < last, "the write beside the queue waited for all of it (id {beside} of {last})");
    }

    #[tokio::test]
    async fn audit_log_refuses_updates_and_deletes() {
        let store = SqliteStore::in_memory().await.unwrap();
        store
            .append_audit(AuditEvent {
                actor: "cli".into(),
                action: "test".into(),
                agent_id: None,
                session_key: None,
                run_id: None,
                outcome: "ok".into(),
                detail: serde_json::json!({}),
            })
            .await
            .unwrap();
        let update = sqlx::query("UPDATE audit_log SET outcome = 'x'").execute(&store.pool).await;
        assert!(update.unwrap_err().to_string().contains("append-only"));
        let delete = sqlx::query("DELETE FROM audit_log").execute(&store.pool).await;
        assert!(delete.unwrap_err().to_string().contains("append-only"));
    }
}
