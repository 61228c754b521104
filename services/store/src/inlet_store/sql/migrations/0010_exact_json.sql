-- Values are stored as sent: jsonb rewrites a number's text (1e-7 becomes 0.0000001,
-- -0.0 becomes 0.0), json keeps it. The columns that hold what clients sent become json,
-- and merging a record's fields uses json_merge_exact, which keeps every value's text.

CREATE FUNCTION json_merge_exact(old json, new json) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(json_object_agg(s.key, s.value ORDER BY s.ord), '{}'::json)
    FROM (SELECT o.key, o.value, o.ord
            FROM json_each(old) WITH ORDINALITY AS o(key, value, ord)
           WHERE NOT EXISTS (SELECT 1 FROM json_each(new) AS n WHERE n.key = o.key)
          UNION ALL
          SELECT n.key, n.value, 1000000000 + n.ord
            FROM json_each(new) WITH ORDINALITY AS n(key, value, ord)) AS s
$$;

CREATE FUNCTION json_without_key(old json, gone text) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(json_object_agg(o.key, o.value ORDER BY o.ord), '{}'::json)
    FROM json_each(old) WITH ORDINALITY AS o(key, value, ord)
   WHERE o.key <> gone
$$;

ALTER TABLE records ALTER COLUMN data DROP DEFAULT;
ALTER TABLE records ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE records ALTER COLUMN data SET DEFAULT '{}'::json;
ALTER TABLE outbox_events ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE webhook_events ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE stream_requests ALTER COLUMN items TYPE json USING items::json;
