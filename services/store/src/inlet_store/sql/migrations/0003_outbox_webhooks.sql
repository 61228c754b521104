-- issue 5: the store's transactional outbox and the notifier's webhook tables.

-- Written in the same transaction as the change it describes; the relay publishes a
-- row to the notifier and then deletes it (at least once: the id is the event's stable
-- id, and the notifier ignores an id it has seen).
CREATE TABLE outbox_events (
    id           text PRIMARY KEY DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    workspace_id uuid NOT NULL,
    type         text NOT NULL,
    data         jsonb NOT NULL,
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
    data         jsonb NOT NULL,
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
