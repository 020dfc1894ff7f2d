-- The run whose answer a reply is (NULL for replies no turn wrote: commands, pairing codes). A turn started by an
-- operator with delivery (`openclaw agent --deliver`) has no inbound message, so the reply is found by its run.
ALTER TABLE channel_outbox ADD COLUMN run_id TEXT;
CREATE INDEX channel_outbox_run ON channel_outbox (run_id);
