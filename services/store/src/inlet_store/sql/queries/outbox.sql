-- The transactional outbox: written with each change; the notifier takes it from here.

-- name: insert_outbox_event
INSERT INTO outbox_events (workspace_id, type, data)
VALUES (%(workspace_id)s, %(type)s, %(data)s);

-- name: insert_targeted_outbox_event
-- An event for one URL (a push transfer's webhook): target is {endpoint_id, url,
-- ordering_key, ordering_seq}.
INSERT INTO outbox_events (workspace_id, type, data, target)
VALUES (%(workspace_id)s, %(type)s, %(data)s, %(target)s);
