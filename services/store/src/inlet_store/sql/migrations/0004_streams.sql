-- Stream ingest: streams bound to an entity type, their ingest keys (hashed), the
-- durable inbox of accepted requests with per-item outcomes, idempotency keys, per-key
-- rate-limit windows and the connector log.

CREATE TABLE streams (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    slug           text NOT NULL,
    display_name   text NOT NULL,
    entity_type_id uuid NOT NULL REFERENCES entity_types (id),
    default_region text NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, slug)
);

-- A key is shown once as ik_<mode>_<id>_<secret>; only SHA-256(secret) is kept. The id is
-- the lookup, the hash is compared in constant time.
CREATE TABLE ingest_keys (
    id                  text PRIMARY KEY,
    stream_id           uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    mode                text NOT NULL CHECK (mode IN ('live', 'test')),
    display_name        text NOT NULL DEFAULT '',
    secret_hash         bytea NOT NULL,
    rate_limit          integer NOT NULL DEFAULT 6000 CHECK (rate_limit >= 0),
    rate_window_seconds integer NOT NULL DEFAULT 60 CHECK (rate_window_seconds > 0),
    create_time         timestamptz NOT NULL DEFAULT now(),
    expire_time         timestamptz,
    revoke_time         timestamptz
);

CREATE INDEX ingest_keys_stream_idx ON ingest_keys (stream_id, create_time);

-- Fixed-window counters: one row per key and window, incremented atomically.
CREATE TABLE ingest_key_windows (
    key_id       text NOT NULL REFERENCES ingest_keys (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (key_id, window_start)
);

-- The inbox: an accepted request waits here until a matcher worker claims it
-- (FOR UPDATE SKIP LOCKED) under a lease; an expired lease makes it claimable again.
CREATE TABLE stream_requests (
    id                text PRIMARY KEY,
    stream_id         uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    key_id            text NOT NULL REFERENCES ingest_keys (id) ON DELETE CASCADE,
    item_key          text NOT NULL DEFAULT '',
    items             jsonb NOT NULL,
    items_received    integer NOT NULL,
    single            boolean NOT NULL DEFAULT false,
    status            text NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    lease_token       uuid,
    lease_expire_time timestamptz,
    items_failed      integer NOT NULL DEFAULT 0,
    create_time       timestamptz NOT NULL DEFAULT now(),
    start_time        timestamptz,
    finish_time       timestamptz
);

CREATE INDEX stream_requests_pending_idx ON stream_requests (create_time)
    WHERE status IN ('queued', 'processing');
CREATE INDEX stream_requests_stream_idx ON stream_requests (stream_id, create_time DESC);

-- One row per processed item, written in the same transaction as the item's upsert: the
-- primary key is what makes a retried (re-claimed) item apply exactly once.
CREATE TABLE stream_request_items (
    request_id    text NOT NULL REFERENCES stream_requests (id) ON DELETE CASCADE,
    item_index    integer NOT NULL,
    record_id     uuid,
    action        text NOT NULL CHECK (action IN ('created', 'updated', 'superseded', 'failed')),
    matched_on    text[] NOT NULL DEFAULT '{}',
    error         jsonb,
    superseded_by integer,
    PRIMARY KEY (request_id, item_index)
);

-- Idempotency-Key per stream: the unique key makes two identical racing requests one.
CREATE TABLE stream_idempotency_keys (
    stream_id       uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    idempotency_key text NOT NULL,
    body_hash       bytea NOT NULL,
    request_id      text NOT NULL,
    state           text NOT NULL DEFAULT 'accepting' CHECK (state IN ('accepting', 'accepted')),
    items_received  integer NOT NULL DEFAULT 0,
    create_time     timestamptz NOT NULL DEFAULT now(),
    expire_time     timestamptz NOT NULL,
    PRIMARY KEY (stream_id, idempotency_key)
);

CREATE INDEX stream_idempotency_keys_expire_idx ON stream_idempotency_keys (expire_time);

-- Every request that names a valid key, whatever its outcome; accepted ones take their
-- live status from stream_requests.
CREATE TABLE connector_log_entries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id      uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    key_id         text NOT NULL,
    request_id     text NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('accepted', 'replayed', 'rejected')),
    status_code    integer NOT NULL,
    items_received integer NOT NULL DEFAULT 0,
    error          jsonb,
    create_time    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX connector_log_entries_stream_idx ON connector_log_entries (stream_id, id DESC);
