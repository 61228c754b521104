-- Pushes applied together (0082): the common push of a group-commit batch — a current
-- token and schema, no refusal, no related records, no references, keys no other push of
-- the batch shares, a match decision the unique index gives at once — is applied with one
-- set-based statement per table for all such pushes (one subtransaction in all, not one
-- per push). The rest, and every push of a set that met a concurrent writer, go one by
-- one through push_commit_one, in the same transaction, exactly as before.

-- One push as the set-based pass applies it.
CREATE TYPE push_together AS (
    n                 integer,     -- its place in the batch (1-based)
    token             text,        -- token hash, hex
    schema_version    text,
    endpoint_id       uuid,
    workspace_id      uuid,
    rate_limit        integer,
    rate_window       integer,
    type_id           uuid,
    vals              json,
    slugs             text[],
    keys              text[],
    missing_required  integer,
    idem              text,
    body_hash         bytea,
    ttl               integer,
    request_id        text,
    client_request_id text,
    traceparent       text,
    record_id         uuid,        -- the record it updates, or the id it creates
    matched_on        text[],
    created           boolean
);

-- The set-based pass: answers[n] is push n's answer, NULL for a push left to the one-by-one
-- path; checked maps each token whose schema version it found current (and locked) to it.
CREATE FUNCTION push_commit_together(pushes json, OUT answers json[], OUT checked jsonb)
LANGUAGE plpgsql AS $$
DECLARE
  rows push_together[];
  places integer[];
  applied json[];
  counts jsonb := '{}';  -- endpoint id → its window's count before this set
  kept integer;
  updates integer;
  keyed integer;
  ep record;
  counted integer;
