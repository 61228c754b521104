-- The feed's trigger reads the keyed requests' items once per statement. Inlined into the
-- join, that lookup of the request ran once per applied item (a 1,000-item array: 1,000
-- index scans of stream_requests, even when no request of the statement is keyed).
CREATE OR REPLACE FUNCTION stream_feed_append() RETURNS trigger
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
