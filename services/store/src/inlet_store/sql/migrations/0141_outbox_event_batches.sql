-- A batch of events in one outbox row. An apply statement of claimed stream requests wrote
-- one row per event (a 1,000-item array: 1,001 rows, each with its id, sequence number and
-- two index entries, about a fifth of the statement's time); it now writes its events as
-- one row, `events` = [{type, data}, …] in the order they happened, and the notifier's
-- take makes them events (each its own id, the webhook-id of every attempt) in the same
-- statement that deletes the row, so each is taken once, atomically, as before. A row with
-- `events` has type 'batch', data '{}' and `event_count` its number of events (a take
-- moves about as many events as it asks for, not as many rows); every other row is one
-- event, as before.
-- EXTERNAL: kept uncompressed (a batch row is read once, by the take; compressing hundreds
-- of kilobytes costs more than it saves).
ALTER TABLE outbox_events ADD COLUMN events json, ADD COLUMN event_count integer NOT NULL DEFAULT 1;
ALTER TABLE outbox_events ALTER COLUMN events SET STORAGE EXTERNAL;
