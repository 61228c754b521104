-- Queries of the admin API: workspaces, entity types, endpoints, activity.

-- name: entity_type_by_slug
SELECT t.id, t.workspace_id, t.slug, t.display_name
  FROM entity_types t
 WHERE t.workspace_id = %(workspace_id)s AND (t.slug = %(key)s OR t.id::text = %(key)s);

-- name: endpoint_exists
SELECT 1 FROM ingest_endpoints WHERE id = %(id)s;

-- name: insert_workspace
INSERT INTO workspaces (slug, display_name) VALUES (%(slug)s, %(display_name)s)
RETURNING id, slug, display_name;

-- name: workspace_by_key
SELECT id, slug, display_name FROM workspaces WHERE slug = %(key)s OR id::text = %(key)s;

-- name: insert_entity_type
INSERT INTO entity_types (workspace_id, slug, display_name)
VALUES (%(workspace_id)s, %(slug)s, %(display_name)s)
RETURNING id;

-- name: insert_field
INSERT INTO fields (entity_type_id, slug, display_name, type, is_unique, is_required,
                    reference_entity_type_id, position)
VALUES (%(entity_type_id)s, %(slug)s, %(display_name)s, %(type)s, %(is_unique)s,
        %(is_required)s, %(reference_entity_type_id)s, %(position)s);

-- name: insert_endpoint
INSERT INTO ingest_endpoints (workspace_id, entity_type_id, display_name, token_hash, default_region,
                              rate_limit, rate_window_seconds)
VALUES (%(workspace_id)s, %(entity_type_id)s, %(display_name)s, %(token_hash)s, %(default_region)s,
        %(rate_limit)s, %(rate_window_seconds)s)
RETURNING id, enabled, create_time, rate_limit, rate_window_seconds;

-- name: endpoint_by_key
SELECT e.id, e.workspace_id, e.display_name, t.slug AS entity_type, e.enabled,
       e.default_region, e.create_time, e.previous_token_expire_time,
       e.rate_limit, e.rate_window_seconds
  FROM ingest_endpoints e JOIN entity_types t ON t.id = e.entity_type_id
 WHERE e.workspace_id = %(workspace_id)s AND e.id::text = %(key)s;

-- name: update_endpoint
UPDATE ingest_endpoints
   SET display_name = coalesce(%(display_name)s, display_name),
       enabled = coalesce(%(enabled)s, enabled),
       rate_limit = coalesce(%(rate_limit)s, rate_limit),
       rate_window_seconds = coalesce(%(rate_window_seconds)s, rate_window_seconds)
 WHERE id = %(id)s;

-- name: list_activity
SELECT id, request_id, status_code, outcome, create_time
  FROM activity_entries
 WHERE endpoint_id = %(endpoint_id)s AND id < %(before_id)s
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: get_record
SELECT id, entity_type_id, data FROM records WHERE id = %(id)s;

-- name: insert_admin_token
INSERT INTO admin_tokens (workspace_id, token_hash) VALUES (%(workspace_id)s, %(token_hash)s);

-- name: admin_token_workspace
SELECT t.workspace_id, w.slug
  FROM admin_tokens t JOIN workspaces w ON w.id = t.workspace_id
 WHERE t.token_hash = %(token_hash)s;

-- name: list_entity_types
SELECT id, slug FROM entity_types
 WHERE workspace_id = %(workspace_id)s AND slug > %(after)s
 ORDER BY slug
 LIMIT %(limit)s;

-- name: lock_entity_type
-- FOR UPDATE conflicts with the FOR KEY SHARE lock every record insert takes on its
-- type, so once this returns no push can add a record of the type until commit.
SELECT id FROM entity_types WHERE id = %(id)s FOR UPDATE;

-- name: entity_type_usage
-- Sample records are examples, not data: they go with the type.
SELECT (SELECT count(*) FROM records WHERE entity_type_id = %(id)s AND NOT sample) AS records,
       (SELECT count(*) FROM push_session_types WHERE entity_type_id = %(id)s) AS sessions,
       (SELECT count(*) FROM ingest_endpoints WHERE entity_type_id = %(id)s) AS endpoints,
       (SELECT count(*) FROM streams WHERE entity_type_id = %(id)s) AS streams,
       (SELECT count(*) FROM integrations WHERE entity_type_id = %(id)s) AS integrations,
       (SELECT count(*) FROM client_tokens WHERE entity_type_id = %(id)s) AS client_tokens,
       (SELECT string_agg(t.slug || '.' || f.slug, ', ' ORDER BY t.slug, f.slug)
          FROM fields f JOIN entity_types t ON t.id = f.entity_type_id
         WHERE f.reference_entity_type_id = %(id)s AND f.entity_type_id <> %(id)s) AS referenced_by;

