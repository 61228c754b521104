-- Push transfer: API keys, sessions and their types, transfers and their results.

-- name: insert_api_key
INSERT INTO api_keys (id, workspace_id, display_name, secret_hash, rate_limit, rate_window_seconds)
VALUES (%(id)s, %(workspace_id)s, %(display_name)s, %(secret_hash)s, %(rate_limit)s,
        %(rate_window_seconds)s)
RETURNING id, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
          revoke_time;

-- name: list_api_keys
SELECT id, display_name, rate_limit, rate_window_seconds, create_time, expire_time, revoke_time
  FROM api_keys
 WHERE workspace_id = %(workspace_id)s
   AND (%(before)s::timestamptz IS NULL OR create_time < %(before)s::timestamptz)
 ORDER BY create_time DESC
 LIMIT %(limit)s;

-- name: get_api_key
SELECT id, display_name, rate_limit, rate_window_seconds, create_time, expire_time, revoke_time
  FROM api_keys
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- name: revoke_api_key
UPDATE api_keys SET revoke_time = coalesce(revoke_time, now())
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
          revoke_time;

-- name: expire_api_key
-- A rotated key works for its grace period, or not at all (an earlier expiry stays).
UPDATE api_keys
   SET expire_time = least(coalesce(expire_time, 'infinity'),
                           now() + make_interval(secs => %(grace_seconds)s))
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id, display_name, rate_limit, rate_window_seconds, create_time, expire_time,
          revoke_time;

-- name: api_key_auth
SELECT k.id, k.workspace_id, k.secret_hash, k.rate_limit, k.rate_window_seconds,
       (k.revoke_time IS NULL AND (k.expire_time IS NULL OR k.expire_time > now())) AS active
  FROM api_keys k
 WHERE k.id = %(id)s;

-- name: insert_session
INSERT INTO push_sessions (id, workspace_id, display_name, default_region, data_webhook,
                           completed_webhook, error_webhook, webhook_endpoint_id)
VALUES (%(id)s, %(workspace_id)s, %(display_name)s, %(default_region)s, %(data_webhook)s,
        %(completed_webhook)s, %(error_webhook)s, %(webhook_endpoint_id)s)
RETURNING id;

-- name: insert_session_type
INSERT INTO push_session_types (session_id, endgrate_type, entity_type_id, field_map, position)
VALUES (%(session_id)s, %(endgrate_type)s, %(entity_type_id)s, %(field_map)s, %(position)s);

-- name: delete_session_types
DELETE FROM push_session_types WHERE session_id = %(session_id)s;

-- name: get_session
SELECT s.id, s.workspace_id, s.display_name, s.default_region, s.data_webhook,
       s.completed_webhook, s.error_webhook, s.webhook_endpoint_id, s.create_time
  FROM push_sessions s
 WHERE s.id = %(id)s AND s.workspace_id = %(workspace_id)s;

-- name: lock_session
SELECT id FROM push_sessions WHERE id = %(id)s AND workspace_id = %(workspace_id)s FOR UPDATE;

-- name: list_sessions
SELECT s.id, s.workspace_id, s.display_name, s.default_region, s.data_webhook,
       s.completed_webhook, s.error_webhook, s.webhook_endpoint_id, s.create_time
  FROM push_sessions s
 WHERE s.workspace_id = %(workspace_id)s
   AND (%(after_time)s::timestamptz IS NULL
        OR (s.create_time, s.id) > (%(after_time)s::timestamptz, %(after_id)s::text))
 ORDER BY s.create_time, s.id
 LIMIT %(limit)s;

-- name: session_types
SELECT st.session_id, st.endgrate_type, st.entity_type_id, t.slug AS entity_type, st.field_map
  FROM push_session_types st JOIN entity_types t ON t.id = st.entity_type_id
 WHERE st.session_id = ANY(%(session_ids)s)
 ORDER BY st.session_id, st.position;

-- name: update_session
UPDATE push_sessions
   SET display_name = CASE WHEN 'display_name' = ANY(%(paths)s) THEN %(display_name)s
                           ELSE display_name END,
       default_region = CASE WHEN 'default_region' = ANY(%(paths)s) THEN %(default_region)s
                             ELSE default_region END,
       data_webhook = CASE WHEN 'data_webhook' = ANY(%(paths)s) THEN %(data_webhook)s
                           ELSE data_webhook END,
       completed_webhook = CASE WHEN 'completed_webhook' = ANY(%(paths)s)
                                THEN %(completed_webhook)s ELSE completed_webhook END,
       error_webhook = CASE WHEN 'error_webhook' = ANY(%(paths)s) THEN %(error_webhook)s
                            ELSE error_webhook END
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id;

