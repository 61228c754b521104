-- Claiming the inbox: many requests per statement, and how long to wait when none is there.

-- name: claim_stream_requests
-- The oldest queued requests, or ones whose worker's lease ran out, in one statement: up to
-- %(limit)s of them, holding at most %(max_items)s items in all (0: any number; the first
-- is taken whatever its size); SKIP LOCKED lets workers claim side by side without
-- waiting on each other. Locked rows left out by the item budget are released at once
-- (the statement is its own transaction). Each comes with what planning
-- needs, from its stream, its integration or its push transfer: the entity type with its
-- fields in display order (on the first request of each type only) (the columns of entity_types_by_ids and fields_of_types), region,
-- for an integration its type, mapping and the body as sent, for a transfer its id (the
-- session's types come with a second query); so a claim is one round trip, or two.
WITH waiting AS (
    SELECT c.id, c.create_time, c.items_received FROM stream_requests c
     WHERE c.status = 'queued'
        OR (c.status = 'processing' AND c.lease_expire_time < now())
     ORDER BY c.create_time
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id FROM (
        SELECT id, items_received,
               sum(items_received) OVER (ORDER BY create_time, id) - items_received AS before
          FROM waiting) w
     WHERE %(max_items)s = 0 OR w.before = 0 OR w.before + w.items_received <= %(max_items)s
), claimed AS (
UPDATE stream_requests r
   SET status = 'processing', attempts = r.attempts + 1, lease_token = gen_random_uuid(),
       lease_expire_time = now() + make_interval(secs => %(lease_seconds)s),
       start_time = coalesce(r.start_time, now())
 WHERE r.id IN (SELECT id FROM chosen)
RETURNING r.id, r.lease_token, r.item_key, r.items, r.single, r.stream_id, r.integration_id,
          r.body, r.transfer_id, r.create_time, r.traceparent
)
-- The items as stored (text: passed on as they are, not parsed and written again).
SELECT c.id, c.lease_token, c.item_key, c.items::text AS items, c.single, c.body, c.transfer_id, c.traceparent,
       src.kind AS source,
       src.workspace_id, src.entity_type_id, src.default_region, src.integration,
       src.integration_type, src.mapping,
       (SELECT coalesce(array_agg(i.item_index), '{}') FROM stream_request_items i
         WHERE i.request_id = c.id) AS done_indices,
       -- Once per entity type of the batch (on its first request; NULL on the others):
       -- the batch's requests mostly share one, and each copy costs both ends.
       CASE WHEN row_number() OVER (PARTITION BY src.entity_type_id
                                    ORDER BY c.create_time, c.id) = 1 THEN
       (SELECT jsonb_build_object(
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
                     WHERE f.entity_type_id = t.id), '[]'))
          FROM entity_types t WHERE t.id = src.entity_type_id) END AS entity_type
  FROM claimed c
 CROSS JOIN LATERAL (
       SELECT 'stream' AS kind, s.workspace_id, s.entity_type_id, s.default_region,
              NULL::text AS integration, NULL::text AS integration_type, NULL::json AS mapping
         FROM streams s WHERE s.id = c.stream_id
       UNION ALL
       SELECT 'integration', i.workspace_id, i.entity_type_id, i.default_region, i.slug,
              i.type, i.mapping
         FROM integrations i WHERE i.id = c.integration_id
       UNION ALL
       -- A type taken out of the session since the transfer was accepted leaves no entity
       -- type: its items fail, the request still finishes.
       SELECT 'push', t.workspace_id, st.entity_type_id, ps.default_region, NULL, NULL, NULL
         FROM push_transfers t
         JOIN push_sessions ps ON ps.id = t.session_id
         LEFT JOIN push_session_types st
           ON st.session_id = t.session_id AND st.endgrate_type = t.endgrate_type
        WHERE t.id = c.transfer_id) src
 ORDER BY c.create_time, c.id;


-- name: next_lease_expiry
-- Seconds until the first lease of a request being processed runs out (NULL: none is): a
-- claim waiting for work wakes then, to take over a request whose worker died.
SELECT extract(epoch FROM min(lease_expire_time) - now())::float8 AS seconds
  FROM stream_requests
 WHERE status IN ('queued', 'processing') AND lease_expire_time IS NOT NULL;
