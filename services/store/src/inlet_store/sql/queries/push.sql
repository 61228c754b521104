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
-- The transfer and its request in the inbox (which holds the items), in one statement.
WITH transfer AS (
    INSERT INTO push_transfers (id, workspace_id, session_id, api_key_id, request_id,
                                endgrate_type, items_received, webhooks, disable_upsert,
                                sample_data, webhook_concurrency)
    VALUES (%(id)s, %(workspace_id)s, %(session_id)s, %(api_key_id)s, %(request_id)s,
            %(endgrate_type)s, %(items_received)s, %(webhooks)s, %(disable_upsert)s,
            %(sample_data)s, %(webhook_concurrency)s)
    RETURNING id
)
INSERT INTO stream_requests (id, transfer_id, items, items_received)
SELECT %(request_id)s, id, %(items)s, %(items_received)s FROM transfer;

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

-- name: transfer_of_request
-- A claimed request's transfer, with what planning and applying its items need.
SELECT t.id, t.workspace_id, t.session_id, t.endgrate_type, t.disable_upsert, t.sample_data,
       t.webhook_concurrency, t.webhooks, t.request_id, t.items_received,
       ps.default_region, ps.webhook_endpoint_id
  FROM stream_requests r
  JOIN push_transfers t ON t.id = r.transfer_id
  JOIN push_sessions ps ON ps.id = t.session_id
 WHERE r.id = %(request_id)s;

-- name: push_lock
-- Serialises transfers writing the same identity (an internal_id, a default key value):
-- racing creates of one person end as one record.
SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0));

-- name: push_record
SELECT id, data, sample FROM records
 WHERE id::text = %(id)s AND entity_type_id = %(entity_type_id)s
   FOR UPDATE;

-- name: internal_id_record
SELECT i.record_id FROM push_internal_ids i JOIN records r ON r.id = i.record_id
 WHERE i.session_id = %(session_id)s AND i.endgrate_type = %(endgrate_type)s
   AND i.sample = %(sample)s AND i.internal_id = %(internal_id)s;

-- name: remember_internal_id
INSERT INTO push_internal_ids (session_id, endgrate_type, sample, internal_id, record_id)
VALUES (%(session_id)s, %(endgrate_type)s, %(sample)s, %(internal_id)s, %(record_id)s)
ON CONFLICT (session_id, endgrate_type, sample, internal_id)
DO UPDATE SET record_id = excluded.record_id;

-- name: match_key_records
-- Records whose default upsert key has this value, oldest first (twins made with
-- disable_upsert: the first one is the match).
SELECT r.id, r.data FROM push_match_keys k JOIN records r ON r.id = k.record_id
 WHERE k.entity_type_id = %(entity_type_id)s AND k.key_name = %(key_name)s
   AND k.value = %(value)s AND r.sample = %(sample)s
 ORDER BY r.create_time, r.id
 LIMIT 5;

-- name: replace_match_keys
-- The record's keys become exactly these (its other key names go).
WITH kept AS (
    INSERT INTO push_match_keys (record_id, key_name, entity_type_id, value)
    SELECT %(record_id)s, k.name, %(entity_type_id)s, k.value
      FROM unnest(%(names)s::text[], %(values)s::text[]) AS k(name, value)
    ON CONFLICT (record_id, key_name) DO UPDATE SET value = excluded.value
)
DELETE FROM push_match_keys
 WHERE record_id = %(record_id)s AND key_name <> ALL(%(names)s::text[]);

-- name: insert_push_record
INSERT INTO records (workspace_id, entity_type_id, data, sample)
VALUES (%(workspace_id)s, %(entity_type_id)s, %(data)s, %(sample)s)
RETURNING id;

-- name: update_push_record
UPDATE records SET data = json_merge_exact(data, %(data)s), update_time = now()
 WHERE id = %(id)s;

-- name: insert_association
INSERT INTO record_associations (record_id, associated_record_id)
VALUES (%(record_id)s, %(associated_record_id)s)
ON CONFLICT DO NOTHING;

-- name: records_data
SELECT id, data FROM records WHERE id = ANY(%(ids)s::uuid[]);

-- name: insert_push_items
INSERT INTO push_transfer_items (transfer_id, item_index, action, record_id, internal_id, data,
                                 associations, error)
SELECT %(transfer_id)s, i.item_index, i.action, i.record_id, i.internal_id,
       coalesce(i.data, '{}'::json), coalesce(i.associations, '{}'::json), i.error
  FROM json_to_recordset(%(items)s) AS i(item_index integer, action text, record_id uuid,
                                        internal_id text, data json, associations json,
                                        error json);

-- name: next_webhook_seq
INSERT INTO push_webhook_sequences (transfer_id, url, seq)
VALUES (%(transfer_id)s, %(url)s, 1)
ON CONFLICT (transfer_id, url) DO UPDATE SET seq = push_webhook_sequences.seq + 1
RETURNING seq;

-- name: transfer_counts
SELECT count(*) FILTER (WHERE action = 'created') AS created,
       count(*) FILTER (WHERE action = 'updated') AS updated,
       count(*) FILTER (WHERE action = 'failed') AS failed,
       count(*) AS processed
  FROM push_transfer_items
 WHERE transfer_id = %(transfer_id)s;

-- name: finish_push_transfer
UPDATE push_transfers SET status = 'completed', finish_time = now()
 WHERE id = %(id)s AND status <> 'completed';

-- name: start_push_transfer
UPDATE push_transfers SET status = 'processing' WHERE id = %(id)s AND status = 'queued';
