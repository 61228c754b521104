-- The webhook admin API: endpoints, deliveries, attempts, replay and recover.

-- name: insert_endpoint
-- The id comes from the caller: the secret is sealed with it as associated data first.
INSERT INTO webhook_endpoints (id, workspace_id, url, description, event_types,
                               entity_type_ids, source_ids, secret)
VALUES (%(id)s, %(workspace_id)s, %(url)s, %(description)s, %(event_types)s,
        %(entity_type_ids)s, %(source_ids)s, %(secret)s)
RETURNING *;

-- name: insert_session_endpoint
-- A push session's endpoint: no URL of its own (each delivery carries one), no fan-out.
INSERT INTO webhook_endpoints (id, workspace_id, url, description, secret, session_id)
VALUES (%(id)s, %(workspace_id)s, '', %(description)s, %(secret)s, %(session_id)s)
RETURNING *;

-- name: get_endpoint
SELECT * FROM webhook_endpoints WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- name: list_endpoints
-- Keyset paging, oldest first; the page token is the last row's (create_time, id).
SELECT * FROM webhook_endpoints
 WHERE workspace_id = %(workspace_id)s
   AND (create_time, id) > (%(after_time)s, %(after_id)s)
 ORDER BY create_time, id
 LIMIT %(limit)s;

-- name: update_endpoint
UPDATE webhook_endpoints
   SET url = CASE WHEN 'url' = ANY(%(paths)s) THEN %(url)s ELSE url END,
       description = CASE WHEN 'description' = ANY(%(paths)s) THEN %(description)s
                          ELSE description END,
       event_types = CASE WHEN 'event_types' = ANY(%(paths)s) THEN %(event_types)s
                          ELSE event_types END,
       entity_type_ids = CASE WHEN 'entity_type_ids' = ANY(%(paths)s) THEN %(entity_type_ids)s
                              ELSE entity_type_ids END,
       source_ids = CASE WHEN 'source_ids' = ANY(%(paths)s) THEN %(source_ids)s
                         ELSE source_ids END,
       enabled = CASE WHEN 'enabled' = ANY(%(paths)s) THEN %(enabled)s ELSE enabled END,
       -- Enabling by hand clears the automatic verdict and the failure window.
       disabled_reason = CASE WHEN 'enabled' = ANY(%(paths)s) AND %(enabled)s THEN ''
                              ELSE disabled_reason END,
       failing_since = CASE WHEN 'enabled' = ANY(%(paths)s) AND %(enabled)s THEN NULL
                            ELSE failing_since END,
       update_time = now()
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING *;

-- name: delete_endpoint
DELETE FROM webhook_endpoints WHERE id = %(id)s AND workspace_id = %(workspace_id)s;

-- name: rotate_secret
-- The sealed secret moves to previous_secret as it is: it is bound to the endpoint's id,
-- not to the column, so it opens there too.
UPDATE webhook_endpoints
   SET previous_secret = secret,
       previous_secret_until = now() + make_interval(secs => %(grace)s),
       secret = %(secret)s,
       update_time = now()
 WHERE id = %(id)s AND workspace_id = %(workspace_id)s
RETURNING previous_secret_until;

-- name: secrets_to_seal
-- Secrets not sealed under the current key: clear ones from before encryption at rest, or
-- ones under an older key. FOR UPDATE: a second notifier starting at the same time waits,
-- then re-checks each row's newest version and finds it sealed (the pass is idempotent).
SELECT id, secret, previous_secret,
       coalesce(previous_secret_until <= now(), true) AS previous_expired
  FROM webhook_endpoints
 WHERE NOT starts_with(secret, %(sealed_prefix)s)
    OR NOT starts_with(previous_secret, %(sealed_prefix)s)
 ORDER BY id
   FOR UPDATE;

-- name: store_sealed_secrets
UPDATE webhook_endpoints e
   SET secret = s.secret, previous_secret = s.previous_secret
  FROM unnest(%(ids)s::uuid[], %(secrets)s::text[], %(previous_secrets)s::text[])
       AS s(id, secret, previous_secret)
 WHERE e.id = s.id;

-- name: list_deliveries
SELECT d.*, ev.type AS event_type, e.url AS endpoint_url
  FROM webhook_deliveries d
  JOIN webhook_events ev ON ev.id = d.event_id
  JOIN webhook_endpoints e ON e.id = d.endpoint_id
 WHERE d.endpoint_id = %(endpoint_id)s
   AND (%(status)s::text IS NULL OR d.status = %(status)s)
   AND (d.create_time, d.id) < (%(before_time)s, %(before_id)s)
 ORDER BY d.create_time DESC, d.id DESC
 LIMIT %(limit)s;

-- name: get_delivery
SELECT d.*, ev.type AS event_type, e.url AS endpoint_url
  FROM webhook_deliveries d
  JOIN webhook_events ev ON ev.id = d.event_id
  JOIN webhook_endpoints e ON e.id = d.endpoint_id
 WHERE d.id = %(id)s AND d.endpoint_id = %(endpoint_id)s AND e.workspace_id = %(workspace_id)s;

-- name: list_attempts
SELECT * FROM webhook_attempts WHERE delivery_id = %(delivery_id)s ORDER BY id;

-- name: replay_delivery
-- A new round: attempt_count restarts so the whole retry schedule applies again.
UPDATE webhook_deliveries d
   SET status = 'pending', attempt_count = 0, next_attempt_time = now(), update_time = now()
  FROM webhook_events ev
 WHERE d.id = %(id)s AND d.endpoint_id = %(endpoint_id)s AND ev.id = d.event_id
RETURNING d.*, ev.type AS event_type;

-- name: recover_deliveries
UPDATE webhook_deliveries
   SET status = 'pending', attempt_count = 0, next_attempt_time = now(), update_time = now()
 WHERE endpoint_id = %(endpoint_id)s AND status = 'failed' AND create_time >= %(since)s;

-- name: admin_token_workspace
-- The workspace of an admin token (issue 4's admin_tokens), by its SHA-256: the token is
-- 256 random bits, so an index probe on the hash reveals nothing to timing. The slug too:
-- people and the CLI name a workspace by id or by slug.
SELECT t.workspace_id, w.slug
  FROM admin_tokens t JOIN workspaces w ON w.id = t.workspace_id
 WHERE t.token_hash = %(token_hash)s;
