-- Endpoint push in one call (0021): the credential, rate limit, Idempotency-Key, schema
-- version and the matcher's plan go to push_commit as one json batch; each push is
-- applied in its own subtransaction, so one push's conflict never touches another's.

-- The version of what a push is planned against: the endpoint's region and target type,
-- and every type the target references, with their fields. Changes whenever any of it does.
-- (PL/pgSQL functions here and below: their plans are cached across calls, where a SQL
-- function's would be made again on every call.)
CREATE FUNCTION push_schema_version(endpoint uuid) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT md5(e.default_region || '|' || e.entity_type_id::text || '|' || coalesce(string_agg(
           concat_ws(':', t.id, t.slug, f.slug, f.type, f.is_unique, f.is_required,
                     f.reference_entity_type_id),
           ',' ORDER BY t.id, f.position), ''))
    FROM ingest_endpoints e
    JOIN entity_types t
      ON t.id = e.entity_type_id
      OR t.id IN (SELECT rf.reference_entity_type_id FROM fields rf
                   WHERE rf.entity_type_id = e.entity_type_id AND rf.type = 'reference')
    LEFT JOIN fields f ON f.entity_type_id = t.id
   WHERE e.id = endpoint
   GROUP BY e.default_region, e.entity_type_id);
END
$$;

