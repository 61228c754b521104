-- The current schema in one file: what every migration in migrations/ adds up to.
-- A test applies both to empty databases and compares the catalogs.

CREATE TABLE workspaces (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug         text NOT NULL UNIQUE,
    display_name text NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE entity_types (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    slug         text NOT NULL,
    display_name text NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, slug)
);

CREATE TABLE fields (
    entity_type_id           uuid NOT NULL REFERENCES entity_types (id) ON DELETE CASCADE,
    slug                     text NOT NULL,
    display_name             text NOT NULL,
    type                     text NOT NULL CHECK (type IN
                                 ('text', 'email', 'phone', 'number', 'integer', 'boolean', 'datetime',
                                  'reference')),
    is_unique                boolean NOT NULL DEFAULT false,
    is_required              boolean NOT NULL DEFAULT false,
    reference_entity_type_id uuid REFERENCES entity_types (id),
    position                 integer NOT NULL,
    PRIMARY KEY (entity_type_id, slug),
    CHECK ((type = 'reference') = (reference_entity_type_id IS NOT NULL))
);

CREATE TABLE ingest_endpoints (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    entity_type_id uuid NOT NULL REFERENCES entity_types (id),
    display_name   text NOT NULL,
    -- SHA-256 of the secret token: tokens are 256-bit random, so a plain hash is a
    -- safe, indexable verifier and the clear token is never stored.
    token_hash     bytea NOT NULL UNIQUE,
    enabled        boolean NOT NULL DEFAULT true,
    default_region text NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL DEFAULT now()
);

-- Values are stored as sent: json keeps a number's text, jsonb would rewrite it (1e-7 as
-- 0.0000001); merging a record's fields keeps every value's text.
CREATE FUNCTION json_merge_exact(old json, new json) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(json_object_agg(s.key, s.value ORDER BY s.ord), '{}'::json)
    FROM (SELECT o.key, o.value, o.ord
            FROM json_each(old) WITH ORDINALITY AS o(key, value, ord)
           WHERE NOT EXISTS (SELECT 1 FROM json_each(new) AS n WHERE n.key = o.key)
          UNION ALL
          SELECT n.key, n.value, 1000000000 + n.ord
            FROM json_each(new) WITH ORDINALITY AS n(key, value, ord)) AS s
$$;

CREATE FUNCTION json_without_key(old json, gone text) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(json_object_agg(o.key, o.value ORDER BY o.ord), '{}'::json)
    FROM json_each(old) WITH ORDINALITY AS o(key, value, ord)
   WHERE o.key <> gone
$$;

CREATE TABLE records (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid NOT NULL,  -- with entity_type_id: entity_types (id, workspace_id), 0102
    entity_type_id uuid NOT NULL,
    data           json NOT NULL DEFAULT '{}'::json,
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX records_entity_type_idx ON records (entity_type_id, create_time);

-- One row per (unique field, normalised value): the primary key is what makes two
-- racing creates of the same value end as one record.
CREATE TABLE record_keys (
    workspace_id   uuid NOT NULL,
    entity_type_id uuid NOT NULL,
    field_slug     text NOT NULL,
    value          text NOT NULL,
    record_id      uuid NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    PRIMARY KEY (workspace_id, entity_type_id, field_slug, value)
);

CREATE INDEX record_keys_record_idx ON record_keys (record_id);

CREATE TABLE activity_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES ingest_endpoints (id) ON DELETE CASCADE,
    request_id  text NOT NULL,
    status_code integer NOT NULL,
    outcome     json NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX activity_entries_endpoint_idx ON activity_entries (endpoint_id, id DESC);

-- issue 5: outbox and webhooks

-- Written in the same transaction as the change it describes; the notifier takes rows
-- (SKIP LOCKED) and, in the same statement, keeps them as webhook events under the same
-- id (the webhook-id of every attempt) with their deliveries.
CREATE TABLE outbox_events (
    id           text PRIMARY KEY DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    workspace_id uuid NOT NULL,
    type         text NOT NULL,
    data         json NOT NULL,
    occur_time   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_endpoints (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id          uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url                   text NOT NULL,
    description           text NOT NULL DEFAULT '',
    -- Empty arrays mean "every": every event type, every entity type, every source.
    event_types           text[] NOT NULL DEFAULT '{}',
    entity_type_ids       text[] NOT NULL DEFAULT '{}',
    source_ids            text[] NOT NULL DEFAULT '{}',
    enabled               boolean NOT NULL DEFAULT true,
    disabled_reason       text NOT NULL DEFAULT '',
    -- HMAC needs the key itself, so signing secrets cannot be stored hashed.
    secret                text NOT NULL,
    previous_secret       text,
    previous_secret_until timestamptz,
    failing_since         timestamptz,
    create_time           timestamptz NOT NULL DEFAULT now(),
    update_time           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoints_workspace_idx ON webhook_endpoints (workspace_id, create_time);

CREATE TABLE webhook_events (
    id           text PRIMARY KEY,
    workspace_id uuid NOT NULL,
    type         text NOT NULL,
    occur_time   timestamptz NOT NULL,
    data         json NOT NULL,
    receive_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id          text NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status            text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- Attempts in the current round (a replay or recover starts a new round).
    attempt_count     integer NOT NULL DEFAULT 0,
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_until       timestamptz,
    last_status_code  integer,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_attempt_time)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, create_time DESC);
-- Deliveries being attempted now: the per-endpoint concurrency cap counts these.
CREATE INDEX webhook_deliveries_leased_idx ON webhook_deliveries (endpoint_id, lease_until)
    WHERE lease_until IS NOT NULL;

CREATE TABLE webhook_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    worker           text NOT NULL,
    start_time       timestamptz NOT NULL,
    end_time         timestamptz NOT NULL,
    -- NULL when no HTTP answer came (timeout, refused, guard).
    status_code      integer,
    error            text NOT NULL DEFAULT '',
    response_snippet text NOT NULL DEFAULT '',
    latency_ms       integer NOT NULL
);

CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- What an operator should know: exhausted deliveries, endpoints disabled and why.
CREATE TABLE webhook_operational_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id uuid NOT NULL,
    endpoint_id  uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    type         text NOT NULL,
    message      text NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_operational_events_endpoint_idx
    ON webhook_operational_events (endpoint_id, id DESC);

-- issue 6: stream ingest (streams, ingest keys, inbox, idempotency, rate limits, connector log)

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

-- Fixed-window counters for every rate-limited credential (ingest keys, endpoints): one
-- row per subject and window, incremented atomically; old rows are pruned by time.
CREATE TABLE rate_windows (
    subject      text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (subject, window_start)
);

CREATE INDEX rate_windows_start_idx ON rate_windows (window_start);

-- The inbox: an accepted request waits here until a matcher worker claims it
-- (FOR UPDATE SKIP LOCKED) under a lease; an expired lease makes it claimable again.
CREATE TABLE stream_requests (
    id                text PRIMARY KEY,
    stream_id         uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    key_id            text NOT NULL REFERENCES ingest_keys (id) ON DELETE CASCADE,
    item_key          text NOT NULL DEFAULT '',
    items             json NOT NULL,
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
    request_id    text NOT NULL,  -- stream_requests (id), see 0100
    item_index    integer NOT NULL,
    record_id     uuid,
    action        text NOT NULL CHECK (action IN ('created', 'updated', 'superseded', 'failed')),
    matched_on    text[] NOT NULL DEFAULT '{}',
    error         json,
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
    error          json,
    create_time    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX connector_log_entries_stream_idx ON connector_log_entries (stream_id, id DESC);

-- issue 4: admin API (admin tokens, endpoint token rotation)

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

-- Endpoint push guards: a per-endpoint rate limit and Idempotency-Key replay.
ALTER TABLE ingest_endpoints
    ADD COLUMN rate_limit integer NOT NULL DEFAULT 6000
        CHECK (rate_limit BETWEEN 1 AND 1000000),
    ADD COLUMN rate_window_seconds integer NOT NULL DEFAULT 60
        CHECK (rate_window_seconds BETWEEN 1 AND 86400);

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

-- Retention (0006): the janitor deletes the oldest finished stream requests and log
-- entries in batches; these indexes find them without a scan.
CREATE INDEX stream_requests_finished_idx ON stream_requests (finish_time, id)
    WHERE status IN ('completed', 'failed');
CREATE INDEX connector_log_entries_create_time_idx ON connector_log_entries (create_time);
CREATE INDEX activity_entries_create_time_idx ON activity_entries (create_time);

-- Webhook retention (0007): the notifier's janitor deletes the oldest finished deliveries,
-- then the events left without any, in batches; these indexes find them without a scan.
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (update_time, id)
    WHERE status IN ('succeeded', 'failed');
CREATE INDEX webhook_events_receive_time_idx ON webhook_events (receive_time, id);

-- Operational events retention (0008): the notifier's janitor also deletes the oldest
-- operational events in batches; this index finds them without a scan.
CREATE INDEX webhook_operational_events_create_time_idx
    ON webhook_operational_events (create_time);

-- Request ids (0009): the client's own X-Request-Id (its correlation id, '' when it sent
-- none) in both logs; a replayed stream request's line names the request it replayed.
ALTER TABLE activity_entries ADD COLUMN client_request_id text NOT NULL DEFAULT '';
ALTER TABLE connector_log_entries
    ADD COLUMN client_request_id text NOT NULL DEFAULT '',
    ADD COLUMN replay_of text;

-- Replays (0011): a replayed stream request's line says whether its body differed from
-- the first request's (it got the first's 202 all the same).
ALTER TABLE connector_log_entries ADD COLUMN body_differed boolean NOT NULL DEFAULT false;

