"""Metadata the HTTP edges add: a refusal the service still judges, and the query as sent."""

from __future__ import annotations

# The edge's reason (e.g. PAYLOAD_TOO_LARGE), its message, and the field it named.
EDGE_ERROR_KEY = "x-inlet-edge-error"
EDGE_MESSAGE_KEY = "x-inlet-edge-message"
EDGE_FIELD_KEY = "x-inlet-edge-field"

# The request's query string as sent, from either edge: a service refuses a parameter its
# request has no field for (both edges pass unknown ones on; inlet_common.httptwins).
QUERY_KEY = "x-inlet-query"

# The only RPCs shown an edge's refusal (body too large, unknown query parameter), so they
# can check the credential (in the URL or a header) and log the attempt. An explicit list:
# any other RPC called with its body missing might act on the URL alone (a `:rotateToken`
# would rotate), so it never is.
EDGE_JUDGED_RPCS = frozenset(
    {
        "inlet.ingest.v1.IngestService.PushEndpoint",
        "inlet.ingest.v1.IngestService.IngestStream",
        "inlet.ingest.v1.IngestService.PushTransfer",
        "inlet.ingest.v1.ExternalIngestService.IngestData",
        "inlet.ingest.v1.ExternalIngestService.SubmitForm",
    }
)
# The request's Content-Type as sent (the transcoder replaces the header with gRPC's): the
# HTTP twin judges a JSON route's media type by it.
CONTENT_TYPE_KEY = "x-inlet-content-type"
