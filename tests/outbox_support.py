"""The outbox's events as the notifier takes them: a batch row (migration 0141) read as
its events, in order. In a query: f"SELECT type, data FROM {OUTBOX_EVENTS} ORDER BY seq, k"."""

from __future__ import annotations

OUTBOX_EVENTS = (
    "(SELECT o.seq, coalesce(x.k, 0) AS k, o.workspace_id, coalesce(x.type, o.type) AS type,"
    " coalesce(x.data, o.data) AS data FROM outbox_events o"
    " LEFT JOIN LATERAL ROWS FROM (json_to_recordset(o.events) AS (type text, data json))"
    " WITH ORDINALITY AS x(type, data, k) ON true) AS outbox"
)
