"""Metadata the edge adds when it refused a request's body: the service still sees the URL."""

from __future__ import annotations

# The edge's reason (e.g. PAYLOAD_TOO_LARGE), its message, and the field it named.
EDGE_ERROR_KEY = "x-inlet-edge-error"
EDGE_MESSAGE_KEY = "x-inlet-edge-message"
EDGE_FIELD_KEY = "x-inlet-edge-field"
