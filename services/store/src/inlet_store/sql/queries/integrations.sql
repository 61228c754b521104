-- Queries of integration ingest: project tokens, integrations, client tokens, the external
-- API's authentication and its activity log (the connector log's lines of these routes).

-- name: insert_project_token
INSERT INTO project_tokens (id, workspace_id, display_name, secret_hash)
VALUES (%(id)s, %(workspace_id)s, %(display_name)s, %(secret_hash)s)
RETURNING id, display_name, create_time, expire_time, revoke_time;

-- name: get_project_token
SELECT id, display_name, create_time, expire_time, revoke_time
  FROM project_tokens WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- name: list_project_tokens
SELECT id, display_name, create_time, expire_time, revoke_time
  FROM project_tokens
 WHERE workspace_id = %(workspace_id)s
   AND (%(before)s::timestamptz IS NULL OR create_time < %(before)s)
 ORDER BY create_time DESC, id DESC
 LIMIT %(limit)s;

-- name: revoke_project_token
UPDATE project_tokens SET revoke_time = coalesce(revoke_time, now())
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id, display_name, create_time, expire_time, revoke_time;

-- name: expire_project_token
-- Rotation: the old token works for the grace period (or stops now); an earlier expiry stays.
UPDATE project_tokens
   SET expire_time = least(coalesce(expire_time, 'infinity'),
                           now() + make_interval(secs => %(grace_seconds)s))
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND revoke_time IS NULL
RETURNING id, display_name, create_time, expire_time, revoke_time;

-- name: project_token_auth
SELECT id, workspace_id, secret_hash,
       (revoke_time IS NULL AND (expire_time IS NULL OR expire_time > now())) AS active
  FROM project_tokens WHERE id = %(id)s;

-- name: insert_integration
INSERT INTO integrations (workspace_id, slug, display_name, type, entity_type_id,
                          default_region, mapping, enabled, max_body_bytes, rate_limit,
                          rate_window_seconds)
SELECT %(workspace_id)s, %(slug)s, %(display_name)s, %(type)s, t.id, %(default_region)s,
       %(mapping)s, %(enabled)s, %(max_body_bytes)s, %(rate_limit)s, %(rate_window_seconds)s
  FROM entity_types t WHERE t.id = %(entity_type_id)s
RETURNING id;

-- name: get_integration
SELECT i.id, i.workspace_id, i.slug, i.display_name, i.type, t.slug AS entity_type,
       i.entity_type_id, i.default_region, i.mapping, i.enabled, i.max_body_bytes,
       i.rate_limit, i.rate_window_seconds, i.create_time, i.update_time
  FROM integrations i JOIN entity_types t ON t.id = i.entity_type_id
 WHERE i.workspace_id = %(workspace_id)s AND i.slug = %(slug)s;

-- name: list_integrations
SELECT i.id, i.workspace_id, i.slug, i.display_name, i.type, t.slug AS entity_type,
       i.entity_type_id, i.default_region, i.mapping, i.enabled, i.max_body_bytes,
       i.rate_limit, i.rate_window_seconds, i.create_time, i.update_time
  FROM integrations i JOIN entity_types t ON t.id = i.entity_type_id
 WHERE i.workspace_id = %(workspace_id)s AND i.slug > %(after)s
 ORDER BY i.slug
 LIMIT %(limit)s;

-- name: update_integration
-- Only the fields whose set_* flag is true change (a mapping may be set to null).
UPDATE integrations
   SET display_name = CASE WHEN %(set_display_name)s THEN %(display_name)s ELSE display_name END,
       type = CASE WHEN %(set_type)s THEN %(type)s ELSE type END,
       enabled = CASE WHEN %(set_enabled)s THEN %(enabled)s ELSE enabled END,
       default_region = CASE WHEN %(set_default_region)s THEN %(default_region)s
                             ELSE default_region END,
       mapping = CASE WHEN %(set_mapping)s THEN %(mapping)s ELSE mapping END,
       max_body_bytes = CASE WHEN %(set_max_body_bytes)s THEN %(max_body_bytes)s
                             ELSE max_body_bytes END,
       rate_limit = CASE WHEN %(set_rate_limit)s THEN %(rate_limit)s ELSE rate_limit END,
       rate_window_seconds = CASE WHEN %(set_rate_window_seconds)s THEN %(rate_window_seconds)s
                                  ELSE rate_window_seconds END,
       update_time = now()
 WHERE id = %(id)s;

-- name: lock_integration
SELECT id FROM integrations WHERE id = %(id)s FOR UPDATE;

-- name: delete_integration
DELETE FROM integrations WHERE id = %(id)s;

-- name: integration_for_request
-- The integration a data-ingestion request names, in the project token's workspace.
SELECT id, slug, type, mapping, enabled, max_body_bytes, rate_limit, rate_window_seconds
  FROM integrations WHERE workspace_id = %(workspace_id)s AND slug = %(slug)s;

