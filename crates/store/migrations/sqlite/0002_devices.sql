-- Device identities (Ed25519 public keys) that connected to the gateway, and the device tokens issued to them.
-- Only a SHA-256 hash of each token is kept: a stolen database does not hand out working tokens.
CREATE TABLE devices (
    device_id    TEXT PRIMARY KEY,
    public_key   TEXT NOT NULL,
    client_id    TEXT,
    platform     TEXT,
    approved     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);

CREATE TABLE device_tokens (
    token_sha256 TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    scopes_json  TEXT NOT NULL,
    issued_at    INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX device_tokens_by_device ON device_tokens (device_id);
