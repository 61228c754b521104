"""Turning a push into a plan the store can apply: every value checked and normalised,
match keys chosen, and every problem reported at once (no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inlet.store.v1 import store_pb2
from inlet.type.v1 import entity_pb2
from inlet_common import exactjson
from inlet_common.errors import Violation
from inlet_common.normalise import (
    MAX_KEY_BYTES,
    FieldProblem,
    key_text,
    key_too_long,
    normaliser,
)
from inlet_matcher.errors import ValidationFailed


@dataclass
class Plan:
    record: store_pb2.PlannedRecord
    related: dict[str, store_pb2.PlannedRecord] = field(default_factory=dict)


def plan_push(
    endpoint: store_pb2.PushSchema,
    fields: dict[str, Any],
    related: dict[str, dict[str, Any]],
    *,
    shape: PushShape | None = None,
) -> Plan:
    """Validate and normalise a push; raise ValidationFailed naming every bad field.
    `shape`: the endpoint's PushShape, when the caller keeps one with the schema."""
    if not fields and not related:
        # A blank record is never what a caller meant; nothing is written.
        empty = Violation("fields", "the push has no fields: send at least one field", "EMPTY_PUSH")
        raise ValidationFailed("invalid push: fields", violations=[empty])
    shape = shape or PushShape.of(endpoint)
    problems: list[Violation] = []
    target = endpoint.entity_type
    refs = shape.refs
    for slug in related:
        if slug not in refs:
            problems.append(
                Violation(
                    f"related.{slug}",
                    f"{slug!r} is not a reference field of {target.slug}"
                    + (f" (reference fields: {', '.join(sorted(refs))})" if refs else ""),
                    "UNKNOWN_RELATED",
                )
            )
        elif slug in fields:
            problems.append(
                Violation(
                    f"related.{slug}",
                    f"{slug} is given both in fields and in related; send one",
                    "CONFLICTING_REFERENCE",
                )
            )
    record, _ = plan_entity(
        target,
        fields,
        endpoint.default_region,
        "fields",
        problems,
        ref_types=shape.ref_types,
        satisfied=set(related),
        shape=shape.target,
    )
    planned_related = {
        slug: plan_entity(
            endpoint.referenced_types[slug],
            values,
            endpoint.default_region,
            f"related.{slug}",
            problems,
            ref_types=None,
            satisfied=set(),
            shape=shape.related[slug],
        )[0]
        for slug, values in related.items()
        if slug in refs and slug in shape.related
    }
    if problems:
        names = ", ".join(p.field for p in problems)
        raise ValidationFailed(f"invalid push: {names}", violations=problems)
    return Plan(record=record, related=planned_related)


@dataclass(frozen=True)
class EntityShape:
    """What planning reads of an entity type for every item, read once per request: its
    fields by slug, and its unique and required fields in the type's order."""

    slug: str
    by_slug: dict[str, entity_pb2.Field]
    unique: tuple[str, ...]
    required: tuple[str, ...]
    # slug → its normaliser, whether it is required, whether it is a reference field:
    # what check_entity asks of a field for every value, asked once.
    checks: dict[str, tuple[Callable[[Any, str], Any], bool, bool]]

    @classmethod
    def of(cls, entity_type: entity_pb2.EntityType) -> EntityShape:
        fields = list(entity_type.fields)
        return cls(
            slug=entity_type.slug,
            by_slug={f.slug: f for f in fields},
            unique=tuple(f.slug for f in fields if f.unique),
            required=tuple(f.slug for f in fields if f.required),
            checks={
                f.slug: (
                    normaliser(f),
                    f.required,
                    f.type == entity_pb2.FIELD_TYPE_REFERENCE,
                )
                for f in fields
            },
        )


@dataclass(frozen=True)
class PushShape:
    """What planning reads of an endpoint's schema for every push, read once per schema:
    its type's shape, its reference fields, and the shapes of the types they point to."""

    target: EntityShape
    refs: frozenset[str]
    ref_types: dict[str, str]
    related: dict[str, EntityShape]

    @classmethod
    def of(cls, endpoint: store_pb2.PushSchema) -> PushShape:
        target = endpoint.entity_type
        return cls(
            target=EntityShape.of(target),
            refs=frozenset(
                f.slug for f in target.fields if f.type == entity_pb2.FIELD_TYPE_REFERENCE
            ),
            ref_types={s: t.id for s, t in endpoint.referenced_types.items()},
            related={s: EntityShape.of(t) for s, t in endpoint.referenced_types.items()},
        )


