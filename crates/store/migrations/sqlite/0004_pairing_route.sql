-- Where a pairing request came from, so an approval notice goes back the same way without the CLI knowing the
-- channel's addressing.
ALTER TABLE channel_pairing_requests ADD COLUMN conversation TEXT NOT NULL DEFAULT '';
ALTER TABLE channel_pairing_requests ADD COLUMN route_json TEXT NOT NULL DEFAULT 'null';
