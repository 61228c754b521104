-- Workspaces, entity types and fields, ingest endpoints, records with their unique
-- key index, and the per-endpoint activity log.

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
                                 ('text', 'email', 'phone', 'number', 'boolean', 'datetime', 'reference')),
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

CREATE TABLE records (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    entity_type_id uuid NOT NULL REFERENCES entity_types (id) ON DELETE CASCADE,
    data           jsonb NOT NULL DEFAULT '{}'::jsonb,
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
    outcome     jsonb NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX activity_entries_endpoint_idx ON activity_entries (endpoint_id, id DESC);
