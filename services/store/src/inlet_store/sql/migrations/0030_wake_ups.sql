-- Wake-ups instead of polling: a statement that adds outbox events, webhook deliveries or
-- inbox requests notifies its channel, delivered when (and only if) its transaction commits.
-- The notifier listens on inlet_outbox and inlet_webhook_deliveries, the store on
-- inlet_inbox (for the workers it answers long-polled claims for); each keeps a slow poll
-- as a fallback.

CREATE FUNCTION inlet_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One notification per statement; NOTIFY folds repeats within a transaction.
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify('inlet_outbox');
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify('inlet_webhook_deliveries');
CREATE TRIGGER stream_requests_notify AFTER INSERT ON stream_requests
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify('inlet_inbox');
