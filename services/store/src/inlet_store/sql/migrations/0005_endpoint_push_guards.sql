-- Endpoint push gets what every dialect gets (DESIGN §1): a per-endpoint rate limit and
-- Idempotency-Key with stored-response replay.

ALTER TABLE ingest_endpoints
    ADD COLUMN rate_limit integer NOT NULL DEFAULT 6000
        CHECK (rate_limit BETWEEN 1 AND 1000000),
    ADD COLUMN rate_window_seconds integer NOT NULL DEFAULT 60
        CHECK (rate_window_seconds BETWEEN 1 AND 86400);

-- Fixed-window counters for every rate-limited credential (ingest keys, endpoints): one
-- row per subject and window, incremented atomically. Rows of deleted credentials age
-- out with the periodic prune instead of a foreign key per credential kind.
ALTER TABLE ingest_key_windows RENAME TO rate_windows;
ALTER TABLE rate_windows RENAME COLUMN key_id TO subject;
ALTER TABLE rate_windows DROP CONSTRAINT ingest_key_windows_key_id_fkey;
ALTER INDEX ingest_key_windows_pkey RENAME TO rate_windows_pkey;
CREATE INDEX rate_windows_start_idx ON rate_windows (window_start);

-- A successful push's answer per (endpoint, Idempotency-Key). The row is inserted first
-- in the push's own transaction, so a concurrent push with the same key waits on it and
-- then replays the committed answer; a push that fails leaves no row behind.
CREATE TABLE endpoint_idempotency_keys (
    endpoint_id     uuid NOT NULL REFERENCES ingest_endpoints (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    body_hash       bytea NOT NULL,
    request_id      text NOT NULL,
    response        jsonb,
    create_time     timestamptz NOT NULL DEFAULT now(),
    expire_time     timestamptz NOT NULL,
    PRIMARY KEY (endpoint_id, idempotency_key)
);

CREATE INDEX endpoint_idempotency_keys_expire_idx ON endpoint_idempotency_keys (expire_time);
