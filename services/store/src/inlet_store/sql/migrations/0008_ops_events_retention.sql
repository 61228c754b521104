-- Retention: the notifier's janitor (inlet_notifier.retention) also deletes the oldest
-- operational events in batches; this index finds them without a scan.

CREATE INDEX webhook_operational_events_create_time_idx
    ON webhook_operational_events (create_time);