-- name: delete_entity_type
DELETE FROM entity_types WHERE id = %(id)s;

-- name: next_field_position
SELECT coalesce(max(position) + 1, 0) AS position FROM fields WHERE entity_type_id = %(id)s;

-- name: update_field
UPDATE fields
   SET display_name = coalesce(%(display_name)s, display_name),
       is_unique = coalesce(%(is_unique)s, is_unique),
       is_required = coalesce(%(is_required)s, is_required)
 WHERE entity_type_id = %(entity_type_id)s AND slug = %(slug)s;

-- name: delete_field
DELETE FROM fields WHERE entity_type_id = %(entity_type_id)s AND slug = %(slug)s;

-- name: strip_field_values
UPDATE records SET data = json_without_key(data, %(slug)s::text), update_time = now()
 WHERE entity_type_id = %(entity_type_id)s AND (data -> %(slug)s::text) IS NOT NULL;

-- name: delete_field_keys
DELETE FROM record_keys WHERE entity_type_id = %(entity_type_id)s AND field_slug = %(slug)s;

-- name: lock_records_for_backfill
-- Writers of records wait while the key index of a field is rebuilt from the data, so
-- the two cannot disagree at commit.
LOCK TABLE records IN SHARE MODE;

-- name: field_values
-- Sample records take no unique keys (they never match real ones).
SELECT id, data -> %(slug)s::text AS value
  FROM records
 WHERE entity_type_id = %(entity_type_id)s AND json_typeof(data -> %(slug)s::text) <> 'null'
   AND NOT sample
 ORDER BY create_time, id;

-- name: list_endpoints
SELECT e.id, e.workspace_id, e.display_name, t.slug AS entity_type, e.enabled,
       e.default_region, e.create_time, e.previous_token_expire_time,
       e.rate_limit, e.rate_window_seconds
  FROM ingest_endpoints e JOIN entity_types t ON t.id = e.entity_type_id
 WHERE e.workspace_id = %(workspace_id)s
   AND (%(before_time)s::timestamptz IS NULL
        OR (e.create_time, e.id) < (%(before_time)s::timestamptz, %(before_id)s::uuid))
 ORDER BY e.create_time DESC, e.id DESC
 LIMIT %(limit)s;

-- name: rotate_endpoint_token
UPDATE ingest_endpoints
   SET previous_token_hash = CASE WHEN %(grace_seconds)s > 0 THEN token_hash END,
       previous_token_expire_time =
           CASE WHEN %(grace_seconds)s > 0
                THEN now() + make_interval(secs => %(grace_seconds)s::float8) END,
       token_hash = %(token_hash)s
 WHERE id = %(id)s
RETURNING previous_token_expire_time;

-- name: delete_endpoint
DELETE FROM ingest_endpoints WHERE id = %(id)s;

-- name: list_activity_filtered
SELECT a.id, a.request_id, a.client_request_id, a.status_code, a.outcome, a.create_time,
       (g.request_id IS NOT NULL) AS previous_token, a.trace_id
  FROM activity_entries a
  LEFT JOIN endpoint_grace_uses g ON g.endpoint_id = a.endpoint_id AND g.request_id = a.request_id
 WHERE a.endpoint_id = %(endpoint_id)s AND a.id < %(before_id)s
   AND (%(status_code)s = 0 OR a.status_code = %(status_code)s)
   AND (NOT %(errors_only)s OR a.status_code >= 400)
   AND (%(start_time)s::timestamptz IS NULL OR a.create_time >= %(start_time)s)
   AND (%(end_time)s::timestamptz IS NULL OR a.create_time < %(end_time)s)
 ORDER BY a.id DESC
 LIMIT %(limit)s;

-- name: record_in_type
SELECT r.id, r.data, r.create_time, r.update_time
  FROM records r
 WHERE r.entity_type_id = %(entity_type_id)s AND r.id::text = %(id)s;

