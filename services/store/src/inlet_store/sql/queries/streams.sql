-- Queries of stream ingest: keys, idempotency, the inbox and its items,
-- the connector log, and stream/key administration.

-- name: ingest_key_auth
-- One round trip: the keys (by id; every key of a batch of accepts at once), each with its
-- stream and the stream's schema, which items are checked
-- against before the 202: its entity type with the fields in display order (as
-- claim_stream_request has it) and a version that changes with it or the stream's region.
SELECT k.id, k.secret_hash, k.rate_limit, k.rate_window_seconds,
       (k.revoke_time IS NULL AND (k.expire_time IS NULL OR k.expire_time > now())) AS active,
       s.id AS stream_id, s.slug AS stream, s.workspace_id, s.default_region, d.entity_type,
       md5(jsonb_build_array(d.entity_type, s.default_region)::text) AS schema_version
  FROM ingest_keys k JOIN streams s ON s.id = k.stream_id
 CROSS JOIN LATERAL (
       SELECT jsonb_build_object(
                'id', t.id, 'workspace_id', t.workspace_id, 'slug', t.slug,
                'display_name', t.display_name,
                'fields', coalesce(
                  (SELECT jsonb_agg(jsonb_build_object(
                            'slug', f.slug, 'display_name', f.display_name,
                            'type', f.type, 'is_unique', f.is_unique,
                            'is_required', f.is_required,
                            'reference_slug', coalesce(rt.slug, ''),
                            'reference_entity_type_id', f.reference_entity_type_id)
                          ORDER BY f.position)
                     FROM fields f LEFT JOIN entity_types rt
                       ON rt.id = f.reference_entity_type_id
                    WHERE f.entity_type_id = t.id), '[]')) AS entity_type
         FROM entity_types t WHERE t.id = s.entity_type_id) d
 WHERE k.id = ANY(%(ids)s::text[]);

