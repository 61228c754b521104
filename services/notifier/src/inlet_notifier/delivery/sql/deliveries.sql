-- Deliveries claimed under a lease, and their attempts booked in batches.

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
                      -- (notifiers take the outbox side by side and may commit out of
                      -- order; an hour covers any lag, and retention may have removed a
                      -- long-finished predecessor).
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

-- name: disable_endpoint
UPDATE webhook_endpoints SET enabled = false, disabled_reason = %(reason)s, update_time = now()
 WHERE id = %(id)s AND enabled;

-- name: insert_operational_event
INSERT INTO webhook_operational_events (workspace_id, endpoint_id, type, message)
VALUES (%(workspace_id)s, %(endpoint_id)s, %(type)s, %(message)s);

-- name: record_attempts
-- Many attempts' bookkeeping in one statement: each attempt's row, its delivery finished
-- (only by the lease holder: a lost lease finishes nothing and is reported), and the
-- endpoints' failure windows (healthy: cleared; failing: opened now when `reset` says a
-- success came first in this batch, else kept). Answers the finished deliveries and the
-- failing endpoints with how long they have failed.
WITH a AS (
    SELECT * FROM unnest(%(delivery_ids)s::uuid[], %(start_times)s::timestamptz[],
                         %(end_times)s::timestamptz[], %(status_codes)s::integer[],
                         %(errors)s::text[], %(snippets)s::text[], %(latencies)s::integer[],
                         %(statuses)s::text[], %(delays)s::float8[])
             AS a(delivery_id, start_time, end_time, status_code, error, snippet, latency_ms,
                  status, delay)
), attempts AS (
    INSERT INTO webhook_attempts (delivery_id, worker, start_time, end_time, status_code,
                                  error, response_snippet, latency_ms)
    SELECT delivery_id, %(worker)s, start_time, end_time, status_code, error, snippet,
           latency_ms
      FROM a
), finished AS (
    UPDATE webhook_deliveries d
       SET status = a.status,
           next_attempt_time = coalesce(now() + make_interval(secs => a.delay),
                                        d.next_attempt_time),
           last_status_code = a.status_code,
           lease_owner = NULL, lease_until = NULL, update_time = now()
      FROM a
     WHERE d.id = a.delivery_id AND d.lease_owner = %(worker)s
    RETURNING d.id
), healthy AS (
    UPDATE webhook_endpoints SET failing_since = NULL
     WHERE id = ANY(%(healthy)s::uuid[]) AND failing_since IS NOT NULL
), failing AS (
    UPDATE webhook_endpoints
       SET failing_since = CASE WHEN id = ANY(%(reset)s::uuid[]) THEN now()
                                ELSE coalesce(failing_since, now()) END
     WHERE id = ANY(%(failing)s::uuid[])
    RETURNING id, enabled, extract(epoch FROM now() - failing_since)::float8 AS failing_seconds
)
SELECT 'finished' AS kind, id, NULL::boolean AS enabled, NULL::float8 AS failing_seconds
  FROM finished
UNION ALL
SELECT 'failing', id, enabled, failing_seconds FROM failing;

-- name: next_due
-- Seconds until the next delivery of an enabled endpoint is due or a lease runs out (NULL:
-- none): how long a worker may sleep when no wake-up comes.
SELECT extract(epoch FROM min(t) - now())::float8 AS seconds
  FROM (SELECT min(d.next_attempt_time) AS t
          FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND d.lease_until IS NULL AND e.enabled
        UNION ALL
        SELECT min(lease_until) FROM webhook_deliveries WHERE lease_until IS NOT NULL) due;
