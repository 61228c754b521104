"""Update masks: which fields of a resource an Update RPC changes, read one way everywhere."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import cast

from google.protobuf import descriptor, field_mask_pb2, message

from inlet_common.errors import InvalidArgument, Violation

FIELD = "update_mask"
WILDCARD = "*"


def update_paths(
    mask: field_mask_pb2.FieldMask,
    resource: message.Message,
    *,
    updatable: Sequence[str],
    ignored: Collection[str] = (),
    prefix: str = "",
) -> frozenset[str]:
    """The updatable fields of `resource` that `mask` names: never empty.

    Each path is a field name of `resource` (snake_case or its JSON lowerCamelCase, also
    written with `prefix` in front when the resource sits in a wrapper message); paths
    may also be given comma-separated. "*" alone is every updatable field. Paths in
    `ignored` (identity and output-only fields, as written or once resolved) are dropped,
    as a full resource read back and sent again carries them. An empty mask means the
    fields set to a non-default value in `resource`: a mask is never "every field", so an
    unset field is never wiped.

    Raises InvalidArgument naming update_mask and the path for a path that is not a field
    of the resource or cannot be changed, and when nothing is left to change.
    """
    given = [path.strip() for raw in mask.paths for path in raw.split(",") if path.strip()]
    described = _descriptor(resource)
    kind = described.name
    choices = ", ".join(updatable)
    if given == [WILDCARD]:
        return frozenset(updatable)
    if not given:
        given = [field.name for field, _ in resource.ListFields()]
    chosen: set[str] = set()
    refused: list[str] = []
    bad: list[Violation] = []
    for path in given:
        if path in ignored:
            continue
        if path == WILDCARD:
            refused.append(path)
            bad.append(
                Violation(FIELD, f'path "{path}" (every field) must be alone', "INVALID_PATH")
            )
            continue
        name = _field_name(described, path.removeprefix(prefix) if prefix else path)
        if name is None:
            refused.append(path)
            bad.append(
                Violation(
                    FIELD,
                    f'unknown path "{path}": {kind} has no such field (updatable: {choices})',
                    "UNKNOWN_FIELD",
                )
            )
        elif name in ignored:
            continue
        elif name not in updatable:
            refused.append(path)
            bad.append(
                Violation(
                    FIELD,
                    f'path "{path}": {kind}.{name} cannot be changed (updatable: {choices})',
                    "IMMUTABLE_FIELD",
                )
            )
        else:
            chosen.add(name)
    if bad:
        named = ", ".join(f'"{path}"' for path in refused)
        raise InvalidArgument(
            f"update_mask: {named} cannot be updated on {kind} (updatable: {choices})",
            violations=bad,
        )
    if not chosen:
        raise InvalidArgument(
            f"update_mask: nothing to change; name the {kind} fields to change ({choices})"
            " in update_mask, or set them",
            violations=[Violation(FIELD, f"no field to change (updatable: {choices})", "EMPTY")],
        )
    return frozenset(chosen)


def _descriptor(msg: message.Message) -> descriptor.Descriptor:
    # The stubs type DESCRIPTOR as a union with upb's class, which has the same surface.
    return cast(descriptor.Descriptor, msg.DESCRIPTOR)


def _field_name(described: descriptor.Descriptor, path: str) -> str | None:
    """The field's proto name for a path of one segment (its name or JSON name)."""
    found = described.fields_by_name.get(path)
    if found is None:
        found = next((f for f in described.fields if f.json_name == path), None)
    return None if found is None else str(found.name)
