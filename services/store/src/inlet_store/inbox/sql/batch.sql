-- Applying a claimed batch of requests at once (inlet_store.inbox.batch): a few statements
-- per batch, whatever the number of requests in it.

-- name: hold_leases
-- The requests whose leases are still ours, locked in id order (two batches never wait on
-- each other in opposite orders), and the entity type shared against flag changes as
-- share_entity_type does; the integration's id names the source of the record.* events.
WITH held AS (
    SELECT r.id, r.integration_id
      FROM stream_requests r
      JOIN unnest(%(ids)s::text[], %(lease_tokens)s::uuid[]) AS w(id, lease_token)
        ON r.id = w.id AND r.lease_token = w.lease_token
     WHERE r.status = 'processing'
     ORDER BY r.id
       FOR UPDATE OF r
), shared AS (
    SELECT id FROM entity_types WHERE id = %(entity_type_id)s FOR KEY SHARE
)
SELECT h.id, (SELECT i.slug FROM integrations i WHERE i.id = h.integration_id) AS integration,
       (SELECT count(*) FROM shared) AS shared
  FROM held h;

-- name: write_batch
-- One statement for the whole batch: new records, merged updates, their new keys, every
-- request's item outcomes, each request finished (completed, or failed when none of its
-- items succeeded, counting items a previous chunk applied), and the outbox events, as one
-- row, in the order the requests would have written them one by one (each request's
-- record.* events in item order, then its %(event_type)s).
WITH made AS (
  INSERT INTO records (id, workspace_id, entity_type_id, data)
  SELECT r.id, %(workspace_id)s, %(entity_type_id)s, r.data
    FROM json_to_recordset(%(created)s) AS r(id uuid, data json)
), changed AS (
  UPDATE records t SET data = json_merge_exact(t.data, u.data), update_time = now()
    FROM json_to_recordset(%(updated)s) AS u(id uuid, data json)
   WHERE t.id = u.id
), keyed AS (
  INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
  SELECT %(workspace_id)s, %(entity_type_id)s, k.slug, k.value, k.record_id
    FROM jsonb_to_recordset(%(keys)s) AS k(slug text, value text, record_id uuid)
), outcomes AS (
  INSERT INTO stream_request_items
         (request_id, item_index, record_id, action, matched_on, error, superseded_by, related)
  SELECT o.request_id, o.item_index, o.record_id, o.action, coalesce(o.matched_on, '{}'),
         o.error, o.superseded_by, o.related::jsonb
    FROM json_to_recordset(%(outcomes)s) AS o(request_id text, item_index integer,
                                              record_id uuid, action text, matched_on text[],
                                              error json, superseded_by integer, related json)
), counts AS (
  -- The table as it was before this statement: what earlier chunks applied.
  SELECT w.id, w.n, w.failed + coalesce(p.failed, 0) AS failed, w.ok + coalesce(p.ok, 0) AS ok
    FROM unnest(%(request_ids)s::text[], %(failed)s::integer[], %(ok)s::integer[])
         WITH ORDINALITY AS w(id, failed, ok, n)
    LEFT JOIN LATERAL (
         SELECT count(*) FILTER (WHERE i.action = 'failed') AS failed,
                count(*) FILTER (WHERE i.action <> 'failed') AS ok
           FROM stream_request_items i WHERE i.request_id = w.id) p ON true
), done AS (
  UPDATE stream_requests r
     SET status = CASE WHEN c.ok = 0 AND c.failed > 0 THEN 'failed' ELSE 'completed' END,
         items_failed = c.failed, lease_token = NULL, lease_expire_time = NULL,
         finish_time = now()
    FROM counts c
   WHERE r.id = c.id AND r.status = 'processing'
  RETURNING r.id, c.n, r.status, r.items_received, r.items_failed, r.transfer_id,
            coalesce((SELECT s.workspace_id FROM streams s WHERE s.id = r.stream_id),
                     (SELECT i.workspace_id FROM integrations i WHERE i.id = r.integration_id),
                     (SELECT t.workspace_id FROM push_transfers t WHERE t.id = r.transfer_id))
              AS workspace_id,
            (SELECT s.slug FROM streams s WHERE s.id = r.stream_id) AS stream,
            (SELECT i.slug FROM integrations i WHERE i.id = r.integration_id) AS integration
), events AS (
  -- The batch's events as one outbox row (see migration 0141), in the order the requests
  -- would have written them one by one; the notifier's take makes them events.
  INSERT INTO outbox_events (workspace_id, type, data, events, event_count)
  SELECT e.workspace_id, 'batch', '{}',
         json_agg(json_build_object('type', e.type, 'data', e.data) ORDER BY e.n, e.k NULLS LAST),
         count(*)
    FROM (
      -- Each event's json read once (json_array_elements with ->> would parse it per key).
      SELECT x.n, x.k, %(workspace_id)s::uuid AS workspace_id, x.type, x.data
        FROM ROWS FROM (json_to_recordset(%(events)s) AS (n bigint, type text, data json))
             WITH ORDINALITY AS x(n, type, data, k)
      UNION ALL
      SELECT d.n, NULL, d.workspace_id, %(event_type)s,
             json_strip_nulls(json_build_object(
               'request_id', d.id, 'stream', d.stream, 'integration', d.integration,
               'transfer_id', d.transfer_id,
               'status', d.status, 'items_received', d.items_received,
               'items_failed', d.items_failed))
        FROM done d) e
   -- Built only for a workspace with an endpoint that could take them (0140: the
   -- outbox's trigger would drop the row), checked once, before any event is read.
   WHERE (SELECT outbox_subscribed(%(workspace_id)s::uuid))
   GROUP BY e.workspace_id
)
SELECT d.id, d.status FROM done d;
