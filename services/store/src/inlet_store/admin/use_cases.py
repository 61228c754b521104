"""The admin API's use cases over one connection pool: every resource's, as one object."""

from __future__ import annotations

from inlet_store.admin.endpoints import EndpointAdmin
from inlet_store.admin.overview import OverviewAdmin
from inlet_store.admin.records import RecordAdmin


class Admin(EndpointAdmin, RecordAdmin, OverviewAdmin):
    """Workspaces, entity types, fields, ingest endpoints, records and the overview."""
