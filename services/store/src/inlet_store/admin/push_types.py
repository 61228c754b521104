"""A push session's types checked and resolved to entity types (standard ones made on first use)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from inlet_common.errors import InvalidArgument, Violation
from inlet_store import repository as repo
from inlet_store.admin.push_specs import TypeSpec
from inlet_store.domain import EntityTypeDef
from inlet_store.push_standard import STANDARD_TYPES

_ENDGRATE_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


async def resolve_types(
    conn: repo.Conn, workspace_id: str, types: Sequence[TypeSpec], prefix: str
) -> list[tuple[TypeSpec, str]]:
    """Each type with its entity type id; the standard types' own are made on first
    use. Every problem is named at once."""
    problems: list[Violation] = []
    if not types:
        problems.append(
            Violation(
                f"{prefix}types",
                "a session carries at least one endgrate type",
                "REQUIRED_FIELD_MISSING",
            )
        )
    seen: set[str] = set()
    resolved: list[tuple[TypeSpec, str]] = []
    for i, spec in enumerate(types):
        path = f"{prefix}types[{i}]"
        if not _ENDGRATE_TYPE.match(spec.endgrate_type):
            problems.append(
                Violation(
                    f"{path}.endgrate_type",
                    f"endgrate_type must match {_ENDGRATE_TYPE.pattern},"
                    f" got {spec.endgrate_type!r}",
                    "INVALID_ENDGRATE_TYPE",
                )
            )
            continue
        if spec.endgrate_type in seen:
            problems.append(
                Violation(
                    f"{path}.endgrate_type",
                    f"{spec.endgrate_type!r} is listed twice",
                    "DUPLICATE",
                )
            )
            continue
        seen.add(spec.endgrate_type)
        standard = STANDARD_TYPES.get(spec.endgrate_type)
        slug = spec.entity_type or (standard.slug if standard else "")
        if not slug:
            problems.append(
                Violation(
                    f"{path}.entity_type",
                    f"{spec.endgrate_type!r} is not a standard type (crm-contact,"
                    " crm-company): name the entity type its data is written to",
                    "REQUIRED_FIELD_MISSING",
                )
            )
            continue
        type_id = await entity_type_id(conn, workspace_id, slug)
        if type_id is None:
            problems.append(
                Violation(
                    f"{path}.entity_type",
                    f"no entity type {slug!r} in the workspace",
                    "UNKNOWN_ENTITY_TYPE",
                )
            )
            continue
        entity_type = (await repo.entity_types(conn, [type_id]))[type_id]
        problems += map_problems(path, spec, entity_type)
        resolved.append((spec, type_id))
    if problems:
        raise InvalidArgument(
            "invalid session: " + ", ".join(p.field for p in problems), violations=problems
        )
    return resolved


async def entity_type_id(conn: repo.Conn, workspace_id: str, slug: str) -> str | None:
    found = await repo.row(conn, "entity_type_for_push", workspace_id=workspace_id, slug=slug)
    if found is not None:
        return str(found["id"])
    standard = STANDARD_TYPES.get(slug)
    if standard is None:
        return None
    # A standard type's entity type, made on first use (a racing session makes it too:
    # the loser's unique violation reads the winner's).
    async with conn.transaction():
        created = await repo.row(
            conn,
            "insert_standard_entity_type",
            workspace_id=workspace_id,
            slug=standard.slug,
            display_name=standard.display_name,
        )
        if created is None:
            again = await repo.row(
                conn, "entity_type_for_push", workspace_id=workspace_id, slug=slug
            )
            return str(again["id"]) if again else None
        type_id = str(created["id"])
        for position, f in enumerate(standard.fields):
            await repo.execute(
                conn,
                "insert_field",
                entity_type_id=type_id,
                slug=f.slug,
                display_name=f.display_name,
                type=f.type,
                is_unique=False,
                is_required=False,
                reference_entity_type_id=None,
                position=position,
            )
    return type_id


def map_problems(path: str, spec: TypeSpec, entity_type: EntityTypeDef) -> list[Violation]:
    slugs = {f.slug for f in entity_type.fields}
    problems: list[Violation] = []
    targets: dict[str, str] = {}
    for name, slug in spec.field_map.items():
        if slug not in slugs:
            problems.append(
                Violation(
                    f"{path}.field_map.{name}",
                    f"{entity_type.slug} has no field {slug!r}"
                    f" (fields: {', '.join(sorted(slugs)) or 'none'})",
                    "UNKNOWN_FIELD",
                )
            )
        elif slug in targets:
            problems.append(
                Violation(
                    f"{path}.field_map.{name}",
                    f"{targets[slug]!r} already maps to {slug!r}",
                    "DUPLICATE",
                )
            )
        targets[slug] = name
    return problems
