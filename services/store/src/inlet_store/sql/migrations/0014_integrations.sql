-- Integration ingest (shared/seeds/svit-external-data-ingestion.txt): project access tokens
-- (server tokens), integrations, client tokens of the external form. The stream inbox, its
-- item outcomes, Idempotency-Keys and connector log carry integration requests as well: one
-- durable queue and one set of workers for every asynchronous dialect.

-- Shown once as pat_<id>_<secret>; only SHA-256(secret) is kept (as ingest keys).
CREATE TABLE project_tokens (
    id           text PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    display_name text NOT NULL DEFAULT '',
    secret_hash  bytea NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    expire_time  timestamptz,
    revoke_time  timestamptz
);

CREATE INDEX project_tokens_workspace_idx ON project_tokens (workspace_id, create_time);

-- `slug` is the integration's id in URLs. `type` has no CHECK on purpose: a type this
-- release does not support (written by another release) must still load, to be answered
-- 400 INTEGRATION_TYPE_NOT_SUPPORTED when a request names it.
CREATE TABLE integrations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    slug                text NOT NULL,
    display_name        text NOT NULL,
    type                text NOT NULL,
    entity_type_id      uuid NOT NULL REFERENCES entity_types (id),
    default_region      text NOT NULL DEFAULT '',
    mapping             json,
    enabled             boolean NOT NULL DEFAULT true,
    max_body_bytes      integer NOT NULL DEFAULT 1048576
                            CHECK (max_body_bytes BETWEEN 1 AND 1048576),
    rate_limit          integer NOT NULL DEFAULT 6000 CHECK (rate_limit BETWEEN 1 AND 1000000),
    rate_window_seconds integer NOT NULL DEFAULT 60
                            CHECK (rate_window_seconds BETWEEN 1 AND 86400),
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, slug)
);

-- Public by nature (they sit in a web page): bound to one entity type, the origins that may
-- use them and a rate limit of their own. Shown once as pct_<id>_<secret>, kept hashed.
CREATE TABLE client_tokens (
    id                  text PRIMARY KEY,
    workspace_id        uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    entity_type_id      uuid NOT NULL REFERENCES entity_types (id),
    display_name        text NOT NULL DEFAULT '',
    default_region      text NOT NULL DEFAULT '',
    allowed_origins     text[] NOT NULL DEFAULT '{}',
    secret_hash         bytea NOT NULL,
    rate_limit          integer NOT NULL DEFAULT 60 CHECK (rate_limit BETWEEN 1 AND 1000000),
    rate_window_seconds integer NOT NULL DEFAULT 60
                            CHECK (rate_window_seconds BETWEEN 1 AND 86400),
    create_time         timestamptz NOT NULL DEFAULT now(),
    revoke_time         timestamptz
);

CREATE INDEX client_tokens_workspace_idx ON client_tokens (workspace_id, create_time);

-- The inbox holds an integration's request as its body was sent (bytes, never re-encoded);
-- the worker finds its items from the integration's type and mapping.
ALTER TABLE stream_requests
    ALTER COLUMN stream_id DROP NOT NULL,
    ALTER COLUMN key_id DROP NOT NULL,
    ALTER COLUMN items DROP NOT NULL,
    ADD COLUMN integration_id uuid REFERENCES integrations (id) ON DELETE CASCADE,
    ADD COLUMN project_token_id text,
    ADD COLUMN body bytea,
    ADD COLUMN content_type text NOT NULL DEFAULT '',
    ADD CONSTRAINT stream_requests_source_check CHECK (
        (stream_id IS NOT NULL AND key_id IS NOT NULL AND items IS NOT NULL
         AND integration_id IS NULL)
        OR (integration_id IS NOT NULL AND project_token_id IS NOT NULL AND body IS NOT NULL
            AND stream_id IS NULL));

CREATE INDEX stream_requests_integration_idx ON stream_requests (integration_id, create_time DESC)
    WHERE integration_id IS NOT NULL;

-- An item's related records (reference field → id, action, matched_on), as endpoint push.
ALTER TABLE stream_request_items ADD COLUMN related jsonb;

-- Idempotency-Keys live per scope: a stream's id, or an integration's.
ALTER TABLE stream_idempotency_keys DROP CONSTRAINT stream_idempotency_keys_stream_id_fkey;
ALTER TABLE stream_idempotency_keys RENAME COLUMN stream_id TO scope_id;

-- Every request that names a valid credential: stream ingest (the stream's key), and the
-- integration dialect's routes (project token: data ingestion, its status, ping; client
-- token: the form). A deleted integration's lines stay in its token's log.
ALTER TABLE connector_log_entries
    ALTER COLUMN stream_id DROP NOT NULL,
    ADD COLUMN integration_id uuid REFERENCES integrations (id) ON DELETE SET NULL,
    ADD COLUMN route text NOT NULL DEFAULT 'stream'
        CHECK (route IN ('stream', 'data_ingestion', 'status', 'ping', 'form')),
    ADD COLUMN result json,
    DROP CONSTRAINT connector_log_entries_outcome_check,
    ADD CONSTRAINT connector_log_entries_outcome_check
        CHECK (outcome IN ('accepted', 'replayed', 'rejected', 'answered'));

CREATE INDEX connector_log_entries_integration_idx
    ON connector_log_entries (integration_id, id DESC) WHERE integration_id IS NOT NULL;
CREATE INDEX connector_log_entries_key_idx
    ON connector_log_entries (key_id, id DESC) WHERE route <> 'stream';
