-- One id per request: beside it, the client's own X-Request-Id (its correlation id, ''
-- when it sent none) in both logs; a replayed stream request's line, logged under its own
-- id, names the request whose answer it got.

ALTER TABLE activity_entries ADD COLUMN client_request_id text NOT NULL DEFAULT '';

ALTER TABLE connector_log_entries
    ADD COLUMN client_request_id text NOT NULL DEFAULT '',
    ADD COLUMN replay_of text;
