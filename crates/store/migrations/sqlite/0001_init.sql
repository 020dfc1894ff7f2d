-- Sessions: one row per session window. A session key has at most one active window; `/new` and `/reset` end it
-- and the next turn opens a new one (`previous_session_id` links them).
CREATE TABLE sessions (
    session_id          TEXT PRIMARY KEY,
    session_key         TEXT NOT NULL,
    agent_id            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'ended')),
    reason              TEXT NOT NULL DEFAULT 'initial',
    previous_session_id TEXT,
    channel             TEXT,
    display_name        TEXT,
    model_provider      TEXT,
    model               TEXT,
    leaf_entry_id       TEXT,
    entry_count         INTEGER NOT NULL DEFAULT 0,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    total_tokens        INTEGER NOT NULL DEFAULT 0,
    cost_usd            REAL NOT NULL DEFAULT 0,
    compaction_count    INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX sessions_one_active_per_key ON sessions (session_key) WHERE status = 'active';
CREATE INDEX sessions_by_agent ON sessions (agent_id, updated_at DESC);

-- Transcript entries in the reference's JSON format, one row per entry, ordered by `seq` within a session.
CREATE TABLE transcript_entries (
    session_id  TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    entry_id    TEXT NOT NULL,
    parent_id   TEXT,
    entry_type  TEXT NOT NULL,
    run_id      TEXT,
    entry_json  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE UNIQUE INDEX transcript_entry_ids ON transcript_entries (session_id, entry_id);

-- Runs: one agent turn each. `running` rows left by a process that died are marked `interrupted` on recovery.
CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL,
    session_key  TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'aborted', 'timeout', 'interrupted')),
    owner_pid    INTEGER,
    model        TEXT,
    error        TEXT,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX runs_by_status ON runs (status);
CREATE INDEX runs_by_session ON runs (session_id, started_at);

-- The audit log of agent actions. Append-only: the triggers refuse updates and deletes.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    agent_id    TEXT,
    session_key TEXT,
    run_id      TEXT,
    outcome     TEXT NOT NULL,
    detail_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Memory search: chunks of the workspace's MEMORY.md and memory/*.md, full-text indexed with FTS5.
CREATE TABLE memory_files (
    agent_id    TEXT NOT NULL,
    path        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (agent_id, path)
);
CREATE VIRTUAL TABLE memory_fts USING fts5 (
    agent_id UNINDEXED,
    path UNINDEXED,
    start_line UNINDEXED,
    end_line UNINDEXED,
    content,
    tokenize = 'porter unicode61'
);
