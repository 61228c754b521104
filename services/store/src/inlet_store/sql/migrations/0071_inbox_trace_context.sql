-- Traces of asynchronous requests: an inbox request keeps the traceparent of the call that
-- accepted it (the store connection's inlet.traceparent, set only with tracing on), so the
-- worker that processes it continues that trace, and its webhooks with it.
ALTER TABLE stream_requests
    ADD COLUMN traceparent text DEFAULT nullif(current_setting('inlet.traceparent', true), '');