-- Integration ingest (0015): project tokens, integrations, client tokens; the inbox,
-- item outcomes, Idempotency-Keys and connector log carry integration requests too.
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

-- Record requests (0014): which requests wrote a record, found by index on both logs.
CREATE INDEX stream_request_items_record_idx ON stream_request_items (record_id)
    WHERE record_id IS NOT NULL;
ALTER TABLE activity_entries ADD COLUMN record_ids uuid[] NOT NULL DEFAULT '{}';
CREATE INDEX activity_entries_record_ids_idx ON activity_entries USING gin (record_ids);

-- Push transfer (0020): workspace API keys, sessions and the types they carry, transfers
-- and their items' results, internal ids, default upsert keys, associations between
-- records, and sample records.

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

-- Endpoint push in one call (0021): the credential, rate limit, Idempotency-Key, schema
-- version and the matcher's plan go to push_commit as one json batch; each push is
-- applied in its own subtransaction, so one push's conflict never touches another's.

-- The version of what a push is planned against: the endpoint's region and target type,
-- and every type the target references, with their fields. Changes whenever any of it does.
-- (PL/pgSQL functions here and below: their plans are cached across calls, where a SQL
-- function's would be made again on every call.)
CREATE FUNCTION push_schema_version(endpoint uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT md5(e.default_region || '|' || e.entity_type_id::text || '|' || coalesce(string_agg(
           concat_ws(':', t.id, t.slug, f.slug, f.type, f.is_unique, f.is_required,
                     f.reference_entity_type_id),
           ',' ORDER BY t.id, f.position), ''))
    FROM ingest_endpoints e
    JOIN entity_types t
      ON t.id = e.entity_type_id
      OR t.id IN (SELECT rf.reference_entity_type_id FROM fields rf
                   WHERE rf.entity_type_id = e.entity_type_id AND rf.type = 'reference')
    LEFT JOIN fields f ON f.entity_type_id = t.id
   WHERE e.id = endpoint
   GROUP BY e.default_region, e.entity_type_id);
END
$$;

-- One activity-log entry of a push, with the client's own request id.
CREATE FUNCTION push_log(endpoint uuid, push json, status integer, outcome json,
                         written uuid[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO activity_entries
         (endpoint_id, request_id, client_request_id, status_code, outcome, record_ids)
  VALUES (endpoint, push ->> 'request_id', coalesce(push ->> 'client_request_id', ''), status,
          outcome, written);
END
$$;

-- The match decision for one planned entity, against the unique index (record_keys):
-- the record its keys (slugs[i] = keys[i]) hit (none: create), or a conflict when they
-- hit different records. Raises push_failure (detail: json) for a conflict; writes nothing.
CREATE FUNCTION decide_matches(ws uuid, type_id uuid, slugs text[], keys text[], entity text,
                               OUT record_id uuid, OUT matched_on text[])
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  hit uuid;
BEGIN
  -- One primary-key probe per key: OFFSET 0 keeps the planner from turning the lateral
  -- subquery into a join over a scan of record_keys.
  SELECT coalesce(array_agg(w.slug ORDER BY w.ord), '{}'),
         coalesce(array_agg(k.id ORDER BY w.ord), '{}')
    INTO matched_on, ids
    FROM unnest(slugs, keys) WITH ORDINALITY AS w(slug, value, ord)
    JOIN LATERAL (SELECT r.record_id AS id FROM record_keys r
                   WHERE r.workspace_id = ws AND r.entity_type_id = type_id
                     AND r.field_slug = w.slug AND r.value = w.value
                  OFFSET 0) AS k ON true;
  record_id := ids[1];
  FOREACH hit IN ARRAY ids LOOP
    IF hit <> record_id THEN
      RAISE EXCEPTION 'push_failure' USING DETAIL = json_build_object(
        'failure', 'conflict', 'entity', entity,
        'matches', (SELECT json_agg(json_build_array(m.slug, keys[array_position(slugs, m.slug)],
                                                     json_build_array(m.id)) ORDER BY m.n)
                      FROM unnest(matched_on, ids) WITH ORDINALITY AS m(slug, id, n)))::text;
    END IF;
  END LOOP;
END
$$;

-- Match and write one planned entity: create, or update the record its keys hit and move
-- its keys. Raises push_failure (conflict, missing required field, dangling reference) or
-- push_race (a concurrent writer won a key or deleted the record: retry); answers
-- {id, action, matched_on}.
CREATE FUNCTION push_upsert(ws uuid, planned json, vals json, entity text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  type_id uuid := (planned ->> 'entity_type_id')::uuid;
  dangling json;
  decided record;
  rid uuid;
  slugs text[] := ARRAY(SELECT json_array_elements_text(planned -> 'unique_fields'));
  keys text[] := ARRAY(SELECT json_array_elements_text(planned -> 'key_values'));
  new_slugs text[];
  new_values text[];
  moved text[];
  written integer;
BEGIN
  SELECT json_agg(json_build_array(r.slug, vals ->> r.slug) ORDER BY r.slug) INTO dangling
    FROM json_each_text(planned -> 'references') AS r(slug, type_text)
   WHERE vals ->> r.slug IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM records x
                      WHERE x.id = (vals ->> r.slug)::uuid
                        AND x.entity_type_id = r.type_text::uuid);
  IF dangling IS NOT NULL THEN
    RAISE EXCEPTION 'push_failure' USING DETAIL = json_build_object(
      'failure', 'dangling', 'entity', entity, 'references', dangling)::text;
  END IF;
  SELECT * INTO decided FROM decide_matches(ws, type_id, slugs, keys, entity);
  SELECT coalesce(array_agg(k.slug ORDER BY k.ord), '{}'),
         coalesce(array_agg(k.value ORDER BY k.ord), '{}')
    INTO new_slugs, new_values
    FROM unnest(slugs, keys) WITH ORDINALITY AS k(slug, value, ord)
   WHERE k.slug <> ALL (decided.matched_on);
  IF decided.record_id IS NOT NULL THEN
    rid := decided.record_id;
    PERFORM 1 FROM records WHERE id = rid FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'push_race' USING DETAIL = 'matched record was deleted concurrently';
    END IF;
    UPDATE records SET data = json_merge_exact(data, vals), update_time = now() WHERE id = rid;
    -- Unique values that changed (or were cleared) move the record's keys.
    moved := new_slugs || ARRAY(
      SELECT c.key FROM json_each(vals) AS c
       WHERE json_typeof(c.value) = 'null'
         AND c.key <> ALL (slugs));
    IF cardinality(moved) > 0 THEN
      DELETE FROM record_keys WHERE record_id = rid AND field_slug = ANY (moved);
    END IF;
  ELSE
    IF json_array_length(planned -> 'missing_required') > 0 THEN
      RAISE EXCEPTION 'push_failure' USING DETAIL = json_build_object(
        'failure', 'missing_required', 'entity', entity,
        'slugs', planned -> 'missing_required')::text;
    END IF;
    INSERT INTO records (workspace_id, entity_type_id, data)
    VALUES (ws, type_id, json_strip_nulls(vals))
    RETURNING id INTO rid;
  END IF;
  IF cardinality(new_slugs) > 0 THEN
    -- The primary key of record_keys decides a race: a concurrent writer's key makes this
    -- insert wait for its commit, then skip; the push is then decided again.
    INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
    SELECT ws, type_id, k.slug, k.value, rid FROM unnest(new_slugs, new_values) AS k(slug, value)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written < cardinality(new_slugs) THEN
      RAISE EXCEPTION 'push_race' USING DETAIL = 'another request wrote the same unique value';
    END IF;
  END IF;
  IF decided.record_id IS NULL THEN
    RETURN json_build_object('id', rid, 'action', 'created');
  ELSIF cardinality(decided.matched_on) > 0 THEN
    RETURN json_build_object('id', rid, 'action', 'updated', 'matched_on', decided.matched_on);
  END IF;
  RETURN json_build_object('id', rid, 'action', 'updated');
END
$$;

-- Apply one admitted push: take its Idempotency-Key (answers {taken} when a committed push
-- holds it), write its related records, then the record pointing at them, the activity
-- entry, the stored answer and the outbox events; answers {summary}.
CREATE FUNCTION push_apply(endpoint uuid, ws uuid, push json) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  idem text := coalesce(push ->> 'idempotency_key', '');
  source json := json_build_object('type', 'ingest_endpoint', 'id', endpoint,
                                   'request_id', push ->> 'request_id');
  rel record;
  outcome json;
  vals json := push -> 'record' -> 'values';
  slugs text[] := '{}';
  outcomes json[] := '{}';
  written uuid[] := '{}';
  events json[] := '{}';
  summary json;
BEGIN
  IF idem <> '' THEN
    -- First, so a concurrent push with this key waits here for our outcome.
    INSERT INTO endpoint_idempotency_keys AS ik
           (endpoint_id, idempotency_key, body_hash, request_id, expire_time)
    VALUES (endpoint, idem, decode(push ->> 'body_hash', 'hex'), push ->> 'request_id',
            now() + make_interval(secs => (push ->> 'ttl')::integer))
    ON CONFLICT (endpoint_id, idempotency_key) DO UPDATE
       SET body_hash = excluded.body_hash, request_id = excluded.request_id, response = NULL,
           create_time = now(), expire_time = excluded.expire_time
     WHERE ik.expire_time <= now();
    IF NOT FOUND THEN
      RETURN json_build_object('taken', true);
    END IF;
  END IF;
  FOR rel IN SELECT r.value ->> 'slug' AS slug, r.value -> 'planned' AS planned
               FROM json_array_elements(push -> 'related') WITH ORDINALITY AS r(value, ord)
              ORDER BY r.ord LOOP
    outcome := push_upsert(ws, rel.planned, rel.planned -> 'values', 'related.' || rel.slug);
    slugs := slugs || rel.slug;
    outcomes := outcomes || outcome;
    written := written || (outcome ->> 'id')::uuid;
    events := events || push_record_event(rel.planned, rel.planned -> 'values', outcome, source);
    vals := json_merge_exact(vals, json_build_object(rel.slug, outcome ->> 'id'));
  END LOOP;
  outcome := push_upsert(ws, push -> 'record', vals, 'record');
  events := events || push_record_event(push -> 'record', vals, outcome, source);
  summary := json_build_object(
    'record', outcome,
    'related', (SELECT coalesce(json_object_agg(x.slug, x.outcome ORDER BY x.n), '{}')
                  FROM unnest(slugs, outcomes) WITH ORDINALITY AS x(slug, outcome, n)));
  PERFORM push_log(endpoint, push, 200, summary, ((outcome ->> 'id')::uuid) || written);
  IF idem <> '' THEN
    UPDATE endpoint_idempotency_keys SET response = summary::jsonb
     WHERE endpoint_id = endpoint AND idempotency_key = idem;
  END IF;
  -- Outbox events commit (or roll back) with the change they describe.
  INSERT INTO outbox_events (workspace_id, type, data)
  SELECT ws, e.value ->> 'type', e.value -> 'data' FROM unnest(events) WITH ORDINALITY AS e(value, n)
   ORDER BY e.n;
  RETURN json_build_object('summary', summary);
END
$$;

-- record.created or record.updated for one written record.
CREATE FUNCTION push_record_event(planned json, vals json, outcome json, source json)
RETURNS json LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN json_build_object(
    'type', CASE WHEN outcome ->> 'action' = 'created' THEN 'record.created'
                 ELSE 'record.updated' END,
    'data', json_build_object(
      'request_id', source ->> 'request_id', 'id', outcome ->> 'id',
      'entity_type_id', planned ->> 'entity_type_id', 'fields', json_strip_nulls(vals),
      'matched_on', coalesce(outcome -> 'matched_on', '[]'::json), 'source', source));
END
$$;

-- One push: resolve its token (a rotated-out one inside its grace period too); answer
-- stale, having written nothing, when it was planned against another schema version;
-- count it against the endpoint's rate limit; refuse or replay its Idempotency-Key; log
-- the matcher's refusal; else apply it in a subtransaction of its own, deciding again
-- when a concurrent writer won a key. Refusals are logged here, in the same transaction.
-- `checked`: the version this transaction already found current for this token (and
-- holds the locks of), so it is not looked up again.
CREATE FUNCTION push_commit_one(push json, attempts integer, checked text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  th bytea := decode(push ->> 'token_hash', 'hex');
  idem text := coalesce(push ->> 'idempotency_key', '');
  ep record;
  hit record;
  rate json;
  held record;
  refusal json;
  applied json;
  message text;
  detail text;
  counted text;
BEGIN
  SELECT e.id, e.workspace_id, e.entity_type_id, e.enabled, e.rate_limit, e.rate_window_seconds
    INTO ep FROM ingest_endpoints e WHERE e.token_hash = th;
  IF NOT FOUND THEN
    SELECT e.id, e.workspace_id, e.entity_type_id, e.enabled, e.rate_limit,
           e.rate_window_seconds
      INTO ep FROM ingest_endpoints e
     WHERE e.previous_token_hash = th AND e.previous_token_expire_time > now();
    IF NOT FOUND THEN
      RETURN json_build_object('status', 'not_found');
    END IF;
    -- The activity log marks this request's entry as one on the previous token.
    INSERT INTO endpoint_grace_uses (endpoint_id, request_id)
    VALUES (ep.id, push ->> 'request_id') ON CONFLICT DO NOTHING;
  END IF;
  IF NOT ep.enabled THEN
    -- Answered like an unknown token, but logged: the owner sees someone still pushes.
    PERFORM push_log(ep.id, push, 404, json_build_object('error', json_build_object(
      'code', 'ENDPOINT_DISABLED', 'message', 'endpoint is disabled')));
    RETURN json_build_object('status', 'not_found');
  END IF;
  IF (push ->> 'check_schema')::boolean
     AND checked IS DISTINCT FROM push ->> 'schema_version' THEN
    -- FOR KEY SHARE conflicts with the FOR UPDATE a change of fields takes: the version
    -- read next (a new snapshot, after any wait) holds until this transaction commits.
    PERFORM 1 FROM entity_types t
     WHERE t.id = ep.entity_type_id
        OR t.id IN (SELECT rf.reference_entity_type_id FROM fields rf
                     WHERE rf.entity_type_id = ep.entity_type_id AND rf.type = 'reference')
     ORDER BY t.id FOR KEY SHARE;
    IF push_schema_version(ep.id) IS DISTINCT FROM push ->> 'schema_version' THEN
      RETURN json_build_object('status', 'stale');
    END IF;
  END IF;
  -- The endpoint's window row is written once per transaction (push_commit writes the
  -- count back at its end): its first push here takes the row's lock with the upsert, so
  -- the count kept in `inlet.hits_<endpoint>` is the row's until the commit. now() is the
  -- transaction's, so every push of it falls in the same window.
  counted := current_setting('inlet.hits_' || replace(ep.id::text, '-', ''), true);
  IF coalesce(counted, '') = '' THEN
    WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / ep.rate_window_seconds)
                                   * ep.rate_window_seconds) AS start)
    INSERT INTO rate_windows AS rw (subject, window_start, hits)
    SELECT 'endpoint:' || ep.id, w.start, 1 FROM w
    ON CONFLICT (subject, window_start) DO UPDATE SET hits = rw.hits + 1
    RETURNING rw.hits,
              greatest(1, ceil(extract(epoch FROM rw.window_start) + ep.rate_window_seconds
                               - extract(epoch FROM clock_timestamp())))::integer
                AS reset_seconds
         INTO hit;
    -- push_commit writes back the count of each endpoint listed here.
    PERFORM set_config('inlet.hits_endpoints',
                       concat_ws(',', nullif(current_setting('inlet.hits_endpoints', true), ''),
                                 ep.id::text), true);
    IF hit.hits = 1 THEN
      -- A new window: the endpoint's older ones are dead weight.
      DELETE FROM rate_windows
       WHERE subject = 'endpoint:' || ep.id
         AND window_start < now() - make_interval(secs => ep.rate_window_seconds);
    END IF;
  ELSE
    SELECT split_part(counted, ':', 1)::integer + 1 AS hits,
           greatest(1, ceil(floor(extract(epoch FROM now()) / ep.rate_window_seconds)
                            * ep.rate_window_seconds + ep.rate_window_seconds
                            - extract(epoch FROM clock_timestamp())))::integer AS reset_seconds
      INTO hit;
  END IF;
  -- "<hits now>:<hits written>"
  PERFORM set_config('inlet.hits_' || replace(ep.id::text, '-', ''),
                     hit.hits || ':' || coalesce(nullif(split_part(counted, ':', 2), ''),
                                                 hit.hits::text), true);
  rate := json_build_object('limit', ep.rate_limit,
                            'remaining', greatest(0, ep.rate_limit - hit.hits),
                            'reset_seconds', hit.reset_seconds,
                            'window_seconds', ep.rate_window_seconds);
  IF hit.hits > ep.rate_limit THEN
    -- Logged without an ingest.failed event, so a client hammering past its limit does
    -- not also flood the webhooks.
    PERFORM push_log(ep.id, push, 429, json_build_object('error', json_build_object(
      'code', 'RATE_LIMITED',
      'message', format('rate limit of %s requests per %ss reached; retry after %ss',
                        ep.rate_limit, ep.rate_window_seconds, hit.reset_seconds))));
    RETURN json_build_object('status', 'rate_limited', 'rate', rate);
  END IF;
  refusal := push -> 'key_refusal';
  IF json_typeof(refusal) = 'object' THEN
    PERFORM push_log(ep.id, push, (refusal ->> 'status')::integer, refusal -> 'outcome');
    RETURN json_build_object('status', 'key_invalid', 'rate', rate);
  END IF;
  FOR attempt IN 1..attempts LOOP
    IF idem <> '' THEN
      SELECT k.body_hash, k.request_id, k.response INTO held
        FROM endpoint_idempotency_keys k
       WHERE k.endpoint_id = ep.id AND k.idempotency_key = idem
         AND k.expire_time > now() AND k.response IS NOT NULL;
      IF FOUND THEN
        IF held.body_hash <> decode(push ->> 'body_hash', 'hex') THEN
          refusal := push -> 'reuse_refusal';
          PERFORM push_log(ep.id, push, (refusal ->> 'status')::integer, refusal -> 'outcome');
          RETURN json_build_object('status', 'key_reused', 'rate', rate);
        END IF;
        PERFORM push_log(ep.id, push, 200,
                         (held.response || jsonb_build_object('replay_of', held.request_id))::json);
        RETURN json_build_object('status', 'replayed', 'rate', rate,
                                 'summary', held.response, 'replay_of', held.request_id);
      END IF;
    END IF;
    refusal := push -> 'refusal';
    IF json_typeof(refusal) = 'object' THEN
      PERFORM push_log(ep.id, push, (refusal ->> 'status')::integer, refusal -> 'outcome');
      INSERT INTO outbox_events (workspace_id, type, data)
      VALUES (ep.workspace_id, 'ingest.failed', json_build_object(
        'request_id', push ->> 'request_id',
        'source', json_build_object('type', 'ingest_endpoint', 'id', ep.id,
                                    'request_id', push ->> 'request_id'),
        'status_code', (refusal ->> 'status')::integer, 'outcome', refusal -> 'outcome'));
      RETURN json_build_object('status', 'refused', 'rate', rate);
    END IF;
    BEGIN
      applied := push_apply(ep.id, ep.workspace_id, push);
      IF applied ->> 'summary' IS NOT NULL THEN
        RETURN json_build_object('status', 'applied', 'rate', rate,
                                 'summary', applied -> 'summary');
      END IF;
      -- The key is held by a committed push: its answer is replayed on the next turn.
    EXCEPTION
      WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
        IF message = 'push_failure' THEN
          RETURN json_build_object('status', 'failed', 'rate', rate, 'failure', detail::json,
                                   'endpoint_id', ep.id, 'workspace_id', ep.workspace_id);
        ELSIF message <> 'push_race' THEN
          RAISE;
        END IF;
      WHEN unique_violation OR deadlock_detected OR serialization_failure THEN
        NULL;  -- lost a race: decided again
    END;
  END LOOP;
  RETURN json_build_object('status', 'failed', 'rate', rate,
                           'failure', json_build_object('failure', 'race'),
                           'endpoint_id', ep.id, 'workspace_id', ep.workspace_id);