-- One activity-log entry of a push, with the client's own request id.
CREATE FUNCTION push_log(endpoint uuid, push json, status integer, outcome json,
                         written uuid[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO activity_entries
         (endpoint_id, request_id, client_request_id, status_code, outcome, record_ids)
  VALUES (endpoint, push ->> 'request_id', coalesce(push ->> 'client_request_id', ''), status,
          outcome, written);
END
$$;

-- The match decision for one planned entity, against the unique index (record_keys):
-- the record its keys (slugs[i] = keys[i]) hit (none: create), or a conflict when they
-- hit different records. Raises push_failure (detail: json) for a conflict; writes nothing.
CREATE FUNCTION decide_matches(ws uuid, type_id uuid, slugs text[], keys text[], entity text,
                               OUT record_id uuid, OUT matched_on text[])
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  hit uuid;
BEGIN
  -- One primary-key probe per key: OFFSET 0 keeps the planner from turning the lateral
  -- subquery into a join over a scan of record_keys.
  SELECT coalesce(array_agg(w.slug ORDER BY w.ord), '{}'),
         coalesce(array_agg(k.id ORDER BY w.ord), '{}')
    INTO matched_on, ids
    FROM unnest(slugs, keys) WITH ORDINALITY AS w(slug, value, ord)
    JOIN LATERAL (SELECT r.record_id AS id FROM record_keys r
                   WHERE r.workspace_id = ws AND r.entity_type_id = type_id
                     AND r.field_slug = w.slug AND r.value = w.value
                  OFFSET 0) AS k ON true;
  record_id := ids[1];
  FOREACH hit IN ARRAY ids LOOP
    IF hit <> record_id THEN
      RAISE EXCEPTION 'push_failure' USING DETAIL = json_build_object(
        'failure', 'conflict', 'entity', entity,
        'matches', (SELECT json_agg(json_build_array(m.slug, keys[array_position(slugs, m.slug)],
                                                     json_build_array(m.id)) ORDER BY m.n)
                      FROM unnest(matched_on, ids) WITH ORDINALITY AS m(slug, id, n)))::text;
    END IF;
  END LOOP;
END
$$;

-- Match and write one planned entity: create, or update the record its keys hit and move
-- its keys. Raises push_failure (conflict, missing required field, dangling reference) or
-- push_race (a concurrent writer won a key or deleted the record: retry); answers
-- {id, action, matched_on}.
CREATE FUNCTION push_upsert(ws uuid, planned json, vals json, entity text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  type_id uuid := (planned ->> 'entity_type_id')::uuid;
  dangling json;
  decided record;
  rid uuid;
  slugs text[] := ARRAY(SELECT json_array_elements_text(planned -> 'unique_fields'));
  keys text[] := ARRAY(SELECT json_array_elements_text(planned -> 'key_values'));
  new_slugs text[];
  new_values text[];
  moved text[];
  written integer;
BEGIN
  SELECT json_agg(json_build_array(r.slug, vals ->> r.slug) ORDER BY r.slug) INTO dangling
    FROM json_each_text(planned -> 'references') AS r(slug, type_text)
   WHERE vals ->> r.slug IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM records x
                      WHERE x.id = (vals ->> r.slug)::uuid
                        AND x.entity_type_id = r.type_text::uuid);
  IF dangling IS NOT NULL THEN
    RAISE EXCEPTION 'push_failure' USING DETAIL = json_build_object(
      'failure', 'dangling', 'entity', entity, 'references', dangling)::text;
  END IF;
  SELECT * INTO decided FROM decide_matches(ws, type_id, slugs, keys, entity);
  SELECT coalesce(array_agg(k.slug ORDER BY k.ord), '{}'),
         coalesce(array_agg(k.value ORDER BY k.ord), '{}')
    INTO new_slugs, new_values
    FROM unnest(slugs, keys) WITH ORDINALITY AS k(slug, value, ord)
   WHERE k.slug <> ALL (decided.matched_on);
  IF decided.record_id IS NOT NULL THEN
    rid := decided.record_id;
    PERFORM 1 FROM records WHERE id = rid FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'push_race' USING DETAIL = 'matched record was deleted concurrently';
    END IF;
    UPDATE records SET data = json_merge_exact(data, vals), update_time = now() WHERE id = rid;
    -- Unique values that changed (or were cleared) move the record's keys.
    moved := new_slugs || ARRAY(
      SELECT c.key FROM json_each(vals) AS c
       WHERE json_typeof(c.value) = 'null'
         AND c.key <> ALL (slugs));
    IF cardinality(moved) > 0 THEN
      DELETE FROM record_keys WHERE record_id = rid AND field_slug = ANY (moved);
    END IF;
  ELSE
    IF json_array_length(planned -> 'missing_required') > 0 THEN
      RAISE EXCEPTION 'push_failure' USING DETAIL = json_build_object(
        'failure', 'missing_required', 'entity', entity,
        'slugs', planned -> 'missing_required')::text;
    END IF;
    INSERT INTO records (workspace_id, entity_type_id, data)
    VALUES (ws, type_id, json_strip_nulls(vals))
    RETURNING id INTO rid;
  END IF;
  IF cardinality(new_slugs) > 0 THEN
    -- The primary key of record_keys decides a race: a concurrent writer's key makes this
    -- insert wait for its commit, then skip; the push is then decided again.
    INSERT INTO record_keys (workspace_id, entity_type_id, field_slug, value, record_id)
    SELECT ws, type_id, k.slug, k.value, rid FROM unnest(new_slugs, new_values) AS k(slug, value)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written < cardinality(new_slugs) THEN
      RAISE EXCEPTION 'push_race' USING DETAIL = 'another request wrote the same unique value';
    END IF;
  END IF;
  IF decided.record_id IS NULL THEN
    RETURN json_build_object('id', rid, 'action', 'created');
  ELSIF cardinality(decided.matched_on) > 0 THEN
    RETURN json_build_object('id', rid, 'action', 'updated', 'matched_on', decided.matched_on);
  END IF;
  RETURN json_build_object('id', rid, 'action', 'updated');
END
$$;

-- Apply one admitted push: take its Idempotency-Key (answers {taken} when a committed push
-- holds it), write its related records, then the record pointing at them, the activity
-- entry, the stored answer and the outbox events; answers {summary}.
CREATE FUNCTION push_apply(endpoint uuid, ws uuid, push json) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  idem text := coalesce(push ->> 'idempotency_key', '');
  source json := json_build_object('type', 'ingest_endpoint', 'id', endpoint,
                                   'request_id', push ->> 'request_id');
  rel record;
  outcome json;
  vals json := push -> 'record' -> 'values';
  slugs text[] := '{}';
  outcomes json[] := '{}';
  written uuid[] := '{}';
  events json[] := '{}';
  summary json;
BEGIN
  IF idem <> '' THEN
    -- First, so a concurrent push with this key waits here for our outcome.
    INSERT INTO endpoint_idempotency_keys AS ik
           (endpoint_id, idempotency_key, body_hash, request_id, expire_time)
    VALUES (endpoint, idem, decode(push ->> 'body_hash', 'hex'), push ->> 'request_id',
            now() + make_interval(secs => (push ->> 'ttl')::integer))
    ON CONFLICT (endpoint_id, idempotency_key) DO UPDATE
       SET body_hash = excluded.body_hash, request_id = excluded.request_id, response = NULL,
           create_time = now(), expire_time = excluded.expire_time
     WHERE ik.expire_time <= now();
    IF NOT FOUND THEN
      RETURN json_build_object('taken', true);
    END IF;
  END IF;
  FOR rel IN SELECT r.value ->> 'slug' AS slug, r.value -> 'planned' AS planned
               FROM json_array_elements(push -> 'related') WITH ORDINALITY AS r(value, ord)
              ORDER BY r.ord LOOP
    outcome := push_upsert(ws, rel.planned, rel.planned -> 'values', 'related.' || rel.slug);
    slugs := slugs || rel.slug;
    outcomes := outcomes || outcome;
    written := written || (outcome ->> 'id')::uuid;
    events := events || push_record_event(rel.planned, rel.planned -> 'values', outcome, source);
    vals := json_merge_exact(vals, json_build_object(rel.slug, outcome ->> 'id'));
  END LOOP;
  outcome := push_upsert(ws, push -> 'record', vals, 'record');
  events := events || push_record_event(push -> 'record', vals, outcome, source);
  summary := json_build_object(
    'record', outcome,
    'related', (SELECT coalesce(json_object_agg(x.slug, x.outcome ORDER BY x.n), '{}')
                  FROM unnest(slugs, outcomes) WITH ORDINALITY AS x(slug, outcome, n)));
  PERFORM push_log(endpoint, push, 200, summary, ((outcome ->> 'id')::uuid) || written);
  IF idem <> '' THEN
    UPDATE endpoint_idempotency_keys SET response = summary::jsonb
     WHERE endpoint_id = endpoint AND idempotency_key = idem;
  END IF;
  -- Outbox events commit (or roll back) with the change they describe.
  INSERT INTO outbox_events (workspace_id, type, data)
  SELECT ws, e.value ->> 'type', e.value -> 'data' FROM unnest(events) WITH ORDINALITY AS e(value, n)
   ORDER BY e.n;
  RETURN json_build_object('summary', summary);
END
$$;

-- record.created or record.updated for one written record.
CREATE FUNCTION push_record_event(planned json, vals json, outcome json, source json)
RETURNS json LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN json_build_object(
    'type', CASE WHEN outcome ->> 'action' = 'created' THEN 'record.created'
                 ELSE 'record.updated' END,
    'data', json_build_object(
      'request_id', source ->> 'request_id', 'id', outcome ->> 'id',
      'entity_type_id', planned ->> 'entity_type_id', 'fields', json_strip_nulls(vals),
      'matched_on', coalesce(outcome -> 'matched_on', '[]'::json), 'source', source));
END
$$;

-- One push: resolve its token (a rotated-out one inside its grace period too); answer
-- stale, having written nothing, when it was planned against another schema version;
-- count it against the endpoint's rate limit; refuse or replay its Idempotency-Key; log
-- the matcher's refusal; else apply it in a subtransaction of its own, deciding again
-- when a concurrent writer won a key. Refusals are logged here, in the same transaction.
-- `checked`: the version this transaction already found current for this token (and
-- holds the locks of), so it is not looked up again.
CREATE FUNCTION push_commit_one(push json, attempts integer, checked text) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  th bytea := decode(push ->> 'token_hash', 'hex');
  idem text := coalesce(push ->> 'idempotency_key', '');
  ep record;
  hit record;
  rate json;
  held record;
  refusal json;
  applied json;
  message text;
  detail text;
BEGIN
  SELECT e.id, e.workspace_id, e.entity_type_id, e.enabled, e.rate_limit, e.rate_window_seconds
    INTO ep FROM ingest_endpoints e WHERE e.token_hash = th;
  IF NOT FOUND THEN
    SELECT e.id, e.workspace_id, e.entity_type_id, e.enabled, e.rate_limit,
           e.rate_window_seconds
      INTO ep FROM ingest_endpoints e
     WHERE e.previous_token_hash = th AND e.previous_token_expire_time > now();
    IF NOT FOUND THEN
      RETURN json_build_object('status', 'not_found');
    END IF;
    -- The activity log marks this request's entry as one on the previous token.
    INSERT INTO endpoint_grace_uses (endpoint_id, request_id)
    VALUES (ep.id, push ->> 'request_id') ON CONFLICT DO NOTHING;
  END IF;
  IF NOT ep.enabled THEN
    -- Answered like an unknown token, but logged: the owner sees someone still pushes.
    PERFORM push_log(ep.id, push, 404, json_build_object('error', json_build_object(
      'code', 'ENDPOINT_DISABLED', 'message', 'endpoint is disabled')));
    RETURN json_build_object('status', 'not_found');
  END IF;
  IF (push ->> 'check_schema')::boolean
     AND checked IS DISTINCT FROM push ->> 'schema_version' THEN
    -- FOR KEY SHARE conflicts with the FOR UPDATE a change of fields takes: the version
    -- read next (a new snapshot, after any wait) holds until this transaction commits.
    PERFORM 1 FROM entity_types t
     WHERE t.id = ep.entity_type_id
        OR t.id IN (SELECT rf.reference_entity_type_id FROM fields rf
                     WHERE rf.entity_type_id = ep.entity_type_id AND rf.type = 'reference')
     ORDER BY t.id FOR KEY SHARE;
    IF push_schema_version(ep.id) IS DISTINCT FROM push ->> 'schema_version' THEN
      RETURN json_build_object('status', 'stale');
    END IF;
  END IF;
  WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / ep.rate_window_seconds)
                                 * ep.rate_window_seconds) AS start)
  INSERT INTO rate_windows AS rw (subject, window_start, hits)
  SELECT 'endpoint:' || ep.id, w.start, 1 FROM w
  ON CONFLICT (subject, window_start) DO UPDATE SET hits = rw.hits + 1
  RETURNING rw.hits,
            greatest(1, ceil(extract(epoch FROM rw.window_start) + ep.rate_window_seconds
                             - extract(epoch FROM clock_timestamp())))::integer AS reset_seconds
       INTO hit;
  IF hit.hits = 1 THEN
    -- A new window: the endpoint's older ones are dead weight.
    DELETE FROM rate_windows
     WHERE subject = 'endpoint:' || ep.id
       AND window_start < now() - make_interval(secs => ep.rate_window_seconds);
  END IF;
  rate := json_build_object('limit', ep.rate_limit,
                            'remaining', greatest(0, ep.rate_limit - hit.hits),
                            'reset_seconds', hit.reset_seconds,
                            'window_seconds', ep.rate_window_seconds);
  IF hit.hits > ep.rate_limit THEN
    -- Logged without an ingest.failed event, so a client hammering past its limit does
    -- not also flood the webhooks.
    PERFORM push_log(ep.id, push, 429, json_build_object('error', json_build_object(
      'code', 'RATE_LIMITED',
      'message', format('rate limit of %s requests per %ss reached; retry after %ss',
                        ep.rate_limit, ep.rate_window_seconds, hit.reset_seconds))));
    RETURN json_build_object('status', 'rate_limited', 'rate', rate);
  END IF;
  refusal := push -> 'key_refusal';
  IF json_typeof(refusal) = 'object' THEN
    PERFORM push_log(ep.id, push, (refusal ->> 'status')::integer, refusal -> 'outcome');
    RETURN json_build_object('status', 'key_invalid', 'rate', rate);
  END IF;
  FOR attempt IN 1..attempts LOOP
    IF idem <> '' THEN
      SELECT k.body_hash, k.request_id, k.response INTO held
        FROM endpoint_idempotency_keys k
       WHERE k.endpoint_id = ep.id AND k.idempotency_key = idem
         AND k.expire_time > now() AND k.response IS NOT NULL;
      IF FOUND THEN
        IF held.body_hash <> decode(push ->> 'body_hash', 'hex') THEN
          refusal := push -> 'reuse_refusal';
          PERFORM push_log(ep.id, push, (refusal ->> 'status')::integer, refusal -> 'outcome');
          RETURN json_build_object('status', 'key_reused', 'rate', rate);
        END IF;
        PERFORM push_log(ep.id, push, 200,
                         (held.response || jsonb_build_object('replay_of', held.request_id))::json);
        RETURN json_build_object('status', 'replayed', 'rate', rate,
                                 'summary', held.response, 'replay_of', held.request_id);
      END IF;
    END IF;
    refusal := push -> 'refusal';
    IF json_typeof(refusal) = 'object' THEN
      PERFORM push_log(ep.id, push, (refusal ->> 'status')::integer, refusal -> 'outcome');
      INSERT INTO outbox_events (workspace_id, type, data)
      VALUES (ep.workspace_id, 'ingest.failed', json_build_object(
        'request_id', push ->> 'request_id',
        'source', json_build_object('type', 'ingest_endpoint', 'id', ep.id,
                                    'request_id', push ->> 'request_id'),
        'status_code', (refusal ->> 'status')::integer, 'outcome', refusal -> 'outcome'));
      RETURN json_build_object('status', 'refused', 'rate', rate);
    END IF;
    BEGIN
      applied := push_apply(ep.id, ep.workspace_id, push);
      IF applied ->> 'summary' IS NOT NULL THEN
        RETURN json_build_object('status', 'applied', 'rate', rate,
                                 'summary', applied -> 'summary');
      END IF;
      -- The key is held by a committed push: its answer is replayed on the next turn.
    EXCEPTION
      WHEN raise_exception THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
        IF message = 'push_failure' THEN
          RETURN json_build_object('status', 'failed', 'rate', rate, 'failure', detail::json,
                                   'endpoint_id', ep.id, 'workspace_id', ep.workspace_id);
        ELSIF message <> 'push_race' THEN
          RAISE;
        END IF;
      WHEN unique_violation OR deadlock_detected OR serialization_failure THEN
        NULL;  -- lost a race: decided again
    END;
  END LOOP;
  RETURN json_build_object('status', 'failed', 'rate', rate,
                           'failure', json_build_object('failure', 'race'),
                           'endpoint_id', ep.id, 'workspace_id', ep.workspace_id);
END
$$;

-- A batch of pushes in one transaction (group commit): each push's answer, in order.
CREATE FUNCTION push_commit(pushes json, attempts integer) RETURNS SETOF json
LANGUAGE plpgsql AS $$
DECLARE
  push json;
  answer json;
  token text;
  checked jsonb := '{}';
BEGIN
  FOR push IN SELECT p.value FROM json_array_elements(pushes) WITH ORDINALITY AS p(value, n)
               ORDER BY p.n LOOP
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
    RETURN NEXT answer;
  END LOOP;
END
$$;
