-- name: backlog_gauges
-- Read when /metrics is scraped (cached a few seconds): the inbox by state and the age of
-- its oldest waiting request, and the outbox's rows not yet handed on and the oldest one's
-- age (the lag between a commit and its webhook). Both use their partial/primary indexes.
SELECT (SELECT count(*) FROM stream_requests WHERE status = 'queued') AS inbox_queued,
       (SELECT count(*) FROM stream_requests WHERE status = 'processing') AS inbox_processing,
       (SELECT coalesce(extract(epoch FROM now() - min(create_time)), 0)
          FROM stream_requests WHERE status IN ('queued', 'processing')) AS inbox_oldest_seconds,
       (SELECT count(*) FROM outbox_events) AS outbox_events,
       (SELECT coalesce(extract(epoch FROM now() - min(occur_time)), 0)
          FROM outbox_events) AS outbox_oldest_seconds;
