-- Which requests wrote a record (the console's record page, AdminService.ListRecordRequests):
-- stream items by their record; endpoint activity by the records it wrote (the pushed
-- record and each related one), kept beside the outcome when the entry is written, since
-- the outcome is json (it keeps what jsonb cannot hold) and json has no index operators.
-- A replay wrote nothing, so it lists none.

CREATE INDEX stream_request_items_record_idx ON stream_request_items (record_id)
    WHERE record_id IS NOT NULL;

ALTER TABLE activity_entries ADD COLUMN record_ids uuid[] NOT NULL DEFAULT '{}';

UPDATE activity_entries a
   SET record_ids = ARRAY(
         SELECT (a.outcome -> 'record' ->> 'id')::uuid
          WHERE a.outcome -> 'record' ->> 'id' IS NOT NULL
         UNION ALL
         SELECT (r.value ->> 'id')::uuid
           FROM json_each(CASE WHEN json_typeof(a.outcome -> 'related') = 'object'
                               THEN a.outcome -> 'related' END) AS r
          WHERE r.value ->> 'id' IS NOT NULL)
 WHERE a.outcome ->> 'replay_of' IS NULL;

CREATE INDEX activity_entries_record_ids_idx ON activity_entries USING gin (record_ids);