END
$$;

-- One push as the set-based pass applies it.
CREATE TYPE push_together AS (
    n                 integer,     -- its place in the batch (1-based)
    token             text,        -- token hash, hex
    schema_version    text,
    endpoint_id       uuid,
    workspace_id      uuid,
    rate_limit        integer,
    rate_window       integer,
    type_id           uuid,
    vals              json,
    slugs             text[],
    keys              text[],
    missing_required  integer,
    idem              text,
    body_hash         bytea,
    ttl               integer,
    request_id        text,
    client_request_id text,
    traceparent       text,
    record_id         uuid,        -- the record it updates, or the id it creates
    matched_on        text[],
    created           boolean
);

-- The set-based pass: answers[n] is push n's answer, NULL for a push left to the one-by-one
-- path; checked maps each token whose schema version it found current (and locked) to it.
CREATE FUNCTION push_commit_together(pushes json, OUT answers json[], OUT checked jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  rows push_together[];
  places integer[];
  applied json[];
  counts jsonb := '{}';  -- endpoint id → its window's count before this set
  kept integer;
  updates integer;
  keyed integer;
  ep record;
  counted integer;
BEGIN
  answers := array_fill(NULL::json, ARRAY[json_array_length(pushes)]);
  checked := '{}';
  -- The candidates, each push parsed once (json_to_record; the values stay json text).
  SELECT coalesce(array_agg(ROW(
           p.n, c.token_hash, c.schema_version, e.id, e.workspace_id, e.rate_limit,
           e.rate_window_seconds, rc.entity_type_id, rc."values",
           ARRAY(SELECT json_array_elements_text(rc.unique_fields)),
           ARRAY(SELECT json_array_elements_text(rc.key_values)),
           json_array_length(rc.missing_required), coalesce(c.idempotency_key, ''),
           decode(c.body_hash, 'hex'), c.ttl, c.request_id, coalesce(c.client_request_id, ''),
           coalesce(c.traceparent, nullif(current_setting('inlet.traceparent', true), '')),
           NULL, NULL, NULL)::push_together ORDER BY p.n), '{}')
    INTO rows
    FROM json_array_elements(pushes) WITH ORDINALITY AS p(push, n)
    CROSS JOIN LATERAL json_to_record(p.push) AS c(
           token_hash text, schema_version text, check_schema boolean, request_id text,
           traceparent text, client_request_id text, idempotency_key text, body_hash text,
           ttl integer, record json, related json, refusal json, key_refusal json)
    CROSS JOIN LATERAL json_to_record(c.record) AS rc(
           entity_type_id uuid, "values" json, unique_fields json, key_values json,
           missing_required json, "references" json)
    JOIN ingest_endpoints e ON e.token_hash = decode(c.token_hash, 'hex')
   WHERE e.enabled AND c.check_schema
     AND (c.refusal IS NULL OR json_typeof(c.refusal) = 'null')
     AND (c.key_refusal IS NULL OR json_typeof(c.key_refusal) = 'null')
     AND json_typeof(c.record) = 'object'
     AND json_array_length(c.related) = 0
     AND NOT EXISTS (SELECT 1 FROM json_object_keys(rc."references"));
  IF cardinality(rows) < 2 THEN
    RETURN;  -- nothing to gain over the one-by-one path
  END IF;
  -- The schema each endpoint's pushes were planned against, read and locked as
  -- push_commit_one does (FOR KEY SHARE holds the version until this transaction ends).
  FOR ep IN SELECT DISTINCT r.endpoint_id, r.token FROM unnest(rows) AS r ORDER BY 1 LOOP
    PERFORM 1 FROM entity_types t
     WHERE t.id = (SELECT e.entity_type_id FROM ingest_endpoints e WHERE e.id = ep.endpoint_id)
        OR t.id IN (SELECT rf.reference_entity_type_id FROM fields rf
                     JOIN ingest_endpoints e ON e.entity_type_id = rf.entity_type_id
                    WHERE e.id = ep.endpoint_id AND rf.type = 'reference')
     ORDER BY t.id FOR KEY SHARE;
    checked := checked || jsonb_build_object(ep.token, push_schema_version(ep.endpoint_id));
  END LOOP;
  -- Kept for the set: a current plan; no key (or Idempotency-Key) another push of the
  -- batch also has, so their order decides; no Idempotency-Key already held; a match
  -- decision the unique index gives at once — the one record the keys hit (update) or none
  -- (create, if nothing required is missing; keys hitting two records are a conflict);
  -- one push per updated record; room in the endpoint's window for all its pushes here.
  -- The rest are left to the one-by-one path, which answers each exactly.
  WITH batch_keys AS (
    SELECT json_build_array(r.type_id, k.slug, k.value)::text AS k
      FROM unnest(rows) AS r CROSS JOIN LATERAL unnest(r.slugs, r.keys) AS k(slug, value)
    UNION ALL
    SELECT json_build_array(r.token, r.idem)::text FROM unnest(rows) AS r WHERE r.idem <> ''
    UNION ALL
    SELECT json_build_array(pl.planned ->> 'entity_type_id', ok.slug, ok.value)::text
      FROM json_array_elements(pushes) WITH ORDINALITY AS o(push, n)
      CROSS JOIN LATERAL (
        SELECT o.push -> 'record' AS planned
        UNION ALL
        SELECT x.value -> 'planned' FROM json_array_elements(o.push -> 'related') AS x
      ) AS pl
      CROSS JOIN LATERAL unnest(
        ARRAY(SELECT json_array_elements_text(pl.planned -> 'unique_fields')),
        ARRAY(SELECT json_array_elements_text(pl.planned -> 'key_values'))) AS ok(slug, value)
     WHERE o.n <> ALL (ARRAY(SELECT r.n FROM unnest(rows) AS r))
       AND json_typeof(pl.planned) = 'object'
    UNION ALL
    SELECT json_build_array(o.push ->> 'token_hash', o.push ->> 'idempotency_key')::text
      FROM json_array_elements(pushes) WITH ORDINALITY AS o(push, n)
     WHERE o.n <> ALL (ARRAY(SELECT r.n FROM unnest(rows) AS r))
       AND coalesce(o.push ->> 'idempotency_key', '') <> ''
  ), shared AS (
    SELECT b.k FROM batch_keys AS b GROUP BY b.k HAVING count(*) > 1
  ), decided AS (
    SELECT r.*, d.hit_slugs, d.ids
      FROM unnest(rows) AS r
      CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(k.slug ORDER BY k.ord), '{}') AS hit_slugs,
               coalesce(array_agg(h.record_id ORDER BY k.ord), '{}') AS ids
          FROM unnest(r.slugs, r.keys) WITH ORDINALITY AS k(slug, value, ord)
          JOIN LATERAL (SELECT rk.record_id FROM record_keys rk
                         WHERE rk.workspace_id = r.workspace_id
                           AND rk.entity_type_id = r.type_id
                           AND rk.field_slug = k.slug AND rk.value = k.value
                        OFFSET 0) AS h ON true
      ) AS d
     WHERE r.schema_version = checked ->> r.token
       AND NOT EXISTS (SELECT 1 FROM unnest(r.slugs, r.keys) AS k(slug, value)
                        JOIN shared AS s
                          ON s.k = json_build_array(r.type_id, k.slug, k.value)::text)
       AND (r.idem = '' OR (
             NOT EXISTS (SELECT 1 FROM shared AS s
                          WHERE s.k = json_build_array(r.token, r.idem)::text)
             AND NOT EXISTS (SELECT 1 FROM endpoint_idempotency_keys k
                              WHERE k.endpoint_id = r.endpoint_id
                                AND k.idempotency_key = r.idem AND k.expire_time > now())))
       AND (SELECT count(DISTINCT i) FROM unnest(d.ids) AS i) <= 1
       AND (cardinality(d.ids) > 0 OR r.missing_required = 0)
  ), single AS (
    SELECT d.* FROM (
      SELECT d.*, d.n = min(d.n) OVER (PARTITION BY d.ids[1]) AS first_of_record
        FROM decided AS d) AS d
     WHERE d.ids[1] IS NULL OR d.first_of_record
  ), roomy AS (
    SELECT s.*, count(*) OVER (PARTITION BY s.endpoint_id) AS pushes FROM single AS s
  )
  SELECT coalesce(array_agg(ROW(
           r.n, r.token, r.schema_version, r.endpoint_id, r.workspace_id, r.rate_limit,
           r.rate_window, r.type_id, r.vals, r.slugs, r.keys, r.missing_required, r.idem,
           r.body_hash, r.ttl, r.request_id, r.client_request_id, r.traceparent,
           coalesce(r.ids[1], gen_random_uuid()), r.hit_slugs, r.ids[1] IS NULL
         )::push_together ORDER BY r.n), '{}')
    INTO rows
    FROM roomy AS r
   WHERE r.pushes + coalesce(
           (SELECT w.hits FROM rate_windows w
             WHERE w.subject = 'endpoint:' || r.endpoint_id
               AND w.window_start = to_timestamp(floor(extract(epoch FROM now()) / r.rate_window)
                                                 * r.rate_window)), 0)
         <= r.rate_limit;
  IF cardinality(rows) < 2 THEN
    RETURN;
  END IF;
  SELECT count(*) FILTER (WHERE NOT r.created), count(*) FILTER (WHERE r.idem <> '')
    INTO updates, keyed FROM unnest(rows) AS r;
  BEGIN
    -- Counted: each endpoint's window row written once, under its row lock; the count is
    -- kept for push_commit_one (pushes of this endpoint left to it) and written back by
    -- push_commit as it would be for its own pushes.
    FOR ep IN SELECT r.endpoint_id, min(r.rate_limit) AS rate_limit,
                     min(r.rate_window) AS rate_window, count(*)::integer AS pushes
                FROM unnest(rows) AS r GROUP BY r.endpoint_id ORDER BY r.endpoint_id LOOP
      INSERT INTO rate_windows AS rw (subject, window_start, hits)
      VALUES ('endpoint:' || ep.endpoint_id,
              to_timestamp(floor(extract(epoch FROM now()) / ep.rate_window) * ep.rate_window),
              ep.pushes)
      ON CONFLICT (subject, window_start) DO UPDATE SET hits = rw.hits + ep.pushes
      RETURNING rw.hits INTO counted;
      IF counted > ep.rate_limit THEN
        RAISE EXCEPTION 'push_together_fallback';  -- another replica's pushes came between
      END IF;
      IF counted = ep.pushes THEN
        -- A new window: the endpoint's older ones are dead weight.
        DELETE FROM rate_windows
         WHERE subject = 'endpoint:' || ep.endpoint_id
           AND window_start < now() - make_interval(secs => ep.rate_window);
      END IF;
      PERFORM set_config('inlet.hits_endpoints',
                         concat_ws(',', nullif(current_setting('inlet.hits_endpoints', true), ''),
                                   ep.endpoint_id::text), true);
      PERFORM set_config('inlet.hits_' || replace(ep.endpoint_id::text, '-', ''),
                         counted || ':' || counted, true);
      counts := counts || jsonb_build_object(ep.endpoint_id, counted - ep.pushes);
    END LOOP;
    -- Idempotency-Keys first, so a concurrent push with the same key waits for our outcome.
    IF keyed > 0 THEN
    INSERT INTO endpoint_idempotency_keys AS ik
           (endpoint_id, idempotency_key, body_hash, request_id, expire_time)
    SELECT r.endpoint_id, r.idem, r.body_hash, r.request_id,
           now() + make_interval(secs => r.ttl)
      FROM unnest(rows) AS r WHERE r.idem <> '' ORDER BY r.endpoint_id, r.idem
    ON CONFLICT (endpoint_id, idempotency_key) DO UPDATE
       SET body_hash = excluded.body_hash, request_id = excluded.request_id, response = NULL,
           create_time = now(), expire_time = excluded.expire_time
     WHERE ik.expire_time <= now();
    GET DIAGNOSTICS kept = ROW_COUNT;
    IF kept < keyed THEN
      RAISE EXCEPTION 'push_together_fallback';  -- a concurrent push took a key
    END IF;
    END IF;
    IF updates > 0 THEN
    PERFORM 1 FROM records x
     WHERE x.id IN (SELECT r.record_id FROM unnest(rows) AS r WHERE NOT r.created)
     ORDER BY x.id FOR UPDATE;
    GET DIAGNOSTICS kept = ROW_COUNT;
    IF kept < updates THEN
      RAISE EXCEPTION 'push_together_fallback';  -- a matched record was deleted meanwhile
    END IF;
    UPDATE records x SET data = json_merge_exact(x.data, r.vals), update_time = now()
      FROM unnest(rows) AS r
     WHERE NOT r.created AND x.id = r.record_id;
    -- Unique values that changed (or were cleared) move the record's keys.
    DELETE FROM record_keys rk
     USING unnest(rows) AS r
     WHERE NOT r.created AND rk.record_id = r.record_id
       AND (rk.field_slug IN (SELECT k.slug FROM unnest(r.slugs) AS k(slug)
                               WHERE k.slug <> ALL (r.matched_on))
            OR rk.field_slug IN (SELECT c.key FROM json_each(r.vals) AS c
                                  WHERE json_typeof(c.value) = 'null'
                                    AND c.key <> ALL (r.slugs)));
    END IF;
    IF updates < cardinality(rows) THEN
      INSERT INTO records (id, workspace_id, entity_type_id, data)
      SELECT r.record_id, r.workspace_id, r.type_id, json_strip_nulls(r.vals)
        FROM unnest(rows) AS r WHERE r.created ORDER BY r.n;
    END IF;
    -- The primary key of record_keys decides a race: a concurrent writer's key makes this
    -- insert wait for its commit, then skip; then the whole set goes the one-by-one way.
    INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
    SELECT r.workspace_id, r.type_id, k.slug, k.value, r.record_id
      FROM unnest(rows) AS r CROSS JOIN LATERAL unnest(r.slugs, r.keys) AS k(slug, value)
     WHERE k.slug <> ALL (coalesce(r.matched_on, '{}'))
     ORDER BY r.n
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS kept = ROW_COUNT;
    IF kept < (SELECT count(*) FROM unnest(rows) AS r
                 CROSS JOIN LATERAL unnest(r.slugs) AS k(slug)
                WHERE k.slug <> ALL (coalesce(r.matched_on, '{}'))) THEN
      RAISE EXCEPTION 'push_together_fallback';
    END IF;
    WITH numbered AS (
      SELECT r.*, (counts ->> r.endpoint_id::text)::integer
                  + (row_number() OVER (PARTITION BY r.endpoint_id ORDER BY r.n))::integer
                  AS count_with_it
        FROM unnest(rows) AS r
    ), done AS (
      SELECT r.*,
             json_build_object('limit', r.rate_limit,
                               'remaining', greatest(0, r.rate_limit - r.count_with_it),
                               'reset_seconds', greatest(1, ceil(
                                   floor(extract(epoch FROM now()) / r.rate_window) * r.rate_window
                                   + r.rate_window - extract(epoch FROM clock_timestamp())))::integer,
                               'window_seconds', r.rate_window) AS rate,
             CASE WHEN r.created THEN json_build_object('id', r.record_id, 'action', 'created')
                  ELSE json_build_object('id', r.record_id, 'action', 'updated',
                                         'matched_on', r.matched_on) END AS outcome,
             json_build_object('type', 'ingest_endpoint', 'id', r.endpoint_id,
                               'request_id', r.request_id) AS source
        FROM numbered AS r
    ), summed AS (
      SELECT d.*, json_build_object('record', d.outcome, 'related', '{}'::json) AS summary
        FROM done AS d
    ), logged AS (
      INSERT INTO activity_entries (endpoint_id, request_id, client_request_id, status_code,
                                    outcome, record_ids, trace_id)
      SELECT s.endpoint_id, s.request_id, s.client_request_id, 200, s.summary,
             ARRAY[s.record_id], nullif(split_part(s.traceparent, '-', 2), '')
        FROM summed AS s ORDER BY s.n
    ), kept_answers AS (
      UPDATE endpoint_idempotency_keys k SET response = s.summary::jsonb
        FROM summed AS s
       WHERE s.idem <> '' AND k.endpoint_id = s.endpoint_id AND k.idempotency_key = s.idem
    ), evented AS (
      -- Outbox events commit (or roll back) with the change they describe.
      INSERT INTO outbox_events (workspace_id, type, data, traceparent)
      SELECT s.workspace_id, e ->> 'type', e -> 'data', s.traceparent
        FROM summed AS s,
             LATERAL push_record_event(json_build_object('entity_type_id', s.type_id), s.vals,
                                       s.outcome, s.source) AS e
       ORDER BY s.n
    )
    SELECT array_agg(s.n ORDER BY s.n),
           array_agg(json_build_object('status', 'applied', 'rate', s.rate,
                                       'summary', s.summary) ORDER BY s.n)
      INTO places, applied
      FROM summed AS s;
  EXCEPTION
    WHEN raise_exception THEN
      IF SQLERRM <> 'push_together_fallback' THEN
        RAISE;
      END IF;
      RETURN;  -- every push the one-by-one way (this block's writes are undone)
    WHEN unique_violation OR deadlock_detected OR serialization_failure THEN
      RETURN;
  END;
  FOR i IN 1..cardinality(places) LOOP
    answers[places[i]] := applied[i];
  END LOOP;
END
$$;

-- A batch of pushes in one transaction (group commit): each push's answer, in order. The
-- common ones are applied together first (push_commit_together); the rest one by one.
CREATE FUNCTION push_commit(pushes json, attempts integer) RETURNS SETOF json
LANGUAGE plpgsql AS $$
DECLARE
  push json;
  place integer;
  answer json;
  token text;
  together record;
  checked jsonb;
  ep uuid;
  counted text;
BEGIN
  together := push_commit_together(pushes);
  checked := together.checked;
  FOR push, place IN SELECT p.value, p.n FROM json_array_elements(pushes) WITH ORDINALITY AS p(value, n)
                      ORDER BY p.n LOOP
    answer := together.answers[place];
    IF answer IS NULL THEN
      token := push ->> 'token_hash';
      -- Each push's rows keep its own trace (column defaults read inlet.traceparent).
      IF push ->> 'traceparent' IS NOT NULL THEN
        PERFORM set_config('inlet.traceparent', push ->> 'traceparent', true);
      END IF;
      answer := push_commit_one(push, attempts, checked ->> token);
      -- Past the version check, the version held (and its locks are this transaction's).
      IF (push ->> 'check_schema')::boolean
         AND answer ->> 'status' NOT IN ('stale', 'not_found') THEN
        checked := checked || jsonb_build_object(token, push ->> 'schema_version');
      END IF;
    END IF;
    RETURN NEXT answer;
  END LOOP;
  -- The hits counted in memory past each endpoint's first, written once.
  FOR ep IN SELECT k::uuid
               FROM unnest(string_to_array(
                      nullif(current_setting('inlet.hits_endpoints', true), ''), ',')) AS k LOOP
    counted := current_setting('inlet.hits_' || replace(ep::text, '-', ''), true);
    IF split_part(counted, ':', 1) <> split_part(counted, ':', 2) THEN
      UPDATE rate_windows SET hits = split_part(counted, ':', 1)::integer
       WHERE subject = 'endpoint:' || ep
         AND window_start = (SELECT to_timestamp(floor(extract(epoch FROM now())
                                                       / e.rate_window_seconds)
                                                 * e.rate_window_seconds)
                               FROM ingest_endpoints e WHERE e.id = ep);
    END IF;
    PERFORM set_config('inlet.hits_' || replace(ep::text, '-', ''), '', true);
  END LOOP;
  PERFORM set_config('inlet.hits_endpoints', '', true);
END
$$;

-- Traces: a store connection handed out inside a traced call carries the call's W3C
-- traceparent as the setting inlet.traceparent (only when tracing is on), and these
-- defaults keep it: an outbox event (and the notifier's copy of it) keeps the traceparent
-- of the change that wrote it, so the delivery's span continues that trace; an activity
-- entry keeps the trace id, so the log links to the trace. NULL: tracing was off.
ALTER TABLE outbox_events
    ADD COLUMN traceparent text DEFAULT nullif(current_setting('inlet.traceparent', true), '');
ALTER TABLE webhook_events ADD COLUMN traceparent text;
ALTER TABLE activity_entries
    ADD COLUMN trace_id text
        DEFAULT nullif(split_part(current_setting('inlet.traceparent', true), '-', 2), '');

-- Traces of asynchronous requests: an inbox request keeps the traceparent of the call that
-- accepted it (the store connection's inlet.traceparent, set only with tracing on), so the
-- worker that processes it continues that trace, and its webhooks with it.
ALTER TABLE stream_requests
    ADD COLUMN traceparent text DEFAULT nullif(current_setting('inlet.traceparent', true), '');

-- stream feed (0050)
-- Live data for connected clients: read keys per stream (hashed, as ingest keys), the
-- stream's change log (the feed) with a gap-free position per stream, and the stream's
-- current items. Both are written by a trigger on stream_request_items, so every way an
-- item is applied (set-based chunks, item by item) writes them in its own transaction.

-- A read key is shown once as rk_<id>_<secret>; only SHA-256(secret) is kept.
CREATE TABLE read_keys (
    id           text PRIMARY KEY,
    stream_id    uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    display_name text NOT NULL DEFAULT '',
    secret_hash  bytea NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    revoke_time  timestamptz
);

CREATE INDEX read_keys_stream_idx ON read_keys (stream_id, create_time);

-- The last position given out per stream. Taking the next one locks this row until the
-- transaction ends, so positions of one stream become visible in order, without gaps:
-- a reader that has seen position n never later finds a smaller one appear.
CREATE TABLE stream_feed_heads (
    stream_id uuid PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
    position  bigint NOT NULL DEFAULT 0
);

-- One row per applied item (created or updated): the record's values after the change.
-- The position is the SSE event id, and what Last-Event-ID resumes after.
CREATE TABLE stream_feed (
    stream_id   uuid NOT NULL,  -- streams (id), see 0100
    position    bigint NOT NULL,
    record_id   uuid NOT NULL,
    item_key    text NOT NULL,
    action      text NOT NULL,
    data        json NOT NULL,
    request_id  text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, position)
);

CREATE INDEX stream_feed_create_time_idx ON stream_feed (create_time);

-- The stream's current items: each record an item of the stream wrote, by its item key
-- (the X-Item-Key value, else the record id); values are read from the record itself.
CREATE TABLE stream_items (
    stream_id   uuid NOT NULL,  -- streams (id), see 0100
    record_id   uuid NOT NULL,  -- records (id), see 0100
    item_key    text NOT NULL,
    position    bigint NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, record_id)
);

CREATE INDEX stream_items_key_idx ON stream_items (stream_id, item_key, record_id);

-- Statement-level, over the inserted outcome rows: one head update per stream and
-- statement, and a NOTIFY (delivered at commit, once per stream and transaction).
CREATE FUNCTION stream_feed_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed record;
BEGIN
    FOR changed IN
        SELECT r.stream_id, count(*) AS n
          FROM new_items i JOIN stream_requests r ON r.id = i.request_id
         WHERE r.stream_id IS NOT NULL AND i.action IN ('created', 'updated')
         GROUP BY r.stream_id
         ORDER BY r.stream_id
    LOOP
        WITH head AS (
            INSERT INTO stream_feed_heads AS h (stream_id, position)
            VALUES (changed.stream_id, changed.n)
            ON CONFLICT (stream_id) DO UPDATE SET position = h.position + changed.n
            RETURNING h.position - changed.n AS base
        ), keyed AS MATERIALIZED (
            -- Each keyed request's items read once (not once per item: json is text), and
            -- once per statement: inlined, its join ran once per applied item.
            SELECT r.id AS request_id, e.n - 1 AS item_index, e.item ->> r.item_key AS item_key
              FROM (SELECT DISTINCT request_id FROM new_items) q
              JOIN stream_requests r ON r.id = q.request_id
             CROSS JOIN LATERAL json_array_elements(r.items) WITH ORDINALITY AS e(item, n)
             WHERE r.stream_id = changed.stream_id AND r.item_key <> ''
        ), applied AS (
            -- Requests in the order they were accepted (a batch of them is written in one
            -- statement), each one's items in order.
            SELECT i.request_id, i.item_index, i.record_id, i.action,
                   coalesce(k.item_key, i.record_id::text) AS item_key,
                   row_number() OVER (ORDER BY r.create_time, i.request_id, i.item_index) AS n
              FROM new_items i JOIN stream_requests r ON r.id = i.request_id
              LEFT JOIN keyed k
                ON k.request_id = i.request_id AND k.item_index = i.item_index
             WHERE r.stream_id = changed.stream_id AND i.action IN ('created', 'updated')
        ), feed AS (
            -- clock_timestamp(): when the item was applied (now() is when its transaction
            -- began), so a change's time is its processing time.
            INSERT INTO stream_feed
                   (stream_id, position, record_id, item_key, action, data, request_id,
                    create_time)
            SELECT changed.stream_id, head.base + a.n, a.record_id, a.item_key, a.action,
                   coalesce(rec.data, '{}'::json), a.request_id, clock_timestamp()
              FROM applied a CROSS JOIN head LEFT JOIN records rec ON rec.id = a.record_id
        ), latest AS (
            -- Each record's last change; `fresh` when it was created in this statement, so
            -- it has no current item yet.
            SELECT DISTINCT ON (a.record_id) a.record_id, a.item_key, a.n,
                   bool_or(a.action = 'created') OVER (PARTITION BY a.record_id) AS fresh
              FROM applied a
             ORDER BY a.record_id, a.n DESC
        ), added AS (
            -- A plain insert: an upsert's speculative insertion costs more, and a new
            -- record cannot conflict.
            INSERT INTO stream_items (stream_id, record_id, item_key, position)
            SELECT changed.stream_id, l.record_id, l.item_key, head.base + l.n
              FROM latest l CROSS JOIN head
             WHERE l.fresh
        )
        INSERT INTO stream_items AS s (stream_id, record_id, item_key, position)
        SELECT changed.stream_id, l.record_id, l.item_key, head.base + l.n
          FROM latest l CROSS JOIN head
         WHERE NOT l.fresh
        ON CONFLICT (stream_id, record_id) DO UPDATE
           SET item_key = excluded.item_key, position = excluded.position, update_time = now();
        PERFORM pg_notify('inlet_feed', changed.stream_id::text);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER stream_request_items_feed
    AFTER INSERT ON stream_request_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION stream_feed_append();

-- Wake-ups (0030): see the migration.
CREATE FUNCTION inlet_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One notification per statement; NOTIFY folds repeats within a transaction.
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;

-- Only when the statement inserted deliveries (0090): see the migration.
CREATE FUNCTION inlet_notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify(TG_ARGV[0], '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify_inserted('inlet_webhook_deliveries');
-- Only when the statement kept events (0140): see the migration.
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify_inserted('inlet_outbox');
CREATE TRIGGER stream_requests_notify AFTER INSERT ON stream_requests
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify('inlet_inbox');

-- Stream references per statement (0100): the stream tables' references are checked once
-- per statement by these triggers instead of foreign keys; see the migration.
-- A statement's references, TG_ARGV pairs of (column, parent table): per column the
-- distinct keys are locked FOR KEY SHARE in key order (two statements never wait on each
-- other in opposite orders), and one that is missing is raised as the foreign key would
-- (SQLSTATE 23503). Dynamic SQL, planned for each statement's own rows.
CREATE FUNCTION stream_references_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    col text;
    parent text;
    wanted bigint;
    held bigint;
    missing text;
BEGIN
    WHILE n < TG_NARGS LOOP
        col := TG_ARGV[n];
        parent := TG_ARGV[n + 1];
        EXECUTE format('SELECT count(DISTINCT %I) FROM new_rows', col) INTO wanted;
        EXECUTE format(
            'SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.id IN (SELECT %I FROM new_rows)'
            ' ORDER BY p.id FOR KEY SHARE) l', parent, col) INTO held;
        IF held < wanted THEN
            EXECUTE format(
                'SELECT n.%I::text FROM new_rows n'
                ' WHERE NOT EXISTS (SELECT 1 FROM %I p WHERE p.id = n.%I) LIMIT 1',
                col, parent, col) INTO missing;
            RAISE foreign_key_violation USING
                MESSAGE = format('insert on table "%s" violates its reference to "%s"',
                                 TG_TABLE_NAME, parent),
                DETAIL = format('Key (%s)=(%s) is not present in table "%s".',
                                col, missing, parent),
                TABLE = TG_TABLE_NAME, COLUMN = col;
        END IF;
        n := n + 2;
    END LOOP;
    RETURN NULL;
END
$$;

-- Inserted rows only: an upsert's updates keep the row's stream and record (its key).
CREATE TRIGGER stream_request_items_check
    AFTER INSERT ON stream_request_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stream_references_check('request_id', 'stream_requests');
CREATE TRIGGER stream_feed_check
    AFTER INSERT ON stream_feed
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stream_references_check('stream_id', 'streams');
CREATE TRIGGER stream_items_check
    AFTER INSERT ON stream_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stream_references_check(
        'stream_id', 'streams', 'record_id', 'records');

-- A row is never moved to another parent (the foreign key would check that too).
CREATE FUNCTION stream_reference_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = format('the references of table "%s" cannot change', TG_TABLE_NAME);
END
$$;

CREATE TRIGGER stream_request_items_fixed
    BEFORE UPDATE ON stream_request_items FOR EACH ROW
    WHEN (OLD.request_id IS DISTINCT FROM NEW.request_id)
    EXECUTE FUNCTION stream_reference_fixed();
CREATE TRIGGER stream_feed_fixed
    BEFORE UPDATE ON stream_feed FOR EACH ROW
    WHEN (OLD.stream_id IS DISTINCT FROM NEW.stream_id)
    EXECUTE FUNCTION stream_reference_fixed();
CREATE TRIGGER stream_items_fixed
    BEFORE UPDATE ON stream_items FOR EACH ROW
    WHEN (OLD.stream_id IS DISTINCT FROM NEW.stream_id
          OR OLD.record_id IS DISTINCT FROM NEW.record_id)
    EXECUTE FUNCTION stream_reference_fixed();

-- ON DELETE CASCADE, once per deleting statement. Row-level foreign key actions on the
-- same parent run first (statement triggers fire after them), so a request's deletion
-- that waited for the transaction applying it sees, and deletes, what it wrote.
CREATE FUNCTION stream_requests_cascade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stream_request_items i USING gone g WHERE i.request_id = g.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION streams_cascade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stream_feed f USING gone g WHERE f.stream_id = g.id;
    DELETE FROM stream_items i USING gone g WHERE i.stream_id = g.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION records_cascade_stream_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stream_items i USING gone g WHERE i.record_id = g.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER stream_requests_cascade
    AFTER DELETE ON stream_requests
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION stream_requests_cascade();
CREATE TRIGGER streams_cascade
    AFTER DELETE ON streams
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION streams_cascade();
CREATE TRIGGER records_cascade_stream_items
    AFTER DELETE ON records
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION records_cascade_stream_items();

-- A record's type is in its workspace (0102): one reference for both; see the migration.
ALTER TABLE entity_types ADD CONSTRAINT entity_types_id_workspace_key UNIQUE (id, workspace_id);
ALTER TABLE records ADD CONSTRAINT records_entity_type_workspace_fkey
    FOREIGN KEY (entity_type_id, workspace_id) REFERENCES entity_types (id, workspace_id)
    ON DELETE CASCADE;

-- A batch of events in one outbox row (0141): `events` = [{type, data}, …], type 'batch',
-- `event_count` events; the notifier's take makes them events. See the migration.
ALTER TABLE outbox_events ADD COLUMN events json, ADD COLUMN event_count integer NOT NULL DEFAULT 1;
ALTER TABLE outbox_events ALTER COLUMN events SET STORAGE EXTERNAL;

-- Events only for a workspace with an endpoint to take them (0140): see the migration.
CREATE FUNCTION outbox_lock_key(ws uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtextextended('inlet.outbox:' || ws::text, 0) $$;

-- Checked once per workspace and transaction: the answer is kept in a transaction-local
-- setting, which also ends (with the lock) if the subtransaction that took it rolls back.
CREATE FUNCTION outbox_subscribed(ws uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    name text := 'inlet.outbox_' || replace(ws::text, '-', '');
    known text := current_setting(name, true);
    found boolean;
BEGIN
    IF known = 't' THEN
        RETURN true;
    ELSIF known = 'f' THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(outbox_lock_key(ws));
    found := EXISTS (SELECT 1 FROM webhook_endpoints e
                      WHERE e.workspace_id = ws AND e.enabled AND e.session_id IS NULL);
    PERFORM set_config(name, CASE WHEN found THEN 't' ELSE 'f' END, true);
    RETURN found;
END
$$;

CREATE FUNCTION outbox_events_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.target IS NOT NULL OR outbox_subscribed(NEW.workspace_id) THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_keep BEFORE INSERT ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION outbox_events_keep();

-- An endpoint that starts taking a workspace's events waits for the writers that found none.
CREATE FUNCTION webhook_endpoints_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.enabled AND NEW.session_id IS NULL
       AND (TG_OP = 'INSERT' OR NOT OLD.enabled OR OLD.session_id IS NOT NULL
            OR OLD.workspace_id <> NEW.workspace_id) THEN
        PERFORM pg_advisory_xact_lock(outbox_lock_key(NEW.workspace_id));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER webhook_endpoints_announce BEFORE INSERT OR UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION webhook_endpoints_announce();
