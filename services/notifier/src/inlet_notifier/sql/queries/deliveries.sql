-- Events published straight in (tests and tools; the store's come through the outbox).

-- name: insert_events
-- Fan-out in one statement: events already seen (same id) are skipped and so get no
-- second set of deliveries, which makes publishing safe to repeat.
WITH incoming AS (
    SELECT * FROM unnest(%(ids)s::text[], %(workspace_ids)s::uuid[], %(types)s::text[],
                         %(occur_times)s::timestamptz[], %(datas)s::json[],
                         %(traceparents)s::text[])
             AS e(id, workspace_id, type, occur_time, data, traceparent)
), inserted AS (
    INSERT INTO webhook_events (id, workspace_id, type, occur_time, data, traceparent)
    SELECT id, workspace_id, type, occur_time, data, traceparent FROM incoming
    ON CONFLICT (id) DO NOTHING
    RETURNING id, workspace_id, type, data
), fanned AS (
    INSERT INTO webhook_deliveries (event_id, endpoint_id)
    SELECT i.id, e.id
      FROM inserted i
      JOIN webhook_endpoints e ON e.workspace_id = i.workspace_id AND e.enabled
     -- A push session's endpoint takes only the events targeted at it.
     WHERE e.session_id IS NULL
       AND (cardinality(e.event_types) = 0 OR i.type = ANY(e.event_types))
       AND (cardinality(e.entity_type_ids) = 0
            OR i.data ->> 'entity_type_id' = ANY(e.entity_type_ids))
       AND (cardinality(e.source_ids) = 0 OR i.data -> 'source' ->> 'id' = ANY(e.source_ids))
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS accepted, (SELECT count(*) FROM fanned) AS deliveries;

-- name: insert_targeted_events
-- Events for one target each (a push transfer's webhooks): one delivery to the target's
-- endpoint with the event's own URL and order, never a fan-out to subscribers.
WITH incoming AS (
    SELECT * FROM unnest(%(ids)s::text[], %(workspace_ids)s::uuid[], %(types)s::text[],
                         %(occur_times)s::timestamptz[], %(datas)s::json[],
                         %(endpoint_ids)s::uuid[], %(urls)s::text[], %(ordering_keys)s::text[],
                         %(ordering_seqs)s::bigint[], %(traceparents)s::text[])
             AS e(id, workspace_id, type, occur_time, data, endpoint_id, url, ordering_key,
                  ordering_seq, traceparent)
), inserted AS (
    INSERT INTO webhook_events (id, workspace_id, type, occur_time, data, traceparent)
    SELECT id, workspace_id, type, occur_time, data, traceparent FROM incoming
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), targeted AS (
    INSERT INTO webhook_deliveries (event_id, endpoint_id, url, ordering_key, ordering_seq)
    SELECT i.id, e.id, inc.url, nullif(inc.ordering_key, ''), inc.ordering_seq
      FROM inserted i
      JOIN incoming inc ON inc.id = i.id
      JOIN webhook_endpoints e ON e.id = inc.endpoint_id AND e.workspace_id = inc.workspace_id
     WHERE e.enabled
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS accepted, (SELECT count(*) FROM targeted) AS deliveries;
