-- Retention (inlet_notifier.retention): finished deliveries, with their attempts, then the
-- events no delivery refers to any more, then old operational events are deleted in small
-- batches, oldest first, each batch its own short transaction. The ids of a batch go in as one array
-- (= ANY(ARRAY(…))), so each delete probes the primary key rather than joining against a
-- scan of the table. Every delete repeats its batch's conditions: a row that changed since
-- it was chosen (a delivery replayed meanwhile) is re-checked on its newest version.

-- name: prune_webhook_deliveries
-- Succeeded or failed deliveries last updated before the retention cut-off, with their
-- attempts (the foreign key would cascade them anyway; deleting them here counts them).
-- Pending deliveries are never touched, however old, nor any under a live lease.
WITH batch AS (
  SELECT id FROM webhook_deliveries
   WHERE status IN ('succeeded', 'failed')
     AND update_time < now() - make_interval(secs => %(retention_seconds)s)
     AND (lease_until IS NULL OR lease_until < now())
   ORDER BY update_time, id
   LIMIT %(limit)s
), deliveries AS (
  DELETE FROM webhook_deliveries
   WHERE id = ANY(ARRAY(SELECT id FROM batch))
     AND status IN ('succeeded', 'failed')
     AND update_time < now() - make_interval(secs => %(retention_seconds)s)
     AND (lease_until IS NULL OR lease_until < now())
  RETURNING id
), attempts AS (
  DELETE FROM webhook_attempts WHERE delivery_id = ANY(ARRAY(SELECT id FROM deliveries))
  RETURNING 1
)
SELECT (SELECT count(*) FROM batch) AS selected,
       (SELECT count(*) FROM deliveries) AS deliveries,
       (SELECT count(*) FROM attempts) AS attempts;

-- name: prune_webhook_events
-- Events received before the cut-off that no delivery refers to, after the key
-- (%(after_time)s, %(after_id)s) where the previous batch of this pass ended: old events
-- still referred to (a pending delivery, a recent replay) are passed over once a pass,
-- not once a batch.
WITH batch AS (
  SELECT e.id, e.receive_time FROM webhook_events e
   WHERE e.receive_time < now() - make_interval(secs => %(retention_seconds)s)
     AND (e.receive_time, e.id)
         > (coalesce(%(after_time)s::timestamptz, '-infinity'), %(after_id)s::text)
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
   ORDER BY e.receive_time, e.id
   LIMIT %(limit)s
), events AS (
  DELETE FROM webhook_events e
   WHERE e.id = ANY(ARRAY(SELECT id FROM batch))
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)
  RETURNING 1
), last AS (
  SELECT receive_time, id FROM batch ORDER BY receive_time DESC, id DESC LIMIT 1
)
SELECT (SELECT count(*) FROM batch) AS selected,
       (SELECT count(*) FROM events) AS events,
       (SELECT receive_time FROM last) AS last_time,
       (SELECT id FROM last) AS last_id;

-- name: prune_operational_events
-- What operators were told (a delivery exhausted, an endpoint disabled) before the cut-off.
-- Nothing refers to these rows; webhook_operational_events_create_time_idx finds them.
DELETE FROM webhook_operational_events
 WHERE id = ANY(ARRAY(SELECT id FROM webhook_operational_events
                       WHERE create_time < now() - make_interval(secs => %(retention_seconds)s)
                       ORDER BY create_time
                       LIMIT %(limit)s));
