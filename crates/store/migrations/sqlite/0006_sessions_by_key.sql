-- Opening a session looks up the key's latest window (active or ended) to link it as `previous_session_id`; the
-- only index on `session_key` was partial (active windows), so that lookup scanned every session ever opened.
CREATE INDEX sessions_by_key ON sessions (session_key, created_at);