BEGIN
  answers := array_fill(NULL::json, ARRAY[json_array_length(pushes)]);
  checked := '{}';
  -- The candidates, each push parsed once (json_to_record; the values stay json text).
  SELECT coalesce(array_agg(ROW(
           p.n, c.token_hash, c.schema_version, e.id, e.workspace_id, e.rate_limit,
           e.rate_window_seconds, rc.entity_type_id, rc."values",
           ARRAY(SELECT json_array_elements_text(rc.unique_fields)),
           ARRAY(SELECT json_array_elements_text(rc.key_values)),
           json_array_length(rc.missing_required), coalesce(c.idempotency_key, ''),
           decode(c.body_hash, 'hex'), c.ttl, c.request_id, coalesce(c.client_request_id, ''),
           coalesce(c.traceparent, nullif(current_setting('inlet.traceparent', true), '')),
           NULL, NULL, NULL)::push_together ORDER BY p.n), '{}')
    INTO rows
    FROM json_array_elements(pushes) WITH ORDINALITY AS p(push, n)
    CROSS JOIN LATERAL json_to_record(p.push) AS c(
           token_hash text, schema_version text, check_schema boolean, request_id text,
           traceparent text, client_request_id text, idempotency_key text, body_hash text,
           ttl integer, record json, related json, refusal json, key_refusal json)
    CROSS JOIN LATERAL json_to_record(c.record) AS rc(
           entity_type_id uuid, "values" json, unique_fields json, key_values json,
           missing_required json, "references" json)
    JOIN ingest_endpoints e ON e.token_hash = decode(c.token_hash, 'hex')
   WHERE e.enabled AND c.check_schema
     AND (c.refusal IS NULL OR json_typeof(c.refusal) = 'null')
     AND (c.key_refusal IS NULL OR json_typeof(c.key_refusal) = 'null')
     AND json_typeof(c.record) = 'object'
     AND json_array_length(c.related) = 0
     AND NOT EXISTS (SELECT 1 FROM json_object_keys(rc."references"));
  IF cardinality(rows) < 2 THEN
    RETURN;  -- nothing to gain over the one-by-one path
  END IF;
  -- The schema each endpoint's pushes were planned against, read and locked as
  -- push_commit_one does (FOR KEY SHARE holds the version until this transaction ends).
  FOR ep IN SELECT DISTINCT r.endpoint_id, r.token FROM unnest(rows) AS r ORDER BY 1 LOOP
    PERFORM 1 FROM entity_types t
     WHERE t.id = (SELECT e.entity_type_id FROM ingest_endpoints e WHERE e.id = ep.endpoint_id)
        OR t.id IN (SELECT rf.reference_entity_type_id FROM fields rf
                     JOIN ingest_endpoints e ON e.entity_type_id = rf.entity_type_id
                    WHERE e.id = ep.endpoint_id AND rf.type = 'reference')
     ORDER BY t.id FOR KEY SHARE;
    checked := checked || jsonb_build_object(ep.token, push_schema_version(ep.endpoint_id));
  END LOOP;
  -- Kept for the set: a current plan; no key (or Idempotency-Key) another push of the
  -- batch also has, so their order decides; no Idempotency-Key already held; a match
  -- decision the unique index gives at once — the one record the keys hit (update) or none
  -- (create, if nothing required is missing; keys hitting two records are a conflict);
  -- one push per updated record; room in the endpoint's window for all its pushes here.
  -- The rest are left to the one-by-one path, which answers each exactly.
  WITH batch_keys AS (
    SELECT json_build_array(r.type_id, k.slug, k.value)::text AS k
      FROM unnest(rows) AS r CROSS JOIN LATERAL unnest(r.slugs, r.keys) AS k(slug, value)
    UNION ALL
    SELECT json_build_array(r.token, r.idem)::text FROM unnest(rows) AS r WHERE r.idem <> ''
    UNION ALL
    SELECT json_build_array(pl.planned ->> 'entity_type_id', ok.slug, ok.value)::text
      FROM json_array_elements(pushes) WITH ORDINALITY AS o(push, n)
      CROSS JOIN LATERAL (
        SELECT o.push -> 'record' AS planned
        UNION ALL
        SELECT x.value -> 'planned' FROM json_array_elements(o.push -> 'related') AS x
      ) AS pl
      CROSS JOIN LATERAL unnest(
        ARRAY(SELECT json_array_elements_text(pl.planned -> 'unique_fields')),
        ARRAY(SELECT json_array_elements_text(pl.planned -> 'key_values'))) AS ok(slug, value)
     WHERE o.n <> ALL (ARRAY(SELECT r.n FROM unnest(rows) AS r))
       AND json_typeof(pl.planned) = 'object'
    UNION ALL
    SELECT json_build_array(o.push ->> 'token_hash', o.push ->> 'idempotency_key')::text
      FROM json_array_elements(pushes) WITH ORDINALITY AS o(push, n)
     WHERE o.n <> ALL (ARRAY(SELECT r.n FROM unnest(rows) AS r))
       AND coalesce(o.push ->> 'idempotency_key', '') <> ''
  ), shared AS (
    SELECT b.k FROM batch_keys AS b GROUP BY b.k HAVING count(*) > 1
  ), decided AS (
    SELECT r.*, d.hit_slugs, d.ids
      FROM unnest(rows) AS r
      CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(k.slug ORDER BY k.ord), '{}') AS hit_slugs,
               coalesce(array_agg(h.record_id ORDER BY k.ord), '{}') AS ids
          FROM unnest(r.slugs, r.keys) WITH ORDINALITY AS k(slug, value, ord)
          JOIN LATERAL (SELECT rk.record_id FROM record_keys rk
                         WHERE rk.workspace_id = r.workspace_id
                           AND rk.entity_type_id = r.type_id
                           AND rk.field_slug = k.slug AND rk.value = k.value
                        OFFSET 0) AS h ON true
      ) AS d
     WHERE r.schema_version = checked ->> r.token
       AND NOT EXISTS (SELECT 1 FROM unnest(r.slugs, r.keys) AS k(slug, value)
                        JOIN shared AS s
                          ON s.k = json_build_array(r.type_id, k.slug, k.value)::text)
       AND (r.idem = '' OR (
             NOT EXISTS (SELECT 1 FROM shared AS s
                          WHERE s.k = json_build_array(r.token, r.idem)::text)
             AND NOT EXISTS (SELECT 1 FROM endpoint_idempotency_keys k
                              WHERE k.endpoint_id = r.endpoint_id
                                AND k.idempotency_key = r.idem AND k.expire_time > now())))
       AND (SELECT count(DISTINCT i) FROM unnest(d.ids) AS i) <= 1
       AND (cardinality(d.ids) > 0 OR r.missing_required = 0)
  ), single AS (
    SELECT d.* FROM (
      SELECT d.*, d.n = min(d.n) OVER (PARTITION BY d.ids[1]) AS first_of_record
        FROM decided AS d) AS d
     WHERE d.ids[1] IS NULL OR d.first_of_record
  ), roomy AS (
    SELECT s.*, count(*) OVER (PARTITION BY s.endpoint_id) AS pushes FROM single AS s
  )
  SELECT coalesce(array_agg(ROW(
           r.n, r.token, r.schema_version, r.endpoint_id, r.workspace_id, r.rate_limit,
           r.rate_window, r.type_id, r.vals, r.slugs, r.keys, r.missing_required, r.idem,
           r.body_hash, r.ttl, r.request_id, r.client_request_id, r.traceparent,
           coalesce(r.ids[1], gen_random_uuid()), r.hit_slugs, r.ids[1] IS NULL
         )::push_together ORDER BY r.n), '{}')
    INTO rows
    FROM roomy AS r
   WHERE r.pushes + coalesce(
           (SELECT w.hits FROM rate_windows w
             WHERE w.subject = 'endpoint:' || r.endpoint_id
               AND w.window_start = to_timestamp(floor(extract(epoch FROM now()) / r.rate_window)
                                                 * r.rate_window)), 0)
         <= r.rate_limit;
  IF cardinality(rows) < 2 THEN
    RETURN;
  END IF;
  SELECT count(*) FILTER (WHERE NOT r.created), count(*) FILTER (WHERE r.idem <> '')
    INTO updates, keyed FROM unnest(rows) AS r;
  BEGIN
    -- Counted: each endpoint's window row written once, under its row lock; the count is
    -- kept for push_commit_one (pushes of this endpoint left to it) and written back by
    -- push_commit as it would be for its own pushes.
    FOR ep IN SELECT r.endpoint_id, min(r.rate_limit) AS rate_limit,
                     min(r.rate_window) AS rate_window, count(*)::integer AS pushes
                FROM unnest(rows) AS r GROUP BY r.endpoint_id ORDER BY r.endpoint_id LOOP
      INSERT INTO rate_windows AS rw (subject, window_start, hits)
      VALUES ('endpoint:' || ep.endpoint_id,
              to_timestamp(floor(extract(epoch FROM now()) / ep.rate_window) * ep.rate_window),
              ep.pushes)
      ON CONFLICT (subject, window_start) DO UPDATE SET hits = rw.hits + ep.pushes
      RETURNING rw.hits INTO counted;
      IF counted > ep.rate_limit THEN
        RAISE EXCEPTION 'push_together_fallback';  -- another replica's pushes came between
      END IF;
      IF counted = ep.pushes THEN
        -- A new window: the endpoint's older ones are dead weight.
        DELETE FROM rate_windows
         WHERE subject = 'endpoint:' || ep.endpoint_id
           AND window_start < now() - make_interval(secs => ep.rate_window);
      END IF;
      PERFORM set_config('inlet.hits_endpoints',
                         concat_ws(',', nullif(current_setting('inlet.hits_endpoints', true), ''),
                                   ep.endpoint_id::text), true);
      PERFORM set_config('inlet.hits_' || replace(ep.endpoint_id::text, '-', ''),
                         counted || ':' || counted, true);
      counts := counts || jsonb_build_object(ep.endpoint_id, counted - ep.pushes);
    END LOOP;
    -- Idempotency-Keys first, so a concurrent push with the same key waits for our outcome.
    IF keyed > 0 THEN
    INSERT INTO endpoint_idempotency_keys AS ik
           (endpoint_id, idempotency_key, body_hash, request_id, expire_time)
    SELECT r.endpoint_id, r.idem, r.body_hash, r.request_id,
           now() + make_interval(secs => r.ttl)
      FROM unnest(rows) AS r WHERE r.idem <> '' ORDER BY r.endpoint_id, r.idem
    ON CONFLICT (endpoint_id, idempotency_key) DO UPDATE
       SET body_hash = excluded.body_hash, request_id = excluded.request_id, response = NULL,
           create_time = now(), expire_time = excluded.expire_time
     WHERE ik.expire_time <= now();
    GET DIAGNOSTICS kept = ROW_COUNT;
    IF kept < keyed THEN
      RAISE EXCEPTION 'push_together_fallback';  -- a concurrent push took a key
    END IF;
    END IF;
    IF updates > 0 THEN
    PERFORM 1 FROM records x
     WHERE x.id IN (SELECT r.record_id FROM unnest(rows) AS r WHERE NOT r.created)
     ORDER BY x.id FOR UPDATE;
    GET DIAGNOSTICS kept = ROW_COUNT;
    IF kept < updates THEN
      RAISE EXCEPTION 'push_together_fallback';  -- a matched record was deleted meanwhile
    END IF;
    UPDATE records x SET data = json_merge_exact(x.data, r.vals), update_time = now()
      FROM unnest(rows) AS r
     WHERE NOT r.created AND x.id = r.record_id;
    -- Unique values that changed (or were cleared) move the record's keys.
    DELETE FROM record_keys rk
     USING unnest(rows) AS r
     WHERE NOT r.created AND rk.record_id = r.record_id
       AND (rk.field_slug IN (SELECT k.slug FROM unnest(r.slugs) AS k(slug)
                               WHERE k.slug <> ALL (r.matched_on))
            OR rk.field_slug IN (SELECT c.key FROM json_each(r.vals) AS c
                                  WHERE json_typeof(c.value) = 'null'
                                    AND c.key <> ALL (r.slugs)));
    END IF;
    IF updates < cardinality(rows) THEN
      INSERT INTO records (id, workspace_id, entity_type_id, data)
      SELECT r.record_id, r.workspace_id, r.type_id, json_strip_nulls(r.vals)
        FROM unnest(rows) AS r WHERE r.created ORDER BY r.n;
    END IF;
    -- The primary key of record_keys decides a race: a concurrent writer's key makes this
    -- insert wait for its commit, then skip; then the whole set goes the one-by-one way.
    INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
    SELECT r.workspace_id, r.type_id, k.slug, k.value, r.record_id
      FROM unnest(rows) AS r CROSS JOIN LATERAL unnest(r.slugs, r.keys) AS k(slug, value)
     WHERE k.slug <> ALL (coalesce(r.matched_on, '{}'))
     ORDER BY r.n
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS kept = ROW_COUNT;
    IF kept < (SELECT count(*) FROM unnest(rows) AS r
                 CROSS JOIN LATERAL unnest(r.slugs) AS k(slug)
                WHERE k.slug <> ALL (coalesce(r.matched_on, '{}'))) THEN
      RAISE EXCEPTION 'push_together_fallback';
    END IF;
    WITH numbered AS (
      SELECT r.*, (counts ->> r.endpoint_id::text)::integer
                  + (row_number() OVER (PARTITION BY r.endpoint_id ORDER BY r.n))::integer
                  AS count_with_it
        FROM unnest(rows) AS r
    ), done AS (
      SELECT r.*,
             json_build_object('limit', r.rate_limit,
                               'remaining', greatest(0, r.rate_limit - r.count_with_it),
                               'reset_seconds', greatest(1, ceil(
                                   floor(extract(epoch FROM now()) / r.rate_window) * r.rate_window
                                   + r.rate_window - extract(epoch FROM clock_timestamp())))::integer,
                               'window_seconds', r.rate_window) AS rate,
             CASE WHEN r.created THEN json_build_object('id', r.record_id, 'action', 'created')
                  ELSE json_build_object('id', r.record_id, 'action', 'updated',
                                         'matched_on', r.matched_on) END AS outcome,
             json_build_object('type', 'ingest_endpoint', 'id', r.endpoint_id,
                               'request_id', r.request_id) AS source
        FROM numbered AS r
    ), summed AS (
      SELECT d.*, json_build_object('record', d.outcome, 'related', '{}'::json) AS summary
        FROM done AS d
    ), logged AS (
      INSERT INTO activity_entries (endpoint_id, request_id, client_request_id, status_code,
                                    outcome, record_ids, trace_id)
      SELECT s.endpoint_id, s.request_id, s.client_request_id, 200, s.summary,
             ARRAY[s.record_id], nullif(split_part(s.traceparent, '-', 2), '')
        FROM summed AS s ORDER BY s.n
    ), kept_answers AS (
      UPDATE endpoint_idempotency_keys k SET response = s.summary::jsonb
        FROM summed AS s
       WHERE s.idem <> '' AND k.endpoint_id = s.endpoint_id AND k.idempotency_key = s.idem
    ), evented AS (
      -- Outbox events commit (or roll back) with the change they describe.
      INSERT INTO outbox_events (workspace_id, type, data, traceparent)
      SELECT s.workspace_id, e ->> 'type', e -> 'data', s.traceparent
        FROM summed AS s,
             LATERAL push_record_event(json_build_object('entity_type_id', s.type_id), s.vals,
                                       s.outcome, s.source) AS e
       ORDER BY s.n
    )
    SELECT array_agg(s.n ORDER BY s.n),
           array_agg(json_build_object('status', 'applied', 'rate', s.rate,
                                       'summary', s.summary) ORDER BY s.n)
      INTO places, applied
      FROM summed AS s;
  EXCEPTION
    WHEN raise_exception THEN
      IF SQLERRM <> 'push_together_fallback' THEN
        RAISE;
      END IF;
      RETURN;  -- every push the one-by-one way (this block's writes are undone)
    WHEN unique_violation OR deadlock_detected OR serialization_failure THEN
      RETURN;
  END;
  FOR i IN 1..cardinality(places) LOOP
    answers[places[i]] := applied[i];
  END LOOP;
END
$$;

-- A batch of pushes in one transaction (group commit): each push's answer, in order. The
-- common ones are applied together first (push_commit_together); the rest one by one.
CREATE OR REPLACE FUNCTION push_commit(pushes json, attempts integer) RETURNS SETOF json
LANGUAGE plpgsql AS $$
DECLARE
  push json;
  place integer;
  answer json;
  token text;
  together record;
  checked jsonb;
  ep uuid;
  counted text;
BEGIN
  together := push_commit_together(pushes);
  checked := together.checked;
  FOR push, place IN SELECT p.value, p.n FROM json_array_elements(pushes) WITH ORDINALITY AS p(value, n)
                      ORDER BY p.n LOOP
    answer := together.answers[place];
    IF answer IS NULL THEN
      token := push ->> 'token_hash';
      -- Each push's rows keep its own trace (column defaults read inlet.traceparent).
      IF push ->> 'traceparent' IS NOT NULL THEN
        PERFORM set_config('inlet.traceparent', push ->> 'traceparent', true);
      END IF;
      answer := push_commit_one(push, attempts, checked ->> token);
      -- Past the version check, the version held (and its locks are this transaction's).
      IF (push ->> 'check_schema')::boolean
         AND answer ->> 'status' NOT IN ('stale', 'not_found') THEN
        checked := checked || jsonb_build_object(token, push ->> 'schema_version');
      END IF;
    END IF;
    RETURN NEXT answer;
  END LOOP;
  -- The hits counted in memory past each endpoint's first, written once.
  FOR ep IN SELECT k::uuid
               FROM unnest(string_to_array(
                      nullif(current_setting('inlet.hits_endpoints', true), ''), ',')) AS k LOOP
    counted := current_setting('inlet.hits_' || replace(ep::text, '-', ''), true);
    IF split_part(counted, ':', 1) <> split_part(counted, ':', 2) THEN
      UPDATE rate_windows SET hits = split_part(counted, ':', 1)::integer
       WHERE subject = 'endpoint:' || ep
         AND window_start = (SELECT to_timestamp(floor(extract(epoch FROM now())
                                                       / e.rate_window_seconds)
                                                 * e.rate_window_seconds)
                               FROM ingest_endpoints e WHERE e.id = ep);
    END IF;
    PERFORM set_config('inlet.hits_' || replace(ep::text, '-', ''), '', true);
  END LOOP;
  PERFORM set_config('inlet.hits_endpoints', '', true);
END
$$;
