-- The transactional outbox: written with each change, relayed to the notifier.

-- name: insert_outbox_event
INSERT INTO outbox_events (workspace_id, type, data)
VALUES (%(workspace_id)s, %(type)s, %(data)s);

-- name: insert_targeted_outbox_event
-- An event for one URL (a push transfer's webhook): target is {endpoint_id, url,
-- ordering_key, ordering_seq}.
INSERT INTO outbox_events (workspace_id, type, data, target)
VALUES (%(workspace_id)s, %(type)s, %(data)s, %(target)s);

-- name: claim_outbox_events
-- SKIP LOCKED: store replicas relay disjoint batches; a row stays locked (and so
-- unpublished by anyone else) until its publisher commits the delete or dies.
SELECT id, workspace_id, type, data, occur_time, target, traceparent
  FROM outbox_events
 ORDER BY seq
 LIMIT %(limit)s
   FOR UPDATE SKIP LOCKED;

-- name: delete_outbox_events
DELETE FROM outbox_events WHERE id = ANY(%(ids)s);

-- name: endpoint_workspace
SELECT workspace_id FROM ingest_endpoints WHERE id = %(id)s;
