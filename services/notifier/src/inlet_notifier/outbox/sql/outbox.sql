-- Taking the store's outbox (the notifier shares its database).

-- name: take_outbox_events
-- One atomic statement, so no transaction stays open across anything: the oldest events
-- (SKIP LOCKED: notifiers take disjoint batches side by side) are deleted from the outbox,
-- kept as webhook events under the same id (the webhook-id of every attempt) and fanned
-- out to the subscribed endpoints, or, for a targeted event (a push transfer's webhook), to
-- its one URL with its order. Killed at any point, it either happened or did not.
-- The webhook events are written by a plain insert (an outbox id is random and new): the
-- repository adds ON CONFLICT (id) DO NOTHING only to take again a batch that met an id
-- already kept (an event also published straight in), which then gets no second fan-out.
-- A speculative insertion costs a few microseconds more on every event.
WITH taken AS (
    DELETE FROM outbox_events o
     WHERE o.id IN (SELECT id FROM outbox_events ORDER BY seq
                     LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING o.id, o.seq, o.workspace_id, o.type, o.occur_time, o.data, o.target, o.traceparent
), inserted AS (
    INSERT INTO webhook_events (id, workspace_id, type, occur_time, data, traceparent)
    SELECT id, workspace_id, type, occur_time, data, traceparent FROM taken ORDER BY seq
    RETURNING id, workspace_id, type, data
), fanned AS (
    INSERT INTO webhook_deliveries (event_id, endpoint_id)
    SELECT i.id, e.id
      FROM inserted i
      JOIN taken t ON t.id = i.id AND t.target IS NULL
      JOIN webhook_endpoints e ON e.workspace_id = i.workspace_id AND e.enabled
     -- A push session's endpoint takes only the events targeted at it.
     WHERE e.session_id IS NULL
       AND (cardinality(e.event_types) = 0 OR i.type = ANY(e.event_types))
       AND (cardinality(e.entity_type_ids) = 0
            OR i.data ->> 'entity_type_id' = ANY(e.entity_type_ids))
       AND (cardinality(e.source_ids) = 0 OR i.data -> 'source' ->> 'id' = ANY(e.source_ids))
    ON CONFLICT DO NOTHING
    RETURNING 1
), targeted AS (
    INSERT INTO webhook_deliveries (event_id, endpoint_id, url, ordering_key, ordering_seq)
    SELECT i.id, e.id, t.target ->> 'url', nullif(t.target ->> 'ordering_key', ''),
           coalesce((t.target ->> 'ordering_seq')::bigint, 0)
      FROM inserted i
      JOIN taken t ON t.id = i.id AND t.target IS NOT NULL
      JOIN webhook_endpoints e
        ON e.id::text = t.target ->> 'endpoint_id' AND e.workspace_id = t.workspace_id
     WHERE e.enabled
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM taken) AS taken,
       (SELECT count(*) FROM fanned) + (SELECT count(*) FROM targeted) AS deliveries;
