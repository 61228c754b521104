-- A push's rate-limit hit (0080): the endpoint's window row is upserted by the first push
-- of each endpoint in a group-commit batch; the others count in memory, under the row
-- lock the first took, and push_commit writes the count back once at the end. (Was: one
-- upsert of the same row per push, each leaving a row version behind.)

CREATE OR REPLACE FUNCTION push_commit_one(push json, attempts integer, checked text) RETURNS json
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
  counted text;
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
  -- The endpoint's window row is written once per transaction (push_commit writes the
  -- count back at its end): its first push here takes the row's lock with the upsert, so
  -- the count kept in `inlet.hits_<endpoint>` is the row's until the commit. now() is the
  -- transaction's, so every push of it falls in the same window.
  counted := current_setting('inlet.hits_' || replace(ep.id::text, '-', ''), true);
  IF coalesce(counted, '') = '' THEN
    WITH w AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / ep.rate_window_seconds)
                                   * ep.rate_window_seconds) AS start)
    INSERT INTO rate_windows AS rw (subject, window_start, hits)
    SELECT 'endpoint:' || ep.id, w.start, 1 FROM w
    ON CONFLICT (subject, window_start) DO UPDATE SET hits = rw.hits + 1
    RETURNING rw.hits,
              greatest(1, ceil(extract(epoch FROM rw.window_start) + ep.rate_window_seconds
                               - extract(epoch FROM clock_timestamp())))::integer
                AS reset_seconds
         INTO hit;
    -- push_commit writes back the count of each endpoint listed here.
    PERFORM set_config('inlet.hits_endpoints',
                       concat_ws(',', nullif(current_setting('inlet.hits_endpoints', true), ''),
                                 ep.id::text), true);
    IF hit.hits = 1 THEN
      -- A new window: the endpoint's older ones are dead weight.
      DELETE FROM rate_windows
       WHERE subject = 'endpoint:' || ep.id
         AND window_start < now() - make_interval(secs => ep.rate_window_seconds);
    END IF;
  ELSE
    SELECT split_part(counted, ':', 1)::integer + 1 AS hits,
           greatest(1, ceil(floor(extract(epoch FROM now()) / ep.rate_window_seconds)
                            * ep.rate_window_seconds + ep.rate_window_seconds
                            - extract(epoch FROM clock_timestamp())))::integer AS reset_seconds
      INTO hit;
  END IF;
  -- "<hits now>:<hits written>"
  PERFORM set_config('inlet.hits_' || replace(ep.id::text, '-', ''),
                     hit.hits || ':' || coalesce(nullif(split_part(counted, ':', 2), ''),
                                                 hit.hits::text), true);
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

CREATE OR REPLACE FUNCTION push_commit(pushes json, attempts integer) RETURNS SETOF json
LANGUAGE plpgsql AS $$
DECLARE
  push json;
  answer json;
  token text;
  checked jsonb := '{}';
  ep uuid;
  counted text;
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
