-- name: backlog_gauges
-- Read when /metrics is scraped (cached a few seconds): deliveries waiting for an attempt,
-- those already due, and how late the most overdue one is.
SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS pending,
       (SELECT count(*) FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_time <= now()) AS due,
       (SELECT coalesce(extract(epoch FROM now() - min(next_attempt_time)), 0)
          FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_time <= now()) AS due_oldest_seconds;
