-- Set-based writes of a chunk of stream items (inlet_store.chunks): a few statements per
-- chunk instead of several round trips per item.

-- name: lock_records
-- Records the chunk updates, locked in id order so two chunks never wait on each other in
-- opposite orders; a missing id was deleted concurrently (the caller treats it as a race).
SELECT id FROM records WHERE id = ANY(%(ids)s::uuid[]) ORDER BY id FOR UPDATE;

-- name: delete_record_keys
-- Keys that items moved or cleared, as (record, field) pairs; run before write_chunk so a
-- value freed by one record can be taken by another in the same chunk.
DELETE FROM record_keys k
 USING jsonb_to_recordset(%(pairs)s) AS d(record_id uuid, slug text)
 WHERE k.record_id = d.record_id AND k.field_slug = d.slug;

-- name: write_chunk
-- One statement, so one round trip: new records, merged updates, their new keys (the
-- primary key still refuses a value a concurrent writer took: the caller redoes the chunk
-- item by item), the record.* outbox events in item order (one row), and the items'
-- outcomes.
-- Foreign keys from record_keys are checked at the end of the statement, after `made`.
WITH made AS (
  INSERT INTO records (id, workspace_id, entity_type_id, data)
  SELECT r.id, %(workspace_id)s, %(entity_type_id)s, r.data
    FROM json_to_recordset(%(created)s) AS r(id uuid, data json)
), changed AS (
  UPDATE records t SET data = json_merge_exact(t.data, u.data), update_time = now()
    FROM json_to_recordset(%(updated)s) AS u(id uuid, data json)
   WHERE t.id = u.id
), keyed AS (
  INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
  SELECT %(workspace_id)s, %(entity_type_id)s, k.slug, k.value, k.record_id
    FROM jsonb_to_recordset(%(keys)s) AS k(slug text, value text, record_id uuid)
), events AS (
  -- The record.* events, in item order, as one outbox row (see migration 0141): the
  -- parameter as sent, [{type, data}, …]; the notifier's take makes them events.
  INSERT INTO outbox_events (workspace_id, type, data, events, event_count)
  SELECT %(workspace_id)s, 'batch', '{}', %(events)s::json, json_array_length(%(events)s)
   -- Only for a workspace with an endpoint that could take them (0140).
   WHERE %(events)s::text <> '[]' AND outbox_subscribed(%(workspace_id)s::uuid)
), outcomes AS (
  INSERT INTO stream_request_items
         (request_id, item_index, record_id, action, matched_on, error, superseded_by, related)
  SELECT %(request_id)s, o.item_index, o.record_id, o.action, coalesce(o.matched_on, '{}'),
         o.error, o.superseded_by, o.related::jsonb
    FROM json_to_recordset(%(outcomes)s) AS o(item_index integer, record_id uuid, action text,
                                              matched_on text[], error json,
                                              superseded_by integer, related json)
)
SELECT 1;
