-- 0002: admin API — admin tokens, endpoint token rotation with a grace period.

-- Admin tokens: one workspace each, 256-bit random, stored as SHA-256 (like endpoint
-- tokens) so the clear token exists only in the answer that created it.
CREATE TABLE admin_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    create_time  timestamptz NOT NULL DEFAULT now()
);

-- Token rotation: the previous token may keep working for a grace period.
ALTER TABLE ingest_endpoints
    ADD COLUMN previous_token_hash bytea,
    ADD COLUMN previous_token_expire_time timestamptz;

CREATE UNIQUE INDEX ingest_endpoints_previous_token_idx
    ON ingest_endpoints (previous_token_hash) WHERE previous_token_hash IS NOT NULL;

-- Requests that came in on a previous token during its grace period; the activity log
-- marks its entries from these (the log is written later, by the plan's transaction).
CREATE TABLE endpoint_grace_uses (
    endpoint_id uuid NOT NULL REFERENCES ingest_endpoints (id) ON DELETE CASCADE,
    request_id  text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint_id, request_id)
);

CREATE INDEX endpoints_workspace_idx ON ingest_endpoints (workspace_id, create_time DESC);
