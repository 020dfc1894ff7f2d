-- Channels: the durable inbox and outbox, per-channel cursors, and DM pairing.
--
-- An inbound message is written here (deduplicated by channel, account and the platform's message id) before the
-- platform is told it was received; it stays `pending` until the turn that answers it commits, in the same
-- transaction as its reply's outbox row.
CREATE TABLE channel_inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    channel      TEXT NOT NULL,
    account      TEXT NOT NULL,
    platform_id  TEXT NOT NULL,
    conversation TEXT NOT NULL,
    sender       TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    -- pending | done | ignored | failed
    status       TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    note         TEXT,
    received_at  INTEGER NOT NULL,
    finished_at  INTEGER,
    UNIQUE (channel, account, platform_id)
);
CREATE INDEX channel_inbox_pending ON channel_inbox (status, id);

-- Replies waiting for delivery, in order per conversation. `chunks_sent` lets a restart resume a long reply at the
-- next chunk.
CREATE TABLE channel_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    inbox_id        INTEGER UNIQUE REFERENCES channel_inbox (id),
    channel         TEXT NOT NULL,
    account         TEXT NOT NULL,
    conversation    TEXT NOT NULL,
    route_json      TEXT NOT NULL,
    text            TEXT NOT NULL,
    -- pending | sent | dead
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    chunks_sent     INTEGER NOT NULL DEFAULT 0,
    -- The chunk being sent right now (NULL between sends): found set after a restart, that chunk may or may not
    -- have reached the platform.
    in_flight       INTEGER,
    -- Chunks sent again after such a restart (a platform without idempotency keys may show them twice).
    resends         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX channel_outbox_pending ON channel_outbox (status, conversation, id);

-- Where a channel account's inbound stream stands (Telegram's update offset, …).
CREATE TABLE channel_cursors (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- DM pairing: codes waiting for an operator, and the senders approved.
CREATE TABLE channel_pairing_requests (
    channel    TEXT NOT NULL,
    account    TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    code       TEXT NOT NULL,
    display    TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account, sender_id)
);
CREATE UNIQUE INDEX channel_pairing_code ON channel_pairing_requests (channel, code);

CREATE TABLE channel_pairing_allow (
    channel     TEXT NOT NULL,
    account     TEXT NOT NULL,
    sender_id   TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (channel, account, sender_id)
);
