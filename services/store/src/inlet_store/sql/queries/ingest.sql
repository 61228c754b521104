-- Queries of the shared write path (inbox, form, push transfer): match keys, write
-- records; endpoint push's own are in push/sql/push.sql.

-- name: resolve_endpoint
-- One round trip per push: the endpoint, its target type and every type the target
-- references, one row per field (types without fields still give one row).
SELECT e.id AS endpoint_id, e.workspace_id, e.default_region, e.entity_type_id AS target_id,
       e.enabled, e.rate_limit, e.rate_window_seconds,
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
 ORDER BY t.id, f.position;

-- name: entity_types_by_ids
SELECT t.id, t.workspace_id, t.slug, t.display_name FROM entity_types t WHERE t.id = ANY(%(ids)s);

-- name: fields_of_types
SELECT f.entity_type_id, f.slug, f.display_name, f.type, f.is_unique, f.is_required,
       coalesce(r.slug, '') AS reference_slug, f.reference_entity_type_id
  FROM fields f LEFT JOIN entity_types r ON r.id = f.reference_entity_type_id
 WHERE f.entity_type_id = ANY(%(ids)s)
 ORDER BY f.entity_type_id, f.position;

-- name: find_keys
-- One primary-key probe per wanted pair. OFFSET 0 keeps the planner from flattening the
-- lateral subquery into a hash join over a sequential scan of record_keys, which it picks
-- for a chunk's hundred pairs and which then costs time in proportion to the table. The
-- arrays go in binary: the text format checks and quotes each element in Python.
SELECT k.field_slug, k.value, k.record_id
  FROM unnest(%(slugs)b::text[], %(values)b::text[]) AS want(slug, value)
  JOIN LATERAL (SELECT r.field_slug, r.value, r.record_id
                  FROM record_keys r
                 WHERE r.workspace_id = %(workspace_id)s
                   AND r.entity_type_id = %(entity_type_id)s
                   AND r.field_slug = want.slug AND r.value = want.value
                OFFSET 0) AS k ON true;

-- name: lock_record
SELECT id FROM records WHERE id = %(id)s FOR UPDATE;

-- name: insert_record
INSERT INTO records (workspace_id, entity_type_id, data)
VALUES (%(workspace_id)s, %(entity_type_id)s, %(data)s)
RETURNING id;

-- name: update_record
UPDATE records SET data = json_merge_exact(data, %(data)s), update_time = now()
 WHERE id = %(id)s;

-- name: insert_keys
INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
SELECT %(workspace_id)s, %(entity_type_id)s, k.slug, k.value, %(record_id)s
  FROM unnest(%(slugs)s::text[], %(values)s::text[]) AS k(slug, value);

-- name: delete_keys
DELETE FROM record_keys WHERE record_id = %(record_id)s AND field_slug = ANY(%(slugs)s);

-- name: existing_records
SELECT id, entity_type_id FROM records WHERE id = ANY(%(ids)s);

-- name: insert_activity
INSERT INTO activity_entries
       (endpoint_id, request_id, client_request_id, status_code, outcome, record_ids)
VALUES (%(endpoint_id)s, %(request_id)s, %(client_request_id)s, %(status_code)s, %(outcome)s,
        %(record_ids)s::uuid[]);

-- name: prune_endpoint_idempotency_keys
DELETE FROM endpoint_idempotency_keys WHERE expire_time < now() - interval '1 hour';