-- name: list_records
-- Sample records (push transfer's sample_data) are examples, not data: never listed.
SELECT r.id, r.data, r.create_time, r.update_time
  FROM records r
 WHERE r.entity_type_id = %(entity_type_id)s AND NOT r.sample
   AND (%(before_time)s::timestamptz IS NULL
        OR (r.create_time, r.id) < (%(before_time)s::timestamptz, %(before_id)s::uuid))
 ORDER BY r.create_time DESC, r.id DESC
 LIMIT %(limit)s;

-- name: record_by_key
SELECT r.id, r.data, r.create_time, r.update_time
  FROM record_keys k JOIN records r ON r.id = k.record_id
 WHERE k.workspace_id = %(workspace_id)s AND k.entity_type_id = %(entity_type_id)s
   AND k.field_slug = %(slug)s AND k.value = %(value)s;

-- name: insert_keys_bulk
INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
SELECT %(workspace_id)s, %(entity_type_id)s, %(slug)s, k.value, k.record_id
  FROM unnest(%(values)s::text[], %(record_ids)s::uuid[]) AS k(value, record_id);

-- name: summarize_endpoint_activity
SELECT count(a.id) AS request_count,
       count(a.id) FILTER (WHERE a.status_code >= 400) AS error_count,
       (SELECT max(l.create_time)
          FROM ingest_endpoints e2,
               LATERAL (SELECT create_time FROM activity_entries
                         WHERE endpoint_id = e2.id ORDER BY id DESC LIMIT 1) l
         WHERE e2.workspace_id = %(workspace_id)s) AS last_request_time,
       (SELECT count(*) FROM ingest_endpoints WHERE workspace_id = %(workspace_id)s)
         AS source_count
  FROM ingest_endpoints e
  JOIN activity_entries a ON a.endpoint_id = e.id AND a.create_time >= %(start_time)s
 WHERE e.workspace_id = %(workspace_id)s;

-- name: summarize_stream_activity
-- An accepted request counts as an error once processing failed for any of its items.
SELECT count(l.id) AS request_count,
       count(l.id) FILTER (WHERE l.status_code >= 400 OR r.items_failed > 0) AS error_count,
       (SELECT max(x.create_time)
          FROM streams s2,
               LATERAL (SELECT create_time FROM connector_log_entries
                         WHERE stream_id = s2.id ORDER BY id DESC LIMIT 1) x
         WHERE s2.workspace_id = %(workspace_id)s) AS last_request_time,
       (SELECT count(*) FROM streams WHERE workspace_id = %(workspace_id)s) AS source_count
  FROM streams s
  JOIN connector_log_entries l ON l.stream_id = s.id AND l.create_time >= %(start_time)s
  LEFT JOIN stream_requests r ON r.id = l.request_id AND l.outcome = 'accepted'
 WHERE s.workspace_id = %(workspace_id)s;

-- name: record_requests
-- Newest first, keyed by (create_time, request_id, position): position is the stream
-- item's index, -1 for an endpoint push. Replays changed nothing, so they are left out.
SELECT * FROM (
    SELECT a.request_id, 'endpoint_push' AS dialect, a.endpoint_id::text AS source_id,
           a.create_time, -1 AS position, a.outcome, NULL::text AS action
      FROM activity_entries a JOIN ingest_endpoints e ON e.id = a.endpoint_id
     WHERE e.workspace_id = %(workspace_id)s
       AND a.record_ids @> ARRAY[%(record_id)s::uuid]
    UNION ALL
    SELECT i.request_id, 'stream_ingest', s.slug, r.create_time, i.item_index, NULL, i.action
      FROM stream_request_items i
      JOIN stream_requests r ON r.id = i.request_id
      JOIN streams s ON s.id = r.stream_id
     WHERE i.record_id = %(record_id)s::uuid AND i.action IN ('created', 'updated')
       AND s.workspace_id = %(workspace_id)s
) u
 WHERE %(before_time)s::timestamptz IS NULL
    OR (u.create_time, u.request_id, u.position)
       < (%(before_time)s::timestamptz, %(before_request)s::text, %(before_position)s::integer)
 ORDER BY u.create_time DESC, u.request_id DESC, u.position DESC
 LIMIT %(limit)s;
