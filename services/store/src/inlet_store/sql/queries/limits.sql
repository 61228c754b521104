-- Fixed-window rate limits of every rate-limited credential (ingest keys, endpoints).

-- name: hit_rate_window
-- The first hit of a window creates its row, later ones add to it.
WITH w AS (
  SELECT to_timestamp(floor(extract(epoch FROM now()) / %(window)s) * %(window)s) AS start
)
INSERT INTO rate_windows AS rw (subject, window_start, hits)
SELECT %(subject)s, w.start, 1 FROM w
ON CONFLICT (subject, window_start) DO UPDATE SET hits = rw.hits + 1
RETURNING rw.hits,
          greatest(1, ceil(extract(epoch FROM rw.window_start) + %(window)s
                           - extract(epoch FROM clock_timestamp())))::int AS reset_seconds;

-- name: hit_rate_window_async
-- hit_rate_window run as a transaction of its own (autocommit) whose commit does not wait
-- for its WAL flush. Every hit of a subject locks the window's row until commit, so waiting
-- for the flush there lines all of a key's requests up behind one another's disk writes.
-- A crash can forget the last hits (at most the WAL writer's delay of them: a few more
-- requests let through), never a request or anything else this statement does not write.
WITH w AS (
  SELECT to_timestamp(floor(extract(epoch FROM now()) / %(window)s) * %(window)s) AS start,
         set_config('synchronous_commit', 'off', true) AS commit_mode
)
INSERT INTO rate_windows AS rw (subject, window_start, hits)
SELECT %(subject)s, w.start, 1 FROM w WHERE w.commit_mode IS NOT NULL
ON CONFLICT (subject, window_start) DO UPDATE SET hits = rw.hits + 1
RETURNING rw.hits,
          greatest(1, ceil(extract(epoch FROM rw.window_start) + %(window)s
                           - extract(epoch FROM clock_timestamp())))::int AS reset_seconds;

-- name: prune_rate_windows
DELETE FROM rate_windows
 WHERE subject = %(subject)s AND window_start < now() - make_interval(secs => %(window)s);

-- name: prune_all_rate_windows
-- Windows of deleted or idle credentials; a day is longer than any window allowed.
DELETE FROM rate_windows WHERE window_start < now() - interval '1 day';
