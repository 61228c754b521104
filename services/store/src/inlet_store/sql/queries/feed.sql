-- Read keys and the stream feed (inlet_store.feed, inlet_store.read_keys).

-- name: insert_read_key
INSERT INTO read_keys (id, stream_id, display_name, secret_hash)
VALUES (%(id)s, %(stream_id)s, %(display_name)s, %(secret_hash)s)
RETURNING id, display_name, create_time, revoke_time;

-- name: list_read_keys
SELECT id, display_name, create_time, revoke_time
  FROM read_keys
 WHERE stream_id = %(stream_id)s
   AND (%(before)s::timestamptz IS NULL OR create_time < %(before)s::timestamptz)
 ORDER BY create_time DESC, id
 LIMIT %(limit)s;

-- name: revoke_read_key
UPDATE read_keys SET revoke_time = coalesce(revoke_time, now())
 WHERE id = %(id)s AND stream_id = %(stream_id)s
RETURNING id, display_name, create_time, revoke_time;

-- name: read_key_auth
-- The key's stream and hash; the caller compares the hash in constant time.
SELECT k.secret_hash, k.stream_id, s.workspace_id, s.slug
  FROM read_keys k JOIN streams s ON s.id = k.stream_id
 WHERE k.id = %(id)s AND k.revoke_time IS NULL;

-- name: read_key_live
SELECT 1 AS live FROM read_keys WHERE id = %(id)s AND revoke_time IS NULL;

-- name: workspace_stream
SELECT id AS stream_id, workspace_id, slug
  FROM streams WHERE workspace_id = %(workspace_id)s AND slug = %(slug)s;

-- name: stream_items_page
-- One page in item-key order, and the feed's head in the same snapshot.
SELECT i.item_key, i.record_id, r.data, i.position, i.update_time,
       (SELECT h.position FROM stream_feed_heads h WHERE h.stream_id = %(stream_id)s) AS head
  FROM stream_items i JOIN records r ON r.id = i.record_id
 WHERE i.stream_id = %(stream_id)s
   AND (i.item_key, i.record_id::text) > (%(after_key)s, %(after_record)s)
 ORDER BY i.item_key, i.record_id::text
 LIMIT %(limit)s;

-- name: feed_head
SELECT coalesce((SELECT position FROM stream_feed_heads WHERE stream_id = %(stream_id)s), 0)
       AS head;

-- name: feed_oldest
-- The oldest change still kept (retention prunes the log's history); NULL: none.
SELECT min(position) AS oldest FROM stream_feed WHERE stream_id = %(stream_id)s;

-- name: feed_after
SELECT position, record_id, item_key, action, data, request_id, create_time
  FROM stream_feed
 WHERE stream_id = %(stream_id)s AND position > %(after)s
 ORDER BY position
 LIMIT %(limit)s;
