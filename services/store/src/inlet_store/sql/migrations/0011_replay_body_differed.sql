-- A replayed stream request (an Idempotency-Key accepted in the last 24 h) is answered
-- with the first request's 202 whatever its body; its connector-log line says whether
-- that body differed from the first's.

ALTER TABLE connector_log_entries ADD COLUMN body_differed boolean NOT NULL DEFAULT false;
