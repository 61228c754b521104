-- Which requests wrote a record (the console's record page, AdminService.ListRecordRequests):
-- stream items by their record, endpoint activity by the record ids in its outcome (the
-- pushed record and each related one). Expressions of immutable functions, so indexable.

CREATE INDEX stream_request_items_record_idx ON stream_request_items (record_id)
    WHERE record_id IS NOT NULL;
CREATE INDEX activity_entries_record_ids_idx ON activity_entries USING gin
    ((jsonb_path_query_array(outcome, '$.record.id')
      || jsonb_path_query_array(outcome, '$.related.*.id')));