-- name: integration_request_status
SELECT r.id, i.slug AS integration, r.status, r.items_received, r.items_failed, r.create_time,
       r.finish_time,
       (SELECT count(*) FROM stream_request_items it WHERE it.request_id = r.id)
         AS items_processed
  FROM stream_requests r JOIN integrations i ON i.id = r.integration_id
 WHERE r.id = %(id)s AND i.workspace_id = %(workspace_id)s;

-- name: insert_client_token
INSERT INTO client_tokens (id, workspace_id, entity_type_id, display_name, default_region,
                           allowed_origins, secret_hash, rate_limit, rate_window_seconds)
VALUES (%(id)s, %(workspace_id)s, %(entity_type_id)s, %(display_name)s, %(default_region)s,
        %(allowed_origins)s, %(secret_hash)s, %(rate_limit)s, %(rate_window_seconds)s)
RETURNING id;

-- name: get_client_token
SELECT c.id, c.display_name, t.slug AS entity_type, c.default_region, c.allowed_origins,
       c.rate_limit, c.rate_window_seconds, c.create_time, c.revoke_time
  FROM client_tokens c JOIN entity_types t ON t.id = c.entity_type_id
 WHERE c.id = %(id)s AND c.workspace_id = %(workspace_id)s;

-- name: list_client_tokens
SELECT c.id, c.display_name, t.slug AS entity_type, c.default_region, c.allowed_origins,
       c.rate_limit, c.rate_window_seconds, c.create_time, c.revoke_time
  FROM client_tokens c JOIN entity_types t ON t.id = c.entity_type_id
 WHERE c.workspace_id = %(workspace_id)s
   AND (%(before)s::timestamptz IS NULL OR c.create_time < %(before)s)
 ORDER BY c.create_time DESC, c.id DESC
 LIMIT %(limit)s;

-- name: update_client_token
UPDATE client_tokens
   SET display_name = coalesce(%(display_name)s, display_name),
       allowed_origins = coalesce(%(allowed_origins)s, allowed_origins),
       rate_limit = coalesce(%(rate_limit)s, rate_limit),
       rate_window_seconds = coalesce(%(rate_window_seconds)s, rate_window_seconds)
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id;

-- name: revoke_client_token
UPDATE client_tokens SET revoke_time = coalesce(revoke_time, now())
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING id;

-- name: client_token_auth
-- One round trip: the token, and the schema forms are planned against (its entity type
-- with the fields in display order, and a version that changes with it or the region).
SELECT c.id, c.workspace_id, c.secret_hash, c.revoke_time IS NULL AS active,
       c.allowed_origins, c.rate_limit, c.rate_window_seconds, c.default_region,
       d.entity_type, md5(jsonb_build_array(d.entity_type, c.default_region)::text)
         AS schema_version
  FROM client_tokens c
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
         FROM entity_types t WHERE t.id = c.entity_type_id) d
 WHERE c.id = %(id)s;

-- name: list_external_activity
-- Newest first, by integration or by token (the routes of the external API). An accepted
-- request's status is its live one (pruned once retention deleted it), with its first
-- item errors.
SELECT l.id, l.create_time, l.request_id, l.client_request_id, l.replay_of, l.route,
       l.items_received, l.status_code, l.key_id, l.error, l.result,
       (SELECT i.slug FROM integrations i WHERE i.id = l.integration_id) AS integration,
       CASE l.outcome WHEN 'accepted' THEN coalesce(r.status, 'pruned') ELSE l.outcome END
         AS status,
       coalesce(r.items_received, l.items_received) AS items_now,
       coalesce(r.items_failed, 0) AS items_failed,
       CASE WHEN l.outcome = 'accepted' THEN
         (SELECT coalesce(jsonb_agg(jsonb_build_object('index', i.item_index) || i.error
                                    ORDER BY i.item_index), '[]')
            FROM (SELECT * FROM stream_request_items
                   WHERE request_id = l.request_id AND action = 'failed'
                   ORDER BY item_index LIMIT 20) i)
       END AS item_errors
  FROM connector_log_entries l
  LEFT JOIN stream_requests r ON r.id = l.request_id AND l.outcome = 'accepted'
 WHERE l.route <> 'stream'
   AND (%(integration_id)s::uuid IS NULL OR l.integration_id = %(integration_id)s)
   AND (%(key_id)s::text IS NULL OR l.key_id = %(key_id)s)
   AND (%(routes)s::text[] IS NULL OR l.route = ANY(%(routes)s))
   AND (%(before)s::bigint IS NULL OR l.id < %(before)s)
 ORDER BY l.id DESC
 LIMIT %(limit)s;
