-- A statement that inserts webhook deliveries notifies inlet_webhook_deliveries only when it
-- inserted some. A statement trigger fires for every INSERT, also one of no rows, and the
-- notifier's outbox take (one statement, inserting the fan-out) runs on every wake-up and
-- fallback poll: an empty take woke every notifier's delivery worker for a claim that
-- found nothing. The transition table holds only the inserted rows (deliveries are few
-- beside the attempts they cause).

CREATE FUNCTION inlet_notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify(TG_ARGV[0], '');
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER webhook_deliveries_notify ON webhook_deliveries;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify_inserted('inlet_webhook_deliveries');
