"""A push transfer's webhook events for a chunk: an error per failed item, its data, completion."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from inlet_store import outbox
from inlet_store import repository as repo
from inlet_store.transfer_items import (
    COMPLETED,
    DATA,
    ERROR,
    TRANSFER_DATA,
    ItemResult,
    TransferContext,
)

log = logging.getLogger(__name__)


async def transfer_events(
    conn: repo.Conn,
    context: TransferContext,
    results: list[ItemResult],
    counts: dict[str, Any],
    finish: bool,
) -> None:
    """This chunk's webhook events, in the order they are to arrive: an error per failed
    item, the data of the applied ones, and (finishing) the completion."""
    if not context.signer_id:
        if context.webhooks:
            log.warning("session has no signing endpoint: webhooks not sent")
        return
    errors = counts["failed"] > 0
    base = {
        "success": True,
        "transfer_id": context.id,
        "session_id": context.session_id,
        "endgrate": {"endgrate_type": context.endgrate_type},
    }
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for result in results:
        if result.error is None:
            continue
        payload = {
            **base,
            "pk": secrets.token_hex(12),
            "timestamp": now,
            "error_resolve_text": result.error.get("message", ""),
            "error_type": result.error.get("error_type", TRANSFER_DATA),
            "resolved": False,
            "warn": [],
            "transfer_errors": True,
            "index": result.index,
            "internal_id": result.internal_id or None,
            "code": result.error.get("code", ""),
            "fields": result.error.get("fields", []),
        }
        await _send(conn, context, "error", ERROR, payload)
    applied = [r.returned() for r in results if r.action != "failed"]
    if applied or finish:
        payload = {
            **base,
            "completed": finish,
            "transfer_data": applied,
            "transfer_errors": errors,
        }
        await _send(conn, context, "data", DATA, payload)
    if finish:
        payload = {
            **base,
            "completed": True,
            "transfer_errors": errors,
            "statistics": {
                "items": context.items_received,
                "created": counts["created"],
                "updated": counts["updated"],
                "failed": counts["failed"],
            },
        }
        await _send(conn, context, "completed", COMPLETED, payload)


async def _send(
    conn: repo.Conn,
    context: TransferContext,
    kind: str,
    event_type: str,
    payload: dict[str, Any],
) -> None:
    option = context.webhooks.get(kind)
    if not option:
        return
    url = option["endpoint"]
    target: dict[str, Any] = {"endpoint_id": context.signer_id, "url": url}
    if not context.concurrency:
        # One at a time, in order, per (transfer, URL).
        seq = await repo.row(conn, "next_webhook_seq", transfer_id=context.id, url=url)
        assert seq is not None
        target["ordering_key"] = f"{context.id} {url}"
        target["ordering_seq"] = seq["seq"]
    body = {**payload, "metadata": option.get("metadata", {}), "request_id": context.request_id}
    await outbox.add_targeted(conn, context.workspace_id, event_type, body, target)
