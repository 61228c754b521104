-- The stream tables' references checked once per statement, not once per row. A foreign
-- key checks (and locks) its parent row for every inserted row: for a 1,000-item array
-- that is 4,000 look-ups of the same request, the same stream and the records just
-- written, about a fifth of the apply's database time. These tables are only written
-- set-based (a chunk's outcomes, and the feed rows the stream_request_items trigger adds),
-- so each reference is now checked and locked FOR KEY SHARE once per statement for all the
-- rows it inserted (the foreign key's guarantee: no row points at a parent that is gone,
-- nor at one a concurrent transaction is deleting), and a parent's deletion still takes
-- its rows with it (ON DELETE CASCADE, now a statement trigger on the parent).
ALTER TABLE stream_request_items DROP CONSTRAINT stream_request_items_request_id_fkey;
ALTER TABLE stream_feed DROP CONSTRAINT stream_feed_stream_id_fkey;
ALTER TABLE stream_items DROP CONSTRAINT stream_items_stream_id_fkey;
ALTER TABLE stream_items DROP CONSTRAINT stream_items_record_id_fkey;

-- A statement's references, TG_ARGV pairs of (column, parent table): per column the
-- distinct keys are locked FOR KEY SHARE in key order (two statements never wait on each
-- other in opposite orders), and one that is missing is raised as the foreign key would
-- (SQLSTATE 23503). Dynamic SQL, planned for each statement's own rows.
CREATE FUNCTION stream_references_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    col text;
    parent text;
    wanted bigint;
    held bigint;
    missing text;
BEGIN
    WHILE n < TG_NARGS LOOP
        col := TG_ARGV[n];
        parent := TG_ARGV[n + 1];
        EXECUTE format('SELECT count(DISTINCT %I) FROM new_rows', col) INTO wanted;
        EXECUTE format(
            'SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.id IN (SELECT %I FROM new_rows)'
            ' ORDER BY p.id FOR KEY SHARE) l', parent, col) INTO held;
        IF held < wanted THEN
            EXECUTE format(
                'SELECT n.%I::text FROM new_rows n'
                ' WHERE NOT EXISTS (SELECT 1 FROM %I p WHERE p.id = n.%I) LIMIT 1',
                col, parent, col) INTO missing;
            RAISE foreign_key_violation USING
                MESSAGE = format('insert on table "%s" violates its reference to "%s"',
                                 TG_TABLE_NAME, parent),
                DETAIL = format('Key (%s)=(%s) is not present in table "%s".',
                                col, missing, parent),
                TABLE = TG_TABLE_NAME, COLUMN = col;
        END IF;
        n := n + 2;
    END LOOP;
    RETURN NULL;
END
$$;

-- Inserted rows only: an upsert's updates keep the row's stream and record (its key).
CREATE TRIGGER stream_request_items_check
    AFTER INSERT ON stream_request_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stream_references_check('request_id', 'stream_requests');
CREATE TRIGGER stream_feed_check
    AFTER INSERT ON stream_feed
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stream_references_check('stream_id', 'streams');
CREATE TRIGGER stream_items_check
    AFTER INSERT ON stream_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stream_references_check(
        'stream_id', 'streams', 'record_id', 'records');

-- A row is never moved to another parent (the foreign key would check that too).
CREATE FUNCTION stream_reference_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = format('the references of table "%s" cannot change', TG_TABLE_NAME);
END
$$;

CREATE TRIGGER stream_request_items_fixed
    BEFORE UPDATE ON stream_request_items FOR EACH ROW
    WHEN (OLD.request_id IS DISTINCT FROM NEW.request_id)
    EXECUTE FUNCTION stream_reference_fixed();
CREATE TRIGGER stream_feed_fixed
    BEFORE UPDATE ON stream_feed FOR EACH ROW
    WHEN (OLD.stream_id IS DISTINCT FROM NEW.stream_id)
    EXECUTE FUNCTION stream_reference_fixed();
CREATE TRIGGER stream_items_fixed
    BEFORE UPDATE ON stream_items FOR EACH ROW
    WHEN (OLD.stream_id IS DISTINCT FROM NEW.stream_id
          OR OLD.record_id IS DISTINCT FROM NEW.record_id)
    EXECUTE FUNCTION stream_reference_fixed();

-- ON DELETE CASCADE, once per deleting statement. Row-level foreign key actions on the
-- same parent run first (statement triggers fire after them), so a request's deletion
-- that waited for the transaction applying it sees, and deletes, what it wrote.
CREATE FUNCTION stream_requests_cascade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stream_request_items i USING gone g WHERE i.request_id = g.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION streams_cascade() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stream_feed f USING gone g WHERE f.stream_id = g.id;
    DELETE FROM stream_items i USING gone g WHERE i.stream_id = g.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION records_cascade_stream_items() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stream_items i USING gone g WHERE i.record_id = g.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER stream_requests_cascade
    AFTER DELETE ON stream_requests
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION stream_requests_cascade();
CREATE TRIGGER streams_cascade
    AFTER DELETE ON streams
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION streams_cascade();
CREATE TRIGGER records_cascade_stream_items
    AFTER DELETE ON records
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION records_cascade_stream_items();
