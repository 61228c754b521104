-- Push transfer (the endgrate-push-data seed): workspace API keys, sessions and the types
-- they carry, transfers and their items' results, internal ids, default upsert keys,
-- associations between records, and sample records.

-- A key is shown once as ak_<id>_<secret>; only SHA-256(secret) is kept (as ingest keys).
CREATE TABLE api_keys (
    id                  text PRIMARY KEY,
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    display_name        text NOT NULL DEFAULT '',
    secret_hash         bytea NOT NULL,
    rate_limit          integer NOT NULL DEFAULT 6000 CHECK (rate_limit BETWEEN 1 AND 1000000),
    rate_window_seconds integer NOT NULL DEFAULT 60
                            CHECK (rate_window_seconds BETWEEN 1 AND 86400),
    create_time         timestamptz NOT NULL DEFAULT now(),
    expire_time         timestamptz,
    revoke_time         timestamptz
);

CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, create_time);

-- A session: the endgrate types a caller may push, each written to one entity type.
-- webhook_endpoint_id is the notifier's endpoint whose secret signs the session's
-- transfer webhooks (their URLs come with each transfer or the session's defaults).
CREATE TABLE push_sessions (
    id                  text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    display_name        text NOT NULL DEFAULT '',
    default_region      text NOT NULL DEFAULT '',
    data_webhook        json,
    completed_webhook   json,
    error_webhook       json,
    webhook_endpoint_id uuid REFERENCES webhook_endpoints (id) ON DELETE SET NULL,
    create_time         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX push_sessions_workspace_idx ON push_sessions (workspace_id, create_time);

-- field_map: endgrate field → entity field slug (a field not named maps to its own name).
CREATE TABLE push_session_types (
    session_id     text NOT NULL REFERENCES push_sessions (id) ON DELETE CASCADE,
    endgrate_type  text NOT NULL,
    entity_type_id uuid NOT NULL REFERENCES entity_types (id),
    field_map      jsonb NOT NULL DEFAULT '{}',
    position       integer NOT NULL,
    PRIMARY KEY (session_id, endgrate_type)
);

CREATE INDEX push_session_types_entity_type_idx ON push_session_types (entity_type_id);

-- Sample records (sample_data: true) are examples: out of listings, keys and matching.
ALTER TABLE records ADD COLUMN sample boolean NOT NULL DEFAULT false;

-- A transfer, stored before its transfer_id is answered; its items wait in the inbox
-- (stream_requests, below) for the workers every asynchronous dialect shares.
CREATE TABLE push_transfers (
    id                  text PRIMARY KEY,
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    session_id          text NOT NULL REFERENCES push_sessions (id) ON DELETE CASCADE,
    api_key_id          text NOT NULL,
    request_id          text NOT NULL,
    endgrate_type       text NOT NULL,
    items_received      integer NOT NULL,
    -- The webhook options in force ({"data": {endpoint, metadata}, ...}), resolved at accept.
    webhooks            json NOT NULL DEFAULT '{}'::json,
    disable_upsert      boolean NOT NULL DEFAULT false,
    sample_data         boolean NOT NULL DEFAULT false,
    webhook_concurrency boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'processing', 'completed')),
    create_time         timestamptz NOT NULL DEFAULT now(),
    finish_time         timestamptz
);

CREATE INDEX push_transfers_session_idx ON push_transfers (session_id, create_time DESC);
CREATE INDEX push_transfers_finished_idx ON push_transfers (finish_time, id)
    WHERE status = 'completed';

-- The webhook events of a transfer to one URL, numbered 1, 2, … in the order written:
-- without webhook_concurrency they are delivered one at a time in that order.
CREATE TABLE push_webhook_sequences (
    transfer_id text NOT NULL REFERENCES push_transfers (id) ON DELETE CASCADE,
    url         text NOT NULL,
    seq         integer NOT NULL,
    PRIMARY KEY (transfer_id, url)
);

