"""The endpoint-push use case's names where its callers import them (it lives in push/)."""

from __future__ import annotations

from inlet_common.errors import describe
from inlet_matcher.push.use_case import EdgeError, Ingest, Pushed

__all__ = ["EdgeError", "Ingest", "Pushed", "describe"]