-- name: delete_session
-- Its signing endpoint goes with it (and that endpoint's deliveries).
WITH gone AS (
    DELETE FROM push_sessions WHERE id = %(id)s AND workspace_id = %(workspace_id)s
    RETURNING webhook_endpoint_id
), endpoint AS (
    DELETE FROM webhook_endpoints WHERE id IN (SELECT webhook_endpoint_id FROM gone)
)
SELECT count(*) AS deleted FROM gone;

-- name: entity_type_for_push
SELECT id FROM entity_types WHERE workspace_id = %(workspace_id)s AND slug = %(slug)s;

-- name: newest_sample_record
SELECT data FROM records
 WHERE entity_type_id = %(entity_type_id)s AND sample
 ORDER BY update_time DESC, id DESC
 LIMIT 1;

-- name: list_push_log
SELECT l.id, l.request_id, l.client_request_id, l.transfer_id, l.outcome, l.status_code,
       l.items_received, l.error, l.replay_of, l.api_key_id, l.create_time,
       coalesce(CASE WHEN l.outcome = 'accepted' THEN t.status END, l.outcome) AS status,
       coalesce(f.failed, 0) AS items_failed, f.item_errors
  FROM push_log_entries l
  LEFT JOIN push_transfers t ON t.id = l.transfer_id AND l.outcome = 'accepted'
  LEFT JOIN LATERAL (
        SELECT count(*) AS failed,
               (array_agg(json_build_object('index', i.item_index,
                                            'internal_id', i.internal_id,
                                            'error_type', i.error ->> 'error_type',
                                            'code', i.error ->> 'code',
                                            'message', i.error ->> 'message')
                          ORDER BY i.item_index))[1:3] AS item_errors
          FROM push_transfer_items i
         WHERE i.transfer_id = t.id AND i.action = 'failed') f ON true
 WHERE l.session_id = %(session_id)s
   AND (%(before)s::bigint IS NULL OR l.id < %(before)s::bigint)
 ORDER BY l.id DESC
 LIMIT %(limit)s;

-- name: insert_push_log
INSERT INTO push_log_entries (session_id, api_key_id, request_id, client_request_id,
                              transfer_id, outcome, status_code, items_received, error, replay_of)
VALUES (%(session_id)s, %(api_key_id)s, %(request_id)s, %(client_request_id)s,
        %(transfer_id)s, %(outcome)s, %(status_code)s, %(items_received)s, %(error)s,
        %(replay_of)s);

-- name: session_for_transfer
-- The session a transfer names, with its types (one row per type).
SELECT s.id, s.default_region, s.data_webhook, s.completed_webhook, s.error_webhook,
       s.webhook_endpoint_id, st.endgrate_type
  FROM push_sessions s
  LEFT JOIN push_session_types st ON st.session_id = s.id
 WHERE s.id = %(id)s AND s.workspace_id = %(workspace_id)s
 ORDER BY st.position;

-- name: claim_push_idempotency_key
-- Takes the key (or an expired row of it); no row back means a live transfer holds it.
INSERT INTO push_idempotency_keys AS ik
       (workspace_id, idempotency_key, body_hash, transfer_id, expire_time)
VALUES (%(workspace_id)s, %(idempotency_key)s, %(body_hash)s, %(transfer_id)s,
        now() + make_interval(secs => %(ttl)s))
ON CONFLICT (workspace_id, idempotency_key) DO UPDATE
   SET body_hash = excluded.body_hash, transfer_id = excluded.transfer_id,
       create_time = now(), expire_time = excluded.expire_time
 WHERE ik.expire_time <= now()
RETURNING transfer_id;

-- name: get_push_idempotency_key
SELECT k.body_hash, k.transfer_id, t.items_received, t.request_id
  FROM push_idempotency_keys k JOIN push_transfers t ON t.id = k.transfer_id
 WHERE k.workspace_id = %(workspace_id)s AND k.idempotency_key = %(idempotency_key)s
   AND k.expire_time > now();

-- name: prune_push_idempotency_keys
DELETE FROM push_idempotency_keys WHERE expire_time < now() - interval '1 hour';

-- name: insert_push_transfer
INSERT INTO push_transfers (id, workspace_id, session_id, api_key_id, request_id, endgrate_type,
                            items, items_received, webhooks, disable_upsert, sample_data,
                            webhook_concurrency)
VALUES (%(id)s, %(workspace_id)s, %(session_id)s, %(api_key_id)s, %(request_id)s,
        %(endgrate_type)s, %(items)s, %(items_received)s, %(webhooks)s, %(disable_upsert)s,
        %(sample_data)s, %(webhook_concurrency)s);

-- name: get_push_transfer
SELECT id, workspace_id, session_id, endgrate_type, items_received, status, create_time,
       finish_time,
       (SELECT count(*) FROM push_transfer_items i WHERE i.transfer_id = t.id) AS items_processed
  FROM push_transfers t
 WHERE t.id = %(id)s AND t.workspace_id = %(workspace_id)s;

-- name: push_transfer_items
SELECT item_index, action, record_id, internal_id, data, associations, error
  FROM push_transfer_items
 WHERE transfer_id = %(transfer_id)s
 ORDER BY item_index;

-- name: insert_standard_entity_type
INSERT INTO entity_types (workspace_id, slug, display_name)
VALUES (%(workspace_id)s, %(slug)s, %(display_name)s)
ON CONFLICT (workspace_id, slug) DO NOTHING
RETURNING id;
