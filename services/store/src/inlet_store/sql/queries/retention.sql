-- Retention (inlet_store.retention): finished stream requests and the logs are deleted in
-- small batches, oldest first, each batch its own short transaction. The ids of a batch
-- go in as one array (= ANY(ARRAY(…))), so each delete probes the primary key rather than
-- joining against a scan of the table.

-- name: prune_stream_requests
-- The oldest finished requests past retention: at most %(limit)s of them, and no more
-- than %(max_items)s items between them (always at least one request), so a batch of big
-- requests stays small. Queued and processing requests are never touched, however old.
-- Item outcomes go in the same statement (the foreign key would cascade them anyway;
-- deleting them here counts them).
WITH batch AS (
  SELECT id, sum(items_received) OVER (ORDER BY finish_time, id) AS items_through
    FROM stream_requests
   WHERE status IN ('completed', 'failed')
     AND finish_time < now() - make_interval(secs => %(retention_seconds)s)
   ORDER BY finish_time, id
   LIMIT %(limit)s
), doomed AS (
  SELECT coalesce(array_agg(id), '{}') AS ids FROM batch
   WHERE items_through <= %(max_items)s
      OR items_through = (SELECT min(items_through) FROM batch)
), items AS (
  DELETE FROM stream_request_items WHERE request_id = ANY((SELECT ids FROM doomed)::text[])
  RETURNING 1
), requests AS (
  DELETE FROM stream_requests
   WHERE id = ANY((SELECT ids FROM doomed)::text[]) AND status IN ('completed', 'failed')
  RETURNING 1
)
SELECT (SELECT count(*) FROM batch) AS selected,
       (SELECT count(*) FROM requests) AS requests,
       (SELECT count(*) FROM items) AS items;

-- name: prune_connector_log
DELETE FROM connector_log_entries
 WHERE id = ANY(ARRAY(SELECT id FROM connector_log_entries
                       WHERE create_time < now() - make_interval(secs => %(retention_seconds)s)
                       ORDER BY create_time
                       LIMIT %(limit)s));

-- name: prune_activity_log
DELETE FROM activity_entries
 WHERE id = ANY(ARRAY(SELECT id FROM activity_entries
                       WHERE create_time < now() - make_interval(secs => %(retention_seconds)s)
                       ORDER BY create_time
                       LIMIT %(limit)s));

-- name: prune_grace_uses
-- Marks of requests on a rotated-out token: read only beside their activity entries.
DELETE FROM endpoint_grace_uses
 WHERE (endpoint_id, request_id) IN (
       SELECT endpoint_id, request_id FROM endpoint_grace_uses
        WHERE create_time < now() - make_interval(secs => %(retention_seconds)s)
        LIMIT %(limit)s);

-- name: prune_push_transfers
-- Completed push transfers past retention, with their items' results (cascaded): their
-- returned data is then gone, as a stream request's status is.
DELETE FROM push_transfers
 WHERE id = ANY(ARRAY(SELECT id FROM push_transfers
                       WHERE status = 'completed'
                         AND finish_time < now() - make_interval(secs => %(retention_seconds)s)
                       ORDER BY finish_time
                       LIMIT %(limit)s));

-- name: prune_push_log
DELETE FROM push_log_entries
 WHERE id = ANY(ARRAY(SELECT id FROM push_log_entries
                       WHERE create_time < now() - make_interval(secs => %(retention_seconds)s)
                       ORDER BY create_time
                       LIMIT %(limit)s));

-- name: prune_stream_feed
-- A stream's change log: its current items stay (stream_items), only the history goes.
DELETE FROM stream_feed
 WHERE (stream_id, position) IN (
       SELECT stream_id, position FROM stream_feed
        WHERE create_time < now() - make_interval(secs => %(retention_seconds)s)
        ORDER BY create_time
        LIMIT %(limit)s);
