-- Taking the store's outbox (the notifier shares its database).

-- name: take_outbox_events
-- One atomic statement, so no transaction stays open across anything: the oldest rows
-- (SKIP LOCKED: notifiers take disjoint batches side by side) are deleted from the outbox,
-- each one event or a batch of them (migration 0141), and the events fanned out to the
-- subscribed endpoints, or, for a targeted event (a push transfer's webhook), to its one
-- URL with its order. Killed at any point, it either happened or did not.
-- Only an event with a delivery is kept as a webhook event, under its id (the outbox row's,
-- or for a batch's event one made here), the webhook-id of every attempt: an event that no
-- endpoint takes could never be read or sent (there is no events API; replay and recover
-- work on deliveries). The statement's snapshot is taken after the events' commit, so an
-- endpoint created before then takes them.
-- The webhook events are written by a plain insert (an outbox id is random and new): the
-- repository adds ON CONFLICT (id) DO NOTHING only to take again a batch that met an id
-- already kept (an event also published straight in), which then gets no second fan-out.
-- A speculative insertion costs a few microseconds more on every event.
WITH taken AS (
    DELETE FROM outbox_events o
     WHERE o.id IN (
           -- The oldest rows while fewer than %(limit)s events come before each: a batch row
           -- counts its events, so a take moves about %(limit)s events (at most one row's
           -- more), however they are stored. Rows it locks and leaves go free at its end.
           SELECT w.id FROM (
               SELECT l.id, sum(l.event_count) OVER (ORDER BY l.seq) - l.event_count AS before
                 FROM (SELECT id, seq, event_count FROM outbox_events ORDER BY seq
                        LIMIT %(limit)s FOR UPDATE SKIP LOCKED) l) w
            WHERE w.before < %(limit)s)
    RETURNING o.id, o.seq, o.workspace_id, o.type, o.occur_time, o.data, o.target, o.traceparent,
              o.events, o.event_count
), event AS (
    SELECT t.id, t.seq, 0::bigint AS k, t.workspace_id, t.type, t.occur_time, t.data, t.target,
           t.traceparent
      FROM taken t
     WHERE t.events IS NULL
    UNION ALL
    -- A batch row's events, each with an id made here, once: the row leaves the outbox in
    -- this statement. (The store writes one only for a workspace with an endpoint; one that
    -- is disabled or gone since takes nothing of it below.)
    SELECT 'msg_' || replace(gen_random_uuid()::text, '-', ''), t.seq, x.k, t.workspace_id,
           x.type, t.occur_time, x.data, NULL::json, t.traceparent
      FROM taken t
     CROSS JOIN LATERAL ROWS FROM (json_to_recordset(t.events) AS (type text, data json))
           WITH ORDINALITY AS x(type, data, k)
     WHERE t.events IS NOT NULL
), wanted AS (
    SELECT t.id AS event_id, e.id AS endpoint_id, NULL::text AS url,
           NULL::text AS ordering_key, NULL::bigint AS ordering_seq
      FROM event t
      JOIN webhook_endpoints e ON e.workspace_id = t.workspace_id AND e.enabled
     -- A push session's endpoint takes only the events targeted at it.
     WHERE t.target IS NULL
       AND e.session_id IS NULL
       AND (cardinality(e.event_types) = 0 OR t.type = ANY(e.event_types))
       AND (cardinality(e.entity_type_ids) = 0
            OR t.data ->> 'entity_type_id' = ANY(e.entity_type_ids))
       AND (cardinality(e.source_ids) = 0 OR t.data -> 'source' ->> 'id' = ANY(e.source_ids))
    UNION ALL
    SELECT t.id, e.id, t.target ->> 'url', nullif(t.target ->> 'ordering_key', ''),
           coalesce((t.target ->> 'ordering_seq')::bigint, 0)
      FROM event t
      JOIN webhook_endpoints e
        ON e.id::text = t.target ->> 'endpoint_id' AND e.workspace_id = t.workspace_id
     WHERE t.target IS NOT NULL AND e.enabled
), inserted AS (
    INSERT INTO webhook_events (id, workspace_id, type, occur_time, data, traceparent)
    SELECT id, workspace_id, type, occur_time, data, traceparent
      FROM event
     WHERE id IN (SELECT event_id FROM wanted)
     ORDER BY seq, k
    RETURNING id
), delivered AS (
    INSERT INTO webhook_deliveries (event_id, endpoint_id, url, ordering_key, ordering_seq)
    SELECT w.event_id, w.endpoint_id, w.url, w.ordering_key, w.ordering_seq
      FROM wanted w JOIN inserted i ON i.id = w.event_id
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT coalesce(sum(event_count), 0) FROM taken) AS taken,
       (SELECT count(*) FROM delivered) AS deliveries;
