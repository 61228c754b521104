-- Events in, deliveries claimed and finished.

-- name: insert_events
-- Fan-out in one statement: events already seen (same id) are skipped and so get no
-- second set of deliveries, which makes PublishEvents safe to repeat.
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

-- name: serialize_claims
-- A transaction-scoped lock every claim takes first; claims are one short statement.
SELECT pg_advisory_xact_lock(hashtext('inlet.webhook_deliveries.claim'));

-- name: claim_deliveries
-- Due deliveries of enabled endpoints, at most per_endpoint in flight per endpoint (so a
-- dead endpoint's backlog cannot fill every slot), locked with SKIP LOCKED and leased.
-- FOR UPDATE re-checks status and lease on the newest row version: no double claim.
WITH candidates AS (
    SELECT c.id
      FROM (SELECT d.id, d.next_attempt_time, busy.n,
                   row_number() OVER (PARTITION BY e.id ORDER BY d.next_attempt_time) AS rn
              FROM webhook_endpoints e
             CROSS JOIN LATERAL (
                   SELECT count(*) AS n FROM webhook_deliveries b
                    WHERE b.endpoint_id = e.id AND b.lease_until IS NOT NULL
                      AND b.lease_until >= now()) busy
             CROSS JOIN LATERAL (
                   SELECT d.id, d.next_attempt_time FROM webhook_deliveries d
                    WHERE d.endpoint_id = e.id AND d.status = 'pending'
                      AND d.next_attempt_time <= now()
                      AND (d.lease_until IS NULL OR d.lease_until < now())
                      -- In order within an ordering key: after every earlier one has
                      -- succeeded or failed for good, and once its predecessor is here
                      -- (a relay may publish out of order; an hour covers any lag, and
                      -- retention may have removed a long-finished predecessor).
                      AND (d.ordering_key IS NULL OR (
                           NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                                        WHERE p.ordering_key = d.ordering_key
                                          AND p.ordering_seq < d.ordering_seq
                                          AND p.status = 'pending')
                           AND (d.ordering_seq <= 1
                                OR d.create_time < now() - interval '1 hour'
                                OR EXISTS (SELECT 1 FROM webhook_deliveries p
                                            WHERE p.ordering_key = d.ordering_key
                                              AND p.ordering_seq = d.ordering_seq - 1))))
                    ORDER BY d.next_attempt_time
                    LIMIT %(per_endpoint)s) d
             WHERE e.enabled) c
     WHERE c.rn <= %(per_endpoint)s - c.n
     ORDER BY c.next_attempt_time
     LIMIT %(limit)s
), locked AS (
    SELECT d.id FROM webhook_deliveries d
     WHERE d.id IN (SELECT id FROM candidates)
       AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until < now())
       FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET lease_owner = %(worker)s,
       lease_until = now() + make_interval(secs => %(lease)s),
       attempt_count = d.attempt_count + 1,
       update_time = now()
  FROM locked, webhook_events ev, webhook_endpoints e
 WHERE d.id = locked.id AND ev.id = d.event_id AND e.id = d.endpoint_id
RETURNING d.id, d.attempt_count, d.endpoint_id, e.workspace_id, coalesce(d.url, e.url) AS url,
          (d.url IS NOT NULL) AS targeted, e.secret,
          e.previous_secret, e.previous_secret_until, ev.id AS event_id, ev.type,
          ev.occur_time, ev.data, ev.traceparent;

-- name: insert_attempt
INSERT INTO webhook_attempts (delivery_id, worker, start_time, end_time, status_code, error,
                              response_snippet, latency_ms)
VALUES (%(delivery_id)s, %(worker)s, %(start_time)s, %(end_time)s, %(status_code)s, %(error)s,
        %(response_snippet)s, %(latency_ms)s);

-- name: finish_delivery
-- Only the lease holder finishes; 0 rows means the lease was lost (and re-claimed).
UPDATE webhook_deliveries
   SET status = %(status)s,
       next_attempt_time = coalesce(now() + make_interval(secs => %(delay)s::float8), next_attempt_time),
       last_status_code = %(status_code)s,
       lease_owner = NULL, lease_until = NULL, update_time = now()
 WHERE id = %(id)s AND lease_owner = %(worker)s;

-- name: endpoint_succeeded
UPDATE webhook_endpoints SET failing_since = NULL
 WHERE id = %(id)s AND failing_since IS NOT NULL;

-- name: endpoint_failed
UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())
 WHERE id = %(id)s
RETURNING enabled, extract(epoch FROM now() - failing_since)::float8 AS failing_seconds;

-- name: disable_endpoint
UPDATE webhook_endpoints SET enabled = false, disabled_reason = %(reason)s, update_time = now()
 WHERE id = %(id)s AND enabled;

-- name: insert_operational_event
INSERT INTO webhook_operational_events (workspace_id, endpoint_id, type, message)
VALUES (%(workspace_id)s, %(endpoint_id)s, %(type)s, %(message)s);
