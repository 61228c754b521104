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
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    entity_type_id uuid NOT NULL REFERENCES entity_types (id) ON DELETE CASCADE,
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
    request_id    text NOT NULL REFERENCES stream_requests (id) ON DELETE CASCADE,
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

-- Wake-ups (0030): see the migration.
CREATE FUNCTION inlet_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One notification per statement; NOTIFY folds repeats within a transaction.
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify('inlet_outbox');
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify('inlet_webhook_deliveries');
CREATE TRIGGER stream_requests_notify AFTER INSERT ON stream_requests
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify('inlet_inbox');
