"""The match decision for one entity, shared by the one-by-one and the set-based paths."""

from __future__ import annotations

from dataclasses import dataclass, field

from inlet_common.errors import Violation
from inlet_common.normalise import MAX_KEY_BYTES, key_text, key_too_long
from inlet_store.domain import PlannedRecord
from inlet_store.errors import MissingRequired, UniqueConflictError, ValidationFailed


@dataclass(slots=True)  # one per item: see domain.PlannedRecord
class Decision:
    """Update `record_id` (or create a record when None) and move its keys as listed."""

    record_id: str | None
    new_keys: dict[str, str] = field(default_factory=dict)  # slug → key text to add
    moved: tuple[str, ...] = ()  # slugs whose stored keys go (value changed or cleared)
    matched_on: tuple[str, ...] = ()


def field_path(entity: str, slug: str) -> str:
    """Where a field sits in the caller's body: fields.x, related.contact.x, items[3].x, or
    x itself in a flat body (entity "": the external form)."""
    if not entity:
        return slug
    return f"fields.{slug}" if entity == "record" else f"{entity}.{slug}"


def unique_keys(planned: PlannedRecord, entity: str) -> dict[str, str]:
    """slug → indexed text of every unique value the entity carries; a value too long to
    index is refused naming its field."""
    keys = {slug: key_text(planned.values[slug]) for slug in planned.unique_fields}
    long = [slug for slug, text in keys.items() if key_too_long(text)]
    if long:
        raise ValidationFailed(
            f"{entity or 'the record'}: unique values longer than {MAX_KEY_BYTES} bytes",
            violations=[
                Violation(
                    field_path(entity, slug),
                    f"{slug} is unique and longer than {MAX_KEY_BYTES} bytes, too long to match on",
                    "VALUE_TOO_LONG",
                )
                for slug in long
            ],
        )
    return keys


def decide(
    planned: PlannedRecord, keys: dict[str, str], hits: dict[str, str], entity: str
) -> Decision:
    """Given the records its keys hit (slug → record id): conflict, update or create."""
    matched = set(hits.values())
    if len(matched) > 1:
        raise UniqueConflictError(
            entity, [(slug, keys[slug], [hits[slug]]) for slug in keys if slug in hits]
        )
    if matched:
        cleared = [
            s for s, v in planned.values.items() if v is None and s not in planned.unique_fields
        ]
        return Decision(
            record_id=matched.pop(),
            new_keys={s: keys[s] for s in keys if s not in hits},
            # Unique values that changed (or were cleared) move the record's keys.
            moved=tuple([s for s in keys if s not in hits] + cleared),
            matched_on=tuple(s for s in planned.unique_fields if s in hits),
        )
    if planned.missing_required:
        raise MissingRequired(
            f"{entity} would be created without required fields",
            violations=[
                Violation(field_path(entity, slug), f"{slug} is required", "REQUIRED_FIELD_MISSING")
                for slug in planned.missing_required
            ],
        )
    return Decision(record_id=None, new_keys=dict(keys))
