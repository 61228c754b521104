-- Retention: the notifier's janitor (inlet_notifier.retention) deletes the oldest finished
-- webhook deliveries, then the events left without any, in batches; these indexes find
-- them without a scan (attempts go by webhook_attempts_delivery_idx, and "no delivery
-- left" is a probe of webhook_deliveries' (event_id, endpoint_id) unique index).

CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (update_time, id)
    WHERE status IN ('succeeded', 'failed');
CREATE INDEX webhook_events_receive_time_idx ON webhook_events (receive_time, id);
