-- Named queries of the store; loaded by inlet_store.queries. Parameters are psycopg
-- named placeholders.

-- name: resolve_endpoint
-- One round trip per push: the endpoint, its target type and every type the target
-- references, one row per field (types without fields still give one row).
SELECT e.id AS endpoint_id, e.workspace_id, e.default_region, e.entity_type_id AS target_id,
       e.enabled,
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

-- name: entity_type_by_slug
SELECT t.id, t.workspace_id, t.slug, t.display_name
  FROM entity_types t
 WHERE t.workspace_id = %(workspace_id)s AND (t.slug = %(key)s OR t.id::text = %(key)s);

-- name: fields_of_types
SELECT f.entity_type_id, f.slug, f.display_name, f.type, f.is_unique, f.is_required,
       coalesce(r.slug, '') AS reference_slug, f.reference_entity_type_id
  FROM fields f LEFT JOIN entity_types r ON r.id = f.reference_entity_type_id
 WHERE f.entity_type_id = ANY(%(ids)s)
 ORDER BY f.entity_type_id, f.position;

-- name: find_keys
SELECT k.field_slug, k.value, k.record_id
  FROM record_keys k
  JOIN unnest(%(slugs)s::text[], %(values)s::text[]) AS want(slug, value)
    ON k.field_slug = want.slug AND k.value = want.value
 WHERE k.workspace_id = %(workspace_id)s AND k.entity_type_id = %(entity_type_id)s;

-- name: lock_record
SELECT id FROM records WHERE id = %(id)s FOR UPDATE;

-- name: insert_record
INSERT INTO records (workspace_id, entity_type_id, data)
VALUES (%(workspace_id)s, %(entity_type_id)s, %(data)s)
RETURNING id;

-- name: update_record
UPDATE records SET data = data || %(data)s, update_time = now() WHERE id = %(id)s;

-- name: insert_keys
INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
SELECT %(workspace_id)s, %(entity_type_id)s, k.slug, k.value, %(record_id)s
  FROM unnest(%(slugs)s::text[], %(values)s::text[]) AS k(slug, value);

-- name: delete_keys
DELETE FROM record_keys WHERE record_id = %(record_id)s AND field_slug = ANY(%(slugs)s);

-- name: existing_records
SELECT id, entity_type_id FROM records WHERE id = ANY(%(ids)s);

-- name: insert_activity
INSERT INTO activity_entries (endpoint_id, request_id, status_code, outcome)
VALUES (%(endpoint_id)s, %(request_id)s, %(status_code)s, %(outcome)s);

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
INSERT INTO ingest_endpoints (workspace_id, entity_type_id, display_name, token_hash, default_region)
VALUES (%(workspace_id)s, %(entity_type_id)s, %(display_name)s, %(token_hash)s, %(default_region)s)
RETURNING id, enabled, create_time;

-- name: endpoint_by_key
SELECT e.id, e.workspace_id, e.display_name, t.slug AS entity_type, e.enabled,
       e.default_region, e.create_time
  FROM ingest_endpoints e JOIN entity_types t ON t.id = e.entity_type_id
 WHERE e.workspace_id = %(workspace_id)s AND e.id::text = %(key)s;

-- name: update_endpoint
UPDATE ingest_endpoints
   SET display_name = coalesce(%(display_name)s, display_name),
       enabled = coalesce(%(enabled)s, enabled)
 WHERE id = %(id)s;

-- name: list_activity
SELECT id, request_id, status_code, outcome, create_time
  FROM activity_entries
 WHERE endpoint_id = %(endpoint_id)s AND id < %(before_id)s
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: get_record
SELECT id, entity_type_id, data FROM records WHERE id = %(id)s;
