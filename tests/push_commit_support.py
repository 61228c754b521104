"""Committing endpoint pushes straight through the store's use case (no matcher)."""

from __future__ import annotations

import secrets
from typing import Any

from inlet_common import exactjson
from inlet_common.normalise import key_text
from inlet_store.push.use_case import Planned, PushCommand, PushCommitter, PushOutcome


def planned(entity_type_id: str, values: dict[str, Any], unique: tuple[str, ...] = ()) -> Planned:
    """A plan as the matcher makes it: keyed on the unique fields that have a value."""
    keyed = tuple(s for s in unique if values.get(s) is not None)
    return Planned(
        entity_type_id=entity_type_id,
        values_json=exactjson.dumps(values).decode(),
        unique_fields=keyed,
        key_values=tuple(key_text(values[s]) for s in keyed),
    )


async def schema_version(committer: PushCommitter, token_hash: bytes) -> str:
    """The endpoint's current schema version (a cold call: answers the schema alone)."""
    outcome = await committer.commit(
        PushCommand(token_hash=token_hash, schema_version="", request_id="req_schema")
    )
    assert outcome.schema is not None
    return outcome.schema.version


async def commit(
    committer: PushCommitter,
    token_hash: bytes,
    record: Planned,
    *,
    version: str | None = None,
    idempotency_key: str = "",
    body_hash: bytes = b"",
    request_id: str | None = None,
) -> PushOutcome:
    """One push of `record`, planned against `version` (the current one when None)."""
    if version is None:
        version = await schema_version(committer, token_hash)
    return await committer.commit(
        PushCommand(
            token_hash=token_hash,
            schema_version=version,
            request_id=request_id or f"req_{secrets.token_hex(6)}",
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            record=record,
        )
    )
