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
