-- Traces: a store connection handed out inside a traced call carries the call's W3C
-- traceparent as the setting inlet.traceparent (only when tracing is on), and these
-- defaults keep it: an outbox event (and the notifier's copy of it) keeps the traceparent
-- of the change that wrote it, so the delivery's span continues that trace; an activity
-- entry keeps the trace id, so the log links to the trace. NULL: tracing was off.
ALTER TABLE outbox_events
    ADD COLUMN traceparent text DEFAULT nullif(current_setting('inlet.traceparent', true), '');
ALTER TABLE webhook_events ADD COLUMN traceparent text;
ALTER TABLE activity_entries
    ADD COLUMN trace_id text
        DEFAULT nullif(split_part(current_setting('inlet.traceparent', true), '-', 2), '');
