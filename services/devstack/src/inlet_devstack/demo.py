"""The demo workspace's types (contact, company, deal; the stream seed's sales) and its seed."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from inlet.admin.v1 import admin_pb2, admin_pb2_grpc
from inlet.type.v1 import entity_pb2

F = entity_pb2.Field
T = entity_pb2
# The demo's default phone region.
REGION = "NO"
Metadata = tuple[tuple[str, str]]

DEMO_TYPES: list[entity_pb2.EntityType] = [
    entity_pb2.EntityType(
        slug="contact",
        display_name="Contact",
        fields=[
            F(slug="name", display_name="Name", type=T.FIELD_TYPE_TEXT),
            F(slug="email", display_name="E-mail", type=T.FIELD_TYPE_EMAIL, unique=True),
            F(slug="phone", display_name="Phone", type=T.FIELD_TYPE_PHONE, unique=True),
        ],
    ),
    entity_pb2.EntityType(
        slug="company",
        display_name="Company",
        fields=[
            F(slug="name", display_name="Name", type=T.FIELD_TYPE_TEXT),
            F(slug="domain", display_name="Domain", type=T.FIELD_TYPE_TEXT, unique=True),
        ],
    ),
    entity_pb2.EntityType(
        slug="deal",
        display_name="Deal",
        fields=[
            F(slug="title", display_name="Title", type=T.FIELD_TYPE_TEXT, required=True),
            F(slug="value", display_name="Value", type=T.FIELD_TYPE_NUMBER),
            F(
                slug="contact",
                display_name="Contact",
                type=T.FIELD_TYPE_REFERENCE,
                reference_entity_type="contact",
            ),
        ],
    ),
]


# The seed's stream items (shared/seeds/inspire-data-ingestion-api.txt); `region` is
# unique, so a repeated push updates its region's record.
SALES = entity_pb2.EntityType(
    slug="sales",
    display_name="Sales",
    fields=[
        F(slug="region", display_name="Region", type=T.FIELD_TYPE_TEXT, unique=True),
        F(slug="revenue", display_name="Revenue", type=T.FIELD_TYPE_NUMBER),
        F(slug="target", display_name="Target", type=T.FIELD_TYPE_NUMBER),
        F(slug="updated_at", display_name="Updated at", type=T.FIELD_TYPE_DATETIME),
    ],
)


@dataclass(frozen=True)
class DemoSeed:
    workspace: str  # resource name
    tokens: dict[str, str]  # entity type slug → endpoint token
    endpoints: dict[str, str]  # entity type slug → endpoint resource name
    admin_token: str = ""  # the workspace's admin token (shown once)

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        """gRPC metadata that authenticates admin calls on this workspace."""
        return bearer(self.admin_token)


async def ensure_types(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    auth: tuple[tuple[str, str]],
    workspace: str,
    types: list[entity_pb2.EntityType],
) -> list[str]:
    """Create those of `types` the workspace lacks (by slug); returns their slugs."""
    created: list[str] = []
    for entity_type in types:
        try:
            await admin.GetEntityType(
                admin_pb2.GetEntityTypeRequest(name=f"{workspace}/entityTypes/{entity_type.slug}"),
                metadata=auth,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            await admin.CreateEntityType(
                admin_pb2.CreateEntityTypeRequest(parent=workspace, entity_type=entity_type),
                metadata=auth,
            )
            created.append(entity_type.slug)
    return created


def bearer(token: str) -> Metadata:
    """gRPC metadata presenting `token` as a bearer token."""
    return (("authorization", f"Bearer {token}"),)


def allowed_code(error: grpc.aio.AioRpcError, *allowed: grpc.StatusCode) -> grpc.StatusCode:
    """The error's code if it is one of `allowed`; otherwise the error goes on."""
    if error.code() not in allowed:
        raise error
    return error.code()


async def seed(
    admin: admin_pb2_grpc.AdminServiceAsyncStub,
    *,
    bootstrap_token: str,
    workspace_slug: str = "demo",
    region: str = "NO",
    endpoint_types: tuple[str, ...] = ("contact", "deal"),
) -> DemoSeed:
    """Create what is missing of the demo schema, and fresh endpoints (tokens show once)."""
    bootstrap = bearer(bootstrap_token)
    try:
        created = await admin.CreateWorkspace(
            admin_pb2.CreateWorkspaceRequest(
                workspace=admin_pb2.Workspace(slug=workspace_slug, display_name="Demo")
            ),
            metadata=bootstrap,
        )
        admin_token = created.admin_token
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        # A restart on the same database: the old admin token was shown once; issue another.
        issued = await admin.CreateAdminToken(
            admin_pb2.CreateAdminTokenRequest(parent=f"workspaces/{workspace_slug}"),
            metadata=bootstrap,
        )
        admin_token = issued.admin_token
    auth = bearer(admin_token)
    got = await admin.GetWorkspace(
        admin_pb2.GetWorkspaceRequest(name=f"workspaces/{workspace_slug}"), metadata=auth
    )
    workspace = got.workspace
    await ensure_types(admin, auth, workspace.name, DEMO_TYPES)
    tokens: dict[str, str] = {}
    endpoints: dict[str, str] = {}
    for slug in endpoint_types:
        made = await admin.CreateIngestEndpoint(
            admin_pb2.CreateIngestEndpointRequest(
                parent=workspace.name,
                ingest_endpoint=admin_pb2.IngestEndpoint(
                    display_name=f"Demo {slug} endpoint", entity_type=slug, default_region=region
                ),
            ),
            metadata=auth,
        )
        tokens[slug] = made.token
        endpoints[slug] = made.ingest_endpoint.name
    return DemoSeed(
        workspace=workspace.name, tokens=tokens, endpoints=endpoints, admin_token=admin_token
    )
