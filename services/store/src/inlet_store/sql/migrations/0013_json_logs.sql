-- What a refused request said is logged even when it holds text jsonb cannot (a field
-- named with \u0000): the activity and connector logs and item errors become json.

ALTER TABLE activity_entries ALTER COLUMN outcome TYPE json USING outcome::json;
ALTER TABLE stream_request_items ALTER COLUMN error TYPE json USING error::json;
ALTER TABLE connector_log_entries ALTER COLUMN error TYPE json USING error::json;
