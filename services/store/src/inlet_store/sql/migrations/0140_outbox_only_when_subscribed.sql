-- An event goes into the outbox only when its workspace has a webhook endpoint that could
-- take it (an enabled one, not a push session's), or when it is targeted at one URL. An
-- event nobody could take was written, moved by the notifier and deleted again: on a push
-- or a stream item that was a third of PostgreSQL's work, and the notifier woke for every
-- batch. There is no events API, so such an event was never readable either.
--
-- No event is missed by an endpoint created (or enabled) meanwhile: a writer checks under
-- a shared advisory lock on the workspace, held until it commits, and creating or enabling
-- an endpoint takes that lock exclusively. So a writer that saw no endpoint commits before
-- the endpoint exists, and one that starts after sees it (the check is a fresh snapshot,
-- taken after the lock: the function is VOLATILE).

CREATE FUNCTION outbox_lock_key(ws uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtextextended('inlet.outbox:' || ws::text, 0) $$;

-- Checked once per workspace and transaction: the answer is kept in a transaction-local
-- setting, which also ends (with the lock) if the subtransaction that took it rolls back.
CREATE FUNCTION outbox_subscribed(ws uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    name text := 'inlet.outbox_' || replace(ws::text, '-', '');
    known text := current_setting(name, true);
    found boolean;
BEGIN
    IF known = 't' THEN
        RETURN true;
    ELSIF known = 'f' THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(outbox_lock_key(ws));
    found := EXISTS (SELECT 1 FROM webhook_endpoints e
                      WHERE e.workspace_id = ws AND e.enabled AND e.session_id IS NULL);
    PERFORM set_config(name, CASE WHEN found THEN 't' ELSE 'f' END, true);
    RETURN found;
END
$$;

CREATE FUNCTION outbox_events_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.target IS NOT NULL OR outbox_subscribed(NEW.workspace_id) THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_keep BEFORE INSERT ON outbox_events
    FOR EACH ROW EXECUTE FUNCTION outbox_events_keep();

-- An endpoint that starts taking a workspace's events waits for the writers that found none.
CREATE FUNCTION webhook_endpoints_announce() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.enabled AND NEW.session_id IS NULL
       AND (TG_OP = 'INSERT' OR NOT OLD.enabled OR OLD.session_id IS NOT NULL
            OR OLD.workspace_id <> NEW.workspace_id) THEN
        PERFORM pg_advisory_xact_lock(outbox_lock_key(NEW.workspace_id));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER webhook_endpoints_announce BEFORE INSERT OR UPDATE ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION webhook_endpoints_announce();

-- A statement that kept no event wakes no notifier (inlet_notify_inserted: 0090).
DROP TRIGGER outbox_events_notify ON outbox_events;
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION inlet_notify_inserted('inlet_outbox');
