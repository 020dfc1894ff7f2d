-- The platform's id of the last chunk of a reply that was delivered: after a crash, a chunk whose send was cut is
-- looked for after the conversation's last known message before it is sent again.
ALTER TABLE channel_outbox ADD COLUMN last_platform_id TEXT;
CREATE INDEX channel_outbox_conversation ON channel_outbox (conversation, id);
