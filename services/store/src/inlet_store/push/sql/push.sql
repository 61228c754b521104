-- Queries of endpoint push (the functions they call are in migration 0021).

-- name: commit_pushes
-- One round trip for a batch: every push admitted, refused or applied in one transaction,
-- each in a subtransaction of its own; one answer per push, in order.
-- Answers as text: they hold no client value, so the fast parser reads them.
SELECT push_commit(%(pushes)s::json, %(attempts)s)::text AS answer;

-- name: push_schema
-- What the endpoint's pushes are planned against, and its version, in one snapshot: one
-- row per field of the target type and of every type it references (a type without
-- fields still gives one row). A rotated-out token inside its grace period finds it too.
SELECT e.id AS endpoint_id, e.workspace_id, e.default_region, e.entity_type_id AS target_id,
       e.enabled, e.rate_limit, e.rate_window_seconds, push_schema_version(e.id) AS version,
       t.id AS type_id, t.slug AS type_slug, t.display_name AS type_name,
       f.slug, f.display_name, f.type, f.is_unique, f.is_required,
       coalesce(r.slug, '') AS reference_slug, f.reference_entity_type_id
  FROM ingest_endpoints e
  JOIN entity_types t
    ON t.id = e.entity_type_id
    OR t.id IN (SELECT rf.reference_entity_type_id FROM fields rf
                 WHERE rf.entity_type_id = e.entity_type_id AND rf.type = 'reference')
  LEFT JOIN fields f ON f.entity_type_id = t.id
  LEFT JOIN entity_types r ON r.id = f.reference_entity_type_id
 WHERE e.token_hash = %(token_hash)s
    OR (e.previous_token_hash = %(token_hash)s AND e.previous_token_expire_time > now())
 ORDER BY t.id, f.position;

-- name: log_push_failures
-- The activity entries and ingest.failed events of pushes the store refused while
-- applying them (a conflict, a missing required field, a dangling reference).
WITH failed AS (
  SELECT * FROM unnest(%(endpoint_ids)s::uuid[], %(workspace_ids)s::uuid[],
                       %(request_ids)s::text[], %(client_request_ids)s::text[],
                       %(status_codes)s::integer[], %(outcomes)s::json[])
           AS f(endpoint_id, workspace_id, request_id, client_request_id, status_code, outcome)
), logged AS (
  INSERT INTO activity_entries
         (endpoint_id, request_id, client_request_id, status_code, outcome)
  SELECT endpoint_id, request_id, client_request_id, status_code, outcome FROM failed
)
INSERT INTO outbox_events (workspace_id, type, data)
SELECT workspace_id, 'ingest.failed',
       json_build_object('request_id', request_id,
                         'source', json_build_object('type', 'ingest_endpoint',
                                                     'id', endpoint_id,
                                                     'request_id', request_id),
                         'status_code', status_code, 'outcome', outcome)
  FROM failed;