-- The inbox carries transfers too: the request (its id is the call's request id) holds
-- the items as sent; its transfer holds the session, options and results.
ALTER TABLE stream_requests
    ADD COLUMN transfer_id text REFERENCES push_transfers (id) ON DELETE CASCADE,
    DROP CONSTRAINT stream_requests_source_check,
    ADD CONSTRAINT stream_requests_source_check CHECK (
        (stream_id IS NOT NULL AND key_id IS NOT NULL AND items IS NOT NULL
         AND integration_id IS NULL AND transfer_id IS NULL)
        OR (integration_id IS NOT NULL AND project_token_id IS NOT NULL AND body IS NOT NULL
            AND stream_id IS NULL AND transfer_id IS NULL)
        OR (transfer_id IS NOT NULL AND items IS NOT NULL AND stream_id IS NULL
            AND integration_id IS NULL));

CREATE UNIQUE INDEX stream_requests_transfer_idx ON stream_requests (transfer_id)
    WHERE transfer_id IS NOT NULL;

-- One row per processed item, written with its records: its returned data (endgrate
-- field names) and associations as they were stored, or its error.
CREATE TABLE push_transfer_items (
    transfer_id  text NOT NULL REFERENCES push_transfers (id) ON DELETE CASCADE,
    item_index   integer NOT NULL,
    action       text NOT NULL CHECK (action IN ('created', 'updated', 'failed')),
    record_id    uuid,
    internal_id  text,
    data         json NOT NULL DEFAULT '{}'::json,
    associations json NOT NULL DEFAULT '{}'::json,
    error        json,
    PRIMARY KEY (transfer_id, item_index)
);

-- The caller's own ids, per session and endgrate type (and apart for samples).
CREATE TABLE push_internal_ids (
    session_id    text NOT NULL REFERENCES push_sessions (id) ON DELETE CASCADE,
    endgrate_type text NOT NULL,
    sample        boolean NOT NULL,
    internal_id   text NOT NULL,
    record_id     uuid NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    PRIMARY KEY (session_id, endgrate_type, sample, internal_id)
);

CREATE INDEX push_internal_ids_record_idx ON push_internal_ids (record_id);

-- Default upsert keys (crm-contact: email, phone, full name; crm-company: domain, full
-- name) of records written by transfers. Not unique: disable_upsert may create twins.
CREATE TABLE push_match_keys (
    record_id      uuid NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    key_name       text NOT NULL,
    entity_type_id uuid NOT NULL,
    value          text NOT NULL,
    PRIMARY KEY (record_id, key_name)
);

CREATE INDEX push_match_keys_lookup_idx ON push_match_keys (entity_type_id, key_name, value);

-- Records pushed together as associations (a contact and its companies).
CREATE TABLE record_associations (
    record_id            uuid NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    associated_record_id uuid NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    create_time          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, associated_record_id)
);

CREATE INDEX record_associations_associated_idx ON record_associations (associated_record_id);

-- Idempotency-Key per workspace: an accepted transfer's id, replayed for the same body.
CREATE TABLE push_idempotency_keys (
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    body_hash       bytea NOT NULL,
    transfer_id     text NOT NULL,
    create_time     timestamptz NOT NULL DEFAULT now(),
    expire_time     timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, idempotency_key)
);

CREATE INDEX push_idempotency_keys_expire_idx ON push_idempotency_keys (expire_time);

-- The session's activity log: every transfer request that names it with a valid key.
CREATE TABLE push_log_entries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id        text NOT NULL REFERENCES push_sessions (id) ON DELETE CASCADE,
    api_key_id        text NOT NULL,
    request_id        text NOT NULL,
    client_request_id text NOT NULL DEFAULT '',
    transfer_id       text,
    outcome           text NOT NULL CHECK (outcome IN ('accepted', 'replayed', 'rejected')),
    status_code       integer NOT NULL,
    items_received    integer NOT NULL DEFAULT 0,
    error             jsonb,
    replay_of         text,
    create_time       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX push_log_entries_session_idx ON push_log_entries (session_id, id DESC);
CREATE INDEX push_log_entries_create_time_idx ON push_log_entries (create_time);

-- Webhooks sent to a URL given with a transfer: the event says where (outbox target), the
-- delivery keeps its own URL and, unless webhook_concurrency, an order to keep per
-- (transfer, URL). A session's endpoint (session_id set) signs them and gets no fan-out.
ALTER TABLE webhook_endpoints ADD COLUMN session_id text;
ALTER TABLE outbox_events ADD COLUMN target json;
ALTER TABLE webhook_deliveries
    ADD COLUMN url text,
    ADD COLUMN ordering_key text,
    ADD COLUMN ordering_seq bigint;

CREATE INDEX webhook_deliveries_ordering_idx ON webhook_deliveries (ordering_key, ordering_seq)
    WHERE ordering_key IS NOT NULL AND status = 'pending';
