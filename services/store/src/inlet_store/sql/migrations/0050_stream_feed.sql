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
    stream_id   uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
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
    stream_id   uuid NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    record_id   uuid NOT NULL REFERENCES records (id) ON DELETE CASCADE,
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
        ), applied AS (
            SELECT i.request_id, i.item_index, i.record_id, i.action,
                   CASE WHEN r.item_key = '' THEN i.record_id::text
                        ELSE coalesce(r.items -> i.item_index ->> r.item_key,
                                      i.record_id::text) END AS item_key,
                   row_number() OVER (ORDER BY i.request_id, i.item_index) AS n
              FROM new_items i JOIN stream_requests r ON r.id = i.request_id
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
        )
        INSERT INTO stream_items AS s (stream_id, record_id, item_key, position)
        SELECT DISTINCT ON (a.record_id) changed.stream_id, a.record_id, a.item_key,
               head.base + a.n
          FROM applied a CROSS JOIN head
         ORDER BY a.record_id, a.n DESC
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