-- name: claim_idempotency_key
-- Takes the key for this request unless a live row holds it; an expired row is reused, and
-- so is a claim still 'accepting' after the accept lease (its store died before the accept
-- committed: the client's retry must not be refused as "in use" until the key expires). The
-- scope is the stream's id, or the integration's.
INSERT INTO stream_idempotency_keys AS ik
       (scope_id, idempotency_key, body_hash, request_id, expire_time)
VALUES (%(scope_id)s, %(idempotency_key)s, %(body_hash)s, %(request_id)s,
        now() + make_interval(secs => %(ttl)s))
ON CONFLICT (scope_id, idempotency_key) DO UPDATE
   SET body_hash = excluded.body_hash, request_id = excluded.request_id,
       state = 'accepting', items_received = 0, create_time = now(),
       expire_time = excluded.expire_time
 WHERE ik.expire_time < now()
    OR (ik.state = 'accepting'
        AND ik.create_time < now() - make_interval(secs => %(accept_lease)s))
RETURNING request_id;

-- name: get_idempotency_key
-- The key while it is live (an expired row is as good as none: claim reuses it).
SELECT body_hash, request_id, state, items_received
  FROM stream_idempotency_keys
 WHERE scope_id = %(scope_id)s AND idempotency_key = %(idempotency_key)s
   AND expire_time >= now();

-- name: release_idempotency_key
DELETE FROM stream_idempotency_keys
 WHERE scope_id = %(scope_id)s AND idempotency_key = %(idempotency_key)s
   AND request_id = %(request_id)s AND state = 'accepting';

-- name: prune_idempotency_keys
DELETE FROM stream_idempotency_keys WHERE expire_time < now() - interval '1 hour';

-- name: accept_stream_request
-- One statement, atomic under autocommit and one round trip: the request (a stream's items,
-- or an integration's body as sent), its connector-log line and, with an Idempotency-Key
-- ('' without), the key settled as accepted.
WITH request AS (
  INSERT INTO stream_requests (id, stream_id, key_id, integration_id, project_token_id,
                               item_key, items, body, content_type, items_received, single)
  VALUES (%(id)s, %(stream_id)s, %(key_id)s, %(integration_id)s, %(project_token_id)s,
          %(item_key)s, %(items)s, %(body)s, %(content_type)s, %(items_received)s, %(single)s)
  RETURNING id
), logged AS (
  INSERT INTO connector_log_entries
         (stream_id, integration_id, key_id, route, request_id, client_request_id, outcome,
          status_code, items_received)
  SELECT %(stream_id)s, %(integration_id)s, coalesce(%(key_id)s, %(project_token_id)s),
         %(route)s, id, %(client_request_id)s, 'accepted', 202, %(items_received)s
    FROM request
), settled AS (
  UPDATE stream_idempotency_keys SET state = 'accepted', items_received = %(items_received)s
   WHERE %(idempotency_key)s <> '' AND scope_id = %(scope_id)s
     AND idempotency_key = %(idempotency_key)s
     AND request_id = (SELECT id FROM request)
)
SELECT id FROM request;

-- name: insert_connector_log
INSERT INTO connector_log_entries
       (stream_id, integration_id, key_id, route, request_id, client_request_id, replay_of,
        body_differed, outcome, status_code, items_received, error, result)
VALUES (%(stream_id)s, %(integration_id)s, %(key_id)s, %(route)s, %(request_id)s,
        %(client_request_id)s, %(replay_of)s, %(body_differed)s, %(outcome)s, %(status_code)s,
        %(items_received)s, %(error)s, %(result)s);

-- name: hold_lease
-- The lease is still ours: lock the request for this transaction (the last chunk). The
-- integration's id names the source of the record.* events.
SELECT id, (SELECT i.slug FROM integrations i WHERE i.id = integration_id) AS integration
  FROM stream_requests
 WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'processing'
   FOR UPDATE;

-- name: hold_and_extend_lease
-- hold_lease for a chunk that others follow. The lease is pushed out only once less than
-- half of it is left, so most chunks add no new version of this (large) row.
WITH held AS (
  SELECT id, integration_id FROM stream_requests
   WHERE id = %(id)s AND lease_token = %(lease_token)s AND status = 'processing'
     FOR UPDATE
), extended AS (
  UPDATE stream_requests
     SET lease_expire_time = now() + make_interval(secs => %(lease_seconds)s)
   WHERE id IN (SELECT id FROM held)
     AND lease_expire_time < now() + make_interval(secs => %(lease_seconds)s / 2.0)
)
SELECT id, (SELECT i.slug FROM integrations i WHERE i.id = held.integration_id) AS integration
  FROM held;

-- name: insert_item_outcomes
INSERT INTO stream_request_items
       (request_id, item_index, record_id, action, matched_on, error, superseded_by, related)
SELECT %(request_id)s, o.item_index, o.record_id, o.action, coalesce(o.matched_on, '{}'),
       o.error, o.superseded_by, o.related::jsonb
  FROM json_to_recordset(%(outcomes)s) AS o(item_index integer, record_id uuid, action text,
                                            matched_on text[], error json,
                                            superseded_by integer, related json);

-- name: finish_stream_request
-- With its outbox event (%(event_type)s) in the same statement.
WITH done AS (
UPDATE stream_requests r
   SET status = CASE WHEN c.ok = 0 AND c.failed > 0 THEN 'failed' ELSE 'completed' END,
       items_failed = c.failed, lease_token = NULL, lease_expire_time = NULL,
       finish_time = now()
  FROM (SELECT count(*) FILTER (WHERE action = 'failed') AS failed,
               count(*) FILTER (WHERE action <> 'failed') AS ok
          FROM stream_request_items WHERE request_id = %(id)s) c
 WHERE r.id = %(id)s AND r.lease_token = %(lease_token)s AND r.status = 'processing'
RETURNING r.status, r.items_received, r.items_failed, r.stream_id,
          coalesce((SELECT s.workspace_id FROM streams s WHERE s.id = r.stream_id),
                   (SELECT i.workspace_id FROM integrations i WHERE i.id = r.integration_id),
                   (SELECT t.workspace_id FROM push_transfers t WHERE t.id = r.transfer_id))
            AS workspace_id, r.transfer_id,
          (SELECT s.slug FROM streams s WHERE s.id = r.stream_id) AS stream,
          (SELECT i.slug FROM integrations i WHERE i.id = r.integration_id) AS integration
), event AS (
  INSERT INTO outbox_events (workspace_id, type, data)
  SELECT d.workspace_id, %(event_type)s,
         json_strip_nulls(json_build_object(
           'request_id', %(id)s, 'stream', d.stream, 'integration', d.integration,
           'transfer_id', d.transfer_id,
           'status', d.status, 'items_received', d.items_received,
           'items_failed', d.items_failed))
    FROM done d
)
SELECT * FROM done;

-- name: stream_request_status
SELECT r.id, s.slug AS stream, r.status, r.items_received, r.items_failed, r.create_time,
       r.finish_time,
       (SELECT count(*) FROM stream_request_items i WHERE i.request_id = r.id) AS items_processed
  FROM stream_requests r JOIN streams s ON s.id = r.stream_id
 WHERE r.id = %(id)s AND r.stream_id = %(stream_id)s;

-- name: stream_request_items
-- A superseded item reports the record its winner ended in.
SELECT i.item_index, coalesce(i.record_id, w.record_id) AS record_id, i.action, i.matched_on,
       i.error, i.superseded_by, i.related
  FROM stream_request_items i
  LEFT JOIN stream_request_items w
    ON w.request_id = i.request_id AND w.item_index = i.superseded_by
 WHERE i.request_id = %(id)s
 ORDER BY i.item_index;

-- name: insert_stream
INSERT INTO streams (workspace_id, slug, display_name, entity_type_id, default_region)
SELECT %(workspace_id)s, %(slug)s, %(display_name)s, t.id, %(default_region)s
  FROM entity_types t WHERE t.workspace_id = %(workspace_id)s AND t.slug = %(entity_type)s
RETURNING id, slug, display_name, default_region, create_time, %(entity_type)s AS entity_type;

-- name: get_stream
SELECT s.id, s.workspace_id, s.slug, s.display_name, s.default_region, s.create_time,
       t.slug AS entity_type
  FROM streams s JOIN entity_types t ON t.id = s.entity_type_id
 WHERE s.workspace_id = %(workspace_id)s AND s.slug = %(slug)s;

-- name: list_streams
SELECT s.id, s.workspace_id, s.slug, s.display_name, s.default_region, s.create_time,
       t.slug AS entity_type
  FROM streams s JOIN entity_types t ON t.id = s.entity_type_id
 WHERE s.workspace_id = %(workspace_id)s AND s.slug > %(after)s
 ORDER BY s.slug
 LIMIT %(limit)s;

-- name: insert_ingest_key
INSERT INTO ingest_keys (id, stream_id, mode, display_name, secret_hash, rate_limit,
                         rate_window_seconds)
VALUES (%(id)s, %(stream_id)s, %(mode)s, %(display_name)s, %(secret_hash)s, %(rate_limit)s,
        %(rate_window_seconds)s)
RETURNING id, mode, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
          revoke_time;

-- name: get_ingest_key
SELECT id, mode, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
       revoke_time
  FROM ingest_keys WHERE id = %(id)s AND stream_id = %(stream_id)s;

-- name: list_ingest_keys
SELECT id, mode, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
       revoke_time
  FROM ingest_keys
 WHERE stream_id = %(stream_id)s AND (%(before)s::timestamptz IS NULL OR create_time < %(before)s)
 ORDER BY create_time DESC, id DESC
 LIMIT %(limit)s;

-- name: update_ingest_key
UPDATE ingest_keys
   SET display_name = coalesce(%(display_name)s, display_name),
       rate_limit = coalesce(%(rate_limit)s, rate_limit),
       rate_window_seconds = coalesce(%(rate_window_seconds)s, rate_window_seconds)
 WHERE id = %(id)s AND stream_id = %(stream_id)s
RETURNING id, mode, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
          revoke_time;

-- name: revoke_ingest_key
UPDATE ingest_keys SET revoke_time = coalesce(revoke_time, now())
 WHERE id = %(id)s AND stream_id = %(stream_id)s
RETURNING id, mode, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
          revoke_time;

-- name: expire_ingest_key
-- Rotation: the old key works for the grace period (or stops now); an earlier expiry stays.
UPDATE ingest_keys
   SET expire_time = least(coalesce(expire_time, 'infinity'),
                           now() + make_interval(secs => %(grace_seconds)s))
 WHERE id = %(id)s AND stream_id = %(stream_id)s AND revoke_time IS NULL
RETURNING id, mode, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
          revoke_time;

-- name: list_connector_log
SELECT l.id, l.create_time, l.request_id, l.client_request_id, l.replay_of, l.body_differed,
       l.items_received, l.status_code, l.key_id, l.error,
       -- An accepted request deleted by retention keeps its log line, marked pruned.
       CASE l.outcome WHEN 'accepted' THEN coalesce(r.status, 'pruned') ELSE l.outcome END
         AS status,
       coalesce(r.items_failed, 0) AS items_failed,
       CASE WHEN l.outcome = 'accepted' THEN
         (SELECT coalesce(json_agg(json_merge_exact(json_build_object('index', i.item_index),
                                                    i.error)
                                   ORDER BY i.item_index), '[]')
            FROM (SELECT * FROM stream_request_items
                   WHERE request_id = l.request_id AND action = 'failed'
                   ORDER BY item_index LIMIT 20) i)
       END AS item_errors
  FROM connector_log_entries l
  LEFT JOIN stream_requests r ON r.id = l.request_id AND l.outcome = 'accepted'
 WHERE l.stream_id = %(stream_id)s AND (%(before)s::bigint IS NULL OR l.id < %(before)s)
 ORDER BY l.id DESC
 LIMIT %(limit)s;
