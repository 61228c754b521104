"""Entity types as protobuf, shared by the store's servicers."""

from __future__ import annotations

from inlet.type.v1 import entity_pb2
from inlet_store.domain import EntityTypeDef

TYPE_NAMES = {
    entity_pb2.FIELD_TYPE_TEXT: "text",
    entity_pb2.FIELD_TYPE_EMAIL: "email",
    entity_pb2.FIELD_TYPE_PHONE: "phone",
    entity_pb2.FIELD_TYPE_NUMBER: "number",
    entity_pb2.FIELD_TYPE_INTEGER: "integer",
    entity_pb2.FIELD_TYPE_BOOLEAN: "boolean",
    entity_pb2.FIELD_TYPE_DATETIME: "datetime",
    entity_pb2.FIELD_TYPE_REFERENCE: "reference",
}
_TYPE_ENUMS = {name: value for value, name in TYPE_NAMES.items()}


def entity_type_pb(t: EntityTypeDef) -> entity_pb2.EntityType:
    return entity_pb2.EntityType(
        name=f"workspaces/{t.workspace_id}/entityTypes/{t.id}",
        id=t.id,
        slug=t.slug,
        display_name=t.display_name,
        fields=[
            entity_pb2.Field(
                slug=f.slug,
                display_name=f.display_name,
                type=_TYPE_ENUMS[f.type],
                unique=f.unique,
                required=f.required,
                reference_entity_type=f.reference_entity_type,
            )
            for f in t.fields
        ],
    )