def plan_entity(
    entity_type: entity_pb2.EntityType,
    values: dict[str, Any],
    region: str,
    path: str,
    problems: list[Violation],
    *,
    ref_types: dict[str, str] | None,
    satisfied: set[str],
    shape: EntityShape | None = None,
    into: store_pb2.PlannedRecord | None = None,
    keyed: bool = True,
) -> tuple[store_pb2.PlannedRecord, dict[str, Any]]:
    """The planned record and its normalised values; problems are appended, not raised.
    `shape`: the type's EntityShape when the caller plans many items of it. `into`: an
    empty record to fill in place (a stream item's), instead of a new one to be copied.
    `keyed`: with key_values (see fill_record)."""
    shape = shape or EntityShape.of(entity_type)
    normalised = check_entity(shape, values, region, path, problems, ref_types=ref_types)
    planned = store_pb2.PlannedRecord() if into is None else into
    fill_record(
        planned,
        entity_type.id,
        shape,
        normalised,
        ref_types=ref_types,
        satisfied=satisfied,
        keyed=keyed,
    )
    return planned, normalised


def fill_record(
    planned: store_pb2.PlannedRecord,
    entity_type_id: str,
    shape: EntityShape,
    normalised: dict[str, Any],
    *,
    ref_types: dict[str, str] | None,
    satisfied: set[str] | frozenset[str] = frozenset(),
    keyed: bool = True,
) -> None:
    """Fill an empty planned record from values normalised by check_entity. `keyed`: with
    the key_values endpoint push matches on; a stream's items go without (the store keys
    them on their values, a thousand to a request)."""
    unique = [slug for slug in shape.unique if normalised.get(slug) is not None]
    # Field by field: a message built from keyword arguments costs three times as much.
    planned.entity_type_id = entity_type_id
    planned.values.json = exactjson.dumps_text(normalised)
    if unique:
        planned.unique_fields.extend(unique)
        if keyed:
            planned.key_values.extend([key_text(normalised[slug]) for slug in unique])
    if shape.required:
        missing = [s for s in shape.required if s not in normalised and s not in satisfied]
        if missing:
            planned.missing_required.extend(missing)
    if ref_types:
        planned.references.update(
            {
                slug: ref_types[slug]
                for slug in normalised
                if slug in ref_types and normalised[slug] is not None
            }
        )


def check_entity(
    shape: EntityShape,
    values: dict[str, Any],
    region: str,
    path: str,
    problems: list[Violation],
    *,
    ref_types: dict[str, str] | None,
) -> dict[str, Any]:
    """An entity's normalised values, every problem appended (plan_entity without the
    planned record, for a caller that only judges)."""
    checks = shape.checks
    normalised: dict[str, Any] = {}
    for slug, raw in values.items():
        check = checks.get(slug)
        if check is None:
            known = ", ".join(checks) or "none"
            problems.append(
                Violation(
                    f"{path}.{slug}" if path else slug,
                    f"{shape.slug} has no field {slug!r} (fields: {known})",
                    "UNKNOWN_FIELD",
                )
            )
            continue
        normalise_value, required, reference = check
        if reference and ref_types is None:
            problems.append(
                Violation(
                    f"{path}.{slug}" if path else slug,
                    "reference fields of a related record cannot be set in the same push",
                    "NESTED_REFERENCE_UNSUPPORTED",
                )
            )
            continue
        try:
            value = None if raw is None else normalise_value(raw, region)
        except FieldProblem as problem:
            problems.append(
                Violation(f"{path}.{slug}" if path else slug, problem.message, problem.reason)
            )
            continue
        if value is None and required:
            problems.append(
                Violation(
                    f"{path}.{slug}" if path else slug,
                    f"{slug} is required and cannot be empty",
                    "REQUIRED_FIELD_MISSING",
                )
            )
            continue
        normalised[slug] = value
    for slug in shape.unique:
        if normalised.get(slug) is not None and key_too_long(key_text(normalised[slug])):
            problems.append(
                Violation(
                    f"{path}.{slug}" if path else slug,
                    f"{slug} is unique and longer than {MAX_KEY_BYTES} bytes, too long to match on",
                    "VALUE_TOO_LONG",
                )
            )
    return normalised
