-- Retention: the store's janitor (inlet_store.retention) deletes the oldest finished
-- stream requests and log entries in batches; these indexes find them without a scan.

CREATE INDEX stream_requests_finished_idx ON stream_requests (finish_time, id)
    WHERE status IN ('completed', 'failed');
CREATE INDEX connector_log_entries_create_time_idx ON connector_log_entries (create_time);
CREATE INDEX activity_entries_create_time_idx ON activity_entries (create_time);
